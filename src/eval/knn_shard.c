/* Sharded exact kNN (data-parallel evaluation, docs/scaling.md): the top-k of every query among
 * one part of the gallery, with global indices, and the merge of the parts' lists into the global
 * top-k, plus the merge's naive reference. The order is mx_knn's, (sim desc, index asc), and it is
 * total, so the merge of exact per-part lists is exactly the unsharded list. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "eval/eval_impl.h"

/* a is better than b in (sim desc, index asc) */
static inline int better(float as, int64_t ai, float bs, int64_t bi) {
    return as > bs || (as == bs && ai < bi);
}

mx_status mx_knn_part(const float *q, int64_t nq, int64_t q0, const float *g, int64_t ng,
                      int64_t g0, int64_t d, int64_t k, int exclude_self, int64_t *idx, float *sim,
                      volatile const int *stop) {
    if (nq < 0 || ng < 0 || d <= 0 || k <= 0 || q0 < 0 || g0 < 0 ||
        (nq > 0 && (!q || !idx || !sim || (ng > 0 && !g))))
        return mx_error(MX_ERR_ARG,
                        "mx_knn_part: expected nq, ng, q0, g0 >= 0, d, k > 0 and non-NULL arrays "
                        "(nq=%lld ng=%lld d=%lld k=%lld)",
                        (long long)nq, (long long)ng, (long long)d, (long long)k);
    if (nq == 0) return MX_OK;
    if (ng == 0) {
        for (int64_t t = 0; t < nq * k; t++) idx[t] = -1, sim[t] = -INFINITY;
        return MX_OK;
    }
    /* leave-one-out: one more candidate than needed, then query i's own row (global q0 + i) is
     * dropped if the part holds it; no self row here at all: the plain search */
    int64_t kk = exclude_self ? k + 1 : k;
    int64_t *ti = exclude_self ? mx_alloc(sizeof(int64_t) * (size_t)(nq * kk)) : idx;
    float *ts = exclude_self ? mx_alloc(sizeof(float) * (size_t)(nq * kk)) : sim;
    mx_status s = ti && ts ? MX_OK
                           : mx_error(MX_ERR_NOMEM, "mx_knn_part: %lld x %lld candidates",
                                      (long long)nq, (long long)kk);
    if (s == MX_OK) s = mx_knn_stop(q, nq, g, ng, d, kk, 0, ti, ts, stop);
    for (int64_t i = 0; s == MX_OK && i < nq; i++) {
        const int64_t self = exclude_self ? q0 + i - g0 : -1; /* local index of the query's row */
        int64_t o = 0;
        for (int64_t t = 0; t < kk && o < k; t++) {
            int64_t j = ti[i * kk + t];
            if (j >= 0 && j == self) continue;
            float v = ts[i * kk + t];
            idx[i * k + o] = j >= 0 ? j + g0 : -1;
            sim[i * k + o] = j >= 0 ? v : -INFINITY;
            o++;
        }
    }
    if (exclude_self) {
        mx_free(ti);
        mx_free(ts);
    }
    return s;
}

mx_status mx_knn_merge(int parts, const int64_t *idx, const float *sim, int64_t nq, int64_t k,
                       int64_t *out_idx, float *out_sim) {
    enum { SMALL = 64 };
    if (parts < 1 || nq < 0 || k < 1)
        return mx_error(MX_ERR_ARG, "mx_knn_merge: parts=%d nq=%lld k=%lld", parts, (long long)nq,
                        (long long)k);
    int64_t pos_small[SMALL];
    int64_t *pos = parts <= SMALL ? pos_small : malloc(sizeof(int64_t) * (size_t)parts);
    if (!pos) return mx_error(MX_ERR_NOMEM, "mx_knn_merge: %d parts", parts);
    for (int64_t i = 0; i < nq; i++) {
        for (int p = 0; p < parts; p++) pos[p] = 0;
        for (int64_t t = 0; t < k; t++) {
            /* the best head among the parts' lists (a list ends at its first -1) */
            int bp = -1;
            float bs = 0;
            int64_t bi = -1;
            for (int p = 0; p < parts; p++) {
                if (pos[p] >= k) continue;
                size_t at = ((size_t)p * (size_t)nq + (size_t)i) * (size_t)k + (size_t)pos[p];
                if (idx[at] < 0) continue;
                if (bp < 0 || better(sim[at], idx[at], bs, bi)) bp = p, bs = sim[at], bi = idx[at];
            }
            out_idx[i * k + t] = bi;
            if (out_sim) out_sim[i * k + t] = bp < 0 ? -INFINITY : bs;
            if (bp >= 0) pos[bp]++;
        }
    }
    if (pos != pos_small) free(pos);
    return MX_OK;
}

/* ---- reference --------------------------------------------------------------------------- */

typedef struct {
    float s;
    int64_t i;
} cand;

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    return better(a->s, a->i, b->s, b->i) ? -1 : better(b->s, b->i, a->s, a->i) ? 1 : 0;
}

mx_status mx_knn_merge_ref(int parts, const int64_t *idx, const float *sim, int64_t nq, int64_t k,
                           int64_t *out_idx, float *out_sim) {
    cand *c = malloc(sizeof(cand) * (size_t)(parts * k > 0 ? parts * k : 1));
    if (!c) return mx_error(MX_ERR_NOMEM, "mx_knn_merge_ref: out of memory");
    for (int64_t i = 0; i < nq; i++) {
        int64_t n = 0;
        for (int p = 0; p < parts; p++)
            for (int64_t t = 0; t < k; t++) {
                size_t at = ((size_t)p * (size_t)nq + (size_t)i) * (size_t)k + (size_t)t;
                if (idx[at] >= 0) c[n].s = sim[at], c[n].i = idx[at], n++;
            }
        qsort(c, (size_t)n, sizeof(cand), cand_cmp);
        for (int64_t t = 0; t < k; t++) {
            out_idx[i * k + t] = t < n ? c[t].i : -1;
            if (out_sim) out_sim[i * k + t] = t < n ? c[t].s : -INFINITY;
        }
    }
    free(c);
    return MX_OK;
}
