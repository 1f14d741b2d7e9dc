/* Greedy k-means++ seeding of mx_kmeans' small-problem path, as scikit-learn's _kmeans_plusplus:
 * per new centre, `trials` candidates drawn with probability ~ D^2 (D: distance to the nearest
 * centre so far), and the one that leaves the smallest potential sum_i min(D_i^2, ||x_i - c||^2)
 * kept. Distances in double; per-point work in parallel, every sum over points in index order, so
 * the seeds do not depend on the thread count. */
#include <math.h>
#include <omp.h>
#include <string.h>

#include "core/core_impl.h"
#include "eval/eval_impl.h"

/* squared distance in double; the order of the sum is fixed by the build, not the threads */
static double sqdist_d(const float *a, const float *b, int64_t d) {
    double s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t p = 0; p < d; p++) {
        double t = (double)a[p] - b[p];
        s += t * t;
    }
    return s;
}

int mx_kmeans_default_trials(int64_t nc) {
    return 2 + (int)log((double)nc); /* scikit-learn: 2 + int(np.log(n_clusters)) */
}

/* the first point i with cum[i] >= u (numpy searchsorted, side left), clipped to n - 1, moved
 * forward to a point of positive weight (u = 0 would land on a centre) */
static int64_t search_cum(const double *cum, const double *mind, int64_t n, double u) {
    int64_t lo = 0, hi = n - 1;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cum[mid] >= u)
            hi = mid;
        else
            lo = mid + 1;
    }
    while (lo < n - 1 && !(mind[lo] > 0)) lo++;
    return lo;
}

double mx_kmeans_seed_greedy(const float *x, int64_t n, int64_t d, int64_t nc, int trials,
                             mx_rng *rng, float *cent, double *mind, double *cum, double *dcand,
                             int64_t *cand) {
    if (trials < 1) trials = 1;
    int64_t first = (int64_t)mx_rng_below(rng, (uint64_t)n);
    memcpy(cent, x + first * d, (size_t)d * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) mind[i] = sqdist_d(x + i * d, cent, d);
    double pot = 0;
    for (int64_t i = 0; i < n; i++) pot += mind[i];
    for (int64_t c = 1; c < nc; c++) {
        int nt = trials;
        if (pot > 0) {
            double acc = 0;
            for (int64_t i = 0; i < n; i++) cum[i] = acc += mind[i];
            for (int t = 0; t < nt; t++)
                cand[t] = search_cum(cum, mind, n, mx_rng_uniform(rng) * pot);
        } else { /* every point on a centre */
            nt = 1;
            cand[0] = (int64_t)mx_rng_below(rng, (uint64_t)n);
        }
        /* dcand[t n + i] = min(D_i^2, ||x_i - x_cand[t]||^2) */
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++)
            for (int t = 0; t < nt; t++) {
                double s = sqdist_d(x + i * d, x + cand[t] * d, d);
                dcand[t * n + i] = s < mind[i] ? s : mind[i];
            }
        int best = 0;
        double best_pot = INFINITY;
        for (int t = 0; t < nt; t++) {
            double s = 0;
            for (int64_t i = 0; i < n; i++) s += dcand[t * n + i];
            if (s < best_pot) best_pot = s, best = t; /* ties: the first, as np.argmin */
        }
        memcpy(mind, dcand + best * n, (size_t)n * sizeof(double));
        memcpy(cent + c * d, x + cand[best] * d, (size_t)d * sizeof(float));
        pot = best_pot;
    }
    return pot;
}
