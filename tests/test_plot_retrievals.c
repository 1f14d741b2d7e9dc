/* plot: the retrieval grid re-read with cairo: every image drawn once at tile size, one frame per
 * neighbour in the right colour (green: the query's class, red: another), empty slots, nothing
 * but the PNG left on disk, and errors for bad arguments. */
#include <cairo.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrix/plot.h"
#include "mx_test.h"

/* pixels of exactly colour rgb (0xRRGGBB) in the PNG */
static long count_rgb(cairo_surface_t *s, uint32_t rgb) {
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *d = cairo_image_surface_get_data(s);
    long n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            if ((((const uint32_t *)(const void *)(d + (size_t)y * (size_t)stride))[x] &
                 0xffffff) == rgb)
                n++;
    return n;
}

int main(void) {
    char dir[] = "/tmp/mx_test_retrievals_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/grid.png", dir);

    /* 2 rows x (query + 3 neighbours); each tile a solid 8x8 image of its own colour */
    enum { ROWS = 2, K = 3, COLS = K + 1, T = ROWS * COLS };
    uint8_t px[T][8 * 8 * 3];
    mx_plot_image tiles[T];
    /* row 0: query class 1, neighbours 1, 2, 1; row 1: query class 0, neighbours 0, empty, 5 */
    int64_t labels[T] = {1, 1, 2, 1, 0, 0, -1, 5};
    const char *names[T] = {"one",  "one", "two", "one",
                            "zero", NULL,  NULL,  "a very long class name"};
    float sims[ROWS * K] = {0.9f, 0.8f, 0.7f, 0.6f, 0.f, 0.4f};
    for (int t = 0; t < T; t++) {
        for (int p = 0; p < 64; p++) { /* colour (10 t + 3, 200 - 7 t, 31 + 5 t): distinct */
            px[t][3 * p + 0] = (uint8_t)(10 * t + 3);
            px[t][3 * p + 1] = (uint8_t)(200 - 7 * t);
            px[t][3 * p + 2] = (uint8_t)(31 + 5 * t);
        }
        tiles[t] = (mx_plot_image){8, 8, 3, px[t]};
    }
    tiles[6].data = NULL; /* an empty slot */
    CHECK_OK(mx_plot_retrievals(path, "test grid", ROWS, K, tiles, labels, names, sims));

    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    if (cairo_surface_status(s) == CAIRO_STATUS_SUCCESS) {
        int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
        CHECK(w >= COLS * MX_RETRIEVAL_TILE && w < COLS * (MX_RETRIEVAL_TILE + 40));
        CHECK(h >= ROWS * MX_RETRIEVAL_TILE && h < 60 + ROWS * (MX_RETRIEVAL_TILE + 60));
        /* each drawn image fills its tile (upscaled 8 -> 96: the inside is the exact colour) */
        for (int t = 0; t < T; t++) {
            uint32_t rgb = (uint32_t)((10 * t + 3) << 16 | (200 - 7 * t) << 8 | (31 + 5 * t));
            long n = count_rgb(s, rgb);
            if (t == 6) {
                CHECK(n == 0);
            } else {
                long full = (long)MX_RETRIEVAL_TILE * MX_RETRIEVAL_TILE;
                CHECK(n > full * 8 / 10 && n <= full);
                if (!(n > full * 8 / 10 && n <= full))
                    fprintf(stderr, "tile %d: %ld pixels of its colour\n", t, n);
            }
        }
        /* frames: green (0, 166, 0) around the 4 same-class neighbours, red (217, 0, 0) around
         * the 2 others; a frame is 4 px wide around a 96 px tile: 4 * (96 + 4) * 4 pixels */
        long frame_px = 4L * (MX_RETRIEVAL_TILE + 4) * 4;
        long green = count_rgb(s, 0x00a600), red = count_rgb(s, 0xd90000);
        CHECK(green >= 3 * frame_px * 9 / 10 && green <= 3 * frame_px * 11 / 10);
        CHECK(red >= 2 * frame_px * 9 / 10 && red <= 2 * frame_px * 11 / 10);
        if (green < 3 * frame_px * 9 / 10 || red < 2 * frame_px * 9 / 10)
            fprintf(stderr, "green %ld, red %ld pixels (one frame: %ld)\n", green, red, frame_px);
        CHECK(count_rgb(s, 0xe8e8e8) > MX_RETRIEVAL_TILE * MX_RETRIEVAL_TILE * 9 / 10); /* empty */
    }
    cairo_surface_destroy(s);

    /* gray images, no names / similarities */
    uint8_t g[5 * 7];
    memset(g, 128, sizeof g);
    mx_plot_image gt[2] = {{7, 5, 1, g}, {7, 5, 1, g}};
    int64_t gl[2] = {0, 0};
    CHECK_OK(mx_plot_retrievals(path, NULL, 1, 1, gt, gl, NULL, NULL));

    /* errors */
    CHECK(mx_plot_retrievals(path, NULL, 0, 1, gt, gl, NULL, NULL) == MX_ERR_ARG);
    CHECK(mx_plot_retrievals(path, NULL, 1, 0, gt, gl, NULL, NULL) == MX_ERR_ARG);
    CHECK(mx_plot_retrievals(path, NULL, 1, MX_RETRIEVAL_MAX_K + 1, gt, gl, NULL, NULL) ==
          MX_ERR_ARG);
    CHECK(mx_plot_retrievals(NULL, NULL, 1, 1, gt, gl, NULL, NULL) == MX_ERR_ARG);
    gt[1].c = 2;
    CHECK(mx_plot_retrievals(path, NULL, 1, 1, gt, gl, NULL, NULL) == MX_ERR_ARG);
    CHECK(strstr(mx_errmsg(), "row 0, column 1") != NULL);
    char bad[300];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.png", dir);
    gt[1].c = 1;
    CHECK(mx_plot_retrievals(bad, NULL, 1, 1, gt, gl, NULL, NULL) == MX_ERR_IO);

    /* only grid.png is left in the directory (no temporary files) */
    DIR *dd = opendir(dir);
    int entries = 0;
    for (struct dirent *e; dd && (e = readdir(dd));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        entries++;
        CHECK(!strcmp(e->d_name, "grid.png"));
    }
    if (dd) closedir(dd);
    CHECK(entries == 1);
    unlink(path);
    rmdir(dir);
    return mx_test_finish("test_plot_retrievals");
}
