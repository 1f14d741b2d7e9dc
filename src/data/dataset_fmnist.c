/* Fashion-MNIST: the IDX files of Debian's dataset-fashion-mnist (or a copy under --data_root). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "data/dataset_impl.h"

/* ---- Fashion-MNIST ----------------------------------------------------------------------- */

static mx_status mx_ds_idx_read(const char *path, int want_ndim, int64_t *dims, uint8_t **data) {
    *data = NULL;
    gzFile f = gzopen(path, "rb");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot open file", path);
    uint8_t hdr[16];
    int hl = 4 + 4 * want_ndim;
    if (gzread(f, hdr, (unsigned)hl) != hl) {
        gzclose(f);
        return mx_error(MX_ERR_FORMAT, "%s: truncated IDX header (expected %d bytes)", path, hl);
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[2] != 0x08 || hdr[3] != want_ndim) {
        gzclose(f);
        return mx_error(MX_ERR_FORMAT,
                        "%s: bad IDX magic %02x%02x%02x%02x, expected 000008%02x (uint8, %d dims)",
                        path, hdr[0], hdr[1], hdr[2], hdr[3], want_ndim, want_ndim);
    }
    int64_t total = 1;
    for (int d = 0; d < want_ndim; d++) {
        const uint8_t *b = hdr + 4 + 4 * d;
        dims[d] = ((int64_t)b[0] << 24) | (b[1] << 16) | (b[2] << 8) | b[3];
        if (dims[d] <= 0 || dims[d] > 100000000) {
            gzclose(f);
            return mx_error(MX_ERR_FORMAT, "%s: IDX dimension %d is %ld, expected 1..1e8", path, d,
                            (long)dims[d]);
        }
        if (total > ((int64_t)1 << 34) / dims[d]) {
            gzclose(f);
            return mx_error(MX_ERR_FORMAT, "%s: IDX payload larger than 16 GiB (dimension %d)",
                            path, d);
        }
        total *= dims[d];
    }
    /* the buffer grows with the data actually read, so a damaged header promising gigabytes
     * costs nothing before the short read is noticed */
    uint8_t *buf = NULL;
    int64_t got = 0, cap = 0;
    while (got < total) {
        if (got == cap) {
            int64_t nc = MX_MIN(total, MX_MAX(2 * cap, (int64_t)1 << 20));
            uint8_t *nb = realloc(buf, (size_t)nc);
            if (!nb) {
                free(buf);
                gzclose(f);
                return mx_error(MX_ERR_NOMEM, "%s: cannot allocate %ld bytes", path, (long)nc);
            }
            buf = nb;
            cap = nc;
        }
        unsigned chunk = (unsigned)MX_MIN(cap - got, (int64_t)1 << 30);
        int r = gzread(f, buf + got, chunk);
        if (r <= 0) break;
        got += r;
    }
    gzclose(f);
    if (got != total) {
        free(buf);
        return mx_error(MX_ERR_FORMAT, "%s: truncated: header promises %ld bytes of data, got %ld",
                        path, (long)total, (long)got);
    }
    *data = buf;
    return MX_OK;
}

mx_status mx_ds_read_fmnist(const char *dir, int train, mx_ds_raw *r) {
    const char *pre = train ? "train" : "t10k";
    char ip[4096], lp[4096];
    snprintf(ip, sizeof(ip), "%s/%s-images-idx3-ubyte.gz", dir, pre);
    snprintf(lp, sizeof(lp), "%s/%s-labels-idx1-ubyte.gz", dir, pre);
    int64_t idims[3] = {0, 0, 0}, ldims[1] = {0};
    uint8_t *img = NULL, *lab = NULL;
    MX_TRY(mx_ds_idx_read(ip, 3, idims, &img));
    mx_status st = mx_ds_idx_read(lp, 1, ldims, &lab);
    if (st == MX_OK && ldims[0] != idims[0])
        st = mx_error(MX_ERR_FORMAT, "%s: %ld labels but %s has %ld images", lp, (long)ldims[0], ip,
                      (long)idims[0]);
    for (int64_t i = 0; st == MX_OK && i < ldims[0]; i++)
        if (lab[i] > 9)
            st = mx_error(MX_ERR_FORMAT, "%s: record %ld: label %d out of range 0..9", lp, (long)i,
                          lab[i]);
    if (st == MX_OK) {
        r->n = idims[0];
        r->cls = malloc((size_t)r->n * sizeof(int64_t));
        r->tag = calloc((size_t)r->n, 1);
        if (!r->cls || !r->tag) st = mx_error(MX_ERR_NOMEM, "%s: out of memory", lp);
        for (int64_t i = 0; st == MX_OK && i < r->n; i++) r->cls[i] = lab[i];
        r->pixels = img;
        r->ih = (int)idims[1];
        r->iw = (int)idims[2];
        img = NULL;
    }
    free(img);
    free(lab);
    return st;
}
