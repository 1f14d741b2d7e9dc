/* data: the batch loader. Worker threads (pthreads) claim batches in order and fill the slots of
 * a ring of `prefetch` batches; the caller copies ready batches out in order. Example k of batch
 * b decodes with its own RNG stream seeded from (seed, epoch, b * B + k), so batch contents do
 * not depend on the number of workers or on which worker decodes what. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "metrix/data.h"

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY };

typedef struct slot {
    int state;
    int64_t batch, n;
    mx_status st;
    char msg[512];
    float *img;   /* [B][per] */
    int64_t *lab; /* [B] */
} slot;

struct mx_loader {
    const mx_dataset *ds;
    const mx_sampler *s; /* NULL: evaluation order */
    mx_transform_config tf;
    mx_loader_config cfg;
    int B, min_short;
    int64_t row_lo, row_hi; /* rows of each batch this shard decodes (training loader) */
    int64_t per;            /* floats per image */
    int64_t nb;             /* batches per epoch */
    int64_t n_idx;          /* valid entries of idx */
    int64_t ex_lo;          /* evaluation loader: the shard's first example */
    int64_t *idx;           /* this epoch's example order */
    int64_t epoch;
    int started;
    slot *slots;
    int P;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_ready;
    int64_t next_claim, next_out;
    int stop;
    pthread_t *th;
    int nth;
    mx_decoder **dec; /* [workers + 1]: one per worker, the last for the calling thread */
    struct worker_arg {
        mx_loader *ld;
        int t;
    } * args;
};

void mx_loader_eval_shard(int64_t n, int64_t batch, int shard, int shards, int64_t *lo,
                          int64_t *count) {
    if (shards <= 1 || batch <= 0) {
        *lo = 0, *count = n;
        return;
    }
    const int64_t nb = (n + batch - 1) / batch; /* whole batches, the last one short */
    const int64_t b0 = nb * shard / shards, b1 = nb * (shard + 1) / shards;
    *lo = MX_MIN(n, b0 * batch);
    *count = MX_MIN(n, b1 * batch) - *lo;
}

mx_loader_config mx_loader_config_default(void) {
    mx_loader_config c = {2, 3, 0, 0, 1};
    return c;
}

/* Decodes and transforms batch b into images (rows row_lo.. of the batch, from images[0]) and
 * labels (all rows); returns its size in *n. */
static mx_status fill_batch(const mx_loader *ld, mx_decoder *dec, int64_t b, float *images,
                            int64_t *labels, int64_t *n) {
    const int64_t first = b * ld->B;
    const int64_t cnt = MX_MIN((int64_t)ld->B, ld->n_idx - first);
    const int64_t *lab = mx_dataset_labels(ld->ds);
    for (int64_t k = 0; k < cnt; k++) {
        int64_t i = ld->idx[first + k];
        labels[k] = lab[i];
        if (k < ld->row_lo || k >= ld->row_hi) continue; /* another rank's row */
        mx_image im; /* a view into dec or the dataset: nothing is allocated per example */
        MX_TRY(mx_dataset_image_view(ld->ds, i, ld->min_short, dec, &im));
        mx_rng r;
        mx_rng_seed(&r, mx_hash3(ld->cfg.seed, (uint64_t)ld->epoch, (uint64_t)(first + k)));
        mx_status st = mx_transform_apply(&ld->tf, &im, &r, images + (k - ld->row_lo) * ld->per);
        if (st != MX_OK) {
            const char *p = mx_dataset_path(ld->ds, i);
            return mx_error(st, "%s (example %ld): %s", p ? p : "in-memory image", (long)i,
                            mx_errmsg());
        }
    }
    *n = cnt;
    return MX_OK;
}

static void *worker(void *arg) {
    struct worker_arg *wa = arg;
    mx_loader *ld = wa->ld;
    mx_decoder *dec = ld->dec[wa->t];
    pthread_mutex_lock(&ld->mu);
    for (;;) {
        if (ld->stop || ld->next_claim >= ld->nb) break;
        int64_t b = ld->next_claim;
        slot *sl = &ld->slots[b % ld->P];
        if (sl->state != SLOT_FREE) {
            pthread_cond_wait(&ld->cv_work, &ld->mu);
            continue;
        }
        sl->state = SLOT_FILLING;
        sl->batch = b;
        ld->next_claim++;
        pthread_mutex_unlock(&ld->mu);
        mx_status st = fill_batch(ld, dec, b, sl->img, sl->lab, &sl->n);
        if (st != MX_OK) snprintf(sl->msg, sizeof(sl->msg), "%s", mx_errmsg());
        pthread_mutex_lock(&ld->mu);
        sl->st = st;
        sl->state = SLOT_READY;
        pthread_cond_broadcast(&ld->cv_ready);
    }
    pthread_mutex_unlock(&ld->mu);
    return NULL;
}

static void stop_workers(mx_loader *ld) {
    if (!ld->nth) return;
    pthread_mutex_lock(&ld->mu);
    ld->stop = 1;
    pthread_cond_broadcast(&ld->cv_work);
    pthread_mutex_unlock(&ld->mu);
    for (int t = 0; t < ld->nth; t++) pthread_join(ld->th[t], NULL);
    ld->nth = 0;
    ld->stop = 0;
}

mx_status mx_loader_create(const mx_dataset *ds, const mx_sampler *s, int eval_batch,
                           const mx_transform_config *tf, const mx_loader_config *cfg,
                           mx_loader **out) {
    *out = NULL;
    MX_TRY(mx_transform_config_check(tf));
    if (cfg->workers < 0 || cfg->workers > 256)
        return mx_error(MX_ERR_CONFIG, "loader.workers: expected 0..256, got %d", cfg->workers);
    if (cfg->prefetch < 1 || cfg->prefetch > 64)
        return mx_error(MX_ERR_CONFIG, "loader.prefetch: expected 1..64, got %d", cfg->prefetch);
    int shards = cfg->shards > 1 ? cfg->shards : 1;
    if (cfg->shard < 0 || cfg->shard >= shards)
        return mx_error(MX_ERR_CONFIG, "loader.shard: expected 0..%d, got %d", shards - 1,
                        cfg->shard);
    if (s && mx_sampler_batch_size(s) % shards)
        return mx_error(MX_ERR_CONFIG, "loader: batch %d does not divide into %d shards",
                        mx_sampler_batch_size(s), shards);
    if (!s && eval_batch < 1)
        return mx_error(MX_ERR_CONFIG, "loader: eval batch size %d < 1", eval_batch);
    if (!s && (tf->kind == MX_TF_TRAIN_RRC || tf->kind == MX_TF_TRAIN_PAD_CROP))
        return mx_error(MX_ERR_CONFIG, "loader: an evaluation loader takes a test transform "
                                       "(TEST_RESIZE_CROP or NONE), not an augmentation");
    if (s && mx_dataset_size(ds) < 1) return mx_error(MX_ERR_ARG, "loader: empty dataset");
    mx_loader *ld = calloc(1, sizeof(*ld));
    if (!ld) return mx_error(MX_ERR_NOMEM, "loader: out of memory");
    ld->ds = ds;
    ld->s = s;
    ld->tf = *tf;
    ld->cfg = *cfg;
    ld->B = s ? mx_sampler_batch_size(s) : eval_batch;
    ld->min_short = mx_transform_min_short(tf);
    ld->per = (int64_t)tf->channels * tf->out_size * tf->out_size;
    int64_t n = mx_dataset_size(ds);
    int64_t ex_lo = 0; /* evaluation shard: examples ex_lo .. ex_lo + n - 1 */
    ld->row_lo = 0, ld->row_hi = ld->B;
    if (s) {
        ld->row_lo = (int64_t)ld->B * cfg->shard / shards;
        ld->row_hi = (int64_t)ld->B * (cfg->shard + 1) / shards;
    } else {
        mx_loader_eval_shard(n, ld->B, cfg->shard, shards, &ex_lo, &n);
    }
    ld->ex_lo = ex_lo;
    ld->nb = s ? mx_sampler_batches(s) : (n + ld->B - 1) / ld->B;
    ld->n_idx = s ? ld->nb * ld->B : n;
    ld->idx = malloc((size_t)MX_MAX(ld->n_idx, 1) * sizeof(int64_t));
    ld->P = cfg->workers ? cfg->prefetch : 0;
    ld->slots = calloc((size_t)MX_MAX(ld->P, 1), sizeof(slot));
    ld->th = calloc((size_t)MX_MAX(cfg->workers, 1), sizeof(pthread_t));
    ld->dec = calloc((size_t)cfg->workers + 1, sizeof(mx_decoder *));
    ld->args = calloc((size_t)MX_MAX(cfg->workers, 1), sizeof(*ld->args));
    int ok = ld->idx && ld->slots && ld->th && ld->dec && ld->args;
    for (int t = 0; ok && t <= cfg->workers; t++) ok = mx_decoder_create(&ld->dec[t]) == MX_OK;
    for (int p = 0; ok && p < ld->P; p++) {
        ld->slots[p].img =
            mx_alloc((size_t)MX_MAX(ld->row_hi - ld->row_lo, 1) * ld->per * sizeof(float));
        ld->slots[p].lab = malloc((size_t)ld->B * sizeof(int64_t));
        ok = ld->slots[p].img && ld->slots[p].lab;
    }
    pthread_mutex_init(&ld->mu, NULL);
    pthread_cond_init(&ld->cv_work, NULL);
    pthread_cond_init(&ld->cv_ready, NULL);
    if (!ok) {
        mx_status st =
            mx_error(MX_ERR_NOMEM, "loader: cannot allocate %d batches of %d x %ld floats",
                     cfg->prefetch, ld->B, (long)ld->per);
        mx_loader_free(ld);
        return st;
    }
    *out = ld;
    return MX_OK;
}

void mx_loader_free(mx_loader *ld) {
    if (!ld) return;
    stop_workers(ld);
    pthread_mutex_destroy(&ld->mu);
    pthread_cond_destroy(&ld->cv_work);
    pthread_cond_destroy(&ld->cv_ready);
    if (ld->slots)
        for (int p = 0; p < ld->P; p++) {
            mx_free(ld->slots[p].img);
            free(ld->slots[p].lab);
        }
    free(ld->slots);
    if (ld->dec)
        for (int t = 0; t <= ld->cfg.workers; t++) mx_decoder_free(ld->dec[t]);
    free(ld->dec);
    free(ld->args);
    free(ld->th);
    free(ld->idx);
    free(ld);
}

int64_t mx_loader_batches(const mx_loader *ld) {
    return ld->nb;
}

int mx_loader_batch_size(const mx_loader *ld) {
    return ld->B;
}

int64_t mx_loader_image_floats(const mx_loader *ld) {
    return ld->per;
}

mx_status mx_loader_start_epoch(mx_loader *ld, int64_t epoch) {
    stop_workers(ld);
    if (ld->s) {
        MX_TRY(mx_sampler_epoch(ld->s, epoch, ld->idx));
    } else {
        for (int64_t i = 0; i < ld->n_idx; i++) ld->idx[i] = ld->ex_lo + i;
    }
    ld->epoch = epoch;
    ld->next_claim = ld->next_out = 0;
    for (int p = 0; p < ld->P; p++) ld->slots[p].state = SLOT_FREE;
    ld->started = 1;
    for (int t = 0; t < ld->cfg.workers; t++) {
        ld->args[t].ld = ld;
        ld->args[t].t = t;
        if (pthread_create(&ld->th[t], NULL, worker, &ld->args[t]) != 0) {
            stop_workers(ld);
            ld->started = 0;
            return mx_error(MX_ERR_BACKEND, "loader: pthread_create failed for worker %d", t);
        }
        ld->nth = t + 1;
    }
    return MX_OK;
}

mx_status mx_loader_next(mx_loader *ld, float *images, int64_t *labels, int64_t *n) {
    *n = 0;
    if (!ld->started) return mx_error(MX_ERR_ARG, "loader: call mx_loader_start_epoch first");
    if (ld->next_out >= ld->nb) return MX_OK;
    int64_t b = ld->next_out;
    if (ld->cfg.workers == 0) {
        MX_TRY(
            fill_batch(ld, ld->dec[ld->cfg.workers], b, images + ld->row_lo * ld->per, labels, n));
        ld->next_out++;
        return MX_OK;
    }
    slot *sl = &ld->slots[b % ld->P];
    pthread_mutex_lock(&ld->mu);
    while (!(sl->state == SLOT_READY && sl->batch == b)) pthread_cond_wait(&ld->cv_ready, &ld->mu);
    pthread_mutex_unlock(&ld->mu);
    mx_status st = sl->st;
    if (st == MX_OK) {
        int64_t rows = MX_MIN(sl->n, ld->row_hi) - ld->row_lo;
        if (rows > 0)
            memcpy(images + ld->row_lo * ld->per, sl->img, (size_t)rows * ld->per * sizeof(float));
        memcpy(labels, sl->lab, (size_t)sl->n * sizeof(int64_t));
        *n = sl->n;
    } else {
        mx_error(st, "%s", sl->msg);
    }
    pthread_mutex_lock(&ld->mu);
    sl->state = SLOT_FREE;
    ld->next_out++;
    pthread_cond_broadcast(&ld->cv_work);
    pthread_mutex_unlock(&ld->mu);
    return st;
}
