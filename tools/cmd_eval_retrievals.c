/* metrix eval --retrievals FILE.png: the retrieval picture of .npy embeddings, with the images
 * from .npy files (--images, or --query-images / --gallery-images), and of a run (--run). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/metrix.h"
#include "cmd_eval_retrievals.h"

/* Images of an .npy batch: uint8 (N, H, W) gray, (N, H, W, 1 | 3) interleaved, or float
 * (N, 1 | 3, H, W) planar as fed to the network (each image min-max scaled to 0..255 for
 * display). */
typedef struct npy_images {
    mx_array a;
    int64_t n;
    int h, w, c, planar;
} npy_images;

static int load_images(const char *opt, const char *path, int64_t want_n, npy_images *im) {
    memset(im, 0, sizeof *im);
    if (mx_npy_read(path, &im->a) != MX_OK) {
        fprintf(stderr, "metrix eval: %s %s: %s\n", opt, path, mx_errmsg());
        return 0;
    }
    const mx_array *a = &im->a;
    int u8 = a->dtype == MX_DTYPE_U8, f32 = a->dtype == MX_DTYPE_F32;
    if (u8 && a->ndim == 3) {
        im->h = (int)a->shape[1], im->w = (int)a->shape[2], im->c = 1;
    } else if (u8 && a->ndim == 4 && (a->shape[3] == 1 || a->shape[3] == 3)) {
        im->h = (int)a->shape[1], im->w = (int)a->shape[2], im->c = (int)a->shape[3];
    } else if (f32 && a->ndim == 4 && (a->shape[1] == 1 || a->shape[1] == 3)) {
        im->c = (int)a->shape[1], im->h = (int)a->shape[2], im->w = (int)a->shape[3];
        im->planar = 1;
    } else {
        fprintf(stderr,
                "metrix eval: %s %s: expected uint8 images (N, H, W) or (N, H, W, 1|3), or float32 "
                "(N, 1|3, H, W), got %s with %d dimension(s)\n",
                opt, path, mx_dtype_name(a->dtype), a->ndim);
        mx_array_free(&im->a);
        return 0;
    }
    im->n = a->shape[0];
    if (im->n != want_n || im->h < 1 || im->w < 1 || im->h > 16384 || im->w > 16384) {
        fprintf(stderr, "metrix eval: %s %s: %lld images of %dx%d for %lld embeddings\n", opt, path,
                (long long)im->n, im->w, im->h, (long long)want_n);
        mx_array_free(&im->a);
        return 0;
    }
    return 1;
}

/* Image i as 8-bit HWC into buf (h * w * c bytes). */
static void image_bytes(const npy_images *im, int64_t i, uint8_t *buf) {
    size_t hw = (size_t)im->h * (size_t)im->w, sz = hw * (size_t)im->c;
    if (!im->planar) {
        memcpy(buf, (const uint8_t *)im->a.data + (size_t)i * sz, sz);
        return;
    }
    const float *x = (const float *)im->a.data + (size_t)i * sz;
    float lo = INFINITY, hi = -INFINITY;
    for (size_t j = 0; j < sz; j++)
        if (isfinite(x[j])) lo = x[j] < lo ? x[j] : lo, hi = x[j] > hi ? x[j] : hi;
    float sc = hi > lo ? 255.0f / (hi - lo) : 0.0f;
    for (size_t p = 0; p < hw; p++)
        for (int ch = 0; ch < im->c; ch++) {
            float v = x[(size_t)ch * hw + p];
            buf[p * (size_t)im->c + (size_t)ch] = isfinite(v) ? (uint8_t)lrintf((v - lo) * sc) : 0;
        }
}

int mx_eval_retrievals_usage(const mx_eval_retrievals_opts *o, int qg) {
    int any = o->images || o->query_images || o->gallery_images;
    if (!o->path && any) {
        fprintf(stderr, "metrix eval: --images / --query-images / --gallery-images are the "
                        "pictures for --retrievals FILE.png, which is missing\n");
        return 0;
    }
    if (o->path && (qg ? !o->query_images || !o->gallery_images || o->images
                       : !o->images || o->query_images || o->gallery_images)) {
        fprintf(
            stderr,
            "metrix eval: --retrievals needs the pictures of the embeddings: %s (.npy embeddings "
            "carry no images; uint8 (N, H, W[, C]) or float32 (N, C, H, W)), or use --run "
            "DIR\n",
            qg ? "--query-images Q.npy and --gallery-images G.npy" : "--images I.npy");
        return 0;
    }
    return 1;
}

int mx_eval_retrievals_npy(const mx_eval_retrievals_opts *o, const float *q, const int64_t *ql,
                           int64_t nq, const float *g, const int64_t *gl, int64_t ng, int64_t d) {
    const char *qopt = g ? "--query-images" : "--images";
    const char *qpath = g ? o->query_images : o->images;
    npy_images qi, gi;
    memset(&gi, 0, sizeof gi);
    if (!load_images(qopt, qpath, nq, &qi)) return 1;
    if (g && !load_images("--gallery-images", o->gallery_images, ng, &gi)) {
        mx_array_free(&qi.a);
        return 1;
    }
    int rc = 1, k = o->k, n = 0, cols = o->k + 1;
    int64_t qidx[MX_RETRIEVAL_MAX_ROW], nn[MX_RETRIEVAL_MAX_ROW * MX_RETRIEVAL_MAX_K];
    float sim[MX_RETRIEVAL_MAX_ROW * MX_RETRIEVAL_MAX_K];
    size_t nt = (size_t)o->queries * (size_t)cols;
    mx_plot_image *tiles = calloc(nt, sizeof *tiles);
    uint8_t **bufs = calloc(nt, sizeof *bufs);
    int64_t *labels = calloc(nt, sizeof *labels);
    char(*names)[32] = calloc(nt, sizeof *names);
    const char **np = calloc(nt, sizeof *np);
    mx_status st = tiles && bufs && labels && names && np
                       ? MX_OK
                       : mx_error(MX_ERR_NOMEM, "retrievals: %zu tiles", nt);
    if (st == MX_OK)
        st = mx_retrieval_examples(q, nq, g, ng, d, o->queries, k, MX_RETRIEVALS_SEED, qidx, nn,
                                   sim, &n);
    for (int t = 0; st == MX_OK && t < n * cols; t++) {
        int r = t / cols, c = t % cols;
        const npy_images *im = c == 0 || !g ? &qi : &gi;
        int64_t i = c == 0 ? qidx[r] : nn[r * k + c - 1];
        labels[t] = -1;
        if (i < 0) continue;
        bufs[t] = malloc((size_t)im->h * (size_t)im->w * (size_t)im->c);
        if (!bufs[t]) {
            st = mx_error(MX_ERR_NOMEM, "retrievals: image %lld", (long long)i);
            break;
        }
        image_bytes(im, i, bufs[t]);
        tiles[t] = (mx_plot_image){im->w, im->h, im->c, bufs[t]};
        labels[t] = c == 0 || !g ? ql[i] : gl[i];
        snprintf(names[t], sizeof names[t], "class %lld", (long long)labels[t]);
        np[t] = names[t];
    }
    if (st == MX_OK)
        st = mx_plot_retrievals(o->path,
                                g ? "Queries and their nearest gallery items"
                                  : "Queries and their nearest neighbours",
                                n, k, tiles, labels, np, sim);
    if (st == MX_OK) {
        rc = 0;
    } else {
        fprintf(stderr, "metrix eval: --retrievals %s: %s\n", o->path, mx_errmsg());
    }
    for (size_t t = 0; bufs && t < nt; t++) free(bufs[t]);
    free(bufs);
    free(tiles);
    free(labels);
    free(names);
    free(np);
    mx_array_free(&qi.a);
    mx_array_free(&gi.a);
    return rc;
}
