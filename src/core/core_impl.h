/* Private helpers shared by every module (not installed). */
#ifndef MX_CORE_IMPL_H
#define MX_CORE_IMPL_H

#include <stdio.h>
#include <stdlib.h>

#include "metrix/core.h"

/* Programmer errors only (broken invariants, API misuse documented as undefined): always on,
 * prints the condition and aborts so that debuggers and sanitizers stop here. Never use it to
 * validate user data: return mx_error() instead. */
#define MX_ASSERT(cond)                                                                            \
    do {                                                                                           \
        if (!(cond)) mx__assert_fail(#cond, __FILE__, __LINE__);                                   \
    } while (0)

_Noreturn void mx__assert_fail(const char *cond, const char *file, int line);

/* Evaluates a call returning mx_status and returns its status from the enclosing function on
 * failure. */
#define MX_TRY(call)                                                                               \
    do {                                                                                           \
        mx_status mx__s = (call);                                                                  \
        if (mx__s != MX_OK) return mx__s;                                                          \
    } while (0)

/* Cancellation: long loops take an optional `volatile const int *stop` (a flag the caller's
 * signal handler sets; NULL: never stop), test it once per tile / iteration and return
 * MX_ERR_INTERRUPTED. Inside an OpenMP loop the remaining iterations skip their work. */
static inline int mx_stopped(volatile const int *stop) {
    return stop && *stop;
}

#define MX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MX_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Function multiversioning for hot loops: AVX-512 and AVX2 clones picked at load time (the
 * default build targets baseline x86-64, SSE2). The clones do the same IEEE operations (no
 * contraction in ISO C mode): identical results on every machine. */
#if defined(__GNUC__) && defined(__x86_64__) && !defined(__SANITIZE_ADDRESS__)
#define MX_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define MX_CLONES
#endif

/* x . y (length d) in double over 8 interleaved partial sums (one AVX-512 vector), combined
 * pairwise in a fixed order: the same result on every clone and thread count (core/gemm.c). */
double mx_dot8(int64_t d, const float *x, const float *y);

#endif
