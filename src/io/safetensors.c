/* io: safetensors reader (strict validation, views into the file buffer) and atomic writer.
 *
 * File layout: u64 LE header length N | N bytes of JSON header (may be space padded) | data.
 * The header is parsed with json-c in strict mode; the checks json-c does not do (duplicate
 * keys, exact entry fields, tiling of the byte ranges, file size) are done here. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/core_impl.h"
#include "io/io_impl.h"
#include "metrix/io.h"

#define ST_MAX_HEADER 100000000ull

struct mx_safetensors {
    char *path;
    unsigned char *file; /* whole file (mx_alloc), views point into it */
    size_t file_size;
    size_t n;
    mx_tensor_view *views; /* [n], in data-offset order */
    size_t *by_name;       /* [n] indices of views sorted by name */
    size_t n_meta;
    char **meta; /* [2 * n_meta] key, value; sorted by key */
};

void mx_st_free(mx_safetensors *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n; i++) free((char *)st->views[i].name);
    for (size_t i = 0; i < 2 * st->n_meta; i++) free(st->meta[i]);
    free(st->meta);
    free(st->views);
    free(st->by_name);
    mx_free(st->file);
    free(st->path);
    free(st);
}

size_t mx_st_count(const mx_safetensors *st) {
    return st ? st->n : 0;
}

const mx_tensor_view *mx_st_at(const mx_safetensors *st, size_t i) {
    return st && i < st->n ? &st->views[i] : NULL;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* Counts object keys in JSON text (a string followed by ':' outside strings). json-c silently
 * keeps the last of duplicate keys, so comparing this count with the parsed tree's key count
 * detects duplicates anywhere in the header. */
static size_t count_json_keys(const char *s, size_t n) {
    size_t keys = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"') continue;
        for (i++; i < n && s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        size_t j = i + 1;
        while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r')) j++;
        if (j < n && s[j] == ':') keys++;
    }
    return keys;
}

/* Error path: names a duplicated key. Scans the raw text for keys with their nesting depth and
 * enclosing depth-1 key; reports the first raw repeat within one object (keys spelled with
 * different escapes are not matched, and then the message is generic). */
static mx_status duplicate_error(const char *path, const char *s, size_t n) {
    typedef struct {
        size_t at, len, parent;
        int depth;
    } key;
    key *k = malloc((n / 2 + 1) * sizeof *k);
    if (!k) return mx_error(MX_ERR_FORMAT, "%s: header has duplicate keys", path);
    size_t nk = 0, parent = (size_t)-1;
    int depth = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '{' || s[i] == '[') depth++;
        if (s[i] == '}' || s[i] == ']') depth--;
        if (s[i] != '"') continue;
        size_t at = ++i;
        for (; i < n && s[i] != '"'; i++)
            if (s[i] == '\\') i++;
        size_t j = i + 1;
        while (j < n && (s[j] == ' ' || s[j] == '\t' || s[j] == '\n' || s[j] == '\r')) j++;
        if (j >= n || s[j] != ':') continue;
        if (depth == 1) parent = nk;
        k[nk++] = (key){at, i - at, depth == 1 ? (size_t)-1 : parent, depth};
    }
    for (size_t a = 0; a < nk; a++) {
        for (size_t b = a + 1; b < nk; b++) {
            if (k[a].depth != k[b].depth || k[a].parent != k[b].parent || k[a].len != k[b].len ||
                memcmp(s + k[a].at, s + k[b].at, k[a].len) != 0)
                continue;
            mx_status st;
            int len = (int)MX_MIN(k[a].len, 200);
            if (k[a].depth == 1) {
                st = mx_error(MX_ERR_FORMAT,
                              "%s: header has duplicate key '%.*s' (tensor names "
                              "must be unique)",
                              path, len, s + k[a].at);
            } else if (k[a].parent != (size_t)-1) {
                key *p = &k[k[a].parent];
                st = mx_error(MX_ERR_FORMAT,
                              "%s: header entry '%.*s' has duplicate field "
                              "'%.*s'",
                              path, (int)MX_MIN(p->len, 200), s + p->at, len, s + k[a].at);
            } else {
                continue;
            }
            free(k);
            return st;
        }
    }
    free(k);
    return mx_error(MX_ERR_FORMAT, "%s: header has duplicate keys", path);
}

static size_t count_tree_keys(struct json_object *o) {
    size_t keys = 0;
    if (json_object_is_type(o, json_type_object)) {
        json_object_object_foreach(o, k, v) {
            (void)k;
            keys += 1 + count_tree_keys(v);
        }
    } else if (json_object_is_type(o, json_type_array)) {
        size_t n = json_object_array_length(o);
        for (size_t i = 0; i < n; i++) keys += count_tree_keys(json_object_array_get_idx(o, i));
    }
    return keys;
}

typedef struct {
    uint64_t begin, end;
    size_t idx;
} st_range;

static int cmp_range(const void *a, const void *b) {
    const st_range *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_meta(const void *a, const void *b) {
    return strcmp(((char *const *)a)[0], ((char *const *)b)[0]);
}

/* Sorts indices of views by name (qsort has no context pointer in C11). */
static void sort_by_name(mx_safetensors *st) {
    for (size_t i = 0; i < st->n; i++) st->by_name[i] = i;
    /* shell sort with Ciura gaps: O(n^1.3), fine for thousands of tensors */
    static const size_t gaps[] = {1750, 701, 301, 132, 57, 23, 10, 4, 1};
    for (size_t g = 0; g < sizeof gaps / sizeof gaps[0]; g++) {
        size_t gap = gaps[g];
        for (size_t i = gap; i < st->n; i++) {
            size_t t = st->by_name[i], j = i;
            while (j >= gap &&
                   strcmp(st->views[st->by_name[j - gap]].name, st->views[t].name) > 0) {
                st->by_name[j] = st->by_name[j - gap];
                j -= gap;
            }
            st->by_name[j] = t;
        }
    }
}

/* Parses one tensor entry `name: {"dtype", "shape", "data_offsets"}` into v and r. */
static mx_status parse_entry(const char *path, const char *name, struct json_object *e,
                             mx_tensor_view *v, st_range *r) {
    if (!json_object_is_type(e, json_type_object))
        return mx_error(MX_ERR_FORMAT,
                        "%s: tensor '%s': expected an object with dtype, shape, "
                        "data_offsets",
                        path, name);
    struct json_object *jd = NULL, *js = NULL, *jo = NULL;
    json_object_object_foreach(e, k, val) {
        if (strcmp(k, "dtype") == 0) {
            jd = val;
        } else if (strcmp(k, "shape") == 0) {
            js = val;
        } else if (strcmp(k, "data_offsets") == 0) {
            jo = val;
        } else {
            return mx_error(MX_ERR_FORMAT,
                            "%s: tensor '%s': unexpected field '%s' (expected "
                            "only dtype, shape, data_offsets)",
                            path, name, k);
        }
    }
    if (!jd || !js || !jo)
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': missing field '%s'", path, name,
                        !jd   ? "dtype"
                        : !js ? "shape"
                              : "data_offsets");
    if (!json_object_is_type(jd, json_type_string))
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': dtype must be a string", path, name);
    const char *dt = json_object_get_string(jd);
    if (!mx_dtype_from_name(dt, &v->dtype))
        return mx_error(MX_ERR_FORMAT,
                        "%s: tensor '%s': unsupported dtype '%s' (expected BOOL, "
                        "U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64 or U64)",
                        path, name, dt);
    if (!json_object_is_type(js, json_type_array))
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': shape must be an array of integers", path,
                        name);
    size_t nd = json_object_array_length(js);
    if (nd > MX_MAX_DIMS)
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': %zu dimensions (at most %d supported)",
                        path, name, nd, MX_MAX_DIMS);
    v->ndim = (int)nd;
    for (size_t i = 0; i < nd; i++) {
        struct json_object *d = json_object_array_get_idx(js, i);
        if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) < 0 ||
            json_object_get_int64(d) == INT64_MAX)
            return mx_error(MX_ERR_FORMAT,
                            "%s: tensor '%s': shape[%zu] must be a non-negative "
                            "integer",
                            path, name, i);
        v->shape[i] = json_object_get_int64(d);
    }
    int64_t numel;
    if (!mx_io_numel(v->ndim, v->shape, &numel) ||
        numel > INT64_MAX / (int64_t)mx_dtype_size(v->dtype))
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': element count overflows", path, name);
    if (!json_object_is_type(jo, json_type_array) || json_object_array_length(jo) != 2)
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s': data_offsets must be [begin, end]", path,
                        name);
    int64_t off[2];
    for (int i = 0; i < 2; i++) {
        struct json_object *d = json_object_array_get_idx(jo, (size_t)i);
        if (!json_object_is_type(d, json_type_int) || json_object_get_int64(d) < 0 ||
            json_object_get_int64(d) == INT64_MAX)
            return mx_error(MX_ERR_FORMAT,
                            "%s: tensor '%s': data_offsets[%d] must be a "
                            "non-negative integer",
                            path, name, i);
        off[i] = json_object_get_int64(d);
    }
    int64_t want = numel * (int64_t)mx_dtype_size(v->dtype);
    if (off[1] < off[0] || off[1] - off[0] != want)
        return mx_error(MX_ERR_FORMAT,
                        "%s: tensor '%s': data_offsets [%lld, %lld] span %lld "
                        "bytes, expected %lld (%lld elements of %s)",
                        path, name, (long long)off[0], (long long)off[1],
                        (long long)(off[1] - off[0]), (long long)want, (long long)numel, dt);
    r->begin = (uint64_t)off[0];
    r->end = (uint64_t)off[1];
    v->nbytes = (size_t)want;
    return MX_OK;
}

static mx_status parse_metadata(const char *path, struct json_object *m, mx_safetensors *st) {
    if (!json_object_is_type(m, json_type_object))
        return mx_error(MX_ERR_FORMAT, "%s: __metadata__ must be an object of strings", path);
    size_t n = (size_t)json_object_object_length(m);
    st->meta = calloc(2 * n + 1, sizeof *st->meta);
    if (!st->meta) return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    json_object_object_foreach(m, k, val) {
        if (!json_object_is_type(val, json_type_string))
            return mx_error(MX_ERR_FORMAT, "%s: __metadata__ '%s': value must be a string", path,
                            k);
        size_t i = st->n_meta++;
        st->meta[2 * i] = dup_str(k);
        st->meta[2 * i + 1] = dup_str(json_object_get_string(val));
        if (!st->meta[2 * i] || !st->meta[2 * i + 1])
            return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    }
    qsort(st->meta, st->n_meta, 2 * sizeof *st->meta, cmp_meta);
    return MX_OK;
}

/* Validates the header and fills st (views, metadata). st->file / file_size are set. */
static mx_status parse_header(const char *path, mx_safetensors *st) {
    const unsigned char *b = st->file;
    size_t size = st->file_size;
    if (size < 8)
        return mx_error(MX_ERR_FORMAT,
                        "%s: %zu bytes, too short for a safetensors file (need "
                        "an 8-byte header length)",
                        path, size);
    uint64_t hn = 0;
    for (int i = 7; i >= 0; i--) hn = hn << 8 | b[i];
    if (hn > ST_MAX_HEADER)
        return mx_error(MX_ERR_FORMAT, "%s: header length %llu exceeds the limit of %llu", path,
                        (unsigned long long)hn, ST_MAX_HEADER);
    if (hn > size - 8)
        return mx_error(MX_ERR_FORMAT,
                        "%s: header length %llu runs past the end of the file "
                        "(%zu bytes)",
                        path, (unsigned long long)hn, size);
    if (hn < 2 || b[8] != '{')
        return mx_error(MX_ERR_FORMAT, "%s: header must be a JSON object starting with '{'", path);
    const char *h = (const char *)b + 8;
    size_t data_off = 8 + (size_t)hn;

    struct json_tokener *tok = json_tokener_new();
    if (!tok) return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    /* the object must end at the last non-space byte: only ' ' may pad it */
    size_t last = hn;
    while (last > 0 && h[last - 1] == ' ') last--;
    if (h[last - 1] != '}') {
        json_tokener_free(tok);
        return mx_error(MX_ERR_FORMAT,
                        "%s: header byte %zu: expected '}' followed only by space "
                        "padding",
                        path, 8 + last - 1);
    }
    struct json_object *root = json_tokener_parse_ex(tok, h, (int)last);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    mx_status s = MX_OK;
    if (!root || jerr != json_tokener_success) {
        s = mx_error(MX_ERR_FORMAT, "%s: header is not valid JSON at byte %zu: %s", path, 8 + end,
                     json_tokener_error_desc(jerr));
        goto done;
    }
    if (end != last) {
        s = mx_error(MX_ERR_FORMAT,
                     "%s: header byte %zu: expected only space padding after "
                     "the JSON object",
                     path, 8 + end);
        goto done;
    }
    if (!json_object_is_type(root, json_type_object)) {
        s = mx_error(MX_ERR_FORMAT, "%s: header must be a JSON object", path);
        goto done;
    }
    if (count_json_keys(h, end) != count_tree_keys(root)) {
        s = duplicate_error(path, h, end);
        goto done;
    }
    size_t nt = (size_t)json_object_object_length(root);
    st->views = calloc(nt + 1, sizeof *st->views);
    st->by_name = calloc(nt + 1, sizeof *st->by_name);
    st_range *r = calloc(nt + 1, sizeof *r);
    mx_tensor_view *tmp = calloc(nt + 1, sizeof *tmp);
    if (!st->views || !st->by_name || !r || !tmp) {
        s = mx_error(MX_ERR_NOMEM, "%s: out of memory for %zu tensors", path, nt);
        goto done_r;
    }
    size_t n = 0;
    json_object_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            s = parse_metadata(path, val, st);
        } else {
            tmp[n].name = dup_str(key);
            if (!tmp[n].name) {
                s = mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
            } else {
                r[n].idx = n;
                s = parse_entry(path, key, val, &tmp[n], &r[n]);
                n++;
            }
        }
        if (s != MX_OK) break;
    }
    if (s == MX_OK) {
        /* sorted by begin, the ranges must tile [0, data size) exactly */
        qsort(r, n, sizeof *r, cmp_range);
        uint64_t pos = 0;
        for (size_t i = 0; i < n && s == MX_OK; i++) {
            if (r[i].begin != pos)
                s = mx_error(MX_ERR_FORMAT,
                             "%s: tensor '%s': data_offsets begin at %llu, "
                             "expected %llu (byte ranges must tile the data with no gaps or "
                             "overlaps)",
                             path, tmp[r[i].idx].name, (unsigned long long)r[i].begin,
                             (unsigned long long)pos);
            pos = r[i].end;
        }
        if (s == MX_OK && pos != size - data_off)
            s = mx_error(MX_ERR_FORMAT,
                         "%s: file is %zu bytes, expected %llu (8 + header %llu + "
                         "data %llu)",
                         path, size, (unsigned long long)(data_off + pos), (unsigned long long)hn,
                         (unsigned long long)pos);
    }
    /* move views into data order; names owned by st from here on */
    for (size_t i = 0; i < n; i++) {
        st->views[i] = tmp[r[i].idx];
        if (s == MX_OK) st->views[i].data = st->file + data_off + r[i].begin;
    }
    st->n = n;
    if (s == MX_OK) sort_by_name(st);
done_r:
    free(r);
    free(tmp);
done:
    json_object_put(root);
    return s;
}

mx_status mx_st_open(const char *path, mx_safetensors **out) {
    if (!path || !out) return mx_error(MX_ERR_ARG, "mx_st_open: NULL argument");
    *out = NULL;
    mx_safetensors *st = calloc(1, sizeof *st);
    if (!st || !(st->path = dup_str(path))) {
        free(st);
        return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    }
    mx_status s = mx_io_read_file(path, &st->file, &st->file_size);
    if (s == MX_OK) s = parse_header(path, st);
    if (s != MX_OK) {
        mx_st_free(st);
        return s;
    }
    *out = st;
    return MX_OK;
}

const mx_tensor_view *mx_st_find(const mx_safetensors *st, const char *name) {
    if (!st || !name) return NULL;
    size_t lo = 0, hi = st->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const mx_tensor_view *v = &st->views[st->by_name[mid]];
        int c = strcmp(v->name, name);
        if (c == 0) return v;
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

const char *mx_st_metadata(const mx_safetensors *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[2 * i], key) == 0) return st->meta[2 * i + 1];
    return NULL;
}

const char *mx_st_path(const mx_safetensors *st) {
    return st ? st->path : NULL;
}

/* Looks up name and checks its shape; *v on success. */
static mx_status find_checked(const mx_safetensors *st, const char *name, int ndim,
                              const int64_t *shape, const mx_tensor_view **v) {
    *v = mx_st_find(st, name);
    if (!*v) return mx_error(MX_ERR_FORMAT, "%s: no tensor named '%s'", st->path, name);
    int same = (*v)->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = (*v)->shape[i] == shape[i];
    if (!same) {
        char a[200], b[200];
        return mx_error(MX_ERR_SHAPE, "%s: tensor '%s' has shape %s, expected %s", st->path, name,
                        mx_io_shape_str(a, sizeof a, (*v)->ndim, (*v)->shape),
                        mx_io_shape_str(b, sizeof b, ndim, shape));
    }
    return MX_OK;
}

mx_status mx_st_read_f32(const mx_safetensors *st, const char *name, int ndim, const int64_t *shape,
                         float *dst) {
    if (!st || !name || (ndim > 0 && !shape) || ndim < 0)
        return mx_error(MX_ERR_ARG, "mx_st_read_f32: bad argument");
    const mx_tensor_view *v;
    MX_TRY(find_checked(st, name, ndim, shape, &v));
    const unsigned char *p = v->data;
    size_t n = v->nbytes / mx_dtype_size(v->dtype);
    switch (v->dtype) {
    case MX_DTYPE_F32:
        if (n) memcpy(dst, p, n * 4);
        break;
    case MX_DTYPE_F64:
        for (size_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, p + 8 * i, 8);
            dst[i] = (float)d;
        }
        break;
    case MX_DTYPE_F16:
    case MX_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            dst[i] = v->dtype == MX_DTYPE_F16 ? mx_f16_to_f32(h) : mx_bf16_to_f32(h);
        }
        break;
    default:
        return mx_error(MX_ERR_FORMAT,
                        "%s: tensor '%s' has dtype %s, expected a float type (F32, "
                        "F64, F16 or BF16)",
                        st->path, name, mx_dtype_name(v->dtype));
    }
    return MX_OK;
}

mx_status mx_st_read_i64(const mx_safetensors *st, const char *name, int ndim, const int64_t *shape,
                         int64_t *dst) {
    if (!st || !name || (ndim > 0 && !shape) || ndim < 0)
        return mx_error(MX_ERR_ARG, "mx_st_read_i64: bad argument");
    const mx_tensor_view *v;
    MX_TRY(find_checked(st, name, ndim, shape, &v));
    const unsigned char *p = v->data;
    size_t n = v->nbytes / mx_dtype_size(v->dtype);
    for (size_t i = 0; i < n; i++) {
        switch (v->dtype) {
        case MX_DTYPE_I64:
            memcpy(&dst[i], p + 8 * i, 8);
            break;
        case MX_DTYPE_I32: {
            int32_t x;
            memcpy(&x, p + 4 * i, 4);
            dst[i] = x;
        } break;
        case MX_DTYPE_I16: {
            int16_t x;
            memcpy(&x, p + 2 * i, 2);
            dst[i] = x;
        } break;
        case MX_DTYPE_I8:
            dst[i] = (int8_t)p[i];
            break;
        case MX_DTYPE_U8:
        case MX_DTYPE_BOOL:
            dst[i] = p[i];
            break;
        case MX_DTYPE_U16:
            dst[i] = (int64_t)(p[2 * i] | p[2 * i + 1] << 8);
            break;
        case MX_DTYPE_U32: {
            uint32_t x;
            memcpy(&x, p + 4 * i, 4);
            dst[i] = x;
        } break;
        default:
            return mx_error(MX_ERR_FORMAT,
                            "%s: tensor '%s' has dtype %s, expected an integer "
                            "type of at most 64 signed bits (I64, I32, I16, I8, U32, U16, U8, "
                            "BOOL)",
                            st->path, name, mx_dtype_name(v->dtype));
        }
    }
    return MX_OK;
}

mx_status mx_st_read_raw(const mx_safetensors *st, const char *name, mx_dtype dtype, int ndim,
                         const int64_t *shape, void *dst) {
    if (!st || !name || (ndim > 0 && !shape) || ndim < 0)
        return mx_error(MX_ERR_ARG, "mx_st_read_raw: bad argument");
    const mx_tensor_view *v;
    MX_TRY(find_checked(st, name, ndim, shape, &v));
    if (v->dtype != dtype)
        return mx_error(MX_ERR_FORMAT, "%s: tensor '%s' has dtype %s, expected %s", st->path, name,
                        mx_dtype_name(v->dtype), mx_dtype_name(dtype));
    if (v->nbytes) memcpy(dst, v->data, v->nbytes);
    return MX_OK;
}

mx_status mx_st_check_names(const mx_safetensors *st, const char *const *names, size_t n) {
    if (!st || (n && !names)) return mx_error(MX_ERR_ARG, "mx_st_check_names: NULL argument");
    size_t found = 0;
    for (size_t i = 0; i < n; i++) {
        if (!names[i] || !mx_st_find(st, names[i]))
            return mx_error(MX_ERR_FORMAT, "%s: no tensor named '%s' (expected %zu tensors)",
                            st->path, names[i] ? names[i] : "(null)", n);
        found++;
    }
    for (size_t i = 0; i < st->n; i++) {
        size_t k = 0;
        while (k < n && strcmp(names[k], st->views[i].name) != 0) k++;
        if (k == n)
            return mx_error(MX_ERR_FORMAT,
                            "%s: unexpected tensor '%s' (%zu tensors in the file, "
                            "%zu expected)",
                            st->path, st->views[i].name, st->n, n);
    }
    if (found != st->n)
        return mx_error(MX_ERR_ARG, "mx_st_check_names: the expected list repeats a name");
    return MX_OK;
}

/* ---- writer ------------------------------------------------------------------------------ */

static mx_status check_view(const char *path, const mx_tensor_view *t) {
    if (!t->name || !t->name[0])
        return mx_error(MX_ERR_ARG, "%s: a tensor has an empty or NULL name", path);
    if (strcmp(t->name, "__metadata__") == 0)
        return mx_error(MX_ERR_ARG, "%s: '__metadata__' is reserved, not a tensor name", path);
    if ((unsigned)t->dtype >= MX_DTYPE_COUNT)
        return mx_error(MX_ERR_ARG, "%s: tensor '%s': invalid dtype %d", path, t->name,
                        (int)t->dtype);
    if (t->ndim < 0 || t->ndim > MX_MAX_DIMS)
        return mx_error(MX_ERR_ARG, "%s: tensor '%s': ndim %d out of [0, %d]", path, t->name,
                        t->ndim, MX_MAX_DIMS);
    int64_t numel;
    if (!mx_io_numel(t->ndim, t->shape, &numel) ||
        numel > INT64_MAX / (int64_t)mx_dtype_size(t->dtype))
        return mx_error(MX_ERR_ARG, "%s: tensor '%s': negative or overflowing shape", path,
                        t->name);
    if ((uint64_t)numel * mx_dtype_size(t->dtype) != t->nbytes)
        return mx_error(MX_ERR_ARG, "%s: tensor '%s': nbytes %zu, expected %lld (numel %lld x %zu)",
                        path, t->name, t->nbytes,
                        (long long)(numel * (int64_t)mx_dtype_size(t->dtype)), (long long)numel,
                        mx_dtype_size(t->dtype));
    if (t->nbytes && !t->data)
        return mx_error(MX_ERR_ARG, "%s: tensor '%s': NULL data", path, t->name);
    return MX_OK;
}

/* Builds the header JSON (tensors in the order given) into a malloc'd string padded with spaces
 * to a multiple of 8 bytes. */
static mx_status build_header(const char *path, const mx_tensor_view *t, size_t n,
                              const char *const *meta, size_t n_meta, char **out, size_t *len) {
    struct json_object *root = json_object_new_object();
    mx_status s = MX_OK;
    if (!root) return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    if (n_meta) {
        struct json_object *m = json_object_new_object();
        if (!m) s = mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
        for (size_t i = 0; s == MX_OK && i < n_meta; i++) {
            if (!meta[2 * i] || !meta[2 * i + 1]) {
                s = mx_error(MX_ERR_ARG, "%s: metadata entry %zu has a NULL key or value", path, i);
            } else if (json_object_object_get_ex(m, meta[2 * i], NULL)) {
                s = mx_error(MX_ERR_ARG, "%s: duplicate metadata key '%s'", path, meta[2 * i]);
            } else {
                json_object_object_add(m, meta[2 * i], json_object_new_string(meta[2 * i + 1]));
            }
        }
        if (m) json_object_object_add(root, "__metadata__", m);
    }
    uint64_t off = 0;
    for (size_t i = 0; s == MX_OK && i < n; i++) {
        s = check_view(path, &t[i]);
        if (s != MX_OK) break;
        if (json_object_object_get_ex(root, t[i].name, NULL)) {
            s = mx_error(MX_ERR_ARG, "%s: duplicate tensor name '%s'", path, t[i].name);
            break;
        }
        struct json_object *e = json_object_new_object(), *sh = json_object_new_array(),
                           *of = json_object_new_array();
        json_object_object_add(e, "dtype", json_object_new_string(mx_dtype_name(t[i].dtype)));
        for (int d = 0; d < t[i].ndim; d++)
            json_object_array_add(sh, json_object_new_int64(t[i].shape[d]));
        json_object_object_add(e, "shape", sh);
        json_object_array_add(of, json_object_new_int64((int64_t)off));
        off += t[i].nbytes;
        json_object_array_add(of, json_object_new_int64((int64_t)off));
        json_object_object_add(e, "data_offsets", of);
        json_object_object_add(root, t[i].name, e);
    }
    if (s == MX_OK) {
        const char *js = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
        size_t jl = strlen(js), padded = (jl + 7) / 8 * 8;
        if (padded > ST_MAX_HEADER) {
            s = mx_error(MX_ERR_ARG, "%s: header of %zu bytes exceeds the safetensors limit", path,
                         padded);
        } else if (!(*out = malloc(padded + 1))) {
            s = mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
        } else {
            memcpy(*out, js, jl);
            memset(*out + jl, ' ', padded - jl);
            (*out)[padded] = 0;
            *len = padded;
        }
    }
    json_object_put(root);
    return s;
}

mx_status mx_st_write(const char *path, const mx_tensor_view *tensors, size_t n,
                      const char *const *meta, size_t n_meta) {
    return mx_st_write_fault(path, tensors, n, meta, n_meta, 0);
}

mx_status mx_st_write_fault(const char *path, const mx_tensor_view *tensors, size_t n,
                            const char *const *meta, size_t n_meta, int kill_midway) {
    if (!path || (n && !tensors) || (n_meta && !meta))
        return mx_error(MX_ERR_ARG, "mx_st_write: NULL argument");
    char *hdr = NULL;
    size_t hl = 0;
    MX_TRY(build_header(path, tensors, n, meta, n_meta, &hdr, &hl));
    mx_atomic_file *af;
    FILE *fp;
    mx_status s = mx_atomic_open(path, &af, &fp);
    if (s != MX_OK) {
        free(hdr);
        return s;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    int ok = fwrite(len8, 1, 8, fp) == 8 && fwrite(hdr, 1, hl, fp) == hl;
    for (size_t i = 0; ok && i < n; i++) {
        if (kill_midway && i == n / 2) { /* fault tests: die with half the tensors on disk */
            fflush(fp);
            raise(SIGKILL);
        }
        ok = tensors[i].nbytes == 0 ||
             fwrite(tensors[i].data, 1, tensors[i].nbytes, fp) == tensors[i].nbytes;
    }
    free(hdr);
    if (!ok) {
        int err = errno;
        mx_atomic_abort(af); /* removes the temporary file */
        return mx_error(MX_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return mx_atomic_commit(af);
}
