/* eval/k-means: the greedy k-means++ seeding of the small-problem path (scikit-learn's
 * _kmeans_plusplus). Its seeds against a serial reference written from scikit-learn's code on the
 * same random stream, 1 and 2 threads giving the same seeds and clusters, the number of
 * candidates, and the potential against plain k-means++ (one candidate). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"
#include "metrix/core.h"
#include "metrix/eval.h"
#include "mx_test.h"

/* Serial reference: scikit-learn 1.x _kmeans_plusplus with unit sample weights, numpy replaced by
 * loops, the uniform draws taken from mx_rng in the same order. Returns the seeds' row ids. */
static double ref_seed(const float *x, int64_t n, int64_t d, int64_t k, int trials, mx_rng *rng,
                       int64_t *ids) {
    double *closest = malloc((size_t)n * sizeof(double)), *cum = malloc((size_t)n * sizeof(double));
    double *best_d = malloc((size_t)n * sizeof(double)),
           *cand_d = malloc((size_t)n * sizeof(double));
    int64_t *cand = malloc((size_t)trials * sizeof(int64_t));
    ids[0] = (int64_t)mx_rng_below(rng, (uint64_t)n);
    double pot = 0;
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t p = 0; p < d; p++) {
            double t = (double)x[i * d + p] - x[ids[0] * d + p];
            s += t * t;
        }
        closest[i] = s, pot += s;
    }
    for (int64_t c = 1; c < k; c++) {
        double acc = 0;
        for (int64_t i = 0; i < n; i++) cum[i] = acc += closest[i];
        for (int t = 0; t < trials; t++) { /* np.searchsorted(cum, u * pot), clipped */
            double u = mx_rng_uniform(rng) * pot;
            int64_t j = 0;
            while (j < n && cum[j] < u) j++;
            cand[t] = j < n ? j : n - 1;
        }
        double best_pot = INFINITY;
        for (int t = 0; t < trials; t++) {
            double tp = 0;
            for (int64_t i = 0; i < n; i++) {
                double s = 0;
                for (int64_t p = 0; p < d; p++) {
                    double e = (double)x[i * d + p] - x[cand[t] * d + p];
                    s += e * e;
                }
                cand_d[i] = fmin(closest[i], s);
                tp += cand_d[i];
            }
            if (tp < best_pot) { /* np.argmin: the first smallest */
                best_pot = tp, ids[c] = cand[t];
                memcpy(best_d, cand_d, (size_t)n * sizeof(double));
            }
        }
        memcpy(closest, best_d, (size_t)n * sizeof(double));
        pot = best_pot;
    }
    free(closest), free(cum), free(best_d), free(cand_d), free(cand);
    return pot;
}

/* seeds of mx_kmeans_seed_greedy as row ids of x (the seeds are copies of rows) */
static double seed(const float *x, int64_t n, int64_t d, int64_t k, int trials, uint64_t s,
                   int64_t *ids, float *cent) {
    mx_rng r;
    mx_rng_seed(&r, s);
    double *mind = malloc((size_t)n * sizeof(double)), *cum = malloc((size_t)n * sizeof(double));
    double *dc = malloc((size_t)trials * (size_t)n * sizeof(double));
    int64_t *cand = malloc((size_t)trials * sizeof(int64_t));
    double pot = mx_kmeans_seed_greedy(x, n, d, k, trials, &r, cent, mind, cum, dc, cand);
    for (int64_t c = 0; c < k; c++) {
        ids[c] = -1;
        for (int64_t i = 0; i < n && ids[c] < 0; i++)
            if (!memcmp(cent + c * d, x + i * d, (size_t)d * sizeof(float))) ids[c] = i;
    }
    free(mind), free(cum), free(dc), free(cand);
    return pot;
}

int main(void) {
    CHECK(mx_kmeans_default_trials(1) == 2 && mx_kmeans_default_trials(7) == 3);
    CHECK(mx_kmeans_default_trials(8) == 4 && mx_kmeans_default_trials(100) == 6);
    CHECK(mx_kmeans_default_trials(11316) == 11);

    /* 40 blobs of 12 points in d = 16 (distinct rows) */
    enum { nb = 40, per = 12, n = nb * per, d = 16, k = 40 };
    mx_rng r;
    mx_rng_seed(&r, 3);
    float *x = malloc((size_t)n * d * sizeof(float)), *cent = malloc((size_t)k * d * sizeof(float));
    float *mu = malloc((size_t)nb * d * sizeof(float));
    for (int64_t i = 0; i < nb * d; i++) mu[i] = (float)(3 * mx_rng_normal(&r));
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < d; p++)
            x[i * d + p] = mu[(i % nb) * d + p] + (float)(0.5 * mx_rng_normal(&r));

    int64_t ids[k], want[k];
    int trials = mx_kmeans_default_trials(k);
    int th = mx_threads_get();
    double pg = 0, pp = 0;
    for (uint64_t s = 1; s <= 8; s++) {
        /* the serial reference on the same stream: the same seeds, the same potential */
        mx_rng rr;
        mx_rng_seed(&rr, s);
        double pref = ref_seed(x, n, d, k, trials, &rr, want);
        mx_threads_set(2);
        double p2 = seed(x, n, d, k, trials, s, ids, cent);
        int same = 1;
        for (int c = 0; c < k; c++) same &= ids[c] == want[c];
        CHECK(same);
        CHECK_CLOSE(p2, pref, 0, 1e-12);
        mx_threads_set(1);
        int64_t ids1[k];
        double p1 = seed(x, n, d, k, trials, s, ids1, cent);
        for (int c = 0; c < k; c++) same &= ids1[c] == ids[c];
        CHECK(same && p1 == p2);
        pg += p1;
        pp += seed(x, n, d, k, 1, s, ids1, cent); /* plain k-means++ */
    }
    /* greedy seeding lowers the potential (sum of D^2 to the seeds) on average */
    fprintf(stderr, "potential greedy / plain %.3f\n", pg / pp);
    CHECK(pg < 0.9 * pp);

    /* mx_kmeans on the small path: 1 and 2 threads, the same clusters; the stats report the
     * seeding's potential */
    int64_t *a1 = malloc((size_t)n * sizeof(int64_t)), *a2 = malloc((size_t)n * sizeof(int64_t));
    mx_kmeans_stats s1, s2;
    mx_rng r1, r2;
    mx_rng_seed(&r1, 9), mx_rng_seed(&r2, 9);
    mx_threads_set(1);
    CHECK_OK(mx_kmeans_ex(x, n, d, k, 100, &r1, NULL, a1, &s1));
    mx_threads_set(2);
    CHECK_OK(mx_kmeans_ex(x, n, d, k, 100, &r2, NULL, a2, &s2));
    mx_threads_set(th);
    CHECK(s1.large == 0 && s1.seed_potential > 0 && s1.seed_potential == s2.seed_potential);
    int64_t same = 0;
    for (int64_t i = 0; i < n; i++) same += a1[i] == a2[i];
    CHECK(same == n);
    free(x), free(cent), free(mu), free(a1), free(a2);
    return mx_test_finish("test_eval_kmeans_seed");
}
