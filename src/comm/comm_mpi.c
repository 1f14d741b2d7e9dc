/* The OpenMPI communicator (built when CMake finds MPI): a duplicate of MPI_COMM_WORLD with
 * MPI_ERRORS_RETURN, so a failed collective becomes an MX_ERR_BACKEND naming it instead of an
 * abort. Only the thread that created the communicator calls MPI (MPI_THREAD_FUNNELED). */
#include <limits.h>
#include <stdlib.h>

#include <mpi.h>

#include "comm/comm_impl.h"

typedef struct mpi_state {
    MPI_Comm comm;
    int we_initialized; /* MPI_Init was ours: finalize on free */
    int *a2a;           /* 4 x size: all-to-all counts and displacements (allocated once) */
    MPI_Comm icomm;     /* the non-blocking sums' own duplicate (their order is theirs alone) */
    MPI_Request req[MX_COMM_MAX_PENDING];
    int n_req;
} mpi_state;

static MPI_Comm comm_of(const mx_comm *c) {
    return ((const mpi_state *)c->impl)->comm;
}

static mx_status mpi_fail(int rc, const char *op) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
    text[len] = 0;
    return mx_error(MX_ERR_BACKEND, "MPI %s failed: %s", op, len ? text : "unknown error");
}

static MPI_Datatype mpi_type(mx_comm_type t) {
    switch (t) {
    case MX_CT_F32:
        return MPI_FLOAT;
    case MX_CT_F64:
        return MPI_DOUBLE;
    case MX_CT_I32:
        return MPI_INT32_T;
    default:
        return MPI_INT64_T;
    }
}

/* MPI counts are int: long buffers go in chunks of at most 2^28 elements */
static mx_status mpi_allreduce(mx_comm *c, void *buf, int64_t n, mx_comm_type type) {
    const int64_t chunk = (int64_t)1 << 28;
    size_t es = mx_comm_type_size(type);
    for (int64_t off = 0; off < n; off += chunk) {
        int cnt = (int)MX_MIN(chunk, n - off);
        int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + (size_t)off * es, cnt, mpi_type(type),
                               MPI_SUM, comm_of(c));
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "Allreduce");
    }
    return MX_OK;
}

static mx_status mpi_min_i32(mx_comm *c, int32_t *buf, int64_t n) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, buf, (int)n, MPI_INT32_T, MPI_MIN, comm_of(c));
    return rc == MPI_SUCCESS ? MX_OK : mpi_fail(rc, "Allreduce(min)");
}

static mx_status mpi_allgatherv(mx_comm *c, void *buf, const int64_t *counts, mx_comm_type type) {
    int *cnt = malloc(sizeof(int) * 2 * (size_t)c->size);
    if (!cnt) return mx_error(MX_ERR_NOMEM, "comm allgather: out of memory");
    int *displ = cnt + c->size;
    int64_t off = 0;
    for (int r = 0; r < c->size; r++) {
        if (counts[r] > INT_MAX || off > INT_MAX) {
            free(cnt);
            return mx_error(MX_ERR_ARG,
                            "comm allgather: %lld elements exceed MPI's int counts (2^31 - 1)",
                            (long long)(off + counts[r]));
        }
        cnt[r] = (int)counts[r];
        displ[r] = (int)off;
        off += counts[r];
    }
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, cnt, displ, mpi_type(type),
                            comm_of(c));
    free(cnt);
    return rc == MPI_SUCCESS ? MX_OK : mpi_fail(rc, "Allgatherv");
}

static mx_status mpi_reduce_scatter(mx_comm *c, float *buf, const int64_t *counts) {
    int *cnt = malloc(sizeof(int) * (size_t)c->size);
    if (!cnt) return mx_error(MX_ERR_NOMEM, "comm reduce_scatter: out of memory");
    int64_t total = 0;
    for (int r = 0; r < c->size; r++) {
        total += counts[r];
        if (total > INT_MAX) {
            free(cnt);
            return mx_error(MX_ERR_ARG,
                            "comm reduce_scatter: %lld elements exceed MPI's int counts",
                            (long long)total);
        }
        cnt[r] = (int)counts[r];
    }
    int rc = MPI_Reduce_scatter(MPI_IN_PLACE, buf, cnt, MPI_FLOAT, MPI_SUM, comm_of(c));
    free(cnt);
    return rc == MPI_SUCCESS ? MX_OK : mpi_fail(rc, "Reduce_scatter");
}

/* The own block was copied by the caller: its counts are 0 here. */
static mx_status mpi_alltoallv(mx_comm *c, const float *send, const int64_t *scounts, float *recv,
                               const int64_t *rcounts) {
    int *sc = ((mpi_state *)c->impl)->a2a, *sd = sc + c->size, *rc = sd + c->size,
        *rd = rc + c->size;
    int64_t so = 0, ro = 0;
    for (int r = 0; r < c->size; r++) {
        if (so + scounts[r] > INT_MAX || ro + rcounts[r] > INT_MAX)
            return mx_error(MX_ERR_ARG, "comm alltoallv: more than 2^31 - 1 elements");
        const int self = r == c->rank;
        sc[r] = self ? 0 : (int)scounts[r], sd[r] = (int)so;
        rc[r] = self ? 0 : (int)rcounts[r], rd[r] = (int)ro;
        so += scounts[r], ro += rcounts[r];
    }
    int rc_ = MPI_Alltoallv(send, sc, sd, MPI_FLOAT, recv, rc, rd, MPI_FLOAT, comm_of(c));
    return rc_ == MPI_SUCCESS ? MX_OK : mpi_fail(rc_, "Alltoallv");
}

static mx_status mpi_wait(mx_comm *c) {
    mpi_state *ms = c->impl;
    int rc = ms->n_req ? MPI_Waitall(ms->n_req, ms->req, MPI_STATUSES_IGNORE) : MPI_SUCCESS;
    ms->n_req = 0;
    return rc == MPI_SUCCESS ? MX_OK : mpi_fail(rc, "Waitall(Iallreduce)");
}

static mx_status mpi_iallreduce(mx_comm *c, float *buf, int64_t n) {
    mpi_state *ms = c->impl;
    if (ms->n_req == MX_COMM_MAX_PENDING) MX_TRY(mpi_wait(c));
    int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, MPI_SUM, ms->icomm,
                            &ms->req[ms->n_req]);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "Iallreduce");
    ms->n_req++;
    return MX_OK;
}

/* OpenMPI moves non-blocking collectives on only inside MPI calls: test them */
static void mpi_progress(mx_comm *c) {
    mpi_state *ms = c->impl;
    int done = 0;
    if (ms->n_req) MPI_Testall(ms->n_req, ms->req, &done, MPI_STATUSES_IGNORE);
    if (done) ms->n_req = 0;
}

static mx_status mpi_bcast(mx_comm *c, void *buf, int64_t bytes, int root) {
    const int64_t chunk = (int64_t)1 << 30;
    for (int64_t off = 0; off < bytes; off += chunk) {
        int rc = MPI_Bcast((char *)buf + off, (int)MX_MIN(chunk, bytes - off), MPI_BYTE, root,
                           comm_of(c));
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "Bcast");
    }
    return MX_OK;
}

static mx_status mpi_barrier(mx_comm *c) {
    int rc = MPI_Barrier(comm_of(c));
    return rc == MPI_SUCCESS ? MX_OK : mpi_fail(rc, "Barrier");
}

static void mpi_destroy(mx_comm *c) {
    mpi_state *ms = c->impl;
    if (!ms) return;
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) {
        if (ms->n_req) MPI_Waitall(ms->n_req, ms->req, MPI_STATUSES_IGNORE);
        if (ms->icomm != MPI_COMM_NULL) MPI_Comm_free(&ms->icomm);
        MPI_Comm_free(&ms->comm);
        if (ms->we_initialized) MPI_Finalize();
    }
    free(ms->a2a);
    free(ms);
}

static const mx_comm_ops mpi_ops = {
    "mpi",          mpi_allreduce, mpi_min_i32, mpi_allgatherv, mpi_reduce_scatter, mpi_alltoallv,
    mpi_iallreduce, mpi_progress,  mpi_wait,    mpi_bcast,      mpi_barrier,        mpi_destroy};

int mx_comm_mpi_available(void) {
    return 1;
}

mx_status mx_comm_create_mpi(mx_comm **out) {
    *out = NULL;
    int inited = 0, provided = 0, rc;
    MPI_Initialized(&inited);
    if (!inited) {
        rc = MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "Init");
    }
    mx_comm *c = calloc(1, sizeof *c);
    mpi_state *ms = calloc(1, sizeof *ms);
    if (!c || !ms) {
        free(c);
        free(ms);
        if (!inited) MPI_Finalize();
        return mx_error(MX_ERR_NOMEM, "comm: out of memory");
    }
    ms->we_initialized = !inited;
    ms->icomm = MPI_COMM_NULL;
    rc = MPI_Comm_dup(MPI_COMM_WORLD, &ms->comm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(ms->comm, MPI_ERRORS_RETURN);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_dup(ms->comm, &ms->icomm);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(ms->comm, &c->rank);
    if (rc == MPI_SUCCESS) rc = MPI_Comm_size(ms->comm, &c->size);
    if (rc == MPI_SUCCESS && !(ms->a2a = malloc(sizeof(int) * 4 * (size_t)c->size)))
        rc = MPI_ERR_NO_MEM;
    if (rc != MPI_SUCCESS) {
        mx_status s = mpi_fail(rc, "Comm_dup");
        free(ms->a2a);
        free(c);
        free(ms);
        if (!inited) MPI_Finalize();
        return s;
    }
    c->ops = &mpi_ops;
    c->impl = ms;
    *out = c;
    return MX_OK;
}
