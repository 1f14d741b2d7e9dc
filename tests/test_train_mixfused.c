/* Feature-level Metrix through the fused mixed head against the unfused path (mix_fused on / off)
 * in one build, on Fashion-MNIST (skipped when Debian's dataset-fashion-mnist is absent): the
 * per-step losses of the first 50 steps of the embedded default (random 5 negatives) and of an
 * all-negatives run agree up to float rounding; the log names the path; mix_fused on with layers
 * after mix_stage is refused; an earlier mix_stage runs the unfused path; the input-level cap
 * (mix_input_max) is announced. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrix/metrix.h"
#include "mx_test.h"

#define STEPS 50

typedef struct rec {
    double mean[STEPS + 1]; /* running mean loss after step k (1-based) */
    int64_t n;
    char msg[8][300];
    int n_msg;
    int64_t stop_at; /* raise the stop flag after this step: no final evaluation */
    int flag;
} rec;

static void on_progress(void *user, const mx_train_progress *p) {
    rec *r = user;
    if (p->step >= 1 && p->step <= STEPS) r->mean[p->step] = p->loss, r->n = p->step;
    if (p->step >= r->stop_at) r->flag = 1;
}

static void on_message(void *user, const char *msg) {
    rec *r = user;
    if (r->n_msg < 8) snprintf(r->msg[r->n_msg++], sizeof r->msg[0], "%s", msg);
}

static int has_msg(const rec *r, const char *needle) {
    for (int i = 0; i < r->n_msg; i++)
        if (strstr(r->msg[i], needle)) return 1;
    return 0;
}

static void rm_rf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

static mx_train_config base(int batch, const char *negatives) {
    mx_train_config c = mx_train_config_default(); /* the embedded default: feature, random 5 */
    c.epochs = 1;
    c.batch = batch;
    c.eval_every = 0;
    c.eval_test = 0;
    c.workers = 1;
    c.threads = 2;
    c.train_classes_hi = 4, c.test_classes_lo = 8; /* a small final evaluation */
    snprintf(c.mix_negatives, sizeof c.mix_negatives, "%s", negatives);
    return c;
}

/* Runs the first `steps` steps of c into MX_BINARY_DIR/<name> (then stops it, skipping the final
 * evaluation), recording per-step running-mean losses and messages. */
static mx_status run(mx_train_config c, const char *name, int64_t steps, rec *r) {
    char dir[700];
    snprintf(dir, sizeof dir, "%s/train_mixfused_%s", MX_BINARY_DIR, name);
    rm_rf(dir);
    memset(r, 0, sizeof *r);
    r->stop_at = steps;
    c.max_steps_per_epoch = (int)steps + 1;
    mx_trainer *t = NULL;
    mx_status s = mx_trainer_create(&c, dir, &t);
    if (s == MX_OK) {
        mx_train_callbacks cb = {on_progress, NULL, on_message, r};
        s = mx_trainer_run(t, &cb, &r->flag);
        if (s == MX_ERR_INTERRUPTED && r->n == steps) s = MX_OK;
    }
    mx_trainer_free(t);
    rm_rf(dir);
    return s;
}

/* per-step losses from running means: l_k = k m_k - (k - 1) m_(k-1) */
static void compare_paths(int batch, const char *negatives) {
    rec *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    mx_train_config c = base(batch, negatives);
    snprintf(c.mix_fused, sizeof c.mix_fused, "on");
    CHECK_OK(run(c, "on", STEPS, a));
    snprintf(c.mix_fused, sizeof c.mix_fused, "off");
    CHECK_OK(run(c, "off", STEPS, b));
    CHECK(a->n == STEPS && b->n == STEPS);
    CHECK(has_msg(a, "fused head") && !has_msg(a, "unfused"));
    CHECK(has_msg(b, "unfused (mix_fused off)"));
    double worst = 0, first = 0, worst10 = 0;
    for (int k = 1; k <= STEPS && k <= a->n && k <= b->n; k++) {
        double la = k * a->mean[k] - (k - 1) * a->mean[k - 1];
        double lb = k * b->mean[k] - (k - 1) * b->mean[k - 1];
        double rel = fabs(la - lb) / fmax(fabs(lb), 1e-3);
        if (k == 1) first = rel;
        if (rel > worst) worst = rel;
        if (k <= 10 && rel > worst10) worst10 = rel;
    }
    printf("batch %d, %s negatives: fused vs unfused step losses, relative differences: step 1 "
           "%.2e, steps 1-10 %.2e, steps 1-%d %.2e\n",
           batch, negatives, first, worst10, STEPS, worst);
    /* the same first step up to float rounding; afterwards the rounding differences (GMP argmax
     * flips, summation order) grow through 50 Adam steps of a chaotic trajectory, not more */
    CHECK(first < 1e-5);
    CHECK(worst < 5e-2);
    CHECK(a->mean[STEPS] > 0 && fabs(a->mean[STEPS] - b->mean[STEPS]) < 5e-3 * b->mean[STEPS]);
    free(a), free(b);
}

static void test_paths_chosen(void) {
    rec *r = calloc(1, sizeof *r);
    /* an earlier mixing stage: layers follow, so auto runs the unfused path, and on is refused */
    mx_train_config c = base(32, "random");
    snprintf(c.mix_stage, sizeof c.mix_stage, "block2");
    CHECK_OK(run(c, "stage2", 2, r));
    CHECK(has_msg(r, "unfused (layers follow the mixing stage)"));
    snprintf(c.mix_fused, sizeof c.mix_fused, "on");
    CHECK(run(c, "stage2_on", 2, r) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "mix_fused") != NULL);
    /* input level, all negatives at batch 32: 992 pairs, capped at 2 x 32 by default */
    c = base(32, "all");
    snprintf(c.mix, sizeof c.mix, "input");
    CHECK_OK(run(c, "input", 2, r));
    CHECK(has_msg(r, "input level, up to 64 of up to 992 selected pairs"));
    c.mix_input_max = 10;
    CHECK_OK(run(c, "input10", 2, r));
    CHECK(has_msg(r, "up to 10 of up to 992"));
    free(r);
}

int main(void) {
    struct stat st;
    if (stat(MX_FMNIST_DIR "/train-images-idx3-ubyte.gz", &st) != 0) {
        printf("test_train_mixfused: skipped: %s not installed\n", MX_FMNIST_DIR);
        return mx_test_finish("test_train_mixfused");
    }
    mx_threads_set(2);
    test_paths_chosen();
    compare_paths(128, "random"); /* the embedded default */
    compare_paths(64, "all");
    return mx_test_finish("test_train_mixfused");
}
