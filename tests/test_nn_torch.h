/* Shared body of test_nn_torch.c and test_nn_torch_slow.c: the nn model against PyTorch
 * (tests/ref/nn_torch_ref.py, run at test time into the build directory; skipped with a message
 * when /usr/bin/python3 has no torch). Compares embeddings, the loss
 * L = sum_ij (E E^T)_ij R_ij, every parameter gradient and the updated BN running statistics. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/io.h"
#include "metrix/nn.h"
#include "mx_test.h"

static float nt_maxabs(const float *a, int64_t n) {
    float m = 0;
    for (int64_t i = 0; i < n; i++) m = fabsf(a[i]) > m ? fabsf(a[i]) : m;
    return m;
}

/* Compares got with want with atol = tol * max|want| (float errors scale with the tensor). */
static void nt_compare(const char *what, const float *got, const float *want, int64_t n,
                       double tol) {
    double d = mx_test_compare(what, got, want, (size_t)n, tol * nt_maxabs(want, n) + 1e-7, 0);
    (void)d;
}

/* Relative Frobenius distance ||got - want|| / ||want|| (double accumulation). */
static double nt_rel_l2(const float *got, const float *want, int64_t n) {
    double e = 0, w = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = (double)got[i] - want[i];
        e += d * d;
        w += (double)want[i] * want[i];
    }
    return sqrt(e / (w > 0 ? w : 1e-300));
}

/* batch, size: 0 = the script's defaults (smallcnn 4 x 28, ResNets 2 x 64). trunk_l2: 0 =
 * compare every gradient elementwise (atol = tol_grad x max|grad|); > 0 = compare the head's
 * gradients elementwise and each trunk gradient by relative Frobenius norm <= trunk_l2 (for
 * train-mode BN in deep nets, where single ReLU-mask flips move individual entries by 10-40% of
 * max|grad| even in float64 under float32-sized perturbations, see test_nn_torch_slow.c);
 * embeddings, loss and running statistics are always compared. */
static int nn_torch_check_at(const char *backbone, int frozen_bn, int batch, int size,
                             double trunk_l2, double tol_emb, double tol_grad) {
    if (system("/usr/bin/python3 -c 'import torch, torchvision' >/dev/null 2>&1") != 0) {
        printf("SKIP: /usr/bin/python3 with torch and torchvision is not available\n");
        return 0;
    }
    char dir[512], cmd[2048], wpath[600], rpath[600];
    snprintf(dir, sizeof dir, "%s/nn_torch_%s%s_%dx%d", MX_BINARY_DIR, backbone,
             frozen_bn ? "_frozen" : "", batch, size);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tests/ref/nn_torch_ref.py --backbone %s --out %s%s --batch %d "
             "--size %d",
             MX_SOURCE_DIR, backbone, dir, frozen_bn ? " --frozen-bn" : "", batch, size);
    CHECK(system(cmd) == 0);
    snprintf(wpath, sizeof wpath, "%s/weights.safetensors", dir);
    snprintf(rpath, sizeof rpath, "%s/ref.safetensors", dir);
    mx_safetensors *ref = NULL;
    CHECK_OK(mx_st_open(rpath, &ref));
    if (!ref) return 1;
    const mx_tensor_view *xv = mx_st_find(ref, "input"), *ev = mx_st_find(ref, "emb");
    CHECK(xv && ev && xv->ndim == 4 && ev->ndim == 2);
    if (!xv || !ev) return 1;
    int64_t n = xv->shape[0], c = xv->shape[1], h = xv->shape[2], w = xv->shape[3];
    int d = (int)ev->shape[1];
    mx_backbone bb;
    CHECK(mx_backbone_from_name(backbone, &bb));
    mx_model_config cfg = mx_model_config_default(bb);
    cfg.embed_dim = d;
    cfg.in_channels = (int)c;
    mx_rng rng;
    mx_rng_seed(&rng, 1);
    mx_model *m = NULL;
    CHECK_OK(mx_model_create(&cfg, &rng, &m));
    CHECK_OK(mx_model_load(m, wpath, 1));
    CHECK_OK(mx_model_plan(m, 1, n, (int)h, (int)w));
    mx_model_set_train(m, !frozen_bn);
    int64_t xl = n * c * h * w, np = mx_model_n_params(m);
    float *x = malloc((size_t)xl * 4), *R = malloc((size_t)(n * n) * 4),
          *E = malloc((size_t)(n * d) * 4);
    float *Et = malloc((size_t)(n * d) * 4), *dE = calloc((size_t)(n * d), 4), loss_t;
    float *want = malloc((size_t)np * 4);
    int64_t rs[2] = {n, n}, es[2] = {n, d}, ls[1] = {1};
    CHECK_OK(mx_st_read_f32(ref, "input", 4, xv->shape, x));
    CHECK_OK(mx_st_read_f32(ref, "R", 2, rs, R));
    CHECK_OK(mx_st_read_f32(ref, "emb", 2, es, Et));
    CHECK_OK(mx_st_read_f32(ref, "loss", 1, ls, &loss_t));
    mx_model_zero_grad(m);
    CHECK_OK(mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, E));
    char what[160];
    snprintf(what, sizeof what, "%s embeddings", backbone);
    nt_compare(what, E, Et, n * d, tol_emb);
    /* L = sum_ij (E E^T)_ij R_ij; dL/dE = (R + R^T) E */
    double loss = 0;
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) {
            double g = 0;
            for (int k = 0; k < d; k++) g += (double)E[i * d + k] * E[j * d + k];
            loss += g * R[i * n + j];
            for (int k = 0; k < d; k++)
                dE[i * d + k] += (R[i * n + j] + R[j * n + i]) * E[j * d + k];
        }
    CHECK_CLOSE(loss, loss_t, 1e-4, 1e-4);
    printf("%s: loss %.6f (torch %.6f)\n", backbone, loss, loss_t);
    CHECK_OK(mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, dE, NULL));
    int bad = 0;
    double worst_l2 = 0, worst_max = 0;
    const char *worst_l2_name = "-", *worst_max_name = "-";
    for (int i = 0; i < mx_model_param_count(m); i++) {
        const mx_param_info *p = mx_model_param_at(m, i);
        const float *got = mx_model_grads(m) + p->offset;
        snprintf(what, sizeof what, "grad.%s", p->name);
        int before = mx_test_failures;
        CHECK_OK(mx_st_read_f32(ref, what, p->ndim, p->shape, want));
        if (trunk_l2 > 0 && !p->head) {
            double l2 = nt_rel_l2(got, want, p->numel), mx = 0, mw = nt_maxabs(want, p->numel);
            for (int64_t j = 0; j < p->numel; j++)
                mx = fabs((double)got[j] - want[j]) > mx ? fabs((double)got[j] - want[j]) : mx;
            mx /= mw > 0 ? mw : 1;
            if (l2 > worst_l2) worst_l2 = l2, worst_l2_name = p->name;
            if (mx > worst_max) worst_max = mx, worst_max_name = p->name;
            if (!(l2 <= trunk_l2)) {
                printf("FAIL %s: relative L2 distance %.3e > %.1e\n", what, l2, trunk_l2);
                mx_test_failures++;
            }
        } else {
            nt_compare(what, got, want, p->numel, tol_grad);
        }
        bad += mx_test_failures != before;
    }
    printf("%s%s %lldx%lld: %d parameter gradients compared, %d out of tolerance (head %.0e x "
           "max|grad|; trunk %s %.0e)\n",
           backbone, frozen_bn ? " (frozen BN)" : "", (long long)n, (long long)h,
           mx_model_param_count(m), bad, tol_grad,
           trunk_l2 > 0 ? "relative L2" : "elementwise, x max|grad|",
           trunk_l2 > 0 ? trunk_l2 : tol_grad);
    if (trunk_l2 > 0)
        printf("  trunk: worst relative L2 %.2e (%s), worst max|diff|/max|grad| %.2e (%s)\n",
               worst_l2, worst_l2_name, worst_max, worst_max_name);
    for (int i = 0; i < mx_model_stat_count(m); i++) {
        const mx_stat_info *s = mx_model_stat_at(m, i);
        snprintf(what, sizeof what, "after.%s", s->name);
        CHECK_OK(mx_st_read_f32(ref, what, 1, &s->numel, want));
        mx_test_compare(what, mx_model_stats(m) + s->offset, want, (size_t)s->numel, 1e-5, 1e-4);
    }
    free(x), free(R), free(E), free(Et), free(dE), free(want);
    mx_st_free(ref);
    mx_model_free(m);
    return 0;
}

static int nn_torch_check(const char *backbone, int frozen_bn, double tol_emb, double tol_grad) {
    return nn_torch_check_at(backbone, frozen_bn, 0, 0, 0.0, tol_emb, tol_grad);
}
