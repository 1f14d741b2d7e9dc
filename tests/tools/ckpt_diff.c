/* ckpt_diff A B: compares two checkpoints tensor by tensor (tests/mpi_test.sh). Integer
 * tensors (epoch, step, RNG states) must be equal; float tensors are compared element-wise.
 * Prints "max_abs X max_rel Y worst NAME" (rel = |a - b| / max(|a|, 1e-2)); exit 0 when every
 * tensor of A is in B with the same dtype and shape and the integers agree, 1 otherwise. The
 * evaluation histories (train.hist_val_r1 / hist_test_r1: Recall@1 moves by 1 / n when one
 * query's neighbour flips) are not compared. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "metrix/io.h"

static double get(const mx_tensor_view *v, size_t i) {
    if (v->dtype == MX_DTYPE_F64) {
        double x;
        memcpy(&x, (const char *)v->data + 8 * i, 8);
        return x;
    }
    float x;
    memcpy(&x, (const char *)v->data + 4 * i, 4);
    return x;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: ckpt_diff A.safetensors B.safetensors\n");
        return 2;
    }
    mx_safetensors *a = NULL, *b = NULL;
    if (mx_st_open(argv[1], &a) != MX_OK || mx_st_open(argv[2], &b) != MX_OK) {
        fprintf(stderr, "ckpt_diff: %s\n", mx_errmsg());
        return 2;
    }
    double max_abs = 0, max_rel = 0;
    const char *worst = "-";
    int bad = 0;
    for (size_t k = 0; k < mx_st_count(a); k++) {
        const mx_tensor_view *va = mx_st_at(a, k), *vb = mx_st_find(b, va->name);
        if (!vb || vb->dtype != va->dtype || vb->nbytes != va->nbytes) {
            fprintf(stderr, "ckpt_diff: %s: missing or different dtype / size in %s\n", va->name,
                    argv[2]);
            bad = 1;
            continue;
        }
        if (!strcmp(va->name, "train.hist_val_r1") || !strcmp(va->name, "train.hist_test_r1"))
            continue;
        if (va->dtype != MX_DTYPE_F32 && va->dtype != MX_DTYPE_F64) {
            if (memcmp(va->data, vb->data, va->nbytes)) {
                fprintf(stderr, "ckpt_diff: %s: integer tensor differs\n", va->name);
                bad = 1;
            }
            continue;
        }
        size_t n = va->nbytes / mx_dtype_size(va->dtype);
        for (size_t i = 0; i < n; i++) {
            double x = get(va, i), y = get(vb, i), d = fabs(x - y);
            if (isnan(x) != isnan(y)) d = INFINITY;
            if (isnan(x) && isnan(y)) d = 0;
            double r = d / fmax(fabs(x), 1e-2);
            if (d > max_abs) max_abs = d;
            if (r > max_rel) max_rel = r, worst = va->name;
        }
    }
    printf("max_abs %.3g max_rel %.3g worst %s\n", max_abs, max_rel, worst);
    mx_st_free(a);
    mx_st_free(b);
    return bad;
}
