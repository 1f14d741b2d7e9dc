/* Private to the optim module and its tests. */
#ifndef MX_OPTIM_IMPL_H
#define MX_OPTIM_IMPL_H

#include <stdint.h>

/* One Adam(W) update of n elements by the scalar reference (ref != 0) or the optimised path.
 * consts = {step_size, sqrt(1 - beta2^t), beta1, beta2, 1 - beta1, 1 - beta2, eps, wd (L2),
 * decoupled factor (1 - lr wd for AdamW, else 1)}. */
void mx_optim_adam_kernel(int ref, float *p, const float *g, float *m, float *v, int64_t n,
                          const float consts[9]);

#endif
