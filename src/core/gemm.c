/* mx_sgemm: oneDNN or OpenBLAS behind one row-major interface, plus the naive reference. */
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <oneapi/dnnl/dnnl.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"

static int use_openblas(void) {
    /* Read once per call: cheap next to any GEMM worth calling. */
    const char *e = getenv("MX_GEMM");
    return e && !strcmp(e, "openblas");
}

const char *mx_sgemm_backend(void) {
    return use_openblas() ? "openblas" : "onednn";
}

void mx_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc) {
    if (m <= 0 || n <= 0) return;
    if (use_openblas()) {
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha,
                    a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
        return;
    }
    dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda,
                                  b, ldb, beta, c, ldc);
    MX_ASSERT(st == dnnl_success); /* only fails on invalid arguments: a caller bug */
}

MX_CLONES double mx_dot8(int64_t d, const float *x, const float *y) {
    double acc[8] = {0};
    int64_t j = 0;
    for (; j + 8 <= d; j += 8)
        for (int q = 0; q < 8; q++) acc[q] += (double)x[j + q] * y[j + q];
    for (; j < d; j++) acc[j % 8] += (double)x[j] * y[j];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

void mx_sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            double s = 0;
            for (int64_t p = 0; p < k; p++) {
                double x = trans_a ? a[p * lda + i] : a[i * lda + p];
                double y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                s += x * y;
            }
            float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * s) + prev;
        }
}
