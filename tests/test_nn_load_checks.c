/* nn input checks: mx_model_load refuses NaN / Inf weights naming the tensor and element, and
 * mx_model_plan refuses a plan larger than the machine's memory naming the bytes, before any
 * buffer or oneDNN primitive is made. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrix/nn.h"
#include "mx_test.h"

static const char *tmp_path(const char *name) {
    static char buf[512];
    snprintf(buf, sizeof buf, "%s/%s", MX_BINARY_DIR, name);
    return buf;
}

static mx_model *make(uint64_t seed) {
    mx_model_config cfg = mx_model_config_default(MX_BACKBONE_SMALLCNN);
    cfg.embed_dim = 8;
    mx_rng rng;
    mx_rng_seed(&rng, seed);
    mx_model *m = NULL;
    CHECK_OK(mx_model_create(&cfg, &rng, &m));
    return m;
}

/* Index of the parameter / running statistic called name, or -1. */
static int param_index(const mx_model *m, const char *name) {
    for (int i = 0; i < mx_model_param_count(m); i++)
        if (!strcmp(mx_model_param_at(m, i)->name, name)) return i;
    return -1;
}
static int stat_index(const mx_model *m, const char *name) {
    for (int i = 0; i < mx_model_stat_count(m); i++)
        if (!strcmp(mx_model_stat_at(m, i)->name, name)) return i;
    return -1;
}

static void test_nonfinite_weights(void) {
    mx_model *a = make(1), *b = make(2);
    if (!a || !b) return;
    char path[512];
    snprintf(path, sizeof path, "%s", tmp_path("nn_load_checks.safetensors"));
    CHECK_OK(mx_model_save(a, path));
    CHECK_OK(mx_model_load(b, path, 1)); /* finite: loads */
    CHECK_OK(mx_model_check_finite(b, path));

    int pi = param_index(a, "bn2.weight"), si = stat_index(a, "bn1.running_var");
    CHECK(pi >= 0 && si >= 0);
    if (pi < 0 || si < 0) goto done;
    float *p = mx_model_params(a) + mx_model_param_at(a, pi)->offset;
    float keep = p[3];
    p[3] = NAN;
    CHECK_OK(mx_model_save(a, path));
    CHECK(mx_model_load(b, path, 1) == MX_ERR_NUMERIC);
    CHECK(strstr(mx_errmsg(), "nn_load_checks.safetensors") != NULL);
    CHECK(strstr(mx_errmsg(), "tensor 'bn2.weight': element 3 is nan") != NULL);
    p[3] = keep;

    float *s = mx_model_stats(a) + mx_model_stat_at(a, si)->offset;
    s[5] = -INFINITY;
    CHECK_OK(mx_model_save(a, path));
    CHECK(mx_model_load(b, path, 1) == MX_ERR_NUMERIC);
    CHECK(strstr(mx_errmsg(), "tensor 'bn1.running_var': element 5 is -inf") != NULL);
    s[5] = 1.0f;
    CHECK_OK(mx_model_save(a, path));
    CHECK_OK(mx_model_load(b, path, 1));
done:
    remove(path);
    mx_model_free(a);
    mx_model_free(b);
}

static void test_plan_too_large(void) {
    mx_model *m = make(3);
    if (!m) return;
    /* the estimate grows with the batch and the slots, and is computed without allocating */
    int64_t one = 0, twenty = 0, big = 0;
    mx_plan_config pc = mx_plan_config_default(1, 1, 28, 28);
    CHECK_OK(mx_model_plan_estimate(m, &pc, &one));
    CHECK(one > 28 * 28 * 4);
    pc = mx_plan_config_default(2, 10, 28, 28);
    CHECK_OK(mx_model_plan_estimate(m, &pc, &twenty));
    CHECK(twenty > 10 * one);
    pc = mx_plan_config_default(1, 1, 2, 2);
    CHECK(mx_model_plan_estimate(m, &pc, &big) == MX_ERR_SHAPE); /* too small an input */
    /* far more than any machine's memory: refused cleanly */
    int64_t huge = (int64_t)1 << 26; /* terabytes of activations */
    CHECK(mx_model_plan(m, 2, huge, 28, 28) == MX_ERR_NOMEM);
    CHECK(strstr(mx_errmsg(), "more than the") != NULL);
    CHECK_OK(mx_model_plan(m, 1, 4, 28, 28)); /* a normal plan still works afterwards */
    mx_model_free(m);
}

int main(void) {
    test_nonfinite_weights();
    test_plan_too_large();
    return mx_test_finish("test_nn_load_checks");
}
