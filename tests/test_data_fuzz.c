/* data: robustness of the readers and decoders against damaged files: random truncations and
 * byte flips of valid JPEG, PNG, gzipped IDX, CUB / SOP / In-Shop / list text files and a .mat
 * file. Every call must return (OK or an error with a message); run under ASan + UBSan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

static char base[2048];

static const char *P(const char *rel) {
    static char buf[16][4096];
    static int k;
    k = (k + 1) % 16;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", base, rel);
    return buf[k];
}

static size_t slurp(const char *path, uint8_t *buf, size_t cap) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Writes a damaged copy of src (n bytes): truncated and/or with a few random bytes changed. */
static void damage(mx_rng *r, const uint8_t *src, size_t n, const char *dst) {
    static uint8_t tmp[1 << 16];
    size_t m = n;
    memcpy(tmp, src, n);
    if (mx_rng_below(r, 2)) m = (size_t)mx_rng_below(r, n + 1);
    int flips = (int)mx_rng_below(r, 4);
    for (int k = 0; k < flips && m > 0; k++) tmp[mx_rng_below(r, m)] = (uint8_t)mx_rng_u64(r);
    fx_write(dst, tmp, m);
}

/* status is OK, or an error that left a message */
static int sane(mx_status st) {
    return st == MX_OK || (st != MX_OK && mx_errmsg()[0] != 0);
}

int main(void) {
    snprintf(base, sizeof(base), "%s/data_fixtures/fuzz", MX_BINARY_DIR);
    fx_mkdirs(base);
    static uint8_t orig[1 << 16];
    mx_rng r;
    mx_rng_seed(&r, 2024);
    int insane = 0;

    /* image decoders */
    uint8_t px[24 * 16 * 3];
    fx_pattern(px, 24, 16, 3, 1);
    fx_jpeg(P("ok.jpg"), px, 24, 16, 3, 80);
    fx_png(P("ok.png"), px, 24, 16, PNG_COLOR_TYPE_RGB, 8, NULL, 0);
    const char *imgs[2] = {"ok.jpg", "ok.png"};
    for (int f = 0; f < 2; f++) {
        size_t n = slurp(P(imgs[f]), orig, sizeof(orig));
        CHECK(n > 0);
        for (int t = 0; t < 300; t++) {
            damage(&r, orig, n, P("bad.img"));
            mx_image im;
            mx_status st = mx_image_load(P("bad.img"), (int)mx_rng_below(&r, 20), &im);
            insane += !sane(st);
            if (st == MX_OK) insane += !(im.w > 0 && im.h > 0 && im.data);
            mx_image_free(&im);
        }
    }

    /* text indexes */
    fx_mkdirs(P("cub"));
    fx_mkdirs(P("sop"));
    fx_mkdirs(P("inshop"));
    fx_mkdirs(P("list"));
    const char *cub_img = "1 001.A/a.jpg\n2 002.B/b.jpg\n3 150.C/c.jpg\n";
    const char *cub_lab = "1 1\n2 2\n3 150\n";
    const char *sop = "image_id class_id super_class_id path\n1 1 1 a/1.JPG\n2 2 1 a/2.JPG\n";
    const char *ins = "2\nimage_name item_id evaluation_status\nimg/a.jpg id_00000001 train\n"
                      "img/b.jpg id_00000002 query\n";
    const char *lst = "a.png 1\nb.png 2\nc.png 3\n";
    struct {
        const char *file, *text;
        mx_dataset_kind kind;
        const char *root;
    } texts[5] = {{"cub/images.txt", cub_img, MX_DS_CUB, "cub"},
                  {"cub/image_class_labels.txt", cub_lab, MX_DS_CUB, "cub"},
                  {"sop/Ebay_train.txt", sop, MX_DS_SOP, "sop"},
                  {"inshop/list_eval_partition.txt", ins, MX_DS_INSHOP, "inshop"},
                  {"list/list.txt", lst, MX_DS_LIST, NULL}};
    fx_text(P("cub/images.txt"), cub_img);
    fx_text(P("cub/image_class_labels.txt"), cub_lab);
    for (int f = 0; f < 5; f++) {
        for (int t = 0; t < 300; t++) {
            damage(&r, (const uint8_t *)texts[f].text, strlen(texts[f].text), P(texts[f].file));
            mx_dataset_config c = mx_dataset_config_default();
            c.kind = texts[f].kind;
            c.root = texts[f].root ? P(texts[f].root) : NULL;
            c.list = P("list/list.txt");
            c.split = mx_rng_below(&r, 2) ? MX_SPLIT_TRAIN : MX_SPLIT_TEST;
            if (c.kind == MX_DS_INSHOP && c.split == MX_SPLIT_TEST) c.split = MX_SPLIT_QUERY;
            mx_dataset *ds = NULL;
            mx_status st = mx_dataset_open(&c, &ds);
            insane += !sane(st) || ((st == MX_OK) != (ds != NULL));
            mx_dataset_free(ds);
        }
        fx_text(P(texts[f].file), texts[f].text); /* restore for the next file's cases */
    }

    /* gzipped IDX */
    fx_mkdirs(P("fm"));
    uint8_t img[10 * 784], lab[10];
    for (int i = 0; i < 10 * 784; i++) img[i] = (uint8_t)i;
    for (int i = 0; i < 10; i++) lab[i] = (uint8_t)i;
    uint32_t d3[3] = {10, 28, 28}, d1[1] = {10};
    fx_idx(P("fm/train-images-idx3-ubyte.gz"), 0x803, 3, d3, img, sizeof(img));
    fx_idx(P("fm/train-labels-idx1-ubyte.gz"), 0x801, 1, d1, lab, sizeof(lab));
    const char *idx[2] = {"fm/train-images-idx3-ubyte.gz", "fm/train-labels-idx1-ubyte.gz"};
    for (int f = 0; f < 2; f++) {
        size_t n = slurp(P(idx[f]), orig, sizeof(orig));
        uint8_t keep[1 << 14];
        memcpy(keep, orig, n);
        for (int t = 0; t < 300; t++) {
            damage(&r, keep, n, P(idx[f]));
            mx_dataset_config c = mx_dataset_config_default();
            c.root = P("fm");
            mx_dataset *ds = NULL;
            mx_status st = mx_dataset_open(&c, &ds);
            insane += !sane(st) || ((st == MX_OK) != (ds != NULL));
            mx_dataset_free(ds);
        }
        fx_write(P(idx[f]), keep, n);
    }

    /* .mat (truncations only: byte flips inside matio's own parser are matio's business) */
    {
        char src[4096];
        snprintf(src, sizeof(src), "%s/tests/fixtures/data/cars_annos_zlib.mat", MX_SOURCE_DIR);
        size_t n = slurp(src, orig, sizeof(orig));
        CHECK(n > 0);
        fx_mkdirs(P("cars"));
        for (size_t m = 0; m < n; m += 7) {
            fx_write(P("cars/cars_annos.mat"), orig, m);
            mx_dataset_config c = mx_dataset_config_default();
            c.kind = MX_DS_CARS;
            c.root = P("cars");
            mx_dataset *ds = NULL;
            mx_status st = mx_dataset_open(&c, &ds);
            insane += !sane(st) || ((st == MX_OK) != (ds != NULL));
            mx_dataset_free(ds);
        }
    }
    CHECK(insane == 0);
    return mx_test_finish("test_data_fuzz");
}
