/* The glyphs reader on a tiny font subset (fonts-dejavu-core, copied into a temporary root):
 * coverage check against FreeType's character maps, empty glyphs rejected, rendering centred,
 * the class-disjoint split and validation carving, the cache (reuse, invalidation when a font's
 * identity changes, a damaged cache re-rendered, a missing font an error), definition errors,
 * and the glyphs training transform. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ft2build.h>
#include FT_FREETYPE_H

#include "data/dataset_impl.h"
#include "mx_test.h"

#define DJ "/usr/share/fonts/truetype/dejavu/"
static const char *const FONTS[] = {"DejaVuSans.ttf",     "DejaVuSans-Bold.ttf",
                                    "DejaVuSerif.ttf",    "DejaVuSerif-Bold.ttf",
                                    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf"};
#define NF 6
#define K  4 /* min_faces */

static char root[256];

static int copy_file(const char *from, const char *to) {
    FILE *a = fopen(from, "rb"), *b = a ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t n;
    int ok = a && b;
    while (ok && (n = fread(buf, 1, sizeof buf, a)) > 0) ok = fwrite(buf, 1, n, b) == n;
    if (a) fclose(a);
    if (b && fclose(b) != 0) ok = 0;
    return ok;
}

static void write_def(const char *extra) {
    char p[512];
    snprintf(p, sizeof p, "%s/glyphs.conf", root);
    FILE *f = fopen(p, "w");
    if (!f) return;
    fprintf(f, "# test subset\nsize 16\nbox 14\nmin_faces %d\ntest_fraction 0.5\nsplit_seed 3\n",
            K);
    /* ASCII (with the space: empty everywhere) and maths operators (not all in every face) */
    fprintf(f, "range 0020 007E\nrange 2200 22FF\n");
    for (int i = 0; i < NF; i++) fprintf(f, "font %s/%s\n", root, FONTS[i]);
    if (extra) fputs(extra, f);
    fclose(f);
}

static int count_files(const char *suffix) {
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s | grep -c '%s$'", root, suffix);
    FILE *p = popen(cmd, "r");
    int n = -1;
    if (p) {
        if (fscanf(p, "%d", &n) != 1) n = -1;
        pclose(p);
    }
    return n;
}

/* Independent coverage: how many of the faces' character maps hold cp. */
static int cmap_faces(FT_Library lib, uint32_t cp) {
    int n = 0;
    for (int i = 0; i < NF; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, FONTS[i]);
        FT_Face f;
        if (FT_New_Face(lib, p, 0, &f) != 0) continue;
        n += FT_Get_Char_Index(f, cp) != 0;
        FT_Done_Face(f);
    }
    return n;
}

static mx_dataset *open_split(mx_split sp, double val_fraction, uint64_t val_seed) {
    mx_dataset_config c = mx_dataset_config_default();
    c.kind = MX_DS_GLYPHS;
    c.root = root;
    c.split = sp;
    c.val_fraction = val_fraction;
    c.val_seed = val_seed;
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&c, &ds));
    return ds;
}

static int has_class(const mx_dataset *ds, int64_t cp) {
    for (int c = 0; c < mx_dataset_classes(ds); c++)
        if (mx_dataset_class_id(ds, c) == cp) return 1;
    return 0;
}

static void test_coverage_and_reader(void) {
    static mx_glyphs_info info;
    CHECK_OK(mx_ds_glyphs_prepare(root, &info));
    CHECK(info.rendered == 1);
    CHECK(info.n_faces == NF);
    CHECK(info.n_classes > 90 && info.n_classes < 95 + 256);
    CHECK(info.n_train_classes + info.n_test_classes == info.n_classes);
    CHECK(info.n_test_classes == (int64_t)(0.5 * (double)info.n_classes + 0.5));
    int64_t empty = 0;
    for (int k = 0; k < NF; k++) empty += info.face[k].empty;
    CHECK(empty >= NF); /* the space, in every face */

    mx_dataset *tr = open_split(MX_SPLIT_TRAIN, 0, 0), *te = open_split(MX_SPLIT_TEST, 0, 0);
    if (!tr || !te) goto done;
    CHECK(mx_dataset_classes(tr) == info.n_train_classes);
    CHECK(mx_dataset_classes(te) == info.n_test_classes);
    CHECK(mx_dataset_size(tr) + mx_dataset_size(te) == info.n_records);
    /* the coverage check against FreeType's own character maps */
    FT_Library lib;
    CHECK(FT_Init_FreeType(&lib) == 0);
    int below = 0, all = 0;
    for (uint32_t cp = 0x21; cp <= 0x22FF; cp = cp == 0x7E ? 0x2200 : cp + 1) {
        int n = cmap_faces(lib, cp), in = has_class(tr, cp) || has_class(te, cp);
        if (n < K) {
            below++;
            CHECK(!in);
        }
        if (n == NF) { /* in every face, not empty: a class */
            all++;
            CHECK(in);
        }
    }
    FT_Done_FreeType(lib);
    CHECK(below > 0); /* the subset exercises the threshold */
    CHECK(all > 90);
    CHECK(!has_class(tr, 0x20) && !has_class(te, 0x20)); /* empty renderings never count */
    /* class-disjoint, instances = valid faces (<= NF, >= K) */
    for (int c = 0; c < mx_dataset_classes(te); c++)
        CHECK(!has_class(tr, mx_dataset_class_id(te, c)));
    int64_t *per = calloc((size_t)mx_dataset_classes(tr), sizeof(int64_t));
    for (int64_t i = 0; per && i < mx_dataset_size(tr); i++) per[mx_dataset_labels(tr)[i]]++;
    for (int c = 0; per && c < mx_dataset_classes(tr); c++) CHECK(per[c] >= K && per[c] <= NF);
    free(per);
    /* 'H' is rendered, centred, and differs between faces */
    int h0 = -1, h1 = -1;
    for (int64_t i = 0; i < mx_dataset_size(tr) + mx_dataset_size(te); i++) {
        const mx_dataset *ds = i < mx_dataset_size(tr) ? tr : te;
        int64_t j = i < mx_dataset_size(tr) ? i : i - mx_dataset_size(tr);
        if (mx_dataset_class_id(ds, (int)mx_dataset_labels(ds)[j]) != 'H') continue;
        mx_image im;
        CHECK_OK(mx_dataset_image(ds, j, 0, &im));
        CHECK(im.w == 16 && im.h == 16 && im.c == 1);
        double sx = 0, sy = 0, m = 0;
        for (int y = 0; y < 16; y++)
            for (int x = 0; x < 16; x++) {
                double v = im.data[y * 16 + x];
                sx += v * x, sy += v * y, m += v;
            }
        CHECK(m > 255 * 10);
        CHECK_CLOSE(sx / m, 7.5, 1.0, 0);
        CHECK_CLOSE(sy / m, 7.5, 1.0, 0);
        if (h0 < 0) {
            h0 = (int)j;
        } else if (h1 < 0) {
            h1 = (int)j;
            mx_image a;
            CHECK_OK(mx_dataset_image(ds, h0, 0, &a));
            CHECK(memcmp(a.data, im.data, 256) != 0);
            mx_image_free(&a);
        }
        mx_image_free(&im);
    }
    CHECK(h1 >= 0);
done:
    mx_dataset_free(tr);
    mx_dataset_free(te);
}

static void test_split_and_validation(void) {
    mx_dataset *a = open_split(MX_SPLIT_TEST, 0, 0), *b = open_split(MX_SPLIT_TEST, 0, 0);
    mx_dataset *tr = open_split(MX_SPLIT_TRAIN, 0.25, 7), *va = open_split(MX_SPLIT_VAL, 0.25, 7);
    mx_dataset *tr2 = open_split(MX_SPLIT_TRAIN, 0.25, 8);
    if (!a || !b || !tr || !va || !tr2) goto done;
    CHECK(mx_dataset_classes(a) == mx_dataset_classes(b)); /* the split seed fixes the test set */
    for (int c = 0; c < mx_dataset_classes(a); c++)
        CHECK(mx_dataset_class_id(a, c) == mx_dataset_class_id(b, c));
    for (int c = 0; c < mx_dataset_classes(va); c++) {
        CHECK(!has_class(tr, mx_dataset_class_id(va, c)));
        CHECK(!has_class(a, mx_dataset_class_id(va, c)));
    }
    int differ = 0; /* the validation carving follows val_seed */
    for (int c = 0; c < mx_dataset_classes(tr); c++)
        differ += !has_class(tr2, mx_dataset_class_id(tr, c));
    CHECK(differ > 0);
done:
    mx_dataset_free(a);
    mx_dataset_free(b);
    mx_dataset_free(tr);
    mx_dataset_free(va);
    mx_dataset_free(tr2);
}

static void test_cache(void) {
    static mx_glyphs_info i1, i2, i3, i4;
    CHECK_OK(mx_ds_glyphs_prepare(root, &i1));
    CHECK(i1.rendered == 0); /* rendered by the first test */
    CHECK(count_files(".bin") == 1 && count_files(".txt") == 1);
    /* the manifest names the split of every class */
    char mp[4200];
    snprintf(mp, sizeof mp, "%.*s.txt", (int)strlen(i1.cache_path) - 4, i1.cache_path);
    FILE *f = fopen(mp, "r");
    CHECK(f != NULL);
    int lines = 0, tests = 0;
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "U+", 2)) lines++, tests += strstr(line, "\ttest\t") != NULL;
    if (f) fclose(f);
    CHECK(lines == i1.n_classes && tests == i1.n_test_classes);

    /* a font's identity changes (mtime): a new key, rendered again */
    char p[512];
    snprintf(p, sizeof p, "%s/%s", root, FONTS[2]);
    struct timespec ts[2] = {{1000000000, 0}, {1000000000, 0}};
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
    CHECK_OK(mx_ds_glyphs_prepare(root, &i2));
    CHECK(i2.rendered == 1);
    CHECK(strcmp(i1.cache_path, i2.cache_path) != 0);
    CHECK(i2.n_records == i1.n_records); /* the same content, so the same set */
    CHECK(count_files(".bin") == 2);

    /* a damaged cache is not used: rendered again into the same file */
    FILE *c = fopen(i2.cache_path, "r+b");
    CHECK(c != NULL);
    if (c) {
        fseek(c, 100, SEEK_SET);
        int v = fgetc(c);
        fseek(c, 100, SEEK_SET);
        fputc(v ^ 0x55, c);
        fclose(c);
    }
    CHECK_OK(mx_ds_glyphs_prepare(root, &i3));
    CHECK(i3.rendered == 1 && !strcmp(i3.cache_path, i2.cache_path));
    CHECK_OK(mx_ds_glyphs_prepare(root, &i4));
    CHECK(i4.rendered == 0);

    /* a missing font: one clear error naming it */
    char q[520];
    snprintf(q, sizeof q, "%s.away", p);
    CHECK(rename(p, q) == 0);
    mx_dataset_config dc = mx_dataset_config_default();
    dc.kind = MX_DS_GLYPHS;
    dc.root = root;
    mx_dataset *ds = NULL;
    CHECK(mx_dataset_open(&dc, &ds) == MX_ERR_IO && ds == NULL);
    CHECK(strstr(mx_errmsg(), FONTS[2]) != NULL && strstr(mx_errmsg(), "setup.sh") != NULL);
    CHECK(rename(q, p) == 0);
    /* a definition error names the file and entry */
    write_def("bogus 1\n");
    CHECK(mx_ds_glyphs_prepare(root, &i4) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "glyphs.conf") && strstr(mx_errmsg(), "bogus"));
    write_def("range 0030 0039\n"); /* overlaps the first range */
    CHECK(mx_ds_glyphs_prepare(root, &i4) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "ascending"));
    write_def(NULL);
}

static void test_transform(void) {
    uint8_t px[256];
    for (int i = 0; i < 256; i++) px[i] = (uint8_t)((i * 37) & 255);
    mx_image im = {16, 16, 1, px};
    mx_transform_config te = mx_transform_config_glyphs(0, 16),
                        tr = mx_transform_config_glyphs(1, 16);
    CHECK_OK(mx_transform_config_check(&tr));
    CHECK(tr.kind == MX_TF_TRAIN_AFFINE && tr.flip_p == 0);
    float a[256], b[256], c[256];
    mx_rng r;
    mx_rng_seed(&r, 1);
    CHECK_OK(mx_transform_apply(&te, &im, &r, a));
    /* the identity affine map without noise equals the test transform */
    mx_transform_config id = tr;
    id.rot_deg = 0, id.scale_lo = id.scale_hi = 1, id.pad = 0, id.noise_std = 0;
    CHECK_OK(mx_transform_apply(&id, &im, &r, b));
    mx_test_compare("identity affine", b, a, 256, 1e-4, 0);
    /* seeded: the same rng state gives the same output; another differs, values stay in range */
    mx_rng r1, r2;
    mx_rng_seed(&r1, 5);
    mx_rng_seed(&r2, 5);
    CHECK_OK(mx_transform_apply(&tr, &im, &r1, b));
    CHECK_OK(mx_transform_apply(&tr, &im, &r2, c));
    mx_test_compare("seeded affine", b, c, 256, 0, 0);
    CHECK_OK(mx_transform_apply(&tr, &im, &r1, c));
    double diff = 0, lo = 1e9, hi = -1e9;
    for (int i = 0; i < 256; i++) {
        diff += fabs(b[i] - c[i]);
        lo = fmin(lo, c[i]), hi = fmax(hi, c[i]);
    }
    CHECK(diff > 1);
    CHECK(lo >= (0 - 0.15) / 0.3 - 1e-4 && hi <= (1 - 0.15) / 0.3 + 1e-4);
    /* a shift by one pixel (no rotation, scale or noise) moves the image */
    mx_transform_config sh = id;
    sh.pad = 1;
    int moved = 0;
    for (int t = 0; t < 5; t++) {
        CHECK_OK(mx_transform_apply(&sh, &im, &r1, c));
        double d = 0;
        for (int i = 0; i < 256; i++) d += fabs(c[i] - a[i]);
        moved += d > 1;
    }
    CHECK(moved > 0);
}

int main(void) {
    if (access(DJ "DejaVuSans.ttf", R_OK) != 0) {
        fprintf(stderr, "test_data_glyphs: needs fonts-dejavu-core (bash scripts/setup.sh)\n");
        return 1;
    }
    snprintf(root, sizeof root, "%s/mx_glyphs_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) return 1;
    for (int i = 0; i < NF; i++) {
        char a[512], b[512];
        snprintf(a, sizeof a, DJ "%s", FONTS[i]);
        snprintf(b, sizeof b, "%s/%s", root, FONTS[i]);
        CHECK(copy_file(a, b));
    }
    write_def(NULL);
    test_coverage_and_reader();
    test_split_and_validation();
    test_cache();
    test_transform();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", root);
    return mx_test_finish("test_data_glyphs");
}
