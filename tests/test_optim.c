/* optim: SGD / Adam / AdamW with parameter groups, frozen warm-up, lr multiplier 100, clipping
 * and schedules against torch trajectories (tests/fixtures/optim/optim_ref.txt, made by
 * tests/ref/optim_torch_ref.py); clipping, zero_grad, state listing and errors by hand. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/optim.h"
#include "mx_test.h"
#include "optim/optim_impl.h"

#define N0       30
#define N1       12
#define MAXSTEPS 32

typedef struct ref_data {
    int steps, frozen, nscen;
    float p0[N0], p1[N1], a0[N0], a1[N1], c0[N0], c1[N1];
    FILE *f;
} ref_data;

static int read_floats(FILE *f, float *v, int n) {
    for (int i = 0; i < n; i++)
        if (fscanf(f, "%f", &v[i]) != 1) return 0;
    return 1;
}

typedef struct scenario {
    const char *name;
    mx_optim_kind kind;
    double lr, wd, momentum;
    int nesterov;
    mx_lr_schedule sched;
    int clip; /* 0 none, 1 value, 2 norm */
    double clip_at;
} scenario;

static void run_scenario(ref_data *rd, const scenario *sc) {
    char word[64], name[128];
    CHECK(fscanf(rd->f, "%63s %127s", word, name) == 2);
    CHECK(strcmp(word, "scenario") == 0 && strcmp(name, sc->name) == 0);
    mx_optim_config cfg = mx_optim_config_default();
    cfg.kind = sc->kind;
    cfg.lr = sc->lr;
    cfg.momentum = sc->momentum;
    cfg.nesterov = sc->nesterov;
    float p0[N0], g0[N0], p1[N1], g1[N1];
    memcpy(p0, rd->p0, sizeof p0);
    memcpy(p1, rd->p1, sizeof p1);
    mx_optim *o = NULL;
    int b0 = -1, b1 = -1, trunk = -1, head = -1, prox = -1;
    CHECK_OK(mx_optim_create(&cfg, &o));
    CHECK_OK(mx_optim_add_buffer(o, p0, g0, N0, &b0));
    CHECK_OK(mx_optim_add_buffer(o, p1, g1, N1, &b1));
    CHECK_OK(mx_optim_add_group(o, b0, 0, 20, 1.0, sc->wd, "trunk", &trunk));
    CHECK_OK(mx_optim_add_group(o, b0, 20, 10, 1.0, 0.0, "head", &head));
    CHECK_OK(mx_optim_add_group(o, b1, 0, N1, 100.0, 0.0, "proxies", &prox));
    CHECK(mx_optim_find_group(o, "head") == head && mx_optim_find_group(o, "x") == -1);
    double worst = 0;
    for (int k = 0; k < rd->steps; k++) {
        CHECK_OK(mx_optim_set_frozen(o, trunk, k < rd->frozen));
        mx_optim_zero_grad(o);
        for (int i = k < rd->frozen ? 20 : 0; i < N0; i++) g0[i] = rd->a0[i] * (p0[i] - rd->c0[i]);
        for (int i = 0; i < N1; i++) g1[i] = rd->a1[i] * (p1[i] - rd->c1[i]);
        if (sc->clip == 1) CHECK_OK(mx_optim_clip_grad_value(o, NULL, 0, (float)sc->clip_at));
        if (sc->clip == 2) CHECK_OK(mx_optim_clip_grad_norm(o, NULL, 0, sc->clip_at, NULL));
        mx_optim_set_lr(o, sc->lr * mx_lr_factor(&sc->sched, k));
        double lr_ref[3];
        CHECK(fscanf(rd->f, "%lf %lf %lf", &lr_ref[0], &lr_ref[1], &lr_ref[2]) == 3);
        CHECK_CLOSE(mx_optim_get_lr(o), lr_ref[0], 1e-12, 1e-9);
        CHECK_CLOSE(mx_optim_get_lr(o) * 100.0, lr_ref[2], 1e-12, 1e-9);
        CHECK_OK(mx_optim_step(o));
        float want[N0 + N1], got[N0 + N1];
        CHECK(read_floats(rd->f, want, N0 + N1));
        memcpy(got, p0, sizeof p0);
        memcpy(got + N0, p1, sizeof p1);
        char what[160];
        snprintf(what, sizeof what, "%s step %d", sc->name, k);
        double d = mx_test_compare(what, got, want, N0 + N1, 1e-6, 1e-6);
        worst = d > worst ? d : worst;
        if (k < rd->frozen) /* the frozen trunk never moves */
            CHECK(memcmp(p0, rd->p0, 20 * sizeof(float)) == 0);
    }
    printf("%-32s max |diff| vs torch over %d steps: %.3g\n", sc->name, rd->steps, worst);
    mx_optim_free(o);
}

static void test_against_torch(void) {
    const char *path = MX_SOURCE_DIR "/tests/fixtures/optim/optim_ref.txt";
    ref_data rd;
    rd.f = fopen(path, "r");
    CHECK(rd.f != NULL);
    if (!rd.f) return;
    char magic[32];
    int ver, n0, n1;
    CHECK(fscanf(rd.f, "%31s %d %d %d %d %d %d", magic, &ver, &n0, &n1, &rd.steps, &rd.frozen,
                 &rd.nscen) == 7);
    CHECK(n0 == N0 && n1 == N1 && rd.steps <= MAXSTEPS);
    CHECK(read_floats(rd.f, rd.p0, N0) && read_floats(rd.f, rd.p1, N1));
    CHECK(read_floats(rd.f, rd.a0, N0) && read_floats(rd.f, rd.a1, N1));
    CHECK(read_floats(rd.f, rd.c0, N0) && read_floats(rd.f, rd.c1, N1));

    mx_lr_schedule none = mx_lr_schedule_default(), step = none, cosine = none, wstep = none,
                   wcos = none;
    none.kind = MX_LR_CONSTANT;
    step.step_size = 4;
    step.gamma = 0.5;
    cosine.kind = MX_LR_COSINE;
    cosine.t_max = rd.steps;
    wstep.step_size = 5;
    wstep.gamma = 0.5;
    wstep.warmup_iters = 4;
    wstep.warmup_start = 0.25;
    wcos = cosine;
    wcos.warmup_iters = 4;
    wcos.warmup_start = 0.25;
    const scenario sc[] = {
        {"sgd_momentum_step_clipvalue", MX_OPTIM_SGD, 0.002, 1e-2, 0.9, 0, step, 1, 5.0},
        {"sgd_nesterov_cosine_clipnorm", MX_OPTIM_SGD, 0.002, 1e-2, 0.9, 1, cosine, 2, 3.0},
        {"sgd_plain", MX_OPTIM_SGD, 0.002, 5e-2, 0.0, 0, none, 0, 0.0},
        {"adam_warmup_step_clipvalue", MX_OPTIM_ADAM, 0.01, 1e-2, 0.0, 0, wstep, 1, 5.0},
        {"adamw_cosine_clipnorm", MX_OPTIM_ADAMW, 0.01, 5e-2, 0.0, 0, cosine, 2, 3.0},
        {"adam_warmup_cosine", MX_OPTIM_ADAM, 0.01, 1e-4, 0.0, 0, wcos, 0, 0.0},
    };
    const int ns = (int)(sizeof sc / sizeof sc[0]);
    CHECK(rd.nscen == ns);
    for (int i = 0; i < ns && i < rd.nscen; i++) {
        CHECK_OK(mx_lr_schedule_check(&sc[i].sched));
        run_scenario(&rd, &sc[i]);
    }
    fclose(rd.f);
}

static void test_clipping(void) {
    float g[6] = {-20, -1, 0, 0.5f, 3, 11};
    mx_clip_grad_value(g, 6, 2.5f);
    const float want[6] = {-2.5f, -1, 0, 0.5f, 2.5f, 2.5f};
    mx_test_compare("clip value", g, want, 6, 0, 0);

    /* norm over two groups in two buffers: ||(3,4,0,12)|| = 13 -> scale 6.5/13 = 0.5; the frozen
     * group and elements outside groups are untouched */
    float p[4] = {0}, gr[4] = {3, 4, 100, 0}, q[2] = {0}, gq[2] = {0, 12};
    mx_optim_config cfg = mx_optim_config_default();
    mx_optim *o = NULL;
    int gA, gB, gC;
    CHECK_OK(mx_optim_create(&cfg, &o));
    CHECK_OK(mx_optim_add_buffer(o, p, gr, 4, NULL));
    CHECK_OK(mx_optim_add_buffer(o, q, gq, 2, NULL));
    CHECK_OK(mx_optim_add_group(o, 0, 0, 2, 1, 0, "a", &gA));
    CHECK_OK(mx_optim_add_group(o, 1, 0, 2, 1, 0, "b", &gB));
    CHECK_OK(mx_optim_add_group(o, 0, 3, 1, 1, 0, "c", &gC));
    double norm = 0;
    CHECK_OK(mx_optim_clip_grad_norm(o, NULL, 0, 6.5, &norm));
    CHECK_CLOSE(norm, 13.0, 1e-9, 0);
    CHECK_CLOSE(gr[0], 1.5, 1e-6, 0);
    CHECK_CLOSE(gr[1], 2.0, 1e-6, 0);
    CHECK_CLOSE(gq[1], 6.0, 1e-6, 0);
    CHECK(gr[2] == 100.0f); /* in no group */
    /* explicit list, below the limit: unchanged */
    const int only_b[1] = {gB};
    CHECK_OK(mx_optim_clip_grad_norm(o, only_b, 1, 100.0, &norm));
    CHECK_CLOSE(norm, 6.0, 1e-6, 0);
    CHECK_CLOSE(gq[1], 6.0, 1e-6, 0);
    /* frozen groups are skipped by default */
    CHECK_OK(mx_optim_set_frozen(o, gA, 1));
    CHECK(mx_optim_is_frozen(o, gA));
    CHECK_OK(mx_optim_clip_grad_value(o, NULL, 0, 1.0f));
    CHECK_CLOSE(gr[0], 1.5, 1e-6, 0);
    CHECK_CLOSE(gq[1], 1.0, 0, 0);
    /* NaN norm: error, gradients unchanged */
    gq[0] = NAN;
    CHECK(mx_optim_clip_grad_norm(o, NULL, 0, 1.0, &norm) == MX_ERR_NUMERIC);
    CHECK(mx_optim_step(o) == MX_ERR_NUMERIC);
    CHECK(q[1] == 0.0f);
    const int bad[1] = {7};
    CHECK(mx_optim_clip_grad_value(o, bad, 1, 1.0f) == MX_ERR_ARG);
    /* zero_grad clears every buffer in full */
    mx_optim_zero_grad(o);
    CHECK(gr[0] == 0 && gr[2] == 0 && gq[0] == 0 && gq[1] == 0);
    (void)gC;
    mx_optim_free(o);
}

static void test_state_and_errors(void) {
    float p[8] = {0}, g[8] = {0}, q[3] = {0}, gq[3] = {0};
    mx_optim_config cfg = mx_optim_config_default();
    mx_optim *o = NULL;
    CHECK_OK(mx_optim_create(&cfg, &o));
    CHECK_OK(mx_optim_add_buffer(o, p, g, 8, NULL));
    CHECK_OK(mx_optim_add_buffer(o, q, gq, 3, NULL));
    CHECK_OK(mx_optim_add_group(o, 0, 0, 5, 1, 0, "trunk", NULL));
    CHECK(mx_optim_add_group(o, 0, 4, 2, 1, 0, "overlap", NULL) == MX_ERR_ARG);
    CHECK(strstr(mx_errmsg(), "overlap") != NULL);
    CHECK(mx_optim_add_group(o, 0, 6, 3, 1, 0, "past_end", NULL) == MX_ERR_ARG);
    CHECK(mx_optim_add_group(o, 2, 0, 1, 1, 0, "nobuf", NULL) == MX_ERR_ARG);
    CHECK(mx_optim_add_group(o, 0, 5, 3, -1, 0, "neg", NULL) == MX_ERR_CONFIG);
    CHECK_OK(mx_optim_add_group(o, 1, 0, 3, 100, 0, "proxies", NULL));
    CHECK(mx_optim_group_count(o) == 2);
    CHECK(mx_optim_state_count(o) == 5);
    const char *names[5] = {"buf0.exp_avg", "buf0.exp_avg_sq", "buf1.exp_avg", "buf1.exp_avg_sq",
                            "steps"};
    const int64_t numel[5] = {8, 8, 3, 3, 2};
    for (int i = 0; i < 5; i++) {
        mx_optim_state_entry e;
        CHECK_OK(mx_optim_state_get(o, i, &e));
        CHECK(strcmp(e.name, names[i]) == 0 && e.numel == numel[i] && e.data != NULL);
        CHECK(e.type == (i == 4 ? MX_OPTIM_STATE_I64 : MX_OPTIM_STATE_F32));
    }
    /* save state after 3 steps, continue 2 steps; reload into a fresh optimizer and replay */
    for (int i = 0; i < 8; i++) g[i] = (float)(i - 3);
    for (int i = 0; i < 3; i++) gq[i] = (float)(i + 1);
    for (int s = 0; s < 3; s++) CHECK_OK(mx_optim_step(o));
    float saved[8 + 8 + 3 + 3], p_saved[8], q_saved[3];
    int64_t steps_saved[2];
    size_t off = 0;
    for (int i = 0; i < 4; i++) {
        mx_optim_state_entry e;
        CHECK_OK(mx_optim_state_get(o, i, &e));
        memcpy(saved + off, e.data, (size_t)e.numel * sizeof(float));
        off += (size_t)e.numel;
    }
    mx_optim_state_entry es;
    CHECK_OK(mx_optim_state_get(o, 4, &es));
    memcpy(steps_saved, es.data, sizeof steps_saved);
    CHECK(steps_saved[0] == 3 && steps_saved[1] == 3);
    memcpy(p_saved, p, sizeof p);
    memcpy(q_saved, q, sizeof q);
    for (int s = 0; s < 2; s++) CHECK_OK(mx_optim_step(o));

    float p2[8], q2[3];
    memcpy(p2, p_saved, sizeof p2);
    memcpy(q2, q_saved, sizeof q2);
    mx_optim *o2 = NULL;
    CHECK_OK(mx_optim_create(&cfg, &o2));
    CHECK_OK(mx_optim_add_buffer(o2, p2, g, 8, NULL));
    CHECK_OK(mx_optim_add_buffer(o2, q2, gq, 3, NULL));
    CHECK_OK(mx_optim_add_group(o2, 0, 0, 5, 1, 0, "trunk", NULL));
    CHECK_OK(mx_optim_add_group(o2, 1, 0, 3, 100, 0, "proxies", NULL));
    off = 0;
    for (int i = 0; i < 4; i++) {
        mx_optim_state_entry e;
        CHECK_OK(mx_optim_state_get(o2, i, &e));
        memcpy(e.data, saved + off, (size_t)e.numel * sizeof(float));
        off += (size_t)e.numel;
    }
    CHECK_OK(mx_optim_state_get(o2, 4, &es));
    memcpy(es.data, steps_saved, sizeof steps_saved);
    for (int s = 0; s < 2; s++) CHECK_OK(mx_optim_step(o2));
    mx_test_compare("resume params", p2, p, 8, 0, 0);
    mx_test_compare("resume proxies", q2, q, 3, 0, 0);
    CHECK(p[5] == 0.0f && p[7] == 0.0f); /* outside every group: never touched */
    CHECK(mx_optim_state_get(o, 5, &es) == MX_ERR_ARG);
    mx_optim_free(o2);
    mx_optim_free(o);
    mx_optim_free(NULL);

    /* bad configs name the field */
    mx_optim_config bad = mx_optim_config_default();
    bad.kind = MX_OPTIM_SGD;
    bad.nesterov = 1;
    CHECK(mx_optim_create(&bad, &o) == MX_ERR_CONFIG && o == NULL);
    CHECK(strstr(mx_errmsg(), "nesterov") != NULL);
    bad = mx_optim_config_default();
    bad.beta2 = 1.0;
    CHECK(mx_optim_create(&bad, &o) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "beta2") != NULL);
    mx_lr_schedule s = mx_lr_schedule_default();
    s.step_size = 0;
    CHECK(mx_lr_schedule_check(&s) == MX_ERR_CONFIG);
    CHECK(strstr(mx_errmsg(), "step_size") != NULL);
}

static void test_schedule_values(void) {
    mx_lr_schedule s = mx_lr_schedule_default(); /* StepLR(10, 0.5) */
    CHECK_CLOSE(mx_lr_factor(&s, 0), 1.0, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 9), 1.0, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 10), 0.5, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 25), 0.25, 1e-15, 0);
    s.kind = MX_LR_COSINE;
    s.t_max = 10;
    s.eta_min_factor = 0.1;
    CHECK_CLOSE(mx_lr_factor(&s, 0), 1.0, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 5), 0.55, 1e-12, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 10), 0.1, 1e-12, 0);
    s.kind = MX_LR_CONSTANT;
    s.warmup_iters = 5;
    s.warmup_start = 0.2;
    CHECK_CLOSE(mx_lr_factor(&s, 0), 0.2, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 2), 0.52, 1e-12, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 5), 1.0, 1e-15, 0);
    CHECK_CLOSE(mx_lr_factor(&s, 50), 1.0, 1e-15, 0);
}

/* Adam + clip by norm on 200k parameters: bit-identical with 1 and 2 threads. */
static void test_thread_independence(void) {
    enum { N = 200000 };
    float *p[2], *g = malloc(N * sizeof *g);
    const int threads = mx_threads_get();
    for (int t = 0; t < 2; t++) {
        p[t] = malloc(N * sizeof(float));
        mx_rng r;
        mx_rng_seed(&r, 3);
        for (int i = 0; i < N; i++) p[t][i] = (float)mx_rng_normal(&r);
        mx_threads_set(t + 1);
        mx_optim_config cfg = mx_optim_config_default();
        cfg.lr = 1e-2;
        mx_optim *o = NULL;
        CHECK_OK(mx_optim_create(&cfg, &o));
        CHECK_OK(mx_optim_add_buffer(o, p[t], g, N, NULL));
        CHECK_OK(mx_optim_add_group(o, 0, 0, N, 1.0, 1e-4, "all", NULL));
        for (int s = 0; s < 5; s++) {
            for (int i = 0; i < N; i++) g[i] = p[t][i] * (float)(1 + i % 7);
            double norm = 0;
            CHECK_OK(mx_optim_clip_grad_norm(o, NULL, 0, 100.0, &norm));
            CHECK(norm > 100.0);
            CHECK_OK(mx_optim_step(o));
        }
        mx_optim_free(o);
    }
    CHECK(memcmp(p[0], p[1], N * sizeof(float)) == 0);
    mx_threads_set(threads);
    free(p[0]), free(p[1]), free(g);
}

/* The vectorised Adam kernel against its scalar reference (same bits) and against the formula
 * in double, on an odd length (vector body + tail, several parallel blocks). */
static void test_adam_kernel(void) {
    enum { N = 100003 };
    float *p[2], *m[2], *v[2], *g = malloc(N * sizeof *g);
    double *pd = malloc(N * sizeof *pd), *md = calloc(N, sizeof *md), *vd = calloc(N, sizeof *vd);
    mx_rng r;
    mx_rng_seed(&r, 9);
    for (int k = 0; k < 2; k++) {
        p[k] = malloc(N * sizeof(float));
        m[k] = calloc(N, sizeof(float));
        v[k] = calloc(N, sizeof(float));
    }
    for (int i = 0; i < N; i++) pd[i] = p[0][i] = p[1][i] = (float)mx_rng_normal(&r);
    const double b1 = 0.9, b2 = 0.999, lr = 1e-2, wd = 0.05;
    for (int t = 1; t <= 4; t++) {
        for (int i = 0; i < N; i++) g[i] = (float)(mx_rng_normal(&r) * (i % 3 ? 1e-3 : 10.0));
        int adamw = t % 2; /* alternate AdamW and Adam with L2 */
        double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
        const float k[9] = {(float)(lr / bc1),
                            (float)sqrt(bc2),
                            (float)b1,
                            (float)b2,
                            (float)(1 - b1),
                            (float)(1 - b2),
                            1e-8f,
                            adamw ? 0.0f : (float)wd,
                            adamw ? (float)(1 - lr * wd) : 1.0f};
        mx_optim_adam_kernel(1, p[0], g, m[0], v[0], N, k);
        mx_optim_adam_kernel(0, p[1], g, m[1], v[1], N, k);
        for (int i = 0; i < N; i++) {
            double pi = pd[i] * (adamw ? 1 - lr * wd : 1.0), gi = g[i] + (adamw ? 0 : wd) * pi;
            md[i] = b1 * md[i] + (1 - b1) * gi;
            vd[i] = b2 * vd[i] + (1 - b2) * gi * gi;
            pd[i] = pi - lr / bc1 * md[i] / (sqrt(vd[i]) / sqrt(bc2) + 1e-8);
        }
    }
    CHECK(memcmp(p[0], p[1], N * sizeof(float)) == 0);
    CHECK(memcmp(m[0], m[1], N * sizeof(float)) == 0 && memcmp(v[0], v[1], N * sizeof(float)) == 0);
    float *pdf = malloc(N * sizeof *pdf);
    for (int i = 0; i < N; i++) pdf[i] = (float)pd[i];
    mx_test_compare("adam kernel vs double formula", p[1], pdf, N, 1e-6, 1e-6);
    for (int k = 0; k < 2; k++) free(p[k]), free(m[k]), free(v[k]);
    free(g), free(pd), free(md), free(vd), free(pdf);
}

int main(void) {
    test_against_torch();
    test_clipping();
    test_state_and_errors();
    test_schedule_values();
    test_thread_independence();
    test_adam_kernel();
    return mx_test_finish("optim");
}
