/* Mixed precision (mx_precision, nn.h): the CPU check, and the bf16 elementwise kernels of the
 * oneDNN executor that oneDNN does not provide: conversions at the plan's boundaries (the NCHW
 * input, stage slabs, gradients handed back), residual adds, gradient accumulation and the head's
 * pooling over a bf16 map. Each has an fp32 twin in exec.c / head.c that tests compare against.
 *
 * bf16 is the upper half of an IEEE float (1 sign, 8 exponent, 7 mantissa bits). Rounding float ->
 * bf16 is to nearest, ties to even (as oneDNN and torch do); NaN stays a (quiet) NaN. Arithmetic
 * is done in float: every kernel widens its bf16 inputs, computes in float and rounds once on
 * store. */
#include <string.h>

#include <oneapi/dnnl/dnnl.h>

#include "nn/nn_impl.h"

int mx_precision_from_name(const char *name, mx_precision *out) {
    if (name && !strcmp(name, "fp32")) {
        *out = MX_PRECISION_FP32;
        return 1;
    }
    if (name && !strcmp(name, "bf16")) {
        *out = MX_PRECISION_BF16;
        return 1;
    }
    return 0;
}

const char *mx_precision_name(mx_precision p) {
    switch (p) {
    case MX_PRECISION_FP32:
        return "fp32";
    case MX_PRECISION_BF16:
        return "bf16";
    }
    return "?";
}

/* oneDNN's view of the CPU (it honours ONEDNN_MAX_CPU_ISA): bf16 convolutions run natively from
 * avx512_core_bf16 on (dnnl_cpu_isa_t values are nested bit masks). Below that oneDNN would
 * emulate bf16 or fall back to reference kernels: refused. */
int mx_precision_supported(mx_precision p) {
    if (p == MX_PRECISION_FP32) return 1;
    if (p != MX_PRECISION_BF16) return 0;
    unsigned isa = (unsigned)dnnl_get_effective_cpu_isa();
    return (isa & (unsigned)dnnl_cpu_isa_avx512_core_bf16) ==
           (unsigned)dnnl_cpu_isa_avx512_core_bf16;
}

mx_status mx_precision_check(mx_precision p) {
    if (p != MX_PRECISION_FP32 && p != MX_PRECISION_BF16)
        return mx_error(MX_ERR_CONFIG, "nn: precision %d unknown: expected fp32 or bf16", (int)p);
    if (!mx_precision_supported(p))
        return mx_error(MX_ERR_CONFIG,
                        "nn: precision bf16 needs a CPU with AVX512-BF16 instructions; oneDNN "
                        "reports ISA 0x%x (avx512_core_bf16 is 0x%x): use precision fp32",
                        (unsigned)dnnl_get_effective_cpu_isa(),
                        (unsigned)dnnl_cpu_isa_avx512_core_bf16);
    return MX_OK;
}

/* The kernels below run only in bf16 plans, i.e. on CPUs with AVX512-BF16 (checked above), which
 * have AVX512-BW: compiled for it whatever the build's baseline (memory-bound loops; 16 lanes per
 * conversion instead of 4). */
#if defined(__GNUC__) && defined(__x86_64__)
#define MX_BF16_TARGET __attribute__((target("avx512f,avx512bw,avx512vl")))
#else
#define MX_BF16_TARGET
#endif

/* ---- conversions -------------------------------------------------------------------------- */

static inline float bf2f(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static inline uint16_t f2bf(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t q = (u >> 16) | 0x40u; /* quiet NaN, sign kept */
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? q : r);
}

float mx_bf16_to_float(uint16_t h) {
    return bf2f(h);
}

uint16_t mx_bf16_from_float(float f) {
    return f2bf(f);
}

MX_BF16_TARGET void mx_bf16_pack(const float *src, uint16_t *dst, int64_t len) {
#pragma omp parallel for simd schedule(static)
    for (int64_t k = 0; k < len; k++) dst[k] = f2bf(src[k]);
}

MX_BF16_TARGET void mx_bf16_unpack(const uint16_t *src, float *dst, int64_t len) {
#pragma omp parallel for simd schedule(static)
    for (int64_t k = 0; k < len; k++) dst[k] = bf2f(src[k]);
}

MX_BF16_TARGET void mx_bf16_add_to_f32(float *dst, const uint16_t *src, int64_t len) {
#pragma omp parallel for simd schedule(static)
    for (int64_t k = 0; k < len; k++) dst[k] += bf2f(src[k]);
}

MX_BF16_TARGET void mx_bf16_add_into(uint16_t *dst, const uint16_t *src, int64_t len) {
#pragma omp parallel for simd schedule(static)
    for (int64_t k = 0; k < len; k++) dst[k] = f2bf(bf2f(dst[k]) + bf2f(src[k]));
}

/* ---- residual add ------------------------------------------------------------------------- */

MX_BF16_TARGET void mx_bf16_resadd_fwd(const uint16_t *x0, const uint16_t *x1, uint16_t *o,
                                       int64_t len, int relu) {
    if (relu) {
#pragma omp parallel for simd schedule(static)
        for (int64_t k = 0; k < len; k++) {
            float v = bf2f(x0[k]) + bf2f(x1[k]);
            o[k] = f2bf(v < 0.0f ? 0.0f : v); /* NaN passes */
        }
    } else {
#pragma omp parallel for simd schedule(static)
        for (int64_t k = 0; k < len; k++) o[k] = f2bf(bf2f(x0[k]) + bf2f(x1[k]));
    }
}

/* As resadd_bwd in exec.c: g = relu'(y) dy written (acc 0) or added (acc 1) to dx0 and dx1;
 * dx0 may be dy (acc0 = 0) or dx1 (acc0 = acc1 = 0). */
MX_BF16_TARGET void mx_bf16_resadd_bwd(const uint16_t *y, const uint16_t *dy, uint16_t *dx0,
                                       uint16_t *dx1, int64_t len, int relu, int acc0, int acc1) {
    if (dx0 == dx1) {
        if (relu) {
#pragma omp parallel for simd schedule(static)
            for (int64_t k = 0; k < len; k++) {
                uint16_t d = dy[k];
                dx0[k] = bf2f(y[k]) <= 0.0f ? (uint16_t)0 : d;
            }
        } else if (dx0 != dy) {
            memcpy(dx0, dy, (size_t)len * sizeof(uint16_t));
        }
        return;
    }
#pragma omp parallel for simd schedule(static)
    for (int64_t k = 0; k < len; k++) {
        float d = bf2f(dy[k]);
        float g = relu && bf2f(y[k]) <= 0.0f ? 0.0f : d;
        float a = acc0 ? bf2f(dx0[k]) + g : g;
        float b = acc1 ? bf2f(dx1[k]) + g : g;
        dx0[k] = f2bf(a);
        dx1[k] = f2bf(b);
    }
}

/* ---- head pooling over a bf16 map (the float twins are in head.c) -------------------------- */

MX_BF16_TARGET void mx_bf16_gapgmp_fwd(const uint16_t *x, int64_t n, int c, int cpad, int hw,
                                       int blk, float *p, int32_t *argmax) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        for (int ch = 0; ch < c; ch++) {
            const uint16_t *r =
                x + i * (int64_t)cpad * hw + (int64_t)(ch / blk) * hw * blk + ch % blk;
            double sum = 0;
            float mx = bf2f(r[0]);
            int32_t am = 0;
            for (int s = 0; s < hw; s++) {
                float v = bf2f(r[(int64_t)s * blk]);
                sum += v;
                if (v > mx) {
                    mx = v;
                    am = s;
                }
            }
            p[i * c + ch] = (float)(sum / hw) + mx;
            argmax[i * c + ch] = am;
        }
    }
}

MX_BF16_TARGET void mx_bf16_gapgmp_bwd(int64_t n, int c, int cpad, int hw, int blk,
                                       const int32_t *argmax, const float *dp, uint16_t *dx) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        uint16_t *xi = dx + i * (int64_t)cpad * hw;
        memset(xi, 0, (size_t)cpad * hw * sizeof(uint16_t));
        for (int ch = 0; ch < c; ch++) {
            uint16_t *r = xi + (int64_t)(ch / blk) * hw * blk + ch % blk;
            float g = dp[i * c + ch], ga = g / (float)hw;
            uint16_t gb = f2bf(ga);
            for (int s = 0; s < hw; s++) r[(int64_t)s * blk] = gb;
            r[(int64_t)argmax[i * c + ch] * blk] = f2bf(ga + g);
        }
    }
}
