/* nn layers: finite-difference checks of the double reference layers, and the oneDNN executor
 * (one test network per layer, see MX_NN_TEST_NET) against the reference executor: forward
 * feature map, embeddings, every parameter gradient and the input gradient. */
#include <stdlib.h>
#include <string.h>

#include "metrix/nn.h"
#include "mx_test.h"
#include "nn/nn_impl.h"

/* ---- finite differences of the reference layers ------------------------------------------- */

typedef struct fd_ctx {
    int layer;
    double *x, *w, *b, *x2; /* inputs that may be perturbed */
    int64_t n;
    int c, h, wd, oc, k, stride, pad, relu, train;
    double mean[64], var[64];
} fd_ctx;

static int64_t out_len(const fd_ctx *f) {
    int oh = (f->h + 2 * f->pad - f->k) / f->stride + 1,
        ow = (f->wd + 2 * f->pad - f->k) / f->stride + 1;
    switch (f->layer) {
    case 0:
        return f->n * f->oc * oh * ow;
    case 2:
        return f->n * f->c * oh * ow;
    case 4:
        return f->n * f->c;
    case 5:
        return f->n * f->oc;
    default:
        return f->n * f->c * f->h * f->wd;
    }
}

static void fd_fwd(fd_ctx *f, double *y) {
    int hw = f->h * f->wd;
    switch (f->layer) {
    case 0:
        mx_ref_conv_fwd(f->x, f->n, f->c, f->h, f->wd, f->w, f->b, f->oc, f->k, f->stride, f->pad,
                        y);
        break;
    case 1: {
        double mean[64], var[64];
        memcpy(mean, f->mean, sizeof mean);
        memcpy(var, f->var, sizeof var);
        mx_ref_bn_fwd(f->x, f->n, f->c, hw, f->w, f->b, 1e-5, f->train, mean, var, f->relu, y);
        break;
    }
    case 2:
        mx_ref_maxpool_fwd(f->x, f->n, f->c, f->h, f->wd, f->k, f->stride, f->pad, y);
        break;
    case 3:
        mx_ref_add_fwd(f->x, f->x2, f->n * f->c * hw, f->relu, y);
        break;
    case 4:
        mx_ref_gapgmp_fwd(f->x, f->n, f->c, hw, y);
        break;
    case 5:
        mx_ref_linear_fwd(f->x, f->n, f->c, f->w, f->b, f->oc, y);
        break;
    default:
        mx_ref_l2norm_fwd(f->x, f->n, f->c, y);
        break;
    }
}

static void fd_bwd(fd_ctx *f, const double *y, const double *dy, double *dx, double *dw, double *db,
                   double *dx2) {
    int hw = f->h * f->wd;
    switch (f->layer) {
    case 0:
        mx_ref_conv_bwd(f->x, f->n, f->c, f->h, f->wd, f->w, f->oc, f->k, f->stride, f->pad, dy, dx,
                        dw, db);
        break;
    case 1: {
        double mean[64], var[64];
        memcpy(mean, f->mean, sizeof mean);
        memcpy(var, f->var, sizeof var);
        double *tmp = malloc((size_t)out_len(f) * sizeof(double));
        mx_ref_bn_fwd(f->x, f->n, f->c, hw, f->w, f->b, 1e-5, f->train, mean, var, f->relu, tmp);
        mx_ref_bn_bwd(f->x, f->n, f->c, hw, f->w, 1e-5, f->train, mean, var, f->relu, y, dy, dx, dw,
                      db);
        free(tmp);
        break;
    }
    case 2:
        mx_ref_maxpool_bwd(f->x, f->n, f->c, f->h, f->wd, f->k, f->stride, f->pad, dy, dx);
        break;
    case 3:
        mx_ref_add_bwd(y, f->n * f->c * hw, f->relu, dy, dx, dx2);
        break;
    case 4:
        mx_ref_gapgmp_bwd(f->x, f->n, f->c, hw, dy, dx);
        break;
    case 5:
        mx_ref_linear_bwd(f->x, f->n, f->c, f->w, f->oc, dy, dx, dw, db);
        break;
    default:
        mx_ref_l2norm_bwd(f->x, f->n, f->c, dy, dx);
        break;
    }
}

static double fd_loss(fd_ctx *f, const double *r, double *y) {
    fd_fwd(f, y);
    double s = 0;
    for (int64_t i = 0; i < out_len(f); i++) s += y[i] * r[i];
    return s;
}

/* Central differences of loss = sum(y * r) w.r.t. every element of arr vs the analytic grad. */
static void fd_check(const char *what, fd_ctx *f, double *arr, int64_t len, const double *grad,
                     const double *r, double *y) {
    double worst = 0;
    for (int64_t i = 0; i < len; i++) {
        double keep = arr[i], h = 1e-6;
        arr[i] = keep + h;
        double lp = fd_loss(f, r, y);
        arr[i] = keep - h;
        double lm = fd_loss(f, r, y);
        arr[i] = keep;
        double num = (lp - lm) / (2 * h), err = fabs(num - grad[i]) / (1e-6 + fabs(num));
        if (err > worst) worst = err;
        CHECK_CLOSE(grad[i], num, 1e-6, 1e-5);
    }
    printf("  FD %-28s worst rel err %.2e\n", what, worst);
}

static double *rnd(mx_rng *r, int64_t len, double scale) {
    double *a = malloc((size_t)len * sizeof(double));
    for (int64_t i = 0; i < len; i++) a[i] = scale * (mx_rng_uniform(r) * 2 - 1);
    return a;
}

static void fd_layer(mx_rng *rng, const char *what, fd_ctx f) {
    int64_t xl = f.n * f.c * f.h * f.wd, wl = 0, bl = 0;
    if (f.layer == 0) wl = (int64_t)f.oc * f.c * f.k * f.k, bl = f.oc;
    if (f.layer == 1) wl = bl = f.c;
    if (f.layer == 5) xl = f.n * f.c, wl = (int64_t)f.oc * f.c, bl = f.oc;
    if (f.layer == 6) xl = f.n * f.c;
    f.x = rnd(rng, xl, 1.0);
    f.x2 = rnd(rng, xl, 1.0);
    f.w = wl ? rnd(rng, wl, 0.5) : NULL;
    f.b = bl ? rnd(rng, bl, 0.5) : NULL;
    if (f.layer == 1)
        for (int ch = 0; ch < f.c; ch++)
            f.w[ch] += 1.5, f.mean[ch] = 0.1 * ch, f.var[ch] = 0.5 + 0.1 * ch;
    int64_t yl = out_len(&f);
    double *r = rnd(rng, yl, 1.0), *y = malloc((size_t)yl * sizeof(double));
    double *dx = calloc((size_t)xl, sizeof(double)), *dx2 = calloc((size_t)xl, sizeof(double));
    double *dw = calloc((size_t)(wl + 1), sizeof(double)),
           *db = calloc((size_t)(bl + 1), sizeof(double));
    fd_fwd(&f, y);
    fd_bwd(&f, y, r, dx, wl ? dw : NULL, bl ? db : NULL, dx2);
    char buf[96];
    snprintf(buf, sizeof buf, "%s dx", what);
    fd_check(buf, &f, f.x, xl, dx, r, y);
    if (f.layer == 3) fd_check("add dx2", &f, f.x2, xl, dx2, r, y);
    if (wl) {
        snprintf(buf, sizeof buf, "%s dw", what);
        fd_check(buf, &f, f.w, wl, dw, r, y);
    }
    if (bl) {
        snprintf(buf, sizeof buf, "%s db", what);
        fd_check(buf, &f, f.b, bl, db, r, y);
    }
    free(f.x), free(f.x2), free(f.w), free(f.b), free(r), free(y), free(dx), free(dx2), free(dw),
        free(db);
}

static void test_ref_fd(mx_rng *rng) {
    fd_ctx f = {0};
    f.n = 2, f.c = 3, f.h = 5, f.wd = 6, f.oc = 4, f.k = 3, f.stride = 2, f.pad = 1;
    f.layer = 0;
    fd_layer(rng, "conv3x3/2 pad1", f);
    f.stride = 1, f.k = 1, f.pad = 0;
    fd_layer(rng, "conv1x1", f);
    f.layer = 1, f.train = 1, f.relu = 0;
    fd_layer(rng, "bn train", f);
    f.relu = 1;
    fd_layer(rng, "bn train + relu", f);
    f.train = 0;
    fd_layer(rng, "bn frozen + relu", f);
    f.layer = 2, f.k = 3, f.stride = 2, f.pad = 1, f.relu = 0;
    fd_layer(rng, "maxpool 3/2 pad1", f);
    f.layer = 3, f.relu = 1;
    fd_layer(rng, "add + relu", f);
    f.layer = 4;
    fd_layer(rng, "gap+gmp", f);
    f.layer = 5, f.c = 7, f.oc = 5;
    fd_layer(rng, "linear", f);
    f.layer = 6;
    fd_layer(rng, "l2norm", f);
}

/* ---- oneDNN test networks vs the reference executor ------------------------------------- */

static void compare_net(mx_rng *rng, int kind, int bn_train, int h, mx_conv_algo algo) {
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_RESNET18);
    cfg.conv_algo = algo;
    cfg.backbone = (mx_backbone)(MX_NN_TEST_NET + kind);
    cfg.in_channels = 3;
    cfg.embed_dim = 8;
    mx_model *m = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &m));
    if (!m) return;
    const int64_t n = 3;
    CHECK_OK(mx_model_plan(m, 1, n, h, h));
    mx_model_set_train(m, bn_train);
    /* kind 6 has one Winograd-shaped conv: it must run on Winograd in all three passes when asked
     * (else this would compare direct convolution twice), and never when not */
    if (kind == 6)
        for (int pass = 0; pass < 3; pass++)
            CHECK(mx_nn_conv_winograd_count(m, pass) == (algo == MX_CONV_WINOGRAD));
    else
        CHECK(mx_nn_conv_winograd_count(m, 0) == 0);
    /* non-trivial BN params and stats */
    for (int i = 0; i < mx_model_param_count(m); i++) {
        const mx_param_info *p = mx_model_param_at(m, i);
        if (p->kind == MX_PARAM_BN_WEIGHT || p->kind == MX_PARAM_BN_BIAS ||
            p->kind == MX_PARAM_BIAS)
            for (int64_t j = 0; j < p->numel; j++)
                mx_model_params(m)[p->offset + j] = (p->kind == MX_PARAM_BN_WEIGHT ? 1.0f : 0.0f) +
                                                    0.3f * (mx_rng_uniformf(rng) - 0.5f);
    }
    for (int64_t j = 0; j < mx_model_n_stats(m); j++)
        mx_model_stats(m)[j] = (j % 2 ? 0.8f : 0.0f) + 0.2f * mx_rng_uniformf(rng);
    int d = mx_model_embed_dim(m), c, fh, fw;
    mx_model_stage_shape(m, 1, &c, &fh, &fw);
    int64_t xl = n * 3 * h * h, fl = n * c * fh * fw, np = mx_model_n_params(m);
    float *x = malloc((size_t)xl * sizeof(float)), *emb = malloc((size_t)(n * d) * sizeof(float));
    float *de = malloc((size_t)(n * d) * sizeof(float)), *dx = calloc((size_t)xl, sizeof(float));
    float *feat = malloc((size_t)fl * sizeof(float)), *featp = malloc((size_t)fl * sizeof(float));
    double *xd = malloc((size_t)xl * sizeof(double)),
           *embd = malloc((size_t)(n * d) * sizeof(double));
    double *ded = malloc((size_t)(n * d) * sizeof(double)),
           *dxd = calloc((size_t)xl, sizeof(double));
    double *featd = malloc((size_t)fl * sizeof(double)), *gd = calloc((size_t)np, sizeof(double));
    for (int64_t i = 0; i < xl; i++) xd[i] = x[i] = mx_rng_uniformf(rng) * 2 - 1;
    for (int64_t i = 0; i < n * d; i++) ded[i] = de[i] = mx_rng_uniformf(rng) * 2 - 1;
    float *stats0 = malloc((size_t)mx_model_n_stats(m) * sizeof(float));
    memcpy(stats0, mx_model_stats(m), (size_t)mx_model_n_stats(m) * sizeof(float));
    CHECK_OK(mx_nn_ref_run(m, NULL, xd, n, h, h, featd, embd, ded, gd, dxd));
    /* split forward: input -> block1 (feature map out), block1 -> embedding */
    mx_model_zero_grad(m);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, 1, x, n, feat));
    CHECK_OK(mx_model_forward(m, 0, 1, MX_STAGE_EMBED, feat, n, emb));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, de, dx));
    mx_nn_to_nchw(m, 1, n, feat, featp);
    int64_t tl = fl > np ? fl : np;
    tl = tl > xl ? tl : xl;
    float *tmp = malloc((size_t)tl * sizeof(float));
    char what[64];
    for (int64_t i = 0; i < fl; i++) tmp[i] = (float)featd[i];
    snprintf(what, sizeof what, "net%d/bn%d/%s feature", kind, bn_train, mx_conv_algo_name(algo));
    mx_test_compare(what, featp, tmp, (size_t)fl, 1e-4, 1e-4);
    for (int64_t i = 0; i < n * d; i++) tmp[i] = (float)embd[i];
    snprintf(what, sizeof what, "net%d/bn%d/%s embedding", kind, bn_train, mx_conv_algo_name(algo));
    mx_test_compare(what, emb, tmp, (size_t)(n * d), 1e-5, 1e-4);
    for (int i = 0; i < mx_model_param_count(m); i++) {
        const mx_param_info *p = mx_model_param_at(m, i);
        for (int64_t j = 0; j < p->numel; j++) tmp[j] = (float)gd[p->offset + j];
        snprintf(what, sizeof what, "net%d/bn%d/%s grad %s", kind, bn_train,
                 mx_conv_algo_name(algo), p->name);
        mx_test_compare(what, mx_model_grads(m) + p->offset, tmp, (size_t)p->numel, 1e-4, 1e-3);
    }
    for (int64_t i = 0; i < xl; i++) tmp[i] = (float)dxd[i];
    snprintf(what, sizeof what, "net%d/bn%d/%s dx", kind, bn_train, mx_conv_algo_name(algo));
    mx_test_compare(what, dx, tmp, (size_t)xl, 1e-5, 1e-3);
    /* running statistics: torch's momentum update with the unbiased batch variance */
    if (bn_train)
        for (int i = 0; i < mx_model_stat_count(m); i++) {
            const mx_stat_info *s = mx_model_stat_at(m, i);
            CHECK(fabsf(mx_model_stats(m)[s->offset] - stats0[s->offset]) > 1e-6f);
        }
    else
        CHECK(!memcmp(stats0, mx_model_stats(m), (size_t)mx_model_n_stats(m) * sizeof(float)));
    /* accumulation: a second identical backward doubles the gradients */
    if (kind == 4) {
        float g0 = mx_model_grads(m)[0];
        CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, emb));
        CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, de, NULL));
        if (!bn_train) CHECK_CLOSE(mx_model_grads(m)[0], 2 * g0, 1e-5, 1e-4);
    }
    free(x), free(emb), free(de), free(dx), free(feat), free(featp), free(xd), free(embd);
    free(ded), free(dxd), free(featd), free(gd), free(tmp), free(stats0);
    mx_model_free(m);
}

int main(void) {
    mx_rng rng;
    mx_rng_seed(&rng, 7);
    test_ref_fd(&rng);
    for (int kind = 0; kind <= 6; kind++)
        for (int bn = 0; bn <= 1; bn++)
            compare_net(&rng, kind, bn, kind == 5 ? 20 : 9, MX_CONV_WINOGRAD);
    for (int bn = 0; bn <= 1; bn++) compare_net(&rng, 6, bn, 12, MX_CONV_DIRECT);
    return mx_test_finish("test_nn_layers");
}
