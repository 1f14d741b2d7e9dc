/* A minimal test harness: checks count failures, the test's main returns mx_test_finish(). */
#ifndef MX_TEST_H
#define MX_TEST_H

#include <math.h>
#include <stdio.h>

extern int mx_test_failures;
extern int mx_test_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        mx_test_checks++;                                                                          \
        if (!(cond)) {                                                                             \
            mx_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

/* |a - b| <= atol + rtol * |b|, and neither is NaN. */
#define CHECK_CLOSE(a, b, atol, rtol)                                                              \
    do {                                                                                           \
        double mx__a = (double)(a), mx__b = (double)(b);                                           \
        mx_test_checks++;                                                                          \
        if (!(fabs(mx__a - mx__b) <= (atol) + (rtol)*fabs(mx__b))) {                               \
            mx_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: CHECK_CLOSE failed: %s = %.9g, %s = %.9g (diff %.3g)\n",       \
                    __FILE__, __LINE__, #a, mx__a, #b, mx__b, fabs(mx__a - mx__b));                \
        }                                                                                          \
    } while (0)

/* Checks a call returns MX_OK; prints mx_errmsg() otherwise. */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        mx_status mx__s = (call);                                                                  \
        mx_test_checks++;                                                                          \
        if (mx__s != MX_OK) {                                                                      \
            mx_test_failures++;                                                                    \
            fprintf(stderr, "%s:%d: %s returned %s: %s\n", __FILE__, __LINE__, #call,              \
                    mx_status_str(mx__s), mx_errmsg());                                            \
        }                                                                                          \
    } while (0)

/* Compares two float arrays elementwise; reports the worst element. Returns max abs diff. */
double mx_test_compare(const char *what, const float *got, const float *want, size_t n, double atol,
                       double rtol);
/* Same for double arrays. */
double mx_test_compare_d(const char *what, const double *got, const double *want, size_t n,
                         double atol, double rtol);

/* Prints "N passed, N failed" and returns the process exit code. */
int mx_test_finish(const char *name);

#endif
