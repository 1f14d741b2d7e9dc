/* The paper's four protocols end to end through the metrix CLI, on tiny generated folders shaped
 * like CUB-200-2011, Cars196 (cars_annos.mat), Stanford Online Products and In-Shop (2-3 JPEGs
 * per class): for each, `metrix train` with the dataset's baseline preset (the backbone shrunk:
 * MXP_BACKBONE at MXP_SIZE px, 2 steps, 1 epoch) evaluates the test set every epoch (log.csv,
 * the epoch line), writes the PCA plot and a report with utilization; `eval --run` reproduces
 * the report's Recall@1; `embed --run` writes every split the dataset has. In-Shop also carves a
 * validation split and resumes for a second epoch. Then list files: absolute paths, paths
 * relative to the list's folder or to --data_root, a missing file named with its line, and one
 * list split into class-disjoint halves. test_train_protocols_slow runs it with ResNet-50. */
#include <math.h>
#include <matio.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrix/metrix.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

#ifndef MXP_BACKBONE
#define MXP_BACKBONE "resnet18"
#define MXP_SIZE     32
#endif

static char g_base[1024];

/* g_base + "/" + printf(fmt, ...) in one of 16 rotating buffers */
static const char *P(const char *fmt, ...) {
    static char buf[16][2048];
    static int k;
    k = (k + 1) % 16;
    char rel[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rel, sizeof rel, fmt, ap);
    va_end(ap);
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_base, rel);
    return buf[k];
}

/* A 40 x 32 RGB JPEG whose colours depend on the class (so training has something to learn). */
static void image(const char *path, int cls, int i) {
    uint8_t px[40 * 32 * 3];
    fx_pattern(px, 40, 32, 3, i);
    for (size_t j = 0; j < sizeof px; j += 3) {
        px[j] = (uint8_t)(px[j] + 37 * cls);
        px[j + 2] = (uint8_t)(px[j + 2] * (cls % 3) / 2);
    }
    char d[2048];
    snprintf(d, sizeof d, "%s", path);
    *strrchr(d, '/') = 0;
    fx_mkdirs(d);
    CHECK(fx_jpeg(path, px, 40, 32, 3, 90) == 0);
}

/* Runs a shell command line with stdout and stderr into out_path; returns its exit status. */
static int sh(const char *out_path, const char *fmt, ...) {
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof cmd - 200) return -1;
    snprintf(cmd + n, sizeof cmd - (size_t)n, " >'%s' 2>&1", out_path);
    int rc = system(cmd);
    return rc == -1 ? -1 : (rc >> 8) & 0xff;
}

/* The whole file as a string ("" when unreadable); caller frees. */
static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    char *s = NULL;
    size_t n = 0, cap = 0;
    if (f) {
        for (;;) {
            if (n + 4096 + 1 > cap) {
                cap = 2 * cap + 8192;
                char *t = realloc(s, cap);
                if (!t) break;
                s = t;
            }
            size_t r = fread(s + n, 1, 4096, f);
            n += r;
            if (r == 0) break;
        }
        fclose(f);
    }
    if (!s) return calloc(1, 1);
    s[n] = 0;
    return s;
}

static int exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* The number of rows of an .npy file (-1 when unreadable). */
static int64_t npy_rows(const char *path) {
    mx_array a;
    memset(&a, 0, sizeof a);
    if (mx_npy_read(path, &a) != MX_OK) return -1;
    int64_t n = a.ndim >= 1 ? a.shape[0] : -1;
    mx_array_free(&a);
    return n;
}

/* recall "1" of a report.json / eval --json text (NAN if absent) */
static double json_r1(const char *text) {
    const char *p = strstr(text, "\"recall\": {\"1\": ");
    return p ? strtod(p + strlen("\"recall\": {\"1\": "), NULL) : NAN;
}

static void show_on_failure(int ok, const char *log) {
    if (ok) return;
    char *s = slurp(log);
    fprintf(stderr, "---- %s ----\n%s\n----\n", log, s);
    free(s);
}

/* ---- dataset folders (root: a folder name under g_base) ------------------------------------ */

#define TRAIN_CLASSES 8
#define TEST_CLASSES  6
static int per_class(int c) {
    return 2 + c % 2; /* 2 or 3 images */
}

static void make_cub(const char *root) {
    fx_mkdirs(P("%s/images", root));
    FILE *im = fopen(P("%s/images.txt", root), "w");
    FILE *lab = fopen(P("%s/image_class_labels.txt", root), "w");
    CHECK(im && lab);
    if (!im || !lab) exit(1);
    int id = 1;
    for (int k = 0; k < TRAIN_CLASSES + TEST_CLASSES; k++) {
        int cls = k < TRAIN_CLASSES ? 1 + k : 101 + k - TRAIN_CLASSES;
        for (int i = 0; i < per_class(k); i++, id++) {
            char rel[128];
            snprintf(rel, sizeof rel, "%03d.Bird_%d/img_%d.jpg", cls, cls, i);
            image(P("%s/images/%s", root, rel), cls, i);
            fprintf(im, "%d %s\n", id, rel);
            fprintf(lab, "%d %d\n", id, cls);
        }
    }
    fclose(im);
    fclose(lab);
}

static void make_cars(const char *root) {
    fx_mkdirs(P("%s", root));
    int n = 0;
    char paths[64][64];
    double cls[64];
    for (int k = 0; k < TRAIN_CLASSES + TEST_CLASSES; k++) {
        int c = k < TRAIN_CLASSES ? 1 + k : 99 + k - TRAIN_CLASSES;
        for (int i = 0; i < per_class(k); i++, n++) {
            snprintf(paths[n], sizeof paths[n], "car_ims/%06d.jpg", n + 1);
            image(P("%s/%s", root, paths[n]), c, i);
            cls[n] = c;
        }
    }
    /* uncompressed: matio misreads the compressed struct arrays it writes itself */
    mat_t *mat = Mat_CreateVer(P("%s/cars_annos.mat", root), NULL, MAT_FT_MAT5);
    CHECK(mat != NULL);
    if (!mat) return;
    const char *fields[] = {"relative_im_path", "class", "test", NULL};
    size_t dims[2] = {1, (size_t)n};
    matvar_t *st = Mat_VarCreateStruct2("annotations", 2, dims, fields);
    for (int i = 0; i < n; i++) {
        size_t sd[2] = {1, strlen(paths[i])}, d1[2] = {1, 1};
        double t = cls[i] > 98;
        Mat_VarSetStructFieldByName(
            st, "relative_im_path", (size_t)i,
            Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, sd, (void *)paths[i], 0));
        Mat_VarSetStructFieldByName(
            st, "class", (size_t)i,
            Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &cls[i], 0));
        Mat_VarSetStructFieldByName(st, "test", (size_t)i,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &t, 0));
    }
    CHECK(Mat_VarWrite(mat, st, MAT_COMPRESSION_NONE) == 0);
    Mat_VarFree(st);
    Mat_Close(mat);
}

static void make_sop(const char *root) {
    fx_mkdirs(P("%s", root));
    FILE *tr = fopen(P("%s/Ebay_train.txt", root), "w"),
         *te = fopen(P("%s/Ebay_test.txt", root), "w");
    CHECK(tr && te);
    if (!tr || !te) exit(1);
    fprintf(tr, "image_id class_id super_class_id path\n");
    fprintf(te, "image_id class_id super_class_id path\n");
    int id = 1;
    for (int k = 0; k < TRAIN_CLASSES + TEST_CLASSES; k++) {
        int test = k >= TRAIN_CLASSES, cls = 1 + k;
        for (int i = 0; i < per_class(k); i++, id++) {
            char rel[128];
            snprintf(rel, sizeof rel, "%s_final/%d_%d.JPG", test ? "kettle" : "bicycle", cls, i);
            image(P("%s/%s", root, rel), cls, i);
            fprintf(test ? te : tr, "%d %d %d %s\n", id, cls, 1 + test, rel);
        }
    }
    fclose(tr);
    fclose(te);
}

/* train classes: all images train; test classes: the first image query, the rest gallery */
static void make_inshop(const char *root, int *nq, int *ng) {
    fx_mkdirs(P("%s/Eval", root));
    char rows[8192] = "";
    int n = 0;
    *nq = *ng = 0;
    for (int k = 0; k < TRAIN_CLASSES + TEST_CLASSES; k++) {
        int test = k >= TRAIN_CLASSES;
        for (int i = 0; i < per_class(k); i++, n++) {
            char rel[128];
            snprintf(rel, sizeof rel, "img/WOMEN/Dresses/id_%08d/%02d_front.jpg", k + 1, i);
            image(P("%s/%s", root, rel), k, i);
            const char *status = !test ? "train" : i == 0 ? "query" : "gallery";
            *nq += test && i == 0, *ng += test && i > 0;
            size_t len = strlen(rows);
            snprintf(rows + len, sizeof rows - len, "%s id_%08d %s\n", rel, k + 1, status);
        }
    }
    FILE *f = fopen(P("%s/Eval/list_eval_partition.txt", root), "w");
    CHECK(f != NULL);
    if (!f) exit(1);
    fprintf(f, "%d\nimage_name item_id evaluation_status\n%s", n, rows);
    fclose(f);
}

/* ---- one protocol end to end ------------------------------------------------------------- */

static const char *g_bin;

static const char *small_flags(void) {
    static char buf[512];
    snprintf(buf, sizeof buf,
             "--backbone %s --image_size %d --resize_size %d --embed_dim 32 --epochs 1 "
             "--max_steps_per_epoch 2 --warmup_epochs 0 --workers 1 --threads 1 --eval_test true "
             "--quiet",
             MXP_BACKBONE, MXP_SIZE, MXP_SIZE + MXP_SIZE / 8);
    return buf;
}

/* splits: names of the splits embed --run must write, with their expected row counts */
static void protocol(const char *preset, const char *data_root, const char *extra,
                     const char *const *splits, const int64_t *rows, int n_splits, int with_val) {
    const char *run = P("runs/%s", preset), *log = P("logs/%s-train.txt", preset);
    char run_dir[2048];
    snprintf(run_dir, sizeof run_dir, "%s", run);
    int rc = sh(log, "'%s' train --preset %s %s %s --data_root '%s' --output '%s'", g_bin, preset,
                small_flags(), extra, data_root, run_dir);
    CHECK(rc == 0);
    show_on_failure(rc == 0, log);
    if (rc != 0) return;
    char *out = slurp(log);
    /* the epoch line has the test (and validation) Recall@1 */
    CHECK(strstr(out, "test R@1 ") != NULL);
    if (with_val) CHECK(strstr(out, "val R@1 ") != NULL);
    show_on_failure(strstr(out, "test R@1 ") != NULL, log);
    free(out);
    /* log.csv: epoch,loss,loss_clean,loss_mixed,lr,seconds,images_per_s,trunk_frozen,val_r1,
     * val_map_r,test_r1,test_map_r,best: test_r1 measured, val_r1 too when carved */
    char *csv = slurp(P("runs/%s/log.csv", preset));
    const char *row = strchr(csv, '\n');
    CHECK(row != NULL);
    if (row) {
        char *save = NULL;
        int field = 0;
        for (char *tok = strtok_r(csv + (row + 1 - csv), ",", &save); tok;
             tok = strtok_r(NULL, ",", &save), field++) {
            if (field == 10 || field == 11 || (with_val && (field == 8 || field == 9)))
                CHECK(strcmp(tok, "nan") != 0);
        }
        CHECK(field == 13);
    }
    free(csv);
    CHECK(exists(P("runs/%s/embeddings_pca.png", preset)));
    CHECK(exists(P("runs/%s/recall.png", preset)));
    char *report = slurp(P("runs/%s/report.txt", preset));
    CHECK(strstr(report, "utilization") != NULL);
    free(report);
    char *rj = slurp(P("runs/%s/report.json", preset));
    double r1_train = json_r1(rj);
    CHECK(isfinite(r1_train));
    free(rj);

    /* eval --run reproduces the training report's Recall@1 */
    const char *elog = P("logs/%s-eval.txt", preset);
    rc = sh(elog, "'%s' eval --run '%s' --json", g_bin, run_dir);
    CHECK(rc == 0);
    show_on_failure(rc == 0, elog);
    char *ev = slurp(elog);
    double r1_eval = json_r1(ev);
    CHECK_CLOSE(r1_eval, r1_train, 1e-9, 0);
    free(ev);

    /* embed --run on every split */
    for (int i = 0; i < n_splits; i++) {
        const char *e = P("runs/%s-%s-E.npy", preset, splits[i]);
        char e_path[2048];
        snprintf(e_path, sizeof e_path, "%s", e);
        const char *l = P("runs/%s-%s-L.npy", preset, splits[i]);
        const char *blog = P("logs/%s-embed-%s.txt", preset, splits[i]);
        rc = sh(blog, "'%s' embed --run '%s' --split %s --output '%s' --labels-output '%s'", g_bin,
                run_dir, splits[i], e_path, l);
        CHECK(rc == 0);
        show_on_failure(rc == 0, blog);
        if (npy_rows(e_path) != rows[i] || npy_rows(l) != rows[i]) {
            fprintf(stderr, "%s --split %s: %lld rows, expected %lld\n", preset, splits[i],
                    (long long)npy_rows(e_path), (long long)rows[i]);
            CHECK(!"embed rows");
        }
    }
}

static int64_t count_images(int first, int last) {
    int64_t n = 0;
    for (int k = first; k <= last; k++) n += per_class(k);
    return n;
}

static void test_protocols(void) {
    const int64_t n_train = count_images(0, TRAIN_CLASSES - 1),
                  n_test = count_images(TRAIN_CLASSES, TRAIN_CLASSES + TEST_CLASSES - 1);
    const char *loo[2] = {"train", "test"};
    const int64_t loo_rows[2] = {n_train, n_test};

    make_cub("CUB_200_2011");
    protocol("cub-ms", P("CUB_200_2011"), "--batch 8", loo, loo_rows, 2, 0);
    make_cars("cars196");
    protocol("cars-pa", P("cars196"), "--batch 8", loo, loo_rows, 2, 0);
    make_sop("Stanford_Online_Products");
    protocol("sop-ms", P("Stanford_Online_Products"), "--batch 10", loo, loo_rows, 2, 0);

    int nq, ng;
    make_inshop("inshop", &nq, &ng);
    /* 2 of the 8 training classes for validation (best checkpoint by validation R@1) */
    const char *qg[3] = {"query", "gallery", "test"};
    const int64_t qg_rows[3] = {nq, ng, nq + ng}; /* In-Shop's test: query rows, gallery rows */
    protocol("inshop-contrastive", P("inshop"), "--batch 10 --val_fraction 0.25", qg, qg_rows, 3,
             1);
    const char *run = P("runs/inshop-contrastive");
    char run_dir[2048];
    snprintf(run_dir, sizeof run_dir, "%s", run);
    int64_t ntr = -1, nval = -1;
    const char *sp[2] = {"train", "val"};
    for (int i = 0; i < 2; i++) {
        const char *e = P("runs/inshop-%s-E.npy", sp[i]);
        char e_path[2048];
        snprintf(e_path, sizeof e_path, "%s", e);
        CHECK(sh(P("logs/inshop-embed-%s.txt", sp[i]),
                 "'%s' embed --run '%s' --split %s --output '%s' --labels-output '%s'", g_bin,
                 run_dir, sp[i], e_path, P("runs/inshop-%s-L.npy", sp[i])) == 0);
        *(i ? &nval : &ntr) = npy_rows(e_path);
    }
    CHECK(ntr > 0 && nval > 0 && ntr + nval == n_train); /* the validation classes: seeded */
    /* the report of one query per class: NMI and alignment are degenerate and say so */
    char *report = slurp(P("runs/inshop-contrastive/report.txt"));
    CHECK(strstr(report, "query/gallery") != NULL);
    CHECK(strstr(report, "Recall@50") != NULL && strstr(report, "Recall@8 ") == NULL);
    CHECK(strstr(report, "NMI           n/a (every query is its own class") != NULL);
    CHECK(strstr(report, "alignment     n/a") != NULL);
    CHECK(strstr(report, "Recall@50     n/a (K exceeds the") != NULL);
    free(report);
    /* eval --run on the query split alone (leave-one-out, text) and a split CUB does not have */
    CHECK(sh(P("logs/inshop-eval-query.txt"), "'%s' eval --run '%s' --split query", g_bin,
             run_dir) == 0);
    char *evq = slurp(P("logs/inshop-eval-query.txt"));
    CHECK(strstr(evq, "protocol      leave-one-out (6 queries") != NULL);
    free(evq);
    CHECK(sh(P("logs/cub-embed-query.txt"),
             "'%s' embed --run '%s' --split query --output '%s' --labels-output '%s'", g_bin,
             P("runs/cub-ms"), P("runs/x.npy"), P("runs/y.npy")) == 1);
    char *msg = slurp(P("logs/cub-embed-query.txt"));
    CHECK(strstr(msg, "no query split (it has train, test") != NULL);
    free(msg);
    /* --resume continues: a second epoch, evaluated on query/gallery too */
    CHECK(sh(P("logs/inshop-resume.txt"), "'%s' train --resume '%s' --epochs 2", g_bin, run_dir) ==
          0);
    char *csv = slurp(P("runs/inshop-contrastive/log.csv"));
    int lines = 0;
    for (const char *c = csv; *c; c++) lines += *c == '\n';
    CHECK(lines == 3 && strstr(csv, "nan") == NULL);
    free(csv);
}

/* ---- list files -------------------------------------------------------------------------- */

static void test_lists(void) {
    /* images of 10 classes under lists/img; list files in lists/ and elsewhere */
    fx_mkdirs(P("lists/sub"));
    char rel_rows[4096] = "", abs_rows[8192] = "", root_rows[4096] = "";
    for (int k = 0; k < 10; k++)
        for (int i = 0; i < 2; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "img/c%d_%d.jpg", k, i);
            image(P("lists/%s", rel), k, i);
            size_t n = strlen(rel_rows);
            snprintf(rel_rows + n, sizeof rel_rows - n, "%s %d\n", rel, k);
            n = strlen(abs_rows);
            snprintf(abs_rows + n, sizeof abs_rows - n, "%s %d\n", P("lists/%s", rel), k);
            n = strlen(root_rows);
            snprintf(root_rows + n, sizeof root_rows - n, "%s\t%d\n", rel, 100 + k);
        }
    fx_text(P("lists/rel.txt"), rel_rows);
    fx_text(P("lists/sub/abs.txt"), abs_rows);
    fx_text(P("lists/sub/root.txt"), root_rows); /* relative to --data_root, not to sub/ */
    const char *flags = small_flags();
    /* absolute paths, one list split into class-disjoint halves (5 train, 5 test classes) */
    const char *log = P("logs/list-abs.txt");
    int rc = sh(log, "'%s' train --dataset list --train_list '%s' %s --batch 8 --output '%s'",
                g_bin, P("lists/sub/abs.txt"), flags, P("runs/list-abs"));
    CHECK(rc == 0);
    show_on_failure(rc == 0, log);
    char *rep = slurp(P("runs/list-abs/report.txt"));
    CHECK(strstr(rep, "(10 queries, 10 gallery") != NULL); /* 5 test classes x 2 images */
    free(rep);
    /* relative to the list's folder */
    log = P("logs/list-rel.txt");
    rc = sh(log, "'%s' train --dataset list --train_list '%s' %s --batch 8 --output '%s'", g_bin,
            P("lists/rel.txt"), flags, P("runs/list-rel"));
    CHECK(rc == 0);
    show_on_failure(rc == 0, log);
    /* relative to --data_root, which wins over the list's folder; separate test list */
    fx_text(P("lists/sub/test.txt"), "img/c9_0.jpg 9\nimg/c9_1.jpg 9\nimg/c8_0.jpg 8\n");
    log = P("logs/list-root.txt");
    rc = sh(log,
            "'%s' train --dataset list --train_list '%s' --test_list '%s' --data_root '%s' %s "
            "--batch 8 --output '%s'",
            g_bin, P("lists/sub/root.txt"), P("lists/sub/test.txt"), P("lists"), flags,
            P("runs/list-root"));
    CHECK(rc == 0);
    show_on_failure(rc == 0, log);
    /* a missing file: one error naming the list file and line, before any training */
    fx_text(P("lists/missing.txt"), "img/c0_0.jpg 0\nimg/c1_0.jpg 1\n\nimg/nope.jpg 2\n");
    log = P("logs/list-missing.txt");
    rc = sh(log, "'%s' train --dataset list --train_list '%s' %s --batch 8 --output '%s'", g_bin,
            P("lists/missing.txt"), flags, P("runs/list-missing"));
    CHECK(rc == 1);
    char *msg = slurp(log);
    CHECK(strstr(msg, "missing.txt:4: image 'img/nope.jpg'") != NULL);
    show_on_failure(strstr(msg, "missing.txt:4:") != NULL, log);
    free(msg);
    CHECK(!exists(P("runs/list-missing")));
    /* test_list without train_list is a configuration error */
    CHECK(sh(P("logs/list-cfg.txt"), "'%s' train --dataset list --test_list '%s' %s", g_bin,
             P("lists/rel.txt"), flags) == 2);
}

int main(void) {
    snprintf(g_base, sizeof g_base, "%s/protocol_fixtures_%s", MX_BINARY_DIR, MXP_BACKBONE);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_base);
    if (system(cmd) != 0) return 1;
    fx_mkdirs(P("logs"));
    fx_mkdirs(P("runs"));
    static char bin[1100];
    snprintf(bin, sizeof bin, "%s/metrix", MX_BINARY_DIR);
    g_bin = bin;
    /* many short processes on a shared machine: OpenMP threads sleep instead of spinning */
    setenv("OMP_WAIT_POLICY", "passive", 0);
    if (!exists(g_bin)) {
        fprintf(stderr, "%s: not built\n", g_bin);
        return 1;
    }
    test_protocols();
    test_lists();
    return mx_test_finish("test_train_protocols (" MXP_BACKBONE ")");
}
