/* mx_plot_paired: the PNG is written, shows each group's colour, and bad arguments are refused. */
#include <cairo.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrix/plot.h"
#include "mx_test.h"

/* Pixels of colour rgb (exactly, as drawn) in the PNG at path. */
static long count_colour(const char *path, const double rgb[3]) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return -1;
    }
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const uint8_t *d = cairo_image_surface_get_data(s);
    uint32_t want = ((uint32_t)(rgb[0] * 255 + 0.5) << 16) | ((uint32_t)(rgb[1] * 255 + 0.5) << 8) |
                    (uint32_t)(rgb[2] * 255 + 0.5);
    long n = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t p;
            memcpy(&p, d + (size_t)y * stride + 4 * x, 4);
            n += (p & 0xffffff) == want;
        }
    cairo_surface_destroy(s);
    return n;
}

int main(void) {
    char path[256];
    snprintf(path, sizeof path, "%s/mx_paired_%d.png", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
             (int)getpid());
    const char *names[] = {"a", "b", "c"};
    const int counts[] = {5, 3, 1};
    const double v[] = {0.5, -0.2, 1.0, 0.3, 0.1, -2.0, -1.5, NAN, 4.0};
    CHECK_OK(mx_plot_paired(path, "paired", "R@1 difference (pp)", 3, names, counts, v));
    for (int g = 0; g < 3; g++) {
        double rgb[3];
        mx_plot_color(g, rgb);
        long n = count_colour(path, rgb);
        CHECK(n > 50); /* the group's points (and legend sample) are drawn */
    }
    double rgb[3];
    mx_plot_color(3, rgb);
    CHECK(count_colour(path, rgb) == 0); /* no fourth group */
    unlink(path);
    CHECK(mx_plot_paired(path, NULL, NULL, 0, NULL, counts, v) == MX_ERR_ARG);
    CHECK(mx_plot_paired(NULL, NULL, NULL, 1, NULL, counts, v) == MX_ERR_ARG);
    CHECK(access(path, F_OK) != 0);
    return mx_test_finish("test_plot_paired");
}
