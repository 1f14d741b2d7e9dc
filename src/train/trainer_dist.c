/* Data-parallel training over ranks (docs/scaling.md). The global batch of B examples is drawn
 * identically on every rank (same sampler, same seed); rank r decodes and embeds rows
 * [B r / N, B (r + 1) / N). The clean embeddings (and, for Metrix at feature / input level, the
 * feature maps / images) are all-gathered, so every rank evaluates the metric loss over the
 * whole global batch exactly as one process would. The mixed examples are shared out by rank
 * (contiguous blocks of the pair list); at feature level each rank receives only the maps its
 * pairs use (all-to-all), and returns their gradients to the owners the same way; the mixed
 * embeddings are all-gathered for the loss. Each
 * rank back-propagates its own rows and mixed examples; the parameter gradients are summed by
 * all-reduce, so the optimizer step is the same on every rank and equals the 1-rank step up to
 * the summation order. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

mx_status mx_tr_dist_init(mx_trainer *t, mx_comm *comm) {
    if (!comm) {
        MX_TRY(mx_comm_create_single(&t->comm));
        t->own_comm = 1;
    } else {
        t->comm = comm;
    }
    t->rank = mx_comm_rank(t->comm);
    t->nranks = mx_comm_size(t->comm);
    t->follower = t->rank != 0;
    int64_t B = t->cfg.batch;
    if (B % t->nranks && !t->infer_only) /* an opened run (eval / embed) has no batch to split */
        return mx_error(MX_ERR_CONFIG,
                        "batch: the global batch %" PRId64 " does not divide into %d ranks; choose "
                        "--batch a multiple of %d (it is the batch over all ranks)",
                        B, t->nranks, t->nranks);
    t->b_lo = B * t->rank / t->nranks;
    t->b_n = B / t->nranks;
    t->counts = calloc((size_t)t->nranks, sizeof(int64_t));
    return t->counts ? MX_OK : mx_error(MX_ERR_NOMEM, "trainer: rank counts");
}

mx_status mx_tr_agree(mx_trainer *t, mx_status s) {
    return t->nranks > 1 ? mx_comm_agree(t->comm, s) : s;
}

int mx_tr_stop_agreed(mx_trainer *t) {
    int local = mx_stopped(t->stop);
    return t->nranks > 1 ? mx_comm_any(t->comm, local) : local;
}

mx_status mx_tr_gather_rows_f(mx_trainer *t, float *buf, int64_t row) {
    if (t->nranks <= 1) return MX_OK;
    for (int r = 0; r < t->nranks; r++) t->counts[r] = (int64_t)t->B / t->nranks * row;
    return mx_comm_allgatherv_f32(t->comm, buf, t->counts);
}

void mx_tr_mixed_share(const mx_trainer *t, int64_t M, int rank, int64_t *lo, int64_t *cnt) {
    *lo = M * rank / t->nranks;
    *cnt = M * (rank + 1) / t->nranks - *lo;
}

mx_status mx_tr_gather_mixed_f(mx_trainer *t, float *buf, int64_t M, int64_t row) {
    if (t->nranks <= 1) return MX_OK;
    for (int r = 0; r < t->nranks; r++) {
        int64_t lo, cnt;
        mx_tr_mixed_share(t, M, r, &lo, &cnt);
        t->counts[r] = cnt * row;
    }
    return mx_comm_allgatherv_f32(t->comm, buf, t->counts);
}

/* Buckets of at least this many floats (4 MB), cut at node boundaries. */
#define MX_BUCKET_FLOATS ((int64_t)1 << 20)

mx_status mx_tr_buckets_init(mx_trainer *t) {
    if (t->nranks <= 1 || !mx_model_grad_offsets_ordered(t->model)) return MX_OK;
    int k = mx_model_node_param_offsets(t->model, NULL, 0);
    int64_t *offs = malloc(sizeof(int64_t) * (size_t)(k + 1));
    t->bucket_lo = malloc(sizeof(int64_t) * (size_t)(k + 1));
    if (!offs || !t->bucket_lo) {
        free(offs);
        return mx_error(MX_ERR_NOMEM, "trainer: gradient buckets");
    }
    mx_model_node_param_offsets(t->model, offs, k);
    int64_t hi = mx_model_n_params(t->model);
    for (int i = k - 1; i >= 0; i--) /* from the top; the last bucket reaches 0 */
        if (hi - offs[i] >= MX_BUCKET_FLOATS || i == 0) t->bucket_lo[t->n_buckets++] = hi = offs[i];
    if (t->n_buckets == 0 || t->bucket_lo[t->n_buckets - 1] != 0) t->bucket_lo[t->n_buckets++] = 0;
    free(offs);
    return MX_OK;
}

/* starts bucket k (its gradients are complete on this rank) */
static mx_status start_bucket(mx_trainer *t, int k) {
    int64_t hi = k ? t->bucket_lo[k - 1] : mx_model_n_params(t->model), lo = t->bucket_lo[k];
    return mx_comm_iallreduce_f32(t->comm, mx_model_grads(t->model) + lo, hi - lo);
}

void mx_tr_grad_hook(void *ctx, int64_t lowest_param) {
    mx_trainer *t = ctx;
    /* a failed start is met again, and reported, by mx_tr_reduce_grads' wait */
    while (t->next_bucket < t->n_buckets && t->bucket_lo[t->next_bucket] >= lowest_param)
        if (start_bucket(t, t->next_bucket++) != MX_OK) break;
    mx_comm_progress(t->comm);
}

/* Every rank starts every bucket in the same order (also after a failed backward, so that no
 * rank waits for a sum another never starts), then waits for all. */
mx_status mx_tr_reduce_grads(mx_trainer *t) {
    if (t->nranks <= 1) return MX_OK;
    mx_status s = MX_OK;
    if (t->n_buckets) {
        while (t->next_bucket < t->n_buckets) {
            mx_status b = start_bucket(t, t->next_bucket++);
            if (s == MX_OK) s = b;
        }
        mx_status w = mx_comm_wait(t->comm);
        t->next_bucket = 0;
        MX_TRY(s != MX_OK ? s : w);
    } else {
        MX_TRY(
            mx_comm_allreduce_f32(t->comm, mx_model_grads(t->model), mx_model_n_params(t->model)));
    }
    if (t->proxy_loss) {
        int64_t np = (int64_t)t->n_classes * t->d;
        MX_TRY(mx_comm_allreduce_f32(t->comm, t->d_proxies, np));
        const float inv = 1.0f / (float)t->nranks;
        for (int64_t i = 0; i < np; i++) t->d_proxies[i] *= inv;
    }
    return MX_OK;
}

mx_status mx_tr_sync_bn_stats(mx_trainer *t) {
    if (t->nranks <= 1 || t->cfg.bn_freeze) return MX_OK;
    float *st = mx_model_stats(t->model);
    int64_t n = mx_model_n_stats(t->model);
    MX_TRY(mx_comm_allreduce_f32(t->comm, st, n));
    const float inv = 1.0f / (float)t->nranks;
    for (int64_t i = 0; i < n; i++) st[i] *= inv;
    return MX_OK;
}

/* the rows of rank q: [q b_n, (q + 1) b_n) */
static void need_sets(mx_trainer *t, int64_t M) {
    const int N = t->nranks;
    const int64_t B = t->B, bn = t->b_n;
    memset(t->need, 0, (size_t)(N * B));
    for (int q = 0; q < N; q++) {
        int64_t lo, cnt;
        mx_tr_mixed_share(t, M, q, &lo, &cnt);
        unsigned char *nq = t->need + q * B;
        for (int64_t k = lo; k < lo + cnt; k++) {
            const int64_t x[2] = {t->pairs[k].i, t->pairs[k].j};
            for (int c = 0; c < 2; c++)
                if (x[c] / bn != q) nq[x[c]] = 1;
        }
    }
}

/* counts[q]: floats of the rows of `owner(q)` that `user(q)` needs, for every q != R; send: this
 * rank's rows that q needs (forward), recv: q's rows this rank needs */
static void a2a_counts(mx_trainer *t, int64_t *own_needed_by, int64_t *needed_from) {
    const int N = t->nranks, R = t->rank;
    const int64_t B = t->B, bn = t->b_n, fs = t->feat_size;
    for (int q = 0; q < N; q++) {
        int64_t a = 0, b = 0;
        for (int64_t x = 0; q != R && x < bn; x++) {
            a += t->need[q * B + R * bn + x]; /* my row, used by q */
            b += t->need[R * B + q * bn + x]; /* q's row, used by me */
        }
        own_needed_by[q] = a * fs, needed_from[q] = b * fs;
    }
}

mx_status mx_tr_exchange_maps(mx_trainer *t, int64_t M) {
    const int N = t->nranks, R = t->rank;
    const int64_t B = t->B, bn = t->b_n, fs = t->feat_size;
    need_sets(t, M);
    int64_t *sc = t->xcounts, *rc = t->xcounts + N;
    a2a_counts(t, sc, rc);
    size_t o = 0;
    for (int q = 0; q < N; q++)
        for (int64_t x = R * bn; q != R && x < (R + 1) * bn; x++)
            if (t->need[q * B + x])
                memcpy(t->xsend + fs * o++, t->feat + x * fs, sizeof(float) * (size_t)fs);
    MX_TRY(mx_comm_alltoallv_f32(t->comm, t->xsend, sc, t->xrecv, rc));
    o = 0;
    for (int q = 0; q < N; q++)
        for (int64_t x = q * bn; q != R && x < (q + 1) * bn; x++)
            if (t->need[R * B + x])
                memcpy(t->feat + x * fs, t->xrecv + fs * o++, sizeof(float) * (size_t)fs);
    return MX_OK;
}

mx_status mx_tr_return_map_grads(mx_trainer *t) {
    const int N = t->nranks, R = t->rank;
    const int64_t B = t->B, bn = t->b_n, fs = t->feat_size;
    int64_t *sc = t->xcounts, *rc = t->xcounts + N;
    a2a_counts(t, rc, sc); /* the forward's counts, reversed */
    size_t o = 0;
    for (int q = 0; q < N; q++)
        for (int64_t x = q * bn; q != R && x < (q + 1) * bn; x++)
            if (t->need[R * B + x])
                memcpy(t->xsend + fs * o++, t->d_feat + x * fs, sizeof(float) * (size_t)fs);
    MX_TRY(mx_comm_alltoallv_f32(t->comm, t->xsend, sc, t->xrecv, rc));
    o = 0; /* each rank's part for my rows, added in rank order */
    for (int q = 0; q < N; q++)
        for (int64_t x = R * bn; q != R && x < (R + 1) * bn; x++)
            if (t->need[q * B + x]) {
                const float *g = t->xrecv + fs * o++;
                float *dst = t->d_feat + x * fs;
                for (int64_t e = 0; e < fs; e++) dst[e] += g[e];
            }
    return MX_OK;
}
