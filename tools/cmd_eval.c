/* metrix eval: retrieval metrics of saved embeddings (.npy), leave-one-out or query/gallery.
 * Exit codes: 0 success, 1 bad data or failure, 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/metrix.h"
#include "cmd.h"

static void usage(FILE *f) {
    fprintf(
        f, "usage: metrix eval --embeddings E.npy --labels L.npy [options]        (leave-one-out)\n"
           "       metrix eval --query-embeddings Q.npy --query-labels QL.npy\n"
           "                   --gallery-embeddings G.npy --gallery-labels GL.npy [options]\n"
           "       metrix eval --run DIR [--checkpoint best|last|FILE] [--split test|val|train]\n"
           "                   [--json]   (a trained run's checkpoint on its dataset)\n"
           "\n"
           "Embeddings: float32 (N, D), L2-normalised here if they are not; labels: int64 or\n"
           "int32 (N,). Neighbours by cosine similarity, ties broken by the smaller index.\n"
           "\n"
           "options:\n"
           "  --embeddings PATH           evaluation set, leave-one-out (self excluded)\n"
           "  --labels PATH               its labels\n"
           "  --query-embeddings PATH     query set (query/gallery protocol, In-Shop)\n"
           "  --query-labels PATH\n"
           "  --gallery-embeddings PATH   gallery set\n"
           "  --gallery-labels PATH\n"
           "  --train-embeddings PATH     adds utilization u(eval set, train set) (default: none)\n"
           "  --k LIST                    Recall@K cut-offs, ascending (default 1,2,4,8,16,32;\n"
           "                              SOP: 1,10,100,1000; In-Shop: 1,10,20,30,40,50)\n"
           "  --no-map-r                  skip MAP@R and R-Precision (default: computed)\n"
           "  --no-nmi                    skip k-means + NMI (default: computed)\n"
           "  --nmi-iters N               Lloyd iteration cap for NMI's k-means (default 100)\n"
           "  --no-align-uniform          skip alignment / uniformity (default: computed)\n"
           "  --seed S                    k-means++ seed (default 0)\n"
           "  --threads T                 threads (default: all cores)\n"
           "  --json                      print one JSON object instead of text\n"
           "  -h, --help                  this help\n");
}

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

static int parse_k(const char *s, mx_eval_config *c) {
    int n = 0;
    const char *p = s;
    while (*p) {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(p, &end, 10);
        if (end == p || errno || v < 1 || n >= MX_EVAL_MAX_K || (n > 0 && v <= c->k[n - 1]))
            return 0;
        c->k[n++] = v;
        if (*end == ',')
            end++;
        else if (*end)
            return 0;
        p = end;
    }
    c->n_k = n;
    return n > 0;
}

static int parse_int(const char *s, long long lo, long long *out) {
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno || v < lo) return 0;
    *out = v;
    return 1;
}

/* metrix eval --run DIR: evaluates a run's checkpoint on a split of the run's dataset. */
static int eval_run_dir(int argc, char **argv) {
    const char *dir = NULL, *ckpt = "best", *split = "test";
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        const char **dst = !strcmp(a, "--run")          ? &dir
                           : !strcmp(a, "--checkpoint") ? &ckpt
                           : !strcmp(a, "--split")      ? &split
                                                        : NULL;
        if (!dst || i + 1 >= argc) {
            fprintf(stderr, "metrix eval: with --run only --checkpoint, --split and --json apply "
                            "(each option with a value); got '%s'\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    mx_split sp;
    if (!mx_cli_split("eval", split, &sp)) return 2;
    mx_trainer *t = NULL;
    mx_eval_report rep;
    mx_status st = mx_trainer_open(dir, ckpt, &t);
    if (st == MX_OK) st = mx_trainer_evaluate(t, sp, &rep);
    if (st == MX_OK) st = mx_eval_report_write(&rep, json, stdout);
    mx_trainer_free(t);
    if (st != MX_OK) {
        fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        return 1;
    }
    return 0;
}

int mx_cmd_eval(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--run")) return eval_run_dir(argc, argv);
    const char *emb = NULL, *lab = NULL, *qe = NULL, *ql = NULL, *ge = NULL, *gl = NULL;
    const char *train = NULL;
    int json = 0, threads = 0;
    long long seed = 0, v = 0;
    mx_eval_config cfg = mx_eval_config_default();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(a, "--no-nmi")) {
            cfg.nmi = 0;
            continue;
        }
        if (!strcmp(a, "--no-map-r")) {
            cfg.map_at_r = 0;
            continue;
        }
        if (!strcmp(a, "--no-align-uniform")) {
            cfg.align_uniform = 0;
            continue;
        }
        const char **dst = !strcmp(a, "--embeddings")           ? &emb
                           : !strcmp(a, "--labels")             ? &lab
                           : !strcmp(a, "--query-embeddings")   ? &qe
                           : !strcmp(a, "--query-labels")       ? &ql
                           : !strcmp(a, "--gallery-embeddings") ? &ge
                           : !strcmp(a, "--gallery-labels")     ? &gl
                           : !strcmp(a, "--train-embeddings")   ? &train
                                                                : NULL;
        int known = dst || !strcmp(a, "--k") || !strcmp(a, "--seed") || !strcmp(a, "--threads") ||
                    !strcmp(a, "--nmi-iters");
        if (!known) {
            fprintf(stderr, "metrix eval: unknown option '%s' (metrix eval --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "metrix eval: %s needs a value\n", a);
            return 2;
        }
        const char *val = argv[++i];
        if (dst) {
            *dst = val;
        } else if (!strcmp(a, "--k")) {
            if (!parse_k(val, &cfg)) {
                fprintf(stderr,
                        "metrix eval: --k '%s': expected up to %d positive ascending integers "
                        "separated by commas\n",
                        val, MX_EVAL_MAX_K);
                return 2;
            }
        } else if (!strcmp(a, "--seed")) {
            if (!parse_int(val, 0, &seed)) {
                fprintf(stderr, "metrix eval: --seed '%s': expected an integer >= 0\n", val);
                return 2;
            }
        } else if (!strcmp(a, "--threads")) {
            if (!parse_int(val, 0, &v) || v > 4096) {
                fprintf(stderr, "metrix eval: --threads '%s': expected 0 (all cores) .. 4096\n",
                        val);
                return 2;
            }
            threads = (int)v;
        } else {
            if (!parse_int(val, 1, &v) || v > 1000000) {
                fprintf(stderr, "metrix eval: --nmi-iters '%s': expected 1 .. 1000000\n", val);
                return 2;
            }
            cfg.nmi_max_iter = (int)v;
        }
    }
    int loo = emb || lab, qg = qe || ql || ge || gl;
    if (loo == qg || (loo && !(emb && lab)) || (qg && !(qe && ql && ge && gl))) {
        fprintf(stderr, "metrix eval: give either --embeddings and --labels, or all four of "
                        "--query-embeddings, --query-labels, --gallery-embeddings, "
                        "--gallery-labels\n");
        return 2;
    }
    mx_threads_set(threads);

    int rc = 1;
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
    if (loo)
        st = mx_eval_run(e.data, el, e.shape[0], e.shape[1], train ? t.data : NULL,
                         train ? t.shape[0] : 0, &cfg, &rng, &rep);
    else
        st = mx_eval_run_qg(e.data, el, e.shape[0], g.data, gll, g.shape[0], e.shape[1],
                            train ? t.data : NULL, train ? t.shape[0] : 0, &cfg, &rng, &rep);
    if (st != MX_OK) {
        fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        goto done;
    }
    if (mx_eval_report_write(&rep, json, stdout) != MX_OK) {
        fprintf(stderr, "metrix eval: %s\n", mx_errmsg());
        goto done;
    }
    rc = 0;
done:
    mx_array_free(&e);
    mx_array_free(&g);
    mx_array_free(&t);
    free(el);
    free(gll);
    return rc;
}
