/* metrix loss: configuration, workspace planning and the float GEMM path of mx_loss_compute. */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "core/core_impl.h"
#include "loss/loss_impl.h"
#include "metrix/gemm.h"
#include "metrix/loss.h"

/* ---- configuration ------------------------------------------------------------------------- */

mx_loss_config mx_loss_config_default(mx_loss_kind kind) {
    mx_loss_config c;
    memset(&c, 0, sizeof c);
    c.kind = kind;
    c.mix_weight = 0.4f;
    c.pos_margin = 0.0f;
    c.neg_margin = 0.5f;
    c.ms_beta = 17.97f;
    c.ms_gamma = 75.66f;
    c.ms_margin = 0.77f;
    c.ms_eps = 0.39f;
    c.ms_miner = 1;
    c.pa_alpha = 32.0f;
    c.pa_delta = 0.1f;
    c.triplet_margin = 0.05f;
    c.triplet_mining = MX_TRIPLET_ALL;
    c.nca_scale = 1.0f;
    return c;
}

mx_loss_config mx_loss_config_ms_original(void) {
    mx_loss_config c = mx_loss_config_default(MX_LOSS_MS);
    c.ms_beta = 2.0f;
    c.ms_gamma = 50.0f;
    c.ms_margin = 0.5f;
    c.ms_eps = 0.1f;
    return c;
}

static const char *const kind_names[] = {"contrastive",  "contrastive_cos", "ms",
                                         "proxy_anchor", "triplet",         "proxy_nca"};

const char *mx_loss_kind_name(mx_loss_kind kind) {
    if ((unsigned)kind < sizeof kind_names / sizeof *kind_names) return kind_names[kind];
    return "?";
}

mx_status mx_loss_kind_parse(const char *name, mx_loss_kind *out) {
    for (unsigned k = 0; k < sizeof kind_names / sizeof *kind_names; k++)
        if (!strcmp(name, kind_names[k])) return *out = (mx_loss_kind)k, MX_OK;
    if (!strcmp(name, "cont")) return *out = MX_LOSS_CONTRASTIVE, MX_OK;
    if (!strcmp(name, "pa")) return *out = MX_LOSS_PROXY_ANCHOR, MX_OK;
    if (!strcmp(name, "nca")) return *out = MX_LOSS_PROXY_NCA, MX_OK;
    return mx_error(MX_ERR_CONFIG,
                    "loss: unknown loss '%s' (expected contrastive, contrastive_cos, ms, "
                    "proxy_anchor, triplet, proxy_nca)",
                    name);
}

mx_status mx_loss_config_check(const mx_loss_config *c) {
    if ((unsigned)c->kind > MX_LOSS_PROXY_NCA)
        return mx_error(MX_ERR_CONFIG, "loss config: kind %d out of range", (int)c->kind);
    if (!(c->mix_weight >= 0) || !isfinite(c->mix_weight))
        return mx_error(MX_ERR_CONFIG, "loss config: mix_weight %g: expected finite >= 0",
                        (double)c->mix_weight);
    if (c->kind == MX_LOSS_MS && !(c->ms_beta > 0 && c->ms_gamma > 0 && c->ms_eps >= 0))
        return mx_error(MX_ERR_CONFIG,
                        "loss config: ms_beta %g, ms_gamma %g must be > 0, ms_eps "
                        "%g >= 0",
                        (double)c->ms_beta, (double)c->ms_gamma, (double)c->ms_eps);
    if (c->kind == MX_LOSS_PROXY_ANCHOR && !(c->pa_alpha > 0))
        return mx_error(MX_ERR_CONFIG, "loss config: pa_alpha %g must be > 0", (double)c->pa_alpha);
    if (c->kind == MX_LOSS_TRIPLET && (unsigned)c->triplet_mining > MX_TRIPLET_HARDEST)
        return mx_error(MX_ERR_CONFIG, "loss config: triplet_mining %d out of range",
                        (int)c->triplet_mining);
    if (c->kind == MX_LOSS_PROXY_NCA && !(c->nca_scale > 0))
        return mx_error(MX_ERR_CONFIG, "loss config: nca_scale %g must be > 0",
                        (double)c->nca_scale);
    return MX_OK;
}

/* ---- workspace ------------------------------------------------------------------------------ */

mx_status mx_loss_ws_alloc(mx_loss_ws *ws, int64_t max_n, int64_t max_m, int64_t n_classes) {
    int64_t tn = MX_MAX(max_n, n_classes) + 1, tm = MX_MAX(max_m, n_classes) + 1;
    int64_t tx = MX_MAX(tn, tm), A = MX_MAX(MX_MAX(max_n, max_m), n_classes) + 1;
    int nt = omp_get_max_threads();
    if (nt < 1) nt = 1;
    ws->tn = tn, ws->tm = tm, ws->tx = tx, ws->nthr = nt, ws->max_n = max_n;
    ws->boff = mx_calloc((size_t)max_n + 1, sizeof(int64_t));
    ws->bcur = mx_calloc((size_t)max_n + 1, sizeof(int64_t));
    ws->bidx = mx_calloc((size_t)max_m + 1, sizeof(int64_t));
    ws->all_idx = mx_calloc((size_t)max_m + 1, sizeof(int64_t));
    ws->mark = mx_calloc((size_t)n_classes + 1, 1);
    ws->r_n = mx_calloc(2 * (size_t)A, sizeof(int64_t));
    double **dv[] = {&ws->t_s, &ws->t_y,  &ws->t_gv,  &ws->t_s2,  &ws->t_y2,   &ws->t_gv2,
                     &ws->t_a, &ws->t_b,  &ws->t_c,   &ws->t_d,   &ws->t_dist, &ws->t_dist2,
                     &ws->r_l, &ws->r_lm, &ws->r_acc, &ws->inv_e, &ws->inv_v};
    int64_t dn[] = {tn, tn, tn, tm, tm, tm,    tx,        tx,       tx,
                    tx, tn, tm, A,  A,  8 * A, max_n + 1, max_m + 1};
    int ok = ws->boff && ws->bcur && ws->bidx && ws->all_idx && ws->mark && ws->r_n;
    for (int i = 0; i < 17; i++) {
        size_t cnt = (size_t)dn[i] * (i < 12 ? (size_t)nt : 1);
        ok &= (*dv[i] = mx_calloc(cnt, sizeof(double))) != NULL;
    }
    ws->t_g = mx_calloc((size_t)tn * (size_t)nt, sizeof(void *));
    ws->t_g2 = mx_calloc((size_t)tm * (size_t)nt, sizeof(void *));
    if (!ok || !ws->t_g || !ws->t_g2) {
        mx_loss_ws_free(ws);
        return mx_error(MX_ERR_NOMEM, "loss: out of memory for the workspace (n %lld, m %lld)",
                        (long long)max_n, (long long)max_m);
    }
    return MX_OK;
}

void mx_loss_ws_free(mx_loss_ws *ws) {
    void *p[] = {ws->boff,  ws->bcur,   ws->bidx,    ws->all_idx, ws->mark, ws->t_s, ws->t_y,
                 ws->t_gv,  ws->t_s2,   ws->t_y2,    ws->t_gv2,   ws->t_a,  ws->t_b, ws->t_c,
                 ws->t_d,   ws->t_dist, ws->t_dist2, ws->t_g,     ws->t_g2, ws->r_l, ws->r_lm,
                 ws->r_acc, ws->r_n,    ws->inv_e,   ws->inv_v};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) mx_free(p[i]);
    memset(ws, 0, sizeof *ws);
}

mx_status mx_loss_ws_prepare(mx_loss_ws *ws, int64_t n, const int64_t *labels, int64_t m,
                             const mx_mix_pair *pairs) {
    int proxy = mx_loss_is_proxy(ws->cfg.kind);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || (proxy && labels[i] >= ws->C))
            return mx_error(MX_ERR_ARG, "loss: labels[%lld] = %lld: expected in [0, %s)",
                            (long long)i, (long long)labels[i], proxy ? "n_classes" : "inf");
    memset(ws->boff, 0, sizeof(int64_t) * (size_t)(n + 1));
    ws->n_all = 0;
    for (int64_t k = 0; k < m; k++) {
        const mx_mix_pair *p = &pairs[k];
        if (p->i < 0 || p->i >= n || p->j < 0 || p->j >= n || p->anchor >= n)
            return mx_error(MX_ERR_ARG,
                            "loss: pairs[%lld] = (i %lld, j %lld, anchor %lld): expected i, j in "
                            "[0, %lld) and anchor < %lld",
                            (long long)k, (long long)p->i, (long long)p->j, (long long)p->anchor,
                            (long long)n, (long long)n);
        if (!(p->lambda >= 0 && p->lambda <= 1))
            return mx_error(MX_ERR_ARG, "loss: pairs[%lld].lambda = %g: expected in [0, 1]",
                            (long long)k, (double)p->lambda);
        if (p->anchor >= 0)
            ws->boff[p->anchor + 1]++;
        else
            ws->all_idx[ws->n_all++] = k;
    }
    if (!mx_loss_is_proxy(ws->cfg.kind) && ws->n_all > ws->max_n)
        return mx_error(MX_ERR_ARG,
                        "loss: %lld mixed pairs with anchor -1 (scored against every "
                        "anchor): at most max_n = %lld for pair losses",
                        (long long)ws->n_all, (long long)ws->max_n);
    for (int64_t a = 0; a < n; a++) ws->boff[a + 1] += ws->boff[a];
    /* stable counting sort of the anchored pairs into bidx */
    memcpy(ws->bcur, ws->boff, sizeof(int64_t) * (size_t)(n + 1));
    for (int64_t k = 0; k < m; k++)
        if (pairs[k].anchor >= 0) ws->bidx[ws->bcur[pairs[k].anchor]++] = k;
    ws->n = n, ws->m = m, ws->labels = labels, ws->pairs = pairs;
    return MX_OK;
}

/* ---- the float path: engine instantiated on float with mx_sgemm ----------------------------- */

#define R                  float
#define ENG_DOT            mx_dot8
#define ENG(name)          mxf_##name
#define ENG_CLOSE_BACKWARD 1
#define MATMUL(ta, tb, M, N, K, A, lda, B, ldb, Cm, ldc)                                           \
    mx_sgemm(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, Cm, ldc)
#include "loss/loss_engine.inc"
#undef R
#undef ENG
#undef ENG_CLOSE_BACKWARD
#undef MATMUL

struct mx_loss {
    mx_loss_ws ws;
    int64_t max_n, max_m, d, C;
    float *En, *Vn, *Pn, *nE, *nV, *nP; /* normalised rows and their norms */
    float *dEn, *dVn, *dPn;             /* dLoss / d(normalised rows) */
    float *S, *G;                       /* clean similarities and their gradient */
    float *Sm, *Gm;                     /* mixed similarities and their gradient */
    float *Va, *dVa;                    /* all-anchor mixed rows gathered (pair losses) */
};

void mx_loss_free(mx_loss *l) {
    if (!l) return;
    mx_loss_ws_free(&l->ws);
    float *p[] = {l->En,  l->Vn, l->Pn, l->nE, l->nV, l->nP, l->dEn, l->dVn,
                  l->dPn, l->S,  l->G,  l->Sm, l->Gm, l->Va, l->dVa};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) mx_free(p[i]);
    mx_free(l);
}

mx_status mx_loss_create(const mx_loss_config *cfg, int64_t max_n, int64_t max_m, int64_t d,
                         int64_t n_classes, mx_loss **out) {
    *out = NULL;
    MX_TRY(mx_loss_config_check(cfg));
    int proxy = mx_loss_is_proxy(cfg->kind);
    if (max_n < 1 || max_m < 0 || d < 1 || n_classes < 0 || (proxy && n_classes < 1))
        return mx_error(MX_ERR_ARG,
                        "mx_loss_create: max_n %lld >= 1, max_m %lld >= 0, d %lld >= 1, "
                        "n_classes %lld (>= 1 for proxy losses) expected",
                        (long long)max_n, (long long)max_m, (long long)d, (long long)n_classes);
    mx_loss *l = mx_calloc(1, sizeof *l);
    if (!l) return mx_error(MX_ERR_NOMEM, "mx_loss_create: out of memory");
    l->max_n = max_n, l->max_m = max_m, l->d = d, l->C = n_classes;
    l->ws.cfg = *cfg;
    l->ws.C = n_classes, l->ws.d = d;
    mx_status st = mx_loss_ws_alloc(&l->ws, max_n, max_m, n_classes);
    if (st != MX_OK) {
        mx_free(l);
        return st;
    }
    size_t N = (size_t)max_n, M = (size_t)max_m, C = (size_t)n_classes, D = (size_t)d;
    size_t ld = MX_MAX(N, C); /* S: n x n (pair), C x n or n x C (proxy) */
    size_t fl = sizeof(float);
    l->En = mx_alloc(N * D * fl), l->dEn = mx_alloc(N * D * fl), l->nE = mx_alloc(N * fl);
    l->Vn = mx_alloc(M * D * fl + fl), l->dVn = mx_alloc(M * D * fl + fl),
    l->nV = mx_alloc(M * fl + fl);
    l->Pn = mx_alloc(C * D * fl + fl), l->dPn = mx_alloc(C * D * fl + fl),
    l->nP = mx_alloc(C * fl + fl);
    /* pair losses: mixed = m anchored similarities + up to max_n all-anchor rows of n */
    size_t ssz = proxy ? N * C : N * N, smsz = proxy ? M * C : M + N * N;
    l->S = mx_alloc(ssz * fl), l->G = mx_alloc(ssz * fl);
    l->Sm = mx_alloc(smsz * fl + fl), l->Gm = mx_alloc(smsz * fl + fl);
    l->Va = mx_alloc((proxy ? 1 : N * D) * fl), l->dVa = mx_alloc((proxy ? 1 : N * D) * fl);
    (void)ld;
    if (!l->En || !l->dEn || !l->nE || !l->Vn || !l->dVn || !l->nV || !l->Pn || !l->dPn || !l->nP ||
        !l->S || !l->G || !l->Sm || !l->Gm || !l->Va || !l->dVa) {
        mx_loss_free(l);
        return mx_error(MX_ERR_NOMEM, "mx_loss_create: out of memory (n %lld, m %lld, d %lld)",
                        (long long)max_n, (long long)max_m, (long long)d);
    }
    *out = l;
    return MX_OK;
}

const mx_loss_config *mx_loss_get_config(const mx_loss *l) {
    return &l->ws.cfg;
}

mx_status mx_loss_set_config(mx_loss *l, const mx_loss_config *cfg) {
    MX_TRY(mx_loss_config_check(cfg));
    if (mx_loss_is_proxy(cfg->kind) != mx_loss_is_proxy(l->ws.cfg.kind) ||
        (mx_loss_is_proxy(cfg->kind) && cfg->kind != l->ws.cfg.kind))
        return mx_error(MX_ERR_CONFIG,
                        "mx_loss_set_config: cannot change kind %s to %s (the "
                        "workspace layout differs); create a new mx_loss",
                        mx_loss_kind_name(l->ws.cfg.kind), mx_loss_kind_name(cfg->kind));
    l->ws.cfg = *cfg;
    return MX_OK;
}

const float *mx_loss_mixed_embeddings(const mx_loss *l, int64_t *m_out) {
    if (m_out) *m_out = l->ws.m;
    return l->Vn;
}

void mx_loss_proxy_init(float *proxies, int64_t n_classes, int64_t d, mx_rng *rng) {
    double sd = sqrt(2.0 / (double)n_classes);
    for (int64_t i = 0; i < n_classes * d; i++) proxies[i] = (float)(sd * mx_rng_normal(rng));
}

mx_status mx_loss_compute(mx_loss *l, int64_t n, const float *emb, const int64_t *labels,
                          const float *proxies, int64_t m, const float *mixed,
                          const mx_mix_pair *pairs, mx_loss_result *res, float *d_emb,
                          float *d_mixed, float *d_proxies) {
    mx_loss_ws *w = &l->ws;
    int proxy = mx_loss_is_proxy(w->cfg.kind);
    int64_t d = l->d, C = l->C;
    memset(res, 0, sizeof *res);
    if (n < 1 || n > l->max_n || m < 0 || m > l->max_m)
        return mx_error(MX_ERR_SHAPE, "mx_loss_compute: n %lld (1..%lld), m %lld (0..%lld)",
                        (long long)n, (long long)l->max_n, (long long)m, (long long)l->max_m);
    if (!emb || !labels || (m > 0 && (!mixed || !pairs)) || (proxy && !proxies))
        return mx_error(MX_ERR_ARG,
                        "mx_loss_compute: NULL emb / labels / mixed+pairs (m %lld) "
                        "/ proxies (required by %s)",
                        (long long)m, mx_loss_kind_name(w->cfg.kind));
    MX_TRY(mx_loss_ws_prepare(w, n, labels, m, pairs));
    mxf_normalize(n, d, emb, l->En, l->nE);
    if (m > 0) mxf_normalize(m, d, mixed, l->Vn, l->nV);
    if (proxy) mxf_normalize(C, d, proxies, l->Pn, l->nP);
    /* a NaN / Inf anywhere in a row makes its norm non-finite: name the first one */
    const float *nr[3] = {l->nE, l->nV, l->nP};
    const char *nm[3] = {"emb", "mixed", "proxies"};
    int64_t cnt[3] = {n, m, proxy ? C : 0};
    for (int t = 0; t < 3; t++)
        for (int64_t i = 0; i < cnt[t]; i++)
            if (!isfinite(nr[t][i]))
                return mx_error(MX_ERR_NUMERIC, "mx_loss_compute: %s row %lld has NaN / Inf", nm[t],
                                (long long)i);
    mxf_similarities(w, l->En, l->Vn, l->Pn, l->S, l->Sm, l->Va);
    /* close pairs' distances from the raw rows (contrastive, triplet: d = sqrt(2 - 2s)) */
    int direct = w->cfg.kind == MX_LOSS_CONTRASTIVE || w->cfg.kind == MX_LOSS_TRIPLET;
    w->raw_e = direct ? emb : NULL, w->raw_v = direct && m > 0 ? mixed : NULL;
    if (direct) mxf_inv_norms(n, d, emb, w->inv_e);
    if (direct && m > 0) mxf_inv_norms(m, d, mixed, w->inv_v);
    if (direct) mxf_close_dists(w, l->S, l->Sm);
    size_t ssz = (size_t)(proxy ? n * C : n * n);
    size_t smsz = (size_t)(proxy ? m * C : m + w->n_all * n);
    memset(l->G, 0, ssz * sizeof(float));
    memset(l->Gm, 0, smsz * sizeof(float));
    mxf_run(w, l->S, l->G, l->Sm, l->Gm, res);
    if (!isfinite(res->total))
        return mx_error(MX_ERR_NUMERIC,
                        "mx_loss_compute: %s loss is not finite (clean %g, mixed "
                        "%g): NaN / Inf in the inputs?",
                        mx_loss_kind_name(w->cfg.kind), res->clean, res->mixed);
    if (!d_emb && !d_mixed && !d_proxies) return MX_OK;
    memset(l->dEn, 0, sizeof(float) * (size_t)(n * d));
    if (m > 0) memset(l->dVn, 0, sizeof(float) * (size_t)(m * d));
    if (proxy) memset(l->dPn, 0, sizeof(float) * (size_t)(C * d));
    mxf_close_backward(w, l->S, l->G, l->Sm, l->Gm, l->dEn, l->dVn);
    mxf_similarities_backward(w, l->En, l->Vn, l->Pn, l->Va, l->G, l->Gm, l->dEn, l->dVn, l->dPn,
                              l->dVa);
    if (d_emb) mxf_normalize_backward(n, d, l->En, l->nE, l->dEn, d_emb);
    if (d_mixed && m > 0) mxf_normalize_backward(m, d, l->Vn, l->nV, l->dVn, d_mixed);
    if (d_proxies && proxy) mxf_normalize_backward(C, d, l->Pn, l->nP, l->dPn, d_proxies);
    return MX_OK;
}
