/* Private to the plot module: what plot.c shares with the other figure files. */
#ifndef MX_PLOT_IMPL_H
#define MX_PLOT_IMPL_H

#include <cairo.h>

#include "metrix/core.h"

/* Writes the surface to path as PNG atomically (temporary file next to it, fsync, rename). */
mx_status mx_plot_save_png(cairo_surface_t *surf, const char *path);

#endif
