/* Retrieval examples for pictures: a seeded set of queries and their nearest neighbours. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "metrix/eval.h"

mx_status mx_retrieval_examples(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                                int n_queries, int64_t k, uint64_t seed, int64_t *query_idx,
                                int64_t *nn, float *sim, int *n_out) {
    if (!q || !query_idx || !nn || !n_out || nq < 1 || d < 1 || k < 1 || n_queries < 1 ||
        (g && ng < 1))
        return mx_error(MX_ERR_ARG,
                        "mx_retrieval_examples: nq %lld, ng %lld, d %lld, k %lld, n_queries %d: "
                        "expected all >= 1 and non-NULL arrays",
                        (long long)nq, (long long)ng, (long long)d, (long long)k, n_queries);
    int loo = g == NULL;
    if (loo) g = q, ng = nq;
    int nsel = n_queries < nq ? n_queries : (int)nq;
    /* partial Fisher-Yates over 0..nq-1, then sorted: the first nsel of a seeded permutation */
    int64_t *perm = malloc(sizeof(int64_t) * (size_t)nq);
    int64_t kk = k + loo; /* one extra: the query itself, dropped below */
    float *qs = mx_alloc(sizeof(float) * (size_t)(nsel * d));
    float *gs = mx_alloc(sizeof(float) * (size_t)(ng * d));
    int64_t *idx = malloc(sizeof(int64_t) * (size_t)(nsel * kk));
    float *sv = malloc(sizeof(float) * (size_t)(nsel * kk));
    mx_status st = perm && qs && gs && idx && sv
                       ? MX_OK
                       : mx_error(MX_ERR_NOMEM, "mx_retrieval_examples: %lld x %lld embeddings",
                                  (long long)ng, (long long)d);
    if (st == MX_OK) {
        mx_rng r;
        mx_rng_seed(&r, seed);
        for (int64_t i = 0; i < nq; i++) perm[i] = i;
        for (int i = 0; i < nsel; i++) {
            int64_t j = i + (int64_t)mx_rng_below(&r, (uint64_t)(nq - i));
            int64_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
        }
        for (int i = 1; i < nsel; i++) /* insertion sort of the (few) picks */
            for (int j = i; j > 0 && perm[j - 1] > perm[j]; j--) {
                int64_t t = perm[j];
                perm[j] = perm[j - 1], perm[j - 1] = t;
            }
        for (int i = 0; i < nsel; i++) {
            query_idx[i] = perm[i];
            memcpy(qs + i * d, q + perm[i] * d, sizeof(float) * (size_t)d);
        }
        memcpy(gs, g, sizeof(float) * (size_t)(ng * d));
        st = mx_eval_normalize(qs, nsel, d);
    }
    if (st == MX_OK) st = mx_eval_normalize(gs, ng, d);
    if (st == MX_OK) st = mx_knn(qs, nsel, gs, ng, d, kk, 0, idx, sv);
    for (int i = 0; st == MX_OK && i < nsel; i++) {
        int64_t o = 0;
        for (int64_t j = 0; j < kk && o < k; j++) {
            if (loo && idx[i * kk + j] == query_idx[i]) continue;
            nn[i * k + o] = idx[i * kk + j];
            if (sim) sim[i * k + o] = sv[i * kk + j];
            o++;
        }
        for (; o < k; o++) { /* cannot happen (kk = k + 1 slots, one skipped); kept defined */
            nn[i * k + o] = -1;
            if (sim) sim[i * k + o] = -INFINITY;
        }
    }
    if (st == MX_OK) *n_out = nsel;
    free(perm);
    mx_free(qs);
    mx_free(gs);
    free(idx);
    free(sv);
    return st;
}
