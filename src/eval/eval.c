/* The evaluation report: Recall@K, MAP@R, R-Precision from one exact kNN pass (leave-one-out or
 * query/gallery), NMI of k-means++ clusters, alignment / uniformity and utilization. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "eval/eval_impl.h"

mx_eval_config mx_eval_config_default(void) {
    mx_eval_config c;
    memset(&c, 0, sizeof c);
    c.n_k = 6;
    for (int i = 0; i < 6; i++) c.k[i] = (int64_t)1 << i; /* 1, 2, 4, 8, 16, 32 */
    c.map_at_r = 1;
    c.nmi = 1;
    c.nmi_max_iter = 100;
    c.align_uniform = 1;
    c.uniformity_t = 2.0;
    return c;
}

static mx_status check_config(const mx_eval_config *c) {
    if (c->n_k < 1 || c->n_k > MX_EVAL_MAX_K)
        return mx_error(MX_ERR_CONFIG, "eval config: n_k = %d: expected 1..%d Recall@K cut-offs",
                        c->n_k, MX_EVAL_MAX_K);
    for (int i = 0; i < c->n_k; i++)
        if (c->k[i] < 1 || (i > 0 && c->k[i] <= c->k[i - 1]))
            return mx_error(MX_ERR_CONFIG,
                            "eval config: k[%d] = %lld: expected positive, strictly ascending "
                            "cut-offs",
                            i, (long long)c->k[i]);
    if (c->nmi && c->nmi_max_iter < 1)
        return mx_error(MX_ERR_CONFIG, "eval config: nmi_max_iter = %d: expected >= 1",
                        c->nmi_max_iter);
    if (c->align_uniform && !(c->uniformity_t > 0))
        return mx_error(MX_ERR_CONFIG, "eval config: uniformity_t = %g: expected > 0",
                        c->uniformity_t);
    return MX_OK;
}

/* A normalised copy of x (n x d); what names the array in messages. */
static mx_status norm_copy(const char *what, const float *x, int64_t n, int64_t d, float **out) {
    *out = NULL;
    if (!x || n <= 0 || d <= 0)
        return mx_error(MX_ERR_ARG, "%s: expected a non-empty n x d array (n=%lld d=%lld)", what,
                        (long long)n, (long long)d);
    float *c = mx_alloc((size_t)n * (size_t)d * sizeof(float));
    if (!c)
        return mx_error(MX_ERR_NOMEM, "%s: out of memory (%lld x %lld)", what, (long long)n,
                        (long long)d);
    memcpy(c, x, (size_t)n * (size_t)d * sizeof(float));
    mx_status st = mx_eval_normalize(c, n, d);
    if (st != MX_OK) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mx_errmsg());
        mx_free(c);
        return mx_error(st, "%s: %s", what, msg);
    }
    *out = c;
    return MX_OK;
}

/* Shared by both protocols. q, g normalised; loo: g == q. */
static mx_status run(const float *q, const int64_t *ql, int64_t nq, const float *g,
                     const int64_t *gl, int64_t ng, int64_t d, int loo, const float *train,
                     int64_t n_train, const mx_eval_config *cfg, mx_rng *rng, mx_eval_report *out) {
    mx_status st = MX_OK;
    int64_t *uniq = NULL, *gcount = NULL, *rq = NULL, *idx = NULL, *qids = NULL, *assign = NULL;
    int64_t nu = 0;
    memset(out, 0, sizeof *out);
    out->query_gallery = !loo;
    out->n_query = nq;
    out->n_gallery = ng;
    out->dim = d;
    out->n_k = cfg->n_k;
    memcpy(out->k, cfg->k, sizeof out->k);
    out->n_candidates = ng - (loo ? 1 : 0);

    /* R of each query: gallery items with its label (less itself when leave-one-out) */
    gcount = calloc((size_t)ng, sizeof(int64_t));
    rq = malloc((size_t)nq * sizeof(int64_t));
    if (!gcount || !rq) goto nomem;
    {
        int64_t *gid = malloc((size_t)ng * sizeof(int64_t));
        if (!gid) goto nomem;
        st = mx_eval_dense_ids(gl, ng, gid, &uniq, &nu);
        if (st == MX_OK)
            for (int64_t j = 0; j < ng; j++) gcount[gid[j]]++;
        free(gid);
        if (st != MX_OK) goto done;
    }
    int64_t rmax = 0;
    for (int64_t i = 0; i < nq; i++) {
        int64_t lo = 0, hi = nu - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi) / 2;
            if (uniq[mid] < ql[i])
                lo = mid + 1;
            else
                hi = mid;
        }
        rq[i] = uniq[lo] == ql[i] ? gcount[lo] - (loo ? 1 : 0) : 0;
        if (rq[i] == 0) out->n_lone++;
        if (rq[i] > rmax) rmax = rq[i];
    }

    /* one kNN pass deep enough for the largest K and, for MAP@R, the largest R */
    int64_t kk = cfg->k[cfg->n_k - 1];
    if (cfg->map_at_r && rmax > kk) kk = rmax;
    if (kk > ng - (loo ? 1 : 0)) kk = ng - (loo ? 1 : 0);
    if (kk < 1) {
        st = mx_error(MX_ERR_SHAPE, "eval: the gallery has no candidates (n=%lld)", (long long)ng);
        goto done;
    }
    idx = malloc((size_t)nq * (size_t)kk * sizeof(int64_t));
    if (!idx) {
        st = mx_error(MX_ERR_NOMEM, "eval: out of memory for %lld x %lld neighbour lists",
                      (long long)nq, (long long)kk);
        goto done;
    }
    st = cfg->knn ? cfg->knn(cfg->knn_ctx, q, nq, g, ng, d, kk, loo, idx)
                  : mx_knn_stop(q, nq, g, ng, d, kk, loo, idx, NULL, cfg->stop);
    if (st != MX_OK) goto done;

    int64_t hits[MX_EVAL_MAX_K] = {0};
    double map_sum = 0, rp_sum = 0;
    int64_t n_rel = 0;
    for (int64_t i = 0; i < nq; i++) {
        const int64_t *nb = idx + i * kk;
        int64_t first = kk; /* rank of the first same-label neighbour */
        for (int64_t t = 0; t < kk; t++)
            if (nb[t] >= 0 && gl[nb[t]] == ql[i]) {
                first = t;
                break;
            }
        for (int a = 0; a < cfg->n_k; a++) hits[a] += first < cfg->k[a];
        if (cfg->map_at_r && rq[i] > 0) {
            /* MAP@R: (1/R) sum_{t<R, correct} precision@(t+1); R-Precision: correct in top R / R */
            int64_t r = rq[i], correct = 0;
            double ap = 0;
            for (int64_t t = 0; t < r; t++)
                if (gl[nb[t]] == ql[i]) {
                    correct++;
                    ap += (double)correct / (double)(t + 1);
                }
            map_sum += ap / (double)r;
            rp_sum += (double)correct / (double)r;
            n_rel++;
        }
    }
    /* K beyond the candidates: every query with any match "hits", a meaningless number */
    for (int a = 0; a < cfg->n_k; a++)
        out->recall[a] = cfg->k[a] > out->n_candidates ? NAN : (double)hits[a] / (double)nq;
    if (cfg->map_at_r) {
        out->has_map_at_r = 1;
        out->map_at_r = n_rel ? map_sum / (double)n_rel : NAN;
        out->r_precision = n_rel ? rp_sum / (double)n_rel : NAN;
    }

    /* clustering of the query set: as many clusters as its classes */
    qids = malloc((size_t)nq * sizeof(int64_t));
    if (!qids) goto nomem;
    if ((st = mx_eval_dense_ids(ql, nq, qids, NULL, &out->n_classes)) != MX_OK) goto done;
    if (cfg->nmi && (out->n_classes < 2 || out->n_classes >= nq)) {
        /* degenerate: one cluster, or one cluster per item (NMI 1 for any embedding) */
        out->has_nmi = 1;
        out->nmi = NAN;
    } else if (cfg->nmi) {
        if (!rng) {
            st = mx_error(MX_ERR_ARG, "eval: NMI needs an mx_rng for k-means++ seeding");
            goto done;
        }
        assign = malloc((size_t)nq * sizeof(int64_t));
        if (!assign) goto nomem;
        mx_kmeans_opts ko = {MX_KMEANS_LARGE_WORK, 256, NULL, 0, cfg->stop};
        st = mx_kmeans_ex(q, nq, d, out->n_classes, cfg->nmi_max_iter, rng, &ko, assign, NULL);
        if (st != MX_OK) goto done;
        if ((st = mx_nmi(qids, assign, nq, &out->nmi)) != MX_OK) goto done;
        out->has_nmi = 1;
    }
    if (cfg->align_uniform && nq >= 2) {
        st = mx_align_uniform_stop(q, ql, nq, d, cfg->uniformity_t, &out->alignment,
                                   &out->uniformity, cfg->stop);
        if (st != MX_OK) goto done;
        out->has_align_uniform = 1;
    }
    if (train) {
        float *tn = NULL;
        if ((st = norm_copy("train embeddings", train, n_train, d, &tn)) != MX_OK) goto done;
        st = mx_utilization_stop(q, nq, tn, n_train, d, &out->utilization, cfg->stop);
        mx_free(tn);
        if (st != MX_OK) goto done;
        out->has_utilization = 1;
        out->n_train = n_train;
    }
    goto done;
nomem:
    st = mx_error(MX_ERR_NOMEM, "eval: out of memory (nq=%lld, ng=%lld)", (long long)nq,
                  (long long)ng);
done:
    free(uniq);
    free(gcount);
    free(rq);
    free(idx);
    free(qids);
    free(assign);
    return st;
}

mx_status mx_eval_run(const float *emb, const int64_t *labels, int64_t n, int64_t d,
                      const float *train, int64_t n_train, const mx_eval_config *cfg, mx_rng *rng,
                      mx_eval_report *out) {
    MX_ASSERT(cfg && out);
    MX_TRY(check_config(cfg));
    if (n < 2 || !labels)
        return mx_error(MX_ERR_SHAPE, "eval: expected at least 2 labelled embeddings (n=%lld)",
                        (long long)n);
    float *x = NULL;
    MX_TRY(norm_copy("embeddings", emb, n, d, &x));
    mx_status st = run(x, labels, n, x, labels, n, d, 1, train, n_train, cfg, rng, out);
    mx_free(x);
    return st;
}

mx_status mx_eval_run_qg(const float *q, const int64_t *q_labels, int64_t nq, const float *g,
                         const int64_t *g_labels, int64_t ng, int64_t d, const float *train,
                         int64_t n_train, const mx_eval_config *cfg, mx_rng *rng,
                         mx_eval_report *out) {
    MX_ASSERT(cfg && out);
    MX_TRY(check_config(cfg));
    if (!q_labels || !g_labels)
        return mx_error(MX_ERR_ARG, "eval: query and gallery labels are required");
    float *qn = NULL, *gn = NULL;
    MX_TRY(norm_copy("query embeddings", q, nq, d, &qn));
    mx_status st = norm_copy("gallery embeddings", g, ng, d, &gn);
    if (st == MX_OK)
        st = run(qn, q_labels, nq, gn, g_labels, ng, d, 0, train, n_train, cfg, rng, out);
    mx_free(qn);
    mx_free(gn);
    return st;
}

/* ---- formatting -------------------------------------------------------------------------- */

typedef struct {
    char *buf;
    size_t cap, len;
} sbuf;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void
sb_printf(sbuf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->cap ? b->cap - b->len : 0;
    int w = vsnprintf(room ? b->buf + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (w > 0) b->len += (size_t)w;
}

/* JSON number (the shortest of %.15g .. %.17g that reads back as v exactly) or null for NaN /
 * Inf */
static void sb_num(sbuf *b, double v) {
    if (!isfinite(v)) {
        sb_printf(b, "null");
        return;
    }
    char t[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(t, sizeof t, "%.*g", prec, v);
        if (strtod(t, NULL) == v) break;
    }
    sb_printf(b, "%s", t);
}

/* Why a metric of r is undefined or degenerate (NULL: it is not). what: "recall" (index a),
 * "map_at_r", "nmi", "alignment". */
static const char *undefined_why(const mx_eval_report *r, const char *what, int a, char *buf,
                                 size_t cap) {
    if (!strcmp(what, "recall")) {
        if (!(r->k[a] > r->n_candidates)) return NULL;
        snprintf(buf, cap, "K exceeds the %lld %s", (long long)r->n_candidates,
                 r->query_gallery ? "gallery items" : "other items of the set (leave-one-out)");
        return buf;
    }
    if (!strcmp(what, "map_at_r"))
        return r->has_map_at_r && !isfinite(r->map_at_r) ? "no query has a match" : NULL;
    if (!strcmp(what, "nmi")) {
        if (!r->has_nmi || isfinite(r->nmi)) return NULL;
        return r->n_classes < 2 ? "a single class"
                                : "every query is its own class (one cluster per item is a "
                                  "perfect clustering whatever the embedding)";
    }
    if (!strcmp(what, "alignment"))
        return r->has_align_uniform && !isfinite(r->alignment) ? "no two queries share a class"
                                                               : NULL;
    return NULL;
}

size_t mx_eval_report_format(const mx_eval_report *r, int json, char *buf, size_t cap) {
    sbuf b = {buf, cap, 0};
    if (cap) buf[0] = '\0';
    const char *proto = r->query_gallery ? "query/gallery" : "leave-one-out";
    char why[160];
    const char *w;
    if (json) {
        sb_printf(&b,
                  "{\"protocol\": \"%s\", \"n_query\": %lld, \"n_gallery\": %lld, \"dim\": %lld, "
                  "\"n_classes\": %lld, \"n_lone\": %lld, \"recall\": {",
                  proto, (long long)r->n_query, (long long)r->n_gallery, (long long)r->dim,
                  (long long)r->n_classes, (long long)r->n_lone);
        for (int a = 0; a < r->n_k; a++) {
            sb_printf(&b, "%s\"%lld\": ", a ? ", " : "", (long long)r->k[a]);
            sb_num(&b, r->recall[a]);
        }
        sb_printf(&b, "}");
        if (r->has_map_at_r) {
            sb_printf(&b, ", \"map_at_r\": ");
            sb_num(&b, r->map_at_r);
            sb_printf(&b, ", \"r_precision\": ");
            sb_num(&b, r->r_precision);
        }
        if (r->has_nmi) {
            sb_printf(&b, ", \"nmi\": ");
            sb_num(&b, r->nmi);
        }
        if (r->has_align_uniform) {
            sb_printf(&b, ", \"alignment\": ");
            sb_num(&b, r->alignment);
            sb_printf(&b, ", \"uniformity\": ");
            sb_num(&b, r->uniformity);
        }
        if (r->has_utilization) {
            sb_printf(&b, ", \"utilization\": ");
            sb_num(&b, r->utilization);
            sb_printf(&b, ", \"n_train\": %lld", (long long)r->n_train);
        }
        /* "undefined": {"name": "reason", ...} for every null above */
        int nu = 0;
        for (int a = 0; a < r->n_k; a++)
            if ((w = undefined_why(r, "recall", a, why, sizeof why)))
                sb_printf(&b, "%s\"recall@%lld\": \"%s\"", nu++ ? ", " : ", \"undefined\": {",
                          (long long)r->k[a], w);
        static const char *const names[] = {"map_at_r", "nmi", "alignment"};
        for (int i = 0; i < 3; i++)
            if ((w = undefined_why(r, names[i], 0, why, sizeof why)))
                sb_printf(&b, "%s\"%s\": \"%s\"", nu++ ? ", " : ", \"undefined\": {", names[i], w);
        sb_printf(&b, "%s}\n", nu ? "}" : "");
    } else {
        sb_printf(&b, "protocol      %s (%lld queries, %lld gallery, dim %lld, %lld classes", proto,
                  (long long)r->n_query, (long long)r->n_gallery, (long long)r->dim,
                  (long long)r->n_classes);
        if (r->n_lone) sb_printf(&b, ", %lld queries without a match", (long long)r->n_lone);
        sb_printf(&b, ")\n");
        for (int a = 0; a < r->n_k; a++) {
            char name[32];
            snprintf(name, sizeof name, "Recall@%lld", (long long)r->k[a]);
            if ((w = undefined_why(r, "recall", a, why, sizeof why)))
                sb_printf(&b, "%-13s n/a (%s)\n", name, w);
            else
                sb_printf(&b, "%-13s %.2f %%\n", name, 100.0 * r->recall[a]);
        }
        if (r->has_map_at_r) {
            if ((w = undefined_why(r, "map_at_r", 0, why, sizeof why))) {
                sb_printf(&b, "MAP@R         n/a (%s)\n", w);
                sb_printf(&b, "R-Precision   n/a (%s)\n", w);
            } else {
                sb_printf(&b, "MAP@R         %.2f %%\n", 100.0 * r->map_at_r);
                sb_printf(&b, "R-Precision   %.2f %%\n", 100.0 * r->r_precision);
            }
        }
        if ((w = undefined_why(r, "nmi", 0, why, sizeof why)))
            sb_printf(&b, "NMI           n/a (%s)\n", w);
        else if (r->has_nmi)
            sb_printf(&b, "NMI           %.2f %%\n", 100.0 * r->nmi);
        if (r->has_align_uniform) {
            if ((w = undefined_why(r, "alignment", 0, why, sizeof why)))
                sb_printf(&b, "alignment     n/a (%s)\n", w);
            else
                sb_printf(&b, "alignment     %.4f\n", r->alignment);
            sb_printf(&b, "uniformity    %.4f\n", r->uniformity);
        }
        if (r->has_utilization)
            sb_printf(&b, "utilization   %.4f (against %lld training embeddings)\n", r->utilization,
                      (long long)r->n_train);
    }
    return b.len;
}

mx_status mx_eval_report_write(const mx_eval_report *r, int json, FILE *f) {
    size_t n = mx_eval_report_format(r, json, NULL, 0);
    char *s = malloc(n + 1);
    if (!s) return mx_error(MX_ERR_NOMEM, "eval report: out of memory");
    mx_eval_report_format(r, json, s, n + 1);
    int ok = fwrite(s, 1, n, f) == n;
    free(s);
    if (!ok) return mx_error(MX_ERR_IO, "eval report: write failed");
    return MX_OK;
}
