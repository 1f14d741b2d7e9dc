/* Evaluation sets (a split ranked leave-one-out, or In-Shop's query split against its gallery),
 * the per-dataset Recall@K table, and embedding / evaluating a trained run's splits. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/trainer_impl.h"

/* ---- evaluation -------------------------------------------------------------------------- */

/* Embeds every example of ds (test transform, BN in eval mode) into emb (n x d), labels. Over
 * ranks: rank r embeds its share of whole batches of t->B examples (mx_loader_eval_shard: the
 * batches of one process, so the embeddings are bit for bit one process's), then every rank gets
 * all rows. */
mx_status mx_tr_embed_split(mx_trainer *t, const mx_dataset *ds, float *emb, int64_t *labels) {
    const int64_t N = mx_dataset_size(ds);
    int64_t lo, cnt;
    mx_loader_eval_shard(N, t->B, t->rank, t->nranks, &lo, &cnt);
    emb += lo * t->d, labels += lo;
    mx_loader_config lc = mx_loader_config_default();
    lc.workers = t->cfg.workers;
    lc.shard = t->rank, lc.shards = t->nranks;
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
    s = mx_tr_agree(t, s);
    if (s != MX_OK || t->nranks <= 1) return s;
    emb -= lo * t->d, labels -= lo;
    for (int r = 0; r < t->nranks; r++) {
        int64_t first;
        mx_loader_eval_shard(N, t->B, r, t->nranks, &first, &t->counts[r]);
    }
    s = mx_comm_allgatherv_i64(t->comm, labels, t->counts);
    for (int r = 0; r < t->nranks; r++) t->counts[r] *= t->d;
    if (s == MX_OK) s = mx_comm_allgatherv_f32(t->comm, emb, t->counts);
    return s;
}

/* ---- the Recall@K table ------------------------------------------------------------------ */

/* Recall@K cut-offs per dataset (the papers' columns; In-Shop as its official evaluation). */
static const struct {
    const char *dataset, *name;
    int n_k;
    int64_t k[6];
} recall_table[] = {
    {"sop", "SOP", 4, {1, 10, 100, 1000}},
    {"inshop", "In-Shop", 6, {1, 10, 20, 30, 40, 50}},
    {"glyphs", "glyphs", 4, {1, 10, 100, 1000}}, /* the SOP regime */
    {NULL, "CUB, Cars and the others", 4, {1, 2, 4, 8}},
};

mx_eval_config mx_train_eval_config(const char *dataset) {
    mx_eval_config ec = mx_eval_config_default();
    size_t i = 0;
    while (recall_table[i].dataset && (!dataset || strcmp(recall_table[i].dataset, dataset))) i++;
    ec.n_k = recall_table[i].n_k;
    for (int a = 0; a < ec.n_k; a++) ec.k[a] = recall_table[i].k[a];
    return ec;
}

size_t mx_train_recall_ks_help(char *buf, size_t cap) {
    size_t len = 0;
    for (size_t i = 0; i == 0 || recall_table[i - 1].dataset; i++) {
        char line[128];
        int w = snprintf(line, sizeof line, "%s%s ", i ? "; " : "", recall_table[i].name);
        for (int a = 0; a < recall_table[i].n_k; a++)
            w += snprintf(line + w, sizeof line - (size_t)w, "%s%" PRId64, a ? "," : "",
                          recall_table[i].k[a]);
        if (len < cap) snprintf(buf + len, cap - len, "%s", line);
        len += (size_t)w;
    }
    if (cap && len >= cap) buf[cap - 1] = 0;
    if (cap && len == 0) buf[0] = 0;
    return len;
}

/* ---- evaluation sets --------------------------------------------------------------------- */

int mx_tr_evalset_of(const mx_trainer *t, mx_split split, mx_tr_evalset *es) {
    memset(es, 0, sizeof *es);
    if (split == MX_SPLIT_TEST && t->ds_query) {
        es->query = t->ds_query, es->gallery = t->ds_gallery;
        return 1;
    }
    es->set = split == MX_SPLIT_TRAIN     ? t->ds_train
              : split == MX_SPLIT_VAL     ? t->ds_val
              : split == MX_SPLIT_TEST    ? t->ds_test
              : split == MX_SPLIT_QUERY   ? t->ds_query
              : split == MX_SPLIT_GALLERY ? t->ds_gallery
                                          : NULL;
    return es->set != NULL;
}

/* Embeddings (n x d, raw) and labels of ds, freshly allocated. */
static mx_status embed_alloc(mx_trainer *t, const mx_dataset *ds, float **emb, int64_t **lab) {
    int64_t n = mx_dataset_size(ds);
    *emb = mx_alloc(sizeof(float) * (size_t)(n * t->d));
    *lab = mx_alloc(sizeof(int64_t) * (size_t)n);
    if (!*emb || !*lab) {
        mx_free(*emb), mx_free(*lab);
        *emb = NULL, *lab = NULL;
        return mx_error(MX_ERR_NOMEM, "trainer: embeddings of %" PRId64 " examples", n);
    }
    mx_status s = mx_tr_embed_split(t, ds, *emb, *lab);
    if (s != MX_OK) {
        mx_free(*emb), mx_free(*lab);
        *emb = NULL, *lab = NULL;
    }
    return s;
}

/* The exact kNN of an evaluation over ranks (mx_eval_config.knn): rank r searches gallery rows
 * [ng r / N, ng (r + 1) / N) for every query (mx_knn_part), a block of queries at a time; the
 * blocks' lists of all ranks (k (index, similarity) per query and rank) are all-gathered and
 * merged on every rank (mx_knn_merge) into the lists one process finds, so every rank computes
 * the metrics of a 1-process evaluation. Gathering to rank 0 and broadcasting its merge would put
 * the same bytes through rank 0's link and then send the merged lists again; every rank needs
 * them for the metrics. Memory: the gathered block is at most ~64 MB (at least 512 queries). */
static mx_status knn_sharded(void *ctx, const float *q, int64_t nq, const float *g, int64_t ng,
                             int64_t d, int64_t k, int loo, int64_t *idx) {
    mx_trainer *t = ctx;
    const int N = t->nranks, R = t->rank;
    const int64_t g0 = ng * R / N, gn = ng * (R + 1) / N - g0;
    int64_t qb = ((int64_t)64 << 20) / (12 * (int64_t)N * k);
    qb = MX_MIN(MX_MAX(512, qb / 512 * 512), nq);
    const size_t cap = (size_t)N * (size_t)qb * (size_t)k;
    int64_t *li = mx_alloc(sizeof(int64_t) * cap);
    float *ls = mx_alloc(sizeof(float) * cap);
    mx_status s =
        li && ls ? MX_OK
                 : mx_error(MX_ERR_NOMEM,
                            "evaluation: kNN lists of %" PRId64 " queries x %" PRId64 " x %d ranks",
                            qb, k, N);
    s = mx_tr_agree(t, s);
    for (int64_t i0 = 0; s == MX_OK && i0 < nq; i0 += qb) {
        const int64_t m = MX_MIN(qb, nq - i0), off = (int64_t)R * m * k;
        s = mx_knn_part(q + i0 * d, m, i0, g + g0 * d, gn, g0, d, k, loo, li + off, ls + off,
                        t->stop);
        s = mx_tr_agree(t, s); /* a stop or failure on one rank: all stop before gathering */
        for (int r = 0; r < N; r++) t->counts[r] = m * k;
        if (s == MX_OK) s = mx_comm_allgatherv_i64(t->comm, li, t->counts);
        if (s == MX_OK) s = mx_comm_allgatherv_f32(t->comm, ls, t->counts);
        if (s == MX_OK) s = mx_knn_merge(N, li, ls, m, k, idx + i0 * k, NULL);
    }
    mx_free(li);
    mx_free(ls);
    return s;
}

mx_status mx_tr_evaluate(mx_trainer *t, const mx_tr_evalset *es, const float *train,
                         int64_t n_train, int full, mx_eval_report *rep, float **emb_out,
                         int64_t **lab_out) {
    const mx_dataset *qs = es->set ? es->set : es->query;
    float *q = NULL, *g = NULL;
    int64_t *ql = NULL, *gl = NULL;
    int64_t nq = mx_dataset_size(qs), ng = es->gallery ? mx_dataset_size(es->gallery) : 0;
    mx_status s = embed_alloc(t, qs, &q, &ql);
    if (s == MX_OK && es->gallery) s = embed_alloc(t, es->gallery, &g, &gl);
    mx_eval_config ec = mx_train_eval_config(t->cfg.dataset);
    ec.nmi = full;
    ec.align_uniform = full;
    ec.stop = t->stop;
    if (t->nranks > 1) ec.knn = knn_sharded, ec.knn_ctx = t;
    mx_rng r;
    mx_rng_seed(&r, t->cfg.seed ^ 0xe7a1);
    if (s == MX_OK && es->gallery)
        s = mx_eval_run_qg(q, ql, nq, g, gl, ng, t->d, train, n_train, &ec, &r, rep);
    else if (s == MX_OK)
        s = mx_eval_run(q, ql, nq, t->d, train, n_train, &ec, &r, rep);
    mx_free(g);
    mx_free(gl);
    if (s == MX_OK && emb_out) {
        *emb_out = q, *lab_out = ql;
    } else {
        mx_free(q);
        mx_free(ql);
    }
    /* the kNN is sharded; the other metrics (k-means / NMI, alignment / uniformity, utilization)
     * run on every rank over the gathered embeddings; a local stop stops all */
    return mx_tr_agree(t, s);
}

/* ---- using a trained run ----------------------------------------------------------------- */

/* "train, val, test" / "train, query, gallery, test (query against gallery)": the run's splits. */
static void splits_text(const mx_trainer *t, char *buf, size_t cap) {
    snprintf(buf, cap, "train%s%s", t->ds_val ? ", val" : "",
             t->ds_query ? ", query, gallery, test (the query and gallery sets)" : ", test");
}

static mx_status no_split(const mx_trainer *t, mx_split split) {
    static const char *names[] = {"train", "test", "val", "query", "gallery"};
    char have[160];
    splits_text(t, have, sizeof have);
    return mx_error(MX_ERR_ARG, "%s: this run has no %s split (it has %s%s)", t->dir,
                    (int)split >= 0 && split <= MX_SPLIT_GALLERY ? names[split] : "such", have,
                    split == MX_SPLIT_VAL ? "; validation needs val_fraction > 0"
                    : split == MX_SPLIT_QUERY || split == MX_SPLIT_GALLERY
                        ? "; query and gallery are In-Shop's"
                        : "");
}

mx_status mx_trainer_embed(mx_trainer *t, mx_split split, float **emb, int64_t **labels,
                           int64_t *n) {
    *emb = NULL, *labels = NULL, *n = 0;
    mx_tr_evalset es;
    if (!mx_tr_evalset_of(t, split, &es)) return no_split(t, split);
    /* In-Shop's test split: the query rows, then the gallery rows (one label space) */
    const mx_dataset *parts[2] = {es.set ? es.set : es.query, es.gallery};
    int64_t N = 0;
    for (int i = 0; i < 2; i++) N += parts[i] ? mx_dataset_size(parts[i]) : 0;
    float *e = mx_alloc(sizeof(float) * (size_t)(N * t->d));
    int64_t *l = mx_alloc(sizeof(int64_t) * (size_t)N);
    mx_status s = e && l ? MX_OK : mx_error(MX_ERR_NOMEM, "embeddings of %" PRId64 " examples", N);
    int64_t off = 0;
    for (int i = 0; i < 2 && s == MX_OK && parts[i]; i++) {
        s = mx_tr_embed_split(t, parts[i], e + off * t->d, l + off);
        off += mx_dataset_size(parts[i]);
    }
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
    mx_tr_evalset es;
    if (!mx_tr_evalset_of(t, split, &es)) return no_split(t, split);
    return mx_tr_evaluate(t, &es, NULL, 0, 1, rep, NULL, NULL);
}
