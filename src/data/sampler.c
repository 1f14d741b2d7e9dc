/* data: batch samplers. Random (shuffle, drop last) and m-per-class (classes without
 * replacement, samples with replacement, as the official SOP / In-Shop sampler). An epoch's
 * indices are a function of (seed, epoch) only. */
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "metrix/data.h"

struct mx_sampler {
    mx_sampler_config cfg;
    int64_t n, batches;
    int n_classes, n_nonempty;
    int64_t *start;    /* [n_classes + 1] CSR offsets into by_class */
    int64_t *by_class; /* [n] example indices grouped by label */
    int32_t *nonempty; /* [n_nonempty] labels with at least one example */
};

mx_sampler_config mx_sampler_config_default(void) {
    mx_sampler_config c = {MX_SAMPLER_RANDOM, 100, 5, 0};
    return c;
}

mx_status mx_sampler_create(const mx_sampler_config *cfg, const int64_t *labels, int64_t n,
                            int n_classes, mx_sampler **out) {
    *out = NULL;
    if (cfg->kind != MX_SAMPLER_RANDOM && cfg->kind != MX_SAMPLER_M_PER_CLASS)
        return mx_error(MX_ERR_CONFIG, "sampler.kind: unknown kind %d", (int)cfg->kind);
    if (cfg->batch_size < 1)
        return mx_error(MX_ERR_CONFIG, "sampler.batch_size: expected >= 1, got %d",
                        cfg->batch_size);
    if (n < cfg->batch_size)
        return mx_error(MX_ERR_CONFIG,
                        "sampler.batch_size: %d is larger than the dataset (%ld images)",
                        cfg->batch_size, (long)n);
    if (n_classes < 1) return mx_error(MX_ERR_ARG, "sampler: n_classes %d < 1", n_classes);
    for (int64_t i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= n_classes)
            return mx_error(MX_ERR_ARG, "sampler: label[%ld] = %ld outside 0..%d", (long)i,
                            (long)labels[i], n_classes - 1);
    mx_sampler *s = calloc(1, sizeof(*s));
    if (!s) return mx_error(MX_ERR_NOMEM, "sampler: out of memory");
    s->cfg = *cfg;
    s->n = n;
    s->n_classes = n_classes;
    s->batches = n / cfg->batch_size;
    s->start = calloc((size_t)n_classes + 1, sizeof(int64_t));
    s->by_class = malloc((size_t)n * sizeof(int64_t));
    s->nonempty = malloc((size_t)n_classes * sizeof(int32_t));
    if (!s->start || !s->by_class || !s->nonempty) {
        mx_sampler_free(s);
        return mx_error(MX_ERR_NOMEM, "sampler: out of memory");
    }
    for (int64_t i = 0; i < n; i++) s->start[labels[i] + 1]++;
    for (int c = 0; c < n_classes; c++) {
        if (s->start[c + 1] > 0) s->nonempty[s->n_nonempty++] = c;
        s->start[c + 1] += s->start[c];
    }
    int64_t *fill = malloc((size_t)n_classes * sizeof(int64_t));
    if (!fill) {
        mx_sampler_free(s);
        return mx_error(MX_ERR_NOMEM, "sampler: out of memory");
    }
    memcpy(fill, s->start, (size_t)n_classes * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) s->by_class[fill[labels[i]]++] = i;
    free(fill);
    if (cfg->kind == MX_SAMPLER_M_PER_CLASS) {
        if (cfg->m < 1 || cfg->batch_size % cfg->m) {
            mx_sampler_free(s);
            return mx_error(MX_ERR_CONFIG,
                            "sampler.m: expected m >= 1 dividing batch_size %d, got %d",
                            cfg->batch_size, cfg->m);
        }
        int k = cfg->batch_size / cfg->m;
        if (s->n_nonempty < k) {
            int ne = s->n_nonempty;
            mx_sampler_free(s);
            return mx_error(MX_ERR_CONFIG,
                            "sampler: batch %d / m %d needs %d classes, the dataset has %d",
                            cfg->batch_size, cfg->m, k, ne);
        }
    }
    *out = s;
    return MX_OK;
}

void mx_sampler_free(mx_sampler *s) {
    if (!s) return;
    free(s->start);
    free(s->by_class);
    free(s->nonempty);
    free(s);
}

int64_t mx_sampler_batches(const mx_sampler *s) {
    return s->batches;
}

int mx_sampler_batch_size(const mx_sampler *s) {
    return s->cfg.batch_size;
}

mx_status mx_sampler_epoch(const mx_sampler *s, int64_t epoch, int64_t *idx) {
    mx_rng r;
    mx_rng_seed(&r, mx_hash3(s->cfg.seed, (uint64_t)epoch, 0x53414d50ull /* "SAMP" */));
    const int64_t B = s->cfg.batch_size, total = s->batches * B;
    if (s->cfg.kind == MX_SAMPLER_RANDOM) {
        /* Fisher-Yates over 0..n-1 (one full permutation), keep the first batches * B */
        int64_t *perm = malloc((size_t)s->n * sizeof(int64_t));
        if (!perm) return mx_error(MX_ERR_NOMEM, "sampler: out of memory");
        for (int64_t i = 0; i < s->n; i++) perm[i] = i;
        mx_rng_shuffle_i64(&r, perm, (size_t)s->n);
        memcpy(idx, perm, (size_t)total * sizeof(int64_t));
        free(perm);
        return MX_OK;
    }
    /* m per class: partial Fisher-Yates over the non-empty classes for each batch */
    const int m = s->cfg.m, k = s->cfg.batch_size / m;
    int32_t *cls = malloc((size_t)s->n_nonempty * sizeof(int32_t));
    if (!cls) return mx_error(MX_ERR_NOMEM, "sampler: out of memory");
    memcpy(cls, s->nonempty, (size_t)s->n_nonempty * sizeof(int32_t));
    for (int64_t b = 0; b < s->batches; b++) {
        int64_t *o = idx + b * B;
        for (int j = 0; j < k; j++) {
            int64_t p = j + (int64_t)mx_rng_below(&r, (uint64_t)(s->n_nonempty - j));
            int32_t t = cls[j];
            cls[j] = cls[p];
            cls[p] = t;
            int c = cls[j];
            int64_t cn = s->start[c + 1] - s->start[c];
            for (int q = 0; q < m; q++)
                o[j * m + q] = s->by_class[s->start[c] + (int64_t)mx_rng_below(&r, (uint64_t)cn)];
        }
    }
    free(cls);
    return MX_OK;
}
