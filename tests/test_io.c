/* io: .npy and safetensors round trips and malformed-file errors, atomic writes, checkpoints,
 * half-precision conversion. Files go to MX_BINARY_DIR/test_io_tmp. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io_impl.h"
#include "metrix/io.h"
#include "mx_test.h"

static char dir[1024];

static const char *tmp_path(const char *name) {
    static char buf[4][1100];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *fp = fopen(path, "wb");
    CHECK(fp != NULL);
    if (!fp) return;
    CHECK(fwrite(data, 1, n, fp) == n);
    fclose(fp);
}

static size_t read_bytes(const char *path, unsigned char *buf, size_t cap) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return 0;
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

static int msg_has(const char *needle) {
    int ok = strstr(mx_errmsg(), needle) != NULL;
    if (!ok) fprintf(stderr, "  message '%s' lacks '%s'\n", mx_errmsg(), needle);
    return ok;
}

/* ---- .npy -------------------------------------------------------------------------------- */

static void test_npy_roundtrip(void) {
    float f[6] = {1.5f, -2, 3.25f, 0, 1e-30f, 7};
    int64_t shape[2] = {2, 3};
    const char *p = tmp_path("a.npy");
    CHECK_OK(mx_npy_write(p, MX_DTYPE_F32, 2, shape, f));
    unsigned char raw[256];
    size_t n = read_bytes(p, raw, sizeof raw);
    CHECK(n == 128 + 24);
    CHECK(memcmp(raw, "\x93NUMPY\x01\x00", 8) == 0);
    CHECK(raw[8] + 256 * raw[9] == 118);
    CHECK(raw[127] == '\n');
    CHECK(memcmp(raw + 10, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", 59) == 0);
    mx_array a;
    CHECK_OK(mx_npy_read(p, &a));
    CHECK(a.dtype == MX_DTYPE_F32 && a.ndim == 2 && a.shape[0] == 2 && a.shape[1] == 3);
    CHECK(mx_array_numel(&a) == 6);
    if (a.data) mx_test_compare("npy f32", a.data, f, 6, 0, 0);
    mx_array_free(&a);
    CHECK(a.data == NULL && a.ndim == 0);
    mx_array_free(NULL);

    /* every dtype, 1-d and scalar and empty shapes */
    for (int t = 0; t < MX_DTYPE_COUNT; t++) {
        if (!mx_dtype_npy_descr((mx_dtype)t)) continue;
        unsigned char buf[40];
        for (int i = 0; i < 40; i++) buf[i] = (unsigned char)(i * 7 + t);
        if (t == MX_DTYPE_BOOL)
            for (int i = 0; i < 40; i++) buf[i] &= 1;
        size_t es = mx_dtype_size((mx_dtype)t);
        int64_t s1[1] = {(int64_t)(40 / es)};
        CHECK_OK(mx_npy_write(p, (mx_dtype)t, 1, s1, buf));
        CHECK_OK(mx_npy_read(p, &a));
        CHECK(a.dtype == (mx_dtype)t && a.ndim == 1 && a.shape[0] == s1[0]);
        CHECK(a.data && memcmp(a.data, buf, 40 / es * es) == 0);
        mx_array_free(&a);
        CHECK_OK(mx_npy_write(p, (mx_dtype)t, 0, NULL, buf));
        CHECK_OK(mx_npy_read(p, &a));
        CHECK(a.ndim == 0 && mx_array_numel(&a) == 1 && memcmp(a.data, buf, es) == 0);
        mx_array_free(&a);
    }
    int64_t s3[3] = {4, 0, 2};
    CHECK_OK(mx_npy_write(p, MX_DTYPE_I64, 3, s3, NULL));
    CHECK_OK(mx_npy_read(p, &a));
    CHECK(a.ndim == 3 && a.shape[1] == 0 && mx_array_numel(&a) == 0);
    mx_array_free(&a);
}

/* Writes a .npy with a given version and header text (padded to 64 like numpy). */
static void write_npy_raw(const char *path, int major, const char *dict, const void *data,
                          size_t nbytes) {
    unsigned char buf[1024];
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = (pre + dl + 1 + 63) / 64 * 64, hl = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    for (size_t i = 0; i < pre - 8; i++) buf[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', hl - dl - 1);
    buf[total - 1] = '\n';
    memcpy(buf + total, data, nbytes);
    write_bytes(path, buf, total + nbytes);
}

static void test_npy_variants_and_errors(void) {
    const char *p = tmp_path("b.npy");
    double d[3] = {1, 2.5, -3};
    mx_array a;
    /* v2.0 and v3.0, double quotes, no trailing comma, '=' byte order, extra spaces */
    write_npy_raw(p, 2, "{\"descr\": \"=f8\", \"fortran_order\": False, \"shape\": (3,)}", d, 24);
    CHECK_OK(mx_npy_read(p, &a));
    CHECK(a.dtype == MX_DTYPE_F64 && a.ndim == 1 && a.shape[0] == 3);
    if (a.data) CHECK(((double *)a.data)[1] == 2.5);
    mx_array_free(&a);
    write_npy_raw(p, 3, "{ 'shape' : ( 1 , 3 ) , 'fortran_order':False,'descr':'<f8' , }", d, 24);
    CHECK_OK(mx_npy_read(p, &a));
    CHECK(a.ndim == 2 && a.shape[0] == 1 && a.shape[1] == 3);
    mx_array_free(&a);
    write_npy_raw(p, 1, "{'descr': '|u1', 'fortran_order': False, 'shape': (), }", d, 1);
    CHECK_OK(mx_npy_read(p, &a));
    CHECK(a.ndim == 0 && a.dtype == MX_DTYPE_U8);
    mx_array_free(&a);

    struct {
        const char *dict;
        size_t nbytes;
        int major;
        const char *msg;
    } bad[] = {
        {"{'descr': '>f8', 'fortran_order': False, 'shape': (3,), }", 24, 1, "big-endian"},
        {"{'descr': '<f8', 'fortran_order': True, 'shape': (3,), }", 24, 1, "fortran_order"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", 24, 1, "unsupported"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }", 24, 1, "descr"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", 24, 1, "expected 32"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 24, 1, "expected 16"},
        {"{'descr': '<f8', 'shape': (3,), }", 24, 1, "fortran_order"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x': 1}", 24, 1, "'x'"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (-3,), }", 24, 1, "shape[0]"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,) ", 24, 1, "expected"},
        {"['descr', '<f8']", 24, 1, "dict"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (3,), }", 24, 4, "version"},
        {"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999, 99999999999, "
         "99999999999), }",
         24, 1, "overflows"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_npy_raw(p, bad[i].major, bad[i].dict, d, bad[i].nbytes);
        mx_status s = mx_npy_read(p, &a);
        CHECK(s == MX_ERR_FORMAT);
        CHECK(msg_has(bad[i].msg));
        CHECK(msg_has("b.npy"));
        CHECK(a.data == NULL);
    }
    write_bytes(p, "\x93NUMPY\x01", 7);
    CHECK(mx_npy_read(p, &a) == MX_ERR_FORMAT);
    write_bytes(p, "\x93NUMPY\x01\x00\xff\x00{}", 12); /* header length past the end */
    CHECK(mx_npy_read(p, &a) == MX_ERR_FORMAT && msg_has("past the end"));
    CHECK(mx_npy_read(tmp_path("missing.npy"), &a) == MX_ERR_IO && msg_has("missing.npy"));
    CHECK(mx_npy_write(p, MX_DTYPE_BF16, 1, (int64_t[]){1}, d) == MX_ERR_ARG);
    CHECK(mx_npy_write(p, MX_DTYPE_F32, 1, (int64_t[]){-1}, d) == MX_ERR_ARG);
}

/* ---- atomic files ------------------------------------------------------------------------ */

static void test_atomic(void) {
    const char *p = tmp_path("atomic.txt");
    write_bytes(p, "old", 3);
    mx_atomic_file *f;
    FILE *fp;
    CHECK_OK(mx_atomic_open(p, &f, &fp));
    fputs("new contents", fp);
    mx_atomic_abort(f);
    unsigned char buf[64];
    size_t n = read_bytes(p, buf, sizeof buf);
    CHECK(n == 3 && memcmp(buf, "old", 3) == 0);
    char tmp[1200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", p, (long)getpid());
    struct stat sb;
    CHECK(stat(tmp, &sb) != 0); /* temp removed */
    mx_atomic_abort(NULL);

    CHECK_OK(mx_atomic_open(p, &f, &fp));
    fputs("new contents", fp);
    CHECK(stat(tmp, &sb) == 0);
    n = read_bytes(p, buf, sizeof buf);
    CHECK(n == 3); /* destination untouched until commit */
    CHECK_OK(mx_atomic_commit(f));
    n = read_bytes(p, buf, sizeof buf);
    CHECK(n == 12 && memcmp(buf, "new contents", 12) == 0);
    CHECK(stat(tmp, &sb) != 0);

    /* a directory that does not exist: open fails cleanly */
    CHECK(mx_atomic_open(tmp_path("no/such/dir/x"), &f, &fp) == MX_ERR_IO);
    CHECK(f == NULL && fp == NULL);
    /* rename onto a directory fails: temp removed, destination untouched */
    const char *d = tmp_path("adir");
    mkdir(d, 0755);
    CHECK_OK(mx_atomic_open(d, &f, &fp));
    fputs("x", fp);
    CHECK(mx_atomic_commit(f) == MX_ERR_IO);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", d, (long)getpid());
    CHECK(stat(tmp, &sb) != 0);
    CHECK(stat(d, &sb) == 0 && S_ISDIR(sb.st_mode));
}

/* ---- safetensors ------------------------------------------------------------------------- */

static void test_dtypes(void) {
    for (int t = 0; t < MX_DTYPE_COUNT; t++) {
        mx_dtype back = MX_DTYPE_COUNT;
        CHECK(mx_dtype_size((mx_dtype)t) > 0);
        CHECK(mx_dtype_from_name(mx_dtype_name((mx_dtype)t), &back) && back == (mx_dtype)t);
    }
    CHECK(mx_dtype_size(MX_DTYPE_COUNT) == 0 && strcmp(mx_dtype_name(MX_DTYPE_COUNT), "?") == 0);
    CHECK(strcmp(mx_dtype_npy_descr(MX_DTYPE_I64), "<i8") == 0);
    CHECK(mx_dtype_npy_descr(MX_DTYPE_BF16) == NULL);
    mx_dtype d;
    CHECK(!mx_dtype_from_name("F8_E4M3", &d));
}

static void test_half(void) {
    CHECK(mx_f16_to_f32(0x3c00) == 1.0f);
    CHECK(mx_f16_to_f32(0xc000) == -2.0f);
    CHECK(mx_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(mx_f16_to_f32(0x0001) == 5.9604644775390625e-8f); /* smallest subnormal */
    CHECK(mx_f16_to_f32(0x03ff) == 6.097555160522461e-05f); /* largest subnormal */
    CHECK(mx_f16_to_f32(0x0400) == 6.103515625e-05f);
    CHECK(mx_f16_to_f32(0x7c00) > 1e38f);
    float nan = mx_f16_to_f32(0x7e00);
    CHECK(nan != nan);
    CHECK(mx_bf16_to_f32(0x3f80) == 1.0f);
    CHECK(mx_bf16_to_f32(0xc0a0) == -5.0f);
}

static void test_st_roundtrip(void) {
    const char *p = tmp_path("a.safetensors");
    float w[6] = {1, 2, 3, 4, 5, 6.5f};
    int64_t steps = 1234567890123LL;
    uint8_t u[3] = {1, 2, 255};
    uint16_t h[2] = {0x3c00, 0xc000};
    mx_tensor_view t[5] = {
        {.name = "layer.weight",
         .dtype = MX_DTYPE_F32,
         .ndim = 2,
         .shape = {2, 3},
         .data = w,
         .nbytes = 24},
        {.name = "step", .dtype = MX_DTYPE_I64, .ndim = 0, .data = &steps, .nbytes = 8},
        {.name = "mask", .dtype = MX_DTYPE_U8, .ndim = 1, .shape = {3}, .data = u, .nbytes = 3},
        {.name = "empty", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {0, 5}, .nbytes = 0},
        {.name = "half \"q\"\\",
         .dtype = MX_DTYPE_F16,
         .ndim = 1,
         .shape = {2},
         .data = h,
         .nbytes = 4},
    };
    const char *meta[4] = {"config", "{\"lr\": 0.1}", "note", "ünïcode"};
    CHECK_OK(mx_st_write(p, t, 5, meta, 2));
    unsigned char raw[1024];
    size_t n = read_bytes(p, raw, sizeof raw);
    uint64_t hl = 0;
    for (int i = 7; i >= 0; i--) hl = hl << 8 | raw[i];
    CHECK(hl % 8 == 0 && raw[8] == '{');
    CHECK(n == 8 + hl + 24 + 8 + 3 + 0 + 4);

    mx_safetensors *st = NULL;
    CHECK_OK(mx_st_open(p, &st));
    if (!st) return;
    CHECK(mx_st_count(st) == 5);
    CHECK(strcmp(mx_st_at(st, 0)->name, "layer.weight") == 0); /* data order = write order */
    CHECK(mx_st_at(st, 5) == NULL);
    CHECK(strcmp(mx_st_metadata(st, "config"), "{\"lr\": 0.1}") == 0);
    CHECK(strcmp(mx_st_metadata(st, "note"), "ünïcode") == 0);
    CHECK(mx_st_metadata(st, "absent") == NULL);
    const mx_tensor_view *v = mx_st_find(st, "mask");
    CHECK(v && v->dtype == MX_DTYPE_U8 && v->ndim == 1 && v->shape[0] == 3 && v->nbytes == 3);
    if (v) CHECK(memcmp(v->data, u, 3) == 0);
    CHECK(mx_st_find(st, "nope") == NULL);
    v = mx_st_find(st, "half \"q\"\\");
    CHECK(v && v->dtype == MX_DTYPE_F16);
    float got[6];
    CHECK_OK(mx_st_read_f32(st, "layer.weight", 2, (int64_t[]){2, 3}, got));
    mx_test_compare("st f32", got, w, 6, 0, 0);
    CHECK_OK(mx_st_read_f32(st, "half \"q\"\\", 1, (int64_t[]){2}, got));
    CHECK(got[0] == 1.0f && got[1] == -2.0f);
    CHECK_OK(mx_st_read_f32(st, "empty", 2, (int64_t[]){0, 5}, got));
    CHECK(mx_st_read_f32(st, "layer.weight", 2, (int64_t[]){3, 2}, got) == MX_ERR_SHAPE);
    CHECK(msg_has("layer.weight") && msg_has("[2, 3]") && msg_has("[3, 2]") &&
          msg_has("a.safetensors"));
    CHECK(mx_st_read_f32(st, "layer.weight", 1, (int64_t[]){6}, got) == MX_ERR_SHAPE);
    CHECK(mx_st_read_f32(st, "missing", 1, (int64_t[]){6}, got) == MX_ERR_FORMAT);
    CHECK(msg_has("missing"));
    CHECK(mx_st_read_f32(st, "step", 0, NULL, got) == MX_ERR_FORMAT && msg_has("I64"));
    int64_t i64[3];
    CHECK_OK(mx_st_read_i64(st, "step", 0, NULL, i64));
    CHECK(i64[0] == steps);
    CHECK_OK(mx_st_read_i64(st, "mask", 1, (int64_t[]){3}, i64));
    CHECK(i64[0] == 1 && i64[2] == 255);
    CHECK(mx_st_read_i64(st, "layer.weight", 2, (int64_t[]){2, 3}, i64) == MX_ERR_FORMAT);
    uint8_t u2[3];
    CHECK_OK(mx_st_read_raw(st, "mask", MX_DTYPE_U8, 1, (int64_t[]){3}, u2));
    CHECK(memcmp(u2, u, 3) == 0);
    CHECK(mx_st_read_raw(st, "mask", MX_DTYPE_I8, 1, (int64_t[]){3}, u2) == MX_ERR_FORMAT);
    const char *names[5] = {"step", "layer.weight", "mask", "empty", "half \"q\"\\"};
    CHECK_OK(mx_st_check_names(st, names, 5));
    CHECK(mx_st_check_names(st, names, 4) == MX_ERR_FORMAT && msg_has("unexpected tensor 'half"));
    names[1] = "other";
    CHECK(mx_st_check_names(st, names, 5) == MX_ERR_FORMAT && msg_has("no tensor named 'other'"));
    names[1] = "step"; /* layer.weight no longer listed */
    CHECK(mx_st_check_names(st, names, 5) == MX_ERR_FORMAT && msg_has("'layer.weight'"));
    const char *rep[6] = {"step", "layer.weight", "mask", "empty", "half \"q\"\\", "mask"};
    CHECK(mx_st_check_names(st, rep, 6) == MX_ERR_ARG);
    mx_st_free(st);
    mx_st_free(NULL);

    /* F64 and BF16 conversion */
    double dd[2] = {0.1, -1e10};
    uint16_t bf[2] = {0x3f80, 0x4049}; /* 1.0, 3.140625 */
    mx_tensor_view t2[2] = {
        {.name = "d", .dtype = MX_DTYPE_F64, .ndim = 1, .shape = {2}, .data = dd, .nbytes = 16},
        {.name = "b", .dtype = MX_DTYPE_BF16, .ndim = 1, .shape = {2}, .data = bf, .nbytes = 4},
    };
    CHECK_OK(mx_st_write(p, t2, 2, NULL, 0));
    CHECK_OK(mx_st_open(p, &st));
    if (st) {
        CHECK_OK(mx_st_read_f32(st, "d", 1, (int64_t[]){2}, got));
        CHECK(got[0] == 0.1f && got[1] == -1e10f);
        CHECK_OK(mx_st_read_f32(st, "b", 1, (int64_t[]){2}, got));
        CHECK(got[0] == 1.0f && got[1] == 3.140625f);
        CHECK(mx_st_count(st) == 2 && mx_st_metadata(st, "x") == NULL);
        mx_st_free(st);
    }
    /* no tensors at all */
    CHECK_OK(mx_st_write(p, NULL, 0, NULL, 0));
    CHECK_OK(mx_st_open(p, &st));
    CHECK(st && mx_st_count(st) == 0);
    mx_st_free(st);

    /* writer argument errors leave the old file alone */
    mx_tensor_view dup[2] = {t[0], t[0]};
    CHECK(mx_st_write(p, dup, 2, NULL, 0) == MX_ERR_ARG && msg_has("duplicate"));
    mx_tensor_view badn = t[0];
    badn.nbytes = 20;
    CHECK(mx_st_write(p, &badn, 1, NULL, 0) == MX_ERR_ARG && msg_has("nbytes"));
    badn = t[0];
    badn.name = "__metadata__";
    CHECK(mx_st_write(p, &badn, 1, NULL, 0) == MX_ERR_ARG);
    CHECK_OK(mx_st_open(p, &st));
    CHECK(st && mx_st_count(st) == 0);
    mx_st_free(st);
}

/* Writes "8-byte length + header + data" with a hand-made header. */
static void write_st_raw(const char *path, const char *header, const void *data, size_t nbytes) {
    size_t hl = strlen(header);
    unsigned char *buf = malloc(8 + hl + nbytes + 1);
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    memcpy(buf + 8, header, hl);
    if (nbytes) memcpy(buf + 8 + hl, data, nbytes);
    write_bytes(path, buf, 8 + hl + nbytes);
    free(buf);
}

static void test_st_errors(void) {
    const char *p = tmp_path("bad.safetensors");
    unsigned char data[64] = {0};
    mx_safetensors *st = (mx_safetensors *)1;
    /* a valid hand-written file, unpadded header, two tensors out of order */
    write_st_raw(p,
                 "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]},"
                 "\"a\":{\"dtype\":\"I32\",\"shape\":[1,2],\"data_offsets\":[0,8]}}  ",
                 data, 16);
    CHECK_OK(mx_st_open(p, &st));
    if (st) {
        CHECK(strcmp(mx_st_at(st, 0)->name, "a") == 0);
        CHECK(mx_st_find(st, "b") && mx_st_find(st, "b")->data == mx_st_at(st, 1)->data);
    }
    mx_st_free(st);

    struct {
        const char *header;
        size_t nbytes;
        const char *msg;
    } bad[] = {
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
         16, "duplicate key 'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
         "entry 'a' has duplicate field 'dtype'"},
        {"{\"__metadata__\":{\"k\":\"1\",\"k\":\"2\"}}", 0,
         "entry '__metadata__' has duplicate field 'k'"},
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "F8_E4M3"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 12, "expected 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12, "begin at 4"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
         "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
         12, "'b'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 9, "file is"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 7, "file is"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, "shape[0]"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8, "'x'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8, "data_offsets"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", 8, "data_offsets"},
        {"{\"a\":[1,2]}", 0, "'a'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],"
         "\"data_offsets\":[0,8]}}",
         8, "overflow"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4,
         "dimensions"},
        {"{\"__metadata__\":{\"k\":1}}", 0, "__metadata__"},
        {"{\"__metadata__\":\"x\"}", 0, "__metadata__"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8, "JSON"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}} x", 8, "padding"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},}", 8, "JSON"},
        {"[1]", 0, "'{'"},
        {" {}", 0, "'{'"},
        {"{}\n", 0, "padding"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        write_st_raw(p, bad[i].header, data, bad[i].nbytes);
        st = (mx_safetensors *)1;
        mx_status s = mx_st_open(p, &st);
        CHECK(s == MX_ERR_FORMAT && st == NULL);
        if (s != MX_ERR_FORMAT) fprintf(stderr, "  case %zu accepted\n", i);
        CHECK(msg_has(bad[i].msg));
        CHECK(msg_has("bad.safetensors"));
    }
    /* header length too large / past the end / file too short */
    unsigned char big[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    write_bytes(p, big, 10);
    CHECK(mx_st_open(p, &st) == MX_ERR_FORMAT && msg_has("limit"));
    big[0] = 100;
    big[1] = big[2] = big[3] = 0;
    write_bytes(p, big, 10);
    CHECK(mx_st_open(p, &st) == MX_ERR_FORMAT && msg_has("past the end"));
    write_bytes(p, big, 5);
    CHECK(mx_st_open(p, &st) == MX_ERR_FORMAT && msg_has("too short"));
    CHECK(mx_st_open(tmp_path("nothere.safetensors"), &st) == MX_ERR_IO);
    CHECK(mx_st_open(dir, &st) != MX_OK && st == NULL); /* a directory */
    mx_array a;
    CHECK(mx_npy_read(dir, &a) != MX_OK && a.data == NULL);
}

/* ---- checkpoints ------------------------------------------------------------------------- */

static void test_checkpoint(void) {
    const char *p = tmp_path("ckpt.safetensors");
    float w[4] = {0.5f, -1, 2, 3}, m[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    uint8_t flags[2] = {1, 0};
    mx_rng r;
    mx_rng_seed(&r, 99);
    (void)mx_rng_u64(&r);
    mx_ckpt *c = NULL;
    CHECK_OK(mx_ckpt_create(&c));
    CHECK_OK(mx_ckpt_add(c, "fc.weight", MX_DTYPE_F32, 2, (int64_t[]){2, 2}, w));
    CHECK_OK(mx_ckpt_add(c, "optim.m.fc.weight", MX_DTYPE_F32, 2, (int64_t[]){2, 2}, m));
    CHECK_OK(mx_ckpt_add(c, "flags", MX_DTYPE_U8, 1, (int64_t[]){2}, flags));
    CHECK_OK(mx_ckpt_add_i64(c, "epoch", 7));
    CHECK_OK(mx_ckpt_add_i64(c, "step", 123456789012LL));
    CHECK_OK(mx_ckpt_add_rng(c, "rng.train", &r));
    CHECK(mx_ckpt_add_i64(c, "epoch", 8) == MX_ERR_ARG);
    CHECK(mx_ckpt_add(c, "neg", MX_DTYPE_F32, 1, (int64_t[]){-1}, w) == MX_ERR_ARG);
    CHECK_OK(mx_ckpt_set_meta(c, "config", "{\"epochs\": 1}"));
    CHECK_OK(mx_ckpt_set_meta(c, "config", "{\"epochs\": 2}"));
    CHECK_OK(mx_ckpt_set_meta(c, "git", "abc"));
    CHECK_OK(mx_ckpt_save(c, p));
    CHECK(mx_ckpt_set_meta(c, MX_CKPT_FORMAT_KEY, "x") == MX_OK);
    CHECK(mx_ckpt_save(c, tmp_path("ckpt2.safetensors")) == MX_ERR_ARG);
    mx_ckpt_free(c);
    mx_ckpt_free(NULL);

    mx_safetensors *st = NULL;
    CHECK_OK(mx_ckpt_open(p, &st));
    if (!st) return;
    CHECK(mx_st_count(st) == 6);
    CHECK(strcmp(mx_st_metadata(st, "config"), "{\"epochs\": 2}") == 0);
    CHECK(strcmp(mx_st_metadata(st, MX_CKPT_FORMAT_KEY), MX_CKPT_FORMAT) == 0);
    float got[4];
    CHECK_OK(mx_st_read_f32(st, "optim.m.fc.weight", 2, (int64_t[]){2, 2}, got));
    mx_test_compare("ckpt m", got, m, 4, 0, 0);
    int64_t e = 0;
    CHECK_OK(mx_ckpt_read_i64(st, "epoch", &e));
    CHECK(e == 7);
    CHECK_OK(mx_ckpt_read_i64(st, "step", &e));
    CHECK(e == 123456789012LL);
    mx_rng r2;
    CHECK_OK(mx_ckpt_read_rng(st, "rng.train", &r2));
    CHECK(mx_rng_u64(&r2) == mx_rng_u64(&r));
    CHECK(mx_ckpt_read_rng(st, "epoch", &r2) != MX_OK);
    CHECK(mx_ckpt_read_i64(st, "fc.weight", &e) == MX_ERR_SHAPE);
    mx_st_free(st);

    /* a plain safetensors file is not a checkpoint */
    float x = 1;
    mx_tensor_view t = {.name = "x", .dtype = MX_DTYPE_F32, .ndim = 0, .data = &x, .nbytes = 4};
    CHECK_OK(mx_st_write(tmp_path("plain.safetensors"), &t, 1, NULL, 0));
    CHECK(mx_ckpt_open(tmp_path("plain.safetensors"), &st) == MX_ERR_FORMAT);
    CHECK(msg_has("not a metrix checkpoint") && st == NULL);
}

int main(void) {
    snprintf(dir, sizeof dir, "%s/test_io_tmp", MX_BINARY_DIR);
    mkdir(dir, 0755);
    test_npy_roundtrip();
    test_npy_variants_and_errors();
    test_atomic();
    test_dtypes();
    test_half();
    test_st_roundtrip();
    test_st_errors();
    test_checkpoint();
    return mx_test_finish("test_io");
}
