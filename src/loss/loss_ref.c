/* metrix loss: the double-precision reference (naive matrix products), used by the tests as the
 * oracle for the float GEMM path and for finite-difference gradient checks. */
#include <math.h>
#include <string.h>

#include <omp.h>

#include "core/core_impl.h"
#include "loss/loss_impl.h"
#include "metrix/loss.h"

/* C (M x N) += op(A) op(B), row-major, double */
static void ref_matmul(int ta, int tb, int64_t M, int64_t N, int64_t K, const double *A,
                       int64_t lda, const double *B, int64_t ldb, double *Cm, int64_t ldc) {
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            double s = 0;
            for (int64_t k = 0; k < K; k++)
                s +=
                    (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
            Cm[i * ldc + j] += s;
        }
}

#define R         double
#define ENG(name) mxd_##name
#define MATMUL(ta, tb, M, N, K, A, lda, B, ldb, Cm, ldc)                                           \
    ref_matmul(ta, tb, M, N, K, A, lda, B, ldb, Cm, ldc)
#include "loss/loss_engine.inc"
#undef R
#undef ENG
#undef MATMUL

mx_status mx_loss_compute_ref(const mx_loss_config *cfg, int64_t n, int64_t d, const double *emb,
                              const int64_t *labels, int64_t C, const double *proxies, int64_t m,
                              const double *mixed, const mx_mix_pair *pairs, mx_loss_result *res,
                              double *d_emb, double *d_mixed, double *d_proxies) {
    MX_TRY(mx_loss_config_check(cfg));
    memset(res, 0, sizeof *res);
    int proxy = mx_loss_is_proxy(cfg->kind);
    if (n < 1 || d < 1 || m < 0 || (proxy && C < 1))
        return mx_error(MX_ERR_ARG, "mx_loss_compute_ref: bad sizes");
    mx_loss_ws w;
    memset(&w, 0, sizeof w);
    w.cfg = *cfg, w.C = C, w.d = d;
    MX_TRY(mx_loss_ws_alloc(&w, n, m, C));
    mx_status st = mx_loss_ws_prepare(&w, n, labels, m, pairs);
    size_t N = (size_t)n, M = (size_t)m, CC = (size_t)C, D = (size_t)d;
    size_t ssz = proxy ? N * CC : N * N, smsz = proxy ? M * CC : M + N * N;
    double *En = mx_calloc(N * D + 1, 8), *Vn = mx_calloc(M * D + 1, 8),
           *Pn = mx_calloc(CC * D + 1, 8);
    double *nE = mx_calloc(N + 1, 8), *nV = mx_calloc(M + 1, 8), *nP = mx_calloc(CC + 1, 8);
    double *dEn = mx_calloc(N * D + 1, 8), *dVn = mx_calloc(M * D + 1, 8);
    double *dPn = mx_calloc(CC * D + 1, 8);
    double *S = mx_calloc(ssz + 1, 8), *G = mx_calloc(ssz + 1, 8);
    double *Sm = mx_calloc(smsz + 1, 8), *Gm = mx_calloc(smsz + 1, 8);
    double *Va = mx_calloc(N * D + 1, 8), *dVa = mx_calloc(N * D + 1, 8);
    if (st == MX_OK && (!En || !Vn || !Pn || !nE || !nV || !nP || !dEn || !dVn || !dPn || !S ||
                        !G || !Sm || !Gm || !Va || !dVa))
        st = mx_error(MX_ERR_NOMEM, "mx_loss_compute_ref: out of memory");
    if (st == MX_OK) {
        mxd_normalize(n, d, emb, En, nE);
        if (m > 0) mxd_normalize(m, d, mixed, Vn, nV);
        if (proxy) mxd_normalize(C, d, proxies, Pn, nP);
        mxd_similarities(&w, En, Vn, Pn, S, Sm, Va);
        mxd_run(&w, S, G, Sm, Gm, res);
        mxd_similarities_backward(&w, En, Vn, Pn, Va, G, Gm, dEn, dVn, dPn, dVa);
        if (d_emb) mxd_normalize_backward(n, d, En, nE, dEn, d_emb);
        if (d_mixed && m > 0) mxd_normalize_backward(m, d, Vn, nV, dVn, d_mixed);
        if (d_proxies && proxy) mxd_normalize_backward(C, d, Pn, nP, dPn, d_proxies);
    }
    double *p[] = {En, Vn, Pn, nE, nV, nP, dEn, dVn, dPn, S, G, Sm, Gm, Va, dVa};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++) mx_free(p[i]);
    mx_loss_ws_free(&w);
    return st;
}
