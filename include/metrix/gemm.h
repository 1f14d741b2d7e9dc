/* Row-major single-precision GEMM used by every module (losses, evaluation, linear layers):
 *   C (m x n) = alpha * op(A) (m x k) * op(B) (k x n) + beta * C
 * op(X) is X or X^T (trans_x != 0). lda/ldb/ldc are row strides of the stored matrices.
 * The default backend is oneDNN's sgemm, which picks its kernels from the CPU itself (OpenBLAS
 * honours OPENBLAS_CORETYPE, preset to Haswell/AVX2 on some machines); MX_GEMM=openblas in the
 * environment selects OpenBLAS instead. mx_sgemm_ref is the naive reference for tests. */
#ifndef METRIX_GEMM_H
#define METRIX_GEMM_H

#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

void mx_sgemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
              int64_t ldc);

/* Naive triple loop with double accumulation: the test oracle. */
void mx_sgemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                  int64_t ldc);

/* Name of the backend mx_sgemm uses ("onednn" or "openblas"). */
const char *mx_sgemm_backend(void);

#ifdef __cplusplus
}
#endif
#endif
