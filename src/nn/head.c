/* Float kernels of the embedding head: GAP + GMP summed over a blocked feature map, and L2
 * normalisation. Memory-bound loops; the linear layer between them is mx_sgemm (exec.c). */
#include <math.h>
#include <string.h>

#include "nn/nn_impl.h"

/* p[i][ch] = mean_s x(i, ch, s) + max_s x(i, ch, s); argmax[i][ch] = the first s of the max. */
void mx_nn_gapgmp_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk, float *p,
                      int32_t *argmax) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++) {
            const float *r = x + i * (int64_t)cpad * hw + (int64_t)(ch / blk) * hw * blk + ch % blk;
            double sum = 0;
            float mx = r[0];
            int32_t am = 0;
            for (int s = 0; s < hw; s++) {
                float v = r[(int64_t)s * blk];
                sum += v;
                if (v > mx) {
                    mx = v;
                    am = s;
                }
            }
            p[i * c + ch] = (float)(sum / hw) + mx;
            argmax[i * c + ch] = am;
        }
    }
}

/* Writes dx (the whole map, padding channels 0): dp/hw everywhere plus dp at the argmax. */
void mx_nn_gapgmp_bwd(int64_t n, int c, int cpad, int hw, int blk, const int32_t *argmax,
                      const float *dp, float *dx) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float *xi = dx + i * (int64_t)cpad * hw;
        memset(xi, 0, (size_t)cpad * hw * sizeof(float));
        for (int ch = 0; ch < c; ch++) {
            float *r = xi + (int64_t)(ch / blk) * hw * blk + ch % blk;
            float g = dp[i * c + ch], ga = g / (float)hw;
            for (int s = 0; s < hw; s++) r[(int64_t)s * blk] = ga;
            r[(int64_t)argmax[i * c + ch] * blk] += g;
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
