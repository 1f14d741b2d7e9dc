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

/* Row kernels of the L2 norm: sums in double over 8 interleaved partials (one AVX-512 vector;
 * combined pairwise in a fixed order, so the result does not depend on the clone or threads). */
MX_CLONES static void l2_row_fwd(const float *x, int d, float *y) {
    double acc[8] = {0};
    int j = 0;
    for (; j + 8 <= d; j += 8)
        for (int q = 0; q < 8; q++) acc[q] += (double)x[j + q] * x[j + q];
    for (; j < d; j++) acc[j % 8] += (double)x[j] * x[j];
    double s =
        1e-12 + (((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7])));
    float r = (float)(1.0 / sqrt(s));
    for (int k = 0; k < d; k++) y[k] = x[k] * r;
}

MX_CLONES static void l2_row_bwd(const float *x, int d, const float *dy, float *dx) {
    double ss[8] = {0}, xd[8] = {0};
    int j = 0;
    for (; j + 8 <= d; j += 8)
        for (int q = 0; q < 8; q++) {
            ss[q] += (double)x[j + q] * x[j + q];
            xd[q] += (double)x[j + q] * dy[j + q];
        }
    for (; j < d; j++) ss[j % 8] += (double)x[j] * x[j], xd[j % 8] += (double)x[j] * dy[j];
    double s = 1e-12 + (((ss[0] + ss[1]) + (ss[2] + ss[3])) + ((ss[4] + ss[5]) + (ss[6] + ss[7])));
    double p = ((xd[0] + xd[1]) + (xd[2] + xd[3])) + ((xd[4] + xd[5]) + (xd[6] + xd[7]));
    double r = 1.0 / sqrt(s), r3p = r * r * r * p;
    for (int k = 0; k < d; k++) dx[k] = (float)(r * dy[k] - r3p * x[k]);
}

/* rows in parallel when there are enough of them to pay for the threads */
#define L2_PAR_MIN ((int64_t)1 << 15)

void mx_nn_l2norm_fwd(const float *x, int64_t n, int d, float *y) {
#pragma omp parallel for schedule(static) if (n * d >= L2_PAR_MIN)
    for (int64_t i = 0; i < n; i++) l2_row_fwd(x + i * d, d, y + i * d);
}

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
