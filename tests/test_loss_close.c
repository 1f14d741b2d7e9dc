/* loss: nearly coincident pairs. Contrastive (code form) and triplet use d = sqrt(2 - 2s); from a
 * float similarity s, 2 - 2s loses ~eps / d^2 relative, so the engine computes the distances of
 * close pairs directly from the rows. Pairs at chord distances 1e-1 .. 1e-3, clean (positive and
 * negative close pairs) and mixed (an anchored and an all-anchor mixed row close to an anchor),
 * float path against the double reference: value and gradients to REL_TOL relative. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/core.h"
#include "metrix/loss.h"
#include "mx_test.h"

#define D       32
#define N       6
#define M       4
#define REL_TOL 1e-6 /* value: |f - r| / |r|; gradients: max |f - r| / max |r| over the array */

static void unit(double *x) {
    double s = 0;
    for (int k = 0; k < D; k++) s += x[k] * x[k];
    s = sqrt(s);
    for (int k = 0; k < D; k++) x[k] /= s;
}

/* chord distance between the directions of x and z */
static double chord(const double *x, const double *z) {
    double nx = 0, nz = 0, s = 0;
    for (int k = 0; k < D; k++) nx += x[k] * x[k], nz += z[k] * z[k];
    nx = sqrt(nx), nz = sqrt(nz);
    for (int k = 0; k < D; k++) s += (x[k] / nx - z[k] / nz) * (x[k] / nx - z[k] / nz);
    return sqrt(s);
}

/* x = scale (cos th u + sin th w), w a random unit vector orthogonal to u, chord(x, u) = dist */
static void near(mx_rng *r, const double *u, double dist, double scale, double *x) {
    double w[D], p = 0, th = 2 * asin(dist / 2);
    for (int k = 0; k < D; k++) w[k] = mx_rng_normal(r);
    for (int k = 0; k < D; k++) p += w[k] * u[k];
    for (int k = 0; k < D; k++) w[k] -= p * u[k];
    unit(w);
    for (int k = 0; k < D; k++) x[k] = scale * (cos(th) * u[k] + sin(th) * w[k]);
}

/* the float value of every input, so that both paths see the same numbers */
static void to_float(double *x, int cnt) {
    for (int i = 0; i < cnt; i++) x[i] = (float)x[i];
}

/* pair k: v = lambda x_i + (1 - lambda) x_j with lambda (a float) such that chord(v, x_i) ~ dist */
static void mix_near(const double *e, mx_mix_pair *p, double dist, double *v) {
    double lo = 0, hi = 0.5; /* t = 1 - lambda */
    for (int it = 0; it < 200; it++) {
        double t = 0.5 * (lo + hi);
        for (int k = 0; k < D; k++) v[k] = (1 - t) * e[p->i * D + k] + t * e[p->j * D + k];
        if (chord(v, e + p->i * D) < dist)
            lo = t;
        else
            hi = t;
    }
    p->lambda = (float)(1 - 0.5 * (lo + hi));
    for (int k = 0; k < D; k++)
        v[k] = (double)p->lambda * e[p->i * D + k] + (1 - (double)p->lambda) * e[p->j * D + k];
}

static double max_rel(const float *f, const double *r, int cnt) {
    double num = 0, den = 0;
    for (int i = 0; i < cnt; i++) num = fmax(num, fabs(f[i] - r[i])), den = fmax(den, fabs(r[i]));
    return den > 0 ? num / den : num;
}

static double rel(double f, double r) {
    return fabs(f - r) / fmax(fabs(r), 1e-300);
}

/* worst relative errors (value, d_emb, d_mixed) of one batch with close pairs at distance dist */
static void run_case(const mx_loss_config *cfg, double dist, int mixed, uint64_t seed,
                     double err[3]) {
    mx_rng r;
    mx_rng_seed(&r, seed);
    static const int64_t y[N] = {0, 0, 1, 1, 2, 2};
    double e[N * D], v[M * D], u[D];
    for (int k = 0; k < D; k++) u[k] = mx_rng_normal(&r);
    unit(u);
    for (int k = 0; k < D; k++) e[k] = 1.7 * u[k];
    near(&r, u, dist, 0.6, e + 1 * D); /* positive of row 0 at dist */
    near(&r, u, dist, 2.3, e + 2 * D); /* negative of rows 0, 1 at ~dist */
    for (int i = 3; i < 5; i++)        /* rows 3, 4 far */
        for (int k = 0; k < D; k++) e[i * D + k] = mx_rng_normal(&r);
    double u4[D];
    memcpy(u4, e + 4 * D, sizeof u4);
    unit(u4);
    near(&r, u4, 0.3, 0.9, e + 5 * D); /* (4, 5) a positive at 0.3 */
    to_float(e, N * D);
    mx_mix_pair pr[M] = {{0, 3, 0, 0}, {2, 4, 0, -1}, {1, 4, 0.5f, 1}, {3, 5, 0.3f, 5}};
    mix_near(e, &pr[0], dist, v);     /* anchored at 0, close to it */
    mix_near(e, &pr[1], dist, v + D); /* every anchor: close to row 2 (and rows 0, 1) */
    for (int k = 2; k < M; k++)
        for (int c = 0; c < D; c++)
            v[k * D + c] =
                pr[k].lambda * e[pr[k].i * D + c] + (1 - pr[k].lambda) * e[pr[k].j * D + c];
    to_float(v, M * D);
    int64_t m = mixed ? M : 0;

    mx_loss_result rr, rf;
    double ge[N * D] = {0}, gv[M * D] = {0};
    CHECK_OK(mx_loss_compute_ref(cfg, N, D, e, y, 0, NULL, m, v, pr, &rr, ge, gv, NULL));
    float ef[N * D], vf[M * D], gef[N * D] = {0}, gvf[M * D] = {0};
    for (int i = 0; i < N * D; i++) ef[i] = (float)e[i];
    for (int i = 0; i < M * D; i++) vf[i] = (float)v[i];
    mx_loss *l;
    CHECK_OK(mx_loss_create(cfg, N, M, D, 0, &l));
    CHECK_OK(mx_loss_compute(l, N, ef, y, NULL, m, vf, pr, &rf, gef, gvf, NULL));
    mx_loss_free(l);
    CHECK(rf.n_clean_terms == rr.n_clean_terms && rf.n_mixed_terms == rr.n_mixed_terms);
    CHECK(rr.clean > 0 && (!mixed || rr.mixed > 0));
    double ev = fmax(rel(rf.clean, rr.clean), rel(rf.total, rr.total));
    if (mixed) ev = fmax(ev, rel(rf.mixed, rr.mixed));
    double eg = max_rel(gef, ge, N * D), em = mixed ? max_rel(gvf, gv, M * D) : 0;
    err[0] = fmax(err[0], ev), err[1] = fmax(err[1], eg), err[2] = fmax(err[2], em);
}

/* a collapsed batch: every pair close (s > 0.99), a quarter of the mixed rows scored against every
 * anchor; float vs reference, and 1 vs 2 threads */
static void test_collapsed(mx_loss_kind kind) {
    enum { n = 24, m = 24, d = 48 };
    mx_rng r;
    mx_rng_seed(&r, 7);
    double e[n * d], v[m * d], base[d];
    int64_t y[n];
    mx_mix_pair pr[m];
    for (int k = 0; k < d; k++) base[k] = mx_rng_normal(&r);
    for (int i = 0; i < n; i++) {
        double sc = 0.5 + mx_rng_uniform(&r);
        for (int k = 0; k < d; k++) e[i * d + k] = sc * (base[k] + 0.02 * mx_rng_normal(&r));
        y[i] = i % 4;
    }
    to_float(e, n * d);
    for (int k = 0; k < m; k++) {
        pr[k] = (mx_mix_pair){k % n, (k * 7 + 3) % n, (float)mx_rng_uniform(&r),
                              k % 4 == 0 ? -1 : (k * 5) % n};
        for (int c = 0; c < d; c++)
            v[k * d + c] =
                pr[k].lambda * e[pr[k].i * d + c] + (1 - pr[k].lambda) * e[pr[k].j * d + c];
    }
    to_float(v, m * d);
    mx_loss_config cfg = mx_loss_config_default(kind);
    cfg.neg_margin = 1.0f; /* every negative term active */
    mx_loss_result rr, r1, r2;
    double ge[n * d] = {0}, gv[m * d] = {0};
    CHECK_OK(mx_loss_compute_ref(&cfg, n, d, e, y, 0, NULL, m, v, pr, &rr, ge, gv, NULL));
    float ef[n * d], vf[m * d], ge1[n * d] = {0}, gv1[m * d] = {0}, ge2[n * d] = {0},
                                        gv2[m * d] = {0};
    for (int i = 0; i < n * d; i++) ef[i] = (float)e[i];
    for (int i = 0; i < m * d; i++) vf[i] = (float)v[i];
    int t0 = mx_threads_get();
    mx_loss *l;
    mx_threads_set(2);
    CHECK_OK(mx_loss_create(&cfg, n, m, d, 0, &l));
    mx_threads_set(1);
    CHECK_OK(mx_loss_compute(l, n, ef, y, NULL, m, vf, pr, &r1, ge1, gv1, NULL));
    mx_threads_set(2);
    CHECK_OK(mx_loss_compute(l, n, ef, y, NULL, m, vf, pr, &r2, ge2, gv2, NULL));
    mx_threads_set(t0);
    mx_loss_free(l);
    double err[3] = {fmax(rel(r1.clean, rr.clean), rel(r1.mixed, rr.mixed)),
                     max_rel(ge1, ge, n * d), max_rel(gv1, gv, m * d)};
    fprintf(stderr, "%-12s collapsed      : value %.1e  d_emb %.1e  d_mixed %.1e\n",
            mx_loss_kind_name(kind), err[0], err[1], err[2]);
    CHECK(rr.n_clean_terms > 0 && rr.n_mixed_terms > 0);
    CHECK(err[0] <= REL_TOL && err[1] <= REL_TOL && err[2] <= REL_TOL);
    CHECK_CLOSE(r2.total, r1.total, 0, 1e-7);
    double g1 = 0, g2 = 0, gm = 0;
    for (int i = 0; i < n * d; i++) g1 += fabs(ge1[i] - ge2[i]), gm += fabs(ge1[i]);
    for (int i = 0; i < m * d; i++) g2 += fabs(gv1[i] - gv2[i]), gm += fabs(gv1[i]);
    CHECK((g1 + g2) <= 1e-6 * gm);
}

int main(void) {
    static const double dists[] = {1e-1, 1e-2, 5e-3, 1e-3};
    mx_loss_config cfgs[3] = {mx_loss_config_default(MX_LOSS_CONTRASTIVE),
                              mx_loss_config_default(MX_LOSS_TRIPLET),
                              mx_loss_config_default(MX_LOSS_TRIPLET)};
    cfgs[2].triplet_mining = MX_TRIPLET_HARDEST;
    static const char *const names[3] = {"contrastive", "triplet", "triplet-hard"};
    double worst = 0;
    for (int c = 0; c < 3; c++)
        for (int mixed = 0; mixed < 2; mixed++)
            for (int k = 0; k < 4; k++) {
                double err[3] = {0, 0, 0};
                for (uint64_t seed = 1; seed <= 4; seed++)
                    run_case(&cfgs[c], dists[k], mixed, seed, err);
                double w = fmax(err[0], fmax(err[1], err[2]));
                fprintf(stderr, "%-12s %s dist %-6g: value %.1e  d_emb %.1e  d_mixed %.1e%s\n",
                        names[c], mixed ? "mixed" : "clean", dists[k], err[0], err[1], err[2],
                        w > REL_TOL ? "  > tolerance" : "");
                CHECK(w <= REL_TOL);
                worst = fmax(worst, w);
            }
    test_collapsed(MX_LOSS_CONTRASTIVE);
    test_collapsed(MX_LOSS_TRIPLET);
    fprintf(stderr, "worst relative error %.2e (tolerance %.0e)\n", worst, REL_TOL);
    return mx_test_finish("test_loss_close");
}
