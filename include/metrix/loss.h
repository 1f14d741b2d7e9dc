/* metrix loss: metric-learning losses in the generic Metrix form, clean and mixed, with analytic
 * backward to the embeddings, the mixed embeddings and the proxies.
 *
 * Generic per-anchor loss (method.md §1-2), labels y in [0,1]:
 *   l(a) = sigma+( sum_x y * rho+(s(a,x)) ) + sigma-( sum_x (1-y) * rho-(s(a,x)) )
 * Clean pairs (y in {0,1}) and mixed pairs (soft labels) run through the same per-anchor code.
 *   total = clean + w * mixed           (w = mx_loss_config.mix_weight)
 *
 * Every input row (embeddings, mixed embeddings, proxies) is L2-normalised inside the loss, with
 * its backward: this is the one place where mixed embeddings are renormalised (method.md §7.10).
 * s is cosine similarity of the normalised rows, computed with mx_sgemm.
 *
 * Mixed examples are described by mx_mix_pair (i, j, lambda, anchor): the mixed row
 * v = lambda*x_i + (1-lambda)*x_j (mixed at any level by the caller, or by mx_mix_rows_forward),
 * scored against `anchor` (a batch index), or against every anchor / proxy (anchor = -1). Its soft
 * label for anchor a is  y~ = lambda*[y_i = y_a] + (1-lambda)*[y_j = y_a]; for a proxy of class c:
 * y~_c = lambda*[y_i = c] + (1-lambda)*[y_j = c]. Proxy losses always score mixed rows against
 * every proxy (the anchor field is ignored).
 *
 * Mixed form of each loss (the clean part is the usual loss; the mixed part uses the same code
 * with soft labels, over the mixed terms only; method.md §2.2):
 *   contrastive (code form): y~ [d - mp]_+ and (1 - y~) [mn - d]_+, each averaged over its
 *     non-zero terms (the official per-tuple averaging, method.md §3.3).
 *   contrastive_cos, MS: generic per-anchor form, mean over all n anchors (anchors with no mixed
 *     term count as 0); no miner on mixed terms (the miner only picks clean pairs).
 *   ProxyAnchor: per proxy c, log(1 + sum_v y~_c e^{-a(s-d)}) averaged over the proxies with some
 *     y~_c > 0, plus log(1 + sum_v (1 - y~_c) e^{a(s+d)}) averaged over all C proxies: the same
 *     log(1+.) sums as the clean loss, filled with the mixed terms (reported apart, weighted by w).
 *   triplet (generalisation): a mixed v of anchor a acts as a positive with weight y~ against the
 *     clean negatives n of a, y~ [d(a,v) - d(a,n) + margin]_+, and as a negative with weight
 *     1 - y~ against the clean positives p, (1 - y~) [d(a,p) - d(a,v) + margin]_+; the mining
 *     mode applies to the clean partner (hardest: a's hardest clean positive / negative);
 *     AvgNonZero over these weighted triplets.
 *   ProxyNCA: soft cross-entropy -sum_c y~_c log softmax_c(-scale ||v - p_c||^2), mean over m.
 * Gradients of the mixed part reach the anchors (d_emb), the mixed rows (d_mixed), the proxies and,
 * for triplet, the clean partners. */
#ifndef METRIX_LOSS_H
#define METRIX_LOSS_H

#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mx_loss_kind {
    MX_LOSS_CONTRASTIVE = 0,     /* official-code form: Euclidean distance on unit vectors, pos
                                  * margin 0, neg margin 0.5, AvgNonZero separately for pos / neg */
    MX_LOSS_CONTRASTIVE_COS = 1, /* paper form: sum -s over positives + [s - m]_+ over negatives,
                                  * mean over anchors */
    MX_LOSS_MS = 2,              /* Multi-Similarity (+ miner on the clean batch) */
    MX_LOSS_PROXY_ANCHOR = 3,    /* ProxyAnchor: proxies are the anchors */
    MX_LOSS_TRIPLET = 4,         /* triplet margin loss on Euclidean distance, AvgNonZero */
    MX_LOSS_PROXY_NCA = 5        /* ProxyNCA (PML semantics: softmax over all proxies) */
} mx_loss_kind;

typedef enum mx_triplet_mining {
    MX_TRIPLET_ALL = 0,      /* every (a, p, n) */
    MX_TRIPLET_SEMIHARD = 1, /* d_ap < d_an < d_ap + margin */
    MX_TRIPLET_HARDEST = 2   /* batch-hard: farthest positive and nearest negative per anchor */
} mx_triplet_mining;

typedef struct mx_loss_config {
    mx_loss_kind kind;
    float mix_weight; /* w: total = clean + w * mixed (0.4) */
    /* contrastive: code form uses distances (pos_margin 0, neg_margin 0.5); cosine form uses
     * neg_margin as the similarity margin m in [s - m]_+ (0.5) */
    float pos_margin, neg_margin;
    /* Multi-Similarity: beta (positive scale), gamma (negative scale), margin, miner epsilon */
    float ms_beta, ms_gamma, ms_margin, ms_eps;
    int ms_miner; /* 1: MS miner on the clean batch (default), 0: all pairs */
    /* ProxyAnchor: scale alpha, margin delta */
    float pa_alpha, pa_delta;
    /* triplet: margin on distances, mining mode */
    float triplet_margin;
    mx_triplet_mining triplet_mining;
    /* ProxyNCA: softmax scale on squared distances */
    float nca_scale;
} mx_loss_config;

/* Defaults of kind (method.md, PML where the paper is silent): MS 17.97 / 75.66 / 0.77, eps 0.39;
 * PA alpha 32, delta 0.1; contrastive 0 / 0.5; triplet 0.05, all; NCA scale 1; w 0.4. */
mx_loss_config mx_loss_config_default(mx_loss_kind kind);
/* Multi-Similarity with the original / PML parameters: beta 2, gamma 50, margin 0.5, eps 0.1. */
mx_loss_config mx_loss_config_ms_original(void);
/* "contrastive", "contrastive_cos", "ms", "proxy_anchor", "triplet", "proxy_nca". */
const char *mx_loss_kind_name(mx_loss_kind kind);
/* Parses a name above (also "pa", "nca", "cont"); MX_ERR_CONFIG if unknown. */
mx_status mx_loss_kind_parse(const char *name, mx_loss_kind *out);

/* One mixed example: row v = lambda * x_i + (1 - lambda) * x_j of the batch, scored against
 * batch anchor `anchor` (or every anchor / proxy when anchor < 0). */
typedef struct mx_mix_pair {
    int64_t i, j;
    float lambda;
    int64_t anchor;
} mx_mix_pair;

typedef struct mx_loss_result {
    double total; /* clean + w * mixed */
    double clean;
    double mixed;
    int64_t n_clean_terms; /* pairs / triplets / proxy terms that contributed (diagnostic) */
    int64_t n_mixed_terms;
} mx_loss_result;

typedef struct mx_loss mx_loss;

/* Plans workspace for batches up to max_n rows, up to max_m mixed rows, embedding dim d and
 * n_classes proxies (0 for pair losses). Memory: O(max_n^2 + max_m) similarities for pair losses
 * (at most max_n mixed rows may have anchor -1 there), O((max_n + max_m) C) for proxy losses,
 * plus O((max_n + max_m + C) d); no n^2 d temporaries and no allocation in mx_loss_compute. */
mx_status mx_loss_create(const mx_loss_config *cfg, int64_t max_n, int64_t max_m, int64_t d,
                         int64_t n_classes, mx_loss **out);
void mx_loss_free(mx_loss *l);
const mx_loss_config *mx_loss_get_config(const mx_loss *l);
/* Changes the configuration (same kind family sizes); MX_ERR_CONFIG if out of range. */
mx_status mx_loss_set_config(mx_loss *l, const mx_loss_config *cfg);

/* Forward + backward.
 *   emb      n x d        batch embeddings (any norm; normalised inside)
 *   labels   n            class ids (int64; in [0, n_classes) for proxy losses)
 *   proxies  C x d        proxy vectors (proxy losses only, else NULL)
 *   m        mixed rows (0: clean loss only); mixed m x d, pairs m descriptors
 * Gradients are ADDED into d_emb (n x d), d_mixed (m x d), d_proxies (C x d); any may be NULL.
 * The gradient w.r.t. the mixed rows lands in d_mixed; the caller back-propagates it through the
 * mixing (mx_mix_rows_backward at embedding level, or the network at input / feature level).
 * Threads: anchors run in parallel and reduce in a fixed order (thread-count independent up to
 * the GEMM's rounding). */
mx_status mx_loss_compute(mx_loss *l, int64_t n, const float *emb, const int64_t *labels,
                          const float *proxies, int64_t m, const float *mixed,
                          const mx_mix_pair *pairs, mx_loss_result *res, float *d_emb,
                          float *d_mixed, float *d_proxies);

/* The L2-normalised mixed embeddings (m x d) of the last mx_loss_compute call, for the utilization
 * metric; valid until the next call. *m_out receives m. */
const float *mx_loss_mixed_embeddings(const mx_loss *l, int64_t *m_out);

/* Kaiming-normal proxy init as torch.nn.init.kaiming_normal_(P, mode="fan_out") on a C x d
 * tensor: N(0, 2 / C) (fan_out = C). */
void mx_loss_proxy_init(float *proxies, int64_t n_classes, int64_t d, mx_rng *rng);

/* Naive double-precision reference of mx_loss_compute (same semantics, no GEMM, O(n^2 d)): the
 * test oracle. Gradients are ADDED as above (double buffers). Allocates internally. */
mx_status mx_loss_compute_ref(const mx_loss_config *cfg, int64_t n, int64_t d, const double *emb,
                              const int64_t *labels, int64_t n_classes, const double *proxies,
                              int64_t m, const double *mixed, const mx_mix_pair *pairs,
                              mx_loss_result *res, double *d_emb, double *d_mixed,
                              double *d_proxies);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_LOSS_H */
