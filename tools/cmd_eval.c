/* metrix eval: retrieval metrics of saved embeddings (.npy), leave-one-out or query/gallery.
 * Exit codes: 0 success, 1 bad data or failure, 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"
#include "cmd_eval_retrievals.h"

/* Loads a float32 (N, D) matrix; 1 on success, else prints one error line. */
static int load_emb(const char *opt, const char *path, mx_array *a) {
    mx_status st = mx_npy_read(path, a);
    if (st != MX_OK) {
        fprintf(stderr, "metrix eval: %s %s: %s\n", opt, path, mx_errmsg());
        return 0;
    }
    if (a->dtype != MX_DTYPE_F32 || a->ndim != 2 || a->shape[0] < 1 || a->shape[1] < 1) {
        fprintf(stderr,
                "metrix eval: %s %s: expected a float32 array of shape (N, D), got %s with %d "
                "dimension(s)\n",
                opt, path, mx_dtype_name(a->dtype), a->ndim);
        return 0;
    }
    const float *x = a->data;
    int64_t n = mx_array_numel(a);
    for (int64_t i = 0; i < n; i++)
        if (!isfinite(x[i])) {
            fprintf(stderr, "metrix eval: %s %s: row %lld, column %lld: %g is not finite\n", opt,
                    path, (long long)(i / a->shape[1]), (long long)(i % a->shape[1]), (double)x[i]);
            return 0;
        }
    return 1;
}

/* Loads int64 / int32 (N,) labels as int64 (*out, free()); 1 on success. */
static int load_labels(const char *opt, const char *path, int64_t want_n, int64_t **out) {
    mx_array a;
    memset(&a, 0, sizeof a);
    mx_status st = mx_npy_read(path, &a);
    if (st != MX_OK) {
        fprintf(stderr, "metrix eval: %s %s: %s\n", opt, path, mx_errmsg());
        return 0;
    }
    int ok = 0;
    if ((a.dtype != MX_DTYPE_I64 && a.dtype != MX_DTYPE_I32) || a.ndim != 1) {
        fprintf(stderr,
                "metrix eval: %s %s: expected int64 or int32 labels of shape (N,), got %s with %d "
                "dimension(s)\n",
                opt, path, mx_dtype_name(a.dtype), a.ndim);
    } else if (a.shape[0] != want_n) {
        fprintf(stderr, "metrix eval: %s %s: %lld labels for %lld embeddings\n", opt, path,
                (long long)a.shape[0], (long long)want_n);
    } else {
        *out = malloc((size_t)(want_n > 0 ? want_n : 1) * sizeof(int64_t));
        if (!*out) {
            fprintf(stderr, "metrix eval: out of memory\n");
        } else {
            for (int64_t i = 0; i < want_n; i++)
                (*out)[i] = a.dtype == MX_DTYPE_I64 ? ((const int64_t *)a.data)[i]
                                                    : ((const int32_t *)a.data)[i];
            ok = 1;
        }
    }
    mx_array_free(&a);
    return ok;
}

/* --k LIST: up to MX_EVAL_MAX_K positive ascending integers into an mx_eval_config. */
static int parse_k(const char *cmd, const char *name, const char *s, void *dst) {
    mx_eval_config *c = dst;
    int n = 0;
    int64_t k[MX_EVAL_MAX_K];
    const char *p = s;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || n >= MX_EVAL_MAX_K || (n > 0 && v <= k[n - 1])) break;
        k[n++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            break;
        p = end;
    }
    if (*p || n == 0) {
        char what[96];
        snprintf(what, sizeof what, "up to %d positive ascending integers separated by commas",
                 MX_EVAL_MAX_K);
        return mx_cli_expected(cmd, name, s, what);
    }
    for (int i = 0; i < n; i++) c->k[i] = k[i];
    c->n_k = n;
    return 1;
}

/* metrix eval --run DIR: evaluates a run's checkpoint on a split of the run's dataset. */
static int eval_run_dir(const char *dir, const char *ckpt, mx_split sp, int json, int threads,
                        const mx_eval_retrievals_opts *ro) {
    mx_trainer *t = NULL;
    mx_eval_report rep;
    volatile const int *stop = mx_cli_stop_on_signals();
    /* under mpirun: the split embedded and the kNN searched in shards over the ranks; rank 0
     * prints */
    mx_comm *comm = mx_cli_comm_open("eval");
    if (!comm) return 1;
    const int rank0 = mx_comm_rank(comm) == 0;
    mx_status st = mx_trainer_open_comm(dir, ckpt, threads, comm, &t);
    if (st == MX_OK) {
        mx_trainer_set_stop(t, stop);
        if (rank0)
            fprintf(stderr, "metrix eval: evaluating %s (checkpoint %s%s)\n", dir, ckpt,
                    mx_comm_size(comm) > 1 ? ", sharded over the ranks" : "");
    }
    if (st == MX_OK) st = mx_trainer_evaluate(t, sp, &rep);
    if (st == MX_OK && rank0) st = mx_eval_report_write(&rep, json, stdout);
    if (st == MX_OK && ro->path) st = mx_trainer_retrievals(t, sp, ro->path, ro->queries, ro->k);
    mx_trainer_free(t);
    mx_comm_free(comm);
    if (st != MX_OK) {
        if (rank0) fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        return st == MX_ERR_INTERRUPTED ? 130 : 1;
    }
    return 0;
}

int mx_cmd_eval(int argc, char **argv) {
    (void)mx_cli_stop_on_signals(); /* first, before any thread: see tools/cli_signal.c */
    /* metrix eval --run DIR ... */
    const char *dir = NULL, *ckpt = "best";
    mx_split split = MX_SPLIT_TEST;
    /* metrix eval --embeddings ... | --query-embeddings ... (and --json in both) */
    const char *emb = NULL, *lab = NULL, *qe = NULL, *ql = NULL, *ge = NULL, *gl = NULL;
    const char *train = NULL;
    int json = 0, threads = 0, run_threads = -1;
    long long seed = 0;
    mx_eval_config cfg = mx_eval_config_default();
    char footer[512], table[160];
    mx_train_recall_ks_help(table, sizeof table);
    snprintf(footer, sizeof footer,
             "\nWith --run (and in training reports) Recall@K uses the dataset's cut-offs:\n  %s\n"
             "In-Shop's test split is its query set ranked against its gallery.\n"
             "An undefined metric (K above the gallery size, ...) prints n/a with the reason.\n",
             table);
    mx_eval_retrievals_opts ro = {NULL, NULL, NULL, NULL, 8, 8};
#define RETRIEVAL_ROWS(kname)                                                                      \
    MX_CLI_STR("--retrievals", "FILE", &ro.path, "also draw the retrieval picture (PNG)", "none"), \
        MX_CLI_I("--queries", "N", &ro.queries, 1, MX_RETRIEVAL_MAX_ROW,                           \
                 "queries in the picture (a fixed, seeded choice)", NULL),                         \
        MX_CLI_I(kname, "K", &ro.k, 1, MX_RETRIEVAL_MAX_K, "neighbours per query in the picture",  \
                 NULL)
    const mx_cli_opt run_opts[] = {
        MX_CLI_RUN_ROWS(&dir, &ckpt, &split),
        MX_CLI_FLAGV("--json", &json, 1, "print one JSON object instead of text"),
        RETRIEVAL_ROWS("--k"),
        MX_CLI_RUN_THREADS(&run_threads),
        MX_CLI_END,
    };
    const mx_cli_spec run_spec = {
        .cmd = "eval",
        .usage = "usage: metrix eval --run DIR [options]   (a trained run's checkpoint on its "
                 "dataset)\n",
        .opts = run_opts,
        .footer = footer,
        .hint = "with --run only --checkpoint, --split, --json, --retrievals, --queries, --k and "
                "--threads apply",
    };
    const mx_cli_opt opts[] = {
        MX_CLI_STR("--embeddings", "PATH", &emb, "evaluation set, leave-one-out (self excluded)",
                   ""),
        MX_CLI_STR("--labels", "PATH", &lab, "its labels", ""),
        MX_CLI_STR("--query-embeddings", "PATH", &qe, "query set (query/gallery protocol, In-Shop)",
                   ""),
        MX_CLI_STR("--query-labels", "PATH", &ql, "its labels", ""),
        MX_CLI_STR("--gallery-embeddings", "PATH", &ge, "gallery set", ""),
        MX_CLI_STR("--gallery-labels", "PATH", &gl, "its labels", ""),
        MX_CLI_STR("--train-embeddings", "PATH", &train, "adds utilization u(eval set, train set)",
                   "none"),
        MX_CLI_FN("--k", "LIST", &cfg, parse_k,
                  "Recall@K cut-offs, ascending (--run uses the dataset's table: see the note "
                  "below)",
                  "1,2,4,8,16,32"),
        MX_CLI_FLAGV("--no-map-r", &cfg.map_at_r, 0, "skip MAP@R and R-Precision"),
        MX_CLI_FLAGV("--no-nmi", &cfg.nmi, 0, "skip k-means + NMI"),
        MX_CLI_I("--nmi-iters", "N", &cfg.nmi_max_iter, 1, 1000000,
                 "Lloyd iteration cap for NMI's k-means", NULL),
        MX_CLI_FLAGV("--no-align-uniform", &cfg.align_uniform, 0, "skip alignment / uniformity"),
        MX_CLI_LL("--seed", "S", &seed, 0, MX_CLI_NOMAX, "k-means++ seed", NULL),
        MX_CLI_THREADS(&threads),
        MX_CLI_FLAGV("--json", &json, 1, "print one JSON object instead of text"),
        RETRIEVAL_ROWS("--neighbours"),
        MX_CLI_STR("--images", "PATH", &ro.images,
                   "--retrievals: the images of --embeddings (.npy)", ""),
        MX_CLI_STR("--query-images", "PATH", &ro.query_images, "--retrievals: query images", ""),
        MX_CLI_STR("--gallery-images", "PATH", &ro.gallery_images, "--retrievals: gallery images",
                   ""),
        MX_CLI_END,
    };
#undef RETRIEVAL_ROWS
    const mx_cli_spec spec = {
        .cmd = "eval",
        .usage =
            "usage: metrix eval --embeddings E.npy --labels L.npy [options]        "
            "(leave-one-out)\n"
            "       metrix eval --query-embeddings Q.npy --query-labels QL.npy\n"
            "                   --gallery-embeddings G.npy --gallery-labels GL.npy [options]\n"
            "\n"
            "Embeddings: float32 (N, D), L2-normalised here if they are not; labels: int64 or\n"
            "int32 (N,). Neighbours by cosine similarity, ties broken by the smaller index.\n"
            "\n"
            "options:\n",
        .opts = opts,
        .also = &run_spec,
    };
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (dir) return eval_run_dir(dir, ckpt, split, json, run_threads, &ro);
    int loo = emb || lab, qg = qe || ql || ge || gl;
    if (loo == qg || (loo && !(emb && lab)) || (qg && !(qe && ql && ge && gl))) {
        fprintf(stderr, "metrix eval: give either --embeddings and --labels, or all four of "
                        "--query-embeddings, --query-labels, --gallery-embeddings, "
                        "--gallery-labels\n");
        return 2;
    }
    if (!mx_eval_retrievals_usage(&ro, qg)) return 2;
    mx_threads_set(threads);

    rc = 1;
    mx_array e, g, t;
    memset(&e, 0, sizeof e);
    memset(&g, 0, sizeof g);
    memset(&t, 0, sizeof t);
    int64_t *el = NULL, *gll = NULL;
    mx_rng rng;
    mx_rng_seed(&rng, (uint64_t)seed);
    mx_eval_report rep;
    mx_status st;
    if (loo) {
        if (!load_emb("--embeddings", emb, &e) || !load_labels("--labels", lab, e.shape[0], &el))
            goto done;
    } else {
        if (!load_emb("--query-embeddings", qe, &e) ||
            !load_labels("--query-labels", ql, e.shape[0], &el) ||
            !load_emb("--gallery-embeddings", ge, &g) ||
            !load_labels("--gallery-labels", gl, g.shape[0], &gll))
            goto done;
        if (g.shape[1] != e.shape[1]) {
            fprintf(stderr, "metrix eval: query dimension %lld != gallery dimension %lld\n",
                    (long long)e.shape[1], (long long)g.shape[1]);
            goto done;
        }
    }
    if (train) {
        if (!load_emb("--train-embeddings", train, &t)) goto done;
        if (t.shape[1] != e.shape[1]) {
            fprintf(stderr, "metrix eval: --train-embeddings %s: dimension %lld != %lld\n", train,
                    (long long)t.shape[1], (long long)e.shape[1]);
            goto done;
        }
    }
    cfg.stop = mx_cli_stop_on_signals();
    if (loo)
        st = mx_eval_run(e.data, el, e.shape[0], e.shape[1], train ? t.data : NULL,
                         train ? t.shape[0] : 0, &cfg, &rng, &rep);
    else
        st = mx_eval_run_qg(e.data, el, e.shape[0], g.data, gll, g.shape[0], e.shape[1],
                            train ? t.data : NULL, train ? t.shape[0] : 0, &cfg, &rng, &rep);
    if (st != MX_OK) {
        fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        if (st == MX_ERR_INTERRUPTED) rc = 130;
        goto done;
    }
    if (mx_eval_report_write(&rep, json, stdout) != MX_OK) {
        fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        goto done;
    }
    rc = ro.path ? mx_eval_retrievals_npy(&ro, e.data, el, e.shape[0], qg ? g.data : NULL, gll,
                                          qg ? g.shape[0] : 0, e.shape[1])
                 : 0;
done:
    mx_array_free(&e);
    mx_array_free(&g);
    mx_array_free(&t);
    free(el);
    free(gll);
    return rc;
}
