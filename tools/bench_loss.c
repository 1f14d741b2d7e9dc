/* metrix bench loss: forward + backward of a metric loss on a seeded random batch (n x dim
 * embeddings, n / classes samples per class), clean and with Metrix mixing at embedding level
 * (pair selection, mixing, clean + mixed loss, backward through the mixing). Median of --iters
 * steps. Last lines: "clean seconds: X", "metrix seconds: Y". bench/bench_loss.sh runs PyTorch
 * autograd on the same data and pairs (--save PREFIX) side by side. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return t[n / 2];
}

int mx_bench_loss(int argc, char **argv) {
    long long n = 1000, d = 512, classes = -1, k = 5, iters = 10, seed = 0;
    int threads = 0;
    const char *loss_name = "ms", *mix_name = "posneg", *neg = "hard", *save = NULL;
    const mx_cli_opt opts[] = {
        MX_CLI_LL("--n", "N", &n, 2, MX_CLI_NOMAX, "batch size", NULL),
        MX_CLI_LL("--dim", "D", &d, 1, MX_CLI_NOMAX, "embedding size", NULL),
        MX_CLI_LL("--classes", "C", &classes, 1, MX_CLI_NOMAX, "classes in the batch",
                  "N / 10, at least 2"),
        MX_CLI_STR("--loss", "NAME", &loss_name,
                   "contrastive, contrastive_cos, ms, proxy_anchor, triplet, proxy_nca", NULL),
        MX_CLI_STR("--mix", "STRATEGY", &mix_name,
                   "posneg, anchorneg, both, negneg, pospos, posneg_or_anchorneg", NULL),
        MX_CLI_CHOICE("--neg", "SEL", &neg, "all|hard|random",
                      "all, hard or random negatives per anchor", NULL),
        MX_CLI_LL("--k", "K", &k, 1, MX_CLI_NOMAX, "negatives per anchor for hard / random", NULL),
        MX_CLI_LL("--iters", "I", &iters, 1, MX_CLI_NOMAX, "timed steps, median reported", NULL),
        MX_CLI_THREADS(&threads),
        MX_CLI_LL("--seed", "S", &seed, MX_CLI_NOMIN, MX_CLI_NOMAX, "data seed", NULL),
        MX_CLI_STR("--save", "PREFIX", &save,
                   "write PREFIX.emb.f32, .labels.i64, .pairs.txt for the torch run", "none"),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {
        .cmd = "bench loss", .usage = "usage: metrix bench loss [options]\n", .opts = opts};
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (classes < 0) classes = n / 10 > 1 ? n / 10 : 2;
    mx_loss_kind kind;
    mx_mix_config mc = mx_mix_config_default();
    if (mx_loss_kind_parse(loss_name, &kind) != MX_OK ||
        mx_mix_strategy_parse(mix_name, &mc.strategy) != MX_OK) {
        fprintf(stderr, "metrix bench loss: %s\n", mx_errmsg());
        return 2;
    }
    mc.neg_select = !strcmp(neg, "all")      ? MX_MIX_NEG_ALL
                    : !strcmp(neg, "random") ? MX_MIX_NEG_RANDOM
                                             : MX_MIX_NEG_HARDEST;
    mc.k = k;
    int proxy = kind == MX_LOSS_PROXY_ANCHOR || kind == MX_LOSS_PROXY_NCA;
    mc.anchor_all = proxy;
    threads = mx_threads_set(threads);
    int64_t max_m = n * (mc.neg_select == MX_MIX_NEG_ALL ? n : 2 * k);
    size_t N = (size_t)n, D = (size_t)d, M = (size_t)max_m;
    float *e = mx_alloc(N * D * 4), *ge = mx_alloc(N * D * 4), *en = mx_alloc(N * D * 4);
    float *sim = mx_alloc(N * N * 4), *v = mx_alloc(M * D * 4), *gv = mx_alloc(M * D * 4);
    float *P = mx_alloc((size_t)classes * D * 4), *gp = mx_alloc((size_t)classes * D * 4);
    int64_t *y = malloc(N * 8);
    mx_mix_pair *pr = malloc(M * sizeof *pr);
    double *tc = malloc(sizeof(double) * (size_t)iters),
           *tm = malloc(sizeof(double) * (size_t)iters);
    if (!e || !ge || !en || !sim || !v || !gv || !P || !gp || !y || !pr || !tc || !tm) {
        fprintf(stderr, "metrix bench loss: out of memory\n");
        return 1;
    }
    mx_rng r, mr;
    mx_rng_seed(&r, (uint64_t)seed);
    for (size_t i = 0; i < N * D; i++) e[i] = (float)mx_rng_normal(&r);
    for (size_t i = 0; i < N; i++) y[i] = (int64_t)(i % (size_t)classes);
    mx_loss_proxy_init(P, classes, d, &r);
    mx_rng_seed(&mr, (uint64_t)seed + 1);
    mx_loss_config cfg = mx_loss_config_default(kind);
    mx_loss *l = NULL;
    mx_mixer *mx = NULL;
    mx_status st = mx_loss_create(&cfg, n, max_m, d, proxy ? classes : 0, &l);
    if (st == MX_OK) st = mx_mixer_create(&mc, n, &mx);
    mx_loss_result res = {0, 0, 0, 0, 0}, resm = {0, 0, 0, 0, 0};
    int64_t m = 0;
    for (long long it = 0; st == MX_OK && it <= iters; it++) { /* iteration 0: warm-up */
        double t0 = now_s();
        memset(ge, 0, N * D * 4);
        st = mx_loss_compute(l, n, e, y, proxy ? P : NULL, 0, NULL, NULL, &res, ge, NULL,
                             proxy ? gp : NULL);
        double t1 = now_s();
        /* Metrix step: clean similarities for hard negatives, pairs, mix, loss, backward */
        memset(ge, 0, N * D * 4);
        if (st == MX_OK && mc.neg_select == MX_MIX_NEG_HARDEST) mx_mix_cosine(n, d, e, en, sim);
        if (st == MX_OK) st = mx_mixer_sample(mx, n, y, sim, &mr, max_m, pr, &m);
        if (st == MX_OK) {
            mx_mix_rows_forward(m, d, e, pr, v);
            memset(gv, 0, (size_t)m * D * 4);
            st = mx_loss_compute(l, n, e, y, proxy ? P : NULL, m, v, pr, &resm, ge, gv,
                                 proxy ? gp : NULL);
        }
        if (st == MX_OK) mx_mix_rows_backward(m, d, gv, pr, ge);
        double t2 = now_s();
        if (it > 0) tc[it - 1] = t1 - t0, tm[it - 1] = t2 - t1;
    }
    if (st != MX_OK) {
        fprintf(stderr, "metrix bench loss: %s: %s\n", mx_status_str(st), mx_errmsg());
        return 1;
    }
    if (save) {
        char path[1024];
        snprintf(path, sizeof path, "%s.emb.f32", save);
        FILE *f = fopen(path, "wb");
        int ok = f && fwrite(e, 4, N * D, f) == N * D;
        if (f) ok &= fclose(f) == 0;
        snprintf(path, sizeof path, "%s.labels.i64", save);
        f = fopen(path, "wb");
        ok &= f && fwrite(y, 8, N, f) == N;
        if (f) ok &= fclose(f) == 0;
        snprintf(path, sizeof path, "%s.pairs.txt", save);
        f = fopen(path, "w");
        ok &= f != NULL;
        for (int64_t q = 0; f && q < m; q++)
            fprintf(f, "%lld %lld %.9g %lld\n", (long long)pr[q].i, (long long)pr[q].j,
                    (double)pr[q].lambda, (long long)pr[q].anchor);
        if (f) ok &= fclose(f) == 0;
        if (!ok) {
            fprintf(stderr, "metrix bench loss: cannot write %s.*\n", save);
            return 1;
        }
    }
    printf("loss: %s n=%lld dim=%lld classes=%lld threads=%d gemm=%s mix=%s neg=%s k=%lld "
           "m=%lld\n",
           mx_loss_kind_name(kind), n, d, classes, threads, mx_sgemm_backend(), mix_name, neg, k,
           (long long)m);
    printf("clean loss %.6f; with mixing: total %.6f (clean %.6f, mixed %.6f)\n", res.total,
           resm.total, resm.clean, resm.mixed);
    printf("clean seconds: %.6f\nmetrix seconds: %.6f\n", median(tc, (int)iters),
           median(tm, (int)iters));
    mx_loss_free(l);
    mx_mixer_free(mx);
    mx_free(e), mx_free(ge), mx_free(en), mx_free(sim), mx_free(v), mx_free(gv), mx_free(P);
    mx_free(gp), free(y), free(pr), free(tc), free(tm);
    return 0;
}
