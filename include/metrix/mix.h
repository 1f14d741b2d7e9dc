/* metrix mix: which pairs are mixed (the Metrix pair selection), lambda ~ Beta(alpha, alpha), and
 * the row-mixing kernel (forward and backward) used at input, feature and embedding level.
 *
 * A mixed example is an mx_mix_pair (loss.h): v = lambda x_i + (1 - lambda) x_j, scored against
 * `anchor` (or every anchor / proxy when anchor = -1); its soft label for anchor a is
 * y~ = lambda [y_i = y_a] + (1 - lambda) [y_j = y_a]. Strategies (method.md §2.1, §3.3-3.4):
 *   POSNEG:     anchors with >= 1 positive: positive p (all, or one random) x selected negatives n
 *               -> (p, n, lambda, a), y~ = lambda.
 *   ANCHORNEG:  anchors with no positive in the batch: (a, n, lambda, a) for selected negatives n,
 *               y~ = lambda.
 *   POSNEG_OR_ANCHORNEG (default): one of the two per batch with probability 1/2, as the official
 *               code does, minus its bugs (method.md §7: no "first positive" repetition, hardest
 *               negatives are really the anchor's own, no empty-set crash: when the drawn branch
 *               yields no pair, the other branch is used).
 *   BOTH:       POSNEG and ANCHORNEG in the same batch.
 *   NEGNEG:     consecutive selected negatives (n_t, n_t+1) of each anchor, y~ = 0.
 *   POSPOS:     consecutive positives (p_t, p_t+1) of each anchor, y~ = 1.
 * Negatives per anchor: all, the k hardest (largest clean cosine similarity; needs the n x n clean
 * similarity matrix), or k uniformly random. Proxy losses: set anchor_all so that every pair is
 * scored against all proxies (then the anchor only drives the selection). */
#ifndef METRIX_MIX_H
#define METRIX_MIX_H

#include <stdint.h>

#include "metrix/core.h"
#include "metrix/loss.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mx_mix_strategy {
    MX_MIX_POSNEG_OR_ANCHORNEG = 0,
    MX_MIX_POSNEG = 1,
    MX_MIX_ANCHORNEG = 2,
    MX_MIX_BOTH = 3,
    MX_MIX_NEGNEG = 4,
    MX_MIX_POSPOS = 5
} mx_mix_strategy;

typedef enum mx_mix_neg_select {
    MX_MIX_NEG_ALL = 0,
    MX_MIX_NEG_HARDEST = 1, /* k largest s(a, n) */
    MX_MIX_NEG_RANDOM = 2   /* k uniform without replacement */
} mx_mix_neg_select;

typedef struct mx_mix_config {
    float alpha;                  /* lambda ~ Beta(alpha, alpha) (2) */
    int lambda_per_pair;          /* 0: one lambda per batch (paper), 1: one per pair */
    mx_mix_strategy strategy;     /* POSNEG_OR_ANCHORNEG */
    mx_mix_neg_select neg_select; /* ALL */
    int64_t k;                    /* negatives per anchor for HARDEST / RANDOM (5) */
    int all_positives;            /* POSNEG: 1 every positive of the anchor, 0 one random (0) */
    int anchor_all;               /* 1: anchor = -1 in every pair (proxy losses) (0) */
} mx_mix_config;

mx_mix_config mx_mix_config_default(void);
/* "posneg_or_anchorneg", "posneg", "anchorneg", "both", "negneg", "pospos" */
mx_status mx_mix_strategy_parse(const char *name, mx_mix_strategy *out);

/* Pair sampler, planned for batches up to max_n (selection scratch; no allocation per call). */
typedef struct mx_mixer mx_mixer;
mx_status mx_mixer_create(const mx_mix_config *cfg, int64_t max_n, mx_mixer **out);
void mx_mixer_free(mx_mixer *mx);

/* Draws lambda(s) and selects pairs for a batch of n with labels; sim (n x n clean cosine
 * similarity, row-major) is required for MX_MIX_NEG_HARDEST, else may be NULL. Writes up to max_m
 * pairs to out and their count to *m. MX_ERR_SHAPE (with *m = the count needed) if max_m is too
 * small. Deterministic given rng. */
mx_status mx_mixer_sample(mx_mixer *mx, int64_t n, const int64_t *labels, const float *sim,
                          mx_rng *rng, int64_t max_m, mx_mix_pair *out, int64_t *m);

/* Keeps a uniformly random subset of `keep` of the m pairs (order preserved, in place; selection
 * sampling) and returns the new count (m when keep >= m). The input-level cap (mix_input_max):
 * every mixed image there costs a full forward + backward pass. */
int64_t mx_mix_subsample(mx_mix_pair *pairs, int64_t m, int64_t keep, mx_rng *rng);

/* Clean cosine similarity for hard-negative selection: unit (n x d, caller's) receives the
 * L2-normalised rows of emb, sim (n x n) = unit unit^T by mx_sgemm. */
void mx_mix_cosine(int64_t n, int64_t d, const float *emb, float *unit, float *sim);

/* out[k] = lambda_k x[i_k] + (1 - lambda_k) x[j_k], rows of len floats (images, feature-map
 * slabs, embeddings). */
void mx_mix_rows_forward(int64_t m, int64_t len, const float *x, const mx_mix_pair *pairs,
                         float *out);
/* dx[i_k] += lambda_k dout[k], dx[j_k] += (1 - lambda_k) dout[k]. Deterministic: each element is
 * accumulated in k order whatever the thread count (threads split the columns). */
void mx_mix_rows_backward(int64_t m, int64_t len, const float *dout, const mx_mix_pair *pairs,
                          float *dx);
/* Naive sequential references of the two kernels (tests). */
void mx_mix_rows_forward_ref(int64_t m, int64_t len, const float *x, const mx_mix_pair *pairs,
                             float *out);
void mx_mix_rows_backward_ref(int64_t m, int64_t len, const float *dout, const mx_mix_pair *pairs,
                              float *dx);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_MIX_H */
