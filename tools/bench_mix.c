/* metrix bench mix: real trainer steps (data loader, clean forward, Metrix mixing, loss, backward,
 * optimizer) of one training configuration, stopped after warmup + steps steps (no evaluation).
 * Prints the mixing path the trainer chose, the median and mean step time, the peak RSS, and a
 * last line "step ms: X" (the median). bench/bench_mix.sh runs it per mixing level against the
 * baseline (mix none) and reports the ratios. The configuration is the embedded default plus
 * --set KEY=VALUE overrides (any `metrix train` key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"

#define MAX_SETS  32
#define MAX_STEPS 100000

typedef struct sets {
    int n;
    const char *kv[MAX_SETS];
} sets;

static int parse_set(const char *cmd, const char *name, const char *v, void *dst) {
    sets *s = dst;
    if (!strchr(v, '=') || v[0] == '=') return mx_cli_expected(cmd, name, v, "KEY=VALUE");
    if (s->n == MAX_SETS) return mx_cli_expected(cmd, name, v, "at most 32 --set options");
    s->kv[s->n++] = v;
    return 1;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct bench_state {
    int64_t warmup, total, seen;
    double last, *dt; /* dt[k]: seconds of timed step k */
    int flag;
    char path[300];
} bench_state;

static void on_progress(void *user, const mx_train_progress *p) {
    (void)p;
    bench_state *b = user;
    double t = now_s();
    if (b->seen >= b->warmup && b->seen < b->total) b->dt[b->seen - b->warmup] = t - b->last;
    b->last = t;
    if (++b->seen >= b->total) b->flag = 1;
}

static void on_message(void *user, const char *msg) {
    bench_state *b = user;
    if (!strncmp(msg, "mixing:", 7)) snprintf(b->path, sizeof b->path, "%s", msg);
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int mx_bench_mix(int argc, char **argv) {
    long long steps = 20, warmup = 3;
    int threads = 0;
    sets kv = {0};
    const mx_cli_opt opts[] = {
        MX_CLI_LL("--steps", "S", &steps, 1, MAX_STEPS, "timed steps", NULL),
        MX_CLI_LL("--warmup", "W", &warmup, 0, MAX_STEPS, "untimed steps first", NULL),
        MX_CLI_FN("--set", "KEY=VALUE", &kv, parse_set,
                  "a training configuration key (repeatable; see metrix train --help)", ""),
        MX_CLI_THREADS(&threads),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {.cmd = "bench mix",
                              .usage = "usage: metrix bench mix [--steps S] [--warmup W] "
                                       "[--set KEY=VALUE]...\n",
                              .opts = opts};
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    mx_train_config cfg = mx_train_config_default();
    cfg.eval_every = 0;
    cfg.threads = threads;
    for (int i = 0; i < kv.n; i++) {
        char key[128];
        const char *eq = strchr(kv.kv[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - kv.kv[i]), kv.kv[i]);
        if (mx_train_config_set(&cfg, key, eq + 1) != MX_OK) {
            fprintf(stderr, "metrix bench mix: --set %s: %s\n", kv.kv[i], mx_errmsg());
            return 2;
        }
    }
    cfg.epochs = 1;
    cfg.max_steps_per_epoch = (int)(warmup + steps + 1); /* stopped before the last: no eval */
    char dir[] = "/tmp/metrix_bench_mix_XXXXXX";
    if (!mkdtemp(dir)) {
        fprintf(stderr, "metrix bench mix: cannot create a temporary directory\n");
        return 1;
    }
    char run_dir[64];
    snprintf(run_dir, sizeof run_dir, "%s/run", dir);
    bench_state b = {warmup, warmup + steps, 0, now_s(), calloc((size_t)steps, sizeof(double)), 0,
                     ""};
    mx_trainer *t = NULL;
    mx_status s = b.dt ? mx_trainer_create(&cfg, run_dir, &t) : MX_ERR_NOMEM;
    if (s == MX_OK) {
        mx_train_callbacks cb = {on_progress, NULL, on_message, &b};
        b.last = now_s();
        s = mx_trainer_run(t, &cb, &b.flag);
        if (s == MX_ERR_INTERRUPTED && b.seen >= b.total) s = MX_OK;
        if (s == MX_OK && b.seen < b.total)
            s = mx_error(MX_ERR_CONFIG,
                         "the training epoch has only %lld steps, fewer than --warmup %lld + "
                         "--steps %lld: give a larger dataset (or fewer steps)",
                         (long long)b.seen, warmup, steps);
    }
    mx_trainer_free(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "metrix bench mix: could not remove %s\n", dir);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (s != MX_OK) {
        fprintf(stderr, "metrix bench mix: %s\n", mx_errmsg());
        printf("peak RSS MB: %.0f\n", (double)ru.ru_maxrss / 1024.0);
        free(b.dt);
        return 1;
    }
    double mean = 0;
    for (long long k = 0; k < steps; k++) mean += b.dt[k] / (double)steps;
    qsort(b.dt, (size_t)steps, sizeof(double), cmp_d);
    double med = steps % 2 ? b.dt[steps / 2] : 0.5 * (b.dt[steps / 2 - 1] + b.dt[steps / 2]);
    printf("%s\n", b.path[0] ? b.path : "mixing: none");
    printf("batch %d, %lld timed steps after %lld, %d threads: mean %.1f ms, min %.1f ms\n",
           cfg.batch, steps, warmup, threads, mean * 1e3, b.dt[0] * 1e3);
    printf("peak RSS MB: %.0f\n", (double)ru.ru_maxrss / 1024.0);
    printf("step ms: %.2f\n", med * 1e3);
    free(b.dt);
    return 0;
}
