/* metrix mix: lambda sampling, Metrix pair selection and the row-mixing kernels. */
#include <math.h>
#include <string.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"
#include "metrix/mix.h"

mx_mix_config mx_mix_config_default(void) {
    mx_mix_config c;
    memset(&c, 0, sizeof c);
    c.alpha = 2.0f;
    c.strategy = MX_MIX_POSNEG_OR_ANCHORNEG;
    c.neg_select = MX_MIX_NEG_ALL;
    c.k = 5;
    return c;
}

static const char *const strat_names[] = {
    "posneg_or_anchorneg", "posneg", "anchorneg", "both", "negneg", "pospos"};

mx_status mx_mix_strategy_parse(const char *name, mx_mix_strategy *out) {
    for (unsigned k = 0; k < sizeof strat_names / sizeof *strat_names; k++)
        if (!strcmp(name, strat_names[k])) return *out = (mx_mix_strategy)k, MX_OK;
    return mx_error(MX_ERR_CONFIG,
                    "mix: unknown strategy '%s' (expected posneg_or_anchorneg, posneg, anchorneg, "
                    "both, negneg, pospos)",
                    name);
}

struct mx_mixer {
    mx_mix_config cfg;
    int64_t max_n;
    int64_t *pos, *neg, *sel; /* per-anchor positives, negatives, selected negatives (max_n) */
    float *selv;              /* similarities of sel (HARDEST) */
};

mx_status mx_mixer_create(const mx_mix_config *cfg, int64_t max_n, mx_mixer **out) {
    *out = NULL;
    if (!(cfg->alpha > 0) || (unsigned)cfg->strategy > MX_MIX_POSPOS ||
        (unsigned)cfg->neg_select > MX_MIX_NEG_RANDOM || cfg->k < 1)
        return mx_error(MX_ERR_CONFIG,
                        "mix config: alpha %g > 0, strategy %d, neg_select %d, "
                        "k %lld >= 1 expected",
                        (double)cfg->alpha, (int)cfg->strategy, (int)cfg->neg_select,
                        (long long)cfg->k);
    if (max_n < 1) return mx_error(MX_ERR_ARG, "mx_mixer_create: max_n %lld < 1", (long long)max_n);
    mx_mixer *x = mx_calloc(1, sizeof *x);
    if (!x) return mx_error(MX_ERR_NOMEM, "mx_mixer_create: out of memory");
    x->cfg = *cfg, x->max_n = max_n;
    x->pos = mx_alloc(sizeof(int64_t) * (size_t)max_n);
    x->neg = mx_alloc(sizeof(int64_t) * (size_t)max_n);
    x->sel = mx_alloc(sizeof(int64_t) * (size_t)max_n);
    x->selv = mx_alloc(sizeof(float) * (size_t)max_n);
    if (!x->pos || !x->neg || !x->sel || !x->selv) {
        mx_mixer_free(x);
        return mx_error(MX_ERR_NOMEM, "mx_mixer_create: out of memory (max_n %lld)",
                        (long long)max_n);
    }
    *out = x;
    return MX_OK;
}

void mx_mixer_free(mx_mixer *x) {
    if (!x) return;
    mx_free(x->pos), mx_free(x->neg), mx_free(x->sel), mx_free(x->selv);
    mx_free(x);
}

/* Selects negatives of anchor a from x->neg[0..nn) into x->sel; returns their count. */
static int64_t select_negs(mx_mixer *x, int64_t a, int64_t n, int64_t nn, const float *sim,
                           mx_rng *rng) {
    int64_t k = x->cfg.k;
    switch (x->cfg.neg_select) {
    case MX_MIX_NEG_HARDEST: { /* top-k by similarity, ties to the lower index; insertion */
        int64_t c = 0;
        for (int64_t q = 0; q < nn; q++) {
            int64_t j = x->neg[q];
            float s = sim[a * n + j];
            if (c == k && !(s > x->selv[c - 1])) continue;
            int64_t t = c < k ? c++ : c - 1;
            while (t > 0 && s > x->selv[t - 1]) {
                x->sel[t] = x->sel[t - 1], x->selv[t] = x->selv[t - 1];
                t--;
            }
            x->sel[t] = j, x->selv[t] = s;
        }
        return c;
    }
    case MX_MIX_NEG_RANDOM: { /* partial Fisher-Yates */
        memcpy(x->sel, x->neg, sizeof(int64_t) * (size_t)nn);
        int64_t c = MX_MIN(k, nn);
        for (int64_t t = 0; t < c; t++) {
            int64_t r = t + (int64_t)mx_rng_below(rng, (uint64_t)(nn - t));
            int64_t tmp = x->sel[t];
            x->sel[t] = x->sel[r], x->sel[r] = tmp;
        }
        return c;
    }
    default:
        memcpy(x->sel, x->neg, sizeof(int64_t) * (size_t)nn);
        return nn;
    }
}

/* Emits one pair (counting past max_m without writing). */
static void emit(const mx_mix_config *c, mx_rng *rng, float lam, int64_t i, int64_t j, int64_t a,
                 int64_t max_m, mx_mix_pair *out, int64_t *m) {
    if (c->lambda_per_pair) lam = (float)mx_rng_beta(rng, c->alpha, c->alpha);
    if (*m < max_m) {
        mx_mix_pair p = {i, j, lam, c->anchor_all ? -1 : a};
        out[*m] = p;
    }
    (*m)++;
}

/* One strategy over all anchors. */
static void sample_strategy(mx_mixer *x, mx_mix_strategy st, int64_t n, const int64_t *labels,
                            const float *sim, mx_rng *rng, float lam, int64_t max_m,
                            mx_mix_pair *out, int64_t *m) {
    const mx_mix_config *c = &x->cfg;
    for (int64_t a = 0; a < n; a++) {
        int64_t np = 0, nn = 0;
        for (int64_t j = 0; j < n; j++) {
            if (j == a) continue;
            if (labels[j] == labels[a])
                x->pos[np++] = j;
            else
                x->neg[nn++] = j;
        }
        switch (st) {
        case MX_MIX_POSNEG: {
            if (np == 0 || nn == 0) break;
            int64_t ns = select_negs(x, a, n, nn, sim, rng);
            int64_t p0 = 0, p1 = np;
            if (!c->all_positives) p0 = (int64_t)mx_rng_below(rng, (uint64_t)np), p1 = p0 + 1;
            for (int64_t p = p0; p < p1; p++)
                for (int64_t q = 0; q < ns; q++)
                    emit(c, rng, lam, x->pos[p], x->sel[q], a, max_m, out, m);
            break;
        }
        case MX_MIX_ANCHORNEG: {
            if (np > 0 || nn == 0) break;
            int64_t ns = select_negs(x, a, n, nn, sim, rng);
            for (int64_t q = 0; q < ns; q++) emit(c, rng, lam, a, x->sel[q], a, max_m, out, m);
            break;
        }
        case MX_MIX_NEGNEG: {
            int64_t ns = nn > 1 ? select_negs(x, a, n, nn, sim, rng) : 0;
            for (int64_t q = 0; q + 1 < ns; q++)
                emit(c, rng, lam, x->sel[q], x->sel[q + 1], a, max_m, out, m);
            break;
        }
        case MX_MIX_POSPOS:
            for (int64_t p = 0; p + 1 < np; p++)
                emit(c, rng, lam, x->pos[p], x->pos[p + 1], a, max_m, out, m);
            break;
        default:
            break;
        }
    }
}

mx_status mx_mixer_sample(mx_mixer *x, int64_t n, const int64_t *labels, const float *sim,
                          mx_rng *rng, int64_t max_m, mx_mix_pair *out, int64_t *m) {
    const mx_mix_config *c = &x->cfg;
    *m = 0;
    if (n < 1 || n > x->max_n)
        return mx_error(MX_ERR_SHAPE, "mx_mixer_sample: n %lld not in [1, %lld]", (long long)n,
                        (long long)x->max_n);
    if (c->neg_select == MX_MIX_NEG_HARDEST && !sim)
        return mx_error(MX_ERR_ARG, "mx_mixer_sample: hardest negatives need the n x n clean "
                                    "similarity matrix (sim is NULL)");
    float lam = (float)mx_rng_beta(rng, c->alpha, c->alpha); /* one per batch */
    mx_mix_strategy st = c->strategy;
    if (st == MX_MIX_POSNEG_OR_ANCHORNEG) {
        int first = (int)mx_rng_below(rng, 2);
        mx_mix_strategy s0 = first ? MX_MIX_ANCHORNEG : MX_MIX_POSNEG;
        mx_mix_strategy s1 = first ? MX_MIX_POSNEG : MX_MIX_ANCHORNEG;
        sample_strategy(x, s0, n, labels, sim, rng, lam, max_m, out, m);
        if (*m == 0) sample_strategy(x, s1, n, labels, sim, rng, lam, max_m, out, m);
    } else if (st == MX_MIX_BOTH) {
        sample_strategy(x, MX_MIX_POSNEG, n, labels, sim, rng, lam, max_m, out, m);
        sample_strategy(x, MX_MIX_ANCHORNEG, n, labels, sim, rng, lam, max_m, out, m);
    } else {
        sample_strategy(x, st, n, labels, sim, rng, lam, max_m, out, m);
    }
    if (*m > max_m)
        return mx_error(MX_ERR_SHAPE,
                        "mx_mixer_sample: %lld mixed pairs selected, capacity max_m "
                        "%lld (use neg_select hardest/random with a smaller k, or a larger max_m)",
                        (long long)*m, (long long)max_m);
    return MX_OK;
}

int64_t mx_mix_subsample(mx_mix_pair *pairs, int64_t m, int64_t keep, mx_rng *rng) {
    if (keep >= m) return m;
    if (keep <= 0) return 0;
    int64_t kept = 0; /* Knuth's algorithm S: pair k is kept with probability (left to keep) /
                         (pairs left) */
    for (int64_t k = 0; k < m && kept < keep; k++)
        if ((int64_t)mx_rng_below(rng, (uint64_t)(m - k)) < keep - kept) pairs[kept++] = pairs[k];
    return kept;
}

void mx_mix_cosine(int64_t n, int64_t d, const float *emb, float *unit, float *sim) {
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t c = 0; c < d; c++) s += (double)emb[i * d + c] * emb[i * d + c];
        double nr = sqrt(s);
        float inv = (float)(1.0 / (nr > 1e-12 ? nr : 1e-12));
        for (int64_t c = 0; c < d; c++) unit[i * d + c] = emb[i * d + c] * inv;
    }
    mx_sgemm(0, 1, n, n, d, 1.0f, unit, d, unit, d, 0.0f, sim, n);
}

/* ---- row mixing ------------------------------------------------------------------------------ */

void mx_mix_rows_forward(int64_t m, int64_t len, const float *x, const mx_mix_pair *pairs,
                         float *out) {
#pragma omp parallel for schedule(static)
    for (int64_t k = 0; k < m; k++) {
        const float *xi = x + pairs[k].i * len, *xj = x + pairs[k].j * len;
        float l = pairs[k].lambda, r = 1.0f - l;
        float *o = out + k * len;
        for (int64_t c = 0; c < len; c++) o[c] = l * xi[c] + r * xj[c];
    }
}

void mx_mix_rows_backward(int64_t m, int64_t len, const float *dout, const mx_mix_pair *pairs,
                          float *dx) {
    /* threads own column blocks; within a block the k loop runs in order -> deterministic */
    const int64_t B = 256;
    int64_t nb = (len + B - 1) / B;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < nb; b++) {
        int64_t c0 = b * B, c1 = MX_MIN(len, c0 + B);
        for (int64_t k = 0; k < m; k++) {
            const float *g = dout + k * len;
            float l = pairs[k].lambda, r = 1.0f - l;
            float *di = dx + pairs[k].i * len, *dj = dx + pairs[k].j * len;
            for (int64_t c = c0; c < c1; c++) di[c] += l * g[c];
            for (int64_t c = c0; c < c1; c++) dj[c] += r * g[c];
        }
    }
}

void mx_mix_rows_forward_ref(int64_t m, int64_t len, const float *x, const mx_mix_pair *pairs,
                             float *out) {
    for (int64_t k = 0; k < m; k++)
        for (int64_t c = 0; c < len; c++)
            out[k * len + c] = (float)((double)pairs[k].lambda * x[pairs[k].i * len + c] +
                                       (1.0 - (double)pairs[k].lambda) * x[pairs[k].j * len + c]);
}

void mx_mix_rows_backward_ref(int64_t m, int64_t len, const float *dout, const mx_mix_pair *pairs,
                              float *dx) {
    for (int64_t k = 0; k < m; k++)
        for (int64_t c = 0; c < len; c++) {
            dx[pairs[k].i * len + c] += pairs[k].lambda * dout[k * len + c];
            dx[pairs[k].j * len + c] += (1.0f - pairs[k].lambda) * dout[k * len + c];
        }
}
