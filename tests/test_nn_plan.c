/* nn plans: the inference plan's memory (ResNet-50, batch 100, 224 x 224 under 2 GB, planned and
 * estimated without allocating) and its embeddings against the training plan's forward; slots
 * that start at a later stage (feature mixup's slot 1) against full slots, forward and backward;
 * the estimate against what a plan really holds; a stage map and its gradient used in place
 * (mx_model_stage_map / _grad) against the copies forward's out and backward's din give. */
#include <stdlib.h>
#include <string.h>

#include "metrix/nn.h"
#include "mx_test.h"
#include "nn/nn_impl.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

static float *frand(mx_rng *r, int64_t len) {
    float *a = malloc((size_t)len * sizeof(float));
    for (int64_t i = 0; i < len; i++) a[i] = mx_rng_uniformf(r) * 2 - 1;
    return a;
}

static mx_model *make(mx_backbone bb, mx_rng *rng) {
    mx_model_config cfg = mx_model_config_default(bb);
    if (bb == MX_BACKBONE_SMALLCNN) cfg.embed_dim = 16;
    mx_model *m = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &m));
    if (!m) return NULL;
    /* non-trivial running statistics, so that frozen BN is no identity */
    float *st = mx_model_stats(m);
    for (int i = 0; i < mx_model_stat_count(m); i++) {
        const mx_stat_info *si = mx_model_stat_at(m, i);
        int var = strstr(si->name, "running_var") != NULL;
        for (int64_t j = 0; j < si->numel; j++)
            st[si->offset + j] = var ? 0.5f + mx_rng_uniformf(rng) : 0.2f * mx_rng_uniformf(rng);
    }
    return m;
}

/* ResNet-50 at batch 100, 224 x 224: the inference plan needs under 2 GB, the training plan
 * (all activations and gradient buffers) several times that. */
static void test_resnet50_memory(mx_rng *rng) {
    mx_model *m = make(MX_BACKBONE_RESNET50, rng);
    if (!m) return;
    mx_plan_config pc = mx_plan_config_default(1, 100, 224, 224);
    int64_t train_b = 0, infer_b = 0;
    CHECK_OK(mx_model_plan_estimate(m, &pc, &train_b));
    pc.inference = 1;
    CHECK_OK(mx_model_plan_estimate(m, &pc, &infer_b));
    printf("resnet50 b100 224: training plan %.2f GiB, inference plan %.2f GiB (estimates)\n",
           train_b / GIB, infer_b / GIB);
    CHECK(infer_b > 0 && infer_b < 2.0 * GIB);
    CHECK(train_b > 4 * infer_b);
    /* the inference plan itself: its buffers are the estimate, oneDNN's weights on top */
    CHECK_OK(mx_model_plan_ex(m, &pc));
    int64_t held = mx_model_plan_bytes(m);
    printf("resnet50 b100 224: inference plan holds %.2f GiB\n", held / GIB);
    CHECK(held >= infer_b && held < 2.0 * GIB);
    /* the estimate leaves a plan alone */
    int64_t again = 0;
    pc.max_batch[0] = 7;
    CHECK_OK(mx_model_plan_estimate(m, &pc, &again));
    CHECK(mx_model_plan_bytes(m) == held);
    CHECK(again < infer_b);
    float dummy = 0;
    CHECK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, &dummy, NULL) == MX_ERR_ARG);
    mx_model_free(m);
}

/* Embeddings of the inference plan = the training plan's frozen-BN forward (and its inference
 * mode), at two batch sizes; the stage split of the inference plan gives the same. */
static void test_equivalence(mx_backbone bb, int hw, mx_rng *rng) {
    const int64_t N = 3;
    mx_model *a = make(bb, rng), *b = NULL;
    if (!a) return;
    mx_model_config cfg = mx_model_config_default(bb);
    if (bb == MX_BACKBONE_SMALLCNN) cfg.embed_dim = 16;
    mx_rng r2 = *rng;
    CHECK_OK(mx_model_create(&cfg, &r2, &b));
    if (!b) return;
    memcpy(mx_model_params(b), mx_model_params(a), (size_t)mx_model_n_params(a) * sizeof(float));
    memcpy(mx_model_stats(b), mx_model_stats(a), (size_t)mx_model_n_stats(a) * sizeof(float));
    int c = cfg.in_channels, d = mx_model_embed_dim(a);
    mx_plan_config pc = mx_plan_config_default(1, N, hw, hw);
    CHECK_OK(mx_model_plan_ex(a, &pc));
    pc.inference = 1;
    CHECK_OK(mx_model_plan_ex(b, &pc));
    mx_model_set_train(a, 0);
    float *x = frand(rng, N * c * hw * hw);
    float *ea = malloc((size_t)(N * d) * sizeof(float)),
          *eb = malloc((size_t)(N * d) * sizeof(float));
    float *ei = malloc((size_t)(N * d) * sizeof(float));
    char what[96];
    for (int64_t n = N; n >= 2; n--) {
        CHECK_OK(mx_model_forward(a, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, ea));
        CHECK_OK(mx_model_forward(b, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, eb));
        snprintf(what, sizeof what, "%s n=%lld: inference plan vs training plan",
                 mx_backbone_name(bb), (long long)n);
        mx_test_compare(what, eb, ea, (size_t)(n * d), 1e-5, 0);
        mx_model_set_inference(a, 1);
        CHECK_OK(mx_model_forward(a, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, ei));
        mx_model_set_inference(a, 0);
        snprintf(what, sizeof what, "%s n=%lld: training plan in inference mode",
                 mx_backbone_name(bb), (long long)n);
        mx_test_compare(what, ei, ea, (size_t)(n * d), 1e-5, 0);
    }
    /* stage split on the inference plan: the kept map is the next forward's input */
    int s = mx_model_n_stages(b) - 1;
    CHECK_OK(mx_model_forward(b, 0, MX_STAGE_INPUT, s, x, N, NULL));
    CHECK_OK(mx_model_forward(b, 0, s, MX_STAGE_EMBED, NULL, N, eb));
    CHECK_OK(mx_model_forward(a, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, N, ea));
    snprintf(what, sizeof what, "%s: inference plan split at stage %d", mx_backbone_name(bb), s);
    mx_test_compare(what, eb, ea, (size_t)(N * d), 1e-5, 0);
    /* buffers only: at this tiny batch oneDNN's weight layouts dominate what the plans hold */
    int64_t pa = 0, pb = 0;
    CHECK_OK(mx_model_plan_estimate(b, &pc, &pb));
    pc.inference = 0;
    CHECK_OK(mx_model_plan_estimate(b, &pc, &pa));
    printf("%s %dx%d b%lld: buffers of the training plan %lld bytes, inference plan %lld bytes\n",
           mx_backbone_name(bb), hw, hw, (long long)N, (long long)pa, (long long)pb);
    CHECK(pb < pa && pb <= mx_model_plan_bytes(b));
    free(x);
    free(ea);
    free(eb);
    free(ei);
    mx_model_free(a);
    mx_model_free(b);
}

/* A training slot planned from stage s (feature mixup's slot 1) computes what a full slot does
 * from s on, forward and backward (embeddings, d/d(map at s), parameter gradients), holds less,
 * and refuses calls from an earlier stage. */
static void test_from_stage(mx_backbone bb, int hw, int s, mx_rng *rng) {
    const int64_t N = 2;
    mx_model *m = make(bb, rng);
    if (!m) return;
    mx_model_set_train(m, 0);
    int d = mx_model_embed_dim(m);
    mx_plan_config full = mx_plan_config_default(2, N, hw, hw), part = full;
    part.from_stage[1] = s;
    int64_t bf = 0, bp = 0;
    CHECK_OK(mx_model_plan_estimate(m, &full, &bf));
    CHECK_OK(mx_model_plan_estimate(m, &part, &bp));
    CHECK(bp < bf);
    int64_t fs = 0, np = mx_model_n_params(m);
    float *f = NULL, *e[2], *df[2], *g[2], *r = frand(rng, N * d);
    for (int k = 0; k < 2; k++) {
        CHECK_OK(mx_model_plan_ex(m, k ? &part : &full));
        if (!k) {
            fs = mx_model_stage_size(m, s);
            f = frand(rng, N * fs);
        }
        e[k] = malloc((size_t)(N * d) * sizeof(float));
        df[k] = calloc((size_t)(N * fs), sizeof(float));
        g[k] = malloc((size_t)np * sizeof(float));
        mx_model_zero_grad(m);
        CHECK_OK(mx_model_forward(m, 1, s, MX_STAGE_EMBED, f, N, e[k]));
        CHECK_OK(mx_model_backward(m, 1, s, MX_STAGE_EMBED, r, df[k]));
        memcpy(g[k], mx_model_grads(m), (size_t)np * sizeof(float));
    }
    char what[96];
    snprintf(what, sizeof what, "%s slot from stage %d: embeddings", mx_backbone_name(bb), s);
    mx_test_compare(what, e[1], e[0], (size_t)(N * d), 1e-6, 0);
    snprintf(what, sizeof what, "%s slot from stage %d: map gradient", mx_backbone_name(bb), s);
    mx_test_compare(what, df[1], df[0], (size_t)(N * fs), 1e-6, 1e-5);
    snprintf(what, sizeof what, "%s slot from stage %d: parameter gradients", mx_backbone_name(bb),
             s);
    mx_test_compare(what, g[1], g[0], (size_t)np, 1e-6, 1e-5);
    CHECK(mx_model_forward(m, 1, MX_STAGE_INPUT, MX_STAGE_EMBED, f, N, e[1]) == MX_ERR_ARG);
    /* bad configurations */
    part.from_stage[1] = mx_model_n_stages(m) + 1;
    CHECK(mx_model_plan_estimate(m, &part, &bp) == MX_ERR_ARG);
    part.from_stage[1] = 0;
    part.max_batch[0] = 0;
    CHECK(mx_model_plan_ex(m, &part) == MX_ERR_ARG);
    for (int k = 0; k < 2; k++) free(e[k]), free(df[k]), free(g[k]);
    free(f);
    free(r);
    mx_model_free(m);
}

/* A slot's own stage map and gradient, used in place (the trainer's feature level on one rank),
 * against copies: forward to s with out, on from s with in; backward to s with din, an extra
 * gradient added to it, and on into the trunk from it. */
static void test_in_place(mx_backbone bb, int hw, int s, mx_rng *rng) {
    const int64_t N = 2;
    mx_model *m = make(bb, rng);
    if (!m) return;
    mx_model_set_train(m, 0);
    mx_plan_config pc = mx_plan_config_default(1, N, hw, hw);
    CHECK_OK(mx_model_plan_ex(m, &pc));
    int d = mx_model_embed_dim(m);
    int64_t fs = mx_model_stage_size(m, s), np = mx_model_n_params(m);
    int c = mx_model_config_default(bb).in_channels;
    float *x = frand(rng, N * c * hw * hw), *r = frand(rng, N * d), *extra = frand(rng, N * fs);
    float *f = malloc((size_t)(N * fs) * sizeof(float)), *df = calloc((size_t)(N * fs), 4);
    float *df0 = malloc((size_t)(N * fs) * sizeof(float));
    float *e[2] = {NULL, NULL}, *g[2] = {NULL, NULL};
    for (int k = 0; k < 2; k++) {
        e[k] = malloc((size_t)(N * d) * sizeof(float));
        g[k] = malloc((size_t)np * sizeof(float));
        mx_model_zero_grad(m);
        CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, s, x, N, k ? NULL : f));
        const float *map = k ? mx_model_stage_map(m, 0, s) : f;
        CHECK(map != NULL);
        if (!map) break;
        if (k) mx_test_compare("stage map in place", map, f, (size_t)(N * fs), 0, 0);
        CHECK_OK(mx_model_forward(m, 0, s, MX_STAGE_EMBED, k ? NULL : f, N, e[k]));
        float *dmap = k ? mx_model_stage_grad(m, 0, s) : df;
        CHECK(dmap != NULL);
        if (!dmap) break;
        CHECK_OK(mx_model_backward(m, 0, s, MX_STAGE_EMBED, r, dmap));
        if (k) mx_test_compare("stage gradient in place", dmap, df0, (size_t)(N * fs), 0, 0);
        if (!k) memcpy(df0, df, (size_t)(N * fs) * sizeof(float));
        for (int64_t i = 0; i < N * fs; i++) dmap[i] += extra[i];
        CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, s, dmap, NULL));
        memcpy(g[k], mx_model_grads(m), (size_t)np * sizeof(float));
    }
    mx_test_compare("in place: embeddings", e[1], e[0], (size_t)(N * d), 0, 0);
    mx_test_compare("in place: parameter gradients", g[1], g[0], (size_t)np, 1e-6, 1e-5);
    /* no such stage; inference plans share their buffers: no in-place access */
    CHECK(mx_model_stage_map(m, 0, 0) == NULL && mx_model_stage_grad(m, 0, 0) == NULL);
    CHECK(mx_model_stage_map(m, 1, s) == NULL);
    CHECK(mx_model_stage_map(m, 0, mx_model_n_stages(m) + 1) == NULL);
    pc.inference = 1;
    CHECK_OK(mx_model_plan_ex(m, &pc));
    CHECK(mx_model_stage_map(m, 0, s) == NULL && mx_model_stage_grad(m, 0, s) == NULL);
    for (int k = 0; k < 2; k++) free(e[k]), free(g[k]);
    free(x), free(r), free(extra), free(f), free(df), free(df0);
    mx_model_free(m);
}

int main(void) {
    mx_rng rng;
    mx_rng_seed(&rng, 1234);
    test_resnet50_memory(&rng);
    test_equivalence(MX_BACKBONE_SMALLCNN, 12, &rng);
    test_equivalence(MX_BACKBONE_RESNET18, 64, &rng);
    test_equivalence(MX_BACKBONE_RESNET50, 64, &rng);
    test_from_stage(MX_BACKBONE_SMALLCNN, 12, 2, &rng);
    test_from_stage(MX_BACKBONE_RESNET18, 64, 3, &rng);
    test_from_stage(MX_BACKBONE_RESNET18, 64, 5, &rng); /* the head alone (layer4 mixing) */
    test_in_place(MX_BACKBONE_SMALLCNN, 12, 3, &rng);
    test_in_place(MX_BACKBONE_RESNET18, 64, 3, &rng);
    return mx_test_finish("test_nn_plan");
}
