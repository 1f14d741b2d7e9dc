/* Optimizer step throughput: SGD (momentum), Adam, AdamW and clip-by-value over one flat buffer
 * of N parameters (default 25.6M, ResNet-50 size). Built and run by bench/bench_optim.sh next to
 * bench/bench_optim.py (the same steps in PyTorch). Prints "<what> ms: X" (median of R steps).
 *   bench_optim [N] [REPEATS] [THREADS] */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "metrix/optim.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int r) {
    qsort(t, (size_t)r, sizeof *t, cmp_d);
    return t[r / 2];
}

int main(int argc, char **argv) {
    int64_t n = argc > 1 ? atoll(argv[1]) : 25600000;
    int reps = argc > 2 ? atoi(argv[2]) : 15;
    int threads = mx_threads_set(argc > 3 ? atoi(argv[3]) : 2);
    if (n <= 0 || reps <= 0 || reps > 1000) return 2;
    float *p = mx_alloc((size_t)n * sizeof(float)), *g = mx_alloc((size_t)n * sizeof(float));
    if (!p || !g) return 1;
    mx_rng r;
    mx_rng_seed(&r, 1);
    for (int64_t i = 0; i < n; i++) p[i] = mx_rng_uniformf(&r) - 0.5f;
    for (int64_t i = 0; i < n; i++) g[i] = 0.01f * (mx_rng_uniformf(&r) - 0.5f);
    printf("metrix optim: n=%lld threads=%d repeats=%d\n", (long long)n, threads, reps);
    const char *names[3] = {"sgd_momentum", "adam", "adamw"};
    const mx_optim_kind kinds[3] = {MX_OPTIM_SGD, MX_OPTIM_ADAM, MX_OPTIM_ADAMW};
    double t[1000];
    for (int k = 0; k < 3; k++) {
        mx_optim_config cfg = mx_optim_config_default();
        cfg.kind = kinds[k];
        cfg.momentum = 0.9;
        cfg.lr = 1e-6;
        mx_optim *o = NULL;
        if (mx_optim_create(&cfg, &o) != MX_OK || mx_optim_add_buffer(o, p, g, n, NULL) != MX_OK ||
            mx_optim_add_group(o, 0, 0, n, 1.0, 1e-4, "all", NULL) != MX_OK) {
            fprintf(stderr, "bench_optim: %s\n", mx_errmsg());
            return 1;
        }
        mx_optim_step(o); /* warm-up: first touch of the moments */
        for (int i = 0; i < reps; i++) {
            double t0 = now_s();
            mx_optim_step(o);
            t[i] = now_s() - t0;
        }
        printf("%s ms: %.2f\n", names[k], 1e3 * median(t, reps));
        mx_optim_free(o);
    }
    for (int i = 0; i < reps; i++) {
        double t0 = now_s();
        mx_clip_grad_value(g, n, 10.0f);
        t[i] = now_s() - t0;
    }
    printf("clip_value ms: %.2f\n", 1e3 * median(t, reps));
    mx_free(p);
    mx_free(g);
    return 0;
}
