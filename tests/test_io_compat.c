/* io: compatibility with Python. Reads committed fixtures written by tests/ref/io_ref.py (torch
 * tensors saved as safetensors by hand with struct + json; np.save'd .npy in versions 1.0-3.0),
 * and, when /usr/bin/python3 with torch is available, has Python read the files C writes and
 * converts a torchvision resnet50 with tools/convert_torchvision.py for C to read. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrix/io.h"
#include "mx_test.h"

static char fix[1024], tmp[1024];

static const char *fpath(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", fix, name);
    return buf[k];
}

static const char *tpath(const char *name) {
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static double fv(int64_t i) {
    return 3.0 * sin(0.37 * (double)i);
}

/* The integer tensors of io_ref.py (INTS), as int64 / uint64 bit patterns. */
static int64_t iv(const char *name, int64_t i) {
    if (!strcmp(name, "i64")) return (i - 2) * 3000000000LL;
    if (!strcmp(name, "i32")) return (i - 2) * 100000;
    if (!strcmp(name, "u8")) return (i * 40) % 256;
    if (!strcmp(name, "u16")) return 65535 - i * 1000;
    if (!strcmp(name, "u32")) return 4294967295LL - i * 1000;
    if (!strcmp(name, "u64")) return (int64_t)(UINT64_MAX - (uint64_t)i);
    if (!strcmp(name, "bool")) return i % 2 == 0;
    return -1;
}

static const struct {
    const char *name;
    mx_dtype dtype;
    int ndim;
    int64_t shape[2];
} ints[] = {
    {"i64", MX_DTYPE_I64, 1, {4}},   {"i32", MX_DTYPE_I32, 2, {2, 2}},
    {"u8", MX_DTYPE_U8, 1, {6}},     {"u16", MX_DTYPE_U16, 1, {3}},
    {"u32", MX_DTYPE_U32, 1, {3}},   {"u64", MX_DTYPE_U64, 1, {2}},
    {"bool", MX_DTYPE_BOOL, 1, {5}},
};

/* Widens element i of raw data of dtype t to int64 (U64 as its bit pattern). */
static int64_t elem(const void *data, mx_dtype t, int64_t i) {
    const unsigned char *p = (const unsigned char *)data + (size_t)i * mx_dtype_size(t);
    switch (t) {
    case MX_DTYPE_I64:
    case MX_DTYPE_U64: {
        int64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    case MX_DTYPE_I32: {
        int32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case MX_DTYPE_U32: {
        uint32_t x;
        memcpy(&x, p, 4);
        return x;
    }
    case MX_DTYPE_U16: {
        uint16_t x;
        memcpy(&x, p, 2);
        return x;
    }
    default:
        return *p;
    }
}

static void test_read_python_safetensors(void) {
    mx_safetensors *st = NULL;
    CHECK_OK(mx_st_open(fpath("py_written.safetensors"), &st));
    if (!st) return;
    CHECK(mx_st_count(st) == 11);
    CHECK(mx_st_metadata(st, "unicode") &&
          strcmp(mx_st_metadata(st, "unicode"), "caf\xc3\xa9") == 0);
    float got[32], want[32];
    CHECK_OK(mx_st_read_f32(st, "f32", 2, (int64_t[]){3, 4}, got));
    for (int i = 0; i < 12; i++) want[i] = (float)fv(i);
    mx_test_compare("py f32", got, want, 12, 1e-7, 0);
    CHECK_OK(mx_st_read_f32(st, "f64", 1, (int64_t[]){5}, got));
    for (int i = 0; i < 5; i++) want[i] = (float)fv(i);
    mx_test_compare("py f64", got, want, 5, 1e-7, 0);
    const mx_tensor_view *v = mx_st_find(st, "f64");
    if (v) {
        double d;
        memcpy(&d, (const char *)v->data + 16, 8);
        CHECK_CLOSE(d, fv(2), 1e-15, 0);
    }
    CHECK_OK(mx_st_read_f32(st, "f16", 2, (int64_t[]){2, 3}, got));
    for (int i = 0; i < 6; i++) want[i] = (float)fv(i);
    mx_test_compare("py f16", got, want, 6, 1e-4, 5e-4); /* half: 11-bit significand */
    CHECK_OK(mx_st_read_f32(st, "bf16", 1, (int64_t[]){7}, got));
    for (int i = 0; i < 7; i++) want[i] = (float)fv(i);
    mx_test_compare("py bf16", got, want, 7, 1e-6, 4e-3); /* bfloat16: 8-bit significand */
    CHECK_OK(mx_st_read_f32(st, "scalar", 0, NULL, got));
    CHECK_CLOSE(got[0], 3.5, 0, 0);
    CHECK_OK(mx_st_read_f32(st, "empty", 2, (int64_t[]){0, 3}, got));
    CHECK_OK(mx_st_read_f32(st, "layer1.0.conv1.weight", 4, (int64_t[]){2, 1, 3, 3}, got));
    for (int i = 0; i < 18; i++) want[i] = (float)fv(i);
    mx_test_compare("py conv", got, want, 18, 1e-7, 0);
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        v = mx_st_find(st, ints[k].name);
        if (!v) continue; /* u16/u32/u64: torch 1.13 has no such dtypes */
        CHECK(v->dtype == ints[k].dtype && v->ndim == ints[k].ndim);
        int64_t n = v->nbytes / mx_dtype_size(v->dtype), g[8];
        for (int64_t i = 0; i < n; i++) CHECK(elem(v->data, v->dtype, i) == iv(ints[k].name, i));
        CHECK_OK(mx_st_read_i64(st, ints[k].name, ints[k].ndim, ints[k].shape, g));
        for (int64_t i = 0; i < n; i++) CHECK(g[i] == iv(ints[k].name, i));
    }
    mx_st_free(st);

    CHECK_OK(mx_st_open(fpath("py_unpadded.safetensors"), &st));
    if (!st) return;
    CHECK(mx_st_count(st) == 2 && strcmp(mx_st_at(st, 0)->name, "b") == 0);
    CHECK_OK(mx_st_read_f32(st, "a", 1, (int64_t[]){3}, got));
    for (int i = 0; i < 3; i++) want[i] = (float)fv(i);
    mx_test_compare("unpadded a", got, want, 3, 1e-7, 0);
    int64_t g[4];
    CHECK_OK(mx_st_read_i64(st, "b", 1, (int64_t[]){4}, g));
    for (int i = 0; i < 4; i++) CHECK(g[i] == iv("i64", i));
    mx_st_free(st);
}

static void test_read_numpy(void) {
    mx_array a;
    CHECK_OK(mx_npy_read(fpath("py_f32.npy"), &a));
    CHECK(a.dtype == MX_DTYPE_F32 && a.ndim == 2 && a.shape[0] == 3 && a.shape[1] == 4);
    float want[12];
    for (int i = 0; i < 12; i++) want[i] = (float)fv(i);
    if (a.data) mx_test_compare("npy f32", a.data, want, 12, 1e-7, 0);
    mx_array_free(&a);
    CHECK_OK(mx_npy_read(fpath("py_f64_scalar.npy"), &a));
    CHECK(a.dtype == MX_DTYPE_F64 && a.ndim == 0 && a.data && *(double *)a.data == 2.75);
    mx_array_free(&a);
    const char *vers[2] = {"py_f64_v2.npy", "py_f64_v3.npy"};
    for (int k = 0; k < 2; k++) {
        CHECK_OK(mx_npy_read(fpath(vers[k]), &a));
        CHECK(a.dtype == MX_DTYPE_F64 && a.ndim == 2 && a.shape[0] == 5 && a.shape[1] == 1);
        for (int i = 0; a.data && i < 5; i++) CHECK_CLOSE(((double *)a.data)[i], fv(i), 1e-15, 0);
        mx_array_free(&a);
    }
    for (size_t k = 0; k < sizeof ints / sizeof ints[0]; k++) {
        char name[64];
        snprintf(name, sizeof name, "py_%s.npy", ints[k].name);
        CHECK_OK(mx_npy_read(fpath(name), &a));
        CHECK(a.dtype == ints[k].dtype && a.ndim == ints[k].ndim);
        for (int d = 0; d < a.ndim; d++) CHECK(a.shape[d] == ints[k].shape[d]);
        for (int64_t i = 0; a.data && i < mx_array_numel(&a); i++)
            CHECK(elem(a.data, a.dtype, i) == iv(ints[k].name, i));
        mx_array_free(&a);
    }
    CHECK(mx_npy_read(fpath("py_fortran.npy"), &a) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "fortran_order") && strstr(mx_errmsg(), "py_fortran.npy"));
    CHECK(mx_npy_read(fpath("py_bigendian.npy"), &a) == MX_ERR_FORMAT);
    CHECK(strstr(mx_errmsg(), "big-endian") != NULL);
}

static int have_torch(void) {
    if (access("/usr/bin/python3", X_OK) != 0) return 0;
    return system("/usr/bin/python3 -c 'import torch, torchvision, numpy' >/dev/null 2>&1") == 0;
}

/* C writes c.safetensors and c_*.npy; io_ref.py check verifies them in Python. */
static void test_python_reads_ours(void) {
    float f32[12], scalar = 3.5f;
    double f64[5];
    for (int i = 0; i < 12; i++) f32[i] = (float)fv(i);
    for (int i = 0; i < 5; i++) f64[i] = fv(i);
    unsigned char ib[7][64];
    mx_tensor_view t[11] = {
        {.name = "f32",
         .dtype = MX_DTYPE_F32,
         .ndim = 2,
         .shape = {3, 4},
         .data = f32,
         .nbytes = 48},
        {.name = "f64", .dtype = MX_DTYPE_F64, .ndim = 1, .shape = {5}, .data = f64, .nbytes = 40},
    };
    size_t n = 2;
    for (size_t k = 0; k < 7; k++, n++) {
        int64_t numel = ints[k].ndim == 2 ? ints[k].shape[0] * ints[k].shape[1] : ints[k].shape[0];
        size_t es = mx_dtype_size(ints[k].dtype);
        for (int64_t i = 0; i < numel; i++) {
            int64_t x = iv(ints[k].name, i);
            memcpy(ib[k] + (size_t)i * es, &x, es); /* little-endian: low bytes first */
        }
        t[n] = (mx_tensor_view){.name = ints[k].name,
                                .dtype = ints[k].dtype,
                                .ndim = ints[k].ndim,
                                .shape = {ints[k].shape[0], ints[k].shape[1]},
                                .data = ib[k],
                                .nbytes = (size_t)numel * es};
    }
    t[n++] =
        (mx_tensor_view){.name = "scalar", .dtype = MX_DTYPE_F32, .data = &scalar, .nbytes = 4};
    t[n++] = (mx_tensor_view){.name = "empty", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {0, 3}};
    const char *meta[4] = {"created_by", "test_io_compat", "unicode", "caf\xc3\xa9"};
    CHECK_OK(mx_st_write(tpath("c.safetensors"), t, n, meta, 2));
    CHECK_OK(mx_npy_write(tpath("c_f32.npy"), MX_DTYPE_F32, 2, (int64_t[]){3, 4}, f32));
    CHECK_OK(mx_npy_write(tpath("c_i64.npy"), MX_DTYPE_I64, 1, (int64_t[]){4}, ib[0]));
    CHECK_OK(mx_npy_write(tpath("c_u8.npy"), MX_DTYPE_U8, 1, (int64_t[]){6}, ib[2]));
    CHECK_OK(mx_npy_write(tpath("c_bool.npy"), MX_DTYPE_BOOL, 1, (int64_t[]){5}, ib[6]));
    CHECK_OK(mx_npy_write(tpath("c_scalar.npy"), MX_DTYPE_F32, 0, NULL, &scalar));
    CHECK_OK(mx_npy_write(tpath("c_empty.npy"), MX_DTYPE_F32, 2, (int64_t[]){0, 3}, NULL));
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/io_ref.py check %s", MX_SOURCE_DIR,
             tmp);
    CHECK(system(cmd) == 0);
}

/* tools/convert_torchvision.py: a random-init torchvision resnet50 read by C. */
static void test_resnet50(void) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ref/io_ref.py r50 %s", MX_SOURCE_DIR, tmp);
    CHECK(system(cmd) == 0);
    mx_safetensors *st = NULL;
    CHECK_OK(mx_st_open(tpath("r50.safetensors"), &st));
    if (!st) return;
    CHECK(mx_st_count(st) == 320);
    CHECK(mx_st_metadata(st, "arch") && strcmp(mx_st_metadata(st, "arch"), "resnet50") == 0);
    int64_t n_f32 = 0, n_params = 0, n_i64 = 0;
    for (size_t i = 0; i < mx_st_count(st); i++) {
        const mx_tensor_view *v = mx_st_at(st, i);
        if (v->dtype == MX_DTYPE_F32) {
            int64_t numel = (int64_t)(v->nbytes / 4);
            float *buf = malloc((size_t)numel * 4 + 4);
            CHECK_OK(mx_st_read_f32(st, v->name, v->ndim, v->shape, buf));
            free(buf);
            n_f32++;
            if (!strstr(v->name, "running_")) n_params += numel;
        } else {
            int64_t x = -1;
            CHECK(v->dtype == MX_DTYPE_I64 && v->ndim == 0);
            CHECK_OK(mx_st_read_i64(st, v->name, 0, NULL, &x));
            CHECK(x == 0 && strstr(v->name, "num_batches_tracked"));
            n_i64++;
        }
    }
    CHECK(n_f32 == 267 && n_i64 == 53);
    CHECK(n_params == 25557032); /* torchvision resnet50 parameter count */
    static const struct {
        const char *name;
        int ndim;
        int64_t shape[4];
    } cmp[] = {{"conv1.weight", 4, {64, 3, 7, 7}},
               {"layer4.2.bn3.running_var", 1, {2048}},
               {"fc.weight", 2, {1000, 2048}},
               {"fc.bias", 1, {1000}}};
    for (size_t k = 0; k < 4; k++) {
        char name[128];
        snprintf(name, sizeof name, "r50_%s.npy", cmp[k].name);
        mx_array a;
        CHECK_OK(mx_npy_read(tpath(name), &a));
        int64_t numel = mx_array_numel(&a);
        float *buf = malloc((size_t)numel * 4 + 4);
        CHECK_OK(mx_st_read_f32(st, cmp[k].name, cmp[k].ndim, cmp[k].shape, buf));
        if (a.data) mx_test_compare(cmp[k].name, buf, a.data, (size_t)numel, 0, 1e-7);
        free(buf);
        mx_array_free(&a);
    }
    /* C rewrites the model; Python converts it back and loads it into torchvision's resnet50 */
    size_t n = mx_st_count(st);
    mx_tensor_view *views = malloc(n * sizeof *views);
    for (size_t i = 0; i < n; i++) views[i] = *mx_st_at(st, i);
    const char *meta[2] = {"arch", "resnet50"};
    CHECK_OK(mx_st_write(tpath("r50_c.safetensors"), views, n, meta, 1));
    free(views);
    mx_st_free(st);
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 %s/tools/convert_torchvision.py to-torch --arch resnet50 %s %s",
             MX_SOURCE_DIR, tpath("r50_c.safetensors"), tpath("r50_c.pth"));
    CHECK(system(cmd) == 0);
}

int main(void) {
    snprintf(fix, sizeof fix, "%s/tests/fixtures/io", MX_SOURCE_DIR);
    snprintf(tmp, sizeof tmp, "%s/test_io_compat_tmp", MX_BINARY_DIR);
    mkdir(tmp, 0755);
    test_read_python_safetensors();
    test_read_numpy();
    if (have_torch()) {
        test_python_reads_ours();
        test_resnet50();
    } else {
        printf("test_io_compat: /usr/bin/python3 with torch/torchvision/numpy not available; "
               "skipping the Python-side checks\n");
    }
    return mx_test_finish("test_io_compat");
}
