/* Private helpers of the eval module. */
#ifndef MX_EVAL_IMPL_H
#define MX_EVAL_IMPL_H

#include <stdint.h>

#include "metrix/eval.h"

/* The kNN engine on caller-owned buffers: per query row i, an unsorted bounded heap of k
 * (hs, hi) + i*k holding cnt[i] items. Tiles are computed and scanned per thread. */
mx_status mx_knn_heaps(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                       int exclude_self, float *hs, int64_t *hi, int64_t *cnt);

/* Dense ids of labels: ids[i] in [0, *n_ids) in sorted label order (ids may be NULL);
 * *uniq_out (may be NULL) receives the sorted distinct labels (free()). */
mx_status mx_eval_dense_ids(const int64_t *labels, int64_t n, int64_t *ids, int64_t **uniq_out,
                            int64_t *n_ids);

#endif
