/* Seed inputs for the fuzz harnesses, written by metrix's own writers (and the test fixture
 * writers for images / IDX / .mat): dir/<reader>/seed_<k> in each harness's input format (see
 * fuzz_targets.h). Small (a few KB in all), generated at run time, never committed. */
#include "fuzz_seeds.h"

#include <matio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "../test_data_fixtures.h"
#include "metrix/data.h"
#include "metrix/io.h"
#include "metrix/train.h"

static char *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)(len > 0 ? len : 1));
    *n = b && len > 0 ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

/* dir/reader/seed_<k>; returns 0 on success */
static int seed_path(char *p, size_t cap, const char *dir, const char *reader, int k) {
    snprintf(p, cap, "%s/%s", dir, reader);
    if (fx_mkdirs(p) != 0) return -1;
    snprintf(p, cap, "%s/%s/seed_%d", dir, reader, k);
    return 0;
}

static int seed_bytes(const char *dir, const char *reader, int k, const void *b, size_t n) {
    char p[4096];
    return seed_path(p, sizeof(p), dir, reader, k) || fx_write(p, b, n);
}

/* A seed made of a prefix (may be empty) and then a whole file. */
static int seed_file(const char *dir, const char *reader, int k, const void *pre, size_t npre,
                     const char *file) {
    size_t n = 0;
    char *b = slurp(file, &n);
    if (!b) return -1;
    char *s = malloc(npre + n + 1);
    int rc = -1;
    if (s) {
        if (npre) memcpy(s, pre, npre);
        memcpy(s + npre, b, n);
        rc = seed_bytes(dir, reader, k, s, npre + n);
    }
    free(s);
    free(b);
    remove(file);
    return rc;
}

static int seeds_io(const char *dir, const char *tmp) {
    int rc = 0;
    float w[6] = {1, 2, 3, 4, 5, 6};
    double d[2] = {0.5, -0.25};
    int64_t step = 42, l[4] = {0, 3, 1, 2};
    uint16_t h[3] = {0x3c00, 0x4000, 0x7c00};
    uint8_t u[5] = {1, 2, 3, 4, 5};
    /* npy: several dtypes, a scalar, an empty array */
    rc |= mx_npy_write(tmp, MX_DTYPE_F32, 2, (int64_t[]){2, 3}, w) ||
          seed_file(dir, "npy", 0, NULL, 0, tmp);
    rc |= mx_npy_write(tmp, MX_DTYPE_I64, 1, (int64_t[]){4}, l) ||
          seed_file(dir, "npy", 1, NULL, 0, tmp);
    rc |= mx_npy_write(tmp, MX_DTYPE_U8, 0, NULL, u) || seed_file(dir, "npy", 2, NULL, 0, tmp);
    rc |= mx_npy_write(tmp, MX_DTYPE_F64, 2, (int64_t[]){0, 4}, d) ||
          seed_file(dir, "npy", 3, NULL, 0, tmp);
    /* safetensors: dtypes, a scalar, an empty tensor, metadata */
    mx_tensor_view t[6] = {
        {.name = "w", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {2, 3}, .data = w, .nbytes = 24},
        {.name = "d", .dtype = MX_DTYPE_F64, .ndim = 1, .shape = {2}, .data = d, .nbytes = 16},
        {.name = "s", .dtype = MX_DTYPE_I64, .ndim = 0, .data = &step, .nbytes = 8},
        {.name = "h", .dtype = MX_DTYPE_F16, .ndim = 1, .shape = {3}, .data = h, .nbytes = 6},
        {.name = "e", .dtype = MX_DTYPE_F32, .ndim = 2, .shape = {0, 4}, .nbytes = 0},
        {.name = "u", .dtype = MX_DTYPE_U8, .ndim = 3, .shape = {1, 5, 1}, .data = u, .nbytes = 5},
    };
    const char *meta[2] = {"k", "v"};
    rc |= mx_st_write(tmp, t, 6, meta, 1) || seed_file(dir, "safetensors", 0, NULL, 0, tmp);
    rc |= mx_st_write(tmp, t, 1, NULL, 0) || seed_file(dir, "safetensors", 1, NULL, 0, tmp);
    /* checkpoint: a parameter, counters, an RNG state, a config string */
    mx_ckpt *c = NULL;
    mx_rng r;
    mx_rng_seed(&r, 7);
    rc |= mx_ckpt_create(&c) != MX_OK;
    if (c) {
        rc |= mx_ckpt_add(c, "model.w", MX_DTYPE_F32, 2, (int64_t[]){2, 3}, w) ||
              mx_ckpt_add_i64(c, "step", 42) || mx_ckpt_add_i64(c, "epoch", 3) ||
              mx_ckpt_add_rng(c, "rng", &r) || mx_ckpt_set_meta(c, "config", "{\"epochs\": 8}") ||
              mx_ckpt_save(c, tmp) || seed_file(dir, "checkpoint", 0, NULL, 0, tmp);
        mx_ckpt_free(c);
    }
    return rc;
}

static int seeds_config(const char *dir, const char *tmp) {
    int rc = 0;
    const char *presets[3] = {NULL, "cub-ms-metrix", "cub-contrastive"};
    for (int k = 0; k < 3; k++) {
        mx_train_config cfg = mx_train_config_default();
        if (presets[k]) rc |= mx_train_config_preset(&cfg, presets[k]) != MX_OK;
        FILE *f = fopen(tmp, "w");
        if (!f) return -1;
        mx_train_config_write_json(&cfg, f);
        fclose(f);
        rc |= seed_file(dir, "config", k, NULL, 0, tmp);
    }
    const char *small = "{\"loss\": \"proxy-anchor\", \"mix\": \"input\", \"epochs\": 2}";
    rc |= seed_bytes(dir, "config", 3, small, strlen(small));
    return rc;
}

/* images (gzipped and raw IDX) concatenated behind their length, as fz_idx expects */
static int seeds_idx(const char *dir, const char *tmp) {
    int rc = 0;
    uint8_t img[6 * 4 * 3], lab[6];
    for (size_t i = 0; i < sizeof(img); i++) img[i] = (uint8_t)(i * 7);
    for (int i = 0; i < 6; i++) lab[i] = (uint8_t)(i % 10);
    uint32_t d3[3] = {6, 4, 3}, d1[1] = {6};
    char tl[4200];
    snprintf(tl, sizeof(tl), "%s.l", tmp);
    rc |= fx_idx(tmp, 0x803, 3, d3, img, sizeof(img)) || fx_idx(tl, 0x801, 1, d1, lab, 6);
    size_t ni = 0, nl = 0;
    char *bi = slurp(tmp, &ni), *bl = slurp(tl, &nl);
    if (!bi || !bl) rc = -1;
    if (!rc) {
        uint8_t *s = malloc(4 + ni + nl);
        if (!s) return -1;
        s[0] = (uint8_t)ni, s[1] = (uint8_t)(ni >> 8), s[2] = (uint8_t)(ni >> 16), s[3] = 0;
        memcpy(s + 4, bi, ni);
        memcpy(s + 4 + ni, bl, nl);
        rc |= seed_bytes(dir, "idx", 0, s, 4 + ni + nl);
        /* uncompressed: zlib's gzread passes plain files through */
        const uint8_t hi[16] = {0, 0, 8, 3, 0, 0, 0, 6, 0, 0, 0, 4, 0, 0, 0, 3};
        const uint8_t hl[8] = {0, 0, 8, 1, 0, 0, 0, 6};
        ni = 16 + sizeof(img);
        s = realloc(s, 4 + ni + 8 + 6);
        if (!s) return -1;
        s[0] = (uint8_t)ni, s[1] = 0, s[2] = 0, s[3] = 0;
        memcpy(s + 4, hi, 16);
        memcpy(s + 20, img, sizeof(img));
        memcpy(s + 4 + ni, hl, 8);
        memcpy(s + 12 + ni, lab, 6);
        rc |= seed_bytes(dir, "idx", 1, s, 4 + ni + 14);
        free(s);
    }
    free(bi);
    free(bl);
    remove(tmp);
    remove(tl);
    return rc;
}

static int seeds_index(const char *dir) {
    static const char *seeds[] = {
        "\x00\x00"
        "a.png 1\nb.png 2\n# comment\nc d.png 3\n\nd.png 4\n",
        "\x00\x05"
        "a.png 1\nb.png 2\nc.png 3\nd.png 4\ne.png 5\nf.png 6\n",
        "\x01\x00"
        "1 001.A/a.jpg\n2 002.B/b.jpg\n3 150.C/c.jpg\n4 101.D/d.jpg\n"
        "\0"
        "1 1\n2 2\n3 150\n4 101\n",
        "\x02\x00"
        "image_id class_id super_class_id path\n1 1 1 a/1.JPG\n2 2 1 a/2.JPG\n"
        "3 2 2 b/3.JPG\n",
        "\x03\x02"
        "4\nimage_name item_id evaluation_status\nimg/a.jpg id_00000001 train\n"
        "img/b.jpg id_00000002 query\nimg/c.jpg id_00000002 gallery\n"
        "img/d.jpg id_00000003 train\n"};
    /* the CUB seed holds a NUL: its length is counted by hand */
    const size_t cub_len = 2 + strlen(seeds[2] + 2) + 1 + strlen("1 1\n2 2\n3 150\n4 101\n");
    int rc = 0;
    for (int k = 0; k < 5; k++)
        rc |= seed_bytes(dir, "index", k, seeds[k], k == 2 ? cub_len : 2 + strlen(seeds[k] + 2));
    return rc;
}

static int seeds_image(const char *dir, const char *tmp) {
    int rc = 0, k = 0;
    uint8_t px[24 * 16 * 4], rows[24 * 16 * 6];
    fx_pattern(px, 24, 16, 3, 1);
    rc |= fx_jpeg(tmp, px, 24, 16, 3, 80) || seed_file(dir, "image", k++, NULL, 0, tmp);
    fx_pattern(px, 24, 16, 1, 2);
    rc |= fx_jpeg(tmp, px, 24, 16, 1, 90) || seed_file(dir, "image", k++, NULL, 0, tmp);
    /* 4:2:0 progressive and CMYK JPEGs (TurboJPEG) */
    fx_pattern(px, 24, 16, 4, 3);
    const int pf[2] = {TJPF_RGB, TJPF_CMYK}, ss[2] = {TJSAMP_420, TJSAMP_444};
    const int fl[2] = {TJFLAG_PROGRESSIVE, 0};
    for (int j = 0; j < 2; j++) { /* a fresh handle each: progressive mode sticks to a handle */
        tjhandle tj = tjInitCompress();
        unsigned char *buf = NULL;
        unsigned long size = 0;
        rc |= tjCompress2(tj, px, 24, 0, 16, pf[j], &buf, &size, ss[j], 75, fl[j]) ||
              seed_bytes(dir, "image", k++, buf, size);
        tjFree(buf);
        tjDestroy(tj);
    }
    fx_pattern(rows, 24, 16, 3, 4);
    rc |= fx_png(tmp, rows, 24, 16, PNG_COLOR_TYPE_RGB, 8, NULL, 0) ||
          seed_file(dir, "image", k++, NULL, 0, tmp);
    rc |= fx_png(tmp, rows, 24, 16, PNG_COLOR_TYPE_GRAY, 16, NULL, 0) ||
          seed_file(dir, "image", k++, NULL, 0, tmp);
    png_color pal[4] = {{0, 0, 0}, {255, 0, 0}, {0, 255, 0}, {0, 0, 255}};
    rc |= fx_png(tmp, rows, 24, 16, PNG_COLOR_TYPE_PALETTE, 2, pal, 4) ||
          seed_file(dir, "image", k++, NULL, 0, tmp);
    rc |= fx_png(tmp, rows, 12, 8, PNG_COLOR_TYPE_RGBA, 8, NULL, 0) ||
          seed_file(dir, "image", k++, NULL, 0, tmp);
    return rc;
}

/* cars_annos.mat as matio writes it (uncompressed; matio 1.5.23 misreads its own compressed
 * structs), and the same variables wrapped in miCOMPRESSED elements as MATLAB / scipy write. */
static int seeds_mat(const char *dir, const char *tmp) {
    mat_t *mat = Mat_CreateVer(tmp, NULL, MAT_FT_MAT5);
    if (!mat) return -1;
    const char *fields[] = {"bbox_x1", "relative_im_path", "class", "test", NULL};
    const char *paths[3] = {"car_ims/000001.jpg", "car_ims/000002.jpg", "car_ims/000003.jpg"};
    const double cls[3] = {1, 99, 196};
    size_t dims[2] = {1, 3}, d1[2] = {1, 1};
    matvar_t *st = Mat_VarCreateStruct2("annotations", 2, dims, fields);
    for (size_t i = 0; i < 3; i++) {
        size_t sd[2] = {1, strlen(paths[i])};
        double x1 = 3, t = (double)(i % 2);
        uint8_t c8 = (uint8_t)cls[i];
        Mat_VarSetStructFieldByName(st, "bbox_x1", i,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &x1, 0));
        Mat_VarSetStructFieldByName(
            st, "relative_im_path", i,
            Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, sd, (void *)paths[i], 0));
        Mat_VarSetStructFieldByName(
            st, "class", i,
            i == 1 ? Mat_VarCreate(NULL, MAT_C_UINT8, MAT_T_UINT8, 2, d1, &c8, 0)
                   : Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, (void *)&cls[i], 0));
        Mat_VarSetStructFieldByName(st, "test", i,
                                    Mat_VarCreate(NULL, MAT_C_DOUBLE, MAT_T_DOUBLE, 2, d1, &t, 0));
    }
    int rc = Mat_VarWrite(mat, st, MAT_COMPRESSION_NONE);
    Mat_VarFree(st);
    size_t nd[2] = {1, 2};
    matvar_t *cells[2];
    const char *names[2] = {"AM General Hummer", "Acura RL"};
    for (int k = 0; k < 2; k++) {
        size_t sd[2] = {1, strlen(names[k])};
        cells[k] = Mat_VarCreate(NULL, MAT_C_CHAR, MAT_T_UINT8, 2, sd, (void *)names[k], 0);
    }
    matvar_t *cn = Mat_VarCreate("class_names", MAT_C_CELL, MAT_T_CELL, 2, nd, cells, 0);
    rc |= Mat_VarWrite(mat, cn, MAT_COMPRESSION_NONE);
    Mat_VarFree(cn);
    Mat_Close(mat);
    size_t n = 0;
    uint8_t *b = (uint8_t *)slurp(tmp, &n);
    remove(tmp);
    if (rc || !b || n < 136) {
        free(b);
        return -1;
    }
    rc |= seed_bytes(dir, "mat", 0, b, n);
    /* wrap each top-level element (tag u32 type, u32 bytes) in a miCOMPRESSED element */
    uint8_t *z = malloc(2 * n + 1024);
    size_t zn = 128, pos = 128;
    memcpy(z, b, 128);
    while (z && pos + 8 <= n) {
        uint32_t nb = (uint32_t)b[pos + 4] | (uint32_t)b[pos + 5] << 8 |
                      (uint32_t)b[pos + 6] << 16 | (uint32_t)b[pos + 7] << 24;
        size_t len = MXT_MAX(8 + (size_t)nb, 8);
        if (len > n - pos) len = n - pos;
        uLongf zl = (uLongf)(2 * n + 1024 - zn - 8);
        if (compress2(z + zn + 8, &zl, b + pos, (uLong)len, 6) != Z_OK) {
            rc = -1;
            break;
        }
        const uint32_t hdr[2] = {15, (uint32_t)zl};
        memcpy(z + zn, hdr, 8); /* little-endian host, "IM" file */
        zn += 8 + zl;
        pos += len;
    }
    if (z) rc |= seed_bytes(dir, "mat", 1, z, zn);
    free(z);
    free(b);
    return rc;
}

int fz_write_seeds(const char *dir) {
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/.seed.tmp", dir);
    if (fx_mkdirs(dir) != 0) return -1;
    int rc = 0;
    rc |= seeds_io(dir, tmp) ? 1 : 0;
    rc |= seeds_config(dir, tmp) ? 2 : 0;
    rc |= seeds_idx(dir, tmp) ? 4 : 0;
    rc |= seeds_index(dir) ? 8 : 0;
    rc |= seeds_image(dir, tmp) ? 16 : 0;
    rc |= seeds_mat(dir, tmp) ? 32 : 0;
    return rc;
}
