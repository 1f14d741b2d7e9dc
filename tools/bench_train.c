/* metrix bench train: full training steps of a backbone on random inputs: zero grad, forward,
 * a metric loss on the L2-normalised embeddings, backward, an Adam update of every parameter.
 * Training-mode BN (--bn frozen: BN in eval mode with trainable affine parameters, the Metrix
 * protocol after warm-up). --precision bf16: bf16 mixed precision (mx_precision). Prints the
 * configuration, the peak RSS and a last line "train images/s: X" (--losses: also the loss of every
 * step, "step I loss L", for comparing precisions from the same initial weights, seed 1).
 * bench/bench_train.sh runs the same workload in PyTorch side by side.
 *
 * The loss is a self-contained pair loss (4 examples per class): L = mean over pairs i != j of
 * s_ij * (same class ? -1 : +1) with s = E E^T, so dL/dE = (W + W^T) E / (n (n - 1)).
 *
 * Under mpirun (N ranks) --batch is the global batch: each rank runs its B / N rows, the
 * embeddings are all-gathered, every rank computes dL/dE of the whole batch and back-propagates
 * its rows, and the gradients are summed by all-reduce before the update, as `metrix train` does
 * (src/train/trainer_dist.c). Rank 0 prints, adding the communication time per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* --input CxHxW into int[3] */
static int parse_shape(const char *cmd, const char *name, const char *v, void *dst) {
    int *chw = dst, c = 0, h = 0, w = 0, n = 0;
    if (sscanf(v, "%dx%dx%d%n", &c, &h, &w, &n) != 3 || v[n] || c < 1 || h < 1 || w < 1)
        return mx_cli_expected(cmd, name, v, "CxHxW, three positive integers (e.g. 3x224x224)");
    chw[0] = c, chw[1] = h, chw[2] = w;
    return 1;
}

int mx_bench_train(int argc, char **argv) {
    const char *bbname = "smallcnn", *algo = "winograd", *bn = "train", *prec = "fp32";
    long long batch = 256, steps = 20, warmup = 3;
    int threads = 0, dim = 0, chw[3] = {1, 28, 28}, losses = 0;
    const mx_cli_opt opts[] = {
        MX_CLI_CHOICE("--backbone", "NAME", &bbname, "smallcnn|resnet18|resnet50",
                      "smallcnn | resnet18 | resnet50", NULL),
        MX_CLI_LL("--batch", "B", &batch, 2, MX_CLI_NOMAX, "batch size", NULL),
        MX_CLI_FN("--input", "CxHxW", chw, parse_shape, "input shape", "1x28x28"),
        MX_CLI_I("--dim", "D", &dim, 0, MX_CLI_NOMAX, "embedding size",
                 "0 = 128 for smallcnn, 512 for the resnets"),
        MX_CLI_LL("--steps", "S", &steps, 1, MX_CLI_NOMAX, "timed steps", NULL),
        MX_CLI_LL("--warmup", "W", &warmup, 0, MX_CLI_NOMAX, "untimed steps first", NULL),
        MX_CLI_CHOICE("--conv-algo", "A", &algo, "winograd|direct",
                      "convolution algorithm: winograd (where it applies) | direct", NULL),
        MX_CLI_CHOICE("--bn", "MODE", &bn, "train|frozen",
                      "batch norm: train (batch statistics) | frozen (running statistics)", NULL),
        MX_CLI_CHOICE("--precision", "P", &prec, "fp32|bf16",
                      "activations: fp32 | bf16 (mixed precision, AVX512-BF16 CPUs)", NULL),
        MX_CLI_FLAGV("--losses", &losses, 1, "print the loss of every step (warm-up included)"),
        MX_CLI_THREADS(&threads),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {
        .cmd = "bench train", .usage = "usage: metrix bench train [options]\n", .opts = opts};
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    mx_comm *comm = mx_cli_comm_open("bench train");
    if (!comm) return 1;
    const int rank = mx_comm_rank(comm), nr = mx_comm_size(comm);
    if (batch % nr) {
        if (rank == 0)
            fprintf(stderr, "metrix bench train: --batch %lld does not divide into %d ranks\n",
                    batch, nr);
        mx_comm_free(comm);
        return 2;
    }
    const int64_t lo = batch / nr * rank, bl = batch / nr; /* this rank's rows */
    int c = chw[0], h = chw[1], w = chw[2];
    mx_backbone bb;
    mx_conv_algo ca;
    mx_precision pr;
    if (!mx_backbone_from_name(bbname, &bb) || !mx_conv_algo_from_name(algo, &ca) ||
        !mx_precision_from_name(prec, &pr))
        return 2; /* not one of the choices */
    int nt = mx_threads_set(threads);
    mx_model_config cfg = mx_model_config_default(bb);
    cfg.in_channels = c;
    cfg.embed_dim = dim;
    cfg.conv_algo = ca;
    mx_rng rng;
    mx_rng_seed(&rng, 1);
    mx_model *m = NULL;
    mx_optim *opt = NULL;
    mx_status s = mx_model_create(&cfg, &rng, &m);
    mx_plan_config pc = mx_plan_config_default(1, bl, h, w);
    pc.precision = pr;
    if (s == MX_OK) s = mx_model_plan_ex(m, &pc);
    mx_optim_config oc = mx_optim_config_default();
    if (s == MX_OK) s = mx_optim_create(&oc, &opt);
    if (s == MX_OK)
        s = mx_optim_add_buffer(opt, mx_model_params(m), mx_model_grads(m), mx_model_n_params(m),
                                NULL);
    if (s == MX_OK)
        s = mx_optim_add_group(opt, 0, 0, mx_model_n_params(m), 1.0, 1e-4, "model", NULL);
    if (s != MX_OK) {
        fprintf(stderr, "metrix bench train: %s\n", mx_errmsg());
        mx_optim_free(opt);
        mx_model_free(m);
        mx_comm_free(comm);
        return 1;
    }
    mx_model_set_train(m, strcmp(bn, "frozen") != 0);
    int d = mx_model_embed_dim(m);
    int64_t n = batch, xl = n * c * h * w;
    float *x = malloc((size_t)xl * sizeof(float)), *E = malloc((size_t)(n * d) * sizeof(float));
    float *dE = malloc((size_t)(n * d) * sizeof(float)),
          *W = malloc((size_t)(n * n) * sizeof(float));
    if (!x || !E || !dE || !W) {
        fprintf(stderr, "metrix bench train: out of memory\n");
        return 1;
    }
    for (int64_t i = 0; i < xl; i++) x[i] = (float)mx_rng_normal(&rng);
    float scale = 1.0f / (float)(n * (n - 1));
    for (int64_t i = 0; i < n; i++) /* W + W^T, W_ij = +-1 / (n (n-1)), zero diagonal */
        for (int64_t j = 0; j < n; j++)
            W[i * n + j] = i == j ? 0.0f : (i / 4 == j / 4 ? -2.0f : 2.0f) * scale;
    const char *ct = getenv("OPENBLAS_CORETYPE");
    int64_t counts[256];
    for (int r = 0; r < nr && r < 256; r++) counts[r] = bl * d;
    if (nr > 256) s = mx_error(MX_ERR_ARG, "more than 256 ranks");
    if (rank == 0) {
        printf("metrix bench train: backbone %s, batch %lld, input %dx%dx%d, d %d, threads %d, "
               "%lld params, conv %s (Winograd in %d convolutions), BN %s, precision %s\n",
               bbname, batch, c, h, w, d, nt, (long long)mx_model_n_params(m), algo,
               mx_model_conv_winograd_count(m), bn, prec);
        printf("gemm backend %s, OPENBLAS_CORETYPE=%s\n", mx_sgemm_backend(), ct ? ct : "(unset)");
        if (nr > 1)
            printf("data parallel: %d ranks (%s) x %lld rows, %d threads per rank\n", nr,
                   mx_comm_kind(comm), (long long)bl, nt);
    }
    double t0 = 0, loss = 0, wait = 0; /* wait: in the barrier before the all-reduce */
    for (long long it = 0; it < warmup + steps && s == MX_OK; it++) {
        if (it == warmup) {
            t0 = now_s();
            mx_comm_stats_reset(comm);
        }
        mx_model_zero_grad(m);
        s = mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x + lo * c * h * w, bl,
                             E + lo * d);
        s = mx_comm_agree(comm, s);
        if (s == MX_OK) s = mx_comm_allgatherv_f32(comm, E, counts);
        if (s != MX_OK) break;
        /* S = E E^T is only needed for the loss value; dE = (W + W^T) E */
        mx_sgemm(0, 0, n, d, n, 1.0f, W, n, E, d, 0.0f, dE, d);
        loss = 0;
        for (int64_t i = 0; i < n * d; i++) loss += 0.5 * dE[i] * E[i];
        if (losses && rank == 0) printf("step %lld loss %.8f\n", it, loss);
        s = mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, dE + lo * d, NULL);
        s = mx_comm_agree(comm, s);
        /* ranks: a barrier first, so that the all-reduce's time is the transfer and the barrier's
         * the wait for the slower rank (load imbalance) */
        double tb = now_s();
        if (s == MX_OK && nr > 1) s = mx_comm_barrier(comm);
        if (it >= warmup) wait += now_s() - tb;
        if (s == MX_OK) s = mx_comm_allreduce_f32(comm, mx_model_grads(m), mx_model_n_params(m));
        if (s == MX_OK) s = mx_optim_step(opt);
        mx_model_params_updated(m);
    }
    double dt = now_s() - t0;
    if (s != MX_OK) {
        if (rank == 0) fprintf(stderr, "metrix bench train: %s\n", mx_errmsg());
        mx_comm_free(comm);
        return 1;
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    mx_comm_stats cs;
    mx_comm_stats_get(comm, &cs);
    if (rank == 0) {
        printf("steps %lld in %.3f s (%.1f ms/step), last loss %.6f\n", steps, dt,
               1e3 * dt / (double)steps, loss);
        printf("peak RSS: %.1f MiB%s\n", (double)ru.ru_maxrss / 1024.0, nr > 1 ? " (rank 0)" : "");
        if (nr > 1)
            printf("communication (rank 0): %.1f ms/step (%.1f %% of the step; %.1f ms of it "
                   "waiting for the slower rank before the all-reduce), per step %.2f MB "
                   "all-reduced, %.3f MB all-gathered (this rank's part)\n",
                   1e3 * cs.seconds / (double)steps, 100.0 * cs.seconds / dt,
                   1e3 * wait / (double)steps, cs.bytes_allreduce / 1e6 / (double)steps,
                   cs.bytes_allgather / 1e6 / (double)steps);
        printf("train images/s: %.2f\n", (double)(steps * batch) / dt);
    }
    free(x), free(E), free(dE), free(W);
    mx_optim_free(opt);
    mx_model_free(m);
    mx_comm_free(comm);
    return 0;
}
