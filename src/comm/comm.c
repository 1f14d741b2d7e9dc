/* The communicator's public entry points: argument checks, traffic counters and timing around
 * the transport (comm_single.c, comm_mpi.c), and the failure agreement. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm/comm_impl.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int mx_comm_launched_by_mpirun(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") || getenv("PMIX_RANK");
}

void mx_comm_free(mx_comm *c) {
    if (!c) return;
    c->ops->destroy(c);
    free(c);
}

int mx_comm_rank(const mx_comm *c) {
    return c->rank;
}

int mx_comm_size(const mx_comm *c) {
    return c->size;
}

const char *mx_comm_kind(const mx_comm *c) {
    return c->ops->kind;
}

static mx_status allreduce(mx_comm *c, void *buf, int64_t n, mx_comm_type type) {
    if (n < 0 || (n > 0 && !buf))
        return mx_error(MX_ERR_ARG, "comm allreduce: %lld elements", (long long)n);
    if (c->size == 1 || n == 0) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->allreduce_sum(c, buf, n, type);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_allreduce += (double)n * (double)mx_comm_type_size(type);
    return s;
}

mx_status mx_comm_allreduce_f32(mx_comm *c, float *buf, int64_t n) {
    return allreduce(c, buf, n, MX_CT_F32);
}

mx_status mx_comm_allreduce_f64(mx_comm *c, double *buf, int64_t n) {
    return allreduce(c, buf, n, MX_CT_F64);
}

mx_status mx_comm_iallreduce_f32(mx_comm *c, float *buf, int64_t n) {
    if (n < 1 || n > INT_MAX || !buf)
        return mx_error(MX_ERR_ARG, "comm iallreduce: %lld elements", (long long)n);
    if (c->size == 1) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->iallreduce_f32(c, buf, n);
    c->st.seconds += now_s() - t0;
    c->st.bytes_allreduce += (double)n * sizeof(float);
    c->st.calls++;
    return s;
}

void mx_comm_progress(mx_comm *c) {
    if (c->size == 1) return;
    double t0 = now_s();
    c->ops->progress(c);
    c->st.seconds += now_s() - t0;
}

mx_status mx_comm_wait(mx_comm *c) {
    if (c->size == 1) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->wait(c);
    c->st.seconds += now_s() - t0;
    return s;
}

static mx_status allgatherv(mx_comm *c, void *buf, const int64_t *counts, mx_comm_type type) {
    int64_t total = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] < 0)
            return mx_error(MX_ERR_ARG, "comm allgather: rank %d count %lld < 0", r,
                            (long long)counts[r]);
        total += counts[r];
    }
    if (c->size == 1 || total == 0) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->allgatherv(c, buf, counts, type);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_allgather += (double)counts[c->rank] * (double)mx_comm_type_size(type);
    return s;
}

mx_status mx_comm_allgatherv_f32(mx_comm *c, float *buf, const int64_t *counts) {
    return allgatherv(c, buf, counts, MX_CT_F32);
}

mx_status mx_comm_allgatherv_i64(mx_comm *c, int64_t *buf, const int64_t *counts) {
    return allgatherv(c, buf, counts, MX_CT_I64);
}

mx_status mx_comm_reduce_scatter_f32(mx_comm *c, float *buf, const int64_t *counts) {
    int64_t total = 0, displ = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] < 0)
            return mx_error(MX_ERR_ARG, "comm reduce_scatter: rank %d count %lld < 0", r,
                            (long long)counts[r]);
        if (r < c->rank) displ += counts[r];
        total += counts[r];
    }
    if (c->size == 1 || total == 0) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->reduce_scatter_f32(c, buf, counts);
    /* the transport leaves this rank's block at the start: move it to its place */
    if (s == MX_OK && displ > 0 && counts[c->rank] > 0)
        memmove(buf + displ, buf, sizeof(float) * (size_t)counts[c->rank]);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_allreduce += (double)total * sizeof(float);
    return s;
}

mx_status mx_comm_alltoallv_f32(mx_comm *c, const float *send, const int64_t *scounts, float *recv,
                                const int64_t *rcounts) {
    int64_t so = 0, ro = 0, sent = 0;
    for (int r = 0; r < c->size; r++) {
        if (scounts[r] < 0 || rcounts[r] < 0)
            return mx_error(MX_ERR_ARG, "comm alltoallv: rank %d counts %lld / %lld < 0", r,
                            (long long)scounts[r], (long long)rcounts[r]);
        if (r < c->rank) so += scounts[r], ro += rcounts[r];
        if (r != c->rank) sent += scounts[r];
    }
    if (scounts[c->rank] != rcounts[c->rank])
        return mx_error(MX_ERR_ARG, "comm alltoallv: own block %lld sent, %lld received",
                        (long long)scounts[c->rank], (long long)rcounts[c->rank]);
    if (scounts[c->rank] > 0)
        memcpy(recv + ro, send + so, sizeof(float) * (size_t)scounts[c->rank]);
    if (c->size == 1) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->alltoallv_f32(c, send, scounts, recv, rcounts);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_allgather += (double)sent * sizeof(float);
    return s;
}

mx_status mx_comm_bcast(mx_comm *c, void *buf, int64_t bytes, int root) {
    if (root < 0 || root >= c->size)
        return mx_error(MX_ERR_ARG, "comm bcast: root %d outside 0..%d", root, c->size - 1);
    if (c->size == 1 || bytes <= 0) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->bcast(c, buf, bytes, root);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_other += (double)bytes;
    return s;
}

mx_status mx_comm_barrier(mx_comm *c) {
    if (c->size == 1) return MX_OK;
    double t0 = now_s();
    mx_status s = c->ops->barrier(c);
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    return s;
}

/* min over the ranks of v; on a transport failure, v itself */
static int32_t min_i32(mx_comm *c, int32_t v) {
    if (c->size == 1) return v;
    double t0 = now_s();
    int32_t x = v;
    if (c->ops->allreduce_min_i32(c, &x, 1) != MX_OK) x = v;
    c->st.seconds += now_s() - t0;
    c->st.calls++;
    c->st.bytes_other += sizeof x;
    return x;
}

int mx_comm_any(mx_comm *c, int flag) {
    return min_i32(c, flag ? 0 : 1) == 0;
}

mx_status mx_comm_agree(mx_comm *c, mx_status local) {
    if (c->size == 1) return local;
    int32_t first = min_i32(c, local != MX_OK ? c->rank : c->size);
    if (first >= c->size) return MX_OK;
    struct {
        int32_t status;
        char msg[1536];
    } m;
    memset(&m, 0, sizeof m);
    if (c->rank == first) {
        m.status = (int32_t)local;
        snprintf(m.msg, sizeof m.msg, "%s", mx_errmsg());
    }
    if (mx_comm_bcast(c, &m, (int64_t)sizeof m, (int)first) != MX_OK)
        return local != MX_OK ? local : MX_ERR_BACKEND;
    m.msg[sizeof m.msg - 1] = 0;
    mx_status s =
        m.status > MX_OK && m.status <= MX_ERR_INTERNAL ? (mx_status)m.status : MX_ERR_INTERNAL;
    /* an interruption is everybody's (the stop flag is agreed): no rank prefix */
    char prefix[64];
    snprintf(prefix, sizeof prefix, "rank %d of %d: ", (int)first, c->size);
    /* already agreed once (nested agreements): one prefix */
    if (s == MX_ERR_INTERRUPTED || !strncmp(m.msg, "rank ", 5)) return mx_error(s, "%s", m.msg);
    return mx_error(s, "%s%s", prefix, m.msg);
}

void mx_comm_stats_get(const mx_comm *c, mx_comm_stats *out) {
    *out = c->st;
}

void mx_comm_stats_reset(mx_comm *c) {
    memset(&c->st, 0, sizeof c->st);
}
