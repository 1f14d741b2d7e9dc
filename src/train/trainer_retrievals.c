/* The retrieval picture of a run: a fixed, seeded set of queries from the evaluation split, each
 * with its nearest neighbours (mx_retrieval_examples), drawn by mx_plot_retrievals. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

#define NAME_LEN 64

/* Caption of example i of ds: Fashion-MNIST's class names, the class folder for folder datasets,
 * else "class <id>". */
static void class_name(const mx_trainer *t, const mx_dataset *ds, int64_t i, char *out) {
    static const char *fmnist[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                     "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
    int64_t id = mx_dataset_class_id(ds, (int)mx_dataset_labels(ds)[i]);
    mx_dataset_kind kind = mx_tr_dataset_kind(t->cfg.dataset);
    const char *path = mx_dataset_path(ds, i);
    if (kind == MX_DS_FMNIST && id >= 0 && id < 10) {
        snprintf(out, NAME_LEN, "%s", fmnist[id]);
    } else if (kind == MX_DS_FOLDER && path) { /* root/<class>/<file> */
        const char *end = strrchr(path, '/'), *start = end;
        while (start && start > path && start[-1] != '/') start--;
        if (end && start < end)
            snprintf(out, NAME_LEN, "%.*s", (int)(end - start), start);
        else
            snprintf(out, NAME_LEN, "class %" PRId64, id);
    } else {
        snprintf(out, NAME_LEN, "class %" PRId64, id);
    }
}

/* Draws the grid: queries from qds (embeddings qe), neighbours from gds (ge; NULL: leave-one-out
 * within qds). */
static mx_status draw(mx_trainer *t, const mx_dataset *qds, const float *qe, const mx_dataset *gds,
                      const float *ge, const char *path, int n_queries, int k) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the picture */
    if (n_queries < 1 || n_queries > MX_RETRIEVAL_MAX_ROW || k < 1 || k > MX_RETRIEVAL_MAX_K)
        return mx_error(MX_ERR_ARG, "retrievals: %d queries, k %d: expected 1..%d queries, k 1..%d",
                        n_queries, k, MX_RETRIEVAL_MAX_ROW, MX_RETRIEVAL_MAX_K);
    int64_t nq = mx_dataset_size(qds), ng = ge ? mx_dataset_size(gds) : nq;
    if (!ge) gds = qds;
    int cols = k + 1, n = 0;
    int64_t qidx[MX_RETRIEVAL_MAX_ROW], nn[MX_RETRIEVAL_MAX_ROW * MX_RETRIEVAL_MAX_K];
    float sim[MX_RETRIEVAL_MAX_ROW * MX_RETRIEVAL_MAX_K];
    MX_TRY(mx_retrieval_examples(qe, nq, ge, ng, t->d, n_queries, k, MX_RETRIEVALS_SEED, qidx, nn,
                                 sim, &n));
    size_t nt = (size_t)(n * cols);
    mx_image *im = calloc(nt, sizeof *im);
    mx_plot_image *tiles = calloc(nt, sizeof *tiles);
    int64_t *labels = calloc(nt, sizeof *labels);
    char(*names)[NAME_LEN] = calloc(nt, sizeof *names);
    const char **np = calloc(nt, sizeof *np);
    mx_status s = im && tiles && labels && names && np
                      ? MX_OK
                      : mx_error(MX_ERR_NOMEM, "retrievals: %zu tiles", nt);
    for (size_t ti = 0; s == MX_OK && ti < nt; ti++) {
        int r = (int)(ti / (size_t)cols), c = (int)(ti % (size_t)cols);
        const mx_dataset *ds = c == 0 ? qds : gds;
        int64_t i = c == 0 ? qidx[r] : nn[r * k + c - 1];
        labels[ti] = -1;
        if (i < 0) continue; /* fewer than k neighbours */
        s = mx_dataset_image(ds, i, MX_RETRIEVAL_TILE, &im[ti]);
        tiles[ti] = (mx_plot_image){im[ti].w, im[ti].h, im[ti].c, im[ti].data};
        labels[ti] = mx_dataset_class_id(ds, (int)mx_dataset_labels(ds)[i]);
        class_name(t, ds, i, names[ti]);
        np[ti] = names[ti];
    }
    char title[384];
    snprintf(title, sizeof title, "%s: %d test queries and their %d nearest neighbours",
             t->cfg.dataset, n, k);
    if (s == MX_OK) s = mx_plot_retrievals(path, title, n, k, tiles, labels, np, sim);
    for (size_t ti = 0; im && ti < nt; ti++) mx_image_free(&im[ti]);
    free(im);
    free(tiles);
    free(labels);
    free(names);
    free(np);
    return s;
}

mx_status mx_trainer_retrievals(mx_trainer *t, mx_split split, const char *path, int n_queries,
                                int k) {
    float *qe = NULL, *ge = NULL;
    int64_t *ql = NULL, *gl = NULL, nq = 0, ng = 0;
    mx_status s;
    if (split == MX_SPLIT_TEST && t->ds_query) { /* In-Shop: queries against the gallery */
        s = mx_trainer_embed(t, MX_SPLIT_QUERY, &qe, &ql, &nq);
        if (s == MX_OK) s = mx_trainer_embed(t, MX_SPLIT_GALLERY, &ge, &gl, &ng);
        if (s == MX_OK) s = draw(t, t->ds_query, qe, t->ds_gallery, ge, path, n_queries, k);
    } else {
        s = mx_trainer_embed(t, split, &qe, &ql, &nq);
        const mx_dataset *ds = split == MX_SPLIT_TRAIN ? t->ds_train
                               : split == MX_SPLIT_VAL ? t->ds_val
                                                       : t->ds_test;
        if (s == MX_OK) s = draw(t, ds, qe, NULL, NULL, path, n_queries, k);
    }
    mx_free(qe);
    mx_free(ge);
    mx_free(ql);
    mx_free(gl);
    return s;
}

mx_status mx_tr_final_retrievals(mx_trainer *t, const float *test_emb) {
    char path[1100];
    mx_tr_path(t, "retrievals.png", path, sizeof path);
    if (!test_emb || !t->ds_test) return mx_trainer_retrievals(t, MX_SPLIT_TEST, path, 8, 8);
    return draw(t, t->ds_test, test_emb, NULL, NULL, path, 8, 8);
}
