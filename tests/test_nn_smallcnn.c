/* nn smallcnn end to end: finite differences of the whole reference network (double), the oneDNN
 * model against it (train and frozen BN), 1 vs 2 threads, the stage split with two slots as
 * feature mixup uses it, the frozen trunk, and safetensors save / load. */
#include <stdlib.h>
#include <string.h>

#include "metrix/io.h"
#include "metrix/nn.h"
#include "mx_test.h"
#include "nn/nn_impl.h"

#define N 4
#define H 12

static float *frand(mx_rng *r, int64_t len) {
    float *a = malloc((size_t)len * sizeof(float));
    for (int64_t i = 0; i < len; i++) a[i] = mx_rng_uniformf(r) * 2 - 1;
    return a;
}

static mx_model *make(mx_rng *rng, int slots) {
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_SMALLCNN);
    cfg.embed_dim = 16;
    mx_model *m = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &m));
    if (m) CHECK_OK(mx_model_plan(m, slots, N, H, H));
    return m;
}

/* Sum of emb * r under the reference network with params pd. */
static double ref_loss(const mx_model *m, const double *pd, const double *x, const double *r) {
    int d = mx_model_embed_dim(m);
    double e[N * 64], s = 0;
    mx_nn_ref_run(m, pd, x, N, H, H, NULL, e, NULL, NULL, NULL);
    for (int i = 0; i < N * d; i++) s += e[i] * r[i];
    return s;
}

static void test_fd_and_match(mx_rng *rng, int bn_train) {
    mx_model *m = make(rng, 1);
    if (!m) return;
    mx_model_set_train(m, bn_train);
    int d = mx_model_embed_dim(m);
    int64_t np = mx_model_n_params(m), xl = N * H * H;
    float *x = frand(rng, xl), *r = frand(rng, N * d),
          *emb = malloc((size_t)(N * d) * sizeof(float));
    float *dx = calloc((size_t)xl, sizeof(float));
    double *xd = malloc((size_t)xl * sizeof(double)),
           *rd = malloc((size_t)(N * d) * sizeof(double));
    double *pd = malloc((size_t)np * sizeof(double)), *gd = calloc((size_t)np, sizeof(double));
    double *dxd = calloc((size_t)xl, sizeof(double)),
           *ed = malloc((size_t)(N * d) * sizeof(double));
    for (int64_t i = 0; i < xl; i++) xd[i] = x[i];
    for (int64_t i = 0; i < N * d; i++) rd[i] = r[i];
    for (int64_t i = 0; i < np; i++) pd[i] = mx_model_params(m)[i];
    CHECK_OK(mx_nn_ref_run(m, pd, xd, N, H, H, NULL, ed, rd, gd, dxd));
    /* finite differences on the reference: 60 random parameters + 20 input pixels */
    double worst = 0;
    for (int t = 0; t < 80; t++) {
        int is_x = t >= 60;
        int64_t k = (int64_t)mx_rng_below(rng, (uint64_t)(is_x ? xl : np));
        double *a = is_x ? xd : pd, keep = a[k], h = 1e-5;
        a[k] = keep + h;
        double lp = ref_loss(m, pd, xd, rd);
        a[k] = keep - h;
        double lm = ref_loss(m, pd, xd, rd);
        a[k] = keep;
        double num = (lp - lm) / (2 * h), an = is_x ? dxd[k] : gd[k];
        CHECK_CLOSE(an, num, 1e-6, 1e-4);
        if (fabs(an - num) > worst) worst = fabs(an - num);
    }
    printf("smallcnn bn_train=%d: FD of the reference network, worst abs err %.2e\n", bn_train,
           worst);
    /* oneDNN model vs reference */
    mx_model_zero_grad(m);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, emb));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, r, dx));
    float *tmp = malloc((size_t)(np > xl ? np : xl) * sizeof(float));
    for (int64_t i = 0; i < N * d; i++) tmp[i] = (float)ed[i];
    mx_test_compare("smallcnn embedding", emb, tmp, (size_t)(N * d), 1e-5, 1e-4);
    for (int64_t i = 0; i < np; i++) tmp[i] = (float)gd[i];
    for (int i = 0; i < mx_model_param_count(m); i++) {
        const mx_param_info *p = mx_model_param_at(m, i);
        mx_test_compare(p->name, mx_model_grads(m) + p->offset, tmp + p->offset, (size_t)p->numel,
                        2e-4, 2e-3);
    }
    for (int64_t i = 0; i < xl; i++) tmp[i] = (float)dxd[i];
    mx_test_compare("smallcnn dx", dx, tmp, (size_t)xl, 1e-5, 2e-3);
    free(x), free(r), free(emb), free(dx), free(xd), free(rd), free(pd), free(gd), free(dxd);
    free(ed), free(tmp);
    mx_model_free(m);
}

/* Same seed, 1 and 2 threads: embeddings and gradients agree within float rounding. */
static void test_threads(void) {
    float *res[2] = {0};
    int64_t np = 0;
    int d = 0;
    for (int t = 0; t < 2; t++) {
        mx_threads_set(t + 1);
        mx_rng rng;
        mx_rng_seed(&rng, 99);
        mx_model *m = make(&rng, 1);
        if (!m) return;
        d = mx_model_embed_dim(m);
        np = mx_model_n_params(m);
        float *x = frand(&rng, N * H * H), *r = frand(&rng, N * d);
        res[t] = malloc((size_t)(np + N * d) * sizeof(float));
        CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, res[t] + np));
        CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, r, NULL));
        memcpy(res[t], mx_model_grads(m), (size_t)np * sizeof(float));
        free(x), free(r);
        mx_model_free(m);
    }
    mx_threads_set(2);
    mx_test_compare("threads: embeddings", res[1] + np, res[0] + np, (size_t)(N * d), 1e-6, 1e-5);
    mx_test_compare("threads: gradients", res[1], res[0], (size_t)np, 1e-5, 1e-4);
    free(res[0]), free(res[1]);
}

/* Stage split with two slots. Slot 1 runs block3 -> embedding on "mixed" features
 * f_mix = 0.5 f0[i] + 0.5 f0[j]; the gradient path through the mixer and both slots must equal
 * the reference of the composed function, checked here against the equivalent linear-algebra
 * identity: with f_mix built from f0 only, d loss / d params equals the sum of the two paths. We
 * test the simplest exact case: mixing an example with itself (f_mix = f0), so slot 1 reproduces
 * slot 0 and all gradients double. */
static void test_stage_split(mx_rng *rng) {
    mx_model *m = make(rng, 2);
    if (!m) return;
    mx_model_set_train(m, 0); /* frozen BN, as Metrix trains */
    int d = mx_model_embed_dim(m), s = mx_model_stage_index(m, "block2");
    CHECK(s == 2);
    CHECK(mx_model_stage_index(m, "block9") == -1);
    int64_t fs = mx_model_stage_size(m, s), np = mx_model_n_params(m);
    CHECK(fs == 64 * 3 * 3);
    float *x = frand(rng, N * H * H), *r = frand(rng, N * d);
    float *f0 = malloc((size_t)(N * fs) * sizeof(float)),
          *df0 = calloc((size_t)(N * fs), sizeof(float));
    float *dfm = calloc((size_t)(N * fs), sizeof(float));
    float *e0 = malloc((size_t)(N * d) * sizeof(float)),
          *e1 = malloc((size_t)(N * d) * sizeof(float));
    float *eref = malloc((size_t)(N * d) * sizeof(float)), *g1 = malloc((size_t)np * sizeof(float));
    /* one plain pass for reference gradients */
    mx_model_zero_grad(m);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, eref));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, r, NULL));
    memcpy(g1, mx_model_grads(m), (size_t)np * sizeof(float));
    /* split: slot0 input->block2, slot0 block2->emb, slot1 block2->emb on a copy */
    mx_model_zero_grad(m);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, s, x, N, f0));
    CHECK_OK(mx_model_forward(m, 0, s, MX_STAGE_EMBED, f0, N, e0));
    CHECK_OK(mx_model_forward(m, 1, s, MX_STAGE_EMBED, f0, N, e1));
    mx_test_compare("split: slot0 embedding", e0, eref, (size_t)(N * d), 1e-6, 1e-5);
    mx_test_compare("split: slot1 embedding", e1, eref, (size_t)(N * d), 1e-6, 1e-5);
    CHECK_OK(mx_model_backward(m, 1, s, MX_STAGE_EMBED, r, dfm));
    for (int64_t i = 0; i < N * fs; i++) df0[i] = dfm[i]; /* the identity "mixer" */
    CHECK_OK(mx_model_backward(m, 0, s, MX_STAGE_EMBED, r, df0));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, s, df0, NULL));
    for (int64_t i = 0; i < np; i++) g1[i] *= 2;
    mx_test_compare("split: doubled gradients", mx_model_grads(m), g1, (size_t)np, 1e-5, 1e-4);
    /* slot 1 with another batch size (k = 2 mixed examples): same embeddings for those rows */
    CHECK_OK(mx_model_forward(m, 1, s, MX_STAGE_EMBED, f0 + fs, 2, e1));
    mx_test_compare("split: slot1 k=2", e1, eref + d, (size_t)(2 * d), 1e-6, 1e-5);
    CHECK_OK(mx_model_backward(m, 1, s, MX_STAGE_EMBED, r, NULL));
    /* frozen BN affine: no gradient for BN weight / bias, conv weights still get theirs */
    mx_model_zero_grad(m);
    mx_model_set_bn_affine_frozen(m, 1);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, e0));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, r, NULL));
    for (int i = 0; i < mx_model_param_count(m); i++) {
        const mx_param_info *p = mx_model_param_at(m, i);
        double a = 0;
        for (int64_t j = 0; j < p->numel; j++) a += fabs(mx_model_grads(m)[p->offset + j]);
        int bn = p->kind == MX_PARAM_BN_WEIGHT || p->kind == MX_PARAM_BN_BIAS;
        CHECK(bn ? a == 0 : a > 0);
    }
    mx_model_set_bn_affine_frozen(m, 0);
    /* frozen trunk: only head gradients */
    mx_model_zero_grad(m);
    mx_model_set_trunk_frozen(m, 1);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, e0));
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, r, NULL));
    int64_t to, tc, ho, hc;
    mx_model_trunk_range(m, &to, &tc);
    mx_model_head_range(m, &ho, &hc);
    CHECK(to == 0 && ho == tc && ho + hc == np);
    double tsum = 0, hsum = 0;
    for (int64_t i = 0; i < tc; i++) tsum += fabs(mx_model_grads(m)[i]);
    for (int64_t i = ho; i < np; i++) hsum += fabs(mx_model_grads(m)[i]);
    CHECK(tsum == 0 && hsum > 0);
    mx_model_set_trunk_frozen(m, 0);
    /* errors */
    CHECK(mx_model_forward(m, 2, 0, MX_STAGE_EMBED, x, N, e0) == MX_ERR_ARG);
    CHECK(mx_model_forward(m, 0, 0, MX_STAGE_EMBED, x, N + 1, e0) == MX_ERR_ARG);
    CHECK(mx_model_forward(m, 0, 2, 1, x, N, e0) == MX_ERR_ARG);
    free(x), free(r), free(f0), free(df0), free(dfm), free(e0), free(e1), free(eref), free(g1);
    mx_model_free(m);
}

static void test_save_load(mx_rng *rng) {
    mx_model *a = make(rng, 1), *b = make(rng, 1);
    if (!a || !b) return;
    const char *path = MX_BINARY_DIR "/test_nn_smallcnn.safetensors";
    for (int64_t i = 0; i < mx_model_n_stats(a); i++)
        mx_model_stats(a)[i] = 0.5f + 0.001f * (float)i;
    CHECK_OK(mx_model_save(a, path));
    CHECK_OK(mx_model_load(b, path, 1));
    CHECK(!memcmp(mx_model_params(a), mx_model_params(b), (size_t)mx_model_n_params(a) * 4));
    CHECK(!memcmp(mx_model_stats(a), mx_model_stats(b), (size_t)mx_model_n_stats(a) * 4));
    CHECK(!strcmp(mx_model_param_at(a, 0)->name, "conv1.weight"));
    /* a model of another width refuses the file, naming the tensor */
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_SMALLCNN);
    cfg.embed_dim = 8;
    mx_model *c = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &c));
    mx_status s = mx_model_load(c, path, 1);
    CHECK(s != MX_OK && strstr(mx_errmsg(), "embedding.weight"));
    cfg.backbone = MX_BACKBONE_RESNET18;
    cfg.in_channels = 3;
    mx_model *r18 = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &r18));
    s = mx_model_load(r18, path, 1);
    CHECK(s != MX_OK && strstr(mx_errmsg(), "conv1.weight"));
    CHECK(mx_model_param_count(r18) == 60 + 2); /* torchvision's 62 minus fc, plus embedding */
    /* strict_head = 0: a trunk-only file (as converted ImageNet weights) keeps the head's init;
     * strict_head = 1 refuses it, naming embedding.weight */
    mx_model *t = make(rng, 1);
    if (t) {
        mx_tensor_view v[64];
        int nv = 0;
        for (int i = 0; i < mx_model_param_count(a) + mx_model_stat_count(a) && nv < 64; i++) {
            int is_p = i < mx_model_param_count(a);
            const mx_param_info *p = is_p ? mx_model_param_at(a, i) : NULL;
            const mx_stat_info *q = is_p ? NULL : mx_model_stat_at(a, i - mx_model_param_count(a));
            if (p && p->head) continue;
            memset(&v[nv], 0, sizeof v[nv]);
            v[nv].name = p ? p->name : q->name;
            v[nv].dtype = MX_DTYPE_F32;
            v[nv].ndim = p ? p->ndim : 1;
            for (int k = 0; k < v[nv].ndim; k++) v[nv].shape[k] = p ? p->shape[k] : q->numel;
            v[nv].data = p ? mx_model_params(a) + p->offset : mx_model_stats(a) + q->offset;
            v[nv].nbytes = (size_t)(p ? p->numel : q->numel) * sizeof(float);
            nv++;
        }
        CHECK_OK(mx_st_write(path, v, (size_t)nv, NULL, 0));
        int64_t ho, hc;
        mx_model_head_range(t, &ho, &hc);
        float h0 = mx_model_params(t)[ho];
        CHECK(mx_model_load(t, path, 1) == MX_ERR_SHAPE && strstr(mx_errmsg(), "embedding.weight"));
        CHECK_OK(mx_model_load(t, path, 0));
        CHECK(mx_model_params(t)[ho] == h0);
        CHECK(!memcmp(mx_model_params(t), mx_model_params(a), (size_t)ho * sizeof(float)));
        mx_model_free(t);
    }
    mx_model_free(a), mx_model_free(b), mx_model_free(c), mx_model_free(r18);
    remove(path);
}

/* The cached conv weight layouts follow the parameters: a write through a pointer held since
 * before (as an optimizer does) plus mx_model_params_updated gives the same embeddings as a
 * model loaded with those parameters; without the call the cache is (documented as) stale. */
static void test_weight_cache(mx_rng *rng) {
    mx_model *a = make(rng, 1), *b = make(rng, 1);
    int64_t np = mx_model_n_params(a), n = 4, d = mx_model_embed_dim(a);
    float *pa = mx_model_params(a), *x = frand(rng, n * 28 * 28);
    float *ea = malloc((size_t)(n * d) * 4), *eb = malloc((size_t)(n * d) * 4);
    mx_model_set_train(a, 0);
    mx_model_set_train(b, 0);
    CHECK_OK(mx_model_forward(a, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, ea)); /* caches */
    for (int64_t i = 0; i < np; i++) pa[i] *= i % 3 ? 0.5f : -1.0f; /* "optimizer step" */
    mx_model_params_updated(a);
    memcpy(mx_model_params(b), pa, (size_t)np * 4);
    CHECK_OK(mx_model_forward(a, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, ea));
    CHECK_OK(mx_model_forward(b, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, eb));
    mx_test_compare("embeddings after params_updated", ea, eb, (size_t)(n * d), 1e-6, 1e-5);
    free(x), free(ea), free(eb);
    mx_model_free(a);
    mx_model_free(b);
}

int main(void) {
    mx_rng rng;
    mx_rng_seed(&rng, 2024);
    mx_threads_set(2);
    test_fd_and_match(&rng, 1);
    test_fd_and_match(&rng, 0);
    test_threads();
    test_stage_split(&rng);
    test_save_load(&rng);
    test_weight_cache(&rng);
    return mx_test_finish("test_nn_smallcnn");
}
