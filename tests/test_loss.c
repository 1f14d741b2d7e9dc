/* loss: method.md §9 test vectors, finite-difference gradients of the double reference for every
 * loss (clean and mixed, embeddings / mixed embeddings / proxies), the float GEMM path against the
 * reference, and degenerate batches. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/core.h"
#include "metrix/loss.h"
#include "mx_test.h"

static const double E4[8] = {0.980581, 0.196116, 0.874157, 0.485643, 0.196116, 0.980581, -0.6, 0.8};
static const int64_t Y4[4] = {0, 0, 1, 2};

/* v_k = lambda x_i + (1 - lambda) x_j */
static void mix_d(int64_t m, int64_t d, const double *x, const mx_mix_pair *p, double *v) {
    for (int64_t k = 0; k < m; k++)
        for (int64_t c = 0; c < d; c++)
            v[k * d + c] = p[k].lambda * x[p[k].i * d + c] + (1 - p[k].lambda) * x[p[k].j * d + c];
}

static double run_ref(const mx_loss_config *cfg, int64_t n, int64_t d, const double *e,
                      const int64_t *y, int64_t C, const double *P, int64_t m, const double *v,
                      const mx_mix_pair *pr, mx_loss_result *res) {
    mx_loss_result r;
    CHECK_OK(mx_loss_compute_ref(cfg, n, d, e, y, C, P, m, v, pr, &r, NULL, NULL, NULL));
    if (res) *res = r;
    return r.total;
}

static void test_vectors(void) {
    const float lam = 0.7f;
    mx_loss_config c = mx_loss_config_default(MX_LOSS_CONTRASTIVE);
    mx_loss_result r;
    run_ref(&c, 4, 2, E4, Y4, 0, NULL, 0, NULL, NULL, &r);
    CHECK_CLOSE(r.clean, 0.308467, 1e-6, 0);
    /* branch 0: (a, p, n) -> v = lam p + (1 - lam) n scored against a */
    mx_mix_pair b0[4] = {{1, 2, lam, 0}, {1, 3, lam, 0}, {0, 2, lam, 1}, {0, 3, lam, 1}};
    double v[12];
    mix_d(4, 2, E4, b0, v);
    run_ref(&c, 4, 2, E4, Y4, 0, NULL, 4, v, b0, &r);
    CHECK_CLOSE(r.mixed, 0.375953, 1e-6, 0);
    CHECK_CLOSE(r.total, 0.458848, 1e-6, 0);
    /* branch 1: v = lam a + (1 - lam) n scored against a */
    mx_mix_pair b1[6] = {{2, 0, lam, 2}, {2, 1, lam, 2}, {2, 3, lam, 2},
                         {3, 0, lam, 3}, {3, 1, lam, 3}, {3, 2, lam, 3}};
    mix_d(6, 2, E4, b1, v);
    c.mix_weight = 0.3f;
    run_ref(&c, 4, 2, E4, Y4, 0, NULL, 6, v, b1, &r);
    CHECK_CLOSE(r.mixed, 0.278066, 1e-6, 0);
    CHECK_CLOSE(r.total, 0.391887, 1e-6, 0);
    /* MS generic form, beta 2, gamma 50, m 0.5, no miner, pos x neg mixes with label lam */
    mx_loss_config ms = mx_loss_config_ms_original();
    ms.ms_miner = 0;
    mix_d(4, 2, E4, b0, v);
    run_ref(&ms, 4, 2, E4, Y4, 0, NULL, 4, v, b0, &r);
    CHECK_CLOSE(r.clean, (0.169940 + 0.317538 + 0.173297 + 0.166800) / 4, 1e-6, 0);
    CHECK_CLOSE(r.mixed, (0.611640 + 0.695007) / 4, 1e-6, 0);
    CHECK_CLOSE(r.total, 0.337558, 1e-6, 0);
    /* the float GEMM path gives the same numbers */
    mx_loss *l;
    float ef[8], vf[12];
    for (int i = 0; i < 8; i++) ef[i] = (float)E4[i];
    for (int i = 0; i < 8; i++) vf[i] = (float)v[i];
    CHECK_OK(mx_loss_create(&ms, 4, 8, 2, 0, &l));
    CHECK_OK(mx_loss_compute(l, 4, ef, Y4, NULL, 4, vf, b0, &r, NULL, NULL, NULL));
    CHECK_CLOSE(r.total, 0.337558, 2e-6, 0);
    mx_loss_free(l);
}

/* random batch: n rows of d, labels in [0, C), m pairs of mixed kinds */
typedef struct batch {
    int64_t n, d, C, m;
    double *e, *P, *v;
    int64_t *y;
    mx_mix_pair *pr;
} batch;

static batch make_batch(mx_rng *r, int64_t n, int64_t d, int64_t C, int64_t m, int all_anchor) {
    batch b = {n, d, C, m, NULL, NULL, NULL, NULL, NULL};
    b.e = malloc(sizeof(double) * (size_t)(n * d));
    b.P = malloc(sizeof(double) * (size_t)(C * d));
    b.v = malloc(sizeof(double) * (size_t)(m * d + 1));
    b.y = malloc(sizeof(int64_t) * (size_t)n);
    b.pr = malloc(sizeof(mx_mix_pair) * (size_t)(m + 1));
    for (int64_t i = 0; i < n * d; i++) b.e[i] = mx_rng_normal(r);
    for (int64_t i = 0; i < C * d; i++) b.P[i] = mx_rng_normal(r);
    for (int64_t i = 0; i < n; i++) b.y[i] = (int64_t)mx_rng_below(r, (uint64_t)C);
    for (int64_t k = 0; k < m; k++) {
        b.pr[k].i = (int64_t)mx_rng_below(r, (uint64_t)n);
        b.pr[k].j = (int64_t)mx_rng_below(r, (uint64_t)n);
        b.pr[k].lambda = (float)mx_rng_uniform(r);
        b.pr[k].anchor = all_anchor && (k % 3 == 0) ? -1 : (int64_t)mx_rng_below(r, (uint64_t)n);
    }
    /* mixed rows are independent inputs of the loss; perturb them off the exact mixes */
    mix_d(m, d, b.e, b.pr, b.v);
    for (int64_t i = 0; i < m * d; i++) b.v[i] += 0.05 * mx_rng_normal(r);
    return b;
}

static void free_batch(batch *b) {
    free(b->e), free(b->P), free(b->v), free(b->y), free(b->pr);
}

/* central differences of the reference total against its analytic gradient */
static void fd_check(const char *what, const mx_loss_config *cfg, batch *b) {
    int64_t n = b->n, d = b->d, C = b->C, m = b->m;
    double *ge = calloc((size_t)(n * d), 8), *gv = calloc((size_t)(m * d + 1), 8);
    double *gp = calloc((size_t)(C * d), 8);
    mx_loss_result r;
    CHECK_OK(mx_loss_compute_ref(cfg, n, d, b->e, b->y, C, b->P, m, b->v, b->pr, &r, ge, gv, gp));
    CHECK(isfinite(r.total));
    int proxy = cfg->kind == MX_LOSS_PROXY_ANCHOR || cfg->kind == MX_LOSS_PROXY_NCA;
    struct {
        double *x, *g;
        int64_t len;
    } t[3] = {{b->e, ge, n * d}, {b->v, gv, m * d}, {b->P, gp, proxy ? C * d : 0}};
    const double h = 1e-6;
    int bad = 0;
    double worst = 0;
    for (int s = 0; s < 3; s++) {
        for (int64_t i = 0; i < t[s].len; i++) {
            double x0 = t[s].x[i];
            t[s].x[i] = x0 + h;
            double lp = run_ref(cfg, n, d, b->e, b->y, C, b->P, m, b->v, b->pr, NULL);
            t[s].x[i] = x0 - h;
            double lm = run_ref(cfg, n, d, b->e, b->y, C, b->P, m, b->v, b->pr, NULL);
            t[s].x[i] = x0;
            double fd = (lp - lm) / (2 * h), err = fabs(fd - t[s].g[i]);
            if (err > worst) worst = err;
            if (err > 1e-5 + 1e-4 * fabs(fd)) {
                if (bad < 3)
                    fprintf(stderr, "%s: grad %d[%lld] analytic %.8g fd %.8g\n", what, s,
                            (long long)i, t[s].g[i], fd);
                bad++;
            }
        }
    }
    mx_test_checks++;
    if (bad)
        mx_test_failures++,
            fprintf(stderr, "%s: %d FD mismatches (worst %.3g)\n", what, bad, worst);
    free(ge), free(gv), free(gp);
}

static mx_loss_config cfg_of(int k) {
    switch (k) {
    case 0:
        return mx_loss_config_default(MX_LOSS_CONTRASTIVE);
    case 1:
        return mx_loss_config_default(MX_LOSS_CONTRASTIVE_COS);
    case 2:
        return mx_loss_config_default(MX_LOSS_MS);
    case 3:
        return mx_loss_config_ms_original();
    case 4:
        return mx_loss_config_default(MX_LOSS_PROXY_ANCHOR);
    case 5:
        return mx_loss_config_default(MX_LOSS_PROXY_NCA);
    case 6:
        return mx_loss_config_default(MX_LOSS_TRIPLET);
    case 7: {
        mx_loss_config c = mx_loss_config_default(MX_LOSS_TRIPLET);
        c.triplet_mining = MX_TRIPLET_SEMIHARD, c.triplet_margin = 0.2f;
        return c;
    }
    default: {
        mx_loss_config c = mx_loss_config_default(MX_LOSS_TRIPLET);
        c.triplet_mining = MX_TRIPLET_HARDEST;
        return c;
    }
    }
}
#define N_CFG 9

static void test_fd(void) {
    mx_rng r;
    mx_rng_seed(&r, 11);
    for (int k = 0; k < N_CFG; k++) {
        for (int all = 0; all < 2; all++) {
            mx_loss_config c = cfg_of(k);
            batch b = make_batch(&r, 8, 5, 3, 7, all);
            char what[64];
            snprintf(what, sizeof what, "fd %s cfg%d all=%d", mx_loss_kind_name(c.kind), k, all);
            fd_check(what, &c, &b);
            free_batch(&b);
        }
    }
}

/* Near (not at) hinge and mining thresholds: terms 1e-3 inside / outside each threshold, FD step
 * 1e-6, so no threshold is crossed and the FD check is valid right next to the kinks. 2-d unit
 * rows at angles; the anchor is row 0 at angle 0. */
static batch angles(const double *th, const int64_t *y, int64_t n, const double *vth,
                    const int64_t *va, int64_t m) {
    batch b = {n, 2, 3, m, NULL, NULL, NULL, NULL, NULL};
    b.e = malloc(sizeof(double) * 2 * (size_t)n);
    b.P = malloc(sizeof(double) * 6);
    b.v = malloc(sizeof(double) * 2 * (size_t)(m + 1));
    b.y = malloc(sizeof(int64_t) * (size_t)n);
    b.pr = malloc(sizeof(mx_mix_pair) * (size_t)(m + 1));
    for (int64_t i = 0; i < n; i++)
        b.e[2 * i] = cos(th[i]), b.e[2 * i + 1] = sin(th[i]), b.y[i] = y[i];
    for (int i = 0; i < 6; i++) b.P[i] = 0.3 * i - 0.7;
    for (int64_t k = 0; k < m; k++) {
        b.v[2 * k] = cos(vth[k]), b.v[2 * k + 1] = sin(vth[k]);
        mx_mix_pair p = {1, 2, 0.6f, va[k]};
        b.pr[k] = p;
    }
    return b;
}

static double th_of_d(double d) { /* angle whose chord is d */
    return 2 * asin(d / 2);
}

static void test_fd_thresholds(void) {
    const double e = 1e-3;
    /* contrastive: negatives at d = 0.5 -+ e from the anchor; mixed rows likewise */
    {
        double th[4] = {0, th_of_d(0.5 - e), -th_of_d(0.5 + e), 2.0};
        int64_t y[4] = {0, 1, 1, 0};
        double vth[2] = {th_of_d(0.5 - e), -th_of_d(0.5 + e)};
        int64_t va[2] = {0, 0};
        batch b = angles(th, y, 4, vth, va, 2);
        mx_loss_config c = mx_loss_config_default(MX_LOSS_CONTRASTIVE);
        fd_check("fd contrastive margin", &c, &b);
        c = mx_loss_config_default(MX_LOSS_CONTRASTIVE_COS);
        free_batch(&b);
        /* cosine form: s = 0.5 -+ e */
        double th2[4] = {0, acos(0.5 + e), -acos(0.5 - e), 2.0};
        double vth2[2] = {acos(0.5 + e), -acos(0.5 - e)};
        b = angles(th2, y, 4, vth2, va, 2);
        fd_check("fd contrastive_cos margin", &c, &b);
        free_batch(&b);
    }
    /* MS miner (eps 0.39): negative at s_n; positives at s_n + eps -+ e (kept / dropped); a second
     * negative at s_p,min - eps -+ e (kept / dropped) */
    {
        double sn = 0.3, sp1 = sn + 0.39 - e, sp2 = sn + 0.39 + e;
        double sn2 = fmin(sp1, sp2) - 0.39 - e; /* dropped: s + eps < min pos */
        double th[5] = {0, acos(sn), -acos(sp1), acos(sp2), -acos(sn2)};
        int64_t y[5] = {0, 1, 0, 0, 2};
        double vth[1] = {0.7};
        int64_t va[1] = {0};
        batch b = angles(th, y, 5, vth, va, 1);
        mx_loss_config c = mx_loss_config_default(MX_LOSS_MS);
        fd_check("fd ms miner thresholds", &c, &b);
        free_batch(&b);
    }
    /* triplet: d_an = d_ap + margin -+ e (active / inactive), all and semi-hard */
    {
        double dp = 0.6, mg = 0.2;
        double th[4] = {0, th_of_d(dp), -th_of_d(dp + mg - e), -th_of_d(dp + mg + e)};
        int64_t y[4] = {0, 0, 1, 2};
        double vth[2] = {th_of_d(dp + mg - 3 * e), th_of_d(dp - mg + e)};
        int64_t va[2] = {0, 0};
        batch b = angles(th, y, 4, vth, va, 2);
        for (int mode = 0; mode < 3; mode++) {
            mx_loss_config c = mx_loss_config_default(MX_LOSS_TRIPLET);
            c.triplet_margin = (float)mg, c.triplet_mining = (mx_triplet_mining)mode;
            fd_check("fd triplet margin", &c, &b);
        }
        free_batch(&b);
    }
}

/* method.md §2.4: with one mixed term of label lambda, the MS mixed loss as a function of
 * s = s(a, v) is minimal exactly at s* = ln(lambda / (1 - lambda)) / (beta + gamma) + m (the sign
 * of dl/ds flips there: v acts as a positive below s*, as a negative above). */
static void test_positivity(void) {
    mx_loss_config c = mx_loss_config_ms_original();
    c.ms_miner = 0;
    const double lams[3] = {0.2, 0.5, 0.85};
    for (int t = 0; t < 3; t++) {
        double lam = (float)lams[t];
        double ss = log(lam / (1 - lam)) / (c.ms_beta + c.ms_gamma) + c.ms_margin;
        double e[4] = {1, 0, 0, 1}, l3[3];
        int64_t y[2] = {0, 1};
        mx_mix_pair p = {0, 1, (float)lam, 0};
        for (int k = 0; k < 3; k++) {
            double s = ss + (k - 1) * 1e-3, v[2] = {s, sqrt(1 - s * s)};
            mx_loss_result r;
            CHECK_OK(mx_loss_compute_ref(&c, 2, 2, e, y, 0, NULL, 1, v, &p, &r, NULL, NULL, NULL));
            l3[k] = r.mixed;
        }
        CHECK(l3[1] < l3[0] && l3[1] < l3[2]);
    }
}

/* float GEMM path vs the double reference on larger batches */
static void test_fast_vs_ref(void) {
    mx_rng r;
    mx_rng_seed(&r, 5);
    for (int k = 0; k < N_CFG; k++) {
        for (int all = 0; all < 2; all++) {
            mx_loss_config c = cfg_of(k);
            int64_t n = 48, d = 16, C = 6, m = 60;
            batch b = make_batch(&r, n, d, C, m, all);
            double *ge = calloc((size_t)(n * d), 8), *gv = calloc((size_t)(m * d), 8);
            double *gp = calloc((size_t)(C * d), 8);
            mx_loss_result rr, rf;
            CHECK_OK(
                mx_loss_compute_ref(&c, n, d, b.e, b.y, C, b.P, m, b.v, b.pr, &rr, ge, gv, gp));
            float *ef = malloc(4 * (size_t)(n * d)), *vf = malloc(4 * (size_t)(m * d));
            float *pf = malloc(4 * (size_t)(C * d));
            float *gef = calloc((size_t)(n * d), 4), *gvf = calloc((size_t)(m * d), 4);
            float *gpf = calloc((size_t)(C * d), 4);
            float *ge2 = malloc(4 * (size_t)(n * d)), *gv2 = malloc(4 * (size_t)(m * d));
            float *gp2 = malloc(4 * (size_t)(C * d));
            for (int64_t i = 0; i < n * d; i++) ef[i] = (float)b.e[i], ge2[i] = (float)ge[i];
            for (int64_t i = 0; i < m * d; i++) vf[i] = (float)b.v[i], gv2[i] = (float)gv[i];
            for (int64_t i = 0; i < C * d; i++) pf[i] = (float)b.P[i], gp2[i] = (float)gp[i];
            mx_loss *l;
            CHECK_OK(mx_loss_create(&c, n, m, d, C, &l));
            CHECK_OK(mx_loss_compute(l, n, ef, b.y, pf, m, vf, b.pr, &rf, gef, gvf, gpf));
            CHECK_CLOSE(rf.total, rr.total, 1e-5, 1e-4);
            CHECK_CLOSE(rf.clean, rr.clean, 1e-5, 1e-4);
            CHECK_CLOSE(rf.mixed, rr.mixed, 1e-5, 1e-4);
            CHECK(rf.n_clean_terms == rr.n_clean_terms);
            mx_test_compare("d_emb", gef, ge2, (size_t)(n * d), 1e-5, 1e-3);
            mx_test_compare("d_mixed", gvf, gv2, (size_t)(m * d), 1e-5, 1e-3);
            mx_test_compare("d_proxies", gpf, gp2, (size_t)(C * d), 1e-5, 1e-3);
            int64_t mm = 0;
            const float *vn = mx_loss_mixed_embeddings(l, &mm);
            CHECK(mm == m);
            double nrm = 0;
            for (int64_t i = 0; i < d; i++) nrm += (double)vn[i] * vn[i];
            CHECK_CLOSE(nrm, 1.0, 1e-5, 0);
            mx_loss_free(l);
            free(ef), free(vf), free(pf), free(gef), free(gvf), free(gpf), free(ge2), free(gv2);
            free(gp2), free(ge), free(gv), free(gp);
            free_batch(&b);
        }
    }
}

/* one sample, a single class, duplicate rows: finite loss, finite gradients */
static void test_degenerate(void) {
    float e[4 * 3] = {1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0}; /* rows 0, 1 duplicates */
    float p[2 * 3] = {1, 0, 0, 0, 1, 0};
    int64_t y_one[4] = {0, 0, 0, 0}, y_mix[4] = {0, 0, 1, 1};
    mx_mix_pair pr[2] = {{0, 1, 0.5f, 0}, {0, 2, 0.5f, -1}};
    float v[2 * 3] = {1, 0, 0, 0.5f, 0.5f, 0};
    for (int k = 0; k < N_CFG; k++) {
        mx_loss_config c = cfg_of(k);
        mx_loss *l;
        CHECK_OK(mx_loss_create(&c, 4, 2, 3, 2, &l));
        const int64_t *ys[2] = {y_one, y_mix};
        int64_t ns[3] = {1, 2, 4};
        for (int yi = 0; yi < 2; yi++)
            for (int ni = 0; ni < 3; ni++) {
                float ge[12] = {0}, gv[6] = {0}, gp[6] = {0};
                mx_loss_result r;
                int64_t m = ns[ni] >= 3 ? 2 : 0;
                CHECK_OK(mx_loss_compute(l, ns[ni], e, ys[yi], p, m, v, pr, &r, ge, gv, gp));
                int fin = isfinite(r.total);
                for (int i = 0; i < 12; i++) fin &= isfinite(ge[i]);
                for (int i = 0; i < 6; i++) fin &= isfinite(gv[i]) && isfinite(gp[i]);
                CHECK(fin);
            }
        mx_loss_free(l);
    }
}

/* thread count: same loss and gradients (anchors reduce in order; GEMM may round differently) */
static void test_threads(void) {
    mx_rng r;
    mx_rng_seed(&r, 21);
    int t0 = mx_threads_get();
    for (int k = 0; k < N_CFG; k++) {
        mx_loss_config c = cfg_of(k);
        int64_t n = 64, d = 16, C = 8, m = 50;
        batch b = make_batch(&r, n, d, C, m, 1);
        float *e = malloc(4 * (size_t)(n * d)), *v = malloc(4 * (size_t)(m * d));
        float *p = malloc(4 * (size_t)(C * d)), *g1 = calloc((size_t)(n * d), 4);
        float *g2 = calloc((size_t)(n * d), 4);
        for (int64_t i = 0; i < n * d; i++) e[i] = (float)b.e[i];
        for (int64_t i = 0; i < m * d; i++) v[i] = (float)b.v[i];
        for (int64_t i = 0; i < C * d; i++) p[i] = (float)b.P[i];
        mx_loss *l;
        mx_loss_result r1, r2;
        mx_threads_set(2);
        CHECK_OK(mx_loss_create(&c, n, m, d, C, &l));
        mx_threads_set(1);
        CHECK_OK(mx_loss_compute(l, n, e, b.y, p, m, v, b.pr, &r1, g1, NULL, NULL));
        mx_threads_set(2);
        CHECK_OK(mx_loss_compute(l, n, e, b.y, p, m, v, b.pr, &r2, g2, NULL, NULL));
        CHECK_CLOSE(r1.total, r2.total, 1e-6, 1e-6);
        mx_test_compare("threads d_emb", g1, g2, (size_t)(n * d), 1e-6, 1e-4);
        mx_loss_free(l);
        free(e), free(v), free(p), free(g1), free(g2);
        free_batch(&b);
    }
    mx_threads_set(t0);
}

/* Kaiming-normal fan_out proxies: mean 0, variance 2 / C */
static void test_proxy_init(void) {
    mx_rng r;
    mx_rng_seed(&r, 8);
    int64_t C = 50, d = 2000;
    float *p = malloc(4 * (size_t)(C * d));
    mx_loss_proxy_init(p, C, d, &r);
    double s = 0, s2 = 0;
    for (int64_t i = 0; i < C * d; i++) s += p[i], s2 += (double)p[i] * p[i];
    s /= (double)(C * d), s2 /= (double)(C * d);
    CHECK_CLOSE(s, 0, 0.002, 0);
    CHECK_CLOSE(s2, 2.0 / C, 0, 0.02);
    free(p);
}

static void test_errors(void) {
    mx_loss_config c = mx_loss_config_default(MX_LOSS_PROXY_ANCHOR);
    mx_loss *l = NULL;
    CHECK(mx_loss_create(&c, 4, 0, 3, 0, &l) == MX_ERR_ARG && l == NULL);
    CHECK_OK(mx_loss_create(&c, 4, 1, 3, 2, &l));
    float e[12] = {0}, p[6] = {0};
    int64_t y[4] = {0, 1, 2, 0};
    mx_loss_result r;
    CHECK(mx_loss_compute(l, 4, e, y, p, 0, NULL, NULL, &r, NULL, NULL, NULL) == MX_ERR_ARG);
    CHECK(strstr(mx_errmsg(), "labels[2]") != NULL);
    CHECK(mx_loss_compute(l, 5, e, y, p, 0, NULL, NULL, &r, NULL, NULL, NULL) == MX_ERR_SHAPE);
    mx_loss_free(l);
    mx_loss_free(NULL);
    /* NaN input: MX_ERR_NUMERIC, not a NaN loss */
    {
        mx_loss_config cm = mx_loss_config_default(MX_LOSS_MS);
        mx_loss *ln;
        float en[6] = {1, 0, 0, NAN, 1, 0};
        int64_t yn[2] = {0, 0};
        CHECK_OK(mx_loss_create(&cm, 2, 0, 3, 0, &ln));
        CHECK(mx_loss_compute(ln, 2, en, yn, NULL, 0, NULL, NULL, &r, NULL, NULL, NULL) ==
              MX_ERR_NUMERIC);
        mx_loss_free(ln);
    }
    /* pair losses: at most max_n all-anchor mixed rows */
    c = mx_loss_config_default(MX_LOSS_MS);
    CHECK_OK(mx_loss_create(&c, 2, 3, 3, 0, &l));
    mx_mix_pair pr[3] = {{0, 1, 0.5f, -1}, {0, 1, 0.5f, -1}, {0, 1, 0.5f, -1}};
    float v[9] = {1, 0, 0, 0, 1, 0, 0, 0, 1};
    e[0] = 1, e[4] = 1;
    CHECK(mx_loss_compute(l, 2, e, y, NULL, 3, v, pr, &r, NULL, NULL, NULL) == MX_ERR_ARG);
    CHECK_OK(mx_loss_compute(l, 2, e, y, NULL, 2, v, pr, &r, NULL, NULL, NULL));
    mx_loss_free(l);
    mx_loss_kind k;
    CHECK(mx_loss_kind_parse("ms", &k) == MX_OK && k == MX_LOSS_MS);
    CHECK(mx_loss_kind_parse("bogus", &k) == MX_ERR_CONFIG);
}

int main(void) {
    test_vectors();
    test_fd();
    test_fd_thresholds();
    test_positivity();
    test_fast_vs_ref();
    test_degenerate();
    test_threads();
    test_proxy_init();
    test_errors();
    return mx_test_finish("loss");
}
