/* Float kernels of the embedding head: GAP + GMP summed over a blocked feature map, and L2
 * normalisation. Memory-bound loops; the linear layer between them is mx_sgemm (exec.c). */
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

/* One channel group's lanes: len <= POOL_LANES channels, position s of lane q at r[s * stride + q]
 * (the blocked layouts keep a group's channels contiguous per position, so the lanes vectorise).
 * Per lane the mean (a double sum in position order: the result does not depend on the clone)
 * and, if mx, the max and its first position. */
#define POOL_LANES 64
MX_CLONES static void pool_lanes(const float *r, int hw, int stride, int len, float *mean,
                                 float *mx, int32_t *am) {
    double sum[POOL_LANES];
    float m[POOL_LANES];
    int32_t a[POOL_LANES];
    for (int q = 0; q < len; q++) sum[q] = 0, m[q] = r[q], a[q] = 0;
    for (int s = 0; s < hw; s++) {
        const float *rs = r + (int64_t)s * stride;
        for (int q = 0; q < len; q++) {
            float v = rs[q];
            sum[q] += v;
            a[q] = v > m[q] ? s : a[q];
            m[q] = v > m[q] ? v : m[q];
        }
    }
    for (int q = 0; q < len; q++) mean[q] = (float)(sum[q] / hw);
    if (mx)
        for (int q = 0; q < len; q++) mx[q] = m[q], am[q] = a[q];
}

/* A map's channels as lane runs: groups of blk channels from g, runs of up to POOL_LANES lanes
 * from g + q0 within a group (nChw16c: one run per group; NHWC, blk = c: runs of 64). */
#define RUN_LEN(c, blk, g, q0) MX_MIN(MX_MIN(POOL_LANES, (blk) - (q0)), (c) - (g) - (q0))

/* p[i][ch] = mean_s x(i, ch, s) + max_s x(i, ch, s); argmax[i][ch] = the first s of the max. */
void mx_nn_gapgmp_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk, float *p,
                      int32_t *argmax) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int g = 0; g < c; g += blk)
            for (int q0 = 0; q0 < blk && g + q0 < c; q0 += POOL_LANES) {
                int len = RUN_LEN(c, blk, g, q0);
                float mean[POOL_LANES], mx[POOL_LANES];
                int64_t o = i * c + g + q0;
                pool_lanes(x + i * (int64_t)cpad * hw + (int64_t)g * hw + q0, hw, blk, len, mean,
                           mx, argmax + o);
                for (int q = 0; q < len; q++) p[o + q] = mean[q] + mx[q];
            }
    }
}

/* gap[i][ch] = mean_s x(i, ch, s) (the linear half of the mixed head's pooling). */
void mx_nn_gap_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk, float *gap) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int g = 0; g < c; g += blk)
            for (int q0 = 0; q0 < blk && g + q0 < c; q0 += POOL_LANES)
                pool_lanes(x + i * (int64_t)cpad * hw + (int64_t)g * hw + q0, hw, blk,
                           RUN_LEN(c, blk, g, q0), gap + i * c + g + q0, NULL, NULL);
    }
}

/* dx (written; padding channels 0) = dp / hw at every position, plus dp at the argmax. */
MX_CLONES static void unpool_lanes(float *r, int hw, int stride, int len, const float *dp,
                                   const int32_t *am) {
    float ga[POOL_LANES];
    for (int q = 0; q < len; q++) ga[q] = dp[q] / (float)hw;
    for (int s = 0; s < hw; s++) {
        float *rs = r + (int64_t)s * stride;
        for (int q = 0; q < len; q++) rs[q] = ga[q];
    }
    for (int q = 0; q < len; q++) r[(int64_t)am[q] * stride + q] += dp[q];
}

void mx_nn_gapgmp_bwd(int64_t n, int c, int cpad, int hw, int blk, const int32_t *argmax,
                      const float *dp, float *dx) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *xi = dx + i * (int64_t)cpad * hw;
        if (c < cpad) memset(xi, 0, (size_t)cpad * hw * sizeof(float));
        for (int g = 0; g < c; g += blk)
            for (int q0 = 0; q0 < blk && g + q0 < c; q0 += POOL_LANES) {
                int64_t o = i * c + g + q0;
                unpool_lanes(xi + (int64_t)g * hw + q0, hw, blk, RUN_LEN(c, blk, g, q0), dp + o,
                             argmax + o);
            }
    }
}

/* Row kernels of the L2 norm: the sums are mx_dot8 (double, 8 fixed partials: the result does not
 * depend on the clone or threads). */
static void l2_row_fwd(const float *x, int d, float *y) {
    float r = (float)(1.0 / sqrt(1e-12 + mx_dot8(d, x, x)));
    for (int k = 0; k < d; k++) y[k] = x[k] * r;
}

static void l2_row_bwd(const float *x, int d, const float *dy, float *dx) {
    double s = 1e-12 + mx_dot8(d, x, x), p = mx_dot8(d, x, dy);
    double r = 1.0 / sqrt(s), r3p = r * r * r * p;
    for (int k = 0; k < d; k++) dx[k] = (float)(r * dy[k] - r3p * x[k]);
}

/* rows in parallel when there are enough of them to pay for the threads */
#define L2_PAR_MIN ((int64_t)1 << 15)

void mx_nn_bias_l2norm_fwd(float *x, int64_t n, int d, const float *bias, float *y) {
#pragma omp parallel for schedule(static) if (n * d >= L2_PAR_MIN)
    for (int64_t i = 0; i < n; i++) {
        for (int k = 0; k < d; k++) x[i * d + k] += bias[k];
        l2_row_fwd(x + i * d, d, y + i * d);
    }
}

/* Writes dx = r dy - r^3 x (x . dy), r = (sum x^2 + 1e-12)^-1/2. */
void mx_nn_l2norm_bwd(const float *x, int64_t n, int d, const float *dy, float *dx) {
#pragma omp parallel for schedule(static) if (n * d >= L2_PAR_MIN)
    for (int64_t i = 0; i < n; i++) l2_row_bwd(x + i * d, d, dy + i * d, dx + i * d);
}
