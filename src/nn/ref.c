/* Reference layers of the nn module: plain NCHW loops in double precision, written for clarity.
 * They are the oracles of the oneDNN layers (tests) and are themselves checked by finite
 * differences. Backward functions ADD into their gradient outputs. */
#include <math.h>

#include "nn/nn_impl.h"

void mx_ref_conv_fwd(const double *x, int64_t n, int ic, int h, int w, const double *wt,
                     const double *b, int oc, int k, int stride, int pad, double *y) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < oc; o++)
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++) {
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < ic; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = py * stride - pad + ky, ix = px * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                s += x[((i * ic + c) * h + iy) * w + ix] *
                                     wt[((int64_t)(o * ic + c) * k + ky) * k + kx];
                            }
                    y[((i * oc + o) * oh + py) * ow + px] = s;
                }
}

void mx_ref_conv_bwd(const double *x, int64_t n, int ic, int h, int w, const double *wt, int oc,
                     int k, int stride, int pad, const double *dy, double *dx, double *dw,
                     double *db) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < oc; o++)
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++) {
                    double g = dy[((i * oc + o) * oh + py) * ow + px];
                    if (db) db[o] += g;
                    for (int c = 0; c < ic; c++)
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int iy = py * stride - pad + ky, ix = px * stride - pad + kx;
                                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                                int64_t xi = ((i * ic + c) * h + iy) * w + ix;
                                int64_t wi = ((int64_t)(o * ic + c) * k + ky) * k + kx;
                                if (dx) dx[xi] += g * wt[wi];
                                if (dw) dw[wi] += g * x[xi];
                            }
                }
}

void mx_ref_bn_fwd(const double *x, int64_t n, int c, int hw, const double *gamma,
                   const double *beta, double eps, int train, double *mean, double *var, int relu,
                   double *y) {
    for (int ch = 0; ch < c; ch++) {
        double mu, v;
        if (train) {
            double s = 0, s2 = 0;
            for (int64_t i = 0; i < n; i++)
                for (int j = 0; j < hw; j++) s += x[(i * c + ch) * hw + j];
            mu = s / (double)(n * hw);
            for (int64_t i = 0; i < n; i++)
                for (int j = 0; j < hw; j++) {
                    double d = x[(i * c + ch) * hw + j] - mu;
                    s2 += d * d;
                }
            v = s2 / (double)(n * hw);
            mean[ch] = mu;
            var[ch] = v;
        } else {
            mu = mean[ch];
            v = var[ch];
        }
        double inv = 1.0 / sqrt(v + eps);
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                int64_t t = (i * c + ch) * hw + j;
                double o = gamma[ch] * (x[t] - mu) * inv + beta[ch];
                y[t] = relu && o < 0 ? 0 : o;
            }
    }
}

void mx_ref_bn_bwd(const double *x, int64_t n, int c, int hw, const double *gamma, double eps,
                   int train, const double *mean, const double *var, int relu, const double *y,
                   const double *dy, double *dx, double *dgamma, double *dbeta) {
    double m = (double)(n * hw);
    for (int ch = 0; ch < c; ch++) {
        double inv = 1.0 / sqrt(var[ch] + eps), sg = 0, sgx = 0;
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                int64_t t = (i * c + ch) * hw + j;
                double g = relu && y[t] <= 0 ? 0 : dy[t];
                sg += g;
                sgx += g * (x[t] - mean[ch]) * inv;
            }
        if (dgamma) dgamma[ch] += sgx;
        if (dbeta) dbeta[ch] += sg;
        if (!dx) continue;
        for (int64_t i = 0; i < n; i++)
            for (int j = 0; j < hw; j++) {
                int64_t t = (i * c + ch) * hw + j;
                double g = relu && y[t] <= 0 ? 0 : dy[t];
                double xh = (x[t] - mean[ch]) * inv;
                dx[t] +=
                    train ? gamma[ch] * inv * (g - sg / m - xh * sgx / m) : gamma[ch] * inv * g;
            }
    }
}

/* Index of the window maximum of (i, ch, py, px), or -1 if the window is empty. */
static int64_t ref_pool_argmax(const double *x, int64_t i, int c, int ch, int h, int w, int k,
                               int stride, int pad, int py, int px) {
    int64_t best = -1;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = py * stride - pad + ky, ix = px * stride - pad + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            int64_t t = ((i * c + ch) * h + iy) * w + ix;
            if (best < 0 || x[t] > x[best]) best = t;
        }
    return best;
}

void mx_ref_maxpool_fwd(const double *x, int64_t n, int c, int h, int w, int k, int stride, int pad,
                        double *y) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++) {
                    int64_t b = ref_pool_argmax(x, i, c, ch, h, w, k, stride, pad, py, px);
                    y[((i * c + ch) * oh + py) * ow + px] = b < 0 ? 0 : x[b];
                }
}

void mx_ref_maxpool_bwd(const double *x, int64_t n, int c, int h, int w, int k, int stride, int pad,
                        const double *dy, double *dx) {
    int oh = (h + 2 * pad - k) / stride + 1, ow = (w + 2 * pad - k) / stride + 1;
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int py = 0; py < oh; py++)
                for (int px = 0; px < ow; px++) {
                    int64_t b = ref_pool_argmax(x, i, c, ch, h, w, k, stride, pad, py, px);
                    if (b >= 0) dx[b] += dy[((i * c + ch) * oh + py) * ow + px];
                }
}

void mx_ref_add_fwd(const double *a, const double *b, int64_t len, int relu, double *y) {
    for (int64_t i = 0; i < len; i++) {
        double s = a[i] + b[i];
        y[i] = relu && s < 0 ? 0 : s;
    }
}

void mx_ref_add_bwd(const double *y, int64_t len, int relu, const double *dy, double *da,
                    double *db) {
    for (int64_t i = 0; i < len; i++) {
        double g = relu && y[i] <= 0 ? 0 : dy[i];
        if (da) da[i] += g;
        if (db) db[i] += g;
    }
}

static int64_t ref_argmax_hw(const double *x, int hw) {
    int64_t b = 0;
    for (int j = 1; j < hw; j++)
        if (x[j] > x[b]) b = j;
    return b;
}

void mx_ref_gapgmp_fwd(const double *x, int64_t n, int c, int hw, double *p) {
    for (int64_t i = 0; i < n * c; i++) {
        const double *r = x + i * hw;
        double s = 0;
        for (int j = 0; j < hw; j++) s += r[j];
        p[i] = s / hw + r[ref_argmax_hw(r, hw)];
    }
}

void mx_ref_gapgmp_bwd(const double *x, int64_t n, int c, int hw, const double *dp, double *dx) {
    for (int64_t i = 0; i < n * c; i++) {
        for (int j = 0; j < hw; j++) dx[i * hw + j] += dp[i] / hw;
        dx[i * hw + ref_argmax_hw(x + i * hw, hw)] += dp[i];
    }
}

void mx_ref_linear_fwd(const double *x, int64_t n, int in, const double *wt, const double *b,
                       int out, double *y) {
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double s = b ? b[o] : 0;
            for (int j = 0; j < in; j++) s += x[i * in + j] * wt[(int64_t)o * in + j];
            y[i * out + o] = s;
        }
}

void mx_ref_linear_bwd(const double *x, int64_t n, int in, const double *wt, int out,
                       const double *dy, double *dx, double *dw, double *db) {
    for (int64_t i = 0; i < n; i++)
        for (int o = 0; o < out; o++) {
            double g = dy[i * out + o];
            if (db) db[o] += g;
            for (int j = 0; j < in; j++) {
                if (dx) dx[i * in + j] += g * wt[(int64_t)o * in + j];
                if (dw) dw[(int64_t)o * in + j] += g * x[i * in + j];
            }
        }
}

void mx_ref_l2norm_fwd(const double *x, int64_t n, int d, double *y) {
    for (int64_t i = 0; i < n; i++) {
        double s = 1e-12;
        for (int j = 0; j < d; j++) s += x[i * d + j] * x[i * d + j];
        double r = 1.0 / sqrt(s);
        for (int j = 0; j < d; j++) y[i * d + j] = x[i * d + j] * r;
    }
}

/* y = x r, r = (Σx² + eps)^-1/2: dx = r dy - r³ x (x·dy). */
void mx_ref_l2norm_bwd(const double *x, int64_t n, int d, const double *dy, double *dx) {
    for (int64_t i = 0; i < n; i++) {
        double s = 1e-12, xd = 0;
        for (int j = 0; j < d; j++) {
            s += x[i * d + j] * x[i * d + j];
            xd += x[i * d + j] * dy[i * d + j];
        }
        double r = 1.0 / sqrt(s);
        for (int j = 0; j < d; j++)
            dx[i * d + j] += r * dy[i * d + j] - r * r * r * x[i * d + j] * xd;
    }
}

/* mixed value at (pair k, channel ch, position s) */
static double ref_mixed(const double *x, int c, int hw, const mx_mix_pair *pk, int ch, int s) {
    double l = pk->lambda;
    return l * x[(pk->i * c + ch) * hw + s] + (1 - l) * x[(pk->j * c + ch) * hw + s];
}

static int ref_mixed_argmax(const double *x, int c, int hw, const mx_mix_pair *pk, int ch) {
    int am = 0;
    for (int s = 1; s < hw; s++)
        if (ref_mixed(x, c, hw, pk, ch, s) > ref_mixed(x, c, hw, pk, ch, am)) am = s;
    return am;
}

void mx_ref_mixpool_fwd(const double *x, int64_t n, int c, int hw, const mx_mix_pair *pairs,
                        int64_t m, double *p) {
    (void)n;
    for (int64_t k = 0; k < m; k++)
        for (int ch = 0; ch < c; ch++) {
            double sum = 0;
            for (int s = 0; s < hw; s++) sum += ref_mixed(x, c, hw, &pairs[k], ch, s);
            p[k * c + ch] = sum / hw + ref_mixed(x, c, hw, &pairs[k], ch,
                                                 ref_mixed_argmax(x, c, hw, &pairs[k], ch));
        }
}

/* d p[k][ch] / d mixed[s] = 1/hw + [s = argmax]; d mixed / d x_i = lambda, / d x_j = 1 - lambda */
void mx_ref_mixpool_bwd(const double *x, int64_t n, int c, int hw, const mx_mix_pair *pairs,
                        int64_t m, const double *dp, double *dx) {
    (void)n;
    for (int64_t k = 0; k < m; k++) {
        const mx_mix_pair *pk = &pairs[k];
        double l = pk->lambda;
        for (int ch = 0; ch < c; ch++) {
            int am = ref_mixed_argmax(x, c, hw, pk, ch);
            for (int s = 0; s < hw; s++) {
                double g = dp[k * c + ch] * (1.0 / hw + (s == am));
                dx[(pk->i * c + ch) * hw + s] += l * g;
                dx[(pk->j * c + ch) * hw + s] += (1 - l) * g;
            }
        }
    }
}
