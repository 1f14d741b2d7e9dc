/* io: NumPy .npy reader (versions 1.0-3.0, C order, little-endian) and atomic v1.0 writer.
 *
 * Layout: "\x93NUMPY" major minor | header length (u16 LE in v1, u32 LE in v2/v3) | header: a
 * Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (N, D), } padded with
 * spaces and ended by '\n' | raw data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "io/io_impl.h"
#include "metrix/io.h"

/* ---- header dict parser ------------------------------------------------------------------ */

typedef struct {
    const char *s, *end, *path;
} npy_lex;

static void skip_ws(npy_lex *x) {
    while (x->s < x->end && (*x->s == ' ' || *x->s == '\t' || *x->s == '\n' || *x->s == '\r'))
        x->s++;
}

static int eat(npy_lex *x, char c) {
    skip_ws(x);
    if (x->s < x->end && *x->s == c) {
        x->s++;
        return 1;
    }
    return 0;
}

/* A quoted Python string without escapes into buf; 0 on malformed input. */
static int parse_str(npy_lex *x, char *buf, size_t cap) {
    skip_ws(x);
    if (x->s >= x->end || (*x->s != '\'' && *x->s != '"')) return 0;
    char q = *x->s++;
    size_t n = 0;
    while (x->s < x->end && *x->s != q) {
        if (*x->s == '\\' || n + 1 >= cap) return 0;
        buf[n++] = *x->s++;
    }
    if (x->s >= x->end) return 0;
    x->s++;
    buf[n] = 0;
    return 1;
}

static int parse_int(npy_lex *x, int64_t *v) {
    skip_ws(x);
    int64_t n = 0;
    int digits = 0;
    while (x->s < x->end && *x->s >= '0' && *x->s <= '9') {
        int d = *x->s++ - '0';
        if (n > (INT64_MAX - d) / 10) return 0;
        n = n * 10 + d;
        digits++;
    }
    if (x->s < x->end && *x->s == 'L') x->s++; /* Python 2 longs in old files */
    *v = n;
    return digits > 0;
}

static int parse_word(npy_lex *x, const char *w) {
    skip_ws(x);
    size_t n = strlen(w);
    if ((size_t)(x->end - x->s) < n || memcmp(x->s, w, n) != 0) return 0;
    x->s += n;
    return 1;
}

/* Maps a numpy descr to a dtype; 0 if unsupported, -1 if big-endian. */
static int descr_dtype(const char *d, mx_dtype *t) {
    static const struct {
        const char *code;
        mx_dtype t;
    } codes[] = {{"f4", MX_DTYPE_F32}, {"f8", MX_DTYPE_F64}, {"f2", MX_DTYPE_F16},
                 {"i8", MX_DTYPE_I64}, {"i4", MX_DTYPE_I32}, {"i2", MX_DTYPE_I16},
                 {"i1", MX_DTYPE_I8},  {"u1", MX_DTYPE_U8},  {"u2", MX_DTYPE_U16},
                 {"u4", MX_DTYPE_U32}, {"u8", MX_DTYPE_U64}, {"b1", MX_DTYPE_BOOL}};
    if (strlen(d) != 3) return 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (strcmp(d + 1, codes[i].code) != 0) continue;
        size_t sz = mx_dtype_size(codes[i].t);
        /* '<' little, '=' native (little on every supported host), '|' no order (1 byte) */
        if (d[0] == '<' || d[0] == '=' || (sz == 1 && (d[0] == '|' || d[0] == '>'))) {
            *t = codes[i].t;
            return 1;
        }
        if (d[0] == '>') return -1;
        return 0;
    }
    return 0;
}

static mx_status parse_dict(const char *path, const char *h, size_t n, mx_array *a) {
    npy_lex x = {h, h + n, path};
    int have_descr = 0, have_fo = 0, have_shape = 0;
    if (!eat(&x, '{'))
        return mx_error(MX_ERR_FORMAT, "%s: .npy header must be a dict starting with '{'", path);
    while (!eat(&x, '}')) {
        char key[32], val[32];
        if (!parse_str(&x, key, sizeof key) || !eat(&x, ':'))
            return mx_error(MX_ERR_FORMAT, "%s: .npy header byte %td: expected 'key': value", path,
                            x.s - h);
        if (strcmp(key, "descr") == 0 && !have_descr) {
            have_descr = 1;
            if (!parse_str(&x, val, sizeof val))
                return mx_error(MX_ERR_FORMAT,
                                "%s: .npy header: 'descr' must be a simple type "
                                "string such as '<f4' (structured dtypes are not supported)",
                                path);
            int r = descr_dtype(val, &a->dtype);
            if (r < 0)
                return mx_error(MX_ERR_FORMAT,
                                "%s: .npy dtype '%s' is big-endian; only "
                                "little-endian data is supported",
                                path, val);
            if (r == 0)
                return mx_error(MX_ERR_FORMAT,
                                "%s: unsupported .npy dtype '%s' (expected <f4 "
                                "<f8 <f2 <i8 <i4 <i2 |i1 |u1 <u2 <u4 <u8 |b1)",
                                path, val);
        } else if (strcmp(key, "fortran_order") == 0 && !have_fo) {
            have_fo = 1;
            if (parse_word(&x, "True"))
                return mx_error(MX_ERR_FORMAT,
                                "%s: .npy fortran_order is True; only C order is "
                                "supported (save np.ascontiguousarray(a))",
                                path);
            if (!parse_word(&x, "False"))
                return mx_error(MX_ERR_FORMAT, "%s: .npy fortran_order must be True or False",
                                path);
        } else if (strcmp(key, "shape") == 0 && !have_shape) {
            have_shape = 1;
            if (!eat(&x, '('))
                return mx_error(MX_ERR_FORMAT, "%s: .npy shape must be a tuple", path);
            a->ndim = 0;
            while (!eat(&x, ')')) {
                if (a->ndim >= MX_MAX_DIMS)
                    return mx_error(MX_ERR_FORMAT, "%s: .npy shape has more than %d dimensions",
                                    path, MX_MAX_DIMS);
                if (!parse_int(&x, &a->shape[a->ndim]))
                    return mx_error(MX_ERR_FORMAT,
                                    "%s: .npy shape[%d] must be a non-negative "
                                    "integer",
                                    path, a->ndim);
                a->ndim++;
                if (!eat(&x, ',')) {
                    if (!eat(&x, ')'))
                        return mx_error(MX_ERR_FORMAT, "%s: .npy shape: expected ',' or ')'", path);
                    break;
                }
            }
        } else {
            return mx_error(MX_ERR_FORMAT,
                            "%s: .npy header: unexpected or repeated key '%s' "
                            "(expected descr, fortran_order, shape)",
                            path, key);
        }
        if (!eat(&x, ',')) {
            if (!eat(&x, '}'))
                return mx_error(MX_ERR_FORMAT, "%s: .npy header byte %td: expected ',' or '}'",
                                path, x.s - h);
            break;
        }
    }
    skip_ws(&x);
    if (x.s != x.end)
        return mx_error(MX_ERR_FORMAT, "%s: .npy header: unexpected text after the dict", path);
    if (!have_descr || !have_fo || !have_shape)
        return mx_error(MX_ERR_FORMAT, "%s: .npy header lacks '%s'", path,
                        !have_descr ? "descr"
                        : !have_fo  ? "fortran_order"
                                    : "shape");
    return MX_OK;
}

mx_status mx_npy_read(const char *path, mx_array *out) {
    if (!path || !out) return mx_error(MX_ERR_ARG, "mx_npy_read: NULL argument");
    memset(out, 0, sizeof *out);
    unsigned char *b;
    size_t size;
    MX_TRY(mx_io_read_file(path, &b, &size));
    mx_status s = MX_OK;
    mx_array a;
    memset(&a, 0, sizeof a);
    size_t hl = 0, hstart = 0;
    if (size < 10 || memcmp(b, "\x93NUMPY", 6) != 0) {
        s = mx_error(MX_ERR_FORMAT, "%s: not a .npy file (missing \\x93NUMPY magic)", path);
    } else if (b[6] == 1 && b[7] == 0) {
        hl = (size_t)b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if ((b[6] == 2 || b[6] == 3) && b[7] == 0 && size >= 12) {
        hl = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        s = mx_error(MX_ERR_FORMAT,
                     "%s: unsupported .npy version %d.%d (expected 1.0, 2.0 or "
                     "3.0)",
                     path, b[6], b[7]);
    }
    if (s == MX_OK && hl > size - hstart)
        s = mx_error(MX_ERR_FORMAT,
                     "%s: .npy header length %zu runs past the end of the file "
                     "(%zu bytes)",
                     path, hl, size);
    if (s == MX_OK) s = parse_dict(path, (const char *)b + hstart, hl, &a);
    if (s == MX_OK) {
        int64_t numel;
        size_t have = size - hstart - hl, es = mx_dtype_size(a.dtype);
        char sh[200];
        if (!mx_io_numel(a.ndim, a.shape, &numel) || (uint64_t)numel > SIZE_MAX / es) {
            s = mx_error(MX_ERR_FORMAT, "%s: .npy shape %s overflows", path,
                         mx_io_shape_str(sh, sizeof sh, a.ndim, a.shape));
        } else if ((uint64_t)numel * es != have) {
            s = mx_error(MX_ERR_FORMAT,
                         "%s: .npy data is %zu bytes, expected %llu for shape %s "
                         "of %s",
                         path, have, (unsigned long long)numel * es,
                         mx_io_shape_str(sh, sizeof sh, a.ndim, a.shape), mx_dtype_name(a.dtype));
        } else if (!(a.data = mx_alloc(have ? have : 1))) {
            s = mx_error(MX_ERR_NOMEM, "%s: cannot allocate %zu bytes", path, have);
        } else {
            if (have) memcpy(a.data, b + hstart + hl, have);
        }
    }
    mx_free(b);
    if (s == MX_OK) *out = a;
    return s;
}

mx_status mx_npy_write(const char *path, mx_dtype dtype, int ndim, const int64_t *shape,
                       const void *data) {
    if (!path || (ndim > 0 && !shape)) return mx_error(MX_ERR_ARG, "mx_npy_write: NULL argument");
    const char *descr = mx_dtype_npy_descr(dtype);
    if (!descr)
        return mx_error(MX_ERR_ARG, "%s: dtype %s has no .npy equivalent", path,
                        mx_dtype_name(dtype));
    if (ndim < 0 || ndim > MX_MAX_DIMS)
        return mx_error(MX_ERR_ARG, "%s: ndim %d out of [0, %d]", path, ndim, MX_MAX_DIMS);
    int64_t numel;
    size_t es = mx_dtype_size(dtype);
    if (!mx_io_numel(ndim, shape, &numel) || (uint64_t)numel > SIZE_MAX / es)
        return mx_error(MX_ERR_ARG, "%s: negative or overflowing shape", path);
    size_t nbytes = (size_t)numel * es;
    if (nbytes && !data) return mx_error(MX_ERR_ARG, "%s: NULL data", path);

    /* header text: 10-byte preamble + dict + spaces + '\n', total a multiple of 64 */
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < ndim; i++)
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, "%lld,%s", (long long)shape[i],
                      i + 1 < ndim ? " " : "");
    if (ndim > 1) k--; /* "(2, 3)" not "(2, 3,)"; a 1-tuple keeps its comma: "(5,)" */
    k += snprintf(hdr + k, sizeof hdr - (size_t)k, "), }");
    size_t total = ((size_t)k + 10 + 1 + 63) / 64 * 64, hl = total - 10;
    memset(hdr + k, ' ', hl - 1 - (size_t)k);
    hdr[hl - 1] = '\n';
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8)};

    mx_atomic_file *af;
    FILE *fp;
    MX_TRY(mx_atomic_open(path, &af, &fp));
    int ok = fwrite(pre, 1, 10, fp) == 10 && fwrite(hdr, 1, hl, fp) == hl &&
             (nbytes == 0 || fwrite(data, 1, nbytes, fp) == nbytes);
    if (!ok) {
        int err = errno;
        mx_atomic_abort(af); /* removes the temporary file */
        return mx_error(MX_ERR_IO, "%s: write failed: %s", path, strerror(err));
    }
    return mx_atomic_commit(af);
}
