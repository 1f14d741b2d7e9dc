/* Private to the loss module: the per-call workspace shared by the GEMM path and the reference. */
#ifndef MX_LOSS_IMPL_H
#define MX_LOSS_IMPL_H

#include <math.h>
#include <stdint.h>

#include "metrix/loss.h"

typedef struct mx_loss_ws {
    mx_loss_config cfg;
    int64_t n, m, C, d; /* current sizes */
    int64_t max_n;
    const int64_t *labels;
    const mx_mix_pair *pairs;
    int64_t *boff;    /* n + 1: mixed pairs bucketed by anchor (anchor >= 0) */
    int64_t *bcur;    /* n + 1: cursor scratch */
    int64_t *bidx;    /* m */
    int64_t *all_idx; /* m: pairs with anchor < 0 */
    int64_t n_all;
    unsigned char *mark; /* C */
    /* per-anchor term scratch: clean (t_*) of tn, mixed (t_*2) of tm, shared t_a..t_d of tx */
    double *t_s, *t_y, *t_gv, *t_s2, *t_y2, *t_gv2, *t_a, *t_b, *t_c, *t_d;
    double *t_dist, *t_dist2; /* direct distances of close terms (tn / tm), -1 for the others */
    void **t_g, **t_g2;
    int64_t tn, tm, tx; /* per-thread strides of the scratch above */
    int nthr;           /* threads the scratch was planned for */
    /* per-anchor results, summed in order after the parallel loops: losses (A), counts (2A),
     * contrastive / triplet accumulators (8A); A = max(max_n, max_m, C) */
    double *r_l, *r_lm, *r_acc;
    int64_t *r_n;
    /* Close pairs, contrastive / triplet on the float path (raw_e NULL in the double reference:
     * every distance from s). raw_e, raw_v: the raw rows (n x d, m x d, storage type of the
     * engine), borrowed for one call; inv_e, inv_v (max_n, max_m): their inverse norms in double.
     * A slot of S / Sm with s > MX_LOSS_CLOSE_S is overwritten by close_dists with its distance
     * ||x^ - z^|| from the raw rows, tagged (mx_loss_dist_encode), used instead of sqrt(2 - 2s);
     * its slot in G / Gm then takes dLoss/dd, not dLoss/ds, until close_backward moves it into
     * dEn / dVn. */
    const void *raw_e, *raw_v;
    double *inv_e, *inv_v;
} mx_loss_ws;

/* Similarity above which contrastive / triplet distances (d < ~0.447) are computed directly: in
 * float, 2 - 2s keeps only ~eps / d^2 relative accuracy. */
#define MX_LOSS_CLOSE_S 0.9

/* A close pair's distance d in its similarity slot: 2^66 max(d, 2^-60), exact in float (a power
 * of two scaling, d <= 2) and >= 64, outside any similarity; decode gives d, or -1 for a
 * similarity (any value <= 2). */
static inline float mx_loss_dist_encode(double d) {
    return (float)ldexp(fmax(d, 0x1p-60), 66);
}
static inline double mx_loss_dist_decode(double v) {
    return v > 2 ? ldexp(v, -66) : -1;
}

/* Allocates the scratch for max sizes into ws (zeroed struct); mx_loss_ws_free releases it. */
mx_status mx_loss_ws_alloc(mx_loss_ws *ws, int64_t max_n, int64_t max_m, int64_t n_classes);
void mx_loss_ws_free(mx_loss_ws *ws);
/* Checks config, labels and pairs against sizes; buckets the pairs by anchor. */
mx_status mx_loss_ws_prepare(mx_loss_ws *ws, int64_t n, const int64_t *labels, int64_t m,
                             const mx_mix_pair *pairs);
mx_status mx_loss_config_check(const mx_loss_config *cfg);
static inline int mx_loss_is_proxy(mx_loss_kind k) {
    return k == MX_LOSS_PROXY_ANCHOR || k == MX_LOSS_PROXY_NCA;
}

/* y~ = lambda [y_i = c] + (1 - lambda) [y_j = c] */
static inline double mx_loss_soft_label(const mx_mix_pair *p, const int64_t *labels, int64_t c) {
    return (double)p->lambda * (labels[p->i] == c) +
           (1.0 - (double)p->lambda) * (labels[p->j] == c);
}

#endif
