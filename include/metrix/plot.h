/* metrix plot: PNG figures for training runs, drawn with cairo.
 *   mx_plot_lines:   line chart of one or more series per epoch (loss, Recall@1), with axes, ticks,
 *                    axis labels, title and legend.
 *   mx_plot_scatter: 2-D scatter of points coloured by class, with a legend (the PCA map of test
 *                    embeddings: mx_pca_2d then mx_plot_scatter).
 * Files are written atomically: the PNG goes to a temporary file next to `path`, then is renamed
 * over it, so a reader never sees a half-written figure. Figures are MX_PLOT_WIDTH x
 * MX_PLOT_HEIGHT pixels, RGB on white. */
#ifndef METRIX_PLOT_H
#define METRIX_PLOT_H

#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_PLOT_WIDTH  900
#define MX_PLOT_HEIGHT 600

/* Line chart. Series s has lens[s] points (xs[s][i], ys[s][i]); xs == NULL or xs[s] == NULL
 * means x = 1, 2, ... (epochs). Non-finite y values break the line. names[s] (names or names[s]
 * may be NULL: "series s") label the legend. title / labels may be NULL. */
mx_status mx_plot_lines(const char *path, const char *title, const char *x_label,
                        const char *y_label, int n_series, const char *const *names,
                        const float *const *xs, const float *const *ys, const int64_t *lens);

/* Scatter of n points xy (n x 2, row-major) coloured by labels[i] in [0, n_classes). class_names
 * (may be NULL: "class c") label the legend, which lists at most 30 classes. Non-finite points
 * are skipped. */
mx_status mx_plot_scatter(const char *path, const char *title, int64_t n, const float *xy,
                          const int32_t *labels, int n_classes, const char *const *class_names);

/* Paired differences (strip chart): group g has counts[g] values (per-seed Metrix - baseline,
 * concatenated over the groups in values), drawn as points at x = g + 1, with the group's mean
 * (bar) and its 95% t confidence interval (whisker; counts[g] >= 2), and a dashed zero line.
 * names[g] (may be NULL) label the legend. Non-finite values are skipped. */
mx_status mx_plot_paired(const char *path, const char *title, const char *y_label, int n_groups,
                         const char *const *names, const int *counts, const double *values);

/* ---- retrieval grids -------------------------------------------------------------------- */

/* An 8-bit image, interleaved HWC, c = 1 (gray) or 3 (RGB): the layout of mx_image (data.h);
 * data is the caller's. */
typedef struct mx_plot_image {
    int w, h, c;
    const uint8_t *data;
} mx_plot_image;

#define MX_RETRIEVAL_TILE    96 /* tile side in pixels; images are scaled to fit, aspect kept */
#define MX_RETRIEVAL_MAX_ROW 64
#define MX_RETRIEVAL_MAX_K   32

/* Retrieval grid: n_rows rows, each the query then its k nearest neighbours, best first.
 * tiles and labels are n_rows x (1 + k), row-major (column 0: the query). A tile with data NULL
 * is an empty slot (fewer than k neighbours). Each neighbour is framed green when its label
 * equals its query's, red otherwise (blue when the query's label is < 0: classes unknown); the
 * query is framed dark grey. names (same shape; it or
 * any entry may be NULL) are captions under the tiles (class names); sims (n_rows x k, may be
 * NULL) adds each neighbour's similarity. 1 <= n_rows <= MX_RETRIEVAL_MAX_ROW,
 * 1 <= k <= MX_RETRIEVAL_MAX_K. Written atomically like the other figures. */
mx_status mx_plot_retrievals(const char *path, const char *title, int n_rows, int k,
                             const mx_plot_image *tiles, const int64_t *labels,
                             const char *const *names, const float *sims);

/* Colour of class / series c (tab10, then tab20's light shades, then golden-ratio hues), each
 * channel in [0, 1]: what the plots draw with, exposed for tests and legends elsewhere. */
void mx_plot_color(int c, double rgb[3]);

/* PCA to 2-D: centres the n x d rows of emb, forms the d x d covariance with mx_sgemm, finds its
 * top-2 eigenvectors by subspace (block power) iteration, and writes the projections to out_xy
 * (n x 2, row-major; column 0 = first principal axis). Each axis's sign is fixed so that its
 * largest-magnitude component is positive. explained (may be NULL) receives the two eigenvalues
 * divided by the total variance. Needs n >= 2, d >= 2. */
mx_status mx_pca_2d(const float *emb, int64_t n, int64_t d, float *out_xy, double explained[2]);

/* The same projection with the top-2 axes found by a naive dense Jacobi eigen-solver in double:
 * the test oracle (O(d^3) per sweep; for small d). */
mx_status mx_pca_2d_ref(const float *emb, int64_t n, int64_t d, float *out_xy, double explained[2]);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_PLOT_H */
