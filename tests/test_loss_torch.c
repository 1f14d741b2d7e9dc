/* loss vs PyTorch autograd: tests/fixtures/loss/torch_ref.txt (made by tests/ref/loss_torch_ref.py)
 * holds random batches of several sizes for every loss and every mixing type with the loss values
 * and the gradients w.r.t. embeddings, mixed embeddings and proxies. The double reference must
 * match to 1e-8, the float GEMM path to float tolerance. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/loss.h"
#include "mx_test.h"

static int expect(FILE *f, const char *tag) {
    char buf[64];
    if (fscanf(f, "%63s", buf) != 1 || strcmp(buf, tag)) {
        fprintf(stderr, "fixture: expected '%s', got '%s'\n", tag, buf);
        return 0;
    }
    return 1;
}

static int read_d(FILE *f, const char *tag, double *x, int64_t n) {
    if (!expect(f, tag)) return 0;
    for (int64_t i = 0; i < n; i++)
        if (fscanf(f, "%lf", &x[i]) != 1) return 0;
    return 1;
}

static double maxabs(const double *x, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs(x[i]));
    return m;
}

/* |got - want| <= tol * (max |want| + 1e-3), elementwise */
static void cmp(const char *name, const char *what, const double *got, const double *want,
                int64_t n, double tol) {
    double sc = tol * (maxabs(want, n) + 1e-3), worst = 0;
    int64_t wi = -1;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs(got[i] - want[i]);
        if (!(e <= worst)) worst = e, wi = i;
    }
    mx_test_checks++;
    if (wi >= 0 && !(worst <= sc)) {
        mx_test_failures++;
        fprintf(stderr, "%s %s: [%lld] got %.9g want %.9g (tol %.3g)\n", name, what, (long long)wi,
                got[wi], want[wi], sc);
    }
}

int main(void) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/fixtures/loss/torch_ref.txt", MX_SOURCE_DIR);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return mx_test_finish("loss_torch");
    char line[512];
    CHECK(fgets(line, sizeof line, f) != NULL); /* comment */
    int ncase = 0;
    CHECK(fscanf(f, "%d", &ncase) == 1 && ncase > 0);
    for (int c = 0; c < ncase; c++) {
        char name[128];
        long long kind, n, d, C, m;
        if (!expect(f, "case") || fscanf(f, "%127s kind %lld n %lld d %lld C %lld m %lld", name,
                                         &kind, &n, &d, &C, &m) != 6) {
            CHECK(0);
            break;
        }
        double cf[13], loss[3];
        double *e = malloc(8 * (size_t)(n * d)), *P = malloc(8 * (size_t)(C * d));
        double *v = malloc(8 * (size_t)(m * d + 1));
        double *ge = malloc(8 * (size_t)(n * d)), *gv = malloc(8 * (size_t)(m * d + 1));
        double *gp = malloc(8 * (size_t)(C * d));
        int64_t *y = malloc(8 * (size_t)n);
        mx_mix_pair *pr = malloc(sizeof *pr * (size_t)(m + 1));
        int ok = read_d(f, "cfg", cf, 13) && read_d(f, "emb", e, n * d) && expect(f, "labels");
        for (int64_t i = 0; ok && i < n; i++) ok = fscanf(f, "%lld", (long long *)&y[i]) == 1;
        ok = ok && read_d(f, "proxies", P, C * d) && expect(f, "pairs");
        for (int64_t k = 0; ok && k < m; k++) {
            long long i, j, a;
            float lam;
            ok = fscanf(f, "%lld %lld %f %lld", &i, &j, &lam, &a) == 4;
            pr[k].i = i, pr[k].j = j, pr[k].lambda = lam, pr[k].anchor = a;
        }
        ok = ok && read_d(f, "mixed", v, m * d) && read_d(f, "loss", loss, 3) &&
             read_d(f, "d_emb", ge, n * d) && read_d(f, "d_mixed", gv, m * d) &&
             read_d(f, "d_proxies", gp, C * d);
        CHECK(ok);
        if (!ok) break;
        mx_loss_config cfg = mx_loss_config_default((mx_loss_kind)kind);
        cfg.mix_weight = (float)cf[0], cfg.pos_margin = (float)cf[1], cfg.neg_margin = (float)cf[2];
        cfg.ms_beta = (float)cf[3], cfg.ms_gamma = (float)cf[4], cfg.ms_margin = (float)cf[5];
        cfg.ms_eps = (float)cf[6], cfg.ms_miner = (int)cf[7], cfg.pa_alpha = (float)cf[8];
        cfg.pa_delta = (float)cf[9], cfg.triplet_margin = (float)cf[10];
        cfg.triplet_mining = (mx_triplet_mining)cf[11], cfg.nca_scale = (float)cf[12];
        /* the C config holds float parameters (17.97 etc.): ~1e-8 relative, inside tolerance */
        int proxy = kind == MX_LOSS_PROXY_ANCHOR || kind == MX_LOSS_PROXY_NCA;
        int64_t Cn = proxy ? C : 0;
        double *he = calloc((size_t)(n * d), 8), *hv = calloc((size_t)(m * d + 1), 8);
        double *hp = calloc((size_t)(C * d), 8);
        mx_loss_result r;
        CHECK_OK(mx_loss_compute_ref(&cfg, n, d, e, y, Cn, P, m, v, pr, &r, he, hv, hp));
        char nm[160];
        snprintf(nm, sizeof nm, "%s (ref)", name);
        CHECK_CLOSE(r.total, loss[0], 1e-6, 1e-6);
        CHECK_CLOSE(r.clean, loss[1], 1e-6, 1e-6);
        CHECK_CLOSE(r.mixed, loss[2], 1e-6, 1e-6);
        cmp(nm, "d_emb", he, ge, n * d, 1e-5);
        cmp(nm, "d_mixed", hv, gv, m * d, 1e-5);
        if (proxy) cmp(nm, "d_proxies", hp, gp, C * d, 1e-5);
        /* float GEMM path */
        float *ef = malloc(4 * (size_t)(n * d)), *vf = malloc(4 * (size_t)(m * d + 1));
        float *pf = malloc(4 * (size_t)(C * d)), *gef = calloc((size_t)(n * d), 4);
        float *gvf = calloc((size_t)(m * d + 1), 4), *gpf = calloc((size_t)(C * d), 4);
        for (int64_t i = 0; i < n * d; i++) ef[i] = (float)e[i];
        for (int64_t i = 0; i < m * d; i++) vf[i] = (float)v[i];
        for (int64_t i = 0; i < C * d; i++) pf[i] = (float)P[i];
        mx_loss *l;
        CHECK_OK(mx_loss_create(&cfg, n, m, d, Cn, &l));
        CHECK_OK(mx_loss_compute(l, n, ef, y, proxy ? pf : NULL, m, vf, pr, &r, gef, gvf, gpf));
        CHECK_CLOSE(r.total, loss[0], 1e-5, 1e-4);
        for (int64_t i = 0; i < n * d; i++) he[i] = gef[i];
        for (int64_t i = 0; i < m * d; i++) hv[i] = gvf[i];
        for (int64_t i = 0; i < C * d; i++) hp[i] = gpf[i];
        snprintf(nm, sizeof nm, "%s (float)", name);
        cmp(nm, "d_emb", he, ge, n * d, 2e-3);
        cmp(nm, "d_mixed", hv, gv, m * d, 2e-3);
        if (proxy) cmp(nm, "d_proxies", hp, gp, C * d, 2e-3);
        mx_loss_free(l);
        free(ef), free(vf), free(pf), free(gef), free(gvf), free(gpf), free(he), free(hv);
        free(hp), free(e), free(P), free(v), free(ge), free(gv), free(gp), free(y), free(pr);
    }
    fclose(f);
    return mx_test_finish("loss_torch");
}
