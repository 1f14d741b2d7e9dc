#include "mx_test.h"

#include <stddef.h>

int mx_test_failures = 0;
int mx_test_checks = 0;

static double compare(const char *what, const float *gf, const float *wf, const double *gd,
                      const double *wd, size_t n, double atol, double rtol) {
    double worst = 0, worst_excess = 0;
    size_t worst_i = 0, bad = 0;
    for (size_t i = 0; i < n; i++) {
        double g = gf ? gf[i] : gd[i], w = wf ? wf[i] : wd[i];
        double d = fabs(g - w);
        double excess = d - (atol + rtol * fabs(w));
        if (d > worst || isnan(d)) worst = isnan(d) ? INFINITY : d;
        if (!(excess <= 0)) {
            bad++;
            if (!(excess <= worst_excess)) {
                worst_excess = isnan(excess) ? INFINITY : excess;
                worst_i = i;
            }
        }
    }
    mx_test_checks++;
    if (bad) {
        mx_test_failures++;
        double g = gf ? gf[worst_i] : gd[worst_i], w = wf ? wf[worst_i] : wd[worst_i];
        fprintf(stderr, "%s: %zu of %zu elements out of tolerance (atol %g rtol %g); worst [%zu] got %.9g want %.9g\n",
                what, bad, n, atol, rtol, worst_i, g, w);
    }
    return worst;
}

double mx_test_compare(const char *what, const float *got, const float *want, size_t n, double atol,
                       double rtol) {
    return compare(what, got, want, NULL, NULL, n, atol, rtol);
}

double mx_test_compare_d(const char *what, const double *got, const double *want, size_t n,
                         double atol, double rtol) {
    return compare(what, NULL, NULL, got, want, n, atol, rtol);
}

int mx_test_finish(const char *name) {
    printf("%s: %d checks, %d failed\n", name, mx_test_checks, mx_test_failures);
    return mx_test_failures ? 1 : 0;
}
