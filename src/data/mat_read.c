/* data: structural check of MAT v5 files before libmatio reads them (see mat_read.h).
 *
 * Layout (MATLAB "MAT-File Format", v5): a 128-byte header (text, subsystem offset, version
 * 0x0100, endian mark "IM"), then one element per variable. An element is a tag (u32 type, u32
 * byte count) and its data padded to 8 bytes, or a "small" element (count << 16 | type, then up
 * to 4 data bytes). A variable is miMATRIX (14), or miCOMPRESSED (15): a zlib stream that
 * inflates to one miMATRIX element. miMATRIX data holds sub-elements: array flags (miUINT32 x2:
 * class in the low byte, 0x800 complex; nzmax), dimensions (miINT32 x rank), name, then by class:
 *   numeric / char: real part (numel values of the stored type), imaginary part if complex;
 *   cell:           numel miMATRIX elements;
 *   struct:         field name length L (miINT32), names (nf x L bytes), numel x nf miMATRIX;
 *   sparse:         ir, jc, real part, imaginary part if complex. */
#include "data/mat_read.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "core/core_impl.h"
#include "data/data_impl.h"

enum { MI_INT32 = 5, MI_UINT32 = 6, MI_MATRIX = 14, MI_COMPRESSED = 15, MI_UTF8 = 16 };
enum { MX_CELL = 1, MX_STRUCT = 2, MX_CHAR = 4, MX_SPARSE = 5, MX_DOUBLE = 6, MX_UINT64 = 15 };
#define NUMEL_SAT ((uint64_t)1 << 40) /* dimension products saturate here */

typedef struct ck {
    const char *file;
    int swap;          /* the file is big-endian ("MI") */
    int var;           /* 1-based variable index (messages) */
    char vname[64];    /* its name, once read */
    int64_t arrays;    /* miMATRIX elements so far */
    size_t inflated;   /* inflated bytes so far */
    const uint8_t *v0; /* start of the current variable's data (offsets in messages) */
} ck;

typedef struct el {
    uint32_t type;
    size_t n;            /* data bytes */
    const uint8_t *data; /* n bytes */
    size_t total;        /* tag + data + padding (padding clipped at the end of the enclosure) */
} el;

static uint32_t rd32(const ck *c, const uint8_t *b) {
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    if (c->swap) v = (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24);
    return v;
}

static mx_status fail(const ck *c, const uint8_t *at, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mx_error(MX_ERR_FORMAT, "%s: variable %d%s%s%s: %s (byte %zu of its data)", c->file,
                    c->var, c->vname[0] ? " ('" : "", c->vname, c->vname[0] ? "')" : "", what,
                    (size_t)(at - c->v0));
}

/* The element at b[0..len): 1 if its tag and data fit, 0 otherwise. */
static int tag_at(const ck *c, const uint8_t *b, size_t len, el *e) {
    if (len < 8) return 0;
    uint32_t a = rd32(c, b);
    if (a >> 16) { /* small element */
        e->type = a & 0xffff;
        e->n = a >> 16;
        e->data = b + 4;
        e->total = 8;
        return e->n <= 4;
    }
    e->type = a;
    e->n = rd32(c, b + 4);
    if (e->n > len - 8) return 0;
    e->data = b + 8;
    size_t padded = 8 + e->n + (8 - e->n % 8) % 8;
    e->total = padded < len ? padded : len;
    return 1;
}

/* Bytes per value of a stored data type (0: not a value type). */
static size_t mi_size(uint32_t t) {
    switch (t) {
    case 1:
    case 2:
    case 16:
        return 1; /* int8, uint8, utf8 */
    case 3:
    case 4:
    case 17:
        return 2; /* int16, uint16, utf16 */
    case 5:
    case 6:
    case 7:
    case 18:
        return 4; /* int32, uint32, single, utf32 */
    case 9:
    case 12:
    case 13:
        return 8; /* double, int64, uint64 */
    default:
        return 0;
    }
}

/* One part (real or imaginary) of a numeric or char array of numel values. */
static mx_status check_part(const ck *c, const uint8_t *b, size_t len, uint64_t numel, unsigned cls,
                            const char *part, size_t *used) {
    el e;
    if (!tag_at(c, b, len, &e))
        return fail(c, b, "%s part of %llu values: element missing or larger than its array", part,
                    (unsigned long long)numel);
    size_t sz = mi_size(e.type);
    if (!sz || (cls != MX_CHAR && e.type >= MI_UTF8))
        return fail(c, b, "%s part: data type %u cannot hold class %u values", part, e.type, cls);
    int ok =
        e.type == MI_UTF8 ? numel <= e.n && e.n / 4 <= numel : numel <= e.n && numel * sz == e.n;
    if (!ok)
        return fail(c, b,
                    "%s part: the dimensions promise %llu values of %zu bytes, the element "
                    "holds %zu bytes",
                    part, (unsigned long long)numel, sz, e.n);
    *used = e.total;
    return MX_OK;
}

/* count miMATRIX elements in b[0..len), each checked recursively. */
static mx_status check_children(ck *c, const uint8_t *b, size_t len, uint64_t count, int depth,
                                const char *what);

/* The data of one miMATRIX element, d[0..n). */
static mx_status check_matrix(ck *c, const uint8_t *d, size_t n, int depth) {
    if (n == 0) return MX_OK; /* an empty array */
    if (++c->arrays > MX_MAT_MAX_ARRAYS)
        return fail(c, d, "more than %d arrays in the file", MX_MAT_MAX_ARRAYS);
    if (depth > MX_MAT_MAX_DEPTH)
        return fail(c, d, "cells / structs nested deeper than %d", MX_MAT_MAX_DEPTH);
    el fl, dm, nm;
    if (!tag_at(c, d, n, &fl) || fl.type != MI_UINT32 || fl.n != 8)
        return fail(c, d, "array flags: expected 8 bytes of miUINT32");
    size_t p = fl.total;
    const uint32_t flags = rd32(c, fl.data), nzmax = rd32(c, fl.data + 4);
    const unsigned cls = flags & 0xff;
    const int cplx = (flags & 0x800) != 0;
    if (!tag_at(c, d + p, n - p, &dm) || dm.type != MI_INT32 || dm.n < 8 || dm.n % 4 ||
        dm.n > 4 * 32)
        return fail(c, d + p, "dimensions: expected 2..32 miINT32 values");
    p += dm.total;
    uint64_t numel = 1;
    int zero = 0;
    for (size_t k = 0; k < dm.n / 4; k++) {
        int32_t v = (int32_t)rd32(c, dm.data + 4 * k);
        if (v < 0) return fail(c, dm.data, "dimension %zu is negative (%d)", k + 1, (int)v);
        if (v == 0)
            zero = 1;
        else
            numel = numel > NUMEL_SAT / (uint64_t)v ? NUMEL_SAT : numel * (uint64_t)v;
    }
    if (zero) numel = 0;
    if (!tag_at(c, d + p, n - p, &nm)) return fail(c, d + p, "array name: element missing");
    if (depth == 0) {
        size_t l = MX_MIN(nm.n, sizeof(c->vname) - 1);
        for (size_t k = 0; k < l; k++)
            c->vname[k] = nm.data[k] >= 32 && nm.data[k] < 127 ? (char)nm.data[k] : '?';
        c->vname[l] = 0;
    }
    p += nm.total;
    const uint8_t *r = d + p;
    size_t rn = n - p, used = 0;
    switch (cls) {
    case MX_CELL:
        return check_children(c, r, rn, numel, depth, "cells");
    case MX_STRUCT: {
        el ln, fn;
        if (!tag_at(c, r, rn, &ln) || ln.type != MI_INT32 || ln.n != 4)
            return fail(c, r, "struct field name length: expected one miINT32");
        int32_t L = (int32_t)rd32(c, ln.data);
        if (L < 1 || L > 4096) return fail(c, r, "struct field name length %d not in 1..4096", L);
        r += ln.total;
        rn -= ln.total;
        if (!tag_at(c, r, rn, &fn) || fn.n % (size_t)L)
            return fail(c, r, "struct field names: expected a multiple of %d bytes", L);
        const size_t nf = fn.n / (size_t)L;
        r += fn.total;
        rn -= fn.total;
        if (nf == 0) return MX_OK;
        if (numel > rn / 8 / nf) /* each field of each element takes at least a tag */
            return fail(c, r, "%llu struct elements x %zu fields do not fit in %zu bytes",
                        (unsigned long long)numel, nf, rn);
        return check_children(c, r, rn, numel * nf, depth, "struct fields");
    }
    case MX_SPARSE: {
        if (nzmax > n)
            return fail(c, d, "sparse nzmax %u larger than the array (%zu bytes)", nzmax, n);
        for (int k = 0; k < 3 + cplx; k++) { /* ir, jc, real part, imaginary part */
            el e;
            if (!tag_at(c, r, rn, &e) || !mi_size(e.type))
                return fail(c, r, "sparse array: part %d missing or out of bounds", k + 1);
            r += e.total;
            rn -= e.total;
        }
        return MX_OK;
    }
    default:
        if (cls != MX_CHAR && (cls < MX_DOUBLE || cls > MX_UINT64))
            return fail(c, d,
                        "array class %u is not supported (cell, struct, char, sparse or "
                        "numeric expected)",
                        cls);
        if (numel == 0 && rn == 0) return MX_OK; /* empty, parts omitted */
        MX_TRY(check_part(c, r, rn, numel, cls, "real", &used));
        if (cplx) {
            size_t im = 0;
            MX_TRY(check_part(c, r + used, rn - used, numel, cls, "imaginary", &im));
        }
        return MX_OK;
    }
}

static mx_status check_children(ck *c, const uint8_t *b, size_t len, uint64_t count, int depth,
                                const char *what) {
    if (count > len / 8)
        return fail(c, b, "%llu %s do not fit in %zu bytes", (unsigned long long)count, what, len);
    for (uint64_t i = 0; i < count; i++) {
        el e;
        if (!tag_at(c, b, len, &e) || e.type != MI_MATRIX)
            return fail(c, b, "%s %llu of %llu: expected a miMATRIX element inside the parent",
                        what, (unsigned long long)i + 1, (unsigned long long)count);
        MX_TRY(check_matrix(c, e.data, e.n, depth + 1));
        b += e.total;
        len -= e.total;
    }
    return MX_OK;
}

/* Inflates a miCOMPRESSED variable into *out (malloc'ed), within the file's inflate budget. */
static mx_status inflate_var(ck *c, const uint8_t *src, size_t n, uint8_t **out, size_t *out_n) {
    *out = NULL;
    *out_n = 0;
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK) return mx_error(MX_ERR_NOMEM, "%s: inflateInit failed", c->file);
    const size_t budget = MX_MAT_MAX_INFLATED - c->inflated;
    size_t cap = 0, got = 0;
    uint8_t *buf = NULL;
    mx_status st = MX_OK;
    z.next_in = (Bytef *)src;
    int rc = Z_OK;
    while (rc != Z_STREAM_END) {
        if (got == cap) {
            if (cap >= budget) {
                st = fail(c, src, "inflates to more than %zu MiB (all variables together)",
                          MX_MAT_MAX_INFLATED >> 20);
                break;
            }
            size_t nc = MX_MIN(budget, MX_MAX(4 * n, MX_MAX(2 * cap, (size_t)4096)));
            uint8_t *nb = realloc(buf, nc);
            if (!nb) {
                st = mx_error(MX_ERR_NOMEM, "%s: cannot allocate %zu bytes", c->file, nc);
                break;
            }
            buf = nb;
            cap = nc;
        }
        const size_t in_left = n - (size_t)((const uint8_t *)z.next_in - src);
        z.avail_in = (uInt)MX_MIN(in_left, (size_t)1 << 30);
        z.next_out = buf + got;
        z.avail_out = (uInt)MX_MIN(cap - got, (size_t)1 << 30);
        const uInt before = z.avail_out;
        rc = inflate(&z, Z_NO_FLUSH);
        got += before - z.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && in_left == 0) rc = Z_DATA_ERROR; /* input ended early */
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            st = fail(c, src, "corrupt or truncated compressed data (zlib: %s)",
                      z.msg ? z.msg : "stream ends early");
            break;
        }
    }
    inflateEnd(&z);
    if (st != MX_OK) {
        free(buf);
        return st;
    }
    c->inflated += got;
    *out = buf;
    *out_n = got;
    return MX_OK;
}

mx_status mx_mat_check_buffer(const uint8_t *buf, size_t size, const char *name) {
    ck c;
    memset(&c, 0, sizeof(c));
    c.file = name;
    if (size < 128 || memcmp(buf, "MATLAB", 6) != 0)
        return mx_error(MX_ERR_IO, "%s: cannot open as a MAT file (no MAT v5 header)", name);
    if (buf[126] == 'I' && buf[127] == 'M')
        c.swap = 0;
    else if (buf[126] == 'M' && buf[127] == 'I')
        c.swap = 1;
    else
        return mx_error(MX_ERR_IO, "%s: cannot open as a MAT file (bad endian mark)", name);
    const unsigned ver =
        c.swap ? (unsigned)buf[124] << 8 | buf[125] : (unsigned)buf[125] << 8 | buf[124];
    if (ver != 0x0100)
        return mx_error(MX_ERR_IO,
                        "%s: MAT version 0x%04x is not supported (expected a v5 / v7 file, "
                        "version 0x0100; save with -v7, not -v7.3)",
                        name, ver);
    size_t pos = 128;
    while (pos < size) {
        c.var++;
        c.vname[0] = 0;
        c.v0 = buf + pos;
        el e;
        if (!tag_at(&c, buf + pos, size - pos, &e) || rd32(&c, buf + pos) >> 16)
            return fail(&c, buf + pos,
                        "variable tag truncated, malformed or larger than the file (%zu bytes "
                        "left)",
                        size - pos);
        if (e.type == MI_MATRIX) {
            c.v0 = e.data;
            MX_TRY(check_matrix(&c, e.data, e.n, 0));
        } else if (e.type == MI_COMPRESSED) {
            uint8_t *z = NULL;
            size_t zn = 0;
            MX_TRY(inflate_var(&c, e.data, e.n, &z, &zn));
            el m;
            c.v0 = z;
            mx_status st = MX_OK;
            if (!tag_at(&c, z, zn, &m) || m.type != MI_MATRIX)
                st = fail(&c, z, "compressed data: expected one miMATRIX element");
            if (st == MX_OK) st = check_matrix(&c, m.data, m.n, 0);
            free(z);
            MX_TRY(st);
            e.total = 8 + e.n; /* compressed elements are not padded */
        } else {
            return fail(&c, buf + pos,
                        "element type %u, expected miMATRIX (14) or miCOMPRESSED "
                        "(15)",
                        e.type);
        }
        pos += e.total;
    }
    return MX_OK;
}

mx_status mx_mat_check(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) return mx_error(MX_ERR_IO, "%s: cannot open as a MAT file", path);
    if ((uint64_t)sb.st_size > MX_MAT_MAX_FILE)
        return mx_error(MX_ERR_FORMAT, "%s: %lld bytes, more than the %zu MiB a MAT file may have",
                        path, (long long)sb.st_size, MX_MAT_MAX_FILE >> 20);
    uint8_t *buf = NULL;
    size_t size = 0;
    MX_TRY(mx_read_file(path, &buf, &size));
    mx_status st = mx_mat_check_buffer(buf, size, path);
    free(buf);
    return st;
}
