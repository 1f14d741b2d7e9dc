/* data: image decoding (TurboJPEG with reduced DCT scaling, libpng normalised to 8 bits). */
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "metrix/data.h"

void mx_image_free(mx_image *im) {
    if (!im) return;
    free(im->data);
    memset(im, 0, sizeof(*im));
}

mx_status mx_read_file(const char *path, uint8_t **buf, size_t *size) {
    *buf = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot open file", path);
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return mx_error(MX_ERR_IO, "%s: cannot seek", path);
    }
    uint8_t *b = malloc((size_t)len + 1);
    if (!b) {
        fclose(f);
        return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, len);
    }
    size_t got = fread(b, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) {
        free(b);
        return mx_error(MX_ERR_IO, "%s: read %zu of %ld bytes", path, got, len);
    }
    b[len] = 0;
    *buf = b;
    *size = (size_t)len;
    return MX_OK;
}

/* Largest image decoded (width x height of the file): 128 Mpixel, 512 MB as CMYK. A damaged
 * or hostile header of a few hundred bytes can declare 65535 x 65535 pixels (a 17 GB buffer);
 * larger images are refused before anything is allocated. */
#define MX_IMAGE_MAX_PIXELS ((int64_t)1 << 27)

/* A reusable decoder: buffers grow to the largest image seen and are then reused, so a worker
 * decodes without allocating in the steady state. */
struct mx_decoder {
    tjhandle tj;
    uint8_t *file; /* file contents */
    size_t file_cap;
    uint8_t *px; /* decoded pixels (the current view) */
    size_t px_cap;
    png_bytep *rows;
    size_t rows_cap;
};

static int grow(void **p, size_t *cap, size_t need) {
    if (need <= *cap) return 1;
    size_t c = MX_MAX(need, *cap + *cap / 2);
    void *q = realloc(*p, c);
    if (!q) return 0;
    *p = q;
    *cap = c;
    return 1;
}

mx_status mx_decoder_create(mx_decoder **out) {
    *out = calloc(1, sizeof(mx_decoder));
    if (!*out) return mx_error(MX_ERR_NOMEM, "decoder: out of memory");
    return MX_OK;
}

void mx_decoder_free(mx_decoder *d) {
    if (!d) return;
    if (d->tj) tjDestroy(d->tj);
    free(d->file);
    free(d->px);
    free(d->rows);
    free(d);
}

/* ---- JPEG -------------------------------------------------------------------------------- */

/* Each JPEG gets a fresh TurboJPEG handle. libjpeg keeps state between the images of one
 * handle: after an error (every later image then failed with "SOS before SOF"), and by design
 * the Huffman / quantization tables, which a later JPEG that does not define every table it uses
 * silently decodes with, so its pixels depended on the image decoded before it (found by
 * tests/fuzz/fuzz_image). A new handle costs about 0.4 us, under 0.1% of decoding a 500x375
 * JPEG; a failed one is dropped at the next decode. */
static mx_status decode_jpeg(mx_decoder *d, const uint8_t *buf, size_t size, const char *name,
                             int min_short, mx_image *out) {
    if (d->tj) tjDestroy(d->tj);
    if (!(d->tj = tjInitDecompress()))
        return mx_error(MX_ERR_BACKEND, "%s: tjInitDecompress failed", name);
    tjhandle tj = d->tj;
    int w = 0, h = 0, subsamp = -1, cs = -1;
    if (tjDecompressHeader3(tj, buf, (unsigned long)size, &w, &h, &subsamp, &cs) != 0 || w < 1 ||
        h < 1 || w > 65535 || h > 65535)
        return mx_error(MX_ERR_FORMAT, "%s: bad JPEG header (%dx%d): %s", name, w, h,
                        tjGetErrorStr2(tj));
    if ((int64_t)w * h > MX_IMAGE_MAX_PIXELS)
        return mx_error(MX_ERR_FORMAT, "%s: JPEG of %dx%d pixels, more than the %ld allowed", name,
                        w, h, (long)MX_IMAGE_MAX_PIXELS);
    /* the smallest scale whose shorter side stays >= min_short, among 1/2, 1/4, 1/8: the other
     * eighths run libjpeg-turbo's generic, non-SIMD IDCT and are slower than a full-size decode
     * (500x375 at 5/8: 3.6 ms vs 2.2 ms full, measured under load) */
    int nsf = 0, sw = w, sh = h;
    tjscalingfactor *sf = tjGetScalingFactors(&nsf);
    if (min_short > 0 && sf) {
        for (int k = 0; k < nsf; k++) {
            if (sf[k].num != 1 || (sf[k].denom != 2 && sf[k].denom != 4 && sf[k].denom != 8))
                continue;
            int cw = TJSCALED(w, sf[k]), ch = TJSCALED(h, sf[k]);
            if (MX_MIN(cw, ch) >= min_short && (int64_t)cw * ch < (int64_t)sw * sh) {
                sw = cw;
                sh = ch;
            }
        }
    }
    /* CMYK / YCCK (Adobe, inverted) JPEGs decode to CMYK and convert: R = C K / 255 ... */
    const int cmyk = cs == TJCS_CMYK || cs == TJCS_YCCK;
    int c = cs == TJCS_GRAY ? 1 : 3;
    if (!grow((void **)&d->px, &d->px_cap, (size_t)sw * sh * (cmyk ? 4 : c)))
        return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %dx%d image", name, sw, sh);
    uint8_t *px = d->px;
    int pf = cmyk ? TJPF_CMYK : c == 1 ? TJPF_GRAY : TJPF_RGB;
    if (tjDecompress2(tj, buf, (unsigned long)size, px, sw, 0, sh, pf, TJFLAG_STOPONWARNING) != 0)
        return mx_error(MX_ERR_FORMAT, "%s: JPEG decode failed (truncated or corrupt): %s", name,
                        tjGetErrorStr2(tj));
    if (cmyk) /* in place: pixel i's RGB (3i..3i+2) never overtakes its CMYK (4i..4i+3) */
        for (size_t i = 0; i < (size_t)sw * sh; i++) {
            const uint8_t *q = px + 4 * i;
            unsigned k = q[3], r = q[0] * k / 255, g = q[1] * k / 255, b = q[2] * k / 255;
            px[3 * i] = (uint8_t)r;
            px[3 * i + 1] = (uint8_t)g;
            px[3 * i + 2] = (uint8_t)b;
        }
    out->w = sw;
    out->h = sh;
    out->c = c;
    out->data = px;
    return MX_OK;
}

/* ---- PNG --------------------------------------------------------------------------------- */

typedef struct png_src {
    const uint8_t *buf;
    size_t size, pos;
} png_src;

static void png_read_mem(png_structp p, png_bytep dst, png_size_t n) {
    png_src *s = png_get_io_ptr(p);
    if (n > s->size - s->pos) png_error(p, "truncated PNG data");
    memcpy(dst, s->buf + s->pos, n);
    s->pos += n;
}

static void png_err(png_structp p, png_const_charp msg) {
    char *dst = png_get_error_ptr(p);
    snprintf(dst, 200, "%s", msg);
    png_longjmp(p, 1);
}

static void png_warn(png_structp p, png_const_charp msg) {
    (void)p;
    (void)msg;
}

/* Buffers live in d (memory, not locals), so they survive the longjmp of a libpng error. */
static mx_status decode_png(mx_decoder *d, const uint8_t *buf, size_t size, const char *name,
                            mx_image *out) {
    char msg[200] = "unknown libpng error";
    png_structp p = png_create_read_struct(PNG_LIBPNG_VER_STRING, msg, png_err, png_warn);
    if (!p) return mx_error(MX_ERR_BACKEND, "%s: png_create_read_struct failed", name);
    png_infop info = png_create_info_struct(p);
    png_src src = {buf, size, 0};
    if (!info || setjmp(png_jmpbuf(p))) {
        png_destroy_read_struct(&p, info ? &info : NULL, NULL);
        return mx_error(MX_ERR_FORMAT, "%s: PNG decode failed: %s", name, msg);
    }
    png_set_read_fn(p, &src, png_read_mem);
    png_read_info(p, info);
    int ct = png_get_color_type(p, info);
    png_set_expand(p);   /* palette -> RGB, gray < 8 bit -> 8 bit, tRNS -> alpha */
    png_set_scale_16(p); /* 16 -> 8 bit, rounded */
    png_set_strip_alpha(p);
    if (ct == PNG_COLOR_TYPE_GRAY_ALPHA) ct = PNG_COLOR_TYPE_GRAY;
    int c = (ct == PNG_COLOR_TYPE_GRAY) ? 1 : 3;
    png_set_interlace_handling(p);
    png_read_update_info(p, info);
    png_uint_32 w = png_get_image_width(p, info), h = png_get_image_height(p, info);
    if ((int)png_get_channels(p, info) != c || png_get_bit_depth(p, info) != 8)
        png_error(p, "unexpected channel count after normalisation");
    if (w > 65535 || h > 65535 || (int64_t)w * h > MX_IMAGE_MAX_PIXELS)
        png_error(p, "image larger than 65535 pixels a side or 128 Mpixel");
    if (!grow((void **)&d->px, &d->px_cap, (size_t)w * h * c) ||
        !grow((void **)&d->rows, &d->rows_cap, sizeof(png_bytep) * h))
        png_error(p, "out of memory");
    for (png_uint_32 y = 0; y < h; y++) d->rows[y] = d->px + (size_t)y * w * c;
    png_read_image(p, d->rows);
    png_read_end(p, NULL);
    png_destroy_read_struct(&p, &info, NULL);
    out->w = (int)w;
    out->h = (int)h;
    out->c = c;
    out->data = d->px;
    return MX_OK;
}

mx_status mx_decoder_decode(mx_decoder *d, const void *buf, size_t size, const char *name,
                            int min_short, mx_image *view) {
    memset(view, 0, sizeof(*view));
    const uint8_t *b = buf;
    if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
        return decode_jpeg(d, b, size, name, min_short, view);
    if (size >= 8 && png_sig_cmp(b, 0, 8) == 0) return decode_png(d, b, size, name, view);
    return mx_error(MX_ERR_FORMAT, "%s: not a JPEG or PNG file (bad magic bytes)", name);
}

mx_status mx_decoder_load(mx_decoder *d, const char *path, int min_short, mx_image *view) {
    memset(view, 0, sizeof(*view));
    FILE *f = fopen(path, "rb");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot open file", path);
    long len = -1;
    if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
    if (len < 0 || fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return mx_error(MX_ERR_IO, "%s: cannot seek", path);
    }
    if (!grow((void **)&d->file, &d->file_cap, (size_t)len + 1)) {
        fclose(f);
        return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, len);
    }
    size_t got = fread(d->file, 1, (size_t)len, f);
    fclose(f);
    if (got != (size_t)len) return mx_error(MX_ERR_IO, "%s: read %zu of %ld bytes", path, got, len);
    return mx_decoder_decode(d, d->file, (size_t)len, path, min_short, view);
}

/* Moves the decoder's pixel buffer into an owned image. */
static void steal(mx_decoder *d, mx_image *out) {
    out->data = d->px;
    d->px = NULL;
    d->px_cap = 0;
}

mx_status mx_image_decode(const void *buf, size_t size, const char *name, int min_short,
                          mx_image *out) {
    memset(out, 0, sizeof(*out));
    mx_decoder *d;
    MX_TRY(mx_decoder_create(&d));
    mx_status st = mx_decoder_decode(d, buf, size, name, min_short, out);
    if (st == MX_OK)
        steal(d, out);
    else
        memset(out, 0, sizeof(*out));
    mx_decoder_free(d);
    return st;
}

mx_status mx_image_load(const char *path, int min_short, mx_image *out) {
    memset(out, 0, sizeof(*out));
    mx_decoder *d;
    MX_TRY(mx_decoder_create(&d));
    mx_status st = mx_decoder_load(d, path, min_short, out);
    if (st == MX_OK)
        steal(d, out);
    else
        memset(out, 0, sizeof(*out));
    mx_decoder_free(d);
    return st;
}
