/* data: augmentation and test transforms (RandomResizedCrop, resize + centre crop, pad + crop,
 * flips), bilinear resampling as torch's interpolate(align_corners=False, antialias=False), and
 * normalisation to float32 CHW. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "data/data_impl.h"
#include "metrix/data.h"

mx_transform_config mx_transform_config_default(mx_transform_kind kind) {
    mx_transform_config c;
    memset(&c, 0, sizeof(c));
    c.kind = kind;
    c.out_size = 224;
    c.resize_size = 256;
    c.scale_lo = 0.08f;
    c.scale_hi = 1.0f;
    c.ratio_lo = 3.0f / 4.0f;
    c.ratio_hi = 4.0f / 3.0f;
    c.flip_p = 0.5f;
    c.pad = 0;
    c.channels = 3;
    const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
    memcpy(c.mean, mean, sizeof(mean));
    memcpy(c.std, std, sizeof(std));
    return c;
}

mx_transform_config mx_transform_config_fmnist(int train) {
    mx_transform_config c = mx_transform_config_default(train ? MX_TF_TRAIN_PAD_CROP : MX_TF_NONE);
    c.out_size = 28;
    c.resize_size = 28;
    c.pad = 2;
    c.channels = 1;
    for (int k = 0; k < 3; k++) {
        c.mean[k] = 0.2860f;
        c.std[k] = 0.3530f;
    }
    return c;
}

mx_transform_config mx_transform_config_glyphs(int train, int size) {
    mx_transform_config c = mx_transform_config_default(train ? MX_TF_TRAIN_AFFINE : MX_TF_NONE);
    c.out_size = c.resize_size = size;
    c.scale_lo = 0.9f;
    c.scale_hi = 1.1f;
    c.rot_deg = 8.0f;
    c.pad = 2;
    c.noise_std = 8.0f;
    c.flip_p = 0; /* a mirrored character is another shape */
    c.channels = 1;
    for (int k = 0; k < 3; k++) {
        c.mean[k] = 0.15f;
        c.std[k] = 0.3f;
    }
    return c;
}

mx_status mx_transform_config_check(const mx_transform_config *c) {
    if ((int)c->kind < 0 || c->kind > MX_TF_TRAIN_AFFINE)
        return mx_error(MX_ERR_CONFIG, "transform.kind: unknown kind %d", (int)c->kind);
    if (c->out_size < 1 || c->out_size > 8192)
        return mx_error(MX_ERR_CONFIG, "transform.out_size: expected 1..8192, got %d", c->out_size);
    if (c->kind == MX_TF_TEST_RESIZE_CROP && c->resize_size < c->out_size)
        return mx_error(MX_ERR_CONFIG, "transform.resize_size: expected >= out_size %d, got %d",
                        c->out_size, c->resize_size);
    if (c->kind == MX_TF_TRAIN_RRC && !(c->scale_lo > 0 && c->scale_lo <= c->scale_hi &&
                                        c->ratio_lo > 0 && c->ratio_lo <= c->ratio_hi))
        return mx_error(MX_ERR_CONFIG,
                        "transform.scale/ratio: expected 0 < lo <= hi, got scale %g-%g ratio %g-%g",
                        c->scale_lo, c->scale_hi, c->ratio_lo, c->ratio_hi);
    if (!(c->flip_p >= 0 && c->flip_p <= 1))
        return mx_error(MX_ERR_CONFIG, "transform.flip_p: expected 0..1, got %g", c->flip_p);
    if (c->pad < 0) return mx_error(MX_ERR_CONFIG, "transform.pad: expected >= 0, got %d", c->pad);
    if (c->kind == MX_TF_TRAIN_AFFINE &&
        !(c->scale_lo > 0 && c->scale_lo <= c->scale_hi && c->rot_deg >= 0 && c->rot_deg <= 180 &&
          c->noise_std >= 0))
        return mx_error(MX_ERR_CONFIG,
                        "transform affine: expected 0 < scale_lo <= scale_hi, rot_deg in 0..180, "
                        "noise_std >= 0; got scale %g-%g, rot %g, noise %g",
                        c->scale_lo, c->scale_hi, c->rot_deg, c->noise_std);
    if (c->channels != 1 && c->channels != 3)
        return mx_error(MX_ERR_CONFIG, "transform.channels: expected 1 or 3, got %d", c->channels);
    for (int k = 0; k < c->channels; k++)
        if (!(c->std[k] > 0))
            return mx_error(MX_ERR_CONFIG, "transform.std[%d]: expected > 0, got %g", k, c->std[k]);
    return MX_OK;
}

int mx_transform_min_short(const mx_transform_config *c) {
    switch (c->kind) {
    case MX_TF_TEST_RESIZE_CROP:
        return c->resize_size;
    case MX_TF_TRAIN_RRC:
        return c->out_size;
    default:
        return 0;
    }
}

/* torchvision 0.14 RandomResizedCrop.get_params; Python's round() is round-half-even, as is
 * nearbyint in the default rounding mode. */
void mx_rrc_params(mx_rng *rng, int width, int height, float scale_lo, float scale_hi,
                   float ratio_lo, float ratio_hi, int *top, int *left, int *h, int *w) {
    double area = (double)width * height;
    double lr0 = log(ratio_lo), lr1 = log(ratio_hi);
    for (int attempt = 0; attempt < 10; attempt++) {
        double target = area * (scale_lo + (scale_hi - scale_lo) * mx_rng_uniform(rng));
        double ar = exp(lr0 + (lr1 - lr0) * mx_rng_uniform(rng));
        int cw = (int)nearbyint(sqrt(target * ar));
        int chh = (int)nearbyint(sqrt(target / ar));
        if (cw > 0 && cw <= width && chh > 0 && chh <= height) {
            *top = (int)mx_rng_below(rng, (uint64_t)(height - chh + 1));
            *left = (int)mx_rng_below(rng, (uint64_t)(width - cw + 1));
            *h = chh;
            *w = cw;
            return;
        }
    }
    double in_ratio = (double)width / height;
    int cw, chh;
    if (in_ratio < ratio_lo) {
        cw = width;
        chh = (int)nearbyint(cw / (double)ratio_lo);
    } else if (in_ratio > ratio_hi) {
        chh = height;
        cw = (int)nearbyint(chh * (double)ratio_hi);
    } else {
        cw = width;
        chh = height;
    }
    *top = (height - chh) / 2;
    *left = (width - cw) / 2;
    *h = chh;
    *w = cw;
}

/* Source index and weight of output coordinate d for an in -> out resize (torch upsample,
 * align_corners=False): s = max((d + 0.5) * in / out - 0.5, 0). */
static void lin_index(int d, int in, int out, int *i0, int *i1, float *l1) {
    float scale = (float)in / (float)out;
    float s = ((float)d + 0.5f) * scale - 0.5f;
    if (s < 0) s = 0;
    int a = (int)s;
    if (a > in - 1) a = in - 1;
    *i0 = a;
    *i1 = a + (a < in - 1);
    float l = s - (float)a;
    *l1 = l < 0 ? 0 : (l > 1 ? 1 : l);
}

/* Luma weights (ITU-R BT.601) for RGB -> gray outputs. */
static const float LUMA[3] = {0.299f, 0.587f, 0.114f};

/* Bilinear resample as documented at mx_image_resample; luma: write one plane of the RGB image's
 * luma instead of im->c planes. */
static void resample(const mx_image *im, int top, int left, int h, int w, int rh, int rw, int oy,
                     int ox, int oh, int ow, int flip, int luma, float *out) {
    MX_ASSERT(top >= 0 && left >= 0 && h > 0 && w > 0 && top + h <= im->h && left + w <= im->w);
    MX_ASSERT(oy >= 0 && ox >= 0 && oy + oh <= rh && ox + ow <= rw);
    MX_ASSERT(!luma || im->c == 3);
    enum { XC = 256 }; /* column indices and weights, computed once per block of columns */
    int xi0[XC], xi1[XC];
    float xl[XC];
    const int c = im->c;
    const size_t plane = (size_t)oh * ow;
    for (int xs = 0; xs < ow; xs += XC) {
        const int xn = MX_MIN(XC, ow - xs);
        for (int j = 0; j < xn; j++) {
            lin_index(xs + j + ox, w, rw, &xi0[j], &xi1[j], &xl[j]);
            xi0[j] *= c;
            xi1[j] *= c;
        }
        for (int y = 0; y < oh; y++) {
            int y0, y1;
            float ly;
            lin_index(y + oy, h, rh, &y0, &y1, &ly);
            const uint8_t *r0 = im->data + ((size_t)(top + y0) * im->w + left) * c;
            const uint8_t *r1 = im->data + ((size_t)(top + y1) * im->w + left) * c;
            float *orow = out + (size_t)y * ow;
            for (int j = 0; j < xn; j++) {
                const int x = xs + j, xo = flip ? ow - 1 - x : x;
                const float lx = xl[j];
                float acc = 0;
                for (int k = 0; k < c; k++) {
                    float top_v = (1 - lx) * r0[xi0[j] + k] + lx * r0[xi1[j] + k];
                    float bot_v = (1 - lx) * r1[xi0[j] + k] + lx * r1[xi1[j] + k];
                    float v = (1 - ly) * top_v + ly * bot_v;
                    if (luma)
                        acc += LUMA[k] * v;
                    else
                        orow[k * plane + xo] = v;
                }
                if (luma) orow[xo] = acc;
            }
        }
    }
}

/* Naive reference of resample (luma = 0): one pixel at a time, indices recomputed per pixel. */
void mx_image_resample_ref(const mx_image *im, int top, int left, int h, int w, int rh, int rw,
                           int oy, int ox, int oh, int ow, int flip, float *out) {
    const size_t plane = (size_t)oh * ow;
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int y0, y1, x0, x1;
            float ly, lx;
            lin_index(y + oy, h, rh, &y0, &y1, &ly);
            lin_index(x + ox, w, rw, &x0, &x1, &lx);
            for (int k = 0; k < im->c; k++) {
#define PX(yy, xx) ((float)im->data[((size_t)(top + (yy)) * im->w + left + (xx)) * im->c + k])
                float v = (1 - ly) * ((1 - lx) * PX(y0, x0) + lx * PX(y0, x1)) +
                          ly * ((1 - lx) * PX(y1, x0) + lx * PX(y1, x1));
#undef PX
                out[k * plane + (size_t)y * ow + (flip ? ow - 1 - x : x)] = v;
            }
        }
}

void mx_image_resample(const mx_image *im, int top, int left, int h, int w, int rh, int rw, int oy,
                       int ox, int oh, int ow, int flip, float *out) {
    resample(im, top, left, h, w, rh, rw, oy, ox, oh, ow, flip, 0, out);
}

/* Pad by p (zeros) and crop s x s at (top, left) of the padded image, optionally mirrored; CHW
 * floats 0..255 (one luma plane if luma). */
static void pad_crop(const mx_image *im, int p, int top, int left, int s, int flip, int luma,
                     float *out) {
    const int c = im->c;
    const size_t plane = (size_t)s * s;
    for (int y = 0; y < s; y++) {
        int sy = y + top - p;
        for (int x = 0; x < s; x++) {
            int sx = x + left - p;
            int xo = flip ? s - 1 - x : x;
            int inside = sy >= 0 && sy < im->h && sx >= 0 && sx < im->w;
            const uint8_t *q = inside ? im->data + ((size_t)sy * im->w + sx) * c : NULL;
            if (luma) {
                out[(size_t)y * s + xo] =
                    q ? LUMA[0] * q[0] + LUMA[1] * q[1] + LUMA[2] * q[2] : 0.0f;
                continue;
            }
            for (int k = 0; k < c; k++) out[k * plane + (size_t)y * s + xo] = q ? q[k] : 0.0f;
        }
    }
}

/* Random affine map of a gray (or luma of RGB) image about its centre into an s x s plane, then
 * noise: out(y, x) = bilinear im at A^-1 ((x, y) - c_out - t) + c_in, zero outside; 0..255. */
static void affine(const mx_transform_config *cfg, const mx_image *im, mx_rng *rng, int luma,
                   float *out) {
    const int s = cfg->out_size, c = im->c;
    const double pi = 3.14159265358979323846;
    double ang = (2 * mx_rng_uniform(rng) - 1) * cfg->rot_deg * pi / 180;
    double sc = cfg->scale_lo + (cfg->scale_hi - cfg->scale_lo) * mx_rng_uniform(rng);
    double tx = (2 * mx_rng_uniform(rng) - 1) * cfg->pad,
           ty = (2 * mx_rng_uniform(rng) - 1) * cfg->pad;
    /* inverse map: rotate by -ang, scale by 1/sc */
    const double ca = cos(ang) / sc, sa = sin(ang) / sc;
    const double cxo = (s - 1) / 2.0, cyo = (s - 1) / 2.0;
    const double cxi = (im->w - 1) / 2.0, cyi = (im->h - 1) / 2.0;
    for (int y = 0; y < s; y++)
        for (int x = 0; x < s; x++) {
            double dx = x - cxo - tx, dy = y - cyo - ty;
            double sx = ca * dx + sa * dy + cxi, sy = -sa * dx + ca * dy + cyi;
            int x0 = (int)floor(sx), y0 = (int)floor(sy);
            float fx = (float)(sx - x0), fy = (float)(sy - y0), v = 0;
            for (int k = 0; k < 4; k++) {
                int xx = x0 + (k & 1), yy = y0 + (k >> 1);
                if (xx < 0 || yy < 0 || xx >= im->w || yy >= im->h) continue;
                const uint8_t *q = im->data + ((size_t)yy * im->w + xx) * c;
                float p = luma ? LUMA[0] * q[0] + LUMA[1] * q[1] + LUMA[2] * q[2] : q[0];
                float w = ((k & 1) ? fx : 1 - fx) * ((k >> 1) ? fy : 1 - fy);
                v += w * p;
            }
            if (cfg->noise_std > 0) v += cfg->noise_std * (float)mx_rng_normal(rng);
            out[(size_t)y * s + x] = v < 0 ? 0 : v > 255 ? 255 : v;
        }
}

/* Turns the geometry's planes in out (one if c_in is 1 or luma was taken, else 3) into
 * cfg->channels normalised planes, in place. */
static void finish(const mx_transform_config *cfg, int c_in, float *out) {
    const size_t plane = (size_t)cfg->out_size * cfg->out_size;
    if (c_in == 1 && cfg->channels == 3) {
        memcpy(out + plane, out, plane * sizeof(float));
        memcpy(out + 2 * plane, out, plane * sizeof(float));
    }
    for (int k = 0; k < cfg->channels; k++) {
        const float inv = 1.0f / (255.0f * cfg->std[k]), m = cfg->mean[k] / cfg->std[k];
        float *o = out + k * plane;
        for (size_t i = 0; i < plane; i++) o[i] = o[i] * inv - m;
    }
}

mx_status mx_transform_apply(const mx_transform_config *cfg, const mx_image *im, mx_rng *rng,
                             float *out) {
    if (im->c != 1 && im->c != 3)
        return mx_error(MX_ERR_ARG, "transform: image has %d channels, expected 1 or 3", im->c);
    const int s = cfg->out_size;
    const int luma = im->c == 3 && cfg->channels == 1;
    float *buf = out;
    switch (cfg->kind) {
    case MX_TF_TRAIN_RRC: {
        int top, left, h, w;
        mx_rrc_params(rng, im->w, im->h, cfg->scale_lo, cfg->scale_hi, cfg->ratio_lo, cfg->ratio_hi,
                      &top, &left, &h, &w);
        int flip = mx_rng_uniformf(rng) < cfg->flip_p;
        resample(im, top, left, h, w, s, s, 0, 0, s, s, flip, luma, buf);
        break;
    }
    case MX_TF_TEST_RESIZE_CROP: {
        /* torchvision Resize(int): shorter side -> resize_size, longer int(size * long / short);
         * CenterCrop: offset int(round((len - crop) / 2)) */
        int rs = cfg->resize_size, rh, rw;
        if (im->w <= im->h) {
            rw = rs;
            rh = (int)((int64_t)rs * im->h / im->w);
        } else {
            rh = rs;
            rw = (int)((int64_t)rs * im->w / im->h);
        }
        int oy = (int)nearbyint((rh - s) / 2.0), ox = (int)nearbyint((rw - s) / 2.0);
        resample(im, 0, 0, im->h, im->w, rh, rw, oy, ox, s, s, 0, luma, buf);
        break;
    }
    case MX_TF_TRAIN_PAD_CROP: {
        int ph = im->h + 2 * cfg->pad, pw = im->w + 2 * cfg->pad;
        if (ph < s || pw < s)
            return mx_error(MX_ERR_SHAPE, "transform: padded image %dx%d smaller than crop %d", pw,
                            ph, s);
        int top = (int)mx_rng_below(rng, (uint64_t)(ph - s + 1));
        int left = (int)mx_rng_below(rng, (uint64_t)(pw - s + 1));
        int flip = mx_rng_uniformf(rng) < cfg->flip_p;
        pad_crop(im, cfg->pad, top, left, s, flip, luma, buf);
        break;
    }
    case MX_TF_TRAIN_AFFINE:
        if (im->c != 1 && !luma)
            return mx_error(MX_ERR_ARG,
                            "transform affine: expects gray images (or a 1-channel "
                            "output), got %d channels",
                            im->c);
        affine(cfg, im, rng, luma, buf);
        finish(cfg, 1, out);
        return MX_OK;
    case MX_TF_NONE:
        if (im->w != s || im->h != s)
            return mx_error(MX_ERR_SHAPE, "transform: image is %dx%d, expected %dx%d", im->w, im->h,
                            s, s);
        pad_crop(im, 0, 0, 0, s, 0, luma, buf);
        break;
    }
    finish(cfg, luma ? 1 : im->c, out);
    return MX_OK;
}
