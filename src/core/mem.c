/* Aligned allocation and the version string. */
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"

void *mx_alloc(size_t size) {
    if (size == 0) return NULL;
    size_t rounded = (size + 63) & ~(size_t)63;
    if (rounded < size) return NULL;
    return aligned_alloc(64, rounded);
}

void *mx_calloc(size_t n, size_t size) {
    if (n != 0 && size > SIZE_MAX / n) return NULL;
    void *p = mx_alloc(n * size);
    if (p) memset(p, 0, n * size);
    return p;
}

void mx_free(void *p) {
    free(p);
}

const char *mx_version(void) {
    return "0.1.0";
}
