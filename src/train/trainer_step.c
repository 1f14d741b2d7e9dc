/* One training step: forward, Metrix mixing, loss, backward, optimizer step. No allocation. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

/* ---- one training step ------------------------------------------------------------------- */

void mx_tr_zero_f(float *p, int64_t n) {
    if (p && n > 0) memset(p, 0, sizeof(float) * (size_t)n);
}

/* The loss over the whole global batch (every rank computes the same), with the diagnosis of a
 * non-finite loss. */
static mx_status step_loss(mx_trainer *t, int64_t n, int64_t M, mx_loss_result *res) {
    mx_status ls = mx_loss_compute(t->loss, n, t->emb, t->labels, t->proxies, M,
                                   M ? t->emb_mixed : NULL, M ? t->pairs : NULL, res, t->d_emb,
                                   M ? t->d_emb_mixed : NULL, t->d_proxies);
    if (ls == MX_ERR_NUMERIC) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", mx_errmsg());
        return mx_error(MX_ERR_NUMERIC,
                        "epoch %" PRId64 " step %" PRId64 ": %s (the network diverged; try a "
                        "lower lr or gradient clipping); the last good checkpoint is kept",
                        t->epoch + 1, t->step_in_epoch + 1, msg);
    }
    if (ls != MX_OK) return ls;
    if (!isfinite(res->total))
        return mx_error(MX_ERR_NUMERIC,
                        "loss is %g at epoch %" PRId64 " step %" PRId64
                        " (try a lower lr or gradient clipping); the last good checkpoint is kept",
                        res->total, t->epoch + 1, t->step_in_epoch + 1);
    return MX_OK;
}

/* The last backward of a step starts each gradient bucket's all-reduce as soon as the bucket is
 * complete (several ranks; trainer_dist.c). */
static void arm_grad_hook(mx_trainer *t, int on) {
    if (t->n_buckets) mx_model_set_grad_hook(t->model, on ? mx_tr_grad_hook : NULL, t);
}

/* n: the global batch (t->images / t->labels hold all n labels and this rank's rows
 * [b_lo, b_lo + b_n) of images; one process: all rows). See trainer_dist.c for the ranks. */
mx_status mx_tr_step(mx_trainer *t, int64_t n, mx_loss_result *res) {
    mx_model *m = t->model;
    const int64_t d = t->d, fs = t->feat_size;
    if (t->nranks > 1 && n != t->B)
        return mx_error(MX_ERR_INTERNAL, "step: a batch of %" PRId64 " of %d on %d ranks", n, t->B,
                        t->nranks);
    const int64_t lo = t->nranks > 1 ? t->b_lo : 0, b = t->nranks > 1 ? t->b_n : n;
    int trunk_frozen = mx_optim_is_frozen(t->opt, t->g_trunk);
    mx_optim_zero_grad(t->opt);
    mx_tr_zero_f(t->d_emb, n * d);

    /* clean forward of this rank's rows (slot 0); feature level keeps the map at the mixing
     * stage; then every rank gets every row's embedding */
    float *img = t->images + lo * t->img_floats;
    const float *feat = t->feat; /* n maps at the mixing stage (feature level) */
    mx_status s;
    if (t->level == MIX_FEATURE) {
        float *own = t->feat_inplace ? NULL : t->feat + lo * fs; /* NULL: stays in the slot */
        s = mx_model_forward(m, 0, MX_STAGE_INPUT, t->stage, img, b, own);
        if (s == MX_OK)
            s = mx_model_forward(m, 0, t->stage, MX_STAGE_EMBED, own, b, t->emb + lo * d);
        if (t->feat_inplace) feat = mx_model_stage_map(m, 0, t->stage);
    } else {
        s = mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, img, b, t->emb + lo * d);
    }
    MX_TRY(mx_tr_agree(t, s));
    MX_TRY(mx_tr_gather_rows_f(t, t->emb, d));

    /* Metrix: choose pairs and lambda over the global batch (the same on every rank), mix at the
     * chosen level, embed the mixed examples: embed level on every rank (cheap), the other
     * levels by share [mlo, mlo + mn) of the pair list from the gathered maps / images */
    int64_t M = 0, mlo = 0, mn = 0;
    if (t->level != MIX_NONE) {
        const float *sim = NULL;
        if (t->mix_cfg.neg_select == MX_MIX_NEG_HARDEST) {
            /* the embeddings are unit vectors: cosine similarity is their inner product */
            mx_sgemm(0, 1, n, n, d, 1.0f, t->emb, d, t->emb, d, 0.0f, t->sim, n);
            sim = t->sim;
        }
        MX_TRY(
            mx_mixer_sample(t->mixer, n, t->labels, sim, &t->rng_mix, t->max_mixed, t->pairs, &M));
        if (M > t->max_run) M = mx_mix_subsample(t->pairs, M, t->max_run, &t->rng_mix);
    }
    if (M > 0) {
        mx_tr_zero_f(t->d_emb_mixed, M * d);
        if (t->level == MIX_EMBED) {
            mlo = 0, mn = M;
        } else {
            mx_tr_mixed_share(t, M, t->rank, &mlo, &mn);
            if (t->level == MIX_FEATURE && t->nranks > 1)
                MX_TRY(mx_tr_exchange_maps(t, M)); /* only the maps this rank's pairs use */
            else if (t->level != MIX_FEATURE)
                MX_TRY(mx_tr_gather_rows_f(t, t->images, t->img_floats));
        }
        const mx_mix_pair *pr = t->pairs + mlo;
        float *ev = t->emb_mixed + mlo * d;
        if (t->level == MIX_EMBED) {
            mx_mix_rows_forward(M, d, t->emb, t->pairs, t->emb_mixed);
        } else if (mn > 0 && t->level == MIX_FEATURE && t->fused) {
            s = mx_mix_head_forward(t->mhead, m, feat, n, pr, mn, ev);
        } else if (mn > 0 && t->level == MIX_FEATURE) {
            mx_mix_rows_forward(mn, fs, feat, pr, t->mixed_in);
            s = mx_model_forward(m, 1, t->stage, MX_STAGE_EMBED, t->mixed_in, mn, ev);
        } else if (mn > 0) {
            mx_mix_rows_forward(mn, t->img_floats, t->images, pr, t->mixed_in);
            s = mx_model_forward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, t->mixed_in, mn, ev);
        }
        MX_TRY(mx_tr_agree(t, s));
        if (t->level != MIX_EMBED) MX_TRY(mx_tr_gather_mixed_f(t, t->emb_mixed, M, d));
    }

    MX_TRY(mx_tr_agree(t, step_loss(t, n, M, res)));

    /* backward: each rank its own rows and its own mixed examples, whose gradients reach the
     * clean rows they were mixed from */
    const mx_mix_pair *pr = t->pairs + mlo;
    const float *dev = t->d_emb_mixed + mlo * d;
    if (t->level == MIX_FEATURE) {
        /* d(loss)/d(map): n rows (this rank's own at lo) = the clean head's + the mixed path's.
         * In place: the clean head writes it into the slot, the mixed path adds to it there. */
        float *dfeat = trunk_frozen      ? NULL
                       : t->feat_inplace ? mx_model_stage_grad(m, 0, t->stage)
                                         : t->d_feat;
        if (dfeat && !t->feat_inplace) mx_tr_zero_f(dfeat, n * fs);
        s = mx_model_backward(m, 0, t->stage, MX_STAGE_EMBED, t->d_emb + lo * d,
                              dfeat ? dfeat + lo * fs : NULL);
        if (s == MX_OK && mn > 0 && t->fused) {
            s = mx_mix_head_backward(t->mhead, m, pr, dev, dfeat);
        } else if (s == MX_OK && mn > 0) {
            mx_tr_zero_f(t->d_mixed_in, mn * fs);
            s = mx_model_backward(m, 1, t->stage, MX_STAGE_EMBED, dev,
                                  dfeat ? t->d_mixed_in : NULL);
            if (s == MX_OK && dfeat) mx_mix_rows_backward(mn, fs, t->d_mixed_in, pr, dfeat);
        }
        MX_TRY(mx_tr_agree(t, s));
        /* the map gradients of rows owned elsewhere (the mixed path's) go to, and are summed
         * by, their owners */
        if (dfeat && M > 0 && t->nranks > 1) MX_TRY(mx_tr_return_map_grads(t));
        if (dfeat) {
            arm_grad_hook(t, 1);
            s = mx_model_backward(m, 0, MX_STAGE_INPUT, t->stage, dfeat + lo * fs, NULL);
            arm_grad_hook(t, 0);
        }
    } else {
        if (M > 0 && t->level == MIX_EMBED)
            mx_mix_rows_backward(M, d, t->d_emb_mixed, t->pairs, t->d_emb);
        if (mn > 0 && t->level == MIX_INPUT)
            s = mx_model_backward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, dev, NULL);
        if (s == MX_OK) {
            arm_grad_hook(t, 1);
            s = mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->d_emb + lo * d, NULL);
            arm_grad_hook(t, 0);
        }
    }
    /* every rank completes the gradient sums (a failed rank too: see mx_tr_reduce_grads), then
     * the ranks agree */
    mx_status r = mx_tr_reduce_grads(t);
    MX_TRY(mx_tr_agree(t, s != MX_OK ? s : r));

    /* keep mixed embeddings of the last epoch for the utilization metric */
    if (M > 0 && t->epoch + 1 == t->cfg.epochs) {
        int64_t mm;
        const float *v = mx_loss_mixed_embeddings(t->loss, &mm);
        for (int64_t k = 0; k < mm && t->n_util_mixed < MX_UTIL_MIXED_CAP; k += 7)
            memcpy(t->util_mixed + t->n_util_mixed++ * d, v + k * d, sizeof(float) * (size_t)d);
    }

    if (t->cfg.clip_value > 0) MX_TRY(mx_optim_clip_grad_value(t->opt, NULL, 0, t->cfg.clip_value));
    if (t->cfg.clip_norm > 0)
        MX_TRY(mx_optim_clip_grad_norm(t->opt, NULL, 0, t->cfg.clip_norm, NULL));
    mx_status st = mx_optim_step(t->opt);
    mx_model_params_updated(t->model); /* the step wrote the parameters: recache conv weights */
    return st;
}
