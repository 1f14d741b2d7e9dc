/* Cars196: cars_annos.mat, read with libmatio. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <matio.h>

#include "data/dataset_impl.h"
#include "data/mat_read.h"

/* ---- Cars196 (.mat) ---------------------------------------------------------------------- */

/* Element count of v from its dims; 0 when dims are missing. */
static size_t mat_numel(const matvar_t *v) {
    if (!v->dims || v->rank < 1) return 0;
    size_t n = 1;
    for (int d = 0; d < v->rank; d++) n *= v->dims[d];
    return n;
}

/* A real numeric scalar as double; the byte count is checked against the class, because matio
 * can hand back inconsistent dims / types for damaged files. */
static int mat_scalar(matvar_t *v, double *out) {
    if (!v || !v->data || v->isComplex || mat_numel(v) != 1) return 0;
    static const size_t size_of[] = {
        [MAT_C_DOUBLE] = 8, [MAT_C_SINGLE] = 4, [MAT_C_INT8] = 1,  [MAT_C_UINT8] = 1,
        [MAT_C_INT16] = 2,  [MAT_C_UINT16] = 2, [MAT_C_INT32] = 4, [MAT_C_UINT32] = 4,
        [MAT_C_INT64] = 8,  [MAT_C_UINT64] = 8};
    if ((size_t)v->class_type >= sizeof(size_of) / sizeof(size_of[0]) || !size_of[v->class_type] ||
        v->nbytes < size_of[v->class_type] || (size_t)v->data_size != size_of[v->class_type])
        return 0;
    switch (v->class_type) {
    case MAT_C_DOUBLE:
        *out = *(double *)v->data;
        return 1;
    case MAT_C_SINGLE:
        *out = *(float *)v->data;
        return 1;
    case MAT_C_INT8:
        *out = *(int8_t *)v->data;
        return 1;
    case MAT_C_UINT8:
        *out = *(uint8_t *)v->data;
        return 1;
    case MAT_C_INT16:
        *out = *(int16_t *)v->data;
        return 1;
    case MAT_C_UINT16:
        *out = *(uint16_t *)v->data;
        return 1;
    case MAT_C_INT32:
        *out = *(int32_t *)v->data;
        return 1;
    case MAT_C_UINT32:
        *out = *(uint32_t *)v->data;
        return 1;
    case MAT_C_INT64:
        *out = (double)*(int64_t *)v->data;
        return 1;
    case MAT_C_UINT64:
        *out = (double)*(uint64_t *)v->data;
        return 1;
    default:
        return 0;
    }
}

mx_status mx_ds_read_cars(const char *root, mx_ds_raw *r) {
    char *p = mx_ds_path_join(root, "cars_annos.mat");
    if (!p) return mx_error(MX_ERR_NOMEM, "cars: out of memory");
    mx_status chk = mx_mat_check(p); /* bounds libmatio's time and memory on damaged files */
    if (chk != MX_OK) {
        free(p);
        return chk;
    }
    mat_t *mat = Mat_Open(p, MAT_ACC_RDONLY);
    if (!mat) {
        mx_status st = mx_error(MX_ERR_IO, "%s: cannot open as a MAT file", p);
        free(p);
        return st;
    }
    mx_status st = MX_OK;
    matvar_t *an = Mat_VarRead(mat, "annotations");
    if (!an || an->class_type != MAT_C_STRUCT)
        st = mx_error(MX_ERR_FORMAT, "%s: expected a struct array 'annotations'", p);
    size_t n = 0, nf = 0, f_path = SIZE_MAX, f_class = SIZE_MAX;
    if (st == MX_OK) {
        /* matio (1.5.23) does not validate a damaged struct before Mat_VarGetStructField*
         * dereferences it: check the field table and the element array here */
        n = mat_numel(an);
        nf = Mat_VarGetNumberOfFields(an);
        char *const *names = Mat_VarGetStructFieldnames(an);
        for (size_t k = 0; names && k < nf; k++) {
            if (names[k] && !strcmp(names[k], "relative_im_path")) f_path = k;
            if (names[k] && !strcmp(names[k], "class")) f_class = k;
        }
        if (!an->dims || an->rank < 1 || f_path == SIZE_MAX || f_class == SIZE_MAX)
            st = mx_error(MX_ERR_FORMAT,
                          "%s: 'annotations' lacks the fields relative_im_path and class", p);
        else if (n > 0 && (!an->data || an->nbytes / sizeof(matvar_t *) < n * nf))
            st = mx_error(MX_ERR_FORMAT, "%s: 'annotations' has %zu elements but no data for them",
                          p, n);
    }
    char buf[1024];
    for (size_t i = 0; st == MX_OK && i < n; i++) {
        matvar_t *const *el = (matvar_t *const *)an->data + i * nf;
        matvar_t *fp = el[f_path], *fc = el[f_class];
        double cls;
        if (!fc || !mat_scalar(fc, &cls) || !(cls > -1e18 && cls < 1e18) || /* NaN, int64 */
            cls != (double)(int64_t)cls) {
            st = mx_error(MX_ERR_FORMAT, "%s: annotations(%zu).class: expected an integer scalar",
                          p, i + 1);
            break;
        }
        if (cls < 1 || cls > 196) {
            st = mx_error(MX_ERR_FORMAT, "%s: annotations(%zu).class: %g out of range 1..196", p,
                          i + 1, cls);
            break;
        }
        if (!fp || fp->class_type != MAT_C_CHAR || !fp->data) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s: annotations(%zu).relative_im_path: expected a char array", p, i + 1);
            break;
        }
        size_t len = mat_numel(fp);
        if (len == 0 || len >= sizeof(buf) || (fp->data_size != 1 && fp->data_size != 2) ||
            fp->nbytes < len * (size_t)fp->data_size) {
            st = mx_error(MX_ERR_FORMAT,
                          "%s: annotations(%zu).relative_im_path: length %zu or width %d invalid",
                          p, i + 1, len, fp->data_size);
            break;
        }
        for (size_t k = 0; k < len; k++) {
            unsigned ch = fp->data_size == 1 ? ((uint8_t *)fp->data)[k] : ((uint16_t *)fp->data)[k];
            buf[k] = (char)(ch < 128 && ch ? ch : '?');
        }
        st = mx_ds_raw_add(r, root, buf, len, (int64_t)cls, 0);
    }
    Mat_VarFree(an);
    Mat_Close(mat);
    free(p);
    return st;
}
