/* The single-process communicator: one rank, so every collective is a no-op (the in-place
 * buffers already hold the result). Without MPI, mx_comm_create_mpi says so. */
#include <stdlib.h>

#include "comm/comm_impl.h"

static mx_status single_allreduce(mx_comm *c, void *buf, int64_t n, mx_comm_type type) {
    return MX_OK;
}

static mx_status single_min_i32(mx_comm *c, int32_t *buf, int64_t n) {
    return MX_OK;
}

static mx_status single_allgatherv(mx_comm *c, void *buf, const int64_t *counts,
                                   mx_comm_type type) {
    return MX_OK;
}

static mx_status single_reduce_scatter(mx_comm *c, float *buf, const int64_t *counts) {
    return MX_OK;
}

static mx_status single_alltoallv(mx_comm *c, const float *send, const int64_t *scounts,
                                  float *recv, const int64_t *rcounts) {
    return MX_OK; /* the own block is all there is: copied by the caller */
}

static mx_status single_bcast(mx_comm *c, void *buf, int64_t bytes, int root) {
    return MX_OK;
}

/* one rank: a sum over one rank is the buffer itself */
static mx_status single_iallreduce(mx_comm *c, float *buf, int64_t n) {
    (void)c, (void)buf, (void)n;
    return MX_OK;
}

static void single_progress(mx_comm *c) {
    (void)c;
}

static mx_status single_wait(mx_comm *c) {
    (void)c;
    return MX_OK;
}

static mx_status single_barrier(mx_comm *c) {
    return MX_OK;
}

static void single_destroy(mx_comm *c) {
    (void)c;
}

static const mx_comm_ops single_ops = {"single",          single_allreduce,      single_min_i32,
                                       single_allgatherv, single_reduce_scatter, single_alltoallv,
                                       single_iallreduce, single_progress,       single_wait,
                                       single_bcast,      single_barrier,        single_destroy};

mx_status mx_comm_create_single(mx_comm **out) {
    *out = NULL;
    mx_comm *c = calloc(1, sizeof *c);
    if (!c) return mx_error(MX_ERR_NOMEM, "comm: out of memory");
    c->ops = &single_ops;
    c->rank = 0;
    c->size = 1;
    *out = c;
    return MX_OK;
}

#ifndef MX_HAVE_MPI
int mx_comm_mpi_available(void) {
    return 0;
}

mx_status mx_comm_create_mpi(mx_comm **out) {
    *out = NULL;
    return mx_error(MX_ERR_BACKEND, "comm: this metrix was built without MPI (install "
                                    "libopenmpi-dev and rebuild to train over several processes)");
}
#endif
