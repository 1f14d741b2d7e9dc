/* xoshiro256** with splitmix64 seeding, and the distributions metrix samples from. */
#include <math.h>

#include "core/core_impl.h"

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) {
    return (x << k) | (x >> (64 - k));
}

void mx_rng_seed(mx_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

uint64_t mx_rng_u64(mx_rng *r) {
    uint64_t *s = r->s;
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

mx_rng mx_rng_split(mx_rng *r) {
    /* Seed a fresh generator from two outputs of r through splitmix64: streams from distinct
     * parent states are independent for all practical purposes. */
    uint64_t x = mx_rng_u64(r) ^ rotl(mx_rng_u64(r), 32);
    mx_rng child;
    for (int i = 0; i < 4; i++) child.s[i] = splitmix64(&x);
    return child;
}

uint64_t mx_rng_below(mx_rng *r, uint64_t n) {
    MX_ASSERT(n > 0);
    /* Lemire's rejection on the 128-bit product would need __int128; use the threshold method. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t x = mx_rng_u64(r);
        if (x >= threshold) return x % n;
    }
}

double mx_rng_uniform(mx_rng *r) {
    return (double)(mx_rng_u64(r) >> 11) * 0x1.0p-53;
}

float mx_rng_uniformf(mx_rng *r) {
    return (float)(mx_rng_u64(r) >> 40) * 0x1.0p-24f;
}

double mx_rng_normal(mx_rng *r) {
    double u1 = 1.0 - mx_rng_uniform(r); /* (0, 1] */
    double u2 = mx_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

double mx_rng_gamma(mx_rng *r, double shape) {
    MX_ASSERT(shape > 0);
    if (shape < 1.0) {
        /* Gamma(a) = Gamma(a + 1) * U^(1/a) */
        double u = 1.0 - mx_rng_uniform(r);
        return mx_rng_gamma(r, shape + 1.0) * pow(u, 1.0 / shape);
    }
    const double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x, v;
        do {
            x = mx_rng_normal(r);
            v = 1.0 + c * x;
        } while (v <= 0.0);
        v = v * v * v;
        double u = 1.0 - mx_rng_uniform(r);
        if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
        if (log(u) < 0.5 * x * x + d * (1.0 - v + log(v))) return d * v;
    }
}

double mx_rng_beta(mx_rng *r, double a, double b) {
    double x = mx_rng_gamma(r, a), y = mx_rng_gamma(r, b);
    double s = x + y;
    return s > 0 ? x / s : 0.5;
}

void mx_rng_shuffle_i32(mx_rng *r, int32_t *v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mx_rng_below(r, i);
        int32_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}

void mx_rng_shuffle_i64(mx_rng *r, int64_t *v, size_t n) {
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)mx_rng_below(r, i);
        int64_t t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
}
