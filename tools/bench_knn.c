/* metrix bench knn: exact top-k neighbours (inner product, self excluded) of every row of a seeded
 * random N x D matrix of L2-normalised embeddings. Last line: "knn seconds: X". bench/bench_knn.sh
 * runs PyTorch on the same data (--save-data) side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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
    const mx_cli_opt opts[] = {
        MX_CLI_LL("--n", "N", &n, 2, MX_CLI_NOMAX, "rows", NULL),
        MX_CLI_LL("--dim", "D", &d, 1, MX_CLI_NOMAX, "embedding size", NULL),
        MX_CLI_LL("--k", "K", &k, 1, MX_CLI_NOMAX, "neighbours per row, self excluded (< N)", NULL),
        MX_CLI_THREADS(&threads),
        MX_CLI_LL("--seed", "S", &seed, MX_CLI_NOMIN, MX_CLI_NOMAX, "data seed", NULL),
        MX_CLI_STR("--save-data", "PATH", &save_data,
                   "write the N x D float32 matrix (raw, row-major) to PATH", "none"),
        MX_CLI_STR("--save-idx", "PATH", &save_idx,
                   "write the N x K int64 neighbour indices (raw) to PATH", "none"),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {
        .cmd = "bench knn", .usage = "usage: metrix bench knn [options]\n", .opts = opts};
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (k > n - 1) {
        fprintf(stderr, "metrix bench knn: --k '%lld': expected an integer <= --n - 1 = %lld\n", k,
                n - 1);
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
