/* metrix plot: line charts and class-coloured scatter plots as PNG, drawn with cairo and written
 * atomically (temporary file + rename). */
#include <cairo.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_impl.h"
#include "metrix/plot.h"
#include "plot/plot_impl.h"

#define LEGEND_MAX 30 /* classes listed in a scatter legend */
#define PLOT_PI    3.14159265358979323846

/* Plot frame in pixels and the data range mapped onto it. */
typedef struct frame {
    double left, top, width, height; /* plot area */
    double x0, x1, y0, y1;           /* data range */
} frame;

static double fx(const frame *f, double x) {
    return f->left + (x - f->x0) / (f->x1 - f->x0) * f->width;
}
static double fy(const frame *f, double y) {
    return f->top + f->height - (y - f->y0) / (f->y1 - f->y0) * f->height;
}

void mx_plot_color(int c, double rgb[3]) {
    /* matplotlib tab10, then the light shades of tab20 */
    static const unsigned tab[20] = {0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd,
                                     0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf,
                                     0xaec7e8, 0xffbb78, 0x98df8a, 0xff9896, 0xc5b0d5,
                                     0xc49c94, 0xf7b6d2, 0xc7c7c7, 0xdbdb8d, 0x9edae5};
    if (c < 0) c = -c;
    if (c < 20) {
        rgb[0] = ((tab[c] >> 16) & 0xff) / 255.0;
        rgb[1] = ((tab[c] >> 8) & 0xff) / 255.0;
        rgb[2] = (tab[c] & 0xff) / 255.0;
        return;
    }
    /* golden-ratio hues at fixed saturation / value (HSV -> RGB) */
    double h = fmod((double)(c - 20) * 0.618033988749895, 1.0) * 6.0, s = 0.65, v = 0.85;
    int i = (int)h;
    double fr = h - i, p = v * (1 - s), q = v * (1 - s * fr), t = v * (1 - s * (1 - fr));
    double r[6] = {v, q, p, p, t, v}, g[6] = {t, v, v, q, p, p}, b[6] = {p, p, t, v, v, q};
    rgb[0] = r[i % 6];
    rgb[1] = g[i % 6];
    rgb[2] = b[i % 6];
}

/* "Nice" ticks (1, 2, 5 x 10^k) covering [lo, hi]: widens [*lo, *hi] to whole steps and returns
 * the step. */
static double nice_range(double *lo, double *hi, int max_ticks) {
    if (!(*hi > *lo)) {
        double m = fabs(*lo) > 0 ? 0.5 * fabs(*lo) : 1.0;
        *lo -= m;
        *hi += m;
    }
    double raw = (*hi - *lo) / max_ticks, mag = pow(10.0, floor(log10(raw))), r = raw / mag;
    double step = (r <= 1 ? 1 : r <= 2 ? 2 : r <= 5 ? 5 : 10) * mag;
    *lo = floor(*lo / step + 1e-9) * step;
    *hi = ceil(*hi / step - 1e-9) * step;
    return step;
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.width - e.x_bearing, y - ay * e.height - e.y_bearing);
    cairo_show_text(cr, s);
}

/* Background, title, axes box, ticks, grid and labels. */
static void draw_axes(cairo_t *cr, const frame *f, double xstep, double ystep, const char *title,
                      const char *x_label, const char *y_label) {
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    char buf[64];
    cairo_set_line_width(cr, 1.0);
    cairo_set_font_size(cr, 12);
    for (int i = 0;; i++) { /* x ticks and vertical grid */
        double x = f->x0 + i * xstep;
        if (x > f->x1 + 1e-9 * xstep) break;
        if (fabs(x) < 1e-9 * xstep) x = 0;
        double px = fx(f, x);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, px, f->top);
        cairo_line_to(cr, px, f->top + f->height);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, px, f->top + f->height);
        cairo_line_to(cr, px, f->top + f->height + 5);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", x);
        text_at(cr, buf, px, f->top + f->height + 9, 0.5, 0.0);
    }
    for (int i = 0;; i++) { /* y ticks and horizontal grid */
        double y = f->y0 + i * ystep;
        if (y > f->y1 + 1e-9 * ystep) break;
        if (fabs(y) < 1e-9 * ystep) y = 0;
        double py = fy(f, y);
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->left, py);
        cairo_line_to(cr, f->left + f->width, py);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
        cairo_move_to(cr, f->left - 5, py);
        cairo_line_to(cr, f->left, py);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%g", y);
        text_at(cr, buf, f->left - 8, py, 1.0, 0.5);
    }
    cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
    cairo_rectangle(cr, f->left, f->top, f->width, f->height);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 14);
    if (x_label) text_at(cr, x_label, f->left + f->width / 2, f->top + f->height + 32, 0.5, 0.0);
    if (y_label) {
        cairo_save(cr);
        cairo_translate(cr, 22, f->top + f->height / 2);
        cairo_rotate(cr, -PLOT_PI / 2);
        text_at(cr, y_label, 0, 0, 0.5, 0.5);
        cairo_restore(cr);
    }
    if (title) {
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(cr, 17);
        text_at(cr, title, MX_PLOT_WIDTH / 2.0, 18, 0.5, 0.0);
        cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    }
}

/* Legend box with n entries, line samples (is_line) or dots; (x, y) is its top-left corner, or
 * its top-right corner when right_aligned. */
static void draw_legend(cairo_t *cr, double x, double y, int right_aligned, int n,
                        const char *const *names, const char *fallback, int is_line, int n_more) {
    char buf[96];
    cairo_set_font_size(cr, 12);
    double wmax = 0;
    for (int i = 0; i < n; i++) {
        const char *s = names && names[i] ? names[i] : NULL;
        if (!s) snprintf(buf, sizeof buf, "%s %d", fallback, i), s = buf;
        cairo_text_extents_t e;
        cairo_text_extents(cr, s, &e);
        wmax = MX_MAX(wmax, e.x_advance);
    }
    const double row = 18, pad = 8;
    int fit = (int)((MX_PLOT_HEIGHT - y - 10 - 2 * pad) / row); /* rows inside the figure */
    if (n + (n_more > 0) > fit && fit >= 2) {
        n_more += n - (fit - 1);
        n = fit - 1;
    }
    int rows = n + (n_more > 0);
    if (right_aligned) x -= wmax + 44 + 2 * pad;
    cairo_set_source_rgba(cr, 1, 1, 1, 0.85);
    cairo_rectangle(cr, x, y, wmax + 44 + 2 * pad, rows * row + 2 * pad);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1);
    cairo_stroke(cr);
    for (int i = 0; i < n; i++) {
        double rgb[3], cy = y + pad + row * (i + 0.5);
        mx_plot_color(i, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        if (is_line) {
            cairo_set_line_width(cr, 2.5);
            cairo_move_to(cr, x + pad, cy);
            cairo_line_to(cr, x + pad + 28, cy);
            cairo_stroke(cr);
        } else {
            cairo_arc(cr, x + pad + 14, cy, 5, 0, 2 * PLOT_PI);
            cairo_fill(cr);
        }
        const char *s = names && names[i] ? names[i] : NULL;
        if (!s) snprintf(buf, sizeof buf, "%s %d", fallback, i), s = buf;
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, s, x + pad + 36, cy, 0.0, 0.5);
    }
    if (n_more > 0) {
        snprintf(buf, sizeof buf, "... %d more", n_more);
        cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
        text_at(cr, buf, x + pad, y + pad + row * (n + 0.5), 0.0, 0.5);
    }
}

static cairo_status_t write_file(void *closure, const unsigned char *data, unsigned int len) {
    return fwrite(data, 1, len, (FILE *)closure) == len ? CAIRO_STATUS_SUCCESS
                                                        : CAIRO_STATUS_WRITE_ERROR;
}

/* Writes the surface to path atomically: mkstemp next to it, write, fsync, rename. */
mx_status mx_plot_save_png(cairo_surface_t *surf, const char *path) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 16);
    if (!tmp) return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp.XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        mx_status st = mx_error(MX_ERR_IO, "%s: cannot create a temporary file next to it: %s",
                                path, strerror(errno));
        free(tmp);
        return st;
    }
    (void)fchmod(fd, 0644); /* mkstemp makes it 0600; a figure is an ordinary file */
    FILE *fp = fdopen(fd, "wb");
    if (!fp) {
        close(fd);
        unlink(tmp);
        free(tmp);
        return mx_error(MX_ERR_IO, "%s: fdopen failed: %s", path, strerror(errno));
    }
    cairo_status_t cs = cairo_surface_write_to_png_stream(surf, write_file, fp);
    int ok = cs == CAIRO_STATUS_SUCCESS && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    ok = (fclose(fp) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        free(tmp);
        return mx_error(MX_ERR_IO, "%s: writing the PNG failed: %s", path,
                        cs != CAIRO_STATUS_SUCCESS ? cairo_status_to_string(cs) : strerror(err));
    }
    free(tmp);
    return MX_OK;
}

/* Creates the surface and context; MX_ERR_BACKEND on failure. */
static mx_status begin(cairo_surface_t **surf, cairo_t **cr) {
    *surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, MX_PLOT_WIDTH, MX_PLOT_HEIGHT);
    *cr = cairo_create(*surf);
    if (cairo_status(*cr) != CAIRO_STATUS_SUCCESS) {
        mx_status st =
            mx_error(MX_ERR_BACKEND, "plot: cairo: %s", cairo_status_to_string(cairo_status(*cr)));
        cairo_destroy(*cr);
        cairo_surface_destroy(*surf);
        return st;
    }
    return MX_OK;
}

mx_status mx_plot_finish(cairo_surface_t *surf, cairo_t *cr, const char *path, mx_status st) {
    cairo_surface_flush(surf);
    if (st == MX_OK && cairo_status(cr) != CAIRO_STATUS_SUCCESS)
        st = mx_error(MX_ERR_BACKEND, "%s: cairo: %s", path,
                      cairo_status_to_string(cairo_status(cr)));
    cairo_destroy(cr);
    if (st == MX_OK) st = mx_plot_save_png(surf, path);
    cairo_surface_destroy(surf);
    return st;
}

mx_status mx_plot_lines(const char *path, const char *title, const char *x_label,
                        const char *y_label, int n_series, const char *const *names,
                        const float *const *xs, const float *const *ys, const int64_t *lens) {
    if (!path || !ys || !lens) return mx_error(MX_ERR_ARG, "mx_plot_lines: NULL argument");
    if (n_series < 1)
        return mx_error(MX_ERR_ARG, "mx_plot_lines: %s: n_series = %d: expected >= 1", path,
                        n_series);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int s = 0; s < n_series; s++) {
        if (lens[s] < 0 || (lens[s] > 0 && !ys[s]))
            return mx_error(MX_ERR_ARG, "mx_plot_lines: %s: series %d: bad length or NULL ys", path,
                            s);
        for (int64_t i = 0; i < lens[s]; i++) {
            double x = xs && xs[s] ? xs[s][i] : (double)(i + 1), y = ys[s][i];
            if (!isfinite(x) || !isfinite(y)) continue;
            x0 = MX_MIN(x0, x), x1 = MX_MAX(x1, x), y0 = MX_MIN(y0, y), y1 = MX_MAX(y1, y);
        }
    }
    if (!(x1 >= x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1; /* no finite point: empty axes */
    frame f = {80, 50, MX_PLOT_WIDTH - 80 - 30, MX_PLOT_HEIGHT - 50 - 70, x0, x1, y0, y1};
    double xstep = nice_range(&f.x0, &f.x1, 8), ystep = nice_range(&f.y0, &f.y1, 6);
    cairo_surface_t *surf;
    cairo_t *cr;
    MX_TRY(begin(&surf, &cr));
    draw_axes(cr, &f, xstep, ystep, title, x_label, y_label);
    cairo_save(cr);
    cairo_rectangle(cr, f.left, f.top, f.width, f.height);
    cairo_clip(cr);
    cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
    for (int s = 0; s < n_series; s++) {
        double rgb[3];
        mx_plot_color(s, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_set_line_width(cr, 2.5);
        int pen = 0; /* 1 while a line is open */
        for (int64_t i = 0; i < lens[s]; i++) {
            double x = xs && xs[s] ? xs[s][i] : (double)(i + 1), y = ys[s][i];
            if (!isfinite(x) || !isfinite(y)) {
                pen = 0;
                continue;
            }
            if (pen)
                cairo_line_to(cr, fx(&f, x), fy(&f, y));
            else
                cairo_move_to(cr, fx(&f, x), fy(&f, y));
            pen = 1;
        }
        cairo_stroke(cr);
        if (lens[s] <= 60) /* markers for short series */
            for (int64_t i = 0; i < lens[s]; i++) {
                double x = xs && xs[s] ? xs[s][i] : (double)(i + 1), y = ys[s][i];
                if (!isfinite(x) || !isfinite(y)) continue;
                cairo_arc(cr, fx(&f, x), fy(&f, y), 3.5, 0, 2 * PLOT_PI);
                cairo_fill(cr);
            }
    }
    cairo_restore(cr);
    draw_legend(cr, f.left + f.width - 10, f.top + 10, 1, n_series, names, "series", 1, 0);
    return mx_plot_finish(surf, cr, path, MX_OK);
}

mx_status mx_plot_scatter(const char *path, const char *title, int64_t n, const float *xy,
                          const int32_t *labels, int n_classes, const char *const *class_names) {
    if (!path || (n > 0 && (!xy || !labels)))
        return mx_error(MX_ERR_ARG, "mx_plot_scatter: NULL argument");
    if (n < 0 || n_classes < 1)
        return mx_error(MX_ERR_ARG,
                        "mx_plot_scatter: %s: n = %lld, n_classes = %d: expected >= 0, >= 1", path,
                        (long long)n, n_classes);
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= n_classes)
            return mx_error(MX_ERR_ARG, "mx_plot_scatter: %s: labels[%lld] = %d: expected 0..%d",
                            path, (long long)i, (int)labels[i], n_classes - 1);
        double x = xy[2 * i], y = xy[2 * i + 1];
        if (!isfinite(x) || !isfinite(y)) continue;
        x0 = MX_MIN(x0, x), x1 = MX_MAX(x1, x), y0 = MX_MIN(y0, y), y1 = MX_MAX(y1, y);
    }
    if (!(x1 >= x0)) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
    const double legend_w = 190;
    frame f = {70, 50, MX_PLOT_WIDTH - 70 - legend_w - 20, MX_PLOT_HEIGHT - 50 - 60, x0, x1,
               y0, y1};
    double xstep = nice_range(&f.x0, &f.x1, 7), ystep = nice_range(&f.y0, &f.y1, 6);
    cairo_surface_t *surf;
    cairo_t *cr;
    MX_TRY(begin(&surf, &cr));
    draw_axes(cr, &f, xstep, ystep, title, "PC 1", "PC 2");
    cairo_save(cr);
    cairo_rectangle(cr, f.left, f.top, f.width, f.height);
    cairo_clip(cr);
    double r = n > 5000 ? 2.0 : 3.5;
    for (int64_t i = 0; i < n; i++) {
        double x = xy[2 * i], y = xy[2 * i + 1], rgb[3];
        if (!isfinite(x) || !isfinite(y)) continue;
        mx_plot_color(labels[i], rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_arc(cr, fx(&f, x), fy(&f, y), r, 0, 2 * PLOT_PI);
        cairo_fill(cr);
    }
    cairo_restore(cr);
    int shown = MX_MIN(n_classes, LEGEND_MAX);
    draw_legend(cr, f.left + f.width + 12, f.top, 0, shown, class_names, "class", 0,
                n_classes - shown);
    return mx_plot_finish(surf, cr, path, MX_OK);
}

/* Two-sided 95% Student t quantile with df degrees of freedom (table to 30, then 1.96). */
static double t975(int df) {
    static const double t[31] = {NAN,   12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365,
                                 2.306, 2.262,  2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
                                 2.120, 2.110,  2.101, 2.093, 2.086, 2.080, 2.074, 2.069,
                                 2.064, 2.060,  2.056, 2.052, 2.048, 2.045, 2.042};
    return df < 1 ? NAN : df <= 30 ? t[df] : 1.96;
}

mx_status mx_plot_paired(const char *path, const char *title, const char *y_label, int n_groups,
                         const char *const *names, const int *counts, const double *values) {
    if (!path || !counts || !values || n_groups < 1)
        return mx_error(MX_ERR_ARG, "mx_plot_paired: NULL argument or n_groups %d < 1", n_groups);
    double y0 = 0, y1 = 0; /* zero is always shown */
    double *mean = calloc((size_t)n_groups, sizeof(double));
    double *half = calloc((size_t)n_groups, sizeof(double));
    if (!mean || !half) {
        free(mean);
        free(half);
        return mx_error(MX_ERR_NOMEM, "mx_plot_paired: out of memory");
    }
    for (int g = 0, at = 0; g < n_groups; at += counts[g], g++) {
        double s = 0, ss = 0;
        int n = 0;
        for (int i = 0; i < counts[g]; i++) {
            double v = values[at + i];
            if (!isfinite(v)) continue;
            s += v, n++;
            y0 = MX_MIN(y0, v), y1 = MX_MAX(y1, v);
        }
        mean[g] = n ? s / n : NAN;
        for (int i = 0; i < counts[g]; i++)
            if (isfinite(values[at + i]))
                ss += (values[at + i] - mean[g]) * (values[at + i] - mean[g]);
        half[g] = n >= 2 ? t975(n - 1) * sqrt(ss / (n - 1) / n) : NAN;
        if (isfinite(half[g]))
            y0 = MX_MIN(y0, mean[g] - half[g]), y1 = MX_MAX(y1, mean[g] + half[g]);
    }
    const double legend_w = 232; /* the legend right of the axes: it never hides a point */
    frame f = {
        80, 50, MX_PLOT_WIDTH - 80 - legend_w - 20, MX_PLOT_HEIGHT - 50 - 70, 0, n_groups + 1,
        y0, y1};
    double ystep = nice_range(&f.y0, &f.y1, 6);
    cairo_surface_t *surf;
    cairo_t *cr;
    mx_status st = begin(&surf, &cr);
    if (st != MX_OK) {
        free(mean);
        free(half);
        return st;
    }
    draw_axes(cr, &f, 1.0, ystep, title, "comparison (legend order)", y_label);
    cairo_set_source_rgb(cr, 0.3, 0.3, 0.3);
    cairo_set_line_width(cr, 1.0);
    double dash[2] = {6, 4};
    cairo_set_dash(cr, dash, 2, 0);
    cairo_move_to(cr, f.left, fy(&f, 0));
    cairo_line_to(cr, f.left + f.width, fy(&f, 0));
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    for (int g = 0, at = 0; g < n_groups; at += counts[g], g++) {
        double rgb[3], x = g + 1;
        mx_plot_color(g, rgb);
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        for (int i = 0; i < counts[g]; i++) { /* seeds side by side */
            double v = values[at + i], dx = counts[g] > 1 ? 0.3 * (i / (counts[g] - 1.0) - 0.5) : 0;
            if (!isfinite(v)) continue;
            cairo_arc(cr, fx(&f, x + dx), fy(&f, v), 4.5, 0, 2 * PLOT_PI);
            cairo_fill(cr);
        }
        if (!isfinite(mean[g])) continue;
        cairo_set_line_width(cr, 3.0);
        cairo_move_to(cr, fx(&f, x - 0.25), fy(&f, mean[g]));
        cairo_line_to(cr, fx(&f, x + 0.25), fy(&f, mean[g]));
        cairo_stroke(cr);
        if (isfinite(half[g])) {
            cairo_set_line_width(cr, 1.5);
            double xc = fx(&f, x + 0.22);
            cairo_move_to(cr, xc, fy(&f, mean[g] - half[g]));
            cairo_line_to(cr, xc, fy(&f, mean[g] + half[g]));
            cairo_stroke(cr);
        }
    }
    draw_legend(cr, f.left + f.width + 12, f.top, 0, n_groups, names, "group", 0, 0);
    free(mean);
    free(half);
    return mx_plot_finish(surf, cr, path, MX_OK);
}
