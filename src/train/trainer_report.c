/* Epoch bookkeeping and the final report: log.csv, loss/recall curves, report.txt/json, PCA map. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eval/eval_impl.h"
#include "plot/plot_impl.h"
#include "train/trainer_impl.h"

/* ---- epoch bookkeeping ------------------------------------------------------------------- */

mx_status mx_tr_write_log_row(mx_trainer *t, const mx_epoch_summary *e, int64_t *size_before) {
    if (size_before) *size_before = 0;
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    mx_tr_path(t, "log.csv", path, sizeof path);
    struct stat sb;
    int64_t before = stat(path, &sb) == 0 ? (int64_t)sb.st_size : 0;
    if (size_before) *size_before = before;
    FILE *f = fopen(path, "ab");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot append: %s", path, strerror(errno));
    if (before == 0)
        fprintf(f, "epoch,loss,loss_clean,loss_mixed,lr,seconds,images_per_s,trunk_frozen,val_r1,"
                   "val_map_r,test_r1,test_map_r,best\n");
    fprintf(f, "%d,%.6f,%.6f,%.6f,%.6g,%.2f,%.1f,%d,%.4f,%.4f,%.4f,%.4f,%d\n", e->epoch, e->loss,
            e->loss_clean, e->loss_mixed, e->lr, e->seconds, e->images_per_s, e->trunk_frozen,
            e->val_r1, e->val_map_r, e->test_r1, e->test_map_r, e->best);
    /* on disk before the epoch's checkpoint is committed (see trainer_rundir.c) */
    int ok = fflush(f) == 0 && fsync(fileno(f)) == 0;
    int err = ok ? 0 : errno;
    if (fclose(f) != 0 && ok) ok = 0, err = errno;
    if (!ok) {
        /* no torn row (best effort: a resume cuts the log back to the checkpoint anyway) */
        int cut = truncate(path, (off_t)before);
        return mx_error(MX_ERR_IO, "%s: cannot append epoch %d's row: %s%s", path, e->epoch,
                        strerror(err), cut == 0 ? "" : " (and cannot cut the torn row)");
    }
    return MX_OK;
}

mx_status mx_tr_write_curves(mx_trainer *t) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    int64_t E = t->epoch;
    float *buf = malloc(sizeof(float) * (size_t)(3 * E + 1));
    if (!buf) return mx_error(MX_ERR_NOMEM, "plots");
    for (int64_t i = 0; i < E; i++) {
        buf[i] = (float)t->hist_loss[i];
        buf[E + i] = (float)t->hist_val_r1[i];
        buf[2 * E + i] = (float)t->hist_test_r1[i];
    }
    const float *ys[2] = {buf, NULL};
    int64_t lens[2] = {E, E};
    const char *names[2] = {"training loss", NULL};
    mx_tr_path(t, "loss.png", path, sizeof path);
    mx_status s = mx_plot_lines(path, "Training loss", "epoch", "loss", 1, names, NULL, ys, lens);
    if (s == MX_OK) {
        const float *rs[2] = {buf + 2 * E, buf + E};
        const char *rn[2] = {"test Recall@1", "validation Recall@1"};
        mx_tr_path(t, "recall.png", path, sizeof path);
        s = mx_plot_lines(path, "Recall@1 per epoch", "epoch", "Recall@1", t->ds_val ? 2 : 1, rn,
                          NULL, rs, lens);
    }
    free(buf);
    return s;
}

mx_status mx_tr_final_report(mx_trainer *t, const mx_train_callbacks *cb) {
    mx_tr_say(cb, "embedding the training split for utilization");
    float *tr = NULL;
    int64_t *trl = NULL, ntr = 0;
    mx_status s = mx_trainer_embed(t, MX_SPLIT_TRAIN, &tr, &trl, &ntr);
    if (s != MX_OK) return s;
    mx_eval_report rep;
    float *te = NULL; /* raw embeddings of the test queries (the whole split, leave-one-out) */
    int64_t *tel = NULL;
    mx_tr_evalset es;
    if (!mx_tr_evalset_of(t, MX_SPLIT_TEST, &es)) {
        mx_free(tr), mx_free(trl);
        return mx_error(MX_ERR_INTERNAL, "%s: the run has no test split", t->dir);
    }
    const mx_dataset *qset = es.set ? es.set : es.query;
    const int64_t nq = mx_dataset_size(qset);
    mx_tr_say(cb, es.set ? "evaluating the test split"
                         : "evaluating the test split (query against gallery)");
    s = mx_tr_evaluate(t, &es, tr, ntr, 1, &rep, &te, &tel);
    double util_mixed = NAN;
    if (s == MX_OK && te && t->n_util_mixed > 0) {
        /* u(test queries, clean train + mixed embeddings of the last epoch) */
        int64_t nx = ntr + t->n_util_mixed;
        float *x = mx_alloc(sizeof(float) * (size_t)(nx * t->d));
        if (x) {
            memcpy(x, tr, sizeof(float) * (size_t)(ntr * t->d));
            memcpy(x + ntr * t->d, t->util_mixed, sizeof(float) * (size_t)(t->n_util_mixed * t->d));
            float *q = mx_alloc(sizeof(float) * (size_t)(nq * t->d));
            if (q) {
                memcpy(q, te, sizeof(float) * (size_t)(nq * t->d));
                mx_eval_normalize(q, nq, t->d);
                mx_eval_normalize(x, nx, t->d);
                s = mx_utilization_stop(q, nq, x, nx, t->d, &util_mixed, t->stop);
            }
            mx_free(q);
            mx_free(x);
        }
    }
    s = mx_tr_agree(t, s); /* a local stop in the utilization: every rank stops */
    if (s == MX_OK) {
        size_t len = mx_eval_report_format(&rep, 0, t->report_text, sizeof t->report_text);
        if (len < sizeof t->report_text && isfinite(util_mixed))
            snprintf(t->report_text + len, sizeof t->report_text - len,
                     "utilization (train clean + %" PRId64 " mixed embeddings): %.4f\n",
                     t->n_util_mixed, util_mixed);
        len = strlen(t->report_text);
        if (len < sizeof t->report_text)
            snprintf(t->report_text + len, sizeof t->report_text - len, "precision: %s\n",
                     mx_precision_name(t->precision));
        char path[1100];
        mx_atomic_file *af;
        FILE *f;
        mx_tr_path(t, "report.txt", path, sizeof path);
        s = !t->follower ? mx_atomic_open(path, &af, &f) : MX_OK;
        if (s == MX_OK && !t->follower) {
            fputs(t->report_text, f);
            s = mx_atomic_commit(af);
        }
        mx_tr_path(t, "report.json", path, sizeof path);
        if (s == MX_OK && !t->follower) s = mx_atomic_open(path, &af, &f);
        if (s == MX_OK && !t->follower) {
            mx_eval_report_write(&rep, 1, f);
            s = mx_atomic_commit(af);
        }
    }
    s = mx_tr_agree(t, s);
    if (s == MX_OK && te && !t->follower) {
        /* PCA map of the test (In-Shop: query) embeddings coloured by class */
        int64_t n = nq;
        float *xy = mx_alloc(sizeof(float) * (size_t)(2 * n));
        int32_t *l32 = mx_alloc(sizeof(int32_t) * (size_t)n);
        if (xy && l32) {
            for (int64_t i = 0; i < n; i++) l32[i] = (int32_t)tel[i];
            char path[1100];
            mx_tr_path(t, "embeddings_pca.png", path, sizeof path);
            /* legend: Fashion-MNIST's class names, else the dataset's class ids */
            static const char *fmnist_names[10] = {
                "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
            int nc = mx_dataset_classes(qset);
            char(*ids)[24] = calloc((size_t)nc, sizeof *ids);
            const char **names = calloc((size_t)nc, sizeof *names);
            if (ids && names)
                for (int k = 0; k < nc; k++) {
                    int64_t id = mx_dataset_class_id(qset, k);
                    if (mx_tr_dataset_kind(t->cfg.dataset) == MX_DS_FMNIST && id >= 0 && id < 10)
                        names[k] = fmnist_names[id];
                    else {
                        snprintf(ids[k], sizeof ids[k], "class %" PRId64, id);
                        names[k] = ids[k];
                    }
                }
            mx_tr_say(cb, "drawing the PCA map of the test embeddings");
            s = mx_pca_2d_stop(te, n, t->d, xy, NULL, t->stop);
            if (s == MX_OK)
                s = mx_plot_scatter(path,
                                    es.set ? "Test embeddings (PCA), unseen classes"
                                           : "Query embeddings (PCA), unseen classes",
                                    n, xy, l32, nc, ids && names ? names : NULL);
            free(ids);
            free(names);
        }
        mx_free(xy);
        mx_free(l32);
    }
    s = mx_tr_agree(t, s);
    if (s == MX_OK) s = mx_tr_final_retrievals(t, te); /* retrievals.png */
    s = mx_tr_agree(t, s);
    mx_free(tr);
    mx_free(trl);
    mx_free(te);
    mx_free(tel);
    return s;
}
