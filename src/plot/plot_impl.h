/* Private entry points of the plot module. */
#ifndef MX_PLOT_IMPL_H
#define MX_PLOT_IMPL_H

#include <stdint.h>

#include "metrix/plot.h"

/* mx_pca_2d with a stop flag (may be NULL; see mx_stopped in core_impl.h): checked between
 * column blocks of the covariance GEMM and once per subspace iteration (about 0.3 s each at
 * d = 8192); MX_ERR_INTERRUPTED when set, out_xy then undefined. */
mx_status mx_pca_2d_stop(const float *emb, int64_t n, int64_t d, float *out_xy,
                         double explained[2], volatile const int *stop);

#endif
