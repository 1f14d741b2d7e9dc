/* Private: the communicator's operations table. comm.c holds the public entry points (timing,
 * byte counters, the failure agreement); comm_single.c and comm_mpi.c the transports. */
#ifndef MX_COMM_IMPL_H
#define MX_COMM_IMPL_H

#include "core/core_impl.h"
#include "metrix/comm.h"

typedef enum { MX_CT_F32, MX_CT_F64, MX_CT_I64, MX_CT_I32 } mx_comm_type;

typedef struct mx_comm_ops {
    const char *kind;
    /* in-place sum of n elements */
    mx_status (*allreduce_sum)(mx_comm *c, void *buf, int64_t n, mx_comm_type type);
    /* in-place min of n int32 */
    mx_status (*allreduce_min_i32)(mx_comm *c, int32_t *buf, int64_t n);
    /* in-place all-gather, counts / displs in elements */
    mx_status (*allgatherv)(mx_comm *c, void *buf, const int64_t *counts, mx_comm_type type);
    /* in-place: the rank's summed block lands at the start of buf */
    mx_status (*reduce_scatter_f32)(mx_comm *c, float *buf, const int64_t *counts);
    /* counts in elements (f32); the caller copied the rank's own block */
    mx_status (*alltoallv_f32)(mx_comm *c, const float *send, const int64_t *scounts, float *recv,
                               const int64_t *rcounts);
    /* non-blocking in-place f32 sum (n < 2^31), its progress, completion of all started */
    mx_status (*iallreduce_f32)(mx_comm *c, float *buf, int64_t n);
    void (*progress)(mx_comm *c);
    mx_status (*wait)(mx_comm *c);
    mx_status (*bcast)(mx_comm *c, void *buf, int64_t bytes, int root);
    mx_status (*barrier)(mx_comm *c);
    void (*destroy)(mx_comm *c);
} mx_comm_ops;

struct mx_comm {
    const mx_comm_ops *ops;
    int rank, size;
    mx_comm_stats st;
    void *impl; /* the transport's state */
};

static inline size_t mx_comm_type_size(mx_comm_type t) {
    return t == MX_CT_I32 ? 4 : 8 - 4 * (t == MX_CT_F32);
}

#endif
