/* The fused mixed head of feature-level Metrix at the last trunk stage: the embeddings of the M
 * mixed maps lambda h_i + (1 - lambda) h_j computed from the n clean maps without writing any
 * mixed map.
 *
 *   pooling (GAP + GMP summed) of a mixed map, per channel:
 *     p_k = lambda gap(h_i) + (1 - lambda) gap(h_j)        (the mean is linear)
 *         + max_s (lambda h_i[s] + (1 - lambda) h_j[s])    (taken over the mixed values)
 *   then Y = P W^T + b (one GEMM over the M pooled rows) and e = Y / |Y|.
 *   backward, with dp_k = the pooled gradient of pair k:
 *     dgap_i += lambda dp_k, dgap_j += (1 - lambda) dp_k, then dh_i[s] += dgap_i / hw (all s)
 *     dh_i[argmax_k] += lambda dp_k, dh_j[argmax_k] += (1 - lambda) dp_k
 * Memory: O(M C + M d + n C) instead of the M x C x H x W mixed maps and their gradients.
 *
 * The maps are in the executor's blocked layout (channel block blk: element (i, ch, s) at
 * i cpad hw + (ch / blk) hw blk + s blk + ch % blk). Work is split by groups of up to 16
 * channels of one block: the pairs of a group read only that group's slice of the n maps
 * (n hw 16 floats: 25 KB for ResNet-50 b32), which stays in cache while every pair is pooled,
 * and the backward of a group writes only its own slice (no races, k-ordered sums). */
#include <math.h>
#include <string.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"
#include "nn/nn_impl.h"

#define LANES 16 /* channels per work group */

/* Channel groups of a blocked map: group g covers channels [ch0, ch0 + len) of block ch0 / blk. */
static int n_groups(int c, int blk) {
    int per_blk = (blk + LANES - 1) / LANES, nb = (c + blk - 1) / blk;
    return nb * per_blk;
}

static void group_at(int g, int c, int blk, int *ch0, int *len) {
    int per_blk = (blk + LANES - 1) / LANES, b = g / per_blk, l0 = (g % per_blk) * LANES;
    *ch0 = b * blk + l0;
    *len = MX_MIN(MX_MIN(LANES, blk - l0), c - *ch0);
}

/* offset of (ch, s = 0) inside one example's map */
static int64_t ch_off(int ch, int hw, int blk) {
    return (int64_t)(ch / blk) * hw * blk + ch % blk;
}

/* max / first argmax over s of l a[s LANES + q] + r b[s LANES + q] for the 16 lanes q of a full
 * nChw16c group, in GCC vector types (one zmm, two ymm or four xmm per clone): selects by masks,
 * no branches. Two chains (even / odd s) hide the compare latency; merging them keeps the first
 * argmax (ties go to the smaller s). */
typedef float v16f __attribute__((vector_size(64)));
typedef int32_t v16i __attribute__((vector_size(64)));

/* (vector types go through macros: passing them to functions changes the ABI per clone) */
#define VMIX(dst, pa, pb)                                                                          \
    do {                                                                                           \
        v16f va_, vb_;                                                                             \
        memcpy(&va_, (pa), sizeof va_);                                                            \
        memcpy(&vb_, (pb), sizeof vb_);                                                            \
        (dst) = l * va_ + r * vb_;                                                                 \
    } while (0)
#define VSEL(take, v, s, mx, am)                                                                   \
    do {                                                                                           \
        (mx) = (v16f)(((v16i)(mx) & ~(take)) | ((v16i)(v) & (take)));                              \
        (am) = ((am) & ~(take)) | ((s) & (take));                                                  \
    } while (0)

MX_CLONES static void mixmax16(const float *a, const float *b, float l, float r, int hw,
                               float *mx_out, int32_t *am_out) {
    v16f mx0, mx1, v0, v1;
    v16i am0 = {0}, am1 = am0, zero = am0, take;
    VMIX(mx0, a, b);
    if (hw > 1) {
        int s;
        VMIX(mx1, a + LANES, b + LANES);
        am1 = zero + 1;
        for (s = 2; s + 1 < hw; s += 2) {
            const float *as = a + (int64_t)s * LANES, *bs = b + (int64_t)s * LANES;
            VMIX(v0, as, bs);
            VMIX(v1, as + LANES, bs + LANES);
            take = v0 > mx0;
            VSEL(take, v0, zero + s, mx0, am0);
            take = v1 > mx1;
            VSEL(take, v1, zero + (s + 1), mx1, am1);
        }
        if (s < hw) {
            VMIX(v0, a + (int64_t)s * LANES, b + (int64_t)s * LANES);
            take = v0 > mx0;
            VSEL(take, v0, zero + s, mx0, am0);
        }
        /* the odd chain wins if larger, or equal at a smaller position */
        take = (mx1 > mx0) | ((mx1 == mx0) & (am1 < am0));
        VSEL(take, mx1, am1, mx0, am0);
    }
    memcpy(mx_out, &mx0, sizeof mx0);
    memcpy(am_out, &am0, sizeof am0);
}

/* mixmax16 for four pairs at once: four independent compare chains (one per pair, s in order, so
 * the first argmax wins ties as in mixmax16) keep the vector units busy where one pair's chain
 * waits on its compare. a[p], b[p]: the two maps' group slices of pair p; out: 4 x LANES. */
#define VSTEP(p)                                                                                   \
    do {                                                                                           \
        v16f v_, l = lv[p], r = rv[p];                                                             \
        VMIX(v_, a[p] + (int64_t)s * LANES, b[p] + (int64_t)s * LANES);                            \
        v16i take_ = v_ > mx[p];                                                                   \
        VSEL(take_, v_, zero + s, mx[p], am[p]);                                                   \
    } while (0)

MX_CLONES static void mixmax16x4(const float *const a[4], const float *const b[4],
                                 const float lam[4], int hw, float *mx_out, int32_t *am_out) {
    v16f mx[4], lv[4], rv[4];
    v16i am[4], zero = {0};
    for (int p = 0; p < 4; p++) {
        v16f one = (v16f){0} + 1.0f;
        lv[p] = (v16f){0} + lam[p];
        rv[p] = one - lv[p]; /* 1 - lambda, rounded as the scalar r = 1.0f - l */
        v16f l = lv[p], r = rv[p];
        VMIX(mx[p], a[p], b[p]);
        am[p] = zero;
    }
    for (int s = 1; s < hw; s++) {
        VSTEP(0);
        VSTEP(1);
        VSTEP(2);
        VSTEP(3);
    }
    for (int p = 0; p < 4; p++) {
        memcpy(mx_out + p * LANES, &mx[p], sizeof mx[p]);
        memcpy(am_out + p * LANES, &am[p], sizeof am[p]);
    }
}

/* the same for any layout: len lanes, consecutive positions stride floats apart */
static void mixmax(const float *a, const float *b, float l, float r, int hw, int stride, int len,
                   float *mx, int32_t *am) {
    for (int q = 0; q < len; q++) mx[q] = l * a[q] + r * b[q], am[q] = 0;
    for (int s = 1; s < hw; s++) {
        const float *as = a + (int64_t)s * stride, *bs = b + (int64_t)s * stride;
        for (int q = 0; q < len; q++) {
            float v = l * as[q] + r * bs[q];
            if (v > mx[q]) mx[q] = v, am[q] = s;
        }
    }
}

/* pooled row k, channels [ch0, ch0 + len): the GAP part from the clean means plus the max */
static void pool_out(const float *gap, int c, const mx_mix_pair *pk, int ch0, int len,
                     const float *mx, const int32_t *am, float *p, int32_t *argmax) {
    float l = pk->lambda, r = 1.0f - l;
    const float *gi = gap + pk->i * c + ch0, *gj = gap + pk->j * c + ch0;
    for (int q = 0; q < len; q++) {
        p[ch0 + q] = l * gi[q] + r * gj[q] + mx[q];
        argmax[ch0 + q] = am[q];
    }
}

void mx_nn_mixpool_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk,
                       const float *gap, const mx_mix_pair *pairs, int64_t m, float *p,
                       int32_t *argmax) {
    (void)n;
    int ng = n_groups(c, blk);
    int64_t slab = (int64_t)cpad * hw, nq = (m + 3) / 4;
    /* work items: (group, quad of up to 4 consecutive pairs) */
#pragma omp parallel for collapse(2) schedule(static)
    for (int g = 0; g < ng; g++)
        for (int64_t kq = 0; kq < nq; kq++) {
            int ch0, len;
            group_at(g, c, blk, &ch0, &len);
            int64_t k0 = kq * 4, kn = MX_MIN(4, m - k0);
            float mx[4 * LANES];
            int32_t am[4 * LANES];
            if (kn == 4 && len == LANES && blk == LANES) { /* the common nChw16c case */
                const float *a[4], *b[4];
                float lam[4];
                for (int q = 0; q < 4; q++) {
                    a[q] = x + pairs[k0 + q].i * slab + ch_off(ch0, hw, blk);
                    b[q] = x + pairs[k0 + q].j * slab + ch_off(ch0, hw, blk);
                    lam[q] = pairs[k0 + q].lambda;
                }
                mixmax16x4(a, b, lam, hw, mx, am);
            } else {
                for (int64_t q = 0; q < kn; q++) {
                    const mx_mix_pair *pk = &pairs[k0 + q];
                    float l = pk->lambda, r = 1.0f - l;
                    const float *a = x + pk->i * slab + ch_off(ch0, hw, blk);
                    const float *b = x + pk->j * slab + ch_off(ch0, hw, blk);
                    if (len == LANES && blk == LANES)
                        mixmax16(a, b, l, r, hw, mx + q * LANES, am + q * LANES);
                    else
                        mixmax(a, b, l, r, hw, blk, len, mx + q * LANES, am + q * LANES);
                }
            }
            for (int64_t q = 0; q < kn; q++)
                pool_out(gap, c, &pairs[k0 + q], ch0, len, mx + q * LANES, am + q * LANES,
                         p + (k0 + q) * c, argmax + (k0 + q) * c);
        }
}

/* One pair's backward on a full nChw16c group: dgap rows i, j += (lambda, 1 - lambda) dp, and
 * the max positions of maps i, j (x slices, positions 16 floats apart) the same. In pair order
 * per lane, as the general loop below. */
MX_CLONES static void mixpool_bwd16(float l, float r, const float *d, const int32_t *am, float *gi,
                                    float *gj, float *xi, float *xj) {
    float dl[LANES], dr[LANES];
    for (int q = 0; q < LANES; q++) dl[q] = l * d[q], dr[q] = r * d[q];
    for (int q = 0; q < LANES; q++) gi[q] += dl[q];
    for (int q = 0; q < LANES; q++) gj[q] += dr[q];
    for (int q = 0; q < LANES; q++) xi[am[q] * LANES + q] += dl[q];
    for (int q = 0; q < LANES; q++) xj[am[q] * LANES + q] += dr[q];
}

void mx_nn_mixpool_bwd(int64_t n, int c, int cpad, int hw, int blk, const mx_mix_pair *pairs,
                       int64_t m, const int32_t *argmax, const float *dp, float *dgap, float *dx) {
    int ng = n_groups(c, blk);
    int64_t slab = (int64_t)cpad * hw;
    float inv_hw = 1.0f / (float)hw;
#pragma omp parallel for schedule(static)
    for (int g = 0; g < ng; g++) {
        int ch0, len;
        group_at(g, c, blk, &ch0, &len);
        for (int64_t i = 0; i < n; i++) memset(dgap + i * c + ch0, 0, sizeof(float) * (size_t)len);
        for (int64_t k = 0; k < m; k++) {
            const mx_mix_pair *pk = &pairs[k];
            float l = pk->lambda, r = 1.0f - l;
            const float *d = dp + k * c + ch0;
            const int32_t *am = argmax + k * c + ch0;
            float *gi = dgap + pk->i * c + ch0, *gj = dgap + pk->j * c + ch0;
            float *xi = dx + pk->i * slab + ch_off(ch0, hw, blk);
            float *xj = dx + pk->j * slab + ch_off(ch0, hw, blk);
            if (len == LANES && blk == LANES) {
                mixpool_bwd16(l, r, d, am, gi, gj, xi, xj);
                continue;
            }
            for (int q = 0; q < len; q++) gi[q] += l * d[q];
            for (int q = 0; q < len; q++) gj[q] += r * d[q];
            for (int q = 0; q < len; q++) xi[am[q] * blk + q] += l * d[q];
            for (int q = 0; q < len; q++) xj[am[q] * blk + q] += r * d[q];
        }
        for (int64_t i = 0; i < n; i++) {
            float *xi = dx + i * slab + ch_off(ch0, hw, blk);
            const float *gi = dgap + i * c + ch0;
            for (int s = 0; s < hw; s++)
                for (int q = 0; q < len; q++) xi[(int64_t)s * blk + q] += gi[q] * inv_hw;
        }
    }
}

/* db[j] += sum_k dy[k][j] (m x d): columns split over the threads, rows summed in order. */
static void col_sums_add(const float *dy, int64_t m, int d, float *db) {
    int nb = (d + LANES - 1) / LANES;
#pragma omp parallel for schedule(static) if (m * d >= ((int64_t)1 << 15))
    for (int b = 0; b < nb; b++) {
        int j0 = b * LANES, len = MX_MIN(LANES, d - j0);
        float acc[LANES] = {0};
        for (int64_t k = 0; k < m; k++)
            for (int q = 0; q < len; q++) acc[q] += dy[k * d + j0 + q];
        for (int q = 0; q < len; q++) db[j0 + q] += acc[q];
    }
}

/* ---- the model-level head ---------------------------------------------------------------- */

struct mx_mix_head {
    int64_t max_n, max_m, n, m; /* n, m: of the last forward */
    int stage, c, hw, blk, d;
    float *gap, *dgap; /* max_n x c: clean means, pooled-gradient sums */
    float *P, *dP;     /* max_m x c: pooled mixed rows and their gradients */
    float *Y, *dY;     /* max_m x d: linear outputs (before L2) and their gradients */
    int32_t *argmax;   /* max_m x c: GMP positions of the mixed maps */
    int64_t bytes;
};

mx_status mx_mix_head_create(const mx_model *m, int64_t max_n, int64_t max_m, mx_mix_head **out) {
    *out = NULL;
    if (!m->plan) return mx_error(MX_ERR_ARG, "mx_mix_head_create: mx_model_plan must come first");
    if (max_n < 1 || max_m < 1)
        return mx_error(MX_ERR_ARG, "mx_mix_head_create: max_n %lld, max_m %lld: expected >= 1",
                        (long long)max_n, (long long)max_m);
    mx_mix_head *h = mx_calloc(1, sizeof *h);
    if (!h) return mx_error(MX_ERR_NOMEM, "mx_mix_head_create: out of memory");
    h->max_n = max_n, h->max_m = max_m, h->stage = m->n_stages;
    int t = m->stage_tensor[m->n_stages];
    h->c = m->tensor_c[t], h->hw = m->th[t] * m->tw[t], h->d = m->d;
    h->blk = mx_nn_layout_block(m, m->n_stages);
    int64_t c = h->c, d = h->d;
    h->bytes = (int64_t)sizeof(float) * (2 * max_n * c + 2 * max_m * c + 2 * max_m * d) +
               (int64_t)sizeof(int32_t) * max_m * c;
    h->gap = mx_alloc(sizeof(float) * (size_t)(max_n * c));
    h->dgap = mx_alloc(sizeof(float) * (size_t)(max_n * c));
    h->P = mx_alloc(sizeof(float) * (size_t)(max_m * c));
    h->dP = mx_alloc(sizeof(float) * (size_t)(max_m * c));
    h->Y = mx_alloc(sizeof(float) * (size_t)(max_m * d));
    h->dY = mx_alloc(sizeof(float) * (size_t)(max_m * d));
    h->argmax = mx_alloc(sizeof(int32_t) * (size_t)(max_m * c));
    if (!h->gap || !h->dgap || !h->P || !h->dP || !h->Y || !h->dY || !h->argmax) {
        mx_mix_head_free(h);
        return mx_error(MX_ERR_NOMEM, "mx_mix_head_create: out of memory (%lld mixed rows)",
                        (long long)max_m);
    }
    *out = h;
    return MX_OK;
}

void mx_mix_head_free(mx_mix_head *h) {
    if (!h) return;
    mx_free(h->gap), mx_free(h->dgap), mx_free(h->P), mx_free(h->dP);
    mx_free(h->Y), mx_free(h->dY), mx_free(h->argmax);
    mx_free(h);
}

int64_t mx_mix_head_bytes(const mx_mix_head *h) {
    return h ? h->bytes : 0;
}

static mx_status check_pairs(const mx_mix_head *h, int64_t n, const mx_mix_pair *pairs, int64_t m) {
    if (n < 1 || n > h->max_n || m < 1 || m > h->max_m)
        return mx_error(MX_ERR_ARG,
                        "mx_mix_head: n %lld, m %lld out of range (planned n <= %lld, m <= %lld)",
                        (long long)n, (long long)m, (long long)h->max_n, (long long)h->max_m);
    for (int64_t k = 0; k < m; k++)
        if (pairs[k].i < 0 || pairs[k].i >= n || pairs[k].j < 0 || pairs[k].j >= n)
            return mx_error(
                MX_ERR_ARG, "mx_mix_head: pair %lld (%lld, %lld) outside the batch %lld",
                (long long)k, (long long)pairs[k].i, (long long)pairs[k].j, (long long)n);
    return MX_OK;
}

mx_status mx_mix_head_forward(mx_mix_head *h, const mx_model *m, const float *feat, int64_t n,
                              const mx_mix_pair *pairs, int64_t M, float *emb) {
    MX_TRY(check_pairs(h, n, pairs, M));
    int c = h->c, d = h->d;
    mx_nn_gap_fwd(feat, n, c, c, h->hw, h->blk, h->gap);
    mx_nn_mixpool_fwd(feat, n, c, c, h->hw, h->blk, h->gap, pairs, M, h->P, h->argmax);
    mx_sgemm(0, 1, M, d, c, 1.0f, h->P, c, m->p + m->emb_w, c, 0.0f, h->Y, d);
    mx_nn_bias_l2norm_fwd(h->Y, M, d, m->p + m->emb_b, emb);
    h->n = n, h->m = M;
    return MX_OK;
}

mx_status mx_mix_head_backward(mx_mix_head *h, mx_model *m, const mx_mix_pair *pairs,
                               const float *demb, float *dfeat) {
    if (h->m < 1) return mx_error(MX_ERR_ARG, "mx_mix_head_backward: no forward before");
    int64_t M = h->m;
    int c = h->c, d = h->d;
    mx_nn_l2norm_bwd(h->Y, M, d, demb, h->dY);
    mx_sgemm(1, 0, d, c, M, 1.0f, h->dY, d, h->P, c, 1.0f, m->g + m->emb_w, c);
    col_sums_add(h->dY, M, d, m->g + m->emb_b);
    if (!dfeat) return MX_OK;
    mx_sgemm(0, 0, M, c, d, 1.0f, h->dY, d, m->p + m->emb_w, c, 0.0f, h->dP, c);
    mx_nn_mixpool_bwd(h->n, c, c, h->hw, h->blk, pairs, M, h->argmax, h->dP, h->dgap, dfeat);
    return MX_OK;
}
