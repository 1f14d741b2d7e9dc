/* metrix bench knn: exact top-k neighbours (inner product, self excluded) of every row of a seeded
 * random N x D matrix of L2-normalised embeddings. Last line: "knn seconds: X". bench/bench_knn.sh
 * runs PyTorch on the same data (--save-data) side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrix/metrix.h"
#include "cmd.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(FILE *f) {
    fprintf(f, "usage: metrix bench knn [options]\n"
               "  --n N             rows (default 60000)\n"
               "  --dim D           embedding size (default 512)\n"
               "  --k K             neighbours per row, self excluded (default 10)\n"
               "  --threads T       threads (default: all cores)\n"
               "  --seed S          data seed (default 0)\n"
               "  --save-data PATH  write the N x D float32 matrix (raw, row-major) to PATH\n"
               "  --save-idx PATH   write the N x K int64 neighbour indices (raw) to PATH\n");
}

static int write_raw(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "metrix bench knn: cannot write %s\n", path);
        return 0;
    }
    return 1;
}

int mx_bench_knn(int argc, char **argv) {
    long long n = 60000, d = 512, k = 10, seed = 0;
    int threads = 0;
    const char *save_data = NULL, *save_idx = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "metrix bench knn: unknown option or missing value: %s\n", a);
            usage(stderr);
            return 2;
        }
        const char *v = argv[++i];
        char *end = NULL;
        if (!strcmp(a, "--save-data"))
            save_data = v;
        else if (!strcmp(a, "--save-idx"))
            save_idx = v;
        else {
            long long x = strtoll(v, &end, 10);
            if (!end || *end || end == v) {
                fprintf(stderr, "metrix bench knn: %s expects an integer, got '%s'\n", a, v);
                return 2;
            }
            if (!strcmp(a, "--n"))
                n = x;
            else if (!strcmp(a, "--dim"))
                d = x;
            else if (!strcmp(a, "--k"))
                k = x;
            else if (!strcmp(a, "--threads"))
                threads = (int)x;
            else if (!strcmp(a, "--seed"))
                seed = x;
            else {
                fprintf(stderr, "metrix bench knn: unknown option %s\n", a);
                usage(stderr);
                return 2;
            }
        }
    }
    if (n < 2 || d < 1 || k < 1 || k > n - 1) {
        fprintf(stderr, "metrix bench knn: expected n >= 2, dim >= 1, 1 <= k < n\n");
        return 2;
    }
    threads = mx_threads_set(threads);
    float *x = mx_alloc((size_t)n * (size_t)d * sizeof(float));
    int64_t *idx = malloc((size_t)n * (size_t)k * sizeof(int64_t));
    float *sim = malloc((size_t)n * (size_t)k * sizeof(float));
    if (!x || !idx || !sim) {
        fprintf(stderr, "metrix bench knn: out of memory\n");
        return 1;
    }
    mx_rng r;
    mx_rng_seed(&r, (uint64_t)seed);
    for (long long i = 0; i < n * d; i++) x[i] = (float)mx_rng_normal(&r);
    mx_status st = mx_eval_normalize(x, n, d);
    if (st == MX_OK && save_data && !write_raw(save_data, x, (size_t)(n * d) * sizeof(float)))
        return 1;
    printf("knn: n=%lld dim=%lld k=%lld threads=%d gemm=%s (%.2f TFLOP as a full GEMM, half "
           "computed)\n",
           n, d, k, threads, mx_sgemm_backend(), 2.0 * (double)n * (double)n * (double)d * 1e-12);
    double t0 = now_s();
    if (st == MX_OK) st = mx_knn(x, n, x, n, d, k, 1, idx, sim);
    double t1 = now_s();
    if (st != MX_OK) {
        fprintf(stderr, "metrix bench knn: %s: %s\n", mx_status_str(st), mx_errmsg());
        return 1;
    }
    if (save_idx && !write_raw(save_idx, idx, (size_t)(n * k) * sizeof(int64_t))) return 1;
    printf("row 0: top-1 %lld (sim %.4f), top-%lld sim %.4f\n", (long long)idx[0], sim[0], k,
           sim[k - 1]);
    printf("knn seconds: %.3f\n", t1 - t0);
    mx_free(x);
    free(idx);
    free(sim);
    return 0;
}
