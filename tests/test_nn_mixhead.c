/* The fused mixed head (src/nn/mix_head.c):
 *   1. mx_nn_mixpool_fwd / _bwd against the naive reference (mx_ref_mixpool_*) on every layout
 *      (plain, nChw8c, nChw16c, nhwc, padded channels), lambda 0, 1, 1/2 and others, pairs
 *      sharing components, M >> n. Inputs are dyadic so float and double agree exactly in the
 *      mixing and the max (ties included), leaving only the float rounding of the means.
 *   2. mx_mix_head_* against PyTorch autograd (tests/fixtures/nn/mix_head_ref.txt from
 *      tests/ref/mix_head_ref.py): mixed embeddings, dW, db, d(clean maps).
 *   3. On smallcnn: the fused head against the unfused path (mix the maps, run the head on slot
 *      1, scatter its gradient) - embeddings, head gradients and the clean-map gradient. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/gemm.h"
#include "metrix/nn.h"
#include "mx_test.h"
#include "nn/nn_impl.h"

/* ---- 1. kernels vs the reference ------------------------------------------------------- */

static int64_t blk_at(int64_t i, int ch, int s, int cpad, int hw, int blk) {
    return i * (int64_t)cpad * hw + (int64_t)(ch / blk) * hw * blk + (int64_t)s * blk + ch % blk;
}

/* lambda_mode: 0 all 0, 1 all 1, 2 all 1/2, 3 per-pair multiples of 1/16 */
static void kernel_case(mx_rng *rng, int64_t n, int c, int cpad, int hw, int blk, int64_t m,
                        int lambda_mode) {
    int64_t xl = n * cpad * hw;
    float *x = calloc((size_t)xl, sizeof(float)), *dx = calloc((size_t)xl, sizeof(float));
    double *xd = calloc((size_t)(n * c * hw), sizeof(double));
    double *dxd = calloc((size_t)(n * c * hw), sizeof(double));
    float *gap = malloc(sizeof(float) * (size_t)(n * c)),
          *dgap = malloc(sizeof(float) * (size_t)(n * c));
    float *p = malloc(sizeof(float) * (size_t)(m * c)),
          *dp = malloc(sizeof(float) * (size_t)(m * c));
    double *pd = malloc(sizeof(double) * (size_t)(m * c)),
           *dpd = malloc(sizeof(double) * (size_t)(m * c));
    int32_t *am = malloc(sizeof(int32_t) * (size_t)(m * c));
    mx_mix_pair *pairs = malloc(sizeof(mx_mix_pair) * (size_t)m);
    float *want = malloc(sizeof(float) * (size_t)(xl > m * c ? xl : m * c));
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++) {
                /* multiples of 1/64 in [-4, 4): some ties within a channel */
                float v = (float)((int)mx_rng_below(rng, 512) - 256) / 64.0f;
                x[blk_at(i, ch, s, cpad, hw, blk)] = v;
                xd[(i * c + ch) * hw + s] = v;
            }
    for (int64_t k = 0; k < m; k++) {
        /* components shared: i cycles, j random (i == j allowed: a degenerate mix) */
        pairs[k].i = k % n;
        pairs[k].j = (int64_t)mx_rng_below(rng, (uint64_t)n);
        pairs[k].anchor = -1;
        pairs[k].lambda = lambda_mode == 0   ? 0.0f
                          : lambda_mode == 1 ? 1.0f
                          : lambda_mode == 2 ? 0.5f
                                             : (float)mx_rng_below(rng, 17) / 16.0f;
    }
    for (int64_t e = 0; e < m * c; e++) dpd[e] = dp[e] = mx_rng_uniformf(rng) * 2 - 1;
    mx_nn_gap_fwd(x, n, c, cpad, hw, blk, gap);
    mx_nn_mixpool_fwd(x, n, c, cpad, hw, blk, gap, pairs, m, p, am);
    mx_ref_mixpool_fwd(xd, n, c, hw, pairs, m, pd);
    for (int64_t e = 0; e < m * c; e++) want[e] = (float)pd[e];
    char what[96];
    snprintf(what, sizeof what, "mixpool fwd n%lld c%d/%d hw%d blk%d m%lld lam%d", (long long)n, c,
             cpad, hw, blk, (long long)m, lambda_mode);
    mx_test_compare(what, p, want, (size_t)(m * c), 1e-5, 1e-5);
    /* padding channels stay untouched (NaN sentinel would show up in a compare) */
    for (int64_t e = 0; e < xl; e++) dx[e] = 0.25f; /* ADDED to */
    mx_nn_mixpool_bwd(n, c, cpad, hw, blk, pairs, m, am, dp, dgap, dx);
    mx_ref_mixpool_bwd(xd, n, c, hw, pairs, m, dpd, dxd);
    float *got = malloc(sizeof(float) * (size_t)(n * c * hw));
    int pad_ok = 1;
    for (int64_t i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++) {
                got[(i * c + ch) * hw + s] = dx[blk_at(i, ch, s, cpad, hw, blk)];
                want[(i * c + ch) * hw + s] = (float)(0.25 + dxd[(i * c + ch) * hw + s]);
            }
        for (int ch = c; ch < cpad; ch++)
            for (int s = 0; s < hw; s++) pad_ok &= dx[blk_at(i, ch, s, cpad, hw, blk)] == 0.25f;
    }
    CHECK(pad_ok);
    snprintf(what, sizeof what, "mixpool bwd n%lld c%d/%d hw%d blk%d m%lld lam%d", (long long)n, c,
             cpad, hw, blk, (long long)m, lambda_mode);
    mx_test_compare(what, got, want, (size_t)(n * c * hw), 1e-4, 1e-5);
    /* the clean head's kernels on the same layout: GAP (mixed head), GAP + GMP and its backward
     * (written: padding channels 0) against the double oracle */
    double *cd = calloc((size_t)(n * c), sizeof(double)), *dcd = calloc((size_t)(n * c * hw), 8);
    float *cp = malloc(sizeof(float) * (size_t)(n * c));
    int32_t *cam = malloc(sizeof(int32_t) * (size_t)(n * c));
    mx_ref_gapgmp_fwd(xd, n, c, hw, cd);
    for (int64_t i = 0; i < n; i++)
        for (int ch = 0; ch < c; ch++) {
            double mean = 0;
            for (int s = 0; s < hw; s++) mean += xd[(i * c + ch) * hw + s] / hw;
            want[i * c + ch] = (float)mean;
        }
    snprintf(what, sizeof what, "gap fwd n%lld c%d/%d hw%d blk%d", (long long)n, c, cpad, hw, blk);
    mx_test_compare(what, gap, want, (size_t)(n * c), 1e-6, 1e-6);
    mx_nn_gapgmp_fwd(x, n, c, cpad, hw, blk, cp, cam);
    for (int64_t e = 0; e < n * c; e++) want[e] = (float)cd[e];
    snprintf(what, sizeof what, "gapgmp fwd n%lld c%d/%d hw%d blk%d", (long long)n, c, cpad, hw,
             blk);
    mx_test_compare(what, cp, want, (size_t)(n * c), 1e-6, 1e-6);
    for (int64_t e = 0; e < xl; e++) dx[e] = 0.25f; /* written over */
    float *cdp = malloc(sizeof(float) * (size_t)(n * c));
    double *cdpd = malloc(sizeof(double) * (size_t)(n * c));
    for (int64_t e = 0; e < n * c; e++) cdpd[e] = cdp[e] = mx_rng_uniformf(rng) * 2 - 1;
    mx_nn_gapgmp_bwd(n, c, cpad, hw, blk, cam, cdp, dx);
    mx_ref_gapgmp_bwd(xd, n, c, hw, cdpd, dcd);
    pad_ok = 1;
    for (int64_t i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++)
            for (int s = 0; s < hw; s++) {
                got[(i * c + ch) * hw + s] = dx[blk_at(i, ch, s, cpad, hw, blk)];
                want[(i * c + ch) * hw + s] = (float)dcd[(i * c + ch) * hw + s];
            }
        for (int ch = c; ch < cpad; ch++)
            for (int s = 0; s < hw; s++) pad_ok &= dx[blk_at(i, ch, s, cpad, hw, blk)] == 0.0f;
    }
    CHECK(pad_ok);
    snprintf(what, sizeof what, "gapgmp bwd n%lld c%d/%d hw%d blk%d", (long long)n, c, cpad, hw,
             blk);
    mx_test_compare(what, got, want, (size_t)(n * c * hw), 1e-6, 1e-6);
    free(cd), free(dcd), free(cp), free(cam), free(cdp), free(cdpd);
    free(got), free(x), free(dx), free(xd), free(dxd), free(gap), free(dgap), free(p), free(dp);
    free(pd), free(dpd), free(am), free(pairs), free(want);
}

static void test_kernels(mx_rng *rng) {
    for (int lm = 0; lm < 4; lm++) {
        kernel_case(rng, 6, 32, 32, 9, 16, 200, lm);  /* nChw16c, M >> n */
        kernel_case(rng, 6, 32, 32, 49, 8, 50, lm);   /* nChw8c */
        kernel_case(rng, 7, 32, 32, 49, 16, 203, lm); /* quads of pairs and a tail of 3 */
    }
    kernel_case(rng, 5, 32, 32, 7, 1, 40, 3);    /* plain NCHW */
    kernel_case(rng, 5, 40, 40, 7, 40, 40, 3);   /* nhwc (one block of all channels) */
    kernel_case(rng, 5, 24, 32, 12, 16, 300, 3); /* padded channels: 24 of 32 */
    kernel_case(rng, 3, 16, 16, 1, 16, 30, 3);   /* 1 x 1 maps: the max is the value */
    kernel_case(rng, 2, 48, 48, 16, 16, 1, 3);   /* a single pair */
}

/* ---- 2. against PyTorch autograd --------------------------------------------------------- */

static int read_vals(FILE *f, double *v, int64_t count) {
    for (int64_t i = 0; i < count; i++)
        if (fscanf(f, "%lf", &v[i]) != 1) return 0;
    return 1;
}

static void test_torch(mx_rng *rng) {
    const char *path = MX_SOURCE_DIR "/tests/fixtures/nn/mix_head_ref.txt";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char line[512];
    for (int k = 0; k < 2; k++) CHECK(fgets(line, sizeof line, f) && line[0] == '#');
    int n, c, h, w, d, m;
    CHECK(fscanf(f, "%d %d %d %d %d %d", &n, &c, &h, &w, &d, &m) == 6);
    int64_t fl = (int64_t)n * c * h * w;
    double *feat = malloc(sizeof(double) * (size_t)fl),
           *wt = malloc(sizeof(double) * (size_t)(d * c));
    double *b = malloc(sizeof(double) * (size_t)d), *R = malloc(sizeof(double) * (size_t)(m * d));
    double *emb = malloc(sizeof(double) * (size_t)(m * d)),
           *dw = malloc(sizeof(double) * (size_t)(d * c));
    double *db = malloc(sizeof(double) * (size_t)d), *dfeat = malloc(sizeof(double) * (size_t)fl);
    mx_mix_pair *pairs = calloc((size_t)m, sizeof *pairs);
    int ok = read_vals(f, feat, fl) && read_vals(f, wt, d * c) && read_vals(f, b, d);
    for (int k = 0; k < m && ok; k++) {
        long long i, j;
        float l;
        ok = fscanf(f, "%lld %lld %f", &i, &j, &l) == 3;
        pairs[k].i = i, pairs[k].j = j, pairs[k].lambda = l, pairs[k].anchor = -1;
    }
    ok = ok && read_vals(f, R, m * d) && read_vals(f, emb, m * d) && read_vals(f, dw, d * c) &&
         read_vals(f, db, d) && read_vals(f, dfeat, fl);
    fclose(f);
    CHECK(ok);
    /* a one-conv test network whose single stage has c = 16 channels at h x w (3x3 pad 1 conv) */
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_RESNET18);
    cfg.backbone = (mx_backbone)(MX_NN_TEST_NET + 0);
    cfg.in_channels = 3;
    cfg.embed_dim = d;
    mx_model *mod = NULL;
    mx_mix_head *head = NULL;
    CHECK_OK(mx_model_create(&cfg, rng, &mod));
    if (ok && mod) CHECK_OK(mx_model_plan(mod, 1, n, h, w));
    int sc = 0, sh = 0, sw = 0;
    if (mod) mx_model_stage_shape(mod, 1, &sc, &sh, &sw);
    CHECK(sc == c && sh == h && sw == w);
    if (ok && mod && sc == c && sh == h && sw == w) CHECK_OK(mx_mix_head_create(mod, n, m, &head));
    if (head) {
        int64_t woff, wcnt;
        mx_model_head_range(mod, &woff, &wcnt);
        CHECK(wcnt == (int64_t)d * c + d);
        float *prm = mx_model_params(mod);
        for (int64_t e = 0; e < (int64_t)d * c; e++) prm[woff + e] = (float)wt[e];
        for (int e = 0; e < d; e++) prm[woff + d * c + e] = (float)b[e];
        int64_t ss = mx_model_stage_size(mod, 1);
        float *fp = malloc(sizeof(float) * (size_t)fl),
              *fb = malloc(sizeof(float) * (size_t)(n * ss));
        float *dfb = calloc((size_t)(n * ss), sizeof(float)),
              *dfp = malloc(sizeof(float) * (size_t)fl);
        float *e = malloc(sizeof(float) * (size_t)(m * d)),
              *de = malloc(sizeof(float) * (size_t)(m * d));
        float *want = malloc(sizeof(float) * (size_t)(fl > m * d + d * c ? fl : m * d + d * c));
        for (int64_t k = 0; k < fl; k++) fp[k] = (float)feat[k];
        mx_nn_from_nchw(mod, 1, n, fp, fb);
        for (int64_t k = 0; k < m * d; k++) de[k] = (float)R[k];
        CHECK_OK(mx_mix_head_forward(head, mod, fb, n, pairs, m, e));
        for (int64_t k = 0; k < m * d; k++) want[k] = (float)emb[k];
        mx_test_compare("torch: mixed embeddings", e, want, (size_t)(m * d), 1e-5, 1e-5);
        mx_model_zero_grad(mod);
        CHECK_OK(mx_mix_head_backward(head, mod, pairs, de, dfb));
        const float *g = mx_model_grads(mod);
        for (int64_t k = 0; k < (int64_t)d * c; k++) want[k] = (float)dw[k];
        mx_test_compare("torch: dW", g + woff, want, (size_t)(d * c), 1e-4, 1e-4);
        for (int k = 0; k < d; k++) want[k] = (float)db[k];
        mx_test_compare("torch: db", g + woff + d * c, want, (size_t)d, 1e-4, 1e-4);
        mx_nn_to_nchw(mod, 1, n, dfb, dfp);
        for (int64_t k = 0; k < fl; k++) want[k] = (float)dfeat[k];
        mx_test_compare("torch: d clean maps", dfp, want, (size_t)fl, 1e-4, 1e-4);
        free(fp), free(fb), free(dfb), free(dfp), free(e), free(de), free(want);
    }
    mx_mix_head_free(head);
    mx_model_free(mod);
    free(feat), free(wt), free(b), free(R), free(emb), free(dw), free(db), free(dfeat), free(pairs);
}

/* ---- 3. fused vs unfused on smallcnn --------------------------------------------------- */

static void test_vs_unfused(mx_rng *rng) {
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_SMALLCNN);
    mx_model *mod = NULL;
    mx_mix_head *head = NULL;
    const int64_t n = 12, m = 90; /* all pairs i != j of 10 examples, M >> n */
    CHECK_OK(mx_model_create(&cfg, rng, &mod));
    if (!mod) return;
    mx_model_set_train(mod, 0); /* frozen BN: slot 1 must not see other statistics */
    CHECK_OK(mx_model_plan(mod, 2, m, 28, 28));
    CHECK_OK(mx_mix_head_create(mod, n, m, &head));
    int S = mx_model_n_stages(mod), d = mx_model_embed_dim(mod);
    int64_t ss = mx_model_stage_size(mod, S), np = mx_model_n_params(mod);
    int64_t woff, wcnt;
    mx_model_head_range(mod, &woff, &wcnt);
    float *x = malloc(sizeof(float) * (size_t)(n * 28 * 28)),
          *feat = malloc(sizeof(float) * (size_t)(n * ss));
    float *mixed = malloc(sizeof(float) * (size_t)(m * ss)),
          *dmixed = calloc((size_t)(m * ss), sizeof(float));
    float *e0 = malloc(sizeof(float) * (size_t)(m * d)),
          *e1 = malloc(sizeof(float) * (size_t)(m * d));
    float *de = malloc(sizeof(float) * (size_t)(m * d));
    float *df0 = calloc((size_t)(n * ss), sizeof(float)),
          *df1 = calloc((size_t)(n * ss), sizeof(float));
    float *g0 = malloc(sizeof(float) * (size_t)np);
    mx_mix_pair *pairs = calloc((size_t)m, sizeof *pairs);
    for (int64_t k = 0; k < n * 28 * 28; k++) x[k] = mx_rng_uniformf(rng) * 2 - 1;
    int64_t k = 0;
    for (int64_t i = 0; i < 10; i++)
        for (int64_t j = 0; j < 10; j++)
            if (i != j) {
                pairs[k].i = i, pairs[k].j = j + (k % 3 == 0 ? 2 : 0), pairs[k].anchor = i;
                if (pairs[k].j == i) pairs[k].j = 11;
                pairs[k].lambda = k % 5 == 0 ? 0.5f : mx_rng_uniformf(rng);
                k++;
            }
    for (int64_t q = 0; q < m * d; q++) de[q] = mx_rng_uniformf(rng) * 2 - 1;
    CHECK_OK(mx_model_forward(mod, 0, MX_STAGE_INPUT, S, x, n, feat));
    /* unfused: mixed maps through the head on slot 1, gradient scattered */
    for (int64_t q = 0; q < m; q++) /* as mx_mix_rows_forward */
        for (int64_t e = 0; e < ss; e++)
            mixed[q * ss + e] = pairs[q].lambda * feat[pairs[q].i * ss + e] +
                                (1.0f - pairs[q].lambda) * feat[pairs[q].j * ss + e];
    CHECK_OK(mx_model_forward(mod, 1, S, MX_STAGE_EMBED, mixed, m, e0));
    mx_model_zero_grad(mod);
    CHECK_OK(mx_model_backward(mod, 1, S, MX_STAGE_EMBED, de, dmixed));
    for (int64_t q = 0; q < m; q++) /* as mx_mix_rows_backward */
        for (int64_t e = 0; e < ss; e++) {
            df0[pairs[q].i * ss + e] += pairs[q].lambda * dmixed[q * ss + e];
            df0[pairs[q].j * ss + e] += (1.0f - pairs[q].lambda) * dmixed[q * ss + e];
        }
    memcpy(g0, mx_model_grads(mod), sizeof(float) * (size_t)np);
    /* fused */
    CHECK_OK(mx_mix_head_forward(head, mod, feat, n, pairs, m, e1));
    mx_model_zero_grad(mod);
    CHECK_OK(mx_mix_head_backward(head, mod, pairs, de, df1));
    mx_test_compare("smallcnn: fused vs unfused embeddings", e1, e0, (size_t)(m * d), 1e-6, 1e-5);
    mx_test_compare("smallcnn: fused vs unfused head grads", mx_model_grads(mod) + woff, g0 + woff,
                    (size_t)wcnt, 1e-5, 1e-4);
    mx_test_compare("smallcnn: fused vs unfused d clean maps", df1, df0, (size_t)(n * ss), 1e-6,
                    1e-4);
    /* without a map gradient (frozen trunk): only the head gradients */
    mx_model_zero_grad(mod);
    CHECK_OK(mx_mix_head_backward(head, mod, pairs, de, NULL));
    mx_test_compare("smallcnn: head grads without dfeat", mx_model_grads(mod) + woff, g0 + woff,
                    (size_t)wcnt, 1e-5, 1e-4);
    /* errors: a pair outside the batch, too many pairs */
    pairs[3].j = n;
    CHECK(mx_mix_head_forward(head, mod, feat, n, pairs, m, e1) == MX_ERR_ARG);
    CHECK(mx_mix_head_forward(head, mod, feat, n, pairs, m + 1, e1) == MX_ERR_ARG);
    CHECK(mx_mix_head_bytes(head) > 0 && mx_mix_head_bytes(head) < m * ss * 4);
    mx_mix_head_free(head);
    mx_mix_head_free(NULL);
    mx_model_free(mod);
    free(x), free(feat), free(mixed), free(dmixed), free(e0), free(e1), free(de), free(df0);
    free(df1), free(g0), free(pairs);
}

int main(void) {
    mx_rng rng;
    mx_rng_seed(&rng, 14);
    test_kernels(&rng);
    test_torch(&rng);
    test_vs_unfused(&rng);
    return mx_test_finish("test_nn_mixhead");
}
