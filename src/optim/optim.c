/* metrix optim: SGD / Adam / AdamW over flat buffers with parameter groups, clipping, state
 * listing for checkpoints. Formulas and torch equivalence: include/metrix/optim.h. */
#include "metrix/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/core_impl.h"
#include "optim/optim_impl.h"

#define MX_OPTIM_NAME_MAX 48

typedef struct mx_optim_buffer {
    float *params; /* n, not owned */
    float *grads;  /* n, not owned */
    int64_t n;
    float *m1; /* n, owned: SGD momentum buffer or Adam exp_avg (NULL for plain SGD) */
    float *m2; /* n, owned: Adam exp_avg_sq (NULL for SGD) */
} mx_optim_buffer;

typedef struct mx_optim_group {
    int buffer;
    int64_t offset, count;
    double lr_mult, weight_decay;
    int frozen;
    char name[MX_OPTIM_NAME_MAX];
} mx_optim_group;

struct mx_optim {
    mx_optim_config cfg;
    double lr;
    mx_optim_buffer *bufs;
    int n_bufs;
    mx_optim_group *groups;
    int64_t *steps; /* one per group: the torch per-parameter 'step' */
    int n_groups;
};

mx_optim_config mx_optim_config_default(void) {
    mx_optim_config c;
    c.kind = MX_OPTIM_ADAM;
    c.lr = 1e-4;
    c.momentum = 0.0;
    c.nesterov = 0;
    c.beta1 = 0.9;
    c.beta2 = 0.999;
    c.eps = 1e-8;
    return c;
}

mx_status mx_optim_create(const mx_optim_config *cfg, mx_optim **out) {
    if (!cfg || !out) return mx_error(MX_ERR_ARG, "mx_optim_create: NULL argument");
    *out = NULL;
    if (cfg->kind != MX_OPTIM_SGD && cfg->kind != MX_OPTIM_ADAM && cfg->kind != MX_OPTIM_ADAMW)
        return mx_error(MX_ERR_CONFIG, "optim: kind = %d: expected SGD, Adam or AdamW",
                        (int)cfg->kind);
    if (!(cfg->lr >= 0) || !isfinite(cfg->lr))
        return mx_error(MX_ERR_CONFIG, "optim: lr = %g: expected a finite value >= 0", cfg->lr);
    if (cfg->kind == MX_OPTIM_SGD) {
        if (!(cfg->momentum >= 0 && cfg->momentum < 1))
            return mx_error(MX_ERR_CONFIG, "optim: momentum = %g: expected 0 <= momentum < 1",
                            cfg->momentum);
        if (cfg->nesterov && !(cfg->momentum > 0))
            return mx_error(MX_ERR_CONFIG, "optim: nesterov = 1 needs momentum > 0");
    } else {
        if (!(cfg->beta1 >= 0 && cfg->beta1 < 1))
            return mx_error(MX_ERR_CONFIG, "optim: beta1 = %g: expected 0 <= beta1 < 1",
                            cfg->beta1);
        if (!(cfg->beta2 >= 0 && cfg->beta2 < 1))
            return mx_error(MX_ERR_CONFIG, "optim: beta2 = %g: expected 0 <= beta2 < 1",
                            cfg->beta2);
        if (!(cfg->eps > 0) || !isfinite(cfg->eps))
            return mx_error(MX_ERR_CONFIG, "optim: eps = %g: expected a finite value > 0",
                            cfg->eps);
    }
    mx_optim *o = calloc(1, sizeof *o);
    if (!o) return mx_error(MX_ERR_NOMEM, "optim: out of memory");
    o->cfg = *cfg;
    o->lr = cfg->lr;
    *out = o;
    return MX_OK;
}

void mx_optim_free(mx_optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n_bufs; i++) {
        mx_free(o->bufs[i].m1);
        mx_free(o->bufs[i].m2);
    }
    free(o->bufs);
    free(o->groups);
    free(o->steps);
    free(o);
}

mx_status mx_optim_add_buffer(mx_optim *o, float *params, float *grads, int64_t n, int *buffer_id) {
    if (!o || !params || !grads) return mx_error(MX_ERR_ARG, "mx_optim_add_buffer: NULL argument");
    if (n <= 0)
        return mx_error(MX_ERR_ARG, "mx_optim_add_buffer: n = %lld: expected > 0", (long long)n);
    mx_optim_buffer b = {params, grads, n, NULL, NULL};
    int need_m1 = o->cfg.kind != MX_OPTIM_SGD || o->cfg.momentum > 0;
    int need_m2 = o->cfg.kind != MX_OPTIM_SGD;
    if (need_m1 && !(b.m1 = mx_calloc((size_t)n, sizeof(float)))) goto nomem;
    if (need_m2 && !(b.m2 = mx_calloc((size_t)n, sizeof(float)))) goto nomem;
    mx_optim_buffer *nb = realloc(o->bufs, (size_t)(o->n_bufs + 1) * sizeof *nb);
    if (!nb) goto nomem;
    o->bufs = nb;
    o->bufs[o->n_bufs] = b;
    if (buffer_id) *buffer_id = o->n_bufs;
    o->n_bufs++;
    return MX_OK;
nomem:
    mx_free(b.m1);
    mx_free(b.m2);
    return mx_error(MX_ERR_NOMEM, "optim: cannot allocate moments for %lld parameters",
                    (long long)n);
}

mx_status mx_optim_add_group(mx_optim *o, int buffer, int64_t offset, int64_t count, double lr_mult,
                             double weight_decay, const char *name, int *group_id) {
    if (!o) return mx_error(MX_ERR_ARG, "mx_optim_add_group: NULL optimizer");
    const char *nm = name ? name : "(unnamed)";
    if (buffer < 0 || buffer >= o->n_bufs)
        return mx_error(MX_ERR_ARG, "optim group '%s': buffer = %d: expected 0..%d", nm, buffer,
                        o->n_bufs - 1);
    const mx_optim_buffer *b = &o->bufs[buffer];
    if (offset < 0 || count <= 0 || offset > b->n - count)
        return mx_error(MX_ERR_ARG,
                        "optim group '%s': range [%lld, %lld) not inside buffer %d of %lld", nm,
                        (long long)offset, (long long)(offset + count), buffer, (long long)b->n);
    if (!(lr_mult >= 0) || !isfinite(lr_mult))
        return mx_error(MX_ERR_CONFIG, "optim group '%s': lr_mult = %g: expected >= 0", nm,
                        lr_mult);
    if (!(weight_decay >= 0) || !isfinite(weight_decay))
        return mx_error(MX_ERR_CONFIG, "optim group '%s': weight_decay = %g: expected >= 0", nm,
                        weight_decay);
    for (int i = 0; i < o->n_groups; i++) {
        const mx_optim_group *g = &o->groups[i];
        if (g->buffer == buffer && offset < g->offset + g->count && g->offset < offset + count)
            return mx_error(MX_ERR_ARG, "optim group '%s': range [%lld, %lld) overlaps group '%s'",
                            nm, (long long)offset, (long long)(offset + count), g->name);
    }
    mx_optim_group *ng = realloc(o->groups, (size_t)(o->n_groups + 1) * sizeof *ng);
    if (!ng) return mx_error(MX_ERR_NOMEM, "optim: out of memory");
    o->groups = ng;
    int64_t *ns = realloc(o->steps, (size_t)(o->n_groups + 1) * sizeof *ns);
    if (!ns) return mx_error(MX_ERR_NOMEM, "optim: out of memory");
    o->steps = ns;
    mx_optim_group *g = &o->groups[o->n_groups];
    memset(g, 0, sizeof *g);
    g->buffer = buffer;
    g->offset = offset;
    g->count = count;
    g->lr_mult = lr_mult;
    g->weight_decay = weight_decay;
    if (name)
        snprintf(g->name, sizeof g->name, "%s", name);
    else
        snprintf(g->name, sizeof g->name, "group%d", o->n_groups);
    o->steps[o->n_groups] = 0;
    if (group_id) *group_id = o->n_groups;
    o->n_groups++;
    return MX_OK;
}

int mx_optim_group_count(const mx_optim *o) {
    return o ? o->n_groups : 0;
}

mx_status mx_optim_set_frozen(mx_optim *o, int group, int frozen) {
    if (!o || group < 0 || group >= o->n_groups)
        return mx_error(MX_ERR_ARG, "mx_optim_set_frozen: group = %d: expected 0..%d", group,
                        o ? o->n_groups - 1 : -1);
    o->groups[group].frozen = frozen != 0;
    return MX_OK;
}

int mx_optim_is_frozen(const mx_optim *o, int group) {
    MX_ASSERT(o && group >= 0 && group < o->n_groups);
    return o->groups[group].frozen;
}

int mx_optim_find_group(const mx_optim *o, const char *name) {
    if (!o || !name) return -1;
    for (int i = 0; i < o->n_groups; i++)
        if (strcmp(o->groups[i].name, name) == 0) return i;
    return -1;
}

void mx_optim_set_lr(mx_optim *o, double lr) {
    MX_ASSERT(o);
    o->lr = lr;
}

double mx_optim_get_lr(const mx_optim *o) {
    MX_ASSERT(o);
    return o->lr;
}

void mx_optim_zero_grad(mx_optim *o) {
    MX_ASSERT(o);
    for (int i = 0; i < o->n_bufs; i++)
        memset(o->bufs[i].grads, 0, (size_t)o->bufs[i].n * sizeof(float));
}

/* 1 if every g[0..n) is finite. */
static int all_finite(const float *g, int64_t n) {
    int bad = 0;
#pragma omp parallel for reduction(| : bad) schedule(static)
    for (int64_t i = 0; i < n; i++) bad |= !isfinite(g[i]);
    return !bad;
}

/* torch.optim.SGD, single-tensor path, dampening 0. Zero-initialised b equals torch's b = g on
 * the first step because b = mu*0 + g. */
static void sgd_update(float *restrict p, const float *restrict g, float *restrict b, int64_t n,
                       float lr, float wd, float mu, int nesterov) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float d = g[i];
        if (wd != 0.0f) d = d + wd * p[i];
        if (b) {
            float bi = mu * b[i] + d;
            b[i] = bi;
            d = nesterov ? d + mu * bi : bi;
        }
        p[i] = p[i] - lr * d;
    }
}

/* torch.optim.Adam / AdamW, single-tensor path; operation order kept for float agreement:
 *   p *= decoupled (AdamW: 1 - lr wd, else 1); g += wd p (Adam: L2 decay, else wd = 0);
 *   m = m b1 + c1 g; v = v b2 + (c2 g) g; p -= step_size * (m / (sqrt(v) / bc2_sqrt + eps)).
 * x * 1 and g + 0 * p are exact, so the body is branch-free. */
typedef struct adam_consts {
    float step_size, bc2_sqrt, b1, b2, c1, c2, eps, wd, decoupled;
} adam_consts;

/* The scalar form: the reference, and the tail of the vector loop. */
static void adam_scalar(float *restrict p, const float *restrict g, float *restrict m,
                        float *restrict v, int64_t n, adam_consts k) {
    for (int64_t i = 0; i < n; i++) {
        float pi = p[i] * k.decoupled;
        float gi = g[i] + k.wd * pi;
        float mi = m[i] * k.b1 + k.c1 * gi;
        float vi = v[i] * k.b2 + k.c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        float denom = sqrtf(vi) / k.bc2_sqrt + k.eps;
        p[i] = pi - k.step_size * (mi / denom);
    }
}

/* The same operations 4 lanes at a time. GCC will not vectorise the scalar loop itself because
 * sqrtf may set errno (no -fno-math-errno in the build); SSE sqrt / div are correctly rounded
 * and there is no FMA, so both forms give the same bits (tested). 3.5x the scalar loop. */
static void adam_chunk(float *restrict p, const float *restrict g, float *restrict m,
                       float *restrict v, int64_t n, adam_consts k) {
    int64_t i = 0;
#if defined(__SSE2__)
    const __m128 dec = _mm_set1_ps(k.decoupled), wd = _mm_set1_ps(k.wd), b1 = _mm_set1_ps(k.b1),
                 b2 = _mm_set1_ps(k.b2), c1 = _mm_set1_ps(k.c1), c2 = _mm_set1_ps(k.c2),
                 bc2 = _mm_set1_ps(k.bc2_sqrt), eps = _mm_set1_ps(k.eps),
                 ss = _mm_set1_ps(k.step_size);
    for (; i + 4 <= n; i += 4) {
        __m128 pi = _mm_mul_ps(_mm_loadu_ps(p + i), dec);
        __m128 gi = _mm_add_ps(_mm_loadu_ps(g + i), _mm_mul_ps(wd, pi));
        __m128 mi = _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(m + i), b1), _mm_mul_ps(c1, gi));
        __m128 vi =
            _mm_add_ps(_mm_mul_ps(_mm_loadu_ps(v + i), b2), _mm_mul_ps(_mm_mul_ps(c2, gi), gi));
        _mm_storeu_ps(m + i, mi);
        _mm_storeu_ps(v + i, vi);
        __m128 denom = _mm_add_ps(_mm_div_ps(_mm_sqrt_ps(vi), bc2), eps);
        _mm_storeu_ps(p + i, _mm_sub_ps(pi, _mm_mul_ps(ss, _mm_div_ps(mi, denom))));
    }
#endif
    adam_scalar(p + i, g + i, m + i, v + i, n - i, k);
}

#define ADAM_BLOCK 16384 /* elements per parallel work item */

static void adam_update(float *p, const float *g, float *m, float *v, int64_t n, adam_consts k) {
    const int64_t nb = (n + ADAM_BLOCK - 1) / ADAM_BLOCK;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t lo = b * ADAM_BLOCK, len = MX_MIN(ADAM_BLOCK, n - lo);
        adam_chunk(p + lo, g + lo, m + lo, v + lo, len, k);
    }
}

void mx_optim_adam_kernel(int ref, float *p, const float *g, float *m, float *v, int64_t n,
                          const float consts[9]) {
    adam_consts k = {consts[0], consts[1], consts[2], consts[3], consts[4],
                     consts[5], consts[6], consts[7], consts[8]};
    if (ref)
        adam_scalar(p, g, m, v, n, k);
    else
        adam_update(p, g, m, v, n, k);
}

mx_status mx_optim_step(mx_optim *o) {
    MX_ASSERT(o);
    for (int k = 0; k < o->n_groups; k++) {
        const mx_optim_group *gr = &o->groups[k];
        if (gr->frozen) continue;
        const mx_optim_buffer *b = &o->bufs[gr->buffer];
        if (!all_finite(b->grads + gr->offset, gr->count))
            return mx_error(MX_ERR_NUMERIC, "optim step: group '%s' has a NaN/Inf gradient",
                            gr->name);
    }
    const mx_optim_config *c = &o->cfg;
    for (int k = 0; k < o->n_groups; k++) {
        const mx_optim_group *gr = &o->groups[k];
        if (gr->frozen) continue;
        const mx_optim_buffer *b = &o->bufs[gr->buffer];
        float *p = b->params + gr->offset;
        const float *g = b->grads + gr->offset;
        double lr = o->lr * gr->lr_mult;
        int64_t t = ++o->steps[k];
        if (c->kind == MX_OPTIM_SGD) {
            sgd_update(p, g, b->m1 ? b->m1 + gr->offset : NULL, gr->count, (float)lr,
                       (float)gr->weight_decay, (float)c->momentum, c->nesterov);
        } else {
            double bc1 = 1.0 - pow(c->beta1, (double)t);
            double bc2 = 1.0 - pow(c->beta2, (double)t);
            int adamw = c->kind == MX_OPTIM_ADAMW;
            float decoupled = adamw ? (float)(1.0 - lr * gr->weight_decay) : 1.0f;
            adam_consts kc = {(float)(lr / bc1), (float)sqrt(bc2), (float)c->beta1, (float)c->beta2,
                              /* 1 - beta in double, then rounded, as torch's Python scalars
                               * (1.0f - 0.999f is 1.3e-5 off) */
                              (float)(1.0 - c->beta1), (float)(1.0 - c->beta2), (float)c->eps,
                              adamw ? 0.0f : (float)gr->weight_decay, decoupled};
            adam_update(p, g, b->m1 + gr->offset, b->m2 + gr->offset, gr->count, kc);
        }
    }
    return MX_OK;
}

/* ---- clipping ----------------------------------------------------------------------------- */

void mx_clip_grad_value(float *grads, int64_t n, float clip) {
    MX_ASSERT(grads || n == 0);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        float x = grads[i];
        grads[i] = x < -clip ? -clip : (x > clip ? clip : x);
    }
}

/* Checks a group list; NULL means all non-frozen groups (selected[k] = 1). */
static mx_status select_groups(const mx_optim *o, const int *groups, int n_groups, const char *what,
                               unsigned char *selected) {
    if (!groups) {
        for (int k = 0; k < o->n_groups; k++) selected[k] = !o->groups[k].frozen;
        return MX_OK;
    }
    memset(selected, 0, (size_t)o->n_groups);
    for (int i = 0; i < n_groups; i++) {
        if (groups[i] < 0 || groups[i] >= o->n_groups)
            return mx_error(MX_ERR_ARG, "%s: groups[%d] = %d: expected 0..%d", what, i, groups[i],
                            o->n_groups - 1);
        selected[groups[i]] = 1;
    }
    return MX_OK;
}

mx_status mx_optim_clip_grad_value(mx_optim *o, const int *groups, int n_groups, float clip) {
    if (!o) return mx_error(MX_ERR_ARG, "mx_optim_clip_grad_value: NULL optimizer");
    if (!(clip >= 0))
        return mx_error(MX_ERR_ARG, "mx_optim_clip_grad_value: clip = %g: expected >= 0",
                        (double)clip);
    unsigned char sel[o->n_groups > 0 ? o->n_groups : 1];
    MX_TRY(select_groups(o, groups, n_groups, "mx_optim_clip_grad_value", sel));
    for (int k = 0; k < o->n_groups; k++) {
        if (!sel[k]) continue;
        const mx_optim_group *gr = &o->groups[k];
        mx_clip_grad_value(o->bufs[gr->buffer].grads + gr->offset, gr->count, clip);
    }
    return MX_OK;
}

/* Sum of g[i]^2 in double over NORM_CHUNKS fixed slices added in order: the same bits whatever
 * the thread count. */
#define NORM_CHUNKS 64
static double sum_squares(const float *g, int64_t n) {
    double part[NORM_CHUNKS];
#pragma omp parallel for schedule(static)
    for (int c = 0; c < NORM_CHUNKS; c++) {
        int64_t lo = n * c / NORM_CHUNKS, hi = n * (c + 1) / NORM_CHUNKS;
        double s = 0.0;
        for (int64_t i = lo; i < hi; i++) s += (double)g[i] * g[i];
        part[c] = s;
    }
    double s = 0.0;
    for (int c = 0; c < NORM_CHUNKS; c++) s += part[c];
    return s;
}

mx_status mx_optim_clip_grad_norm(mx_optim *o, const int *groups, int n_groups, double max_norm,
                                  double *total_norm) {
    if (!o) return mx_error(MX_ERR_ARG, "mx_optim_clip_grad_norm: NULL optimizer");
    if (!(max_norm > 0))
        return mx_error(MX_ERR_ARG, "mx_optim_clip_grad_norm: max_norm = %g: expected > 0",
                        max_norm);
    unsigned char sel[o->n_groups > 0 ? o->n_groups : 1];
    MX_TRY(select_groups(o, groups, n_groups, "mx_optim_clip_grad_norm", sel));
    double ss = 0.0; /* sum of squares in double */
    for (int k = 0; k < o->n_groups; k++) {
        if (!sel[k]) continue;
        const mx_optim_group *gr = &o->groups[k];
        const float *g = o->bufs[gr->buffer].grads + gr->offset;
        ss += sum_squares(g, gr->count);
    }
    double norm = sqrt(ss);
    if (total_norm) *total_norm = norm;
    if (!isfinite(norm))
        return mx_error(MX_ERR_NUMERIC, "mx_optim_clip_grad_norm: gradient norm is %g", norm);
    double coef = max_norm / (norm + 1e-6);
    if (coef >= 1.0) return MX_OK; /* torch multiplies by 1.0: a no-op */
    float cf = (float)coef;
    for (int k = 0; k < o->n_groups; k++) {
        if (!sel[k]) continue;
        const mx_optim_group *gr = &o->groups[k];
        float *g = o->bufs[gr->buffer].grads + gr->offset;
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < gr->count; i++) g[i] *= cf;
    }
    return MX_OK;
}

/* ---- state ------------------------------------------------------------------------------- */

static int moments_per_buffer(const mx_optim *o) {
    if (o->cfg.kind != MX_OPTIM_SGD) return 2;
    return o->cfg.momentum > 0 ? 1 : 0;
}

int mx_optim_state_count(const mx_optim *o) {
    if (!o) return 0;
    return o->n_bufs * moments_per_buffer(o) + (o->n_groups > 0 ? 1 : 0);
}

mx_status mx_optim_state_get(mx_optim *o, int i, mx_optim_state_entry *out) {
    if (!o || !out) return mx_error(MX_ERR_ARG, "mx_optim_state_get: NULL argument");
    int count = mx_optim_state_count(o), per = moments_per_buffer(o);
    if (i < 0 || i >= count)
        return mx_error(MX_ERR_ARG, "mx_optim_state_get: i = %d: expected 0..%d", i, count - 1);
    memset(out, 0, sizeof *out);
    if (i == count - 1) {
        snprintf(out->name, sizeof out->name, "steps");
        out->type = MX_OPTIM_STATE_I64;
        out->data = o->steps;
        out->numel = o->n_groups;
        return MX_OK;
    }
    const mx_optim_buffer *b = &o->bufs[i / per];
    int which = i % per;
    const char *nm = o->cfg.kind == MX_OPTIM_SGD ? "momentum" : (which ? "exp_avg_sq" : "exp_avg");
    snprintf(out->name, sizeof out->name, "buf%d.%s", i / per, nm);
    out->type = MX_OPTIM_STATE_F32;
    out->data = which ? b->m2 : b->m1;
    out->numel = b->n;
    return MX_OK;
}
