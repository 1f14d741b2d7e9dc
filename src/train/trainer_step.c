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

mx_status mx_tr_step(mx_trainer *t, int64_t n, mx_loss_result *res) {
    mx_model *m = t->model;
    const int64_t d = t->d;
    int trunk_frozen = mx_optim_is_frozen(t->opt, t->g_trunk);
    mx_optim_zero_grad(t->opt);
    mx_tr_zero_f(t->d_emb, n * d);

    /* clean forward (slot 0); feature level keeps the map at the mixing stage */
    if (t->level == MIX_FEATURE) {
        MX_TRY(mx_model_forward(m, 0, MX_STAGE_INPUT, t->stage, t->images, n, t->feat));
        MX_TRY(mx_model_forward(m, 0, t->stage, MX_STAGE_EMBED, t->feat, n, t->emb));
    } else {
        MX_TRY(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->images, n, t->emb));
    }

    /* Metrix: choose pairs and lambda, mix at the chosen level, embed the mixed examples */
    int64_t M = 0;
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
            mx_mix_rows_forward(M, d, t->emb, t->pairs, t->emb_mixed);
        } else if (t->level == MIX_FEATURE && t->fused) {
            MX_TRY(mx_mix_head_forward(t->mhead, m, t->feat, n, t->pairs, M, t->emb_mixed));
        } else if (t->level == MIX_FEATURE) {
            mx_mix_rows_forward(M, t->feat_size, t->feat, t->pairs, t->mixed_in);
            MX_TRY(mx_model_forward(m, 1, t->stage, MX_STAGE_EMBED, t->mixed_in, M, t->emb_mixed));
        } else {
            mx_mix_rows_forward(M, t->img_floats, t->images, t->pairs, t->mixed_in);
            MX_TRY(mx_model_forward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, t->mixed_in, M,
                                    t->emb_mixed));
        }
    }

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

    /* backward: the mixed path first, scattering into the clean path's gradient */
    if (t->level == MIX_FEATURE) {
        float *dfeat = trunk_frozen ? NULL : t->d_feat;
        mx_tr_zero_f(t->d_feat, n * t->feat_size);
        if (M > 0 && t->fused) {
            MX_TRY(mx_mix_head_backward(t->mhead, m, t->pairs, t->d_emb_mixed, dfeat));
        } else if (M > 0) {
            mx_tr_zero_f(t->d_mixed_in, M * t->feat_size);
            MX_TRY(mx_model_backward(m, 1, t->stage, MX_STAGE_EMBED, t->d_emb_mixed,
                                     dfeat ? t->d_mixed_in : NULL));
            if (dfeat) mx_mix_rows_backward(M, t->feat_size, t->d_mixed_in, t->pairs, dfeat);
        }
        MX_TRY(mx_model_backward(m, 0, t->stage, MX_STAGE_EMBED, t->d_emb, dfeat));
        if (!trunk_frozen)
            MX_TRY(mx_model_backward(m, 0, MX_STAGE_INPUT, t->stage, t->d_feat, NULL));
    } else {
        if (M > 0 && t->level == MIX_EMBED)
            mx_mix_rows_backward(M, d, t->d_emb_mixed, t->pairs, t->d_emb);
        if (M > 0 && t->level == MIX_INPUT)
            MX_TRY(mx_model_backward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, t->d_emb_mixed, NULL));
        MX_TRY(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->d_emb, NULL));
    }

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
