/* data: JPEG / PNG decoding (round trips, DCT scaling, PNG colour models, corrupt files) and
 * transforms (resize, centre crop, resized crop vs torchvision; RandomResizedCrop parameters;
 * Fashion-MNIST pad-crop; normalisation). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_impl.h"
#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

static char dir[2048];

static const char *fpath(const char *name) {
    static char buf[8][8192];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof(buf[k]), "%s/%s", dir, name);
    return buf[k];
}

static void test_jpeg(void) {
    const int w = 64, h = 48;
    uint8_t *px = malloc((size_t)w * h * 3);
    fx_pattern(px, w, h, 3, 0);
    CHECK(fx_jpeg(fpath("rgb.jpg"), px, w, h, 3, 95) == 0);
    mx_image im;
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 0, &im));
    CHECK(im.w == w && im.h == h && im.c == 3);
    int maxd = 0;
    for (size_t i = 0; im.data && i < (size_t)w * h * 3; i++)
        maxd = MXT_MAX(maxd, abs((int)im.data[i] - (int)px[i]));
    if (maxd > 6) fprintf(stderr, "jpeg maxd %d\n", maxd);
    CHECK(maxd <= 6); /* quality 95, 4:4:4, smooth image */
    mx_image_free(&im);

    /* DCT scaling: the smallest eighth-scale with shorter side >= min_short */
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 12, &im));
    CHECK(im.w == 16 && im.h == 12);
    /* the scaled pixel approximates the mean of its 4x4 source block */
    if (im.data && im.w == 16) {
        maxd = 0;
        for (int y = 0; y < 12; y++)
            for (int x = 0; x < 16; x++)
                for (int k = 0; k < 3; k++) {
                    int s = 0;
                    for (int dy = 0; dy < 4; dy++)
                        for (int dx = 0; dx < 4; dx++)
                            s += px[((size_t)(4 * y + dy) * w + 4 * x + dx) * 3 + k];
                    maxd = MXT_MAX(maxd, abs((int)im.data[((size_t)y * 16 + x) * 3 + k] - s / 16));
                }
        CHECK(maxd <= 8);
    }
    mx_image_free(&im);
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 13, &im));
    CHECK(im.w == 32 && im.h == 24); /* 1/2: 3/8 would fit but is not a fast scale */
    mx_image_free(&im);
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 6, &im));
    CHECK(im.w == 8 && im.h == 6); /* 1/8 */
    mx_image_free(&im);
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 25, &im));
    CHECK(im.w == w && im.h == h); /* 1/2 gives 24 < 25: full size */
    mx_image_free(&im);
    CHECK_OK(mx_image_load(fpath("rgb.jpg"), 1000, &im)); /* larger than the image: full size */
    CHECK(im.w == w && im.h == h);
    mx_image_free(&im);

    /* gray JPEG stays 1 channel */
    uint8_t *g = malloc((size_t)w * h);
    fx_pattern(g, w, h, 1, 1);
    CHECK(fx_jpeg(fpath("gray.jpg"), g, w, h, 1, 95) == 0);
    CHECK_OK(mx_image_load(fpath("gray.jpg"), 0, &im));
    CHECK(im.c == 1 && im.w == w && im.h == h);
    maxd = 0;
    for (size_t i = 0; im.data && i < (size_t)w * h; i++)
        maxd = MXT_MAX(maxd, abs((int)im.data[i] - (int)g[i]));
    CHECK(maxd <= 4);
    mx_image_free(&im);

    /* CMYK (stored inverted, as Adobe writes it): R = C K / 255 */
    {
        uint8_t cmyk[8 * 8 * 4], *q = cmyk;
        for (int i = 0; i < 64; i++, q += 4) {
            q[0] = 200;
            q[1] = 100;
            q[2] = 255;
            q[3] = 128;
        }
        tjhandle tj = tjInitCompress();
        unsigned char *jb = NULL;
        unsigned long js = 0;
        CHECK(tjCompress2(tj, cmyk, 8, 0, 8, TJPF_CMYK, &jb, &js, TJSAMP_444, 100, 0) == 0);
        CHECK_OK(mx_image_decode(jb, js, "cmyk.jpg", 0, &im));
        CHECK(im.c == 3 && im.w == 8);
        if (im.data) {
            CHECK(abs(im.data[0] - 200 * 128 / 255) <= 3);
            CHECK(abs(im.data[1] - 100 * 128 / 255) <= 3);
            CHECK(abs(im.data[2] - 128) <= 3);
        }
        mx_image_free(&im);
        tjFree(jb);
        tjDestroy(tj);
    }

    /* truncated JPEG: an error naming the file, no crash */
    FILE *f = fopen(fpath("rgb.jpg"), "rb");
    uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    fx_write(fpath("trunc.jpg"), buf, n / 2);
    CHECK(mx_image_load(fpath("trunc.jpg"), 0, &im) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "trunc.jpg") != NULL);
    CHECK(im.data == NULL);
    fx_write(fpath("hdr.jpg"), buf, 20); /* header cut short */
    mx_status hs = mx_image_load(fpath("hdr.jpg"), 0, &im);
    if (hs != MX_ERR_FORMAT) fprintf(stderr, "hdr.jpg: %d %s\n", hs, mx_errmsg());
    CHECK(hs == MX_ERR_FORMAT);
    fx_text(fpath("junk.jpg"), "this is not an image at all");
    CHECK(mx_image_load(fpath("junk.jpg"), 0, &im) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "junk.jpg") && strstr(mx_errmsg(), "magic"));
    CHECK(mx_image_load(fpath("missing.jpg"), 0, &im) == MX_ERR_IO);
    CHECK(strstr(mx_errmsg(), "missing.jpg") != NULL);
    free(px);
    free(g);
}

static void test_png(void) {
    const int w = 5, h = 3;
    mx_image im;
    /* RGB 8 */
    uint8_t rgb[5 * 3 * 3];
    for (int i = 0; i < w * h * 3; i++) rgb[i] = (uint8_t)(i * 17);
    CHECK(fx_png(fpath("rgb.png"), rgb, w, h, PNG_COLOR_TYPE_RGB, 8, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("rgb.png"), 0, &im));
    CHECK(im.c == 3 && im.w == w && im.h == h && im.data && !memcmp(im.data, rgb, sizeof(rgb)));
    mx_image_free(&im);
    /* RGBA 8: alpha dropped */
    uint8_t rgba[5 * 3 * 4];
    for (int i = 0; i < w * h; i++) {
        memcpy(rgba + 4 * i, rgb + 3 * i, 3);
        rgba[4 * i + 3] = (uint8_t)(i * 10);
    }
    CHECK(fx_png(fpath("rgba.png"), rgba, w, h, PNG_COLOR_TYPE_RGBA, 8, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("rgba.png"), 0, &im));
    CHECK(im.c == 3 && im.data && !memcmp(im.data, rgb, sizeof(rgb)));
    mx_image_free(&im);
    /* RGB 16: big-endian v * 257 -> v */
    uint8_t rgb16[5 * 3 * 6];
    for (int i = 0; i < w * h * 3; i++) rgb16[2 * i] = rgb16[2 * i + 1] = rgb[i];
    CHECK(fx_png(fpath("rgb16.png"), rgb16, w, h, PNG_COLOR_TYPE_RGB, 16, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("rgb16.png"), 0, &im));
    CHECK(im.c == 3 && im.data && !memcmp(im.data, rgb, sizeof(rgb)));
    mx_image_free(&im);
    /* gray 8 and gray + alpha */
    uint8_t gray[15], ga[30];
    for (int i = 0; i < 15; i++) {
        gray[i] = (uint8_t)(255 - i * 11);
        ga[2 * i] = gray[i];
        ga[2 * i + 1] = 128;
    }
    CHECK(fx_png(fpath("gray.png"), gray, w, h, PNG_COLOR_TYPE_GRAY, 8, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("gray.png"), 0, &im));
    CHECK(im.c == 1 && im.data && !memcmp(im.data, gray, sizeof(gray)));
    mx_image_free(&im);
    CHECK(fx_png(fpath("ga.png"), ga, w, h, PNG_COLOR_TYPE_GRAY_ALPHA, 8, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("ga.png"), 0, &im));
    CHECK(im.c == 1 && im.data && !memcmp(im.data, gray, sizeof(gray)));
    mx_image_free(&im);
    /* gray 1-bit: 0 -> 0, 1 -> 255 */
    uint8_t bits[3] = {0xA0, 0x50, 0xF8}; /* rows 10100, 01010, 11111 */
    CHECK(fx_png(fpath("g1.png"), bits, w, h, PNG_COLOR_TYPE_GRAY, 1, NULL, 0) == 0);
    CHECK_OK(mx_image_load(fpath("g1.png"), 0, &im));
    CHECK(im.c == 1 && im.data && im.data[0] == 255 && im.data[1] == 0 && im.data[5] == 0 &&
          im.data[6] == 255 && im.data[14] == 255);
    mx_image_free(&im);
    /* palette, 4 bit */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    uint8_t pix[3 * 3] = {0x01, 0x20, 0x10, 0x22, 0x21, 0x00, 0x00, 0x12, 0x00};
    CHECK(fx_png(fpath("pal.png"), pix, w, h, PNG_COLOR_TYPE_PALETTE, 4, pal, 3) == 0);
    CHECK_OK(mx_image_load(fpath("pal.png"), 0, &im));
    CHECK(im.c == 3 && im.w == 5);
    if (im.data) {
        /* row 0: indices 0,1,2,0,1 */
        CHECK(im.data[0] == 255 && im.data[1] == 0 && im.data[3] == 0 && im.data[4] == 255 &&
              im.data[6] == 10 && im.data[7] == 20 && im.data[8] == 30 && im.data[12] == 0 &&
              im.data[13] == 255);
    }
    mx_image_free(&im);
    /* truncated PNG */
    FILE *f = fopen(fpath("rgb16.png"), "rb");
    uint8_t buf[4096];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    fx_write(fpath("trunc.png"), buf, n - 20);
    CHECK(mx_image_load(fpath("trunc.png"), 0, &im) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "trunc.png") != NULL);
    CHECK(im.data == NULL);
    fx_write(fpath("trunc2.png"), buf, 30);
    CHECK(mx_image_load(fpath("trunc2.png"), 0, &im) == MX_ERR_FORMAT);
}

/* the synthetic image of tests/ref/data_torchvision_ref.py, HWC */
static void ref_image(mx_image *im) {
    im->w = 37;
    im->h = 29;
    im->c = 3;
    im->data = malloc(37 * 29 * 3);
    for (int y = 0; y < 29; y++)
        for (int x = 0; x < 37; x++)
            for (int c = 0; c < 3; c++)
                im->data[(y * 37 + x) * 3 + c] =
                    (uint8_t)((31 * x + 17 * y + 71 * c + x * y) % 256);
}

/* Reads case `name` from the fixture into a malloc'ed array; NULL if absent. */
static float *ref_case(const char *name, int *c, int *h, int *w) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/data/torchvision_ref.txt", MX_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    if (!f) return NULL;
    char line[256], nm[128];
    float *out = NULL;
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "case %127s %d %d %d", nm, c, h, w) != 4 || strcmp(nm, name)) continue;
        size_t n = (size_t)*c * *h * *w;
        out = malloc(n * sizeof(float));
        for (size_t i = 0; i < n; i++)
            if (fscanf(f, "%f", &out[i]) != 1) {
                free(out);
                out = NULL;
                break;
            }
        break;
    }
    fclose(f);
    return out;
}

static void test_vs_torchvision(void) {
    mx_image im;
    ref_image(&im);
    int c, h, w;
    float *got = malloc(3 * 40 * 60 * sizeof(float));
    /* Resize(20): shorter side 29 -> 20, longer int(20 * 37 / 29) = 25; centre crop 16 at
     * (round(2), round(4.5) = 4) */
    float *want = ref_case("resize20_crop16", &c, &h, &w);
    CHECK(want != NULL);
    if (want) {
        mx_image_resample(&im, 0, 0, 29, 37, 20, 25, 2, 4, 16, 16, 0, got);
        mx_test_compare("resize20_crop16", got, want, 3 * 16 * 16, 2e-3, 1e-5);
        /* the same through the transform, normalised */
        mx_transform_config tf = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP);
        tf.resize_size = 20;
        tf.out_size = 16;
        float *want2 = ref_case("test_norm", &c, &h, &w);
        CHECK(want2 != NULL);
        CHECK_OK(mx_transform_apply(&tf, &im, NULL, got));
        if (want2) mx_test_compare("test_norm", got, want2, 3 * 16 * 16, 1e-4, 1e-5);
        free(want2);
    }
    free(want);
    want = ref_case("resize40_crop33", &c, &h, &w);
    CHECK(want != NULL);
    if (want) {
        mx_transform_config tf = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP);
        tf.resize_size = 40; /* 29 -> 40, 37 -> int(40 * 37 / 29) = 51; crop (4, 9) */
        tf.out_size = 33;
        tf.mean[0] = tf.mean[1] = tf.mean[2] = 0;
        tf.std[0] = tf.std[1] = tf.std[2] = 1.0f / 255;
        CHECK_OK(mx_transform_apply(&tf, &im, NULL, got));
        mx_test_compare("resize40_crop33", got, want, 3 * 33 * 33, 2e-3, 1e-5);
    }
    free(want);
    want = ref_case("rc_3_5_17_22_to12", &c, &h, &w);
    CHECK(want != NULL);
    if (want) {
        mx_image_resample(&im, 3, 5, 17, 22, 12, 12, 0, 0, 12, 12, 0, got);
        mx_test_compare("rc_3_5_17_22_to12", got, want, 3 * 12 * 12, 2e-3, 1e-5);
    }
    free(want);
    want = ref_case("rc_2_1_8_6_to15", &c, &h, &w);
    CHECK(want != NULL);
    if (want) {
        mx_image_resample(&im, 2, 1, 8, 6, 15, 15, 0, 0, 15, 15, 0, got);
        mx_test_compare("rc_2_1_8_6_to15", got, want, 3 * 15 * 15, 2e-3, 1e-5);
    }
    free(want);
    want = ref_case("rc_2_1_8_6_to15_flip", &c, &h, &w);
    CHECK(want != NULL);
    if (want) {
        mx_image_resample(&im, 2, 1, 8, 6, 15, 15, 0, 0, 15, 15, 1, got);
        mx_test_compare("rc_2_1_8_6_to15_flip", got, want, 3 * 15 * 15, 2e-3, 1e-5);
    }
    free(want);
    free(got);
    mx_image_free(&im);
}

static void test_decoder_and_luma(void) {
    /* a reused decoder: several sizes and formats in turn, same pixels as the owning API */
    mx_decoder *d = NULL;
    CHECK_OK(mx_decoder_create(&d));
    const char *files[5] = {"rgb.jpg", "rgb.png", "gray.jpg", "rgb.jpg", "pal.png"};
    for (int k = 0; d && k < 5; k++) {
        mx_image v, o;
        CHECK_OK(mx_decoder_load(d, fpath(files[k]), 0, &v));
        CHECK_OK(mx_image_load(fpath(files[k]), 0, &o));
        CHECK(v.w == o.w && v.h == o.h && v.c == o.c && v.data && o.data &&
              !memcmp(v.data, o.data, (size_t)o.w * o.h * o.c));
        mx_image_free(&o);
    }
    mx_image v;
    CHECK(mx_decoder_load(d, fpath("trunc.jpg"), 0, &v) == MX_ERR_FORMAT);
    CHECK_OK(mx_decoder_load(d, fpath("rgb.jpg"), 12, &v)); /* usable after an error */
    CHECK(v.w == 16);
    mx_decoder_free(d);
    mx_decoder_free(NULL);

    /* regression (tests/fixtures/reliability): a JPEG that fails mid-decode used to leave the
     * TurboJPEG handle broken, so every later JPEG failed with "SOS before SOF" */
    char bad[4096], good[4096];
    snprintf(bad, sizeof(bad), "%s/tests/fixtures/reliability/damaged.jpg", MX_SOURCE_DIR);
    snprintf(good, sizeof(good), "%s/tests/fixtures/reliability/good.jpg", MX_SOURCE_DIR);
    mx_image fresh;
    CHECK_OK(mx_image_load(good, 0, &fresh));
    CHECK_OK(mx_decoder_create(&d));
    for (int round = 0; d && round < 3; round++) {
        CHECK(mx_decoder_load(d, bad, 0, &v) == MX_ERR_FORMAT);
        CHECK(strstr(mx_errmsg(), "damaged.jpg") != NULL);
        CHECK_OK(mx_decoder_load(d, good, 0, &v));
        CHECK(v.data && v.w == fresh.w && v.h == fresh.h && v.c == fresh.c &&
              !memcmp(v.data, fresh.data, (size_t)v.w * v.h * v.c));
    }
    mx_decoder_free(d);
    mx_image_free(&fresh);

    /* RGB -> 1 channel takes the luma of the 3-channel result (the resampling is linear) */
    mx_image im;
    ref_image(&im);
    mx_transform_config t3 = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP), t1;
    t3.resize_size = 20;
    t3.out_size = 16;
    for (int k = 0; k < 3; k++) {
        t3.mean[k] = 0;
        t3.std[k] = 1;
    }
    t1 = t3;
    t1.channels = 1;
    float o3[3 * 256], o1[256], want[256];
    CHECK_OK(mx_transform_apply(&t3, &im, NULL, o3));
    CHECK_OK(mx_transform_apply(&t1, &im, NULL, o1));
    for (int i = 0; i < 256; i++)
        want[i] = 0.299f * o3[i] + 0.587f * o3[256 + i] + 0.114f * o3[512 + i];
    mx_test_compare("luma", o1, want, 256, 1e-6, 1e-6);
    mx_image_free(&im);
}

static void test_resample_vs_ref(void) {
    /* the blocked kernel against the naive reference: several column blocks, offsets, flips,
     * up- and downsampling, gray and RGB */
    mx_rng r;
    mx_rng_seed(&r, 8);
    for (int t = 0; t < 6; t++) {
        int c = t % 2 ? 1 : 3, W = 123 + 50 * t, H = 77 + 9 * t;
        mx_image im = {W, H, c, malloc((size_t)W * H * c)};
        for (int i = 0; i < W * H * c; i++) im.data[i] = (uint8_t)mx_rng_below(&r, 256);
        int top = t, left = 2 * t, h = H - 3 * t, w = W - 5 * t;
        int rh = 100 + 60 * t, rw = 200 + 90 * t, oy = t, ox = 3 * t, oh = rh - 2 * t,
            ow = rw - 5 * t;
        float *a = malloc((size_t)oh * ow * c * sizeof(float));
        float *b = malloc((size_t)oh * ow * c * sizeof(float));
        mx_image_resample(&im, top, left, h, w, rh, rw, oy, ox, oh, ow, t % 3 == 0, a);
        mx_image_resample_ref(&im, top, left, h, w, rh, rw, oy, ox, oh, ow, t % 3 == 0, b);
        mx_test_compare("resample vs ref", a, b, (size_t)oh * ow * c, 1e-4, 1e-6);
        free(a);
        free(b);
        mx_image_free(&im);
    }
}

static void test_rrc(void) {
    mx_rng r;
    mx_rng_seed(&r, 3);
    int top, left, h, w, fallback = 0;
    double area_sum = 0;
    const int n = 20000;
    for (int t = 0; t < n; t++) {
        mx_rrc_params(&r, 300, 200, 0.08f, 1.0f, 0.75f, 4.0f / 3, &top, &left, &h, &w);
        CHECK(top >= 0 && left >= 0 && top + h <= 200 && left + w <= 300 && h > 0 && w > 0);
        double a = (double)h * w / (300.0 * 200.0), ar = (double)w / h;
        if (h == 200 && w == 266)
            fallback++;
        else if (!(a > 0.07 && a < 1.01 && ar > 0.7 && ar < 1.4))
            CHECK(!"crop outside bounds");
        area_sum += a;
    }
    /* E[scale] of accepted crops is a little below the 0.54 of U(0.08, 1) */
    CHECK(area_sum / n > 0.35 && area_sum / n < 0.6);
    /* a 1000 x 10 strip: every attempt fails -> centre crop h 10, w round(13.33) = 13 */
    mx_rrc_params(&r, 1000, 10, 0.08f, 1.0f, 0.75f, 4.0f / 3, &top, &left, &h, &w);
    CHECK(h == 10 && w == 13 && top == 0 && left == 493);
    /* a tall 10 x 1000 strip: w 10, h round(10 / 0.75) = 13 */
    mx_rrc_params(&r, 10, 1000, 0.08f, 1.0f, 0.75f, 4.0f / 3, &top, &left, &h, &w);
    CHECK(w == 10 && h == 13 && left == 0 && top == 493);

    /* the train transform: same seed, same output; flips happen about half the time */
    mx_image im;
    ref_image(&im);
    mx_transform_config tf = mx_transform_config_default(MX_TF_TRAIN_RRC);
    tf.out_size = 8;
    CHECK_OK(mx_transform_config_check(&tf));
    float a[3 * 64], b[3 * 64];
    mx_rng r1, r2;
    mx_rng_seed(&r1, 11);
    mx_rng_seed(&r2, 11);
    CHECK_OK(mx_transform_apply(&tf, &im, &r1, a));
    CHECK_OK(mx_transform_apply(&tf, &im, &r2, b));
    CHECK(!memcmp(a, b, sizeof(a)));
    for (int i = 0; i < 3 * 64; i++) CHECK(a[i] > -2.2f && a[i] < 2.7f); /* normalised range */
    mx_image_free(&im);
    tf.scale_lo = 0;
    CHECK(mx_transform_config_check(&tf) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "scale") != NULL);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* numpy.quantile (linear) of sorted v */
static double quantile(const double *v, int n, double q) {
    double pos = q * (n - 1);
    int i = (int)pos;
    return i + 1 < n ? v[i] + (pos - i) * (v[i + 1] - v[i]) : v[n - 1];
}

/* RandomResizedCrop parameters against torchvision's distribution (tests/ref/data_rrc_stats.py):
 * the generators differ, so means, quartiles and the fallback rate are compared. */
static void test_rrc_vs_torchvision(void) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/tests/fixtures/data/rrc_stats.txt", MX_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    enum { N = 200000 };
    double *area = malloc(N * sizeof(double)), *logr = malloc(N * sizeof(double));
    double want[13];
    int rows = 0;
    mx_rng r;
    mx_rng_seed(&r, 12);
    while (fscanf(f, "%lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf %lf", &want[0], &want[1],
                  &want[2], &want[3], &want[4], &want[5], &want[6], &want[7], &want[8], &want[9],
                  &want[10], &want[11], &want[12]) == 13) {
        const int W = (int)want[0], H = (int)want[1];
        int fbw = W, fbh = H;
        if ((double)W / H < 0.75)
            fbh = (int)nearbyint(W / 0.75);
        else if ((double)W / H > 4.0 / 3)
            fbw = (int)nearbyint(H * 4.0 / 3);
        double sa = 0, sr = 0, st = 0, sl = 0;
        int fb = 0;
        for (int k = 0; k < N; k++) {
            int top, left, h, w;
            mx_rrc_params(&r, W, H, 0.08f, 1.0f, 0.75f, 4.0f / 3, &top, &left, &h, &w);
            area[k] = (double)h * w / ((double)W * H);
            logr[k] = log((double)w / h);
            sa += area[k];
            sr += logr[k];
            st += top;
            sl += left;
            fb += h == fbh && w == fbw && top == (H - fbh) / 2 && left == (W - fbw) / 2;
        }
        qsort(area, N, sizeof(double), cmp_double);
        qsort(logr, N, sizeof(double), cmp_double);
        CHECK_CLOSE(sa / N, want[2], 0.004, 0);
        CHECK_CLOSE(quantile(area, N, 0.25), want[3], 0.01, 0);
        CHECK_CLOSE(quantile(area, N, 0.50), want[4], 0.01, 0);
        CHECK_CLOSE(quantile(area, N, 0.75), want[5], 0.01, 0);
        CHECK_CLOSE(sr / N, want[6], 0.004, 0);
        CHECK_CLOSE(quantile(logr, N, 0.25), want[7], 0.01, 0);
        CHECK_CLOSE(quantile(logr, N, 0.50), want[8], 0.01, 0);
        CHECK_CLOSE(quantile(logr, N, 0.75), want[9], 0.01, 0);
        CHECK_CLOSE((double)fb / N, want[10], 0.006, 0);
        CHECK_CLOSE(st / N, want[11], 0.3, 0.01);
        CHECK_CLOSE(sl / N, want[12], 0.3, 0.01);
        rows++;
    }
    fclose(f);
    CHECK(rows == 4);
    free(area);
    free(logr);
}

static void test_fmnist_tf(void) {
    /* 28 x 28 gray with pixel = x + y */
    mx_image im = {28, 28, 1, malloc(28 * 28)};
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) im.data[y * 28 + x] = (uint8_t)(x + 3 * y);
    mx_transform_config te = mx_transform_config_fmnist(0);
    float out[3 * 28 * 28];
    CHECK_OK(mx_transform_apply(&te, &im, NULL, out));
    CHECK_CLOSE(out[0], (0 / 255.0 - 0.2860) / 0.3530, 1e-5, 0);
    CHECK_CLOSE(out[5 * 28 + 7], ((7 + 15) / 255.0 - 0.2860) / 0.3530, 1e-5, 0);
    /* 3-channel output replicates gray */
    te.channels = 3;
    CHECK_OK(mx_transform_apply(&te, &im, NULL, out));
    CHECK_CLOSE(out[2 * 784 + 5 * 28 + 7], out[5 * 28 + 7], 0, 0);
    /* train: every output is a shifted (and maybe mirrored) copy with zero padding; all 25 shifts
     * and both flips occur */
    mx_transform_config tr = mx_transform_config_fmnist(1);
    mx_rng r;
    mx_rng_seed(&r, 5);
    int seen[5][5][2] = {{{0}}}, bad = 0;
    const float zero = (0 - 0.2860f) / 0.3530f;
    for (int t = 0; t < 2000; t++) {
        CHECK_OK(mx_transform_apply(&tr, &im, &r, out));
        int found = 0;
        for (int dy = 0; dy < 5 && !found; dy++)
            for (int dx = 0; dx < 5 && !found; dx++)
                for (int fl = 0; fl < 2 && !found; fl++) {
                    int ok = 1;
                    for (int y = 0; y < 28 && ok; y++)
                        for (int x = 0; x < 28 && ok; x++) {
                            int sx = (fl ? 27 - x : x) + dx - 2, sy = y + dy - 2;
                            float v = (sx < 0 || sx > 27 || sy < 0 || sy > 27)
                                          ? zero
                                          : (im.data[sy * 28 + sx] / 255.0f - 0.2860f) / 0.3530f;
                            ok = fabsf(out[y * 28 + x] - v) < 1e-5f;
                        }
                    if (ok) {
                        found = 1;
                        seen[dy][dx][fl]++;
                    }
                }
        bad += !found;
    }
    CHECK(bad == 0);
    int all = 1;
    for (int dy = 0; dy < 5; dy++)
        for (int dx = 0; dx < 5; dx++) all &= seen[dy][dx][0] > 0 && seen[dy][dx][1] > 0;
    CHECK(all);
    mx_image_free(&im);
    im = (mx_image){20, 28, 1, calloc(20 * 28, 1)};
    CHECK(mx_transform_apply(&te, &im, NULL, out) == MX_ERR_SHAPE);
    mx_image_free(&im);
}

int main(void) {
    snprintf(dir, sizeof(dir), "%s/data_fixtures/image", MX_BINARY_DIR);
    if (fx_mkdirs(dir) != 0) {
        fprintf(stderr, "cannot create %s\n", dir);
        return 1;
    }
    test_jpeg();
    test_png();
    test_vs_torchvision();
    test_decoder_and_luma();
    test_resample_vs_ref();
    test_rrc();
    test_rrc_vs_torchvision();
    test_fmnist_tf();
    return mx_test_finish("test_data_image");
}
