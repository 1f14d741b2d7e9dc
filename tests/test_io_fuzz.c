/* io: robustness of the safetensors and .npy readers against truncated, corrupted and random
 * files. Every mutation must either be rejected with a message or yield views that lie inside
 * the file and agree with their dtype and shape (run under ASan/UBSan to catch the rest). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "metrix/io.h"
#include "mx_test.h"

static char path[1100];
static int n_ok, n_err;

static void write_bytes(const unsigned char *b, size_t n) {
    FILE *fp = fopen(path, "wb");
    if (!fp) return;
    if (n) fwrite(b, 1, n, fp);
    fclose(fp);
}

static size_t read_bytes(const char *p, unsigned char *buf, size_t cap) {
    FILE *fp = fopen(p, "rb");
    if (!fp) return 0;
    size_t n = fread(buf, 1, cap, fp);
    fclose(fp);
    return n;
}

/* Opens path as safetensors and checks the result is either an error or consistent. */
static void probe_st(size_t file_size) {
    mx_safetensors *st = (mx_safetensors *)1;
    mx_status s = mx_st_open(path, &st);
    if (s != MX_OK) {
        n_err++;
        CHECK(st == NULL);
        CHECK(mx_errmsg()[0] != 0 && strstr(mx_errmsg(), "fuzz") != NULL);
        return;
    }
    n_ok++;
    size_t total = 0;
    unsigned sum = 0;
    for (size_t i = 0; i < mx_st_count(st); i++) {
        const mx_tensor_view *v = mx_st_at(st, i);
        int64_t numel = 1;
        for (int d = 0; d < v->ndim; d++) numel *= v->shape[d];
        CHECK((size_t)numel * mx_dtype_size(v->dtype) == v->nbytes);
        CHECK(mx_st_find(st, v->name) == v);
        const unsigned char *p = v->data;
        for (size_t k = 0; k < v->nbytes; k++) sum += p[k]; /* ASan: inside the buffer */
        total += v->nbytes;
        if (v->dtype == MX_DTYPE_F32 || v->dtype == MX_DTYPE_F16 || v->dtype == MX_DTYPE_BF16 ||
            v->dtype == MX_DTYPE_F64) {
            float *dst = malloc((size_t)numel * 4 + 4);
            CHECK_OK(mx_st_read_f32(st, v->name, v->ndim, v->shape, dst));
            free(dst);
        }
    }
    (void)sum;
    CHECK(total <= file_size);
    mx_st_free(st);
}

static void probe_npy(size_t file_size) {
    mx_array a;
    mx_status s = mx_npy_read(path, &a);
    if (s != MX_OK) {
        n_err++;
        CHECK(a.data == NULL);
        CHECK(strstr(mx_errmsg(), "fuzz") != NULL);
        return;
    }
    n_ok++;
    size_t nb = (size_t)mx_array_numel(&a) * mx_dtype_size(a.dtype);
    CHECK(nb <= file_size);
    unsigned sum = 0;
    for (size_t k = 0; k < nb; k++) sum += ((unsigned char *)a.data)[k];
    (void)sum;
    mx_array_free(&a);
}

typedef void (*probe_fn)(size_t);

/* Truncations at every length, byte flips at every position, random multi-byte mutations. */
static void fuzz(const unsigned char *valid, size_t n, probe_fn probe, uint64_t seed) {
    unsigned char *b = malloc(n + 256);
    for (size_t len = 0; len <= n; len++) {
        write_bytes(valid, len);
        probe(len);
    }
    static const unsigned char vals[] = {0x00, 0xff, '"', '{', '}', ',', ' ', '9', '\\', '\n'};
    for (size_t i = 0; i < n; i++) {
        for (size_t v = 0; v < sizeof vals; v++) {
            memcpy(b, valid, n);
            if (b[i] == vals[v]) continue;
            b[i] = vals[v];
            write_bytes(b, n);
            probe(n);
        }
        memcpy(b, valid, n);
        b[i] ^= 0x80;
        write_bytes(b, n);
        probe(n);
    }
    mx_rng r;
    mx_rng_seed(&r, seed);
    for (int it = 0; it < 3000; it++) {
        memcpy(b, valid, n);
        size_t len = n + (size_t)mx_rng_below(&r, 16) - 8;
        for (size_t i = n; i < len; i++) b[i] = (unsigned char)mx_rng_u64(&r);
        int k = 1 + (int)mx_rng_below(&r, 4);
        for (int j = 0; j < k; j++) b[mx_rng_below(&r, len)] = (unsigned char)mx_rng_u64(&r);
        write_bytes(b, len);
        probe(len);
    }
    for (int it = 0; it < 500; it++) { /* pure noise, with a plausible first bytes */
        size_t len = 8 + (size_t)mx_rng_below(&r, 200);
        for (size_t i = 0; i < len; i++) b[i] = (unsigned char)mx_rng_u64(&r);
        if (it % 2) memcpy(b, valid, 10);
        write_bytes(b, len);
        probe(len);
    }
    free(b);
}

int main(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/test_io_tmp", MX_BINARY_DIR);
    mkdir(dir, 0755);
    snprintf(path, sizeof path, "%s/fuzz.bin", dir);
    char valid_path[1100];
    unsigned char valid[4096];

    /* a valid safetensors file with several dtypes, a scalar, an empty tensor, metadata */
    float w[6] = {1, 2, 3, 4, 5, 6};
    double d[2] = {0.5, -0.25};
    int64_t step = 42;
    uint16_t h[3] = {0x3c00, 0x4000, 0x7c00};
    uint8_t u[5] = {1, 2, 3, 4, 5};
    mx_tensor_view t[6] = {
        {.name = "w", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = w, .nbytes = 24},
        {.name = "d", .dtype = MX_DTYPE_F64, .ndim = 1, .shape = {2}, .data = d, .nbytes = 16},
        {.name = "s", .dtype = MX_DTYPE_I64, .ndim = 0, .data = &step, .nbytes = 8},
        {.name = "h", .dtype = MX_DTYPE_F16, .ndim = 1, .shape = {3}, .data = h, .nbytes = 6},
        {.name = "e", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {0, 4}, .nbytes = 0},
        {.name = "u", .dtype = MX_DTYPE_U8, .ndim = 3, .shape = {1, 5, 1}, .data = u, .nbytes = 5},
    };
    const char *meta[2] = {"k", "v"};
    snprintf(valid_path, sizeof valid_path, "%s/fuzz_valid.safetensors", dir);
    CHECK_OK(mx_st_write(valid_path, t, 6, meta, 1));
    size_t n = read_bytes(valid_path, valid, sizeof valid);
    CHECK(n > 100);
    fuzz(valid, n, probe_st, 1);
    int st_ok = n_ok, st_err = n_err;
    printf("safetensors: %d mutations accepted, %d rejected\n", st_ok, st_err);
    CHECK(st_ok > 0 && st_err > 0);

    n_ok = n_err = 0;
    snprintf(valid_path, sizeof valid_path, "%s/fuzz_valid.npy", dir);
    CHECK_OK(mx_npy_write(valid_path, MX_DTYPE_F32, 2, (int64_t[]){2, 3}, w));
    n = read_bytes(valid_path, valid, sizeof valid);
    fuzz(valid, n, probe_npy, 2);
    printf("npy: %d mutations accepted, %d rejected\n", n_ok, n_err);
    CHECK(n_ok > 0 && n_err > 0);
    return mx_test_finish("test_io_fuzz");
}
