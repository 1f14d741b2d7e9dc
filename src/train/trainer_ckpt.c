/* Trainer checkpoints: model parameters and BN statistics, proxies, optimizer state, the
 * per-epoch history and the RNG state, so that a resumed run continues exactly. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io_impl.h"
#include "train/trainer_impl.h"

/* ---- checkpoints ------------------------------------------------------------------------- */

mx_status mx_tr_ckpt_save(mx_trainer *t, const char *name) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    mx_tr_path(t, name, path, sizeof path);
    mx_ckpt *c;
    MX_TRY(mx_ckpt_create(&c));
    mx_status s = MX_OK;
    const float *params = mx_model_params(t->model), *stats = mx_model_stats(t->model);
    for (int i = 0; s == MX_OK && i < mx_model_param_count(t->model); i++) {
        const mx_param_info *p = mx_model_param_at(t->model, i);
        s = mx_ckpt_add(c, p->name, MX_DTYPE_F32, p->ndim, p->shape, params + p->offset);
    }
    for (int i = 0; s == MX_OK && i < mx_model_stat_count(t->model); i++) {
        const mx_stat_info *p = mx_model_stat_at(t->model, i);
        s = mx_ckpt_add(c, p->name, MX_DTYPE_F32, 1, &p->numel, stats + p->offset);
    }
    if (s == MX_OK && t->proxy_loss) {
        int64_t shape[2] = {t->n_classes, t->d};
        s = mx_ckpt_add(c, "loss.proxies", MX_DTYPE_F32, 2, shape, t->proxies);
    }
    char names[64][80];
    int n_state = mx_optim_state_count(t->opt);
    for (int i = 0; s == MX_OK && i < n_state && i < 64; i++) {
        mx_optim_state_entry e;
        s = mx_optim_state_get(t->opt, i, &e);
        if (s != MX_OK) break;
        snprintf(names[i], sizeof names[i], "optim.%s", e.name);
        s = mx_ckpt_add(c, names[i], e.type == MX_OPTIM_STATE_F32 ? MX_DTYPE_F32 : MX_DTYPE_I64, 1,
                        &e.numel, e.data);
    }
    int64_t hist_shape = t->cfg.epochs;
    if (s == MX_OK)
        s = mx_ckpt_add(c, "train.hist_loss", MX_DTYPE_F64, 1, &hist_shape, t->hist_loss);
    if (s == MX_OK)
        s = mx_ckpt_add(c, "train.hist_val_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_val_r1);
    if (s == MX_OK)
        s = mx_ckpt_add(c, "train.hist_test_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_test_r1);
    double acc[4] = {t->acc_loss, t->acc_clean, t->acc_mixed, t->best_metric};
    int64_t four = 4;
    if (s == MX_OK) s = mx_ckpt_add(c, "train.accumulators", MX_DTYPE_F64, 1, &four, acc);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.epoch", t->epoch);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.step_in_epoch", t->step_in_epoch);
    if (s == MX_OK) s = mx_ckpt_add_i64(c, "train.best_epoch", t->best_epoch);
    if (s == MX_OK) s = mx_ckpt_add_rng(c, "train.rng_mix", &t->rng_mix);
    /* the last epoch's sampled mixed embeddings (utilization in the final report), so that a
     * run resumed in or after its last epoch reports the same (n_util_mixed x d) */
    int64_t um_shape[2] = {t->n_util_mixed, t->d};
    if (s == MX_OK && t->n_util_mixed > 0)
        s = mx_ckpt_add(c, "train.util_mixed", MX_DTYPE_F32, 2, um_shape, t->util_mixed);
    if (s == MX_OK) s = mx_ckpt_set_meta(c, "backbone", t->cfg.backbone);
    if (s == MX_OK) s = mx_ckpt_save_fault(c, path, mx_tr_fault_hit(t, MX_TR_FAULT_CKPT_WRITE));
    mx_ckpt_free(c);
    return s;
}

mx_status mx_tr_ckpt_load(mx_trainer *t, const char *path) {
    mx_safetensors *st;
    MX_TRY(mx_ckpt_open(path, &st));
    mx_status s = MX_OK;
    float *params = mx_model_params(t->model), *stats = mx_model_stats(t->model);
    for (int i = 0; s == MX_OK && i < mx_model_param_count(t->model); i++) {
        const mx_param_info *p = mx_model_param_at(t->model, i);
        s = mx_st_read_f32(st, p->name, p->ndim, p->shape, params + p->offset);
    }
    for (int i = 0; s == MX_OK && i < mx_model_stat_count(t->model); i++) {
        const mx_stat_info *p = mx_model_stat_at(t->model, i);
        s = mx_st_read_f32(st, p->name, 1, &p->numel, stats + p->offset);
    }
    if (s == MX_OK) s = mx_model_check_finite(t->model, path);
    if (t->infer_only) { /* evaluation needs the network alone */
        mx_st_free(st);
        return s;
    }
    if (s == MX_OK && t->proxy_loss) {
        int64_t shape[2] = {t->n_classes, t->d};
        s = mx_st_read_f32(st, "loss.proxies", 2, shape, t->proxies);
    }
    int n_state = mx_optim_state_count(t->opt);
    for (int i = 0; s == MX_OK && i < n_state; i++) {
        mx_optim_state_entry e;
        s = mx_optim_state_get(t->opt, i, &e);
        if (s != MX_OK) break;
        char name[80];
        snprintf(name, sizeof name, "optim.%s", e.name);
        s = mx_st_read_raw(st, name, e.type == MX_OPTIM_STATE_F32 ? MX_DTYPE_F32 : MX_DTYPE_I64, 1,
                           &e.numel, e.data);
    }
    /* the history as long as the run's epochs when the checkpoint was saved: a run extended by
     * `--resume --epochs` has more (its config.json is rewritten before the next checkpoint) */
    const mx_tensor_view *hv = s == MX_OK ? mx_st_find(st, "train.hist_loss") : NULL;
    int64_t hist_shape = hv && hv->ndim == 1 ? hv->shape[0] : 0, four = 4;
    if (s == MX_OK && (hist_shape < 1 || hist_shape > t->cfg.epochs))
        s = mx_error(MX_ERR_SHAPE,
                     "%s: train.hist_loss: expected a history of 1 to %d epochs (the run's "
                     "epochs), got %s",
                     path, t->cfg.epochs, hv ? "another shape" : "none");
    double acc[4];
    if (s == MX_OK)
        s = mx_st_read_raw(st, "train.hist_loss", MX_DTYPE_F64, 1, &hist_shape, t->hist_loss);
    if (s == MX_OK)
        s = mx_st_read_raw(st, "train.hist_val_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_val_r1);
    if (s == MX_OK)
        s = mx_st_read_raw(st, "train.hist_test_r1", MX_DTYPE_F64, 1, &hist_shape, t->hist_test_r1);
    if (s == MX_OK) s = mx_st_read_raw(st, "train.accumulators", MX_DTYPE_F64, 1, &four, acc);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.epoch", &t->epoch);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.step_in_epoch", &t->step_in_epoch);
    if (s == MX_OK) s = mx_ckpt_read_i64(st, "train.best_epoch", &t->best_epoch);
    if (s == MX_OK) s = mx_ckpt_read_rng(st, "train.rng_mix", &t->rng_mix);
    const mx_tensor_view *um = s == MX_OK ? mx_st_find(st, "train.util_mixed") : NULL;
    t->n_util_mixed = 0;
    if (um &&
        (um->ndim != 2 || um->shape[0] < 0 || um->shape[0] > MX_UTIL_MIXED_CAP || !t->util_mixed))
        s = mx_error(MX_ERR_SHAPE, "%s: train.util_mixed: expected at most %d rows of %d", path,
                     MX_UTIL_MIXED_CAP, t->d);
    if (s == MX_OK && um) {
        int64_t shape[2] = {um->shape[0], t->d};
        s = mx_st_read_f32(st, "train.util_mixed", 2, shape, t->util_mixed);
        if (s == MX_OK) t->n_util_mixed = um->shape[0];
    }
    if (s == MX_OK) {
        t->acc_loss = acc[0], t->acc_clean = acc[1], t->acc_mixed = acc[2], t->best_metric = acc[3];
    }
    mx_st_free(st);
    return s;
}
