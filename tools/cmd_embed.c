/* metrix embed: runs a backbone + embedding head in eval mode (frozen BN) on an N x C x H x W
 * float32 .npy and writes the N x d float32 L2-normalised embeddings as .npy. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrix/metrix.h"
#include "cli_opts.h"
#include "cmd.h"
#include "cmd_embed_images.h"

/* metrix embed --run DIR: a run's checkpoint on a split of the run's own dataset. */
static int embed_run_dir(const char *dir, const char *ckpt, mx_split sp, const char *outp,
                         const char *lab, int threads) {
    if (!outp || !lab) {
        fprintf(stderr, "metrix embed: --run needs --output E.npy and --labels-output L.npy\n");
        return 2;
    }
    mx_trainer *t = NULL;
    float *e = NULL;
    int64_t *l = NULL, n = 0;
    volatile const int *stop = mx_cli_stop_on_signals();
    mx_status st = mx_trainer_open_threads(dir, ckpt, threads, &t);
    if (st == MX_OK) {
        mx_trainer_set_stop(t, stop);
        fprintf(stderr, "metrix embed: embedding with %s (checkpoint %s)\n", dir, ckpt);
    }
    if (st == MX_OK) st = mx_trainer_embed(t, sp, &e, &l, &n);
    if (st == MX_OK) {
        int64_t shape[2] = {n, mx_trainer_embed_dim(t)};
        st = mx_npy_write(outp, MX_DTYPE_F32, 2, shape, e);
        if (st == MX_OK) st = mx_npy_write(lab, MX_DTYPE_I64, 1, shape, l);
    }
    if (st == MX_OK)
        printf("metrix embed: %lld embeddings of dimension %d -> %s, labels -> %s\n", (long long)n,
               mx_trainer_embed_dim(t), outp, lab);
    mx_free(e);
    mx_free(l);
    mx_trainer_free(t);
    if (st != MX_OK) {
        fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
        return st == MX_ERR_INTERRUPTED ? 130 : 1;
    }
    return 0;
}

int mx_cmd_embed(int argc, char **argv) {
    (void)mx_cli_stop_on_signals(); /* first, before any thread: see tools/cli_signal.c */
    /* metrix embed --run DIR ... */
    const char *dir = NULL, *ckpt = "best", *lab = NULL;
    mx_split split = MX_SPLIT_TEST;
    mx_embed_images_opts ui = {NULL, NULL, 0, -1}; /* --images: a user's own images */
    /* metrix embed --backbone NAME ... (and --output in both) */
    const char *bbname = NULL, *wpath = NULL, *in = NULL, *outp = NULL, *algo = "winograd",
               *prec = "fp32";
    long long dim = 0, batch = 64;
    int threads = 0;
    const mx_cli_opt run_opts[] = {
        MX_CLI_RUN_ROWS(&dir, &ckpt, &split),
        MX_CLI_STR("--output", "E.npy", &outp, "float32 N x d embeddings (required)", ""),
        MX_CLI_STR("--labels-output", "L.npy", &lab, "int64 N labels (required)", ""),
        MX_EMBED_IMAGES_ROWS(&ui),
        MX_CLI_RUN_THREADS(&ui.threads),
        MX_CLI_END,
    };
    const mx_cli_spec run_spec = {
        .cmd = "embed",
        .usage = "usage: metrix embed --run DIR --output E.npy --labels-output L.npy [options]\n"
                 "  a trained run's checkpoint on a split of its dataset: N x d float32\n"
                 "  L2-normalised embeddings and N int64 labels (In-Shop's test split: the\n"
                 "  query rows, then the gallery rows)\n"
                 "       metrix embed --run DIR --images FOLDER|LIST.txt --output E.npy\n"
                 "                    [--paths-output P.txt]\n"
                 "  your own JPEG / PNG images, with the run's test-time transform\n",
        .opts = run_opts,
        .hint = "with --run only --checkpoint, --split, --output, --labels-output, --images, "
                "--paths-output, --skip-unreadable and --threads apply",
    };
    const mx_cli_opt opts[] = {
        MX_CLI_CHOICE("--backbone", "NAME", &bbname, "smallcnn|resnet18|resnet50",
                      "smallcnn | resnet18 | resnet50 (required)", ""),
        MX_CLI_STR("--weights", "FILE", &wpath,
                   "torchvision-named weights incl. embedding.weight / .bias (required)", ""),
        MX_CLI_STR("--input", "X.npy", &in, "float32 N x C x H x W, normalised images (required)",
                   ""),
        MX_CLI_STR("--output", "E.npy", &outp, "float32 N x d embeddings (required)", ""),
        MX_CLI_LL("--dim", "D", &dim, 1, INT_MAX, "embedding size",
                  "from the weights' embedding.weight"),
        MX_CLI_LL("--batch", "B", &batch, 1, MX_CLI_NOMAX, "examples per forward pass", NULL),
        MX_CLI_CHOICE("--conv-algo", "A", &algo, "winograd|direct",
                      "convolution algorithm: winograd (3x3 stride-1 layers) | direct", NULL),
        MX_CLI_CHOICE("--precision", "P", &prec, "fp32|bf16",
                      "activations: fp32 | bf16 (mixed precision, AVX512-BF16 CPUs)", NULL),
        MX_CLI_THREADS(&threads),
        MX_CLI_END,
    };
    const mx_cli_spec spec = {
        .cmd = "embed",
        .usage = "usage: metrix embed --backbone NAME --weights FILE.safetensors --input X.npy\n"
                 "                    --output E.npy [options]\n"
                 "  N x d float32 L2-normalised embeddings of a float32 image batch (eval mode)\n",
        .opts = opts,
        .also = &run_spec,
    };
    int rc = mx_cli_parse(&spec, argc, argv);
    if (rc >= 0) return rc;
    if (dir && ui.images) return mx_embed_images(dir, ckpt, &ui, outp, lab);
    if (dir) return embed_run_dir(dir, ckpt, split, outp, lab, ui.threads);
    mx_backbone bb;
    if (!bbname || !wpath || !in || !outp) {
        fprintf(stderr, "metrix embed: --backbone, --weights, --input and --output are required "
                        "(metrix embed --help)\n");
        return 2;
    }
    if (!mx_backbone_from_name(bbname, &bb)) return 2; /* not one of the --backbone choices */
    mx_threads_set(threads);
    mx_array x = {0};
    mx_model *m = NULL;
    float *emb = NULL;
    rc = 1;
    mx_status s = mx_npy_read(in, &x);
    if (s != MX_OK) {
        fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
        return 1;
    }
    mx_model_config cfg = mx_model_config_default(bb);
    if (x.dtype != MX_DTYPE_F32 || x.ndim != 4 || x.shape[0] < 1) {
        fprintf(stderr,
                "metrix embed: %s: expected a float32 array of shape N x %d x H x W, got %s "
                "with %d dimensions\n",
                in, cfg.in_channels, mx_dtype_name(x.dtype), x.ndim);
        goto done;
    }
    if (x.shape[1] != cfg.in_channels) {
        fprintf(stderr,
                "metrix embed: %s: expected %d channels for %s (shape N x %d x H x W), got "
                "%lld\n",
                in, cfg.in_channels, bbname, cfg.in_channels, (long long)x.shape[1]);
        goto done;
    }
    const float *xv = x.data;
    for (int64_t i = 0, per_ex = x.shape[1] * x.shape[2] * x.shape[3]; i < mx_array_numel(&x); i++)
        if (!isfinite(xv[i])) {
            int64_t r = i % per_ex, hw = x.shape[2] * x.shape[3];
            fprintf(stderr,
                    "metrix embed: %s: example %lld, channel %lld, pixel (%lld, %lld): %g is not "
                    "finite\n",
                    in, (long long)(i / per_ex), (long long)(r / hw),
                    (long long)(r % hw / x.shape[3]), (long long)(r % x.shape[3]), (double)xv[i]);
            goto done;
        }
    if (!dim) { /* the embedding size from the weights file */
        mx_safetensors *st = NULL;
        if (mx_st_open(wpath, &st) != MX_OK) {
            fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
            goto done;
        }
        const mx_tensor_view *v = mx_st_find(st, "embedding.weight");
        dim = v && v->ndim == 2 ? v->shape[0] : 0;
        mx_st_free(st);
        if (!dim) {
            fprintf(stderr, "metrix embed: %s: no 2-D tensor 'embedding.weight' (give --dim)\n",
                    wpath);
            goto done;
        }
    }
    cfg.embed_dim = (int)dim;
    if (!mx_conv_algo_from_name(algo, &cfg.conv_algo)) goto done; /* one of the choices */
    mx_precision pr;
    if (!mx_precision_from_name(prec, &pr)) goto done; /* one of the choices */
    int64_t n = x.shape[0], h = x.shape[2], w = x.shape[3], per = x.shape[1] * h * w;
    int64_t b = batch < n ? batch : n;
    mx_rng rng;
    mx_rng_seed(&rng, 0);
    s = mx_model_create(&cfg, &rng, &m);
    if (s == MX_OK) s = mx_model_load(m, wpath, 1);
    if (s == MX_OK) {
        /* forward only: activation buffers are reused along the pass */
        mx_plan_config pc = mx_plan_config_default(1, b, (int)h, (int)w);
        pc.inference = 1;
        pc.precision = pr;
        mx_model_set_train(m, 0);
        s = mx_model_plan_ex(m, &pc);
    }
    emb = s == MX_OK ? malloc((size_t)(n * dim) * sizeof(float)) : NULL;
    if (s == MX_OK && !emb)
        s = mx_error(MX_ERR_NOMEM, "out of memory for %lld embeddings", (long long)n);
    volatile const int *stop = mx_cli_stop_on_signals();
    for (int64_t i = 0; i < n && s == MX_OK; i += b) {
        int64_t k = n - i < b ? n - i : b;
        if (*stop) {
            s = mx_error(MX_ERR_INTERRUPTED,
                         "interrupted after %lld of %lld inputs (nothing written)", (long long)i,
                         (long long)n);
            rc = 130;
            break;
        }
        s = mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, (const float *)x.data + i * per,
                             k, emb + i * dim);
    }
    if (s == MX_OK) {
        int64_t shape[2] = {n, dim};
        s = mx_npy_write(outp, MX_DTYPE_F32, 2, shape, emb);
    }
    if (s != MX_OK)
        fprintf(stderr, "metrix embed: %s\n", mx_errmsg());
    else
        rc = 0;
done:
    free(emb);
    mx_model_free(m);
    mx_array_free(&x);
    return rc;
}
