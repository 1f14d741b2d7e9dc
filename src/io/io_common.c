/* io: dtype tables, half-precision conversion, whole-file reads and atomic file writes
 * (temp file in the same directory + fflush + fsync + rename). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core_impl.h"
#include "io/io_impl.h"
#include "metrix/io.h"

static const struct {
    size_t size;
    const char *st_name;  /* safetensors */
    const char *npy_name; /* numpy descr, little-endian */
} dtype_table[MX_DTYPE_COUNT] = {
    [MX_DTYPE_F32] = {4, "F32", "<f4"},   [MX_DTYPE_F64] = {8, "F64", "<f8"},
    [MX_DTYPE_F16] = {2, "F16", "<f2"},   [MX_DTYPE_BF16] = {2, "BF16", NULL},
    [MX_DTYPE_I64] = {8, "I64", "<i8"},   [MX_DTYPE_I32] = {4, "I32", "<i4"},
    [MX_DTYPE_I16] = {2, "I16", "<i2"},   [MX_DTYPE_I8] = {1, "I8", "|i1"},
    [MX_DTYPE_U8] = {1, "U8", "|u1"},     [MX_DTYPE_U16] = {2, "U16", "<u2"},
    [MX_DTYPE_U32] = {4, "U32", "<u4"},   [MX_DTYPE_U64] = {8, "U64", "<u8"},
    [MX_DTYPE_BOOL] = {1, "BOOL", "|b1"},
};

size_t mx_dtype_size(mx_dtype t) {
    return (unsigned)t < MX_DTYPE_COUNT ? dtype_table[t].size : 0;
}

const char *mx_dtype_name(mx_dtype t) {
    return (unsigned)t < MX_DTYPE_COUNT ? dtype_table[t].st_name : "?";
}

const char *mx_dtype_npy_descr(mx_dtype t) {
    return (unsigned)t < MX_DTYPE_COUNT ? dtype_table[t].npy_name : NULL;
}

int mx_dtype_from_name(const char *name, mx_dtype *out) {
    for (int t = 0; t < MX_DTYPE_COUNT; t++) {
        if (strcmp(name, dtype_table[t].st_name) == 0) {
            *out = (mx_dtype)t;
            return 1;
        }
    }
    return 0;
}

float mx_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13); /* Inf / NaN */
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13); /* normal: rebias 15 -> 127 */
    } else if (man == 0) {
        bits = sign; /* signed zero */
    } else {         /* subnormal: man * 2^-24, exact in float32 */
        float v = (float)man * (1.0f / 16777216.0f);
        memcpy(&bits, &v, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

float mx_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

int mx_io_numel(int ndim, const int64_t *shape, int64_t *numel) {
    int64_t n = 1;
    *numel = 0;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return 0;
        if (shape[i] != 0 && n > INT64_MAX / shape[i]) return 0;
        n *= shape[i];
    }
    *numel = n;
    return 1;
}

const char *mx_io_shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int i = 0; i < ndim && k < cap; i++)
        k += (size_t)snprintf(buf + k, cap - k, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

int64_t mx_array_numel(const mx_array *a) {
    int64_t n = 0;
    if (!a || !mx_io_numel(a->ndim, a->shape, &n)) return 0;
    return n;
}

void mx_array_free(mx_array *a) {
    if (!a) return;
    mx_free(a->data);
    memset(a, 0, sizeof *a);
}

mx_status mx_io_read_file(const char *path, unsigned char **out, size_t *size) {
    *out = NULL;
    *size = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return mx_error(MX_ERR_IO, "%s: cannot open for reading: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < 0) {
        fclose(fp);
        return mx_error(MX_ERR_IO, "%s: not a regular file", path);
    }
    long len = (long)sb.st_size;
    unsigned char *buf = mx_alloc((size_t)len + 1);
    if (!buf) {
        fclose(fp);
        return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %ld bytes to read the file", path, len);
    }
    size_t got = fread(buf, 1, (size_t)len, fp);
    int err = ferror(fp);
    fclose(fp);
    if (got != (size_t)len || err) {
        mx_free(buf);
        return mx_error(MX_ERR_IO, "%s: read %zu of %ld bytes", path, got, len);
    }
    buf[len] = 0;
    *out = buf;
    *size = (size_t)len;
    return MX_OK;
}

/* ---- atomic files ------------------------------------------------------------------------ */

struct mx_atomic_file {
    FILE *fp;
    char *path; /* destination */
    char *tmp;  /* "<path>.tmp.<pid>" */
};

mx_status mx_atomic_open(const char *path, mx_atomic_file **out, FILE **fp) {
    if (!path || !out || !fp) return mx_error(MX_ERR_ARG, "mx_atomic_open: NULL argument");
    *out = NULL;
    *fp = NULL;
    mx_atomic_file *f = calloc(1, sizeof *f);
    size_t n = strlen(path);
    if (f) f->path = malloc(n + 1);
    if (f) f->tmp = malloc(n + 32);
    if (!f || !f->path || !f->tmp) {
        if (f) free(f->path);
        free(f);
        return mx_error(MX_ERR_NOMEM, "%s: out of memory opening an atomic write", path);
    }
    memcpy(f->path, path, n + 1);
    snprintf(f->tmp, n + 32, "%s.tmp.%ld", path, (long)getpid());
    f->fp = fopen(f->tmp, "wb");
    if (!f->fp) {
        mx_status s = mx_error(MX_ERR_IO, "%s: cannot create temporary file %s: %s", path, f->tmp,
                               strerror(errno));
        free(f->tmp);
        free(f->path);
        free(f);
        return s;
    }
    *out = f;
    *fp = f->fp;
    return MX_OK;
}

static void atomic_free(mx_atomic_file *f) {
    free(f->tmp);
    free(f->path);
    free(f);
}

/* fsync the directory holding path, so that the rename itself is durable (best effort). */
static void sync_parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    char dir[4096];
    if (!slash) {
        strcpy(dir, ".");
    } else if (slash == path) {
        strcpy(dir, "/");
    } else {
        size_t n = (size_t)(slash - path);
        if (n >= sizeof dir) return;
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd = open(dir, O_RDONLY);
    if (fd < 0) return;
    (void)fsync(fd);
    close(fd);
}

mx_status mx_atomic_commit(mx_atomic_file *f) {
    if (!f) return mx_error(MX_ERR_ARG, "mx_atomic_commit: NULL handle");
    mx_status s = MX_OK;
    int err = 0;
    if (fflush(f->fp) != 0 || ferror(f->fp)) {
        err = errno;
        s = mx_error(MX_ERR_IO, "%s: write to %s failed: %s", f->path, f->tmp, strerror(err));
    } else if (fsync(fileno(f->fp)) != 0) {
        err = errno;
        s = mx_error(MX_ERR_IO, "%s: fsync of %s failed: %s", f->path, f->tmp, strerror(err));
    }
    if (fclose(f->fp) != 0 && s == MX_OK) {
        err = errno;
        s = mx_error(MX_ERR_IO, "%s: close of %s failed: %s", f->path, f->tmp, strerror(err));
    }
    f->fp = NULL;
    if (s == MX_OK && rename(f->tmp, f->path) != 0) {
        err = errno;
        s = mx_error(MX_ERR_IO, "%s: rename from %s failed: %s", f->path, f->tmp, strerror(err));
    }
    if (s != MX_OK) {
        remove(f->tmp);
    } else {
        sync_parent_dir(f->path);
    }
    atomic_free(f);
    return s;
}

void mx_atomic_abort(mx_atomic_file *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);
    remove(f->tmp);
    atomic_free(f);
}
