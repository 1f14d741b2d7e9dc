/* Trainer checkpoints: model parameters and BN statistics, proxies, optimizer state, the
 * per-epoch history and the RNG state, so that a resumed run continues exactly. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

/* ---- checkpoints ------------------------------------------------------------------------- */

mx_status mx_tr_ckpt_save(mx_trainer *t, const char *name) {
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
    if (s == MX_OK) s = mx_ckpt_set_meta(c, "backbone", t->cfg.backbone);
    if (s == MX_OK) s = mx_ckpt_save(c, path);
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
    int64_t hist_shape = t->cfg.epochs, four = 4;
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
    if (s == MX_OK) {
        t->acc_loss = acc[0], t->acc_clean = acc[1], t->acc_mixed = acc[2], t->best_metric = acc[3];
    }
    mx_st_free(st);
    return s;
}

/* Reopens run_dir with its config.json and the named checkpoint. The per-epoch history was saved
 * with the run's original epoch count; a run extended to more epochs gets longer arrays. */
