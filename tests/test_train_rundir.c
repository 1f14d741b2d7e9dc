/* The trainer's run-directory repairs (src/train/trainer_rundir.c) on hand-made directories:
 * log.csv cut back to the checkpointed epochs (torn, repeated and later rows), only our own
 * stale temporary files removed, the directory lock and the write probe. The end-to-end crash
 * tests are tests/fault_*.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mx_test.h"
#include "train/trainer_impl.h"

static void put(const char *dir, const char *name, const char *text) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "wb");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static char *get(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    static char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int exists(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

#define HDR "epoch,loss,best\n"

static void test_log_cut(mx_trainer *t) {
    /* rows 1, 2, a repeated 2 (an old resume), 3 (not checkpointed), a torn 4 */
    put(t->dir, "log.csv", HDR "1,0.5,1\n2,0.4,1\n2,0.4,1\n3,0.3,1\n4,0.");
    CHECK_OK(mx_tr_log_cut(t, 2));
    const char *s = get(t->dir, "log.csv");
    CHECK(s && !strcmp(s, HDR "1,0.5,1\n2,0.4,1\n"));
    /* already consistent: untouched */
    CHECK_OK(mx_tr_log_cut(t, 2));
    s = get(t->dir, "log.csv");
    CHECK(s && !strcmp(s, HDR "1,0.5,1\n2,0.4,1\n"));
    /* no checkpoint yet: the header only */
    CHECK_OK(mx_tr_log_cut(t, 0));
    s = get(t->dir, "log.csv");
    CHECK(s && !strcmp(s, HDR));
    /* a torn header: emptied (the next row writes a header again) */
    put(t->dir, "log.csv", "epoch,lo");
    CHECK_OK(mx_tr_log_cut(t, 3));
    s = get(t->dir, "log.csv");
    CHECK(s && !strcmp(s, ""));
    /* no log at all: stays absent */
    char p[1200];
    snprintf(p, sizeof p, "%s/log.csv", t->dir);
    remove(p);
    CHECK_OK(mx_tr_log_cut(t, 3));
    CHECK(!exists(t->dir, "log.csv"));
    /* truncate: back to a size */
    put(t->dir, "log.csv", HDR "1,0.5,1\n2,0.4,1\n");
    CHECK_OK(mx_tr_log_truncate(t, (int64_t)strlen(HDR "1,0.5,1\n")));
    s = get(t->dir, "log.csv");
    CHECK(s && !strcmp(s, HDR "1,0.5,1\n"));
    remove(p);
}

static void test_clean_temps(mx_trainer *t) {
    const char *ours[] = {"checkpoint_last.safetensors.tmp.12345",
                          "checkpoint_best.safetensors.tmp.1",
                          "config.json.tmp.99",
                          "log.csv.tmp.7",
                          "report.json.tmp.42",
                          "loss.png.tmp.aB3xYz",
                          ".write-probe.tmp.5"};
    const char *theirs[] = {"checkpoint_last.safetensors", "notes.tmp.123",
                            "mine.safetensors.tmp.1",      "config.json.tmp.",
                            "config.json.tmp.1/2x",        "log.csv.bak"};
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) put(t->dir, ours[i], "x");
    for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++)
        if (!strchr(theirs[i], '/')) put(t->dir, theirs[i], "x");
    CHECK_OK(mx_tr_dir_clean_temps(t));
    for (size_t i = 0; i < sizeof ours / sizeof *ours; i++) CHECK(!exists(t->dir, ours[i]));
    for (size_t i = 0; i < sizeof theirs / sizeof *theirs; i++)
        if (!strchr(theirs[i], '/')) {
            CHECK(exists(t->dir, theirs[i]));
            char p[1200];
            snprintf(p, sizeof p, "%s/%s", t->dir, theirs[i]);
            remove(p);
        }
}

static void test_lock_probe(mx_trainer *t, mx_trainer *u) {
    CHECK_OK(mx_tr_dir_acquire(t));
    CHECK(t->lock_fd >= 0);
    /* a second trainer on the same directory is refused */
    CHECK(mx_tr_dir_acquire(u) == MX_ERR_IO);
    CHECK(strstr(mx_errmsg(), "in use by another metrix train") != NULL);
    CHECK(u->lock_fd < 0);
    close(t->lock_fd);
    t->lock_fd = -1;
    CHECK_OK(mx_tr_dir_acquire(u));
    close(u->lock_fd);
    u->lock_fd = -1;
    /* the probe leaves nothing behind */
    CHECK_OK(mx_tr_dir_clean_temps(t));
    /* a directory that does not exist */
    mx_trainer *v = calloc(1, sizeof *v);
    v->lock_fd = -1;
    snprintf(v->dir, sizeof v->dir, "%.900s/missing", t->dir);
    CHECK(mx_tr_dir_acquire(v) == MX_ERR_IO);
    free(v);
}

int main(void) {
    char dir[] = "/tmp/mx_test_rundir.XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    mx_trainer *t = calloc(1, sizeof *t), *u = calloc(1, sizeof *u);
    t->lock_fd = u->lock_fd = -1;
    snprintf(t->dir, sizeof t->dir, "%s", dir);
    snprintf(u->dir, sizeof u->dir, "%s", dir);
    test_log_cut(t);
    test_clean_temps(t);
    test_lock_probe(t, u);
    free(t);
    free(u);
    CHECK(rmdir(dir) == 0); /* everything the tests made is gone */
    return mx_test_finish("test_train_rundir");
}
