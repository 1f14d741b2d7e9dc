/* eval: NMI k-means at Stanford Online Products scale (timing report; nothing is asserted about
 * speed). 60,502 L2-normalised embeddings of d = 512 in 11,316 classes of about 5 (SOP's test
 * split), each class a random direction plus noise, clustered with k = 11,316 on 2 threads.
 * Prints the seeding / Lloyd breakdown and checks the clustering recovers the classes well. The
 * machine is shared: numbers are noisy. MX_KMEANS_FULL=0 stops after the first Lloyd iteration;
 * MX_KMEANS_THREADS=N runs on N threads instead of 2 (the printed hash of the assignment must not
 * change). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/eval_impl.h"
#include "metrix/eval.h"
#include "mx_test.h"

#define N_SOP  60502
#define NC_SOP 11316
#define D_SOP  512

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(void) {
    int64_t n = N_SOP, nc = NC_SOP, d = D_SOP;
    float *x = malloc((size_t)(n * d) * sizeof(float));
    float *mu = malloc((size_t)(nc * d) * sizeof(float));
    int64_t *lab = malloc((size_t)n * sizeof(int64_t)), *as = malloc((size_t)n * sizeof(int64_t));
    mx_rng r;
    mx_rng_seed(&r, 42);
    for (int64_t i = 0; i < nc * d; i++) mu[i] = (float)mx_rng_normal(&r);
    CHECK_OK(mx_eval_normalize(mu, nc, d));
    /* every class gets 5 images, the 3,922 left over go to random classes (SOP: 2..12) */
    for (int64_t i = 0; i < n; i++)
        lab[i] = i < 5 * nc ? i / 5 : (int64_t)mx_rng_below(&r, (uint64_t)nc);
    /* noise of norm ~0.9 around the unit class direction: same-class cosine ~0.55, others ~0 */
    float sd = 0.9f / sqrtf((float)d);
    for (int64_t i = 0; i < n; i++)
        for (int64_t p = 0; p < d; p++)
            x[i * d + p] = mu[lab[i] * d + p] + sd * (float)mx_rng_normal(&r);
    CHECK_OK(mx_eval_normalize(x, n, d));
    const char *th = getenv("MX_KMEANS_THREADS");
    int nth = th ? atoi(th) : 2;
    mx_threads_set(nth > 0 ? nth : 2);
    const char *full = getenv("MX_KMEANS_FULL");
    int max_iter = full && !strcmp(full, "0") ? 1 : 100;
    mx_rng_seed(&r, 7);
    double t0 = now();
    mx_kmeans_stats ks;
    CHECK_OK(mx_kmeans_ex(x, n, d, nc, max_iter, &r, NULL, as, &ks));
    double t1 = now();
    double v = 0;
    CHECK_OK(mx_nmi(lab, as, n, &v));
    double t2 = now();
    uint64_t h = 1469598103934665603ull; /* FNV-1a of the assignment */
    for (int64_t i = 0; i < n; i++) h = (h ^ (uint64_t)as[i]) * 1099511628211ull;
    printf("kmeans n=%lld d=%lld k=%lld max_iter=%d threads=%d: %.2f s, NMI %.2f s, NMI = %.5f, "
           "assignment hash %016llx\n",
           (long long)n, (long long)d, (long long)nc, max_iter, mx_threads_get(), t1 - t0, t2 - t1,
           v, (unsigned long long)h);
    printf("  large path %d: seeding %.2f s (%lld batches, %lld proposals), Lloyd %.2f s (%d "
           "passes, %lld point passes = %.2f full passes)\n",
           ks.large, ks.seed_s, (long long)ks.batches, (long long)ks.proposals, ks.lloyd_s,
           ks.iters, (long long)ks.recomputed, (double)ks.recomputed / (double)n);
    CHECK(v > 0.9);
    free(x);
    free(mu);
    free(lab);
    free(as);
    return mx_test_finish("test_eval_kmeans_slow");
}
