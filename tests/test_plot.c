/* plot: PCA (subspace iteration vs the Jacobi reference and a known principal axis), line and
 * scatter PNGs re-read with cairo (size, series / class colours present), errors for bad input. */
#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrix/plot.h"
#include "mx_test.h"
#include "plot/plot_impl.h"

/* |Pearson correlation| of columns a (stride 2) and b (stride sb). */
static double abs_corr(const float *a, const float *b, int64_t n, int64_t sb) {
    double ma = 0, mb = 0, saa = 0, sbb = 0, sab = 0;
    for (int64_t i = 0; i < n; i++) ma += a[2 * i], mb += b[i * sb];
    ma /= (double)n, mb /= (double)n;
    for (int64_t i = 0; i < n; i++) {
        double x = a[2 * i] - ma, y = b[i * sb] - mb;
        saa += x * x, sbb += y * y, sab += x * y;
    }
    return fabs(sab) / sqrt(saa * sbb);
}

/* n points in d dims: 5 t1 u1 + 2 t2 u2 + 0.1 noise + offset, u1 u2 orthonormal random. */
static float *make_data(int64_t n, int64_t d, uint64_t seed, float *t1, float *t2) {
    mx_rng r;
    mx_rng_seed(&r, seed);
    float *x = malloc((size_t)(n * d) * sizeof *x);
    double *u = malloc((size_t)(2 * d) * sizeof *u);
    for (int k = 0; k < 2; k++) {
        double nrm = 0;
        for (int64_t j = 0; j < d; j++) u[k * d + j] = mx_rng_normal(&r);
        if (k == 1) { /* orthogonalise against u1 */
            double dot = 0;
            for (int64_t j = 0; j < d; j++) dot += u[j] * u[d + j];
            for (int64_t j = 0; j < d; j++) u[d + j] -= dot * u[j];
        }
        for (int64_t j = 0; j < d; j++) nrm += u[k * d + j] * u[k * d + j];
        for (int64_t j = 0; j < d; j++) u[k * d + j] /= sqrt(nrm);
    }
    for (int64_t i = 0; i < n; i++) {
        t1[i] = (float)mx_rng_normal(&r);
        t2[i] = (float)mx_rng_normal(&r);
        for (int64_t j = 0; j < d; j++)
            x[i * d + j] = (float)(5.0 * t1[i] * u[j] + 2.0 * t2[i] * u[d + j] +
                                   0.1 * mx_rng_normal(&r) + 3.0);
    }
    free(u);
    return x;
}

static void test_pca(int64_t n, int64_t d) {
    float *t1 = malloc((size_t)n * sizeof *t1), *t2 = malloc((size_t)n * sizeof *t2);
    float *x = make_data(n, d, 100 + (uint64_t)d, t1, t2);
    float *xy = malloc((size_t)(2 * n) * sizeof *xy), *xr = malloc((size_t)(2 * n) * sizeof *xr);
    double ex[2], exr[2];
    CHECK_OK(mx_pca_2d(x, n, d, xy, ex));
    CHECK_OK(mx_pca_2d_ref(x, n, d, xr, exr));
    /* the known axes: PC1 follows t1, PC2 follows t2 */
    CHECK(abs_corr(xy, t1, n, 1) > 0.999);
    CHECK(abs_corr(xy + 1, t2, n, 1) > 0.99);
    CHECK(abs_corr(xr, t1, n, 1) > 0.999);
    /* against the reference, sign-insensitive per axis */
    for (int c = 0; c < 2; c++) {
        double dot = 0;
        for (int64_t i = 0; i < n; i++) dot += (double)xy[2 * i + c] * xr[2 * i + c];
        float sgn = dot < 0 ? -1.0f : 1.0f;
        double worst = 0, scale = 0;
        for (int64_t i = 0; i < n; i++) {
            worst = fmax(worst, fabs(sgn * xy[2 * i + c] - xr[2 * i + c]));
            scale = fmax(scale, fabs(xr[2 * i + c]));
        }
        CHECK(worst <= 1e-3 * scale);
        CHECK(sgn > 0); /* same sign convention */
        CHECK_CLOSE(ex[c], exr[c], 1e-5, 1e-4);
    }
    CHECK(ex[0] > ex[1] && ex[0] + ex[1] > 0.95 && ex[0] + ex[1] <= 1.0 + 1e-6);
    printf("pca n=%lld d=%lld: explained %.4f %.4f (ref %.4f %.4f)\n", (long long)n, (long long)d,
           ex[0], ex[1], exr[0], exr[1]);
    free(t1), free(t2), free(x), free(xy), free(xr);
}

/* 10 symmetric classes: 9 nearly equal top eigenvalues, so the axes are not unique. The
 * variance captured by the two projections (rotation-invariant) must still match the reference's
 * top-2 eigenvalues. */
static void test_pca_degenerate(void) {
    enum { N = 2000, D = 40 };
    float *x = malloc(N * D * sizeof *x), *xy = malloc(2 * N * sizeof *xy);
    float *xr = malloc(2 * N * sizeof *xr);
    mx_rng r;
    mx_rng_seed(&r, 11);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < D; j++)
            x[i * D + j] = (float)(0.3 * mx_rng_normal(&r) + (j % 10 == i % 10 ? 1.0 : 0.0));
    double ex[2], exr[2];
    CHECK_OK(mx_pca_2d(x, N, D, xy, ex));
    CHECK_OK(mx_pca_2d_ref(x, N, D, xr, exr));
    double var[2] = {0, 0}, var_ref[2] = {0, 0};
    for (int c = 0; c < 2; c++)
        for (int i = 0; i < N; i++) { /* projections of centred data have mean 0 */
            var[c] += (double)xy[2 * i + c] * xy[2 * i + c];
            var_ref[c] += (double)xr[2 * i + c] * xr[2 * i + c];
        }
    CHECK_CLOSE(var[0] + var[1], var_ref[0] + var_ref[1], 0, 1e-4);
    CHECK_CLOSE(ex[0] + ex[1], exr[0] + exr[1], 0, 1e-4);
    double dot = 0; /* the two axes stay uncorrelated */
    for (int i = 0; i < N; i++) dot += (double)xy[2 * i] * xy[2 * i + 1];
    CHECK(fabs(dot) <= 1e-3 * sqrt(var[0] * var[1]));
    free(x), free(xy), free(xr);
}

/* A stop flag: never set -> the same result as mx_pca_2d; set -> MX_ERR_INTERRUPTED. */
static void test_pca_stop(void) {
    int64_t n = 150, d = 40;
    float *t1 = malloc((size_t)n * sizeof *t1), *t2 = malloc((size_t)n * sizeof *t2);
    float *x = make_data(n, d, 77, t1, t2);
    float *a = malloc((size_t)(2 * n) * sizeof *a), *b = malloc((size_t)(2 * n) * sizeof *b);
    volatile int zero = 0, one = 1;
    CHECK_OK(mx_pca_2d(x, n, d, a, NULL));
    CHECK_OK(mx_pca_2d_stop(x, n, d, b, NULL, &zero));
    CHECK(memcmp(a, b, (size_t)(2 * n) * sizeof *a) == 0);
    CHECK(mx_pca_2d_stop(x, n, d, b, NULL, &one) == MX_ERR_INTERRUPTED);
    free(t1);
    free(t2);
    free(x);
    free(a);
    free(b);
}

static void test_pca_errors(void) {
    float x[6] = {1, 2, 3, 4, 5, 6}, xy[12];
    CHECK(mx_pca_2d(x, 1, 6, xy, NULL) == MX_ERR_SHAPE);
    CHECK(mx_pca_2d(x, 6, 1, xy, NULL) == MX_ERR_SHAPE);
    x[3] = NAN;
    CHECK(mx_pca_2d(x, 3, 2, xy, NULL) == MX_ERR_NUMERIC);
    CHECK(strstr(mx_errmsg(), "row 1") != NULL);
    /* identical points: zero variance, zero projections */
    float same[8] = {1, 2, 1, 2, 1, 2, 1, 2};
    double ex[2] = {-1, -1};
    CHECK_OK(mx_pca_2d(same, 4, 2, xy, ex));
    CHECK(xy[0] == 0 && xy[7] == 0 && ex[0] == 0);
}

/* Pixels of the PNG within 2/255 per channel of rgb. */
static int64_t count_color(cairo_surface_t *s, const double rgb[3]) {
    int w = cairo_image_surface_get_width(s), h = cairo_image_surface_get_height(s);
    int stride = cairo_image_surface_get_stride(s);
    const unsigned char *data = cairo_image_surface_get_data(s);
    int want[3] = {(int)lround(rgb[0] * 255), (int)lround(rgb[1] * 255), (int)lround(rgb[2] * 255)};
    int64_t count = 0;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            uint32_t p = ((const uint32_t *)(data + (size_t)y * stride))[x];
            int r = (p >> 16) & 0xff, g = (p >> 8) & 0xff, b = p & 0xff;
            count += abs(r - want[0]) <= 2 && abs(g - want[1]) <= 2 && abs(b - want[2]) <= 2;
        }
    return count;
}

static cairo_surface_t *load_png(const char *path) {
    cairo_surface_t *s = cairo_image_surface_create_from_png(path);
    CHECK(cairo_surface_status(s) == CAIRO_STATUS_SUCCESS);
    CHECK(cairo_image_surface_get_width(s) == MX_PLOT_WIDTH);
    CHECK(cairo_image_surface_get_height(s) == MX_PLOT_HEIGHT);
    return s;
}

static void test_lines(void) {
    const char *path = MX_BINARY_DIR "/test_plot_lines.png";
    float loss[60], r1[60], x[60];
    for (int i = 0; i < 60; i++) {
        x[i] = (float)(i + 1);
        loss[i] = (float)(2.0 * exp(-i / 15.0) + 0.1);
        r1[i] = (float)(0.3 + 0.6 * (1 - exp(-i / 10.0)));
    }
    loss[30] = NAN; /* a gap */
    const float *ys[2] = {loss, r1}, *xs[2] = {x, NULL};
    const char *names[2] = {"train loss", "Recall@1"};
    const int64_t lens[2] = {60, 60};
    unlink(path);
    CHECK_OK(mx_plot_lines(path, "ProxyAnchor + Metrix, Fashion-MNIST", "epoch", "value", 2, names,
                           xs, ys, lens));
    cairo_surface_t *s = load_png(path);
    struct stat stt;
    CHECK(stat(path, &stt) == 0 && (stt.st_mode & 0044) == 0044); /* readable by others */
    double c0[3], c1[3], white[3] = {1, 1, 1};
    mx_plot_color(0, c0);
    mx_plot_color(1, c1);
    CHECK(count_color(s, c0) > 500);
    CHECK(count_color(s, c1) > 500);
    CHECK(count_color(s, white) > MX_PLOT_WIDTH * MX_PLOT_HEIGHT / 2);
    cairo_surface_destroy(s);
    /* rewrite over the existing file (atomic rename), and one series without x and names */
    const char *path1 = MX_BINARY_DIR "/test_plot_lines_single.png";
    CHECK_OK(mx_plot_lines(path1, "t", NULL, NULL, 2, NULL, NULL, ys, lens));
    CHECK_OK(mx_plot_lines(path1, NULL, NULL, NULL, 1, NULL, NULL, ys + 1, lens));
    s = load_png(path1);
    CHECK(count_color(s, c0) > 300);
    CHECK(count_color(s, c1) < 50);
    cairo_surface_destroy(s);
    /* errors */
    CHECK(mx_plot_lines("/nonexistent-dir/x.png", "t", "x", "y", 2, names, xs, ys, lens) ==
          MX_ERR_IO);
    CHECK(strstr(mx_errmsg(), "/nonexistent-dir/x.png") != NULL);
    CHECK(mx_plot_lines(path, "t", "x", "y", 0, names, xs, ys, lens) == MX_ERR_ARG);
}

static void test_scatter(void) {
    const char *path = MX_BINARY_DIR "/test_plot_scatter.png";
    enum { N = 600, D = 8, C = 5 };
    mx_rng r;
    mx_rng_seed(&r, 5);
    float *emb = malloc(N * D * sizeof *emb), xy[2 * N];
    int32_t labels[N];
    for (int i = 0; i < N; i++) { /* class c: a Gaussian blob around 4 * e_c */
        labels[i] = i % C;
        for (int j = 0; j < D; j++)
            emb[i * D + j] = (float)((j == labels[i] ? 4.0 : 0.0) + 0.5 * mx_rng_normal(&r));
    }
    CHECK_OK(mx_pca_2d(emb, N, D, xy, NULL));
    const char *names[C] = {"T-shirt", "Trouser", "Pullover", "Dress", "Coat"};
    unlink(path);
    CHECK_OK(mx_plot_scatter(path, "PCA of test embeddings (epoch 10)", N, xy, labels, C, names));
    cairo_surface_t *s = load_png(path);
    for (int c = 0; c < C; c++) {
        double rgb[3];
        mx_plot_color(c, rgb);
        CHECK(count_color(s, rgb) > 100);
    }
    cairo_surface_destroy(s);
    /* many classes: legend truncated, colours beyond tab20 still distinct and valid */
    int32_t many[N];
    for (int i = 0; i < N; i++) many[i] = i % 45;
    CHECK_OK(
        mx_plot_scatter(MX_BINARY_DIR "/test_plot_scatter_many.png", NULL, N, xy, many, 45, NULL));
    double a[3], b[3];
    mx_plot_color(21, a);
    mx_plot_color(22, b);
    CHECK(fabs(a[0] - b[0]) + fabs(a[1] - b[1]) + fabs(a[2] - b[2]) > 0.1);
    labels[3] = C;
    CHECK(mx_plot_scatter(path, "t", N, xy, labels, C, names) == MX_ERR_ARG);
    CHECK(mx_plot_scatter(MX_BINARY_DIR "/no/such/dir/s.png", "t", N, xy, many, 45, NULL) ==
          MX_ERR_IO);
    free(emb);
}

/* LeakSanitizer hook (unused without -fsanitize): fontconfig, loaded by cairo for text, keeps a
 * process-lifetime cache that it never frees; that is not a metrix leak. */
const char *__lsan_default_suppressions(void);
const char *__lsan_default_suppressions(void) {
    return "leak:libfontconfig.so\n";
}

int main(void) {
    test_pca(400, 16);
    test_pca(300, 96);
    test_pca(200, 140); /* covariance in three column blocks (d > PCA_COV_COLS = 64) */
    test_pca_stop();
    test_pca_degenerate();
    test_pca_errors();
    test_lines();
    test_scatter();
    cairo_debug_reset_static_data(); /* drop cairo's font caches so LeakSanitizer stays quiet */
    return mx_test_finish("plot");
}
