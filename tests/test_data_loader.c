/* data: the loader. Same batches for 0, 1 and 3 workers; evaluation order without augmentation;
 * labels follow the sampler; decode errors reach the caller; free and restart while workers
 * run. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

static char base[2048];

static void write_idx_dataset(const char *dir, int n) {
    fx_mkdirs(dir);
    uint8_t *img = malloc((size_t)n * 784), lab[1000];
    for (int i = 0; i < n; i++) {
        for (int p = 0; p < 784; p++) img[(size_t)i * 784 + p] = (uint8_t)((i * 37 + p * 5) % 251);
        lab[i] = (uint8_t)(i % 10);
    }
    uint32_t d3[3] = {(uint32_t)n, 28, 28}, d1[1] = {(uint32_t)n};
    char p[8192];
    snprintf(p, sizeof(p), "%s/train-images-idx3-ubyte.gz", dir);
    fx_idx(p, 0x803, 3, d3, img, (size_t)n * 784);
    snprintf(p, sizeof(p), "%s/train-labels-idx1-ubyte.gz", dir);
    fx_idx(p, 0x801, 1, d1, lab, (size_t)n);
    free(img);
}

/* Runs one epoch; returns all images / labels concatenated (caller frees). */
static int64_t run_epoch(const mx_dataset *ds, const mx_sampler *s, int eval_batch,
                         const mx_transform_config *tf, int workers, int64_t epoch, float **img,
                         int64_t **lab) {
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = workers;
    lc.prefetch = 2;
    lc.seed = 99;
    mx_loader *ld = NULL;
    CHECK_OK(mx_loader_create(ds, s, eval_batch, tf, &lc, &ld));
    if (!ld) return 0;
    const int B = mx_loader_batch_size(ld);
    const int64_t per = mx_loader_image_floats(ld), nb = mx_loader_batches(ld);
    *img = malloc((size_t)(nb * B * per) * sizeof(float));
    *lab = malloc((size_t)(nb * B) * sizeof(int64_t));
    float *bi = malloc((size_t)(B * per) * sizeof(float));
    int64_t *bl = malloc((size_t)B * sizeof(int64_t)), total = 0, n;
    CHECK_OK(mx_loader_start_epoch(ld, epoch));
    for (;;) {
        mx_status st = mx_loader_next(ld, bi, bl, &n);
        CHECK_OK(st);
        if (st != MX_OK || n == 0) break;
        memcpy(*img + total * per, bi, (size_t)(n * per) * sizeof(float));
        memcpy(*lab + total, bl, (size_t)n * sizeof(int64_t));
        total += n;
    }
    CHECK_OK(mx_loader_next(ld, bi, bl, &n)); /* past the end: still 0 */
    CHECK(n == 0);
    free(bi);
    free(bl);
    mx_loader_free(ld);
    return total;
}

static void test_fmnist_loader(void) {
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/fm", base);
    write_idx_dataset(dir, 130);
    mx_dataset_config dc = mx_dataset_config_default();
    dc.root = dir;
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&dc, &ds)); /* classes 0-4: 65 images */
    if (!ds) return;
    mx_sampler_config sc = mx_sampler_config_default();
    sc.batch_size = 8;
    sc.seed = 1;
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&sc, mx_dataset_labels(ds), mx_dataset_size(ds),
                               mx_dataset_classes(ds), &s));
    mx_transform_config tf = mx_transform_config_fmnist(1);
    float *i0, *i1, *i3;
    int64_t *l0, *l1, *l3;
    int64_t n0 = run_epoch(ds, s, 0, &tf, 0, 2, &i0, &l0);
    int64_t n1 = run_epoch(ds, s, 0, &tf, 1, 2, &i1, &l1);
    int64_t n3 = run_epoch(ds, s, 0, &tf, 3, 2, &i3, &l3);
    CHECK(n0 == 64 && n1 == 64 && n3 == 64);
    const size_t fl = (size_t)64 * 784;
    CHECK(!memcmp(i0, i1, fl * sizeof(float)) && !memcmp(i0, i3, fl * sizeof(float)));
    CHECK(!memcmp(l0, l1, 64 * sizeof(int64_t)) && !memcmp(l0, l3, 64 * sizeof(int64_t)));
    /* labels agree with the sampler's indices */
    int64_t idx[64];
    CHECK_OK(mx_sampler_epoch(s, 2, idx));
    int ok = 1;
    for (int k = 0; k < 64; k++) ok &= l0[k] == mx_dataset_labels(ds)[idx[k]];
    CHECK(ok);
    /* another epoch differs */
    float *i4;
    int64_t *l4;
    run_epoch(ds, s, 0, &tf, 3, 3, &i4, &l4);
    CHECK(memcmp(i0, i4, fl * sizeof(float)) != 0);
    free(i4);
    free(l4);
    free(i0);
    free(i1);
    free(i3);
    free(l0);
    free(l1);
    free(l3);

    /* evaluation: in order, last batch short, no augmentation */
    mx_transform_config te = mx_transform_config_fmnist(0);
    te.channels = 3;
    int64_t ne = run_epoch(ds, NULL, 10, &te, 2, 0, &i0, &l0);
    CHECK(ne == 65);
    float want[3 * 784];
    mx_image im;
    CHECK_OK(mx_dataset_image(ds, 64, 0, &im));
    CHECK_OK(mx_transform_apply(&te, &im, NULL, want));
    mx_image_free(&im);
    if (ne == 65) {
        mx_test_compare("eval last image", i0 + 64 * 3 * 784, want, 3 * 784, 0, 0);
        CHECK(l0[64] == mx_dataset_labels(ds)[64] && l0[3] == mx_dataset_labels(ds)[3]);
    }
    free(i0);
    free(l0);

    /* free while the workers run, restart mid-epoch */
    mx_loader_config lc = {3, 2, 5, 0, 1};
    for (int t = 0; t < 5; t++) {
        mx_loader *ld = NULL;
        CHECK_OK(mx_loader_create(ds, s, 0, &tf, &lc, &ld));
        CHECK_OK(mx_loader_start_epoch(ld, t));
        if (t % 2) {
            float buf[8 * 784];
            int64_t lb[8], n;
            CHECK_OK(mx_loader_next(ld, buf, lb, &n));
            CHECK(n == 8);
            CHECK_OK(mx_loader_start_epoch(ld, t + 1));
            CHECK_OK(mx_loader_next(ld, buf, lb, &n));
            CHECK(n == 8);
        }
        mx_loader_free(ld);
    }
    /* misuse: next before start */
    mx_loader *ld = NULL;
    CHECK_OK(mx_loader_create(ds, s, 0, &tf, &lc, &ld));
    float buf[8 * 784];
    int64_t lb[8], n;
    CHECK(mx_loader_next(ld, buf, lb, &n) == MX_ERR_ARG);
    mx_loader_free(ld);
    CHECK(mx_loader_create(ds, NULL, 8, &tf, &lc, &ld) == MX_ERR_CONFIG && ld == NULL);
    CHECK(strstr(mx_errmsg(), "test transform") != NULL);
    lc.prefetch = 0;
    CHECK(mx_loader_create(ds, s, 0, &tf, &lc, &ld) == MX_ERR_CONFIG && ld == NULL);
    mx_loader_free(NULL);
    mx_sampler_free(s);
    mx_dataset_free(ds);
}

static void test_jpeg_loader(void) {
    /* a list dataset of JPEGs of different sizes (6 classes, 3 images each), one corrupt */
    char dir[4096], list[8192], p[8192];
    snprintf(dir, sizeof(dir), "%s/jpg", base);
    fx_mkdirs(dir);
    char text[4096] = "";
    for (int i = 0; i < 18; i++) {
        int w = 20 + 7 * i, h = 60 - 2 * i;
        uint8_t *px = malloc((size_t)w * h * 3);
        fx_pattern(px, w, h, 3, i);
        snprintf(p, sizeof(p), "%s/%02d.jpg", dir, i);
        fx_jpeg(p, px, w, h, 3, 90);
        free(px);
        char line[64];
        snprintf(line, sizeof(line), "%02d.jpg %d\n", i, i % 6);
        strcat(text, line);
    }
    strcat(text, "bad.jpg 1\n");
    snprintf(p, sizeof(p), "%s/bad.jpg", dir);
    fx_text(p, "\xff\xd8\xff not really");
    snprintf(list, sizeof(list), "%s/list.txt", dir);
    fx_text(list, text);
    mx_dataset_config dc = mx_dataset_config_default();
    dc.kind = MX_DS_LIST;
    dc.list = list;
    dc.class_lo = 0;
    dc.class_hi = 5;
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&dc, &ds));
    if (!ds) return;
    CHECK(mx_dataset_size(ds) == 19);
    /* m per class over the good images only: drop bad.jpg by sampling from the first 18 */
    mx_sampler_config sc = {MX_SAMPLER_M_PER_CLASS, 6, 2, 3};
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&sc, mx_dataset_labels(ds), 18, 6, &s));
    mx_transform_config tf = mx_transform_config_default(MX_TF_TRAIN_RRC);
    tf.out_size = 16;
    float *a, *b;
    int64_t *la, *lb;
    int64_t na = run_epoch(ds, s, 0, &tf, 1, 0, &a, &la);
    int64_t nb = run_epoch(ds, s, 0, &tf, 3, 0, &b, &lb);
    CHECK(na == 18 && nb == 18);
    CHECK(!memcmp(a, b, (size_t)18 * 3 * 256 * sizeof(float)));
    CHECK(!memcmp(la, lb, 18 * sizeof(int64_t)));
    int pairs = 1;
    for (int k = 0; k < 18; k += 2) pairs &= la[k] == la[k + 1];
    CHECK(pairs);
    free(a);
    free(b);
    free(la);
    free(lb);
    /* evaluation over all 19: the corrupt file's batch reports an error naming it */
    mx_transform_config te = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP);
    te.resize_size = 20;
    te.out_size = 16;
    for (int workers = 0; workers <= 2; workers += 2) {
        mx_loader_config lc = {workers, 2, 0, 0, 1};
        mx_loader *ld = NULL;
        CHECK_OK(mx_loader_create(ds, NULL, 5, &te, &lc, &ld));
        if (!ld) continue;
        CHECK(mx_loader_batches(ld) == 4);
        CHECK_OK(mx_loader_start_epoch(ld, 0));
        float *img = malloc(5 * 3 * 256 * sizeof(float));
        int64_t lab[5], n, total = 0;
        mx_status st;
        int errors = 0;
        for (int t = 0; t < 4; t++) {
            st = mx_loader_next(ld, img, lab, &n);
            if (st != MX_OK) {
                errors++;
                CHECK(st == MX_ERR_FORMAT && strstr(mx_errmsg(), "bad.jpg") != NULL);
            }
            total += n;
        }
        CHECK(errors == 1 && total == 15);
        free(img);
        mx_loader_free(ld);
    }
    mx_sampler_free(s);
    mx_dataset_free(ds);
}

int main(void) {
    snprintf(base, sizeof(base), "%s/data_fixtures/loader", MX_BINARY_DIR);
    if (fx_mkdirs(base) != 0) return 1;
    test_fmnist_loader();
    test_jpeg_loader();
    return mx_test_finish("test_data_loader");
}
