/* Private helpers of the data module. */
#ifndef MX_DATA_IMPL_H
#define MX_DATA_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "metrix/core.h"

/* Reads a whole file into a malloc'ed buffer (NUL-terminated; *size excludes the NUL). */
mx_status mx_read_file(const char *path, uint8_t **buf, size_t *size);

/* Naive reference of mx_image_resample (tests compare the optimised kernel against it). */
struct mx_image;
void mx_image_resample_ref(const struct mx_image *im, int top, int left, int h, int w, int rh,
                           int rw, int oy, int ox, int oh, int ow, int flip, float *out);

/* splitmix64-style mixing of (a, b, c) into one seed: per-example RNG streams. */
static inline uint64_t mx_hash3(uint64_t a, uint64_t b, uint64_t c) {
    uint64_t h = a ^ 0x9E3779B97F4A7C15ull;
    uint64_t v[2] = {b, c};
    for (int k = 0; k < 2; k++) {
        h += v[k] + 0x9E3779B97F4A7C15ull;
        h = (h ^ (h >> 30)) * 0xBF58476D1CE4E5B9ull;
        h = (h ^ (h >> 27)) * 0x94D049BB133111EBull;
        h ^= h >> 31;
    }
    return h;
}

#endif
