/* data: dataset readers on fixture trees written at run time (IDX, CUB, Cars .mat, SOP, In-Shop,
 * class folders, list files), including malformed files; splits, validation carving, remapping. */
#include <matio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

static char base[2048];

static const char *P(const char *fmt, const char *a) {
    static char buf[64][8192];
    static int k;
    k = (k + 1) % 64;
    char rel[1024];
    snprintf(rel, sizeof(rel), fmt, a ? a : "");
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, rel);
    return buf[k];
}

static void tiny_jpeg(const char *path, int seed) {
    uint8_t px[16 * 12 * 3];
    fx_pattern(px, 16, 12, 3, seed);
    char d[8192];
    snprintf(d, sizeof(d), "%s", path);
    *strrchr(d, '/') = 0;
    fx_mkdirs(d);
    CHECK(fx_jpeg(path, px, 16, 12, 3, 90) == 0);
}

static void tiny_png(const char *path) {
    uint8_t px[8 * 6];
    fx_pattern(px, 8, 6, 1, 0);
    char d[8192];
    snprintf(d, sizeof(d), "%s", path);
    *strrchr(d, '/') = 0;
    fx_mkdirs(d);
    CHECK(fx_png(path, px, 8, 6, PNG_COLOR_TYPE_GRAY, 8, NULL, 0) == 0);
}

/* Opens kind/root/split and expects failure with status st and a message containing a and b. */
static void expect_fail(mx_dataset_config c, mx_status st, const char *a, const char *b) {
    mx_dataset *ds = NULL;
    mx_status got = mx_dataset_open(&c, &ds);
    CHECK(got == st);
    CHECK(ds == NULL);
    if (a && !strstr(mx_errmsg(), a)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", mx_errmsg(), a);
        CHECK(!"message");
    }
    if (b && !strstr(mx_errmsg(), b)) {
        fprintf(stderr, "message '%s' lacks '%s'\n", mx_errmsg(), b);
        CHECK(!"message");
    }
    mx_dataset_free(ds);
}

static mx_dataset *open_ok(mx_dataset_config c) {
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&c, &ds));
    return ds;
}

/* ---- Fashion-MNIST IDX ------------------------------------------------------------------- */

static void write_fmnist(const char *dir, const char *pre, int n, int img_magic, int n_lab,
                         int bad_label_at, int truncate) {
    fx_mkdirs(dir);
    uint8_t *img = malloc((size_t)n * 784), *lab = malloc((size_t)n_lab);
    for (int i = 0; i < n; i++)
        for (int p = 0; p < 784; p++) img[(size_t)i * 784 + p] = (uint8_t)(i * 10 + p % 7);
    for (int i = 0; i < n_lab; i++) lab[i] = (uint8_t)(i % 10);
    if (bad_label_at >= 0) lab[bad_label_at] = 12;
    char p[8192];
    uint32_t d3[3] = {(uint32_t)n, 28, 28}, d1[1] = {(uint32_t)n_lab};
    snprintf(p, sizeof(p), "%s/%s-images-idx3-ubyte.gz", dir, pre);
    CHECK(fx_idx(p, (uint32_t)img_magic, 3, d3, img, (size_t)n * 784 - (truncate ? 100 : 0)) == 0);
    snprintf(p, sizeof(p), "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    CHECK(fx_idx(p, 0x801, 1, d1, lab, (size_t)n_lab) == 0);
    free(img);
    free(lab);
}

static void test_fmnist(void) {
    const char *dir = P("fmnist", NULL);
    write_fmnist(dir, "train", 40, 0x803, 40, -1, 0);
    write_fmnist(dir, "t10k", 20, 0x803, 20, -1, 0);
    mx_dataset_config c = mx_dataset_config_default();
    c.root = dir;
    mx_dataset *ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 20 && mx_dataset_classes(ds) == 5);
        const int64_t *lab = mx_dataset_labels(ds);
        int ok = 1;
        for (int64_t i = 0; i < 20; i++) ok &= lab[i] >= 0 && lab[i] < 5;
        CHECK(ok);
        CHECK(mx_dataset_class_id(ds, 4) == 4);
        CHECK(mx_dataset_path(ds, 0) == NULL);
        mx_image im;
        CHECK_OK(mx_dataset_image(ds, 1, 0, &im)); /* second kept = file record 1, label 1 */
        CHECK(im.w == 28 && im.h == 28 && im.c == 1 && im.data && im.data[0] == 10 &&
              im.data[8] == 11);
        mx_image_free(&im);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 10 && mx_dataset_classes(ds) == 5);
        CHECK(mx_dataset_class_id(ds, 0) == 5 && mx_dataset_class_id(ds, 4) == 9);
        CHECK(mx_dataset_labels(ds)[0] == 0);
    }
    mx_dataset_free(ds);
    /* other class ranges */
    c.split = MX_SPLIT_TRAIN;
    c.class_lo = 2;
    c.class_hi = 7;
    ds = open_ok(c);
    if (ds)
        CHECK(mx_dataset_size(ds) == 24 && mx_dataset_classes(ds) == 6 &&
              mx_dataset_class_id(ds, 0) == 2);
    mx_dataset_free(ds);
    c.class_lo = 7;
    c.class_hi = 2;
    expect_fail(c, MX_ERR_CONFIG, "class_lo", NULL);

    /* validation carving: 2 of the 5 training classes, disjoint, seeded */
    c = mx_dataset_config_default();
    c.root = dir;
    c.val_fraction = 0.4;
    c.val_seed = 9;
    mx_dataset *tr = open_ok(c);
    c.split = MX_SPLIT_VAL;
    mx_dataset *va = open_ok(c), *va2 = open_ok(c);
    if (tr && va && va2) {
        CHECK(mx_dataset_classes(tr) == 3 && mx_dataset_classes(va) == 2);
        CHECK(mx_dataset_size(tr) == 12 && mx_dataset_size(va) == 8);
        int disjoint = 1;
        for (int a = 0; a < 3; a++)
            for (int b = 0; b < 2; b++)
                disjoint &= mx_dataset_class_id(tr, a) != mx_dataset_class_id(va, b);
        CHECK(disjoint);
        CHECK(mx_dataset_class_id(va, 0) == mx_dataset_class_id(va2, 0) &&
              mx_dataset_class_id(va, 1) == mx_dataset_class_id(va2, 1));
        for (int b = 0; b < 2; b++) CHECK(mx_dataset_class_id(va, b) <= 4);
    }
    mx_dataset_free(tr);
    mx_dataset_free(va);
    mx_dataset_free(va2);
    c.val_fraction = 0;
    expect_fail(c, MX_ERR_CONFIG, "val_fraction", NULL);
    c.split = MX_SPLIT_TRAIN;
    c.val_fraction = 0.01;
    expect_fail(c, MX_ERR_CONFIG, "val_fraction", NULL);
    c.val_fraction = 0;
    c.split = MX_SPLIT_QUERY;
    expect_fail(c, MX_ERR_CONFIG, "split", NULL);

    /* malformed IDX files */
    c = mx_dataset_config_default();
    c.root = P("fm_magic", NULL);
    write_fmnist(c.root, "train", 10, 0x804, 10, -1, 0);
    expect_fail(c, MX_ERR_FORMAT, "train-images-idx3-ubyte.gz", "magic");
    c.root = P("fm_trunc", NULL);
    write_fmnist(c.root, "train", 10, 0x803, 10, -1, 1);
    expect_fail(c, MX_ERR_FORMAT, "train-images-idx3-ubyte.gz", "truncated");
    c.root = P("fm_count", NULL);
    write_fmnist(c.root, "train", 10, 0x803, 9, -1, 0);
    expect_fail(c, MX_ERR_FORMAT, "train-labels-idx1-ubyte.gz", "9 labels but");
    c.root = P("fm_label", NULL);
    write_fmnist(c.root, "train", 10, 0x803, 10, 3, 0);
    expect_fail(c, MX_ERR_FORMAT, "record 3: label 12", NULL);
    c.root = P("fm_missing", NULL);
    expect_fail(c, MX_ERR_IO, "fm_missing/train-images-idx3-ubyte.gz", NULL);
    /* header cut short */
    c.root = P("fm_hdr", NULL);
    fx_mkdirs(c.root);
    uint32_t d3[3] = {10, 28, 28};
    CHECK(fx_idx(P("fm_hdr/train-images-idx3-ubyte.gz", NULL), 0x803, 1, d3, NULL, 0) == 0);
    expect_fail(c, MX_ERR_FORMAT, "truncated IDX header", NULL);
}

/* ---- CUB --------------------------------------------------------------------------------- */

static void test_cub(void) {
    const char *root = P("cub", NULL);
    fx_mkdirs(root);
    const char *names[4] = {"001.A/a1.jpg", "002.B/b1.jpg", "101.C/c1.jpg", "150.D/d1.jpg"};
    for (int i = 0; i < 4; i++) tiny_jpeg(P("cub/images/%s", names[i]), i);
    fx_text(P("cub/images.txt", NULL),
            "1 001.A/a1.jpg\n2 002.B/b1.jpg\n3 101.C/c1.jpg\n4 150.D/d1.jpg\n");
    fx_text(P("cub/image_class_labels.txt", NULL), "1 1\n2 2\r\n3 101\n4 150\n\n");
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_CUB;
    c.root = root;
    mx_dataset *ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 2 && mx_dataset_classes(ds) == 2);
        CHECK(mx_dataset_class_id(ds, 1) == 2 && mx_dataset_labels(ds)[1] == 1);
        CHECK(strstr(mx_dataset_path(ds, 1), "cub/images/002.B/b1.jpg") != NULL);
        mx_image im;
        CHECK_OK(mx_dataset_image(ds, 0, 0, &im));
        CHECK(im.w == 16 && im.h == 12 && im.c == 3);
        mx_image_free(&im);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 0) == 101 &&
              mx_dataset_class_id(ds, 1) == 150);
    }
    mx_dataset_free(ds);

    /* malformed */
    c.split = MX_SPLIT_TRAIN;
    c.root = P("cub_bad", NULL);
    fx_mkdirs(c.root);
    remove(P("cub_bad/images.txt", NULL)); /* left over from an earlier run */
    remove(P("cub_bad/images/y.jpg", NULL));
    expect_fail(c, MX_ERR_IO, "cub_bad/images.txt", NULL);
    fx_text(P("cub_bad/images.txt", NULL), "1 001.A/a1.jpg\n2\n");
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n2 2\n");
    expect_fail(c, MX_ERR_FORMAT, "images.txt:2:", NULL);
    fx_text(P("cub_bad/images.txt", NULL), "1 001.A/a1.jpg\n2 x.jpg\n3 y.jpg\n");
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n2 2\n3 250\n");
    expect_fail(c, MX_ERR_FORMAT, "image_class_labels.txt:3:", "250 out of range");
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n3 2\n3 2\n");
    expect_fail(c, MX_ERR_FORMAT, "image_class_labels.txt:2:", "does not match");
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n2 2\n");
    expect_fail(c, MX_ERR_FORMAT, "different counts", NULL);
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n2 2\n3 x\n");
    expect_fail(c, MX_ERR_FORMAT, "image_class_labels.txt:3:", NULL);
    /* a listed image that is missing or truncated fails when decoded, naming the file */
    fx_text(P("cub_bad/image_class_labels.txt", NULL), "1 1\n2 2\n3 3\n");
    ds = open_ok(c);
    if (ds) {
        mx_image im;
        CHECK(mx_dataset_image(ds, 1, 0, &im) == MX_ERR_IO);
        CHECK(strstr(mx_errmsg(), "cub_bad/images/x.jpg") != NULL);
        fx_mkdirs(P("cub_bad/images", NULL));
        fx_text(P("cub_bad/images/y.jpg", NULL), "\xff\xd8\xff\xe0 truncated");
        CHECK(mx_dataset_image(ds, 2, 0, &im) == MX_ERR_FORMAT);
        CHECK(strstr(mx_errmsg(), "cub_bad/images/y.jpg") != NULL);
    }
    mx_dataset_free(ds);
}

/* ---- Cars196 ----------------------------------------------------------------------------- */

/* Written uncompressed: matio 1.5.23 misreads the compressed struct arrays it writes itself
 * (compressed files from scipy / MATLAB read fine, see the cars_annos_zlib.mat fixture). */
static int write_cars_mat(const char *path, int n, const double *cls, const char *const *paths,
                          int as_string_class) {
    mat_t *mat = Mat_CreateVer(path, NULL, MAT_FT_MAT5);
    if (!mat) return -1;
    const char *fields[] = {"relative_im_path", "bbox_x1", "class", "test", NULL};
    size_t dims[2] = {1, (size_t)n};
    matvar_t *st = Mat_VarCreateStruct2("annotations", 2, dims, fields);
    for (int i = 0; i < n; i++) {
        size_t sd[2] = {1, strlen(paths[i])}, d1[2] = {1, 1};
        Mat_VarSetStructFieldByName(
            st, "relative_im_path", (size_t)i,
            Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, sd, (void *)paths[i], 0));
        double x1 = 3, t = i % 2;
        Mat_VarSetStructFieldByName(st, "bbox_x1", (size_t)i,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &x1, 0));
        uint8_t c8 = (uint8_t)cls[i];
        if (as_string_class)
            Mat_VarSetStructFieldByName(
                st, "class", (size_t)i,
                Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, sd, (void *)paths[i], 0));
        else if (i % 2)
            Mat_VarSetStructFieldByName(
                st, "class", (size_t)i,
                Mat_VarCreate(NULL, MAT_C_UINT8, MAT_T_UINT8, 2, d1, &c8, 0));
        else
            Mat_VarSetStructFieldByName(
                st, "class", (size_t)i,
                Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, (void *)&cls[i], 0));
        Mat_VarSetStructFieldByName(st, "test", (size_t)i,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &t, 0));
    }
    int rc = Mat_VarWrite(mat, st, MAT_COMPRESSION_NONE);
    Mat_VarFree(st);
    Mat_Close(mat);
    return rc;
}

static void test_cars(void) {
    const char *root = P("cars", NULL);
    fx_mkdirs(root);
    const char *paths[5] = {"car_ims/000001.jpg", "car_ims/000002.jpg", "car_ims/000003.jpg",
                            "car_ims/000004.jpg", "car_ims/000005.jpg"};
    const double cls[5] = {1, 98, 99, 196, 98};
    for (int i = 0; i < 5; i++) tiny_jpeg(P("cars/%s", paths[i]), i);
    CHECK(write_cars_mat(P("cars/cars_annos.mat", NULL), 5, cls, paths, 0) == 0);
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_CARS;
    c.root = root;
    mx_dataset *ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 3 && mx_dataset_classes(ds) == 2);
        CHECK(mx_dataset_class_id(ds, 0) == 1 && mx_dataset_class_id(ds, 1) == 98);
        CHECK(mx_dataset_labels(ds)[2] == 1);
        CHECK(strstr(mx_dataset_path(ds, 2), "cars/car_ims/000005.jpg") != NULL);
        mx_image im;
        CHECK_OK(mx_dataset_image(ds, 2, 0, &im));
        mx_image_free(&im);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    ds = open_ok(c);
    if (ds) CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 1) == 196);
    mx_dataset_free(ds);
    /* a zlib-compressed file written by scipy (tests/ref/data_cars_mat.py) */
    {
        char src[4096];
        snprintf(src, sizeof(src), "%s/tests/fixtures/data/cars_annos_zlib.mat", MX_SOURCE_DIR);
        FILE *f = fopen(src, "rb");
        CHECK(f != NULL);
        if (f) {
            uint8_t buf[8192];
            size_t n = fread(buf, 1, sizeof(buf), f);
            fclose(f);
            fx_mkdirs(P("cars_z", NULL));
            fx_write(P("cars_z/cars_annos.mat", NULL), buf, n);
            c.root = P("cars_z", NULL);
            c.split = MX_SPLIT_TRAIN;
            ds = open_ok(c);
            if (ds)
                CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 1) == 98 &&
                      strstr(mx_dataset_path(ds, 1), "cars_z/car_ims/000002.jpg"));
            mx_dataset_free(ds);
            c.split = MX_SPLIT_TEST;
            ds = open_ok(c);
            if (ds) CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 0) == 99);
            mx_dataset_free(ds);
        }
    }
    /* malformed */
    c.root = P("cars_bad", NULL);
    fx_mkdirs(c.root);
    remove(P("cars_bad/cars_annos.mat", NULL));
    expect_fail(c, MX_ERR_IO, "cars_bad/cars_annos.mat", NULL);
    const double bad[3] = {1, 200, 3};
    CHECK(write_cars_mat(P("cars_bad/cars_annos.mat", NULL), 3, bad, paths, 0) == 0);
    expect_fail(c, MX_ERR_FORMAT, "annotations(2).class", "out of range");
    CHECK(write_cars_mat(P("cars_bad/cars_annos.mat", NULL), 3, cls, paths, 1) == 0);
    expect_fail(c, MX_ERR_FORMAT, "annotations(1).class", NULL);
    fx_text(P("cars_bad/cars_annos.mat", NULL), "MATLAB 5.0 MAT-file, but not really");
    expect_fail(c, MX_ERR_IO, "cars_annos.mat", NULL);
}

/* ---- SOP, In-Shop ------------------------------------------------------------------------ */

static void test_sop_inshop(void) {
    fx_mkdirs(P("sop", NULL));
    fx_text(
        P("sop/Ebay_train.txt", NULL),
        "image_id class_id super_class_id path\n1 1 1 bicycle_final/1_0.JPG\n"
        "2 1 1 bicycle_final/1_1.JPG\n3 2 1 bicycle_final/2_0.JPG\n4 3 2 chair_final/3_0.JPG\n");
    fx_text(P("sop/Ebay_test.txt", NULL),
            "image_id class_id super_class_id path\n1 11319 1 bicycle_final/9_0.JPG\n"
            "2 11320 3 fan_final/9_1.JPG\n");
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_SOP;
    c.root = P("sop", NULL);
    mx_dataset *ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 4 && mx_dataset_classes(ds) == 3);
        CHECK(mx_dataset_labels(ds)[1] == 0 && mx_dataset_labels(ds)[3] == 2);
        CHECK(strstr(mx_dataset_path(ds, 3), "sop/chair_final/3_0.JPG") != NULL);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    ds = open_ok(c);
    if (ds) CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 1) == 11320);
    mx_dataset_free(ds);
    c.root = P("sop_bad", NULL);
    fx_mkdirs(c.root);
    fx_text(P("sop_bad/Ebay_test.txt", NULL), "1 1 1 a.JPG\n");
    expect_fail(c, MX_ERR_FORMAT, "Ebay_test.txt:1:", "header");
    fx_text(P("sop_bad/Ebay_test.txt", NULL),
            "image_id class_id super_class_id path\n1 1 1 a.JPG\n2 x 1 b.JPG\n");
    expect_fail(c, MX_ERR_FORMAT, "Ebay_test.txt:3:", NULL);
    fx_text(P("sop_bad/Ebay_test.txt", NULL),
            "image_id class_id super_class_id path\n1 1 13 a.JPG\n");
    expect_fail(c, MX_ERR_FORMAT, "Ebay_test.txt:2:", "out of range");
    c.split = MX_SPLIT_TRAIN;
    expect_fail(c, MX_ERR_IO, "sop_bad/Ebay_train.txt", NULL);

    fx_mkdirs(P("inshop/Eval", NULL));
    rmdir(P("inshop/Img/img/MEN", NULL)); /* left over from an earlier run */
    rmdir(P("inshop/Img/img", NULL));
    rmdir(P("inshop/Img", NULL));
    fx_text(P("inshop/Eval/list_eval_partition.txt", NULL),
            "7\nimage_name item_id evaluation_status\n"
            "img/WOMEN/Dresses/id_00000001/01.jpg id_00000001 train\n"
            "img/WOMEN/Dresses/id_00000002/01.jpg id_00000002 train\n"
            "img/MEN/id_00000005/01.jpg   id_00000005   query\n"
            "img/MEN/id_00000007/01.jpg id_00000007 query\n"
            "img/MEN/id_00000007/02.jpg id_00000007 gallery\n"
            "img/MEN/id_00000005/02.jpg id_00000005 gallery\n"
            "img/MEN/id_00000009/01.jpg id_00000009 gallery\n");
    c = mx_dataset_config_default();
    c.kind = MX_DS_INSHOP;
    c.root = P("inshop", NULL);
    ds = open_ok(c);
    if (ds) CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 1) == 2);
    mx_dataset_free(ds);
    c.split = MX_SPLIT_QUERY;
    mx_dataset *q = open_ok(c);
    c.split = MX_SPLIT_GALLERY;
    mx_dataset *g = open_ok(c);
    if (q && g) {
        CHECK(mx_dataset_size(q) == 2 && mx_dataset_size(g) == 3);
        CHECK(mx_dataset_classes(q) == 3 && mx_dataset_classes(g) == 3);
        const int64_t *lq = mx_dataset_labels(q), *lg = mx_dataset_labels(g);
        CHECK(lq[0] == 0 && lq[1] == 1 && lg[0] == 1 && lg[1] == 0 && lg[2] == 2);
        CHECK(mx_dataset_class_id(g, 2) == 9);
        CHECK(strstr(mx_dataset_path(q, 0), "inshop/img/MEN/id_00000005/01.jpg") != NULL);
    }
    mx_dataset_free(q);
    mx_dataset_free(g);
    /* the Img/img nesting of some packages */
    fx_mkdirs(P("inshop/Img/img/MEN", NULL));
    c.split = MX_SPLIT_QUERY;
    q = open_ok(c);
    if (q) CHECK(strstr(mx_dataset_path(q, 0), "inshop/Img/img/MEN/id_00000005/01.jpg") != NULL);
    mx_dataset_free(q);
    c.split = MX_SPLIT_TEST;
    expect_fail(c, MX_ERR_CONFIG, "split", NULL);
    c.split = MX_SPLIT_TRAIN;
    c.root = "";
    expect_fail(c, MX_ERR_CONFIG, "dataset.root", NULL);
    c.root = P("inshop_bad", NULL);
    fx_mkdirs(c.root);
    fx_text(P("inshop_bad/list_eval_partition.txt", NULL),
            "3\nimage_name item_id evaluation_status\na.jpg id_00000001 train\n");
    expect_fail(c, MX_ERR_FORMAT, "list_eval_partition.txt:1:", "says 3 images");
    fx_text(P("inshop_bad/list_eval_partition.txt", NULL),
            "2\nimage_name item_id evaluation_status\na.jpg id_00000001 train\nb.jpg id_2 test\n");
    expect_fail(c, MX_ERR_FORMAT, "list_eval_partition.txt:4:", "status 'test'");
    fx_text(P("inshop_bad/list_eval_partition.txt", NULL),
            "1\nimage_name item_id evaluation_status\na.jpg 00000001 train\n");
    expect_fail(c, MX_ERR_FORMAT, "list_eval_partition.txt:3:", NULL);
    fx_text(P("inshop_bad/list_eval_partition.txt", NULL), "many\n");
    expect_fail(c, MX_ERR_FORMAT, "list_eval_partition.txt:1:", "count");
}

/* ---- class folders and list files -------------------------------------------------------- */

static void test_folder_list(void) {
    const char *cls[4] = {"d_cls", "b_cls", "a_cls", "c_cls"};
    for (int k = 0; k < 4; k++) {
        char rel[64];
        snprintf(rel, sizeof(rel), "folder/%s/img1.jpg", cls[k]);
        tiny_jpeg(P("%s", rel), k);
        snprintf(rel, sizeof(rel), "folder/%s/img0.PNG", cls[k]);
        tiny_png(P("%s", rel));
        snprintf(rel, sizeof(rel), "folder/%s/notes.txt", cls[k]);
        fx_text(P("%s", rel), "not an image");
    }
    fx_text(P("folder/README", NULL), "a file at the top level is ignored");
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_FOLDER;
    c.root = P("folder", NULL);
    mx_dataset *ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 4 && mx_dataset_classes(ds) == 2);
        CHECK(strstr(mx_dataset_path(ds, 0), "folder/a_cls/img0.PNG") != NULL);
        CHECK(strstr(mx_dataset_path(ds, 3), "folder/b_cls/img1.jpg") != NULL);
        CHECK(mx_dataset_labels(ds)[2] == 1);
        mx_image im;
        CHECK_OK(mx_dataset_image(ds, 0, 0, &im));
        CHECK(im.c == 1 && im.w == 8);
        mx_image_free(&im);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 4 && mx_dataset_class_id(ds, 0) == 2);
        CHECK(strstr(mx_dataset_path(ds, 0), "folder/c_cls/img0.PNG") != NULL);
    }
    mx_dataset_free(ds);
    c.root = P("no_such_folder", NULL);
    expect_fail(c, MX_ERR_IO, "no_such_folder", NULL);

    fx_mkdirs(P("list", NULL));
    /* the listed files must exist: under the list's folder, and under another root */
    const char *names[] = {"x/1.png", "x/with space.png", "x/3.png", "x/4.png",
                           "x/5.png", "t/1.png",          "t/2.png", "x/2.png"};
    for (int i = 0; i < 8; i++) {
        tiny_png(P("list/%s", names[i]));
        tiny_png(P("list_root/%s", names[i]));
    }
    fx_text(P("list/list.txt", NULL),
            "# comment\nx/1.png 7\nx/with space.png\t3\n\nx/3.png 9\nx/4.png 5\nx/5.png 3\n");
    c = mx_dataset_config_default();
    c.kind = MX_DS_LIST;
    c.list = P("list/list.txt", NULL);
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 3 && mx_dataset_classes(ds) == 2);
        CHECK(mx_dataset_class_id(ds, 0) == 3 && mx_dataset_class_id(ds, 1) == 5);
        CHECK(strstr(mx_dataset_path(ds, 0), "list/x/with space.png") != NULL);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TEST;
    char other_root[8192];
    snprintf(other_root, sizeof other_root, "%s", P("list_root", NULL));
    c.root = other_root; /* a root wins over the list's folder */
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 2 && mx_dataset_class_id(ds, 1) == 9);
        CHECK(strstr(mx_dataset_path(ds, 0), "list_root/x/1.png") != NULL);
    }
    mx_dataset_free(ds);
    /* absolute paths are taken as they are, with or without a root */
    char abs_list[16384];
    snprintf(abs_list, sizeof abs_list, "%s 1\n%s 2\nx/3.png 3\n", P("list/x/1.png", NULL),
             P("list_root/x/4.png", NULL));
    fx_text(P("list/abs.txt", NULL), abs_list);
    c.list = P("list/abs.txt", NULL);
    c.split = MX_SPLIT_TRAIN;
    c.root = NULL;
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 2);
        CHECK(!strcmp(mx_dataset_path(ds, 0), P("list/x/1.png", NULL)));
        CHECK(!strcmp(mx_dataset_path(ds, 1), P("list_root/x/4.png", NULL)));
    }
    mx_dataset_free(ds);
    c.root = other_root;
    ds = open_ok(c);
    if (ds) CHECK(!strcmp(mx_dataset_path(ds, 0), P("list/x/1.png", NULL)));
    mx_dataset_free(ds);
    /* a missing file fails when the list is read, naming the list file and line */
    fx_text(P("list/gone.txt", NULL), "x/1.png 1\n# two\nx/nope.png 2\n");
    c.list = P("list/gone.txt", NULL);
    c.root = NULL;
    expect_fail(c, MX_ERR_IO, "gone.txt:3: image 'x/nope.png'", "No such file");
    c.list = P("list/list.txt", NULL);
    c.split = MX_SPLIT_TEST;
    /* separate train / test lists: every class of each file */
    fx_text(P("list/test.txt", NULL), "t/1.png 0\nt/2.png 100\n");
    c.root = NULL;
    c.test_list = P("list/test.txt", NULL);
    ds = open_ok(c);
    if (ds) {
        CHECK(mx_dataset_size(ds) == 2 && mx_dataset_classes(ds) == 2);
        CHECK(mx_dataset_class_id(ds, 1) == 100);
        CHECK(strstr(mx_dataset_path(ds, 0), "list/t/1.png") != NULL);
    }
    mx_dataset_free(ds);
    c.split = MX_SPLIT_TRAIN;
    ds = open_ok(c);
    if (ds) CHECK(mx_dataset_size(ds) == 5 && mx_dataset_classes(ds) == 4);
    mx_dataset_free(ds);
    c.test_list = NULL;
    c.split = MX_SPLIT_TEST;
    fx_text(P("list/bad.txt", NULL), "x/1.png 7\nx/2.png\n");
    c.list = P("list/bad.txt", NULL);
    expect_fail(c, MX_ERR_FORMAT, "bad.txt:2:", NULL);
    fx_text(P("list/bad.txt", NULL), "x/1.png 7\nx/2.png 1\nx/2.png -4\n"); /* x/2.png exists */
    expect_fail(c, MX_ERR_FORMAT, "bad.txt:3:", "out of range");
    c.list = P("list/missing.txt", NULL);
    expect_fail(c, MX_ERR_IO, "list/missing.txt", NULL);
    c.list = NULL;
    expect_fail(c, MX_ERR_CONFIG, "dataset.list", NULL);
}

int main(void) {
    snprintf(base, sizeof(base), "%s/data_fixtures/readers", MX_BINARY_DIR);
    if (fx_mkdirs(base) != 0) {
        fprintf(stderr, "cannot create %s\n", base);
        return 1;
    }
    mx_log_set(NULL, NULL, MX_LOG_ERROR);
    test_fmnist();
    test_cub();
    test_cars();
    test_sop_inshop();
    test_folder_list();
    return mx_test_finish("test_data_readers");
}
