/* Fixture writers shared by the data tests: JPEG (TurboJPEG), PNG (libpng), gzipped IDX, text
 * files, directories. Everything is written at run time under the build directory. */
#ifndef MX_TEST_DATA_FIXTURES_H
#define MX_TEST_DATA_FIXTURES_H

#include <errno.h>
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <turbojpeg.h>
#include <zlib.h>

#define MXT_MAX(a, b) ((a) > (b) ? (a) : (b))

/* mkdir -p */
static inline int fx_mkdirs(const char *path) {
    char buf[8192];
    if (strlen(path) >= sizeof(buf)) return -1;
    memcpy(buf, path, strlen(path) + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

static inline int fx_write(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(data, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

static inline int fx_text(const char *path, const char *text) {
    return fx_write(path, text, strlen(text));
}

/* Smooth test pattern, HWC, c channels. */
static inline void fx_pattern(uint8_t *px, int w, int h, int c, int seed) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int k = 0; k < c; k++)
                px[((size_t)y * w + x) * c + k] =
                    (uint8_t)(30 + (100 * x) / (w > 1 ? w - 1 : 1) * (k != 1) +
                              (100 * y) / (h > 1 ? h - 1 : 1) * (k != 0) + (10 * seed) % 30);
}

/* JPEG of an HWC image (c = 1 gray or 3 RGB), 4:4:4, quality q. Returns 0 on success. */
static inline int fx_jpeg(const char *path, const uint8_t *px, int w, int h, int c, int q) {
    tjhandle tj = tjInitCompress();
    unsigned char *buf = NULL;
    unsigned long size = 0;
    int rc = tjCompress2(tj, px, w, 0, h, c == 1 ? TJPF_GRAY : TJPF_RGB, &buf, &size,
                         c == 1 ? TJSAMP_GRAY : TJSAMP_444, q, 0);
    if (rc == 0) rc = fx_write(path, buf, size);
    tjFree(buf);
    tjDestroy(tj);
    return rc;
}

/* PNG of raw rows: color_type / bit_depth as libpng; rows are packed big-endian as PNG wants.
 * For palette images pal/npal give the palette. */
static inline int fx_png(const char *path, const uint8_t *rows_data, int w, int h, int color_type,
                         int bit_depth, const png_color *pal, int npal) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp p = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(p);
    if (setjmp(png_jmpbuf(p))) {
        png_destroy_write_struct(&p, &info);
        fclose(f);
        return -1;
    }
    png_init_io(p, f);
    png_set_IHDR(p, info, (png_uint_32)w, (png_uint_32)h, bit_depth, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(p, info, pal, npal);
    png_write_info(p, info);
    int ch = color_type == PNG_COLOR_TYPE_RGB          ? 3
             : color_type == PNG_COLOR_TYPE_RGBA       ? 4
             : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                       : 1;
    size_t stride = ((size_t)w * ch * bit_depth + 7) / 8;
    for (int y = 0; y < h; y++) png_write_row(p, rows_data + (size_t)y * stride);
    png_write_end(p, NULL);
    png_destroy_write_struct(&p, &info);
    fclose(f);
    return 0;
}

/* Gzipped IDX file: magic 0x000008<ndim>, big-endian dims, then data (n bytes, may be shorter
 * than the dims promise to make truncated files). */
static inline int fx_idx(const char *path, uint32_t magic, int ndim, const uint32_t *dims,
                         const uint8_t *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    uint8_t hdr[16];
    int hl = 0;
    uint32_t v[4] = {magic, ndim > 0 ? dims[0] : 0, ndim > 1 ? dims[1] : 0, ndim > 2 ? dims[2] : 0};
    for (int k = 0; k <= ndim; k++, hl += 4) {
        hdr[hl] = (uint8_t)(v[k] >> 24);
        hdr[hl + 1] = (uint8_t)(v[k] >> 16);
        hdr[hl + 2] = (uint8_t)(v[k] >> 8);
        hdr[hl + 3] = (uint8_t)v[k];
    }
    int ok =
        gzwrite(g, hdr, (unsigned)hl) == hl && (n == 0 || gzwrite(g, data, (unsigned)n) == (int)n);
    gzclose(g);
    return ok ? 0 : -1;
}

#endif
