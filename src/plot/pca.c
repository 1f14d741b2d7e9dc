/* metrix plot: PCA of embeddings to 2-D (covariance by mx_sgemm, top-2 axes by subspace
 * iteration with Rayleigh-Ritz), and a dense Jacobi reference for tests. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"
#include "metrix/plot.h"
#include "plot/plot_impl.h"

/* Subspace size: the top-2 axes converge at rate lambda_9 / lambda_2. */
#define PCA_BLOCK 8
/* Iteration limit of the block power method. */
#define PCA_MAX_ITER 300
/* Stop when ||C v - theta v|| <= tol * theta_0 for both axes (the covariance is only float
 * accurate), or when theta_0, theta_1 stop changing (nearly equal eigenvalues: any basis of their
 * plane is as good, and the residual would converge very slowly). */
#define PCA_TOL 1e-7
/* Covariance columns per GEMM call when d is large (a stop request is seen between calls). */
#define PCA_COV_COLS 64

/* Cyclic Jacobi eigen-decomposition of the symmetric m x m matrix a (destroyed). On return
 * w[j] are the eigenvalues sorted in decreasing order and column j of v (m x m, row-major) the
 * matching unit eigenvector. */
static void jacobi_eig(double *a, int64_t m, double *v, double *w) {
    for (int64_t i = 0; i < m * m; i++) v[i] = 0.0;
    for (int64_t i = 0; i < m; i++) v[i * m + i] = 1.0;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0.0, diag = 0.0;
        for (int64_t p = 0; p < m; p++) {
            diag += a[p * m + p] * a[p * m + p];
            for (int64_t q = p + 1; q < m; q++) off += a[p * m + q] * a[p * m + q];
        }
        if (off <= 1e-30 * (diag + 1e-300)) break;
        for (int64_t p = 0; p < m; p++) {
            for (int64_t q = p + 1; q < m; q++) {
                double apq = a[p * m + q];
                if (apq == 0.0) continue;
                double theta = (a[q * m + q] - a[p * m + p]) / (2.0 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int64_t k = 0; k < m; k++) { /* A <- A J (columns p, q) */
                    double akp = a[k * m + p], akq = a[k * m + q];
                    a[k * m + p] = c * akp - s * akq;
                    a[k * m + q] = s * akp + c * akq;
                }
                for (int64_t k = 0; k < m; k++) { /* A <- J^T A (rows p, q) */
                    double apk = a[p * m + k], aqk = a[q * m + k];
                    a[p * m + k] = c * apk - s * aqk;
                    a[q * m + k] = s * apk + c * aqk;
                }
                for (int64_t k = 0; k < m; k++) { /* V <- V J */
                    double vkp = v[k * m + p], vkq = v[k * m + q];
                    v[k * m + p] = c * vkp - s * vkq;
                    v[k * m + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    for (int64_t i = 0; i < m; i++) w[i] = a[i * m + i];
    /* selection sort of (w, columns of v) by decreasing eigenvalue */
    for (int64_t i = 0; i < m; i++) {
        int64_t best = i;
        for (int64_t j = i + 1; j < m; j++)
            if (w[j] > w[best]) best = j;
        if (best == i) continue;
        double tw = w[i];
        w[i] = w[best];
        w[best] = tw;
        for (int64_t k = 0; k < m; k++) {
            double tv = v[k * m + i];
            v[k * m + i] = v[k * m + best];
            v[k * m + best] = tv;
        }
    }
}

/* Modified Gram-Schmidt (twice) on the k columns of the d x k matrix x. A column that vanishes is
 * replaced by a unit vector orthogonal to the previous ones. */
static void orthonormalize(double *x, int64_t d, int k) {
    for (int j = 0; j < k; j++) {
        for (int pass = 0; pass < 2; pass++) {
            for (int i = 0; i < j; i++) {
                double dot = 0.0;
                for (int64_t r = 0; r < d; r++) dot += x[r * k + i] * x[r * k + j];
                for (int64_t r = 0; r < d; r++) x[r * k + j] -= dot * x[r * k + i];
            }
        }
        double nrm = 0.0;
        for (int64_t r = 0; r < d; r++) nrm += x[r * k + j] * x[r * k + j];
        nrm = sqrt(nrm);
        if (nrm < 1e-300) { /* degenerate: restart this column from e_j and retry once */
            for (int64_t r = 0; r < d; r++) x[r * k + j] = r == j ? 1.0 : 0.0;
            for (int i = 0; i < j; i++) {
                double dot = x[j * k + i];
                for (int64_t r = 0; r < d; r++) x[r * k + j] -= dot * x[r * k + i];
            }
            nrm = 0.0;
            for (int64_t r = 0; r < d; r++) nrm += x[r * k + j] * x[r * k + j];
            nrm = sqrt(nrm);
        }
        for (int64_t r = 0; r < d; r++) x[r * k + j] /= nrm;
    }
}

/* Fixes the sign of unit vector u (stride s, length d): largest |component| positive. */
static void fix_sign(double *u, int64_t d, int64_t s) {
    int64_t best = 0;
    for (int64_t r = 1; r < d; r++)
        if (fabs(u[r * s]) > fabs(u[best * s])) best = r;
    if (u[best * s] < 0)
        for (int64_t r = 0; r < d; r++) u[r * s] = -u[r * s];
}

static mx_status check_args(const char *fn, const float *emb, int64_t n, int64_t d,
                            const float *out_xy) {
    if (!emb || !out_xy) return mx_error(MX_ERR_ARG, "%s: NULL argument", fn);
    if (n < 2 || d < 2)
        return mx_error(MX_ERR_SHAPE, "%s: n = %lld, d = %lld: expected n >= 2 and d >= 2", fn,
                        (long long)n, (long long)d);
    for (int64_t i = 0; i < n * d; i++)
        if (!isfinite(emb[i]))
            return mx_error(MX_ERR_NUMERIC, "%s: embedding row %lld column %lld is not finite", fn,
                            (long long)(i / d), (long long)(i % d));
    return MX_OK;
}

/* Column means of emb (n x d) in double. */
static void column_means(const float *emb, int64_t n, int64_t d, double *mean) {
    for (int64_t j = 0; j < d; j++) mean[j] = 0.0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) mean[j] += emb[i * d + j];
    for (int64_t j = 0; j < d; j++) mean[j] /= (double)n;
}

/* out_xy[i] = (emb_i - mean) . axes[:, 0..1] (axes d x stride, columns 0 and 1). */
static void project(const float *emb, int64_t n, int64_t d, const double *mean, const double *axes,
                    int64_t stride, float *out_xy) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s0 = 0.0, s1 = 0.0;
        for (int64_t j = 0; j < d; j++) {
            double x = emb[i * d + j] - mean[j];
            s0 += x * axes[j * stride + 0];
            s1 += x * axes[j * stride + 1];
        }
        out_xy[2 * i + 0] = (float)s0;
        out_xy[2 * i + 1] = (float)s1;
    }
}

mx_status mx_pca_2d(const float *emb, int64_t n, int64_t d, float *out_xy, double explained[2]) {
    return mx_pca_2d_stop(emb, n, d, out_xy, explained, NULL);
}

mx_status mx_pca_2d_stop(const float *emb, int64_t n, int64_t d, float *out_xy, double explained[2],
                         volatile const int *stop) {
    MX_TRY(check_args("mx_pca_2d", emb, n, d, out_xy));
    const int k = (int)MX_MIN(d, PCA_BLOCK);
    double *mean = malloc((size_t)d * sizeof *mean);
    float *xc = mx_alloc((size_t)(n * d) * sizeof(float)); /* centred rows, n x d */
    float *cf = mx_alloc((size_t)(d * d) * sizeof(float)); /* covariance, d x d */
    double *c = malloc((size_t)(d * d) * sizeof *c);
    double *v = malloc((size_t)(d * k) * sizeof *v), *z = malloc((size_t)(d * k) * sizeof *z);
    double *vr = malloc((size_t)(d * k) * sizeof *vr), *zr = malloc((size_t)(d * k) * sizeof *zr);
    mx_status st = MX_OK;
    if (!mean || !xc || !cf || !c || !v || !z || !vr || !zr) {
        st = mx_error(MX_ERR_NOMEM, "mx_pca_2d: out of memory for n = %lld, d = %lld", (long long)n,
                      (long long)d);
        goto done;
    }
    column_means(emb, n, d, mean);
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < d; j++) xc[i * d + j] = (float)(emb[i * d + j] - mean[j]);
    /* C (d x d) = Xc^T Xc / (n - 1), PCA_COV_COLS columns C[:, j0 .. j0+w) per call */
    for (int64_t j0 = 0; j0 < d && !mx_stopped(stop); j0 += PCA_COV_COLS) {
        int64_t w = MX_MIN(PCA_COV_COLS, d - j0);
        mx_sgemm(1, 0, d, w, n, 1.0f / (float)(n - 1), xc, d, xc + j0, d, 0.0f, cf + j0, d);
    }
    double trace = 0.0;
    for (int64_t i = 0; i < d && !mx_stopped(stop); i++) /* (strided: seconds at d = 8192) */
        for (int64_t j = 0; j < d; j++)                  /* symmetrise the float result */
            c[i * d + j] = 0.5 * ((double)cf[i * d + j] + (double)cf[j * d + i]);
    for (int64_t i = 0; i < d; i++) trace += c[i * d + i];

    mx_rng rng; /* fixed seed: the start block, so the result is deterministic */
    mx_rng_seed(&rng, 0x9ca2d);
    for (int64_t i = 0; i < d * k; i++) v[i] = mx_rng_normal(&rng);
    orthonormalize(v, d, k);
    double h[PCA_BLOCK * PCA_BLOCK], q[PCA_BLOCK * PCA_BLOCK], theta[PCA_BLOCK];
    double prev[2] = {-1.0, -1.0};
    for (int it = 0; it < PCA_MAX_ITER && !mx_stopped(stop); it++) {
        /* Z = C V (d x k), H = V^T Z (k x k) */
#pragma omp parallel for schedule(static)
        for (int64_t r = 0; r < d; r++) {
            if (mx_stopped(stop)) continue; /* z is discarded below */
            double acc[PCA_BLOCK] = {0};
            for (int64_t t = 0; t < d; t++) {
                double crt = c[r * d + t];
                for (int j = 0; j < k; j++) acc[j] += crt * v[t * k + j];
            }
            for (int j = 0; j < k; j++) z[r * k + j] = acc[j];
        }
        for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++) {
                double s = 0.0;
                for (int64_t r = 0; r < d; r++) s += v[r * k + a] * z[r * k + b];
                h[a * k + b] = s;
            }
        for (int a = 0; a < k; a++) /* exact symmetry for Jacobi */
            for (int b = a + 1; b < k; b++)
                h[a * k + b] = h[b * k + a] = 0.5 * (h[a * k + b] + h[b * k + a]);
        jacobi_eig(h, k, q, theta);
        /* Ritz vectors Vr = V Q and C Vr = Z Q */
        for (int64_t r = 0; r < d; r++)
            for (int j = 0; j < k; j++) {
                double sv = 0.0, sz = 0.0;
                for (int t = 0; t < k; t++) {
                    sv += v[r * k + t] * q[t * k + j];
                    sz += z[r * k + t] * q[t * k + j];
                }
                vr[r * k + j] = sv;
                zr[r * k + j] = sz;
            }
        double res = 0.0;
        for (int j = 0; j < 2; j++) {
            double s = 0.0;
            for (int64_t r = 0; r < d; r++) {
                double e = zr[r * k + j] - theta[j] * vr[r * k + j];
                s += e * e;
            }
            res = MX_MAX(res, sqrt(s));
        }
        double change = fabs(theta[0] - prev[0]) + fabs(theta[1] - prev[1]);
        if (res <= PCA_TOL * MX_MAX(theta[0], 1e-300) || theta[0] <= 0.0 ||
            change <= 1e-9 * theta[0])
            break;
        prev[0] = theta[0];
        prev[1] = theta[1];
        memcpy(v, zr, (size_t)(d * k) * sizeof *v);
        orthonormalize(v, d, k);
    }
    if (mx_stopped(stop)) {
        st = mx_error(MX_ERR_INTERRUPTED, "PCA interrupted");
        goto done;
    }
    fix_sign(vr, d, k);
    fix_sign(vr + 1, d, k);
    project(emb, n, d, mean, vr, k, out_xy);
    if (explained) {
        explained[0] = trace > 0 ? MX_MAX(theta[0], 0.0) / trace : 0.0;
        explained[1] = trace > 0 ? MX_MAX(theta[1], 0.0) / trace : 0.0;
    }
done:
    free(mean);
    mx_free(xc);
    mx_free(cf);
    free(c);
    free(v);
    free(z);
    free(vr);
    free(zr);
    return st;
}

mx_status mx_pca_2d_ref(const float *emb, int64_t n, int64_t d, float *out_xy,
                        double explained[2]) {
    MX_TRY(check_args("mx_pca_2d_ref", emb, n, d, out_xy));
    double *mean = malloc((size_t)d * sizeof *mean);
    double *c = calloc((size_t)(d * d), sizeof *c);
    double *v = malloc((size_t)(d * d) * sizeof *v), *w = malloc((size_t)d * sizeof *w);
    if (!mean || !c || !v || !w) {
        free(mean);
        free(c);
        free(v);
        free(w);
        return mx_error(MX_ERR_NOMEM, "mx_pca_2d_ref: out of memory");
    }
    column_means(emb, n, d, mean);
    for (int64_t i = 0; i < n; i++)
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++)
                c[a * d + b] += (emb[i * d + a] - mean[a]) * (emb[i * d + b] - mean[b]);
    double trace = 0.0;
    for (int64_t a = 0; a < d * d; a++) c[a] /= (double)(n - 1);
    for (int64_t a = 0; a < d; a++) trace += c[a * d + a];
    jacobi_eig(c, d, v, w);
    fix_sign(v, d, d);
    fix_sign(v + 1, d, d);
    project(emb, n, d, mean, v, d, out_xy);
    if (explained) {
        explained[0] = trace > 0 ? w[0] / trace : 0.0;
        explained[1] = trace > 0 ? w[1] / trace : 0.0;
    }
    free(mean);
    free(c);
    free(v);
    free(w);
    return MX_OK;
}
