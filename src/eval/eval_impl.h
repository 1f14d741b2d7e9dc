/* Private helpers of the eval module. */
#ifndef MX_EVAL_IMPL_H
#define MX_EVAL_IMPL_H

#include <stdint.h>

#include "metrix/eval.h"

/* The kNN engine on caller-owned buffers: per query row i, an unsorted bounded heap of k
 * (hs, hi) + i*k holding cnt[i] items. Tiles are computed and scanned per thread. */
mx_status mx_knn_heaps(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                       int exclude_self, float *hs, int64_t *hi, int64_t *cnt,
                       volatile const int *stop);

/* mx_knn, mx_utilization and mx_align_uniform with a stop flag (may be NULL; see mx_stopped):
 * checked once per GEMM tile, MX_ERR_INTERRUPTED when it is set. */
mx_status mx_knn_stop(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                      int exclude_self, int64_t *idx, float *sim, volatile const int *stop);
mx_status mx_utilization_stop(const float *q, int64_t nq, const float *x, int64_t nx, int64_t d,
                              double *out, volatile const int *stop);
mx_status mx_align_uniform_stop(const float *x, const int64_t *labels, int64_t n, int64_t d,
                                double t, double *alignment, double *uniformity,
                                volatile const int *stop);

/* Dense ids of labels: ids[i] in [0, *n_ids) in sorted label order (ids may be NULL);
 * *uniq_out (may be NULL) receives the sorted distinct labels (free()). */
mx_status mx_eval_dense_ids(const int64_t *labels, int64_t n, int64_t *ids, int64_t **uniq_out,
                            int64_t *n_ids);

/* k-means internals (mx_kmeans is mx_kmeans_ex with opt = NULL, stats = NULL). */
typedef struct mx_kmeans_opts {
    /* n * n_clusters * d from which the large-problem path is taken: batched k-means++ seeding
     * and Lloyd passes against the moved centres only (see metrics.c). Default
     * MX_KMEANS_LARGE_WORK. */
    double large_work;
    int64_t seed_batch; /* most centres per seeding batch (default 256) */
    const float *init;  /* n_clusters x d initial centres instead of k-means++ (default NULL) */
    int seed_trials;    /* small path: candidates per centre of the greedy k-means++; 0: default
                           mx_kmeans_default_trials, 1: plain k-means++ */
    volatile const int *stop; /* checked per centre, tile and Lloyd pass (may be NULL) */
} mx_kmeans_opts;

#define MX_KMEANS_LARGE_WORK 1e10

typedef struct mx_kmeans_stats {
    int large;              /* the large-problem path was taken */
    double seed_s, lloyd_s; /* wall time of the seeding and of the Lloyd iterations */
    int iters;              /* Lloyd iterations run (assignment passes) */
    int64_t batches;        /* seeding: batches (large path) */
    int64_t proposals;      /* seeding: D^2 proposals, accepted or not (large path) */
    int64_t recomputed;     /* Lloyd: points scored against all k, over all passes */
    int64_t relocated;      /* Lloyd: points moved into empty clusters, over all passes */
    double seed_potential;  /* small path: sum of squared distances to the nearest seed */
} mx_kmeans_stats;

/* scikit-learn's number of greedy k-means++ candidates: 2 + floor(ln n_clusters) */
int mx_kmeans_default_trials(int64_t n_clusters);

/* Greedy k-means++ (kmeans_seed.c): n_clusters seeds from the rows of x (n x d) into cent; per
 * centre `trials` candidates drawn ~ D^2, the one with the smallest resulting potential kept.
 * mind: n (ends holding each point's D^2), cum: n, dcand: trials x n, cand: trials, scratch.
 * Returns the potential sum_i D_i^2 of the seeds. Same seeds for any thread count. */
double mx_kmeans_seed_greedy(const float *x, int64_t n, int64_t d, int64_t n_clusters, int trials,
                             mx_rng *rng, float *cent, double *mind, double *cum, double *dcand,
                             int64_t *cand);

mx_status mx_kmeans_ex(const float *x, int64_t n, int64_t d, int64_t n_clusters, int max_iter,
                       mx_rng *rng, const mx_kmeans_opts *opt, int64_t *assign,
                       mx_kmeans_stats *stats);

#endif
