/* io: checkpoint container on top of safetensors: named tensors (parameters, running stats,
 * optimizer moments, counters, RNG states) plus string metadata, written atomically and read
 * back with strict checks. The names are the trainer's business. */
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "io/io_impl.h"
#include "metrix/io.h"

typedef struct {
    mx_tensor_view v; /* v.name owned; v.data referenced unless inline_n > 0 */
    uint64_t inl[4];  /* small values copied at add time (scalars, RNG states) */
    int inline_n;
} ckpt_entry;

struct mx_ckpt {
    ckpt_entry *e;
    size_t n, cap;
    char **meta; /* [2 * n_meta] owned key, value */
    size_t n_meta, cap_meta;
};

mx_status mx_ckpt_create(mx_ckpt **out) {
    if (!out) return mx_error(MX_ERR_ARG, "mx_ckpt_create: NULL argument");
    *out = calloc(1, sizeof **out);
    return *out ? MX_OK : mx_error(MX_ERR_NOMEM, "mx_ckpt_create: out of memory");
}

void mx_ckpt_free(mx_ckpt *c) {
    if (!c) return;
    for (size_t i = 0; i < c->n; i++) free((char *)c->e[i].v.name);
    for (size_t i = 0; i < 2 * c->n_meta; i++) free(c->meta[i]);
    free(c->e);
    free(c->meta);
    free(c);
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static mx_status add_entry(mx_ckpt *c, const char *name, mx_dtype dtype, int ndim,
                           const int64_t *shape, const void *data, const void *inl, int inline_n) {
    if (!c || !name || !name[0] || (ndim > 0 && !shape))
        return mx_error(MX_ERR_ARG, "mx_ckpt_add: NULL or empty argument");
    if ((unsigned)dtype >= MX_DTYPE_COUNT || ndim < 0 || ndim > MX_MAX_DIMS)
        return mx_error(MX_ERR_ARG, "mx_ckpt_add: tensor '%s': bad dtype %d or ndim %d", name,
                        (int)dtype, ndim);
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->e[i].v.name, name) == 0)
            return mx_error(MX_ERR_ARG, "mx_ckpt_add: duplicate tensor name '%s'", name);
    int64_t numel;
    if (!mx_io_numel(ndim, shape, &numel) || numel > INT64_MAX / (int64_t)mx_dtype_size(dtype))
        return mx_error(MX_ERR_ARG, "mx_ckpt_add: tensor '%s': negative or overflowing shape",
                        name);
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        ckpt_entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) return mx_error(MX_ERR_NOMEM, "mx_ckpt_add: out of memory");
        c->e = e;
        c->cap = cap;
    }
    ckpt_entry *e = &c->e[c->n];
    memset(e, 0, sizeof *e);
    if (!(e->v.name = dup_str(name))) return mx_error(MX_ERR_NOMEM, "mx_ckpt_add: out of memory");
    e->v.dtype = dtype;
    e->v.ndim = ndim;
    for (int i = 0; i < ndim; i++) e->v.shape[i] = shape[i];
    e->v.nbytes = (size_t)numel * mx_dtype_size(dtype);
    e->v.data = data;
    if (inline_n) memcpy(e->inl, inl, 8 * (size_t)inline_n); /* inline_n <= 4 words */
    e->inline_n = inline_n;
    c->n++;
    return MX_OK;
}

mx_status mx_ckpt_add(mx_ckpt *c, const char *name, mx_dtype dtype, int ndim, const int64_t *shape,
                      const void *data) {
    return add_entry(c, name, dtype, ndim, shape, data, NULL, 0);
}

mx_status mx_ckpt_add_i64(mx_ckpt *c, const char *name, int64_t value) {
    return add_entry(c, name, MX_DTYPE_I64, 0, NULL, NULL, &value, 1);
}

mx_status mx_ckpt_add_rng(mx_ckpt *c, const char *name, const mx_rng *r) {
    if (!r) return mx_error(MX_ERR_ARG, "mx_ckpt_add_rng: NULL rng");
    const int64_t shape[1] = {4};
    return add_entry(c, name, MX_DTYPE_U64, 1, shape, NULL, r->s, 4);
}

mx_status mx_ckpt_set_meta(mx_ckpt *c, const char *key, const char *value) {
    if (!c || !key || !value) return mx_error(MX_ERR_ARG, "mx_ckpt_set_meta: NULL argument");
    for (size_t i = 0; i < c->n_meta; i++) {
        if (strcmp(c->meta[2 * i], key) == 0) {
            char *v = dup_str(value);
            if (!v) return mx_error(MX_ERR_NOMEM, "mx_ckpt_set_meta: out of memory");
            free(c->meta[2 * i + 1]);
            c->meta[2 * i + 1] = v;
            return MX_OK;
        }
    }
    if (c->n_meta == c->cap_meta) {
        size_t cap = c->cap_meta ? 2 * c->cap_meta : 8;
        char **m = realloc(c->meta, 2 * cap * sizeof *m);
        if (!m) return mx_error(MX_ERR_NOMEM, "mx_ckpt_set_meta: out of memory");
        c->meta = m;
        c->cap_meta = cap;
    }
    char *k = dup_str(key), *v = dup_str(value);
    if (!k || !v) {
        free(k);
        free(v);
        return mx_error(MX_ERR_NOMEM, "mx_ckpt_set_meta: out of memory");
    }
    c->meta[2 * c->n_meta] = k;
    c->meta[2 * c->n_meta + 1] = v;
    c->n_meta++;
    return MX_OK;
}

mx_status mx_ckpt_save(const mx_ckpt *c, const char *path) {
    return mx_ckpt_save_fault(c, path, 0);
}

mx_status mx_ckpt_save_fault(const mx_ckpt *c, const char *path, int kill_midway) {
    if (!c || !path) return mx_error(MX_ERR_ARG, "mx_ckpt_save: NULL argument");
    for (size_t i = 0; i < c->n_meta; i++)
        if (strcmp(c->meta[2 * i], MX_CKPT_FORMAT_KEY) == 0)
            return mx_error(MX_ERR_ARG, "%s: metadata key '%s' is reserved", path,
                            MX_CKPT_FORMAT_KEY);
    mx_tensor_view *v = malloc((c->n + 1) * sizeof *v);
    const char **meta = malloc((2 * c->n_meta + 2) * sizeof *meta);
    if (!v || !meta) {
        free(v);
        free(meta);
        return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    }
    for (size_t i = 0; i < c->n; i++) {
        v[i] = c->e[i].v;
        if (c->e[i].inline_n) v[i].data = c->e[i].inl;
    }
    meta[0] = MX_CKPT_FORMAT_KEY;
    meta[1] = MX_CKPT_FORMAT;
    for (size_t i = 0; i < 2 * c->n_meta; i++) meta[2 + i] = c->meta[i];
    mx_status s = mx_st_write_fault(path, v, c->n, meta, c->n_meta + 1, kill_midway);
    free(v);
    free(meta);
    return s;
}

mx_status mx_ckpt_open(const char *path, mx_safetensors **out) {
    if (!out) return mx_error(MX_ERR_ARG, "mx_ckpt_open: NULL argument");
    *out = NULL;
    mx_safetensors *st;
    MX_TRY(mx_st_open(path, &st));
    const char *f = mx_st_metadata(st, MX_CKPT_FORMAT_KEY);
    if (!f || strcmp(f, MX_CKPT_FORMAT) != 0) {
        mx_status s = mx_error(MX_ERR_FORMAT,
                               "%s: __metadata__ '%s' is %s%s%s, expected '%s' "
                               "(not a metrix checkpoint, or a newer version)",
                               path, MX_CKPT_FORMAT_KEY, f ? "'" : "", f ? f : "missing",
                               f ? "'" : "", MX_CKPT_FORMAT);
        mx_st_free(st);
        return s;
    }
    *out = st;
    return MX_OK;
}

mx_status mx_ckpt_read_i64(const mx_safetensors *st, const char *name, int64_t *value) {
    if (!value) return mx_error(MX_ERR_ARG, "mx_ckpt_read_i64: NULL argument");
    return mx_st_read_i64(st, name, 0, NULL, value);
}

mx_status mx_ckpt_read_rng(const mx_safetensors *st, const char *name, mx_rng *r) {
    if (!r) return mx_error(MX_ERR_ARG, "mx_ckpt_read_rng: NULL argument");
    const int64_t shape[1] = {4};
    return mx_st_read_raw(st, name, MX_DTYPE_U64, 1, shape, r->s);
}
