/* The trainer: the only place that knows the whole sequence of a Metrix training step.
 *
 *   loader -> images (B x C x H x W), labels (B)
 *   nn forward input -> mixing stage (slot 0) -> embedding          clean embeddings e (B x d)
 *   mix: choose pairs (i, j, lambda, anchor), mix inputs / feature maps / embeddings
 *   nn forward of the rest for the mixed examples (slot 1)          mixed embeddings v (M x d)
 *   loss: clean + w * mixed, gradients d_e, d_v (and d_proxies)
 *   backward in reverse (mixed path scatters into the clean feature gradient), optimizer step
 *
 * Epoch ends: evaluation (validation / test split), log.csv row, plots, checkpoint_last (and
 * checkpoint_best). Everything the step touches is allocated in mx_trainer_create. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "train/trainer_impl.h"

/* ---- small helpers ----------------------------------------------------------------------- */

double mx_tr_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void mx_tr_say(const mx_train_callbacks *cb, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (cb && cb->message)
        cb->message(cb->user, buf);
    else
        mx_log(MX_LOG_INFO, "%s", buf);
}

void mx_tr_path(const mx_trainer *t, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", t->dir, name);
}

mx_status mx_tr_alloc_f(float **p, int64_t n) {
    *p = n > 0 ? mx_calloc((size_t)n, sizeof(float)) : NULL;
    if (n > 0 && !*p)
        return mx_error(MX_ERR_NOMEM, "trainer: cannot allocate %" PRId64 " floats", n);
    return MX_OK;
}

mx_dataset_kind mx_tr_dataset_kind(const char *name) {
    if (!strcmp(name, "cub")) return MX_DS_CUB;
    if (!strcmp(name, "cars")) return MX_DS_CARS;
    if (!strcmp(name, "sop")) return MX_DS_SOP;
    if (!strcmp(name, "inshop")) return MX_DS_INSHOP;
    if (!strcmp(name, "folder")) return MX_DS_FOLDER;
    if (!strcmp(name, "list")) return MX_DS_LIST;
    if (!strcmp(name, "glyphs")) return MX_DS_GLYPHS;
    return MX_DS_FMNIST;
}

mx_status mx_tr_open_split(const mx_trainer *t, mx_split split, mx_dataset **out) {
    const mx_train_config *c = &t->cfg;
    mx_dataset_config dc = mx_dataset_config_default();
    dc.kind = mx_tr_dataset_kind(c->dataset);
    dc.root = c->data_root[0] ? c->data_root : NULL;
    dc.split = split;
    dc.class_lo = dc.class_hi = -1;
    if (dc.kind == MX_DS_LIST) {
        dc.list = c->train_list; /* with test_list each file is used whole for its split, */
        dc.test_list = c->test_list[0] ? c->test_list : NULL; /* else class-disjoint halves */
    }
    if (dc.kind == MX_DS_FMNIST) {
        int test = split == MX_SPLIT_TEST;
        dc.class_lo = test ? c->test_classes_lo : c->train_classes_lo;
        dc.class_hi = test ? c->test_classes_hi : c->train_classes_hi;
    }
    if (split == MX_SPLIT_TRAIN || split == MX_SPLIT_VAL) {
        dc.val_fraction = c->val_fraction;
        dc.val_seed = c->seed;
    }
    return mx_dataset_open(&dc, out);
}

static void set_lr_for_epoch(mx_trainer *t) {
    double f = mx_lr_factor(&t->sched, t->epoch);
    mx_optim_set_lr(t->opt, t->cfg.lr * f);
    int frozen = t->epoch < t->cfg.warmup_epochs;
    mx_optim_set_frozen(t->opt, t->g_trunk, frozen);
    mx_model_set_trunk_frozen(t->model, frozen);
}

/* Saves checkpoint_last at the current step and returns MX_ERR_INTERRUPTED. */
static mx_status interrupted(mx_trainer *t, const mx_train_callbacks *cb, const char *where) {
    MX_TRY(mx_tr_sync_bn_stats(t));
    MX_TRY(mx_tr_agree(t, mx_tr_ckpt_save(t, "checkpoint_last.safetensors")));
    mx_tr_say(cb,
              "interrupted %s: saved %s/checkpoint_last.safetensors (epoch %" PRId64
              ", step %" PRId64 "); continue with: metrix train --resume %s",
              where, t->dir, t->epoch + 1, t->step_in_epoch, t->dir);
    return mx_error(MX_ERR_INTERRUPTED, "training interrupted%s%s; checkpoint saved in %s",
                    where[0] ? " " : "", where, t->dir);
}

/* The epoch's validation / test evaluation into e; on a stop request the epoch is rolled back
 * to "all steps done, not evaluated" (t->epoch - 1, step_in_epoch = steps_done) and saved, so
 * that a resume evaluates it and continues exactly. */
static mx_status evaluate_epoch(mx_trainer *t, const mx_train_callbacks *cb, int64_t steps_done,
                                mx_epoch_summary *e) {
    mx_status s = MX_OK;
    mx_eval_report r;
    mx_tr_fault_hit(t, MX_TR_FAULT_EVAL_SIGTERM);
    mx_tr_evalset es; /* validation, then test (In-Shop: query against gallery) */
    if (mx_tr_evalset_of(t, MX_SPLIT_VAL, &es)) {
        s = mx_tr_evaluate(t, &es, NULL, 0, 0, &r, NULL, NULL);
        if (s == MX_OK) e->val_r1 = r.recall[0], e->val_map_r = r.map_at_r;
    }
    int test = t->cfg.eval_test && mx_tr_evalset_of(t, MX_SPLIT_TEST, &es);
    if (s == MX_OK && test) {
        s = mx_tr_evaluate(t, &es, NULL, 0, 0, &r, NULL, NULL);
        if (s == MX_OK) e->test_r1 = r.recall[0], e->test_map_r = r.map_at_r;
    }
    if (s == MX_OK) {
        if (t->ds_val) t->hist_val_r1[t->epoch - 1] = e->val_r1;
        if (test) t->hist_test_r1[t->epoch - 1] = e->test_r1;
    } else if (s == MX_ERR_INTERRUPTED) {
        t->epoch--;
        t->hist_loss[t->epoch] = NAN;
        t->step_in_epoch = steps_done;
        return interrupted(t, cb, "during the epoch's evaluation");
    }
    return s;
}

/* log.csv row, then checkpoint_best (if best) and checkpoint_last: the epoch is committed when
 * checkpoint_last is renamed into place. The row goes first (fsynced) so that a committed epoch
 * always has its row; a row whose checkpoint fails is cut off again here, and one left by a
 * crash before the commit is cut off by the resume (see trainer_rundir.c). */
static mx_status commit_epoch(mx_trainer *t, const mx_epoch_summary *e) {
    int64_t log_size = 0;
    MX_TRY(mx_tr_write_log_row(t, e, &log_size));
    mx_tr_fault_hit(t, MX_TR_FAULT_LOG_ROW);
    mx_status s = MX_OK;
    if (e->best) {
        s = mx_tr_ckpt_save(t, "checkpoint_best.safetensors");
        if (s == MX_OK) mx_tr_fault_hit(t, MX_TR_FAULT_CKPT_DONE);
    }
    if (s == MX_OK) s = mx_tr_ckpt_save(t, "checkpoint_last.safetensors");
    if (s != MX_OK) {
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", mx_errmsg());
        mx_status cut = mx_tr_log_truncate(t, log_size);
        return mx_error(s, "%s; the run stays at epoch %" PRId64 " (its checkpoint_last%s)", msg,
                        t->epoch - 1,
                        cut == MX_OK ? " and log.csv are intact"
                                     : " is intact; log.csv is cut back on --resume");
    }
    mx_tr_fault_hit(t, MX_TR_FAULT_CKPT_DONE);
    return MX_OK;
}

mx_status mx_trainer_run(mx_trainer *t, const mx_train_callbacks *cb, volatile const int *stop) {
    const mx_train_config *c = &t->cfg;
    if (t->infer_only)
        return mx_error(MX_ERR_ARG,
                        "%s: opened for evaluation (mx_trainer_open); continue a run with "
                        "mx_trainer_resume",
                        t->dir);
    t->stop = stop;
    int64_t steps = mx_loader_batches(t->loader);
    if (c->max_steps_per_epoch > 0 && steps > c->max_steps_per_epoch)
        steps = c->max_steps_per_epoch;
    double run_t0 = mx_tr_now();
    int64_t run_steps = 0;
    if (t->mix_path[0]) mx_tr_say(cb, "%s", t->mix_path);
    while (t->epoch < c->epochs) {
        set_lr_for_epoch(t);
        MX_TRY(mx_loader_start_epoch(t->loader, t->epoch));
        /* a resumed epoch replays the loader up to where it stopped (same batches) */
        int64_t n = 0;
        for (int64_t k = 0; k < t->step_in_epoch; k++)
            MX_TRY(mx_tr_agree(t, mx_loader_next(t->loader, t->images, t->labels, &n)));
        if (t->step_in_epoch == 0) t->acc_loss = t->acc_clean = t->acc_mixed = 0;
        double t0 = mx_tr_now();
        int64_t done_here = 0;
        while (t->step_in_epoch < steps) {
            if (mx_tr_stop_agreed(t)) return interrupted(t, cb, "");
            /* one rank's unreadable image stops every rank with its message */
            MX_TRY(mx_tr_agree(t, mx_loader_next(t->loader, t->images, t->labels, &n)));
            if (n == 0) break;
            mx_loss_result res;
            MX_TRY(mx_tr_step(t, n, &res));
            t->acc_loss += res.total, t->acc_clean += res.clean, t->acc_mixed += res.mixed;
            t->step_in_epoch++, done_here++, run_steps++;
            if (cb && cb->progress) {
                double el = mx_tr_now() - t0, run_el = mx_tr_now() - run_t0;
                double per_step = run_el / (double)run_steps;
                mx_train_progress p = {(int)t->epoch + 1,
                                       c->epochs,
                                       t->step_in_epoch,
                                       steps,
                                       t->acc_loss / (double)t->step_in_epoch,
                                       (double)(done_here * t->B) / MX_MAX(el, 1e-9),
                                       per_step * (double)((c->epochs - t->epoch - 1) * steps +
                                                           (steps - t->step_in_epoch))};
                cb->progress(cb->user, &p);
            }
        }
        double secs = mx_tr_now() - t0;
        int64_t ns = MX_MAX(t->step_in_epoch, 1);
        mx_epoch_summary e = {(int)t->epoch + 1,
                              t->acc_loss / (double)ns,
                              t->acc_clean / (double)ns,
                              t->acc_mixed / (double)ns,
                              mx_optim_get_lr(t->opt),
                              secs,
                              (double)(done_here * t->B) / MX_MAX(secs, 1e-9),
                              mx_optim_is_frozen(t->opt, t->g_trunk),
                              NAN,
                              NAN,
                              NAN,
                              NAN,
                              0};
        int64_t steps_done = t->step_in_epoch;
        t->hist_loss[t->epoch] = e.loss;
        t->epoch++;
        t->step_in_epoch = 0;
        int last = t->epoch == c->epochs;
        int evaluate = (c->eval_every > 0 && t->epoch % c->eval_every == 0) || last;
        /* ranks, training-mode BN: one set of running statistics to evaluate and checkpoint */
        MX_TRY(mx_tr_sync_bn_stats(t));
        if (evaluate) MX_TRY(evaluate_epoch(t, cb, steps_done, &e));
        /* model selection on the validation split only; without one the last epoch is "best" */
        double metric = t->ds_val ? e.val_r1 : (double)t->epoch;
        if (isfinite(metric) && metric > t->best_metric) {
            t->best_metric = metric;
            t->best_epoch = t->epoch;
            e.best = 1;
        }
        MX_TRY(mx_tr_agree(t, commit_epoch(t, &e)));
        MX_TRY(mx_tr_agree(t, mx_tr_write_curves(t)));
        if (cb && cb->epoch_end) cb->epoch_end(cb->user, &e);
    }
    mx_tr_fault_hit(t, MX_TR_FAULT_REPORT_SIGTERM);
    mx_status s = mx_tr_final_report(t, cb);
    if (s == MX_ERR_INTERRUPTED) {
        mx_tr_say(cb,
                  "interrupted during the final report: the training is complete and its "
                  "checkpoints are intact; redo the report with: metrix train --resume %s",
                  t->dir);
        return mx_error(MX_ERR_INTERRUPTED,
                        "interrupted during the final report; the checkpoints in %s are "
                        "complete (--resume redoes the report)",
                        t->dir);
    }
    return s;
}
