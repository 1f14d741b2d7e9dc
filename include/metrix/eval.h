/* metrix eval: retrieval evaluation of embeddings.
 *
 * Exact k-nearest-neighbour search by inner product (cosine on L2-normalised rows), computed
 * block by block with mx_sgemm (memory O(block x N), never N x N), and the metrics of the DML
 * literature on top of it: Recall@K (leave-one-out and query/gallery), MAP@R and R-Precision
 * (pytorch-metric-learning semantics), NMI of k-means++ clusters, utilization u(Q, X)
 * (Metrix, ICLR 2022), alignment and uniformity (Wang & Isola 2020).
 *
 * Ordering of neighbours: similarity descending, equal similarity -> smaller index first. Results
 * do not depend on the thread count beyond the float rounding of the GEMM. */
#ifndef METRIX_EVAL_H
#define METRIX_EVAL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- exact kNN --------------------------------------------------------------------------- */

/* For each of the nq rows of q (nq x d, row-major) finds the k rows of g (ng x d) with the largest
 * inner product, written best first to idx[i*k .. i*k+k) (gallery indices) and sim (may be NULL).
 * exclude_self != 0 drops gallery index i from query i's candidates (leave-one-out: q and g are
 * the same set, row i of q is row i of g). When fewer than k candidates exist the tail is filled
 * with idx -1, sim -INFINITY. When q == g, nq == ng and exclude_self, the symmetric product is
 * used (half the GEMM work). Inputs must be finite (not checked here; mx_eval_* check). */
mx_status mx_knn(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                 int exclude_self, int64_t *idx, float *sim);

/* Naive reference (double dot products, full sort): the test oracle. Same contract. */
mx_status mx_knn_ref(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                     int exclude_self, int64_t *idx, float *sim);

/* Sharded kNN (data-parallel evaluation: each rank searches its part of the gallery, then the
 * parts' lists are merged). mx_knn_part: the k best of rows g (ng x d), which are rows
 * [g0, g0 + ng) of the whole gallery, for queries q (nq x d), rows [q0, q0 + nq) of the query set;
 * idx (nq x k) holds global gallery indices (g0 + local), sim their similarities, padded with
 * (-1, -INFINITY). exclude_self: query set = gallery, global query row i never gets gallery row
 * i. stop: see mx_eval_config (may be NULL).
 * mx_knn_merge: parts lists (block p = nq x k of idx / sim, p = 0..parts-1, as mx_knn_part wrote
 * them) into the k best overall (out_sim may be NULL), order (sim desc, index asc): when the parts
 * split one gallery, the result is mx_knn's on the whole gallery. O(nq k parts). */
mx_status mx_knn_part(const float *q, int64_t nq, int64_t q0, const float *g, int64_t ng,
                      int64_t g0, int64_t d, int64_t k, int exclude_self, int64_t *idx, float *sim,
                      volatile const int *stop);
mx_status mx_knn_merge(int parts, const int64_t *idx, const float *sim, int64_t nq, int64_t k,
                       int64_t *out_idx, float *out_sim);
/* Naive reference of mx_knn_merge (all candidates of a query sorted): the test oracle. */
mx_status mx_knn_merge_ref(int parts, const int64_t *idx, const float *sim, int64_t nq, int64_t k,
                           int64_t *out_idx, float *out_sim);

/* L2-normalises the n rows of x (n x d) in place. A zero or non-finite row is MX_ERR_NUMERIC
 * (the message names the row). */
mx_status mx_eval_normalize(float *x, int64_t n, int64_t d);

/* ---- retrieval examples (for pictures) --------------------------------------------------- */

/* Picks n_queries distinct rows of q (nq x d) at random from a generator seeded with seed (the
 * same seed and nq give the same queries, whatever the embeddings), sorted ascending, into
 * query_idx, and finds each one's k nearest rows of g (ng x d) by cosine similarity (rows are
 * normalised on copies): nn (n_queries x k, best first, -1 past the last candidate) and sim
 * (may be NULL). g == NULL means leave-one-out within q (the query itself is excluded).
 * n_queries is clamped to nq: *n_out receives the count picked. */
mx_status mx_retrieval_examples(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                                int n_queries, int64_t k, uint64_t seed, int64_t *query_idx,
                                int64_t *nn, float *sim, int *n_out);

/* ---- single metrics ---------------------------------------------------------------------- */

/* Normalised mutual information between two labelings of n items, arithmetic-mean
 * normalisation (scikit-learn's normalized_mutual_info_score default). */
mx_status mx_nmi(const int64_t *a, const int64_t *b, int64_t n, double *out);

/* k-means (k-means++ seeding from rng, then Lloyd iterations until no assignment changes or
 * max_iter) on x (n x d). assign: n cluster ids in [0, n_clusters). Smaller problems seed with
 * scikit-learn's greedy k-means++ (2 + floor(ln n_clusters) D^2-drawn candidates per centre, the
 * one that lowers the potential most kept). Large problems (n * n_clusters * d >= 1e10, e.g.
 * Stanford Online Products' 60k x 11k x 512) seed in batches of up to 256 centres by rejection
 * sampling (plain k-means++'s D^2 distribution, one GEMM per batch) and rescore each Lloyd pass
 * against the centres that moved only: about 8 s on 2 threads at SOP scale instead of 134 s.
 * Same clusters for any thread count. */
mx_status mx_kmeans(const float *x, int64_t n, int64_t d, int64_t n_clusters, int max_iter,
                    mx_rng *rng, int64_t *assign);

/* u(Q, X) = (1/|Q|) sum_q min_x ||q - x||^2 (squared Euclidean, as given; any X). */
mx_status mx_utilization(const float *q, int64_t nq, const float *x, int64_t nx, int64_t d,
                         double *out);

/* Alignment E_{positive pairs i<j} ||x_i - x_j||^2 (alpha = 2) over pairs of equal labels, and
 * uniformity log E_{all pairs i<j} exp(-t ||x_i - x_j||^2), on x as given (normalise first).
 * Either output may be NULL (uniformity costs an O(n^2 d) pass). No positive pair: alignment
 * NaN. */
mx_status mx_align_uniform(const float *x, const int64_t *labels, int64_t n, int64_t d, double t,
                           double *alignment, double *uniformity);

/* ---- the report -------------------------------------------------------------------------- */

#define MX_EVAL_MAX_K 16

typedef struct mx_eval_config {
    int n_k;                  /* number of Recall@K cut-offs */
    int64_t k[MX_EVAL_MAX_K]; /* ascending; default 1,2,4,8,16,32 */
    int map_at_r;             /* MAP@R and R-Precision (needs top-R lists; default 1) */
    int nmi;                  /* k-means + NMI (default 1) */
    int nmi_max_iter;         /* Lloyd iteration cap (default 100) */
    int align_uniform;        /* alignment and uniformity (default 1) */
    double uniformity_t;      /* default 2 */
    /* Cancellation (default NULL: never): when *stop becomes non-zero (e.g. set by a SIGINT
     * handler) the run stops within one GEMM tile / k-means pass and returns
     * MX_ERR_INTERRUPTED; *out is then incomplete. */
    volatile const int *stop;
    /* The kNN pass (default NULL: mx_knn in this process). A data-parallel evaluation plugs in a
     * sharded search (mx_knn_part on each rank + mx_knn_merge); it must fill idx (nq x k) exactly
     * as mx_knn(q, nq, g, ng, d, k, exclude_self, idx, NULL) would, and honour stop. q and g are
     * normalised; g == q when exclude_self. */
    mx_status (*knn)(void *ctx, const float *q, int64_t nq, const float *g, int64_t ng, int64_t d,
                     int64_t k, int exclude_self, int64_t *idx);
    void *knn_ctx;
} mx_eval_config;

mx_eval_config mx_eval_config_default(void);

typedef struct mx_eval_report {
    int query_gallery; /* 0: leave-one-out, 1: query/gallery */
    int64_t n_query, n_gallery, dim, n_classes;
    int n_k;
    int64_t k[MX_EVAL_MAX_K];
    double recall[MX_EVAL_MAX_K]; /* share of queries with a same-label item among the top K;
                                     NaN when K exceeds n_candidates (undefined) */
    int64_t n_candidates;         /* items each query is ranked against (n_gallery, or n - 1
                                     leave-one-out) */
    int64_t n_lone;               /* queries with no same-label reference (misses in Recall@K,
                                     skipped by MAP@R and R-Precision) */
    int has_map_at_r;
    double map_at_r, r_precision;
    int has_nmi;
    double nmi; /* NaN when degenerate: fewer than 2 classes, or every query its own class (one
                   cluster per item scores 1 whatever the embedding) */
    int has_align_uniform;
    double alignment, uniformity; /* alignment NaN when no two queries share a class */
    int has_utilization;
    double utilization; /* u(query set, train set) on normalised embeddings */
    int64_t n_train;
} mx_eval_report;

/* Protocol notes. Recall@K: a query is a hit when a same-label item is among its K nearest
 * (ties broken by index, so for In-Shop a tie between the best positive and a negative counts
 * against the query, unlike the official "fewer than K negatives score higher"). MAP@R needs the
 * top max(R) list of every query: memory n_query x max(K_max, R_max) x 8 bytes plus the same in
 * floats; set map_at_r = 0 for very large classes. NMI's k-means costs O(n d classes) per full
 * Lloyd pass (see mx_kmeans for large sets).
 *
 * Leave-one-out evaluation of n embeddings (n x d, normalised internally on a copy) with labels.
 * train (n_train x d, may be NULL) adds utilization u(emb, train). rng seeds k-means++ (may be
 * NULL when cfg->nmi is 0). */
mx_status mx_eval_run(const float *emb, const int64_t *labels, int64_t n, int64_t d,
                      const float *train, int64_t n_train, const mx_eval_config *cfg, mx_rng *rng,
                      mx_eval_report *out);

/* Query/gallery evaluation (In-Shop): queries against a disjoint gallery; R = number of gallery
 * items with the query's label. NMI, alignment, uniformity and utilization use the query set. */
mx_status mx_eval_run_qg(const float *q, const int64_t *q_labels, int64_t nq, const float *g,
                         const int64_t *g_labels, int64_t ng, int64_t d, const float *train,
                         int64_t n_train, const mx_eval_config *cfg, mx_rng *rng,
                         mx_eval_report *out);

/* Formats the report as text (json = 0) or one JSON object (json = 1) into buf (snprintf
 * semantics: returns the length it needs, writes at most cap bytes, NUL-terminated if cap > 0).
 * An undefined or degenerate metric (NaN above) prints as "n/a (why)" in text; in JSON its value
 * is null and the object "undefined" maps its name ("recall@1000", "map_at_r", "nmi",
 * "alignment") to the reason. */
size_t mx_eval_report_format(const mx_eval_report *r, int json, char *buf, size_t cap);
/* Same, to a stream the caller passes. */
mx_status mx_eval_report_write(const mx_eval_report *r, int json, FILE *f);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_EVAL_H */
