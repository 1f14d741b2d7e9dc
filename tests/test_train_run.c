/* The trainer end to end on Fashion-MNIST (skipped when Debian's dataset-fashion-mnist is absent):
 * a short run learns (loss falls, Recall@1 on unseen classes beats chance), writes its files,
 * refuses to overwrite a run, and an interrupted + resumed run equals an uninterrupted one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrix/metrix.h"
#include "mx_test.h"

static char g_dir[512];

static const char *run_path(const char *name) {
    static char buf[1024];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static void rm_rf(const char *dir) {
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

static mx_train_config small_config(const char *mix) {
    mx_train_config c = mx_train_config_default();
    c.epochs = 2;
    c.batch = 64;
    c.samples_per_class = 8;
    c.max_steps_per_epoch = 6;
    c.eval_every = 0;
    c.workers = 1;
    c.threads = 2;
    c.lr = 1e-3f;
    snprintf(c.mix, sizeof c.mix, "%s", mix);
    return c;
}

typedef struct stopper {
    int64_t stop_at; /* global step at which to raise the flag */
    int64_t seen;
    int flag;
} stopper;

static void count_step(void *user, const mx_train_progress *p) {
    (void)p;
    stopper *s = user;
    if (++s->seen == s->stop_at) s->flag = 1;
}

/* Reads every tensor of a checkpoint's model parameters into a malloc'd buffer. */
static float *read_params(const char *path, int64_t *n) {
    mx_safetensors *st;
    if (mx_st_open(path, &st) != MX_OK) return NULL;
    int64_t total = 0;
    for (size_t i = 0; i < mx_st_count(st); i++) {
        const mx_tensor_view *v = mx_st_at(st, i);
        if (v->dtype == MX_DTYPE_F32) total += (int64_t)(v->nbytes / 4);
    }
    float *out = malloc(sizeof(float) * (size_t)total);
    int64_t off = 0;
    for (size_t i = 0; i < mx_st_count(st); i++) {
        const mx_tensor_view *v = mx_st_at(st, i);
        if (v->dtype != MX_DTYPE_F32) continue;
        memcpy(out + off, v->data, v->nbytes);
        off += (int64_t)(v->nbytes / 4);
    }
    mx_st_free(st);
    *n = total;
    return out;
}

static void test_learns_and_writes(void) {
    snprintf(g_dir, sizeof g_dir, "%s/train_run_learns", MX_BINARY_DIR);
    rm_rf(g_dir);
    mx_train_config c = small_config("feature");
    c.epochs = 3;
    c.max_steps_per_epoch = 20;
    mx_trainer *t;
    CHECK_OK(mx_trainer_create(&c, g_dir, &t));
    if (!t) return;
    CHECK_OK(mx_trainer_run(t, NULL, NULL));
    const char *rep = mx_trainer_report_text(t);
    CHECK(strstr(rep, "R@1") != NULL || strstr(rep, "Recall@1") != NULL);
    float *emb = NULL;
    int64_t *lab = NULL, n_emb = 0;
    int d_emb = mx_trainer_embed_dim(t);
    CHECK_OK(mx_trainer_embed(t, MX_SPLIT_TEST, &emb, &lab, &n_emb));
    mx_trainer_free(t);
    const char *files[] = {
        "config.json", "log.csv",    "checkpoint_last.safetensors", "checkpoint_best.safetensors",
        "loss.png",    "recall.png", "embeddings_pca.png",          "report.txt",
        "report.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int ok = exists(run_path(files[i]));
        CHECK(ok);
        if (!ok) fprintf(stderr, "missing %s\n", files[i]);
    }
    /* loss falls from the first epoch to the last; Recall@1 on the 5 unseen classes beats the
     * 0.2 of chance clearly */
    FILE *f = fopen(run_path("log.csv"), "r");
    char line[512];
    double first = NAN, last = NAN;
    int rows = 0;
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = 0; /* header */
        while (fgets(line, sizeof line, f)) {
            double loss = atof(strchr(line, ',') + 1);
            if (rows++ == 0) first = loss;
            last = loss;
        }
        fclose(f);
    }
    CHECK(rows == 3);
    CHECK(last < first);
    f = fopen(run_path("report.json"), "r");
    char json[8192] = "";
    if (f) {
        size_t k = fread(json, 1, sizeof json - 1, f);
        json[k] = 0;
        fclose(f);
    }
    const char *r1 = strstr(json, "\"recall\"");
    CHECK(r1 != NULL);
    if (r1) {
        const char *num = strpbrk(r1 + 8, "0123456789");
        double v = num ? atof(num) : 0;
        /* recall may be stored as a list of {k, value} or as values: find the first value < 1 */
        const char *p = r1;
        while (p && (v >= 1.0 || v <= 0.0)) {
            p = strpbrk(p + 1, "0.");
            if (!p) break;
            if (*p == '0' && p[1] == '.') v = atof(p);
        }
        printf("test Recall@1 after a short run: %.4f\n", v);
        CHECK(v > 0.45);
    }
    /* the run opened for evaluation (inference-only plan) embeds the test split as the training
     * plan did (its last checkpoint holds the final weights); it cannot train */
    mx_trainer *o = NULL;
    CHECK_OK(mx_trainer_open(g_dir, "last", &o));
    if (o && emb) {
        float *e2 = NULL;
        int64_t *l2 = NULL, n2 = 0;
        CHECK_OK(mx_trainer_embed(o, MX_SPLIT_TEST, &e2, &l2, &n2));
        CHECK(n2 == n_emb);
        if (e2 && n2 == n_emb) {
            mx_test_compare("opened run vs training plan: test embeddings", e2, emb,
                            (size_t)(n2 * d_emb), 1e-5, 0);
            CHECK(memcmp(l2, lab, sizeof(int64_t) * (size_t)n2) == 0);
        }
        mx_free(e2);
        mx_free(l2);
        CHECK(mx_trainer_run(o, NULL, NULL) == MX_ERR_ARG);
    }
    mx_trainer_free(o);
    mx_free(emb);
    mx_free(lab);
    /* an existing run directory is never overwritten */
    mx_trainer *t2 = NULL;
    CHECK(mx_trainer_create(&c, g_dir, &t2) == MX_ERR_IO);
    CHECK(t2 == NULL);
    CHECK(strstr(mx_errmsg(), "--resume") != NULL);
}

static void test_resume_identical(const char *mix) {
    char dir_a[600], dir_b[600];
    snprintf(dir_a, sizeof dir_a, "%s/train_run_full_%s", MX_BINARY_DIR, mix);
    snprintf(dir_b, sizeof dir_b, "%s/train_run_resumed_%s", MX_BINARY_DIR, mix);
    rm_rf(dir_a);
    rm_rf(dir_b);
    mx_train_config c = small_config(mix);
    c.train_classes_hi = 1; /* 2 training and 2 test classes: a smaller final evaluation */
    c.test_classes_lo = 8;
    mx_trainer *t;
    /* uninterrupted */
    CHECK_OK(mx_trainer_create(&c, dir_a, &t));
    if (!t) return;
    CHECK_OK(mx_trainer_run(t, NULL, NULL));
    mx_trainer_free(t);
    /* interrupted in the middle of epoch 1 (global step 4 of 12), then resumed twice: once
     * mid-epoch, and the second half at an epoch boundary */
    CHECK_OK(mx_trainer_create(&c, dir_b, &t));
    if (!t) return;
    stopper s = {4, 0, 0};
    mx_train_callbacks cb = {count_step, NULL, NULL, &s};
    CHECK(mx_trainer_run(t, &cb, &s.flag) == MX_ERR_INTERRUPTED);
    mx_trainer_free(t);
    CHECK_OK(mx_trainer_resume(dir_b, 0, &t));
    if (!t) return;
    stopper s2 = {2, 0, 0}; /* stops at the end of epoch 1 (global step 6) */
    mx_train_callbacks cb2 = {count_step, NULL, NULL, &s2};
    CHECK(mx_trainer_run(t, &cb2, &s2.flag) == MX_ERR_INTERRUPTED);
    mx_trainer_free(t);
    CHECK_OK(mx_trainer_resume(dir_b, 0, &t));
    if (!t) return;
    CHECK_OK(mx_trainer_run(t, NULL, NULL));
    mx_trainer_free(t);

    char pa[700], pb[700];
    snprintf(pa, sizeof pa, "%s/checkpoint_last.safetensors", dir_a);
    snprintf(pb, sizeof pb, "%s/checkpoint_last.safetensors", dir_b);
    int64_t na = 0, nb = 0;
    float *a = read_params(pa, &na), *b = read_params(pb, &nb);
    CHECK(a && b && na == nb && na > 1000);
    if (a && b && na == nb) {
        char what[128];
        snprintf(what, sizeof what, "resumed vs uninterrupted parameters (%s)", mix);
        mx_test_compare(what, b, a, (size_t)na, 1e-6, 1e-5);
    }
    free(a);
    free(b);
}

/* A NaN in the weights (here planted in the checkpoint a resumed run starts from) stops training
 * with MX_ERR_NUMERIC, and the checkpoint on disk is left as it was. */
static void test_nan_stops(void) {
    snprintf(g_dir, sizeof g_dir, "%s/train_run_nan", MX_BINARY_DIR);
    rm_rf(g_dir);
    mx_train_config c = small_config("embed");
    c.train_classes_hi = 1, c.test_classes_lo = 8;
    mx_trainer *t;
    CHECK_OK(mx_trainer_create(&c, g_dir, &t));
    if (!t) return;
    stopper s = {6, 0, 0}; /* stop at the end of epoch 1 */
    mx_train_callbacks cb = {count_step, NULL, NULL, &s};
    CHECK(mx_trainer_run(t, &cb, &s.flag) == MX_ERR_INTERRUPTED);
    mx_trainer_free(t);
    /* rewrite the checkpoint with NaN in the embedding weights */
    const char *ck = run_path("checkpoint_last.safetensors");
    mx_safetensors *st;
    CHECK_OK(mx_st_open(ck, &st));
    if (!st) return;
    size_t n = mx_st_count(st);
    mx_tensor_view *views = calloc(n, sizeof *views);
    float *poisoned = NULL;
    for (size_t i = 0; i < n; i++) {
        views[i] = *mx_st_at(st, i);
        if (!strcmp(views[i].name, "embedding.weight")) {
            poisoned = malloc(views[i].nbytes);
            memcpy(poisoned, views[i].data, views[i].nbytes);
            poisoned[3] = NAN;
            views[i].data = poisoned;
        }
    }
    CHECK(poisoned != NULL);
    const char *meta[] = {MX_CKPT_FORMAT_KEY, MX_CKPT_FORMAT};
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.poisoned", ck);
    CHECK_OK(mx_st_write(tmp, views, n, meta, 1));
    mx_st_free(st);
    free(views);
    free(poisoned);
    CHECK(rename(tmp, ck) == 0);
    struct stat before, after;
    stat(ck, &before);
    /* non-finite weights are refused when the checkpoint is loaded, naming the tensor */
    t = NULL;
    CHECK(mx_trainer_resume(g_dir, 0, &t) == MX_ERR_NUMERIC && t == NULL);
    CHECK(strstr(mx_errmsg(), "embedding.weight") != NULL);
    mx_trainer_free(t);
    /* finite but huge weights load, and the step that overflows stops the run */
    CHECK_OK(mx_st_open(ck, &st));
    if (!st) return;
    views = calloc(n, sizeof *views);
    poisoned = NULL;
    for (size_t i = 0; i < n; i++) {
        views[i] = *mx_st_at(st, i);
        if (!strcmp(views[i].name, "embedding.weight")) {
            poisoned = malloc(views[i].nbytes);
            memcpy(poisoned, views[i].data, views[i].nbytes);
            for (size_t k = 0; k < views[i].nbytes / sizeof(float); k++) poisoned[k] = 3e38f;
            views[i].data = poisoned;
        }
    }
    CHECK_OK(mx_st_write(tmp, views, n, meta, 1));
    mx_st_free(st);
    free(views);
    free(poisoned);
    CHECK(rename(tmp, ck) == 0);
    stat(ck, &before);
    CHECK_OK(mx_trainer_resume(g_dir, 0, &t));
    if (!t) return;
    CHECK(mx_trainer_run(t, NULL, NULL) == MX_ERR_NUMERIC);
    printf("diverged run stopped with: %s\n", mx_errmsg());
    mx_trainer_free(t);
    stat(ck, &after);
    CHECK(before.st_size == after.st_size && before.st_mtime == after.st_mtime);
    CHECK(!exists(run_path("report.json")));
}

static void test_bad_config(void) {
    mx_train_config c = small_config("feature");
    snprintf(c.mix_stage, sizeof c.mix_stage, "layer9");
    snprintf(g_dir, sizeof g_dir, "%s/train_run_bad", MX_BINARY_DIR);
    rm_rf(g_dir);
    mx_trainer *t = NULL;
    CHECK(mx_trainer_create(&c, g_dir, &t) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "mix_stage") != NULL);
    CHECK(!exists(g_dir)); /* nothing half-created */
    c = small_config("none");
    snprintf(c.dataset, sizeof c.dataset, "list");
    CHECK(mx_trainer_create(&c, g_dir, &t) == MX_ERR_CONFIG);
}

/* A run that cannot fit fails before anything is created, naming the options and the bytes. */
static void test_memory_check(void) {
    mx_train_config c = small_config("feature");
    snprintf(c.mix_negatives, sizeof c.mix_negatives, "all");
    /* the unfused path: M mixed feature maps run through a second network slot */
    snprintf(c.mix_fused, sizeof c.mix_fused, "off");
    c.memory_mb = 1;
    snprintf(g_dir, sizeof g_dir, "%s/train_run_memory", MX_BINARY_DIR);
    rm_rf(g_dir);
    mx_trainer *t = NULL;
    CHECK(mx_trainer_create(&c, g_dir, &t) == MX_ERR_NOMEM);
    CHECK(t == NULL);
    const char *msg = mx_errmsg();
    printf("memory check: %s\n", msg);
    CHECK(strstr(msg, "memory_mb=1") != NULL && strstr(msg, "GiB") != NULL);
    CHECK(strstr(msg, "lower batch (now 64") != NULL);
    CHECK(strstr(msg, "mix_negatives=random|hardest") != NULL && strstr(msg, "4032") != NULL);
    CHECK(!exists(g_dir));
    c.memory_mb = 1 << 20; /* 1 TiB: fits */
    CHECK_OK(mx_trainer_create(&c, g_dir, &t));
    mx_trainer_free(t);
    rm_rf(g_dir);
}

int main(void) {
    if (!exists(MX_FMNIST_DIR "/train-images-idx3-ubyte.gz")) {
        printf(
            "test_train_run: skipped: %s not installed (apt-get install dataset-fashion-mnist)\n",
            MX_FMNIST_DIR);
        return mx_test_finish("test_train_run");
    }
    mx_threads_set(2);
    test_bad_config();
    test_memory_check();
    test_nan_stops();
    test_learns_and_writes();
    test_resume_identical("feature");
    test_resume_identical("input");
    test_resume_identical("embed");
    return mx_test_finish("test_train_run");
}
