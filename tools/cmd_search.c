/* metrix search: the nearest images of a gallery (a folder, a list file, or embeddings saved by
 * `metrix embed --images`) to query images, with a trained run. Text, JSON or a picture.
 * Exit codes: 0 success, 1 bad data or failure, 2 usage error. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"
#include "user_images.h"

#define MAX_QUERIES MX_RETRIEVAL_MAX_ROW

typedef struct query_list {
    const char *paths[MAX_QUERIES];
    int n;
} query_list;

/* --query IMAGE, repeatable */
static int parse_query(const char *cmd, const char *name, const char *value, void *dst) {
    query_list *q = dst;
    if (q->n == MAX_QUERIES) {
        char what[64];
        snprintf(what, sizeof what, "at most %d query images", MAX_QUERIES);
        return mx_cli_expected(cmd, name, value, what);
    }
    q->paths[q->n++] = value;
    return 1;
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}

/* Gallery embeddings saved by metrix embed --images: float32 (N, d) and N paths. */
static int load_gallery_npy(const char *npy, const char *paths, int64_t d, float **emb, int64_t *n,
                            mx_ui_list *l) {
    if (!paths) {
        fprintf(stderr,
                "metrix search: --gallery %s: embeddings need the paths of their images: "
                "--gallery-paths P.txt (or --gallery E.npy+P.txt), from metrix embed "
                "--paths-output\n",
                npy);
        return 0;
    }
    mx_array a = {0};
    if (mx_npy_read(npy, &a) != MX_OK) {
        fprintf(stderr, "metrix search: --gallery %s: %s\n", npy, mx_errmsg());
        return 0;
    }
    int ok = 0;
    if (a.dtype != MX_DTYPE_F32 || a.ndim != 2 || a.shape[0] < 1 || a.shape[1] != d) {
        fprintf(stderr,
                "metrix search: --gallery %s: expected float32 embeddings of shape (N, %lld) (this "
                "run's dimension), got %s with %d dimension(s)%s\n",
                npy, (long long)d, mx_dtype_name(a.dtype), a.ndim,
                a.ndim == 2 ? " and another width" : "");
    } else if (!mx_ui_read_paths("search", paths, l)) {
    } else if (l->n != a.shape[0]) {
        fprintf(stderr, "metrix search: %s has %lld paths for the %lld rows of %s\n", paths,
                (long long)l->n, (long long)a.shape[0], npy);
        mx_ui_list_free(l);
    } else {
        *emb = mx_alloc(sizeof(float) * (size_t)(a.shape[0] * d));
        if (!*emb) {
            fprintf(stderr, "metrix search: out of memory\n");
            mx_ui_list_free(l);
        } else {
            memcpy(*emb, a.data, sizeof(float) * (size_t)(a.shape[0] * d));
            *n = a.shape[0];
            if (mx_eval_normalize(*emb, *n, d) != MX_OK) { /* zero or non-finite rows */
                fprintf(stderr, "metrix search: --gallery %s: %s\n", npy, mx_errmsg());
                mx_free(*emb);
                *emb = NULL;
                mx_ui_list_free(l);
            } else {
                ok = 1;
            }
        }
    }
    mx_array_free(&a);
    return ok;
}

static void json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *base_name(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* The picture: one row per query, its k neighbours (classes unknown: neutral frames). */
static int picture(const char *out, const mx_ui_list *ql, const int64_t *qkept, int64_t nq,
                   const mx_ui_list *gl, const int64_t *gkept, const int64_t *idx, const float *sim,
                   int k) {
    int cols = k + 1;
    size_t nt = (size_t)nq * (size_t)cols;
    mx_image *im = calloc(nt, sizeof *im);
    mx_plot_image *tiles = calloc(nt, sizeof *tiles);
    int64_t *labels = malloc(nt * sizeof *labels);
    const char **names = calloc(nt, sizeof *names);
    mx_status st = im && tiles && labels && names ? MX_OK : mx_error(MX_ERR_NOMEM, "picture");
    for (size_t t = 0; st == MX_OK && t < nt; t++) {
        int64_t r = (int64_t)(t / (size_t)cols), c = (int64_t)(t % (size_t)cols);
        labels[t] = -1;
        int64_t g = c ? idx[r * k + c - 1] : -1;
        if (c && g < 0) continue;
        const char *p = c ? gl->paths[gkept ? gkept[g] : g] : ql->paths[qkept[r]];
        st = mx_image_load(p, MX_RETRIEVAL_TILE, &im[t]);
        tiles[t] = (mx_plot_image){im[t].w, im[t].h, im[t].c, im[t].data};
        names[t] = base_name(p);
    }
    if (st == MX_OK)
        st = mx_plot_retrievals(out, "Search results", (int)nq, k, tiles, labels, names, sim);
    for (size_t t = 0; im && t < nt; t++) mx_image_free(&im[t]);
    free(im);
    free(tiles);
    free(labels);
    free(names);
    if (st != MX_OK) fprintf(stderr, "metrix search: --picture %s: %s\n", out, mx_errmsg());
    return st == MX_OK;
}

int mx_cmd_search(int argc, char **argv) {
    const char *dir = NULL, *ckpt = "best", *gallery = NULL, *gpaths = NULL, *pic = NULL;
    query_list q = {{NULL}, 0};
    int k = 8, json = 0, skip = 0, threads = 0;
    const mx_cli_opt opts[] = {
        MX_CLI_STR("--run", "DIR", &dir, "a trained run's directory (required)", ""),
        MX_CLI_STR("--checkpoint", "CKPT", &ckpt, "best, last or a checkpoint FILE", NULL),
        MX_CLI_STR("--gallery", "SRC", &gallery,
                   "FOLDER, LIST.txt, or E.npy from metrix embed --images (required)", ""),
        MX_CLI_STR("--gallery-paths", "P.txt", &gpaths,
                   "with --gallery E.npy: its --paths-output (or --gallery E.npy+P.txt)", ""),
        MX_CLI_FN("--query", "IMAGE", &q, parse_query,
                  "a query image (JPEG / PNG); repeat for more (required)", ""),
        MX_CLI_I("--k", "K", &k, 1, 100000, "neighbours per query", NULL),
        MX_CLI_STR("--picture", "FILE.png", &pic, "also draw the queries and their neighbours",
                   "none"),
        MX_CLI_FLAGV("--json", &json, 1, "print one JSON object instead of text"),
        MX_CLI_FLAGV("--skip-unreadable", &skip, 1,
                     "report unreadable gallery images and go on (else they stop it)"),
        MX_CLI_THREADS(&threads),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {
        .cmd = "search",
        .usage = "usage: metrix search --run DIR --gallery FOLDER|LIST.txt|E.npy --query IMAGE\n"
                 "                     [--query IMAGE ...] [options]\n"
                 "  the K nearest gallery images of each query by cosine similarity of the run's\n"
                 "  embeddings (test-time transform). Embed a large gallery once with\n"
                 "  metrix embed --run DIR --images FOLDER --output E.npy --paths-output P.txt\n"
                 "  and search it with --gallery E.npy --gallery-paths P.txt.\n\n"
                 "options:\n",
        .opts = opts,
    };
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (!dir || !gallery || q.n == 0) {
        fprintf(stderr, "metrix search: --run, --gallery and at least one --query are required "
                        "(metrix search --help)\n");
        return 2;
    }
    if (pic && k > MX_RETRIEVAL_MAX_K) {
        fprintf(stderr, "metrix search: --picture shows at most %d neighbours per query (--k %d)\n",
                MX_RETRIEVAL_MAX_K, k);
        return 2;
    }
    /* --gallery E.npy+P.txt */
    char *gsplit = NULL;
    const char *plus = strstr(gallery, ".npy+");
    if (plus && !gpaths) {
        gsplit = strdup(gallery);
        if (!gsplit) return 1;
        gsplit[plus - gallery + 4] = '\0';
        gpaths = gsplit + (plus - gallery) + 5;
        gallery = gsplit;
    }
    rc = 1;
    mx_trainer *t = NULL;
    mx_ui_list gl = {0}, ql = {0};
    float *ge = NULL, *qe = NULL, *sim = NULL;
    int64_t *gkept = NULL, *qkept = NULL, *idx = NULL, ng = 0, nq = 0;
    mx_status st = mx_trainer_open_threads(dir, ckpt, threads, &t); /* sets the threads */
    if (st != MX_OK) {
        fprintf(stderr, "metrix search: %s\n", mx_errmsg());
        goto done;
    }
    int64_t d = mx_trainer_embed_dim(t);
    for (int i = 0; i < q.n; i++)
        if (!mx_ui_list_add("search", &ql, q.paths[i])) goto done;
    if (!mx_ui_embed("search", t, &ql, 0, &qe, &qkept, &nq)) goto done;
    if (ends_with(gallery, ".npy")) {
        if (!load_gallery_npy(gallery, gpaths, d, &ge, &ng, &gl)) goto done;
    } else {
        if (gpaths) {
            fprintf(stderr, "metrix search: --gallery-paths goes with --gallery E.npy\n");
            rc = 2;
            goto done;
        }
        if (!mx_ui_collect("search", gallery, &gl)) goto done;
        if (!mx_ui_embed("search", t, &gl, skip, &ge, &gkept, &ng)) goto done;
    }
    idx = malloc(sizeof(int64_t) * (size_t)(nq * k));
    sim = malloc(sizeof(float) * (size_t)(nq * k));
    if (!idx || !sim) {
        fprintf(stderr, "metrix search: out of memory\n");
        goto done;
    }
    st = mx_knn(qe, nq, ge, ng, d, k, 0, idx, sim);
    if (st != MX_OK) {
        fprintf(stderr, "metrix search: %s\n", mx_errmsg());
        goto done;
    }
    int64_t kk = k < ng ? k : ng;
    if (json) printf("{\"k\": %d, \"gallery\": %lld, \"queries\": [", k, (long long)ng);
    for (int64_t i = 0; i < nq; i++) {
        const char *qp = ql.paths[qkept[i]];
        if (json) {
            printf("%s{\"query\": ", i ? ", " : "");
            json_string(stdout, qp);
            printf(", \"neighbours\": [");
        } else {
            printf("%squery %s\n", i ? "\n" : "", qp);
        }
        for (int64_t j = 0; j < kk; j++) {
            int64_t g = idx[i * k + j];
            const char *gp = gl.paths[gkept ? gkept[g] : g];
            if (json) {
                printf("%s{\"rank\": %lld, \"similarity\": %.6f, \"path\": ", j ? ", " : "",
                       (long long)(j + 1), (double)sim[i * k + j]);
                json_string(stdout, gp);
                printf("}");
            } else {
                printf("  %3lld  %.4f  %s\n", (long long)(j + 1), (double)sim[i * k + j], gp);
            }
        }
        if (json) printf("]}");
    }
    if (json) printf("]}\n");
    if (fflush(stdout) != 0) {
        fprintf(stderr, "metrix search: writing the results failed: %s\n", strerror(errno));
        goto done;
    }
    if (pic && !picture(pic, &ql, qkept, nq, &gl, gkept, idx, sim, k)) goto done;
    rc = 0;
done:
    mx_trainer_free(t);
    mx_ui_list_free(&gl);
    mx_ui_list_free(&ql);
    mx_free(ge);
    mx_free(qe);
    free(gkept);
    free(qkept);
    free(idx);
    free(sim);
    free(gsplit);
    return rc;
}
