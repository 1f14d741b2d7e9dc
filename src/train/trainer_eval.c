/* Embedding and evaluating a split: leave-one-out, or query/gallery for In-Shop. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

/* ---- evaluation -------------------------------------------------------------------------- */

/* Embeds every example of ds (test transform, BN in eval mode) into emb (n x d), labels. */
mx_status mx_tr_embed_split(mx_trainer *t, const mx_dataset *ds, float *emb, int64_t *labels) {
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = t->cfg.workers;
    mx_loader *ld;
    MX_TRY(mx_loader_create(ds, NULL, t->B, &t->tf_test, &lc, &ld));
    mx_model_set_inference(t->model, 1);
    mx_status s = mx_loader_start_epoch(ld, 0);
    int64_t done = 0, n = 0;
    while (s == MX_OK) {
        if (mx_stopped(t->stop)) {
            s = mx_error(MX_ERR_INTERRUPTED,
                         "embedding interrupted after %" PRId64 " of %" PRId64 " examples", done,
                         mx_dataset_size(ds));
            break;
        }
        s = mx_loader_next(ld, t->images, labels + done, &n);
        if (s != MX_OK || n == 0) break;
        s = mx_model_forward(t->model, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, t->images, n,
                             emb + done * t->d);
        done += n;
    }
    mx_model_set_inference(t->model, 0);
    mx_model_set_train(t->model, !t->cfg.bn_freeze);
    mx_loader_free(ld);
    return s;
}

/* Leave-one-out (or query/gallery for In-Shop) report of a split; train embeddings for
 * utilization may be NULL. */
mx_status mx_tr_eval_split(mx_trainer *t, const mx_dataset *ds, const float *train, int64_t n_train,
                           int full, mx_eval_report *rep, float **emb_out, int64_t **lab_out) {
    int64_t n = mx_dataset_size(ds);
    float *emb = mx_alloc(sizeof(float) * (size_t)(n * t->d));
    int64_t *lab = mx_alloc(sizeof(int64_t) * (size_t)n);
    if (!emb || !lab) {
        mx_free(emb);
        mx_free(lab);
        return mx_error(MX_ERR_NOMEM, "trainer: embeddings of %" PRId64 " examples", n);
    }
    mx_status s = mx_tr_embed_split(t, ds, emb, lab);
    mx_eval_config ec = mx_eval_config_default();
    ec.n_k = 4;
    ec.k[0] = 1, ec.k[1] = 2, ec.k[2] = 4, ec.k[3] = 8;
    if (!strcmp(t->cfg.dataset, "sop")) ec.k[1] = 10, ec.k[2] = 100, ec.k[3] = 1000;
    ec.nmi = full;
    ec.align_uniform = full;
    ec.stop = t->stop;
    mx_rng r;
    mx_rng_seed(&r, t->cfg.seed ^ 0xe7a1);
    if (s == MX_OK) s = mx_eval_run(emb, lab, n, t->d, train, n_train, &ec, &r, rep);
    if (s == MX_OK && emb_out) {
        *emb_out = emb;
        *lab_out = lab;
    } else {
        mx_free(emb);
        mx_free(lab);
    }
    return s;
}

mx_status mx_tr_eval_query_gallery(mx_trainer *t, int full, mx_eval_report *rep) {
    int64_t nq = mx_dataset_size(t->ds_query), ng = mx_dataset_size(t->ds_gallery);
    float *q = mx_alloc(sizeof(float) * (size_t)(nq * t->d));
    float *g = mx_alloc(sizeof(float) * (size_t)(ng * t->d));
    int64_t *ql = mx_alloc(sizeof(int64_t) * (size_t)nq),
            *gl = mx_alloc(sizeof(int64_t) * (size_t)ng);
    mx_status s =
        q && g && ql && gl ? MX_OK : mx_error(MX_ERR_NOMEM, "trainer: In-Shop embeddings");
    if (s == MX_OK) s = mx_tr_embed_split(t, t->ds_query, q, ql);
    if (s == MX_OK) s = mx_tr_embed_split(t, t->ds_gallery, g, gl);
    mx_eval_config ec = mx_eval_config_default();
    ec.n_k = 4;
    ec.k[0] = 1, ec.k[1] = 10, ec.k[2] = 20, ec.k[3] = 30;
    ec.nmi = full;
    ec.align_uniform = full;
    ec.stop = t->stop;
    mx_rng r;
    mx_rng_seed(&r, t->cfg.seed ^ 0xe7a1);
    if (s == MX_OK) s = mx_eval_run_qg(q, ql, nq, g, gl, ng, t->d, NULL, 0, &ec, &r, rep);
    mx_free(q);
    mx_free(g);
    mx_free(ql);
    mx_free(gl);
    return s;
}

/* ---- using a trained run ----------------------------------------------------------------- */

static const mx_dataset *split_dataset(const mx_trainer *t, mx_split split) {
    switch (split) {
    case MX_SPLIT_TRAIN:
        return t->ds_train;
    case MX_SPLIT_VAL:
        return t->ds_val;
    case MX_SPLIT_TEST:
        return t->ds_test;
    case MX_SPLIT_QUERY:
        return t->ds_query;
    case MX_SPLIT_GALLERY:
        return t->ds_gallery;
    }
    return NULL;
}

mx_status mx_trainer_embed(mx_trainer *t, mx_split split, float **emb, int64_t **labels,
                           int64_t *n) {
    *emb = NULL, *labels = NULL, *n = 0;
    const mx_dataset *ds = split_dataset(t, split);
    if (!ds)
        return mx_error(MX_ERR_ARG,
                        "%s: this run has no such split (validation needs "
                        "val_fraction > 0; query / gallery are In-Shop's)",
                        t->dir);
    int64_t N = mx_dataset_size(ds);
    float *e = mx_alloc(sizeof(float) * (size_t)(N * t->d));
    int64_t *l = mx_alloc(sizeof(int64_t) * (size_t)N);
    mx_status s = e && l ? mx_tr_embed_split(t, ds, e, l)
                         : mx_error(MX_ERR_NOMEM, "embeddings of %" PRId64 " examples", N);
    if (s == MX_OK) s = mx_eval_normalize(e, N, t->d);
    if (s != MX_OK) {
        mx_free(e);
        mx_free(l);
        return s;
    }
    *emb = e, *labels = l, *n = N;
    return MX_OK;
}

int mx_trainer_embed_dim(const mx_trainer *t) {
    return t->d;
}

mx_status mx_trainer_evaluate(mx_trainer *t, mx_split split, mx_eval_report *rep) {
    if (split == MX_SPLIT_TEST && t->ds_query) return mx_tr_eval_query_gallery(t, 1, rep);
    const mx_dataset *ds = split_dataset(t, split);
    if (!ds) return mx_error(MX_ERR_ARG, "%s: this run has no such split", t->dir);
    return mx_tr_eval_split(t, ds, NULL, 0, 1, rep, NULL, NULL);
}
