/* data: throughput report (not a timed test: nothing is asserted about speed). Decode + augment
 * of 500x375 and 1000x750 JPEGs with and without reduced DCT scaling, the test transform, and
 * loader epochs with 0 / 1 / 2 workers. The machine is shared: numbers are noisy. The PyTorch side
 * is tests/ref/data_bench_torch.py. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrix/data.h"
#include "mx_test.h"
#include "test_data_fixtures.h"

#define N_IMG 64
#define W     500
#define H     375

/* Smooth shapes plus mild texture: closer to a photo's JPEG entropy than noise. */
static uint8_t photo_like(int x, int y, int k, int i) {
    double v = 120 + 60 * sin(x / (17.0 + i) + k) + 45 * cos(y / 23.0 - k) + (x * 7 + y * 13) % 11;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(void) {
    char dir[2048], list[4096], p[4096];
    snprintf(dir, sizeof(dir), "%s/data_fixtures/bench", MX_BINARY_DIR);
    fx_mkdirs(dir);
    char *text = calloc(N_IMG, 64);
    uint8_t *px = malloc((size_t)W * H * 3);
    for (int i = 0; i < N_IMG; i++) {
        for (int y = 0; y < H; y++) /* texture, so that the JPEG has realistic entropy */
            for (int x = 0; x < W; x++)
                for (int k = 0; k < 3; k++)
                    px[((size_t)y * W + x) * 3 + k] = photo_like(x, y, k, i);
        snprintf(p, sizeof(p), "%s/%02d.jpg", dir, i);
        CHECK(fx_jpeg(p, px, W, H, 3, 90) == 0);
        char line[64];
        snprintf(line, sizeof(line), "%02d.jpg %d\n", i, i % 8);
        strcat(text, line);
    }
    free(px);
    snprintf(list, sizeof(list), "%s/list.txt", dir);
    fx_text(list, text);
    free(text);
    mx_dataset_config dc = mx_dataset_config_default();
    dc.kind = MX_DS_LIST;
    dc.list = list;
    dc.class_lo = 0;
    dc.class_hi = 7;
    mx_dataset *ds = NULL;
    CHECK_OK(mx_dataset_open(&dc, &ds));
    if (!ds) return mx_test_finish("test_data_bench_slow");

    mx_transform_config tr = mx_transform_config_default(MX_TF_TRAIN_RRC);
    mx_transform_config te = mx_transform_config_default(MX_TF_TEST_RESIZE_CROP);
    float *out = malloc(3 * 224 * 224 * sizeof(float));
    const struct {
        const char *what;
        const mx_transform_config *tf;
        int min_short;
    } cases[3] = {{"decode full + RRC224 + flip", &tr, 0},
                  {"decode DCT-scaled + RRC224 + flip", &tr, 224},
                  {"decode DCT-scaled + resize256 + crop224", &te, 256}};
    mx_rng r;
    mx_rng_seed(&r, 1);
    for (int c = 0; c < 3; c++) {
        double t0 = now();
        int reps = 3;
        for (int rep = 0; rep < reps; rep++)
            for (int i = 0; i < N_IMG; i++) {
                mx_image im;
                CHECK_OK(mx_dataset_image(ds, i, cases[c].min_short, &im));
                CHECK_OK(mx_transform_apply(cases[c].tf, &im, &r, out));
                mx_image_free(&im);
            }
        double dt = now() - t0;
        printf("%-42s %8.1f images/s (1 thread, %dx%d JPEG q90)\n", cases[c].what,
               reps * N_IMG / dt, W, H);
    }
    /* a 1000 x 750 JPEG: here DCT scaling (1/2 -> 500 x 375) applies */
    {
        const int bw = 1000, bh = 750;
        uint8_t *big = malloc((size_t)bw * bh * 3);
        for (int y = 0; y < bh; y++)
            for (int x = 0; x < bw; x++)
                for (int k = 0; k < 3; k++)
                    big[((size_t)y * bw + x) * 3 + k] = photo_like(x / 2, y / 2, k, 0);
        snprintf(p, sizeof(p), "%s/big.jpg", dir);
        CHECK(fx_jpeg(p, big, bw, bh, 3, 90) == 0);
        free(big);
        for (int scaled = 0; scaled < 2; scaled++) {
            double t0 = now();
            for (int i = 0; i < 40; i++) {
                mx_image im;
                CHECK_OK(mx_image_load(p, scaled ? 256 : 0, &im));
                CHECK_OK(mx_transform_apply(&te, &im, &r, out));
                mx_image_free(&im);
            }
            printf("1000x750: decode %-6s + resize256 + crop224 %8.1f images/s\n",
                   scaled ? "1/2" : "full", 40 / (now() - t0));
        }
    }
    free(out);

    mx_sampler_config sc = mx_sampler_config_default();
    sc.batch_size = 16;
    mx_sampler *s = NULL;
    CHECK_OK(mx_sampler_create(&sc, mx_dataset_labels(ds), N_IMG, mx_dataset_classes(ds), &s));
    float *img = malloc((size_t)16 * 3 * 224 * 224 * sizeof(float));
    int64_t lab[16], n;
    for (int workers = 0; workers <= 2; workers++) {
        mx_loader_config lc = {workers, 3, 0, 0, 1};
        mx_loader *ld = NULL;
        CHECK_OK(mx_loader_create(ds, s, 0, &tr, &lc, &ld));
        if (!ld) continue;
        double t0 = now();
        int64_t total = 0;
        for (int e = 0; e < 3; e++) {
            CHECK_OK(mx_loader_start_epoch(ld, e));
            while (mx_loader_next(ld, img, lab, &n) == MX_OK && n > 0) total += n;
        }
        double dt = now() - t0;
        CHECK(total == 3 * N_IMG);
        printf("loader, %d workers, batch 16, RRC224        %8.1f images/s\n", workers, total / dt);
        mx_loader_free(ld);
    }
    free(img);
    mx_sampler_free(s);
    mx_dataset_free(ds);
    return mx_test_finish("test_data_bench_slow");
}
