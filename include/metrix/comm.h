/* metrix comm: the communicator of data-parallel training over processes (ranks).
 *
 * One small interface with two implementations: a single process (always built; every
 * operation is a copy or a no-op) and OpenMPI (src/comm/comm_mpi.c, built when CMake finds MPI;
 * mx_comm_mpi_available() says whether it was). The trainer receives a communicator and never
 * tests for MPI itself. Every operation is collective: all ranks call it, in the same order,
 * with the same sizes. Buffers are the caller's. Failures return MX_ERR_BACKEND naming the
 * operation (the MPI communicator returns errors instead of aborting). */
#ifndef METRIX_COMM_H
#define METRIX_COMM_H

#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mx_comm mx_comm;

/* A communicator of one rank (rank 0 of 1). */
mx_status mx_comm_create_single(mx_comm **out);
/* 1 when this library was built with MPI. */
int mx_comm_mpi_available(void);
/* 1 when the process was started by mpirun / a PMI launcher (OMPI_COMM_WORLD_SIZE, PMI_SIZE or
 * PMIX_RANK in the environment). */
int mx_comm_launched_by_mpirun(void);
/* MPI_Init (thread level FUNNELED: only the calling thread communicates) and a duplicate of
 * MPI_COMM_WORLD with errors returned. MX_ERR_BACKEND when built without MPI. */
mx_status mx_comm_create_mpi(mx_comm **out);
/* Frees; the MPI communicator also finalizes MPI. NULL: no-op. */
void mx_comm_free(mx_comm *c);

int mx_comm_rank(const mx_comm *c);
int mx_comm_size(const mx_comm *c);
/* "single" or "mpi" */
const char *mx_comm_kind(const mx_comm *c);

/* In-place sums over the ranks: buf (n) <- sum_r buf_r. */
mx_status mx_comm_allreduce_f32(mx_comm *c, float *buf, int64_t n);
mx_status mx_comm_allreduce_f64(mx_comm *c, double *buf, int64_t n);
/* In-place all-gather with per-rank counts: rank r's block is buf[displ_r .. displ_r +
 * counts[r]) with displ_r = sum_{q<r} counts[q] (counts: size entries, the same on all ranks);
 * every rank ends with all blocks. */
mx_status mx_comm_allgatherv_f32(mx_comm *c, float *buf, const int64_t *counts);
mx_status mx_comm_allgatherv_i64(mx_comm *c, int64_t *buf, const int64_t *counts);
/* In-place reduce-scatter: buf holds sum(counts) elements on every rank; afterwards rank r's
 * block (at displ_r, as in the all-gather) holds the sum over the ranks of that block; the rest of
 * buf is unspecified. Half the traffic of an all-reduce when each rank needs only its block. */
mx_status mx_comm_reduce_scatter_f32(mx_comm *c, float *buf, const int64_t *counts);
/* Personalised exchange: rank r sends send[sdispl_q .. sdispl_q + scounts[q]) to each rank q
 * and receives rank q's block for it into recv[rdispl_q .. rdispl_q + rcounts[q]) (displacements:
 * prefix sums of the counts; scounts[q] on rank r must equal rcounts[r] on rank q). The block for
 * itself is copied. send and recv must not overlap. */
mx_status mx_comm_alltoallv_f32(mx_comm *c, const float *send, const int64_t *scounts, float *recv,
                                const int64_t *rcounts);
/* Non-blocking in-place sums, to overlap a gradient all-reduce with the backward pass:
 * mx_comm_iallreduce_f32 starts buf (n) <- sum_r buf_r and returns; buf must not be touched until
 * mx_comm_wait, which completes every started one. At most MX_COMM_MAX_PENDING are in flight
 * (one more waits for all). mx_comm_progress lets the transport move them on (call it between
 * pieces of work). Every rank must start the same sequence; they run on a communicator of their
 * own, so other collectives may come in between. */
#define MX_COMM_MAX_PENDING 64
mx_status mx_comm_iallreduce_f32(mx_comm *c, float *buf, int64_t n);
void mx_comm_progress(mx_comm *c);
mx_status mx_comm_wait(mx_comm *c);
/* bytes of buf from rank root to all. */
mx_status mx_comm_bcast(mx_comm *c, void *buf, int64_t bytes, int root);
mx_status mx_comm_barrier(mx_comm *c);
/* 1 on every rank when flag is non-zero on any rank. */
int mx_comm_any(mx_comm *c, int flag);
/* Agreement on failure: every rank passes its status; when any rank failed, every rank returns
 * the status of the lowest failing rank with that rank's message (prefixed "rank R: " when there
 * are several ranks) as its mx_errmsg; else MX_OK. If the agreement itself fails, the local
 * status (or MX_ERR_BACKEND) is returned. */
mx_status mx_comm_agree(mx_comm *c, mx_status local);

/* Traffic counters since the last reset: bytes this rank sent into collectives (an all-reduce
 * of n bytes counts n, an all-gather counts this rank's block, an all-to-all the blocks this
 * rank sends to the others, under bytes_allgather), their number, and the seconds
 * spent inside them (waiting for slower ranks included). */
typedef struct mx_comm_stats {
    double bytes_allreduce, bytes_allgather, bytes_other;
    int64_t calls;
    double seconds;
} mx_comm_stats;
void mx_comm_stats_get(const mx_comm *c, mx_comm_stats *out);
void mx_comm_stats_reset(mx_comm *c);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_COMM_H */
