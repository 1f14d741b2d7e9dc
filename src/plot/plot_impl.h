/* Private to the plot module: what plot.c shares with the other figure files, and entry points
 * with a stop flag. */
#ifndef MX_PLOT_IMPL_H
#define MX_PLOT_IMPL_H

/* cairo.h names it so too (C11 allows the repeated typedef); users outside plot need no cairo */
typedef struct _cairo_surface cairo_surface_t;
#include <stdint.h>

#include "metrix/core.h"
#include "metrix/plot.h"

/* Writes the surface to path as PNG atomically (temporary file next to it, fsync, rename). */
mx_status mx_plot_save_png(cairo_surface_t *surf, const char *path);
/* Ends a figure: flushes the surface; if st is MX_OK and cairo reports no error, saves it as PNG
 * (mx_plot_save_png). Destroys cr and surf in every case; returns the first error. */
typedef struct _cairo cairo_t;
mx_status mx_plot_finish(cairo_surface_t *surf, cairo_t *cr, const char *path, mx_status st);

/* mx_pca_2d with a stop flag (may be NULL; see mx_stopped in core_impl.h): checked between
 * column blocks of the covariance GEMM and once per subspace iteration (about 0.3 s each at
 * d = 8192); MX_ERR_INTERRUPTED when set, out_xy then undefined. */
mx_status mx_pca_2d_stop(const float *emb, int64_t n, int64_t d, float *out_xy, double explained[2],
                         volatile const int *stop);

#endif
