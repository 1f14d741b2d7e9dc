/* metrix plot: the retrieval grid (a query per row, then its nearest neighbours framed green for
 * the query's class and red otherwise), drawn with cairo and written atomically.
 *
 * Geometry (pixels): margin M around everything, a title band of height TITLE, then rows of
 * height TILE + CAPTION + GAP; column 0 (the query) is followed by an extra SEP gap. */
#include <cairo.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/plot.h"
#include "plot/plot_impl.h"

#define TILE    MX_RETRIEVAL_TILE
#define FRAME   4 /* frame line width, drawn just outside the tile */
#define GAP     12
#define SEP     16
#define CAPTION 30
#define M       10
#define TITLE   34

static int tile_x(int col) {
    return M + col * (TILE + GAP) + (col > 0 ? SEP : 0);
}
static int tile_y(int row) {
    return M + TITLE + row * (TILE + CAPTION + GAP);
}

/* Centred caption at (cx, y), shortened with "..." to fit width. */
static void caption(cairo_t *cr, const char *s, double cx, double y, double width) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    cairo_text_extents_t e;
    for (size_t len = strlen(buf);; len--) {
        cairo_text_extents(cr, buf, &e);
        if (e.x_advance <= width || len <= 4) break;
        memcpy(buf + len - 4, "...", 4); /* drop one character, keep the ellipsis */
    }
    cairo_move_to(cr, cx - e.x_advance / 2, y - e.y_bearing);
    cairo_show_text(cr, buf);
}

/* Draws im scaled to fit the TILE x TILE square at (x, y), centred, aspect kept. */
static mx_status draw_image(cairo_t *cr, const mx_plot_image *im, int x, int y) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, im->w, im->h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) {
        cairo_surface_destroy(s);
        return mx_error(MX_ERR_BACKEND, "retrievals: cairo surface %dx%d", im->w, im->h);
    }
    cairo_surface_flush(s);
    unsigned char *px = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    for (int r = 0; r < im->h; r++) {
        uint32_t *row = (uint32_t *)(void *)(px + (size_t)r * (size_t)stride);
        const uint8_t *src = im->data + (size_t)r * (size_t)im->w * (size_t)im->c;
        for (int c = 0; c < im->w; c++) {
            const uint8_t *p = src + (size_t)c * (size_t)im->c;
            uint32_t R = p[0], G = im->c == 3 ? p[1] : p[0], B = im->c == 3 ? p[2] : p[0];
            row[c] = (R << 16) | (G << 8) | B;
        }
    }
    cairo_surface_mark_dirty(s);
    double sc = (double)TILE / (im->w > im->h ? im->w : im->h);
    double ox = x + (TILE - im->w * sc) / 2, oy = y + (TILE - im->h * sc) / 2;
    cairo_save(cr);
    cairo_rectangle(cr, x, y, TILE, TILE);
    cairo_clip(cr);
    cairo_translate(cr, ox, oy);
    cairo_scale(cr, sc, sc);
    cairo_set_source_surface(cr, s, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
    cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD); /* no fading at the edges */
    cairo_paint(cr);
    cairo_restore(cr);
    cairo_surface_destroy(s);
    return MX_OK;
}

static void frame(cairo_t *cr, int x, int y, double r, double g, double b) {
    cairo_set_source_rgb(cr, r, g, b);
    cairo_set_line_width(cr, FRAME);
    cairo_rectangle(cr, x - FRAME / 2.0, y - FRAME / 2.0, TILE + FRAME, TILE + FRAME);
    cairo_stroke(cr);
}

mx_status mx_plot_retrievals(const char *path, const char *title, int n_rows, int k,
                             const mx_plot_image *tiles, const int64_t *labels,
                             const char *const *names, const float *sims) {
    if (!path || !tiles || !labels)
        return mx_error(MX_ERR_ARG, "mx_plot_retrievals: NULL argument");
    if (n_rows < 1 || n_rows > MX_RETRIEVAL_MAX_ROW || k < 1 || k > MX_RETRIEVAL_MAX_K)
        return mx_error(MX_ERR_ARG,
                        "mx_plot_retrievals: %s: %d rows x k %d: expected 1..%d rows, k 1..%d",
                        path, n_rows, k, MX_RETRIEVAL_MAX_ROW, MX_RETRIEVAL_MAX_K);
    int cols = k + 1;
    for (int t = 0; t < n_rows * cols; t++) {
        const mx_plot_image *im = &tiles[t];
        if (im->data && (im->w < 1 || im->h < 1 || im->w > 16384 || im->h > 16384 ||
                         (im->c != 1 && im->c != 3)))
            return mx_error(MX_ERR_ARG,
                            "mx_plot_retrievals: %s: row %d, column %d: image %dx%dx%d (expected "
                            "1..16384 pixels a side, 1 or 3 channels)",
                            path, t / cols, t % cols, im->w, im->h, im->c);
    }
    int width = tile_x(k) + TILE + M, height = tile_y(n_rows) - GAP + M;
    cairo_surface_t *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surf);
    mx_status st = MX_OK;
    if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = mx_error(MX_ERR_BACKEND, "%s: cairo: %s", path,
                      cairo_status_to_string(cairo_status(cr)));
    if (st == MX_OK) {
        cairo_set_source_rgb(cr, 1, 1, 1);
        cairo_paint(cr);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 15);
        cairo_set_source_rgb(cr, 0, 0, 0);
        caption(cr, title ? title : "Retrievals", width / 2.0, M, width - 2.0 * M);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
        cairo_set_font_size(cr, 11);
    }
    for (int r = 0; st == MX_OK && r < n_rows; r++)
        for (int c = 0; st == MX_OK && c < cols; c++) {
            int t = r * cols + c, x = tile_x(c), y = tile_y(r);
            const mx_plot_image *im = &tiles[t];
            if (!im->data) { /* empty slot: a light grey square */
                cairo_set_source_rgb(cr, 232 / 255.0, 232 / 255.0, 232 / 255.0);
                cairo_rectangle(cr, x, y, TILE, TILE);
                cairo_fill(cr);
                continue;
            }
            st = draw_image(cr, im, x, y);
            if (c == 0)
                frame(cr, x, y, 0.25, 0.25, 0.25);
            else if (labels[r * cols] < 0) /* unknown class (a user's images): neutral blue */
                frame(cr, x, y, 0.12, 0.47, 0.71);
            else if (labels[t] == labels[r * cols])
                frame(cr, x, y, 0.0, 0.65, 0.0);
            else
                frame(cr, x, y, 0.85, 0.0, 0.0);
            cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
            double cy = y + TILE + FRAME + 2;
            if (names && names[t]) caption(cr, names[t], x + TILE / 2.0, cy, TILE + GAP - 2);
            char buf[32];
            if (c == 0)
                snprintf(buf, sizeof buf, "query");
            else if (sims)
                snprintf(buf, sizeof buf, "%d: %.3f", c, (double)sims[r * k + c - 1]);
            else
                snprintf(buf, sizeof buf, "%d", c);
            caption(cr, buf, x + TILE / 2.0, cy + 13, TILE + GAP - 2);
        }
    return mx_plot_finish(surf, cr, path, st);
}
