/* mix: lambda statistics, pair selection on hand-made label sets, row mixing forward/backward vs
 * the references (and thread-count independence), and the §9 vectors end to end through
 * mixer -> mix rows -> loss. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/core.h"
#include "metrix/loss.h"
#include "metrix/mix.h"
#include "mx_test.h"

static void test_lambda_stats(void) {
    mx_mix_config c = mx_mix_config_default();
    c.strategy = MX_MIX_POSPOS;
    c.lambda_per_pair = 1;
    mx_mixer *x;
    CHECK_OK(mx_mixer_create(&c, 64, &x));
    int64_t y[64];
    for (int i = 0; i < 64; i++) y[i] = i % 2; /* 32 per class: 31 pos-pos per anchor */
    mx_mix_pair *p = malloc(sizeof *p * 4096);
    mx_rng r;
    mx_rng_seed(&r, 3);
    double s = 0, s2 = 0;
    int64_t cnt = 0, m;
    for (int it = 0; it < 20; it++) {
        CHECK_OK(mx_mixer_sample(x, 64, y, NULL, &r, 4096, p, &m));
        CHECK(m == 64 * 30);
        for (int64_t k = 0; k < m; k++) s += p[k].lambda, s2 += p[k].lambda * p[k].lambda, cnt++;
    }
    double mean = s / cnt, var = s2 / cnt - mean * mean;
    CHECK_CLOSE(mean, 0.5, 0.01, 0);  /* Beta(2,2): mean 1/2 */
    CHECK_CLOSE(var, 0.05, 0.003, 0); /* variance 1/20 */
    /* one lambda per batch */
    mx_mixer_free(x);
    c.lambda_per_pair = 0;
    CHECK_OK(mx_mixer_create(&c, 64, &x));
    CHECK_OK(mx_mixer_sample(x, 64, y, NULL, &r, 4096, p, &m));
    int same = 1;
    for (int64_t k = 1; k < m; k++) same &= p[k].lambda == p[0].lambda;
    CHECK(same && p[0].lambda > 0 && p[0].lambda < 1);
    mx_mixer_free(x);
    free(p);
}

static int has(const mx_mix_pair *p, int64_t m, int64_t i, int64_t j, int64_t a) {
    for (int64_t k = 0; k < m; k++)
        if (p[k].i == i && p[k].j == j && p[k].anchor == a) return 1;
    return 0;
}

static void test_selection(void) {
    const int64_t y[4] = {0, 0, 1, 2};
    mx_mix_pair p[64];
    int64_t m;
    mx_rng r;
    mx_rng_seed(&r, 9);
    mx_mix_config c = mx_mix_config_default();
    mx_mixer *x;
    /* pos-neg, all negatives: method.md §9 branch 0 */
    c.strategy = MX_MIX_POSNEG;
    CHECK_OK(mx_mixer_create(&c, 4, &x));
    CHECK_OK(mx_mixer_sample(x, 4, y, NULL, &r, 64, p, &m));
    CHECK(m == 4 && has(p, m, 1, 2, 0) && has(p, m, 1, 3, 0) && has(p, m, 0, 2, 1) &&
          has(p, m, 0, 3, 1));
    mx_mixer_free(x);
    /* anchor-neg: branch 1 */
    c.strategy = MX_MIX_ANCHORNEG;
    CHECK_OK(mx_mixer_create(&c, 4, &x));
    CHECK_OK(mx_mixer_sample(x, 4, y, NULL, &r, 64, p, &m));
    CHECK(m == 6 && has(p, m, 2, 0, 2) && has(p, m, 2, 1, 2) && has(p, m, 2, 3, 2) &&
          has(p, m, 3, 0, 3) && has(p, m, 3, 1, 3) && has(p, m, 3, 2, 3));
    mx_mixer_free(x);
    /* both = 10; default = 4 or 6; the capacity error */
    c.strategy = MX_MIX_BOTH;
    CHECK_OK(mx_mixer_create(&c, 4, &x));
    CHECK_OK(mx_mixer_sample(x, 4, y, NULL, &r, 64, p, &m));
    CHECK(m == 10);
    CHECK(mx_mixer_sample(x, 4, y, NULL, &r, 5, p, &m) == MX_ERR_SHAPE && m == 10);
    mx_mixer_free(x);
    c.strategy = MX_MIX_POSNEG_OR_ANCHORNEG;
    CHECK_OK(mx_mixer_create(&c, 4, &x));
    int seen4 = 0, seen6 = 0;
    for (int it = 0; it < 40; it++) {
        CHECK_OK(mx_mixer_sample(x, 4, y, NULL, &r, 64, p, &m));
        seen4 += m == 4, seen6 += m == 6;
    }
    CHECK(seen4 + seen6 == 40 && seen4 > 5 && seen6 > 5);
    mx_mixer_free(x);
    /* hardest negative (k = 1) follows the similarity, not the index */
    const int64_t y6[6] = {0, 0, 1, 1, 2, 2};
    float sim[36];
    for (int i = 0; i < 36; i++) sim[i] = 0.01f * (float)(i % 7);
    sim[0 * 6 + 4] = 0.9f; /* anchor 0's hardest negative is 4 */
    sim[1 * 6 + 3] = 0.8f; /* anchor 1's is 3 */
    c.strategy = MX_MIX_POSNEG, c.neg_select = MX_MIX_NEG_HARDEST, c.k = 1;
    CHECK_OK(mx_mixer_create(&c, 6, &x));
    CHECK(mx_mixer_sample(x, 6, y6, NULL, &r, 64, p, &m) == MX_ERR_ARG);
    CHECK_OK(mx_mixer_sample(x, 6, y6, sim, &r, 64, p, &m));
    CHECK(m == 6 && has(p, m, 1, 4, 0) && has(p, m, 0, 3, 1));
    for (int64_t k = 0; k < m; k++)
        CHECK(y6[p[k].i] == y6[p[k].anchor] && y6[p[k].j] != y6[p[k].anchor]);
    mx_mixer_free(x);
    /* random k negatives: distinct, negative, k of them; anchor_all */
    c.neg_select = MX_MIX_NEG_RANDOM, c.k = 3, c.anchor_all = 1, c.all_positives = 1;
    CHECK_OK(mx_mixer_create(&c, 6, &x));
    CHECK_OK(mx_mixer_sample(x, 6, y6, NULL, &r, 64, p, &m));
    CHECK(m == 6 * 3);
    for (int64_t k = 0; k < m; k++) CHECK(p[k].anchor == -1 && y6[p[k].i] != y6[p[k].j]);
    mx_mixer_free(x);
    /* neg-neg: soft label 0 for the anchor; pos-pos: 1 */
    c = mx_mix_config_default();
    c.strategy = MX_MIX_NEGNEG;
    CHECK_OK(mx_mixer_create(&c, 6, &x));
    CHECK_OK(mx_mixer_sample(x, 6, y6, NULL, &r, 64, p, &m));
    CHECK(m == 6 * 3);
    for (int64_t k = 0; k < m; k++)
        CHECK(y6[p[k].i] != y6[p[k].anchor] && y6[p[k].j] != y6[p[k].anchor] && p[k].i != p[k].j);
    mx_mixer_free(x);
}

static void test_rows(void) {
    mx_rng r;
    mx_rng_seed(&r, 4);
    int64_t n = 10, m = 37, len = 1000;
    float *xx = malloc(4 * (size_t)(n * len)), *o1 = malloc(4 * (size_t)(m * len));
    float *o2 = malloc(4 * (size_t)(m * len)), *g = malloc(4 * (size_t)(m * len));
    float *d1 = calloc((size_t)(n * len), 4), *d2 = calloc((size_t)(n * len), 4);
    float *d3 = calloc((size_t)(n * len), 4);
    mx_mix_pair p[37];
    for (int64_t i = 0; i < n * len; i++) xx[i] = (float)mx_rng_normal(&r);
    for (int64_t i = 0; i < m * len; i++) g[i] = (float)mx_rng_normal(&r);
    for (int64_t k = 0; k < m; k++) {
        p[k].i = (int64_t)mx_rng_below(&r, 10), p[k].j = (int64_t)mx_rng_below(&r, 10);
        p[k].lambda = (float)mx_rng_uniform(&r), p[k].anchor = 0;
    }
    mx_mix_rows_forward(m, len, xx, p, o1);
    mx_mix_rows_forward_ref(m, len, xx, p, o2);
    mx_test_compare("mix forward", o1, o2, (size_t)(m * len), 1e-6, 1e-6);
    int t0 = mx_threads_get();
    mx_threads_set(1);
    mx_mix_rows_backward(m, len, g, p, d1);
    mx_threads_set(2);
    mx_mix_rows_backward(m, len, g, p, d2);
    mx_threads_set(t0);
    mx_mix_rows_backward_ref(m, len, g, p, d3);
    CHECK(memcmp(d1, d2, 4 * (size_t)(n * len)) == 0); /* thread-count independent */
    mx_test_compare("mix backward", d1, d3, (size_t)(n * len), 1e-5, 1e-5);
    /* adjoint identity: <dout, mix(x)> = <mix^T(dout), x> */
    double a = 0, b = 0;
    for (int64_t i = 0; i < m * len; i++) a += (double)g[i] * o2[i];
    for (int64_t i = 0; i < n * len; i++) b += (double)d3[i] * xx[i];
    CHECK_CLOSE(a, b, 1e-2, 1e-5);
    free(xx), free(o1), free(o2), free(g), free(d1), free(d2), free(d3);
}

/* mixer -> mix rows -> loss reproduces method.md §9 (contrastive branches) */
static void test_end_to_end(void) {
    const float e[8] = {0.980581f, 0.196116f, 0.874157f, 0.485643f,
                        0.196116f, 0.980581f, -0.6f,     0.8f};
    const int64_t y[4] = {0, 0, 1, 2};
    mx_mix_config mc = mx_mix_config_default();
    mc.strategy = MX_MIX_POSNEG;
    mx_mixer *x;
    CHECK_OK(mx_mixer_create(&mc, 4, &x));
    mx_rng r;
    mx_rng_seed(&r, 1);
    mx_mix_pair p[16];
    int64_t m;
    CHECK_OK(mx_mixer_sample(x, 4, y, NULL, &r, 16, p, &m));
    for (int64_t k = 0; k < m; k++) p[k].lambda = 0.7f;
    float v[32], ge[8] = {0}, gv[32] = {0};
    mx_mix_rows_forward(m, 2, e, p, v);
    mx_loss_config lc = mx_loss_config_default(MX_LOSS_CONTRASTIVE);
    mx_loss *l;
    CHECK_OK(mx_loss_create(&lc, 4, 16, 2, 0, &l));
    mx_loss_result res;
    CHECK_OK(mx_loss_compute(l, 4, e, y, NULL, m, v, p, &res, ge, gv, NULL));
    CHECK_CLOSE(res.total, 0.458848, 2e-6, 0);
    /* the gradient through the mixing reaches the components */
    mx_mix_rows_backward(m, 2, gv, p, ge);
    int fin = 1;
    for (int i = 0; i < 8; i++) fin &= isfinite(ge[i]);
    CHECK(fin);
    mx_loss_free(l);
    mx_mixer_free(x);
    mx_mix_strategy s;
    CHECK(mx_mix_strategy_parse("both", &s) == MX_OK && s == MX_MIX_BOTH);
    CHECK(mx_mix_strategy_parse("x", &s) == MX_ERR_CONFIG);
}

static void test_cosine(void) {
    const float e[6] = {3, 4, 0, 0, 0, 2};
    float u[6], s[9];
    mx_mix_cosine(3, 2, e, u, s);
    CHECK_CLOSE(s[0], 1, 1e-6, 0);
    CHECK_CLOSE(s[1], 0, 1e-6, 0);
    CHECK_CLOSE(s[2], 0.8, 1e-6, 0);
    CHECK_CLOSE(s[5], s[7], 1e-7, 0);
    CHECK_CLOSE(u[0], 0.6, 1e-6, 0);
}

int main(void) {
    test_cosine();
    test_lambda_stats();
    test_selection();
    test_rows();
    test_end_to_end();
    return mx_test_finish("mix");
}
