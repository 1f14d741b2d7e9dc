/* Exact kNN by inner product: blocked mx_sgemm tiles (query block x gallery chunk) and a per-row
 * bounded heap fed from each tile while it is in cache; plus the naive reference.
 *
 * Order: (sim desc, index asc). A heap keeps the k best seen so far with the worst at the root;
 * the root similarity is the row's admission threshold, so almost every element of a tile costs
 * one compare. The order is total, so the result does not depend on the order in which tiles or
 * threads feed a row. Leave-one-out on one set (q == g) uses the symmetric product: tile (I, J)
 * with J >= I feeds rows of I from its rows and rows of J from its columns. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "eval/eval_impl.h"
#include "metrix/gemm.h"

#define KNN_T   512 /* tile side: 512 x 512 floats = 1 MiB per thread, in its L2 */
#define KNN_VEC 16  /* elements tested together against a threshold */

/* a is worse than b */
static inline int worse(float as, int64_t ai, float bs, int64_t bi) {
    return as < bs || (as == bs && ai > bi);
}

/* Puts (s, j) into the root slot of the heap (hs, hi) of m items and sifts it down. */
static void sift_down(float *hs, int64_t *hi, int64_t m, float s, int64_t j) {
    int64_t p = 0;
    for (;;) {
        int64_t c = 2 * p + 1;
        if (c >= m) break;
        if (c + 1 < m && worse(hs[c + 1], hi[c + 1], hs[c], hi[c])) c++;
        if (!worse(hs[c], hi[c], s, j)) break;
        hs[p] = hs[c];
        hi[p] = hi[c];
        p = c;
    }
    hs[p] = s;
    hi[p] = j;
}

/* Offers (s, j) to the heap (hs, hi) of capacity k holding *cnt items. */
static void heap_offer(float *hs, int64_t *hi, int64_t k, int64_t *cnt, float s, int64_t j) {
    int64_t p;
    if (*cnt < k) {
        p = (*cnt)++;
        while (p > 0) { /* sift up */
            int64_t up = (p - 1) / 2;
            if (!worse(s, j, hs[up], hi[up])) break;
            hs[p] = hs[up];
            hi[p] = hi[up];
            p = up;
        }
        hs[p] = s;
        hi[p] = j;
        return;
    }
    if (worse(hs[0], hi[0], s, j)) sift_down(hs, hi, k, s, j); /* replaces the worst */
}

/* Admission threshold of a heap: candidates below it can never enter. */
static inline float heap_thr(const float *hs, int64_t k, int64_t cnt) {
    return cnt < k ? -INFINITY : hs[0];
}

/* Sorts a heap of cnt items best first into (s, i) and pads to k with (-inf, -1). */
static void heap_finish(float *hs, int64_t *hi, int64_t k, int64_t cnt) {
    /* heap sort: repeatedly move the worst (root) to the end */
    for (int64_t n = cnt; n > 1; n--) {
        float ts = hs[0];
        int64_t ti = hi[0];
        sift_down(hs, hi, n - 1, hs[n - 1], hi[n - 1]);
        hs[n - 1] = ts;
        hi[n - 1] = ti;
    }
    for (int64_t t = cnt; t < k; t++) {
        hs[t] = -INFINITY;
        hi[t] = -1;
    }
}

/* Feeds row `row` of a tile (values v[0..n), gallery indices j0..j0+n) to heap r, skipping
 * gallery indices <= skip_le (symmetric diagonal tile) and == self. */
static void feed_row(const float *v, int64_t n, int64_t j0, int64_t self, int64_t skip_le,
                     float *hs, int64_t *hi, int64_t k, int64_t *cnt) {
    float thr = heap_thr(hs, k, *cnt);
    int64_t c = 0;
    if (skip_le >= j0) c = skip_le - j0 + 1;
    for (; c < n; c += KNN_VEC) {
        int64_t e = MX_MIN(n, c + KNN_VEC);
        int any = 0;
        if (e - c == KNN_VEC) {
            for (int t = 0; t < KNN_VEC; t++) any |= v[c + t] >= thr;
            if (!any) continue;
        }
        for (int64_t t = c; t < e; t++) {
            if (v[t] < thr) continue;
            int64_t j = j0 + t;
            if (j == self) continue;
            heap_offer(hs, hi, k, cnt, v[t], j);
            thr = heap_thr(hs, k, *cnt);
        }
    }
}

/* Feeds columns [c0, c1) of a tile (rows i0.., gallery j0.., row stride ld, m rows) to the heaps
 * of gallery rows j: candidate (v, i) for pairs i < j only. */
static void feed_cols(const float *tile, int64_t m, int64_t ld, int64_t c0, int64_t c1, int64_t i0,
                      int64_t j0, float *hs, int64_t *hi, int64_t k, int64_t *cnt) {
    float thr[KNN_VEC];
    int64_t w = c1 - c0;
    for (int64_t c = 0; c < w; c++) thr[c] = heap_thr(hs + (j0 + c0 + c) * k, k, cnt[j0 + c0 + c]);
    for (int64_t c = w; c < KNN_VEC; c++) thr[c] = INFINITY;
    for (int64_t r = 0; r < m; r++) {
        const float *v = tile + r * ld + c0;
        int64_t i = i0 + r;
        if (w == KNN_VEC) {
            int any = 0;
            for (int t = 0; t < KNN_VEC; t++) any |= v[t] >= thr[t];
            if (!any) continue;
        }
        for (int64_t c = 0; c < w; c++) {
            int64_t j = j0 + c0 + c;
            if (v[c] < thr[c] || j <= i) continue;
            heap_offer(hs + j * k, hi + j * k, k, cnt + j, v[c], i);
            thr[c] = heap_thr(hs + j * k, k, cnt[j]);
        }
    }
}

mx_status mx_knn_heaps(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                       int exclude_self, float *hs, int64_t *hi, int64_t *cnt,
                       volatile const int *stop) {
    int sym = q == g && nq == ng && exclude_self;
    int nth = mx_threads_get();
    float *tiles = mx_alloc((size_t)nth * KNN_T * KNN_T * sizeof(float));
    if (!tiles) return mx_error(MX_ERR_NOMEM, "mx_knn: out of memory for %d tiles", nth);
    int64_t nbq = (nq + KNN_T - 1) / KNN_T;
    if (!sym) {
        /* each thread owns query blocks: tiles (I, J) for J ascending, no sharing */
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
        for (int64_t bi = 0; bi < nbq; bi++) {
            float *tile = tiles + (size_t)omp_get_thread_num() * KNN_T * KNN_T;
            int64_t i0 = bi * KNN_T, m = MX_MIN(KNN_T, nq - i0);
            for (int64_t j0 = 0; j0 < ng && !mx_stopped(stop); j0 += KNN_T) {
                int64_t n = MX_MIN(KNN_T, ng - j0);
                /* tile (m x n) = q[i0 .. i0+m) . g[j0 .. j0+n)^T, single-threaded in here */
                mx_sgemm(0, 1, m, n, d, 1.0f, q + i0 * d, d, g + j0 * d, d, 0.0f, tile, n);
                for (int64_t r = 0; r < m; r++) {
                    int64_t i = i0 + r;
                    feed_row(tile + r * n, n, j0, exclude_self ? i : -1, -1, hs + i * k, hi + i * k,
                             k, cnt + i);
                }
            }
        }
        mx_free(tiles);
        return mx_stopped(stop) ? mx_error(MX_ERR_INTERRUPTED, "kNN search interrupted") : MX_OK;
    }
    /* symmetric: upper-triangle tiles (I, J), J >= I, ordered by diagonal offset so that tiles
     * running together rarely share a block; a lock per block guards the heaps of its rows,
     * which tile (I, J) feeds from its rows (block I) and from its columns (block J). */
    int64_t ntiles = nbq * (nbq + 1) / 2;
    omp_lock_t *locks = malloc((size_t)nbq * sizeof(omp_lock_t));
    if (!locks) {
        mx_free(tiles);
        return mx_error(MX_ERR_NOMEM, "mx_knn: out of memory");
    }
    for (int64_t b = 0; b < nbq; b++) omp_init_lock(&locks[b]);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nth)
    for (int64_t t = 0; t < ntiles; t++) {
        if (mx_stopped(stop)) continue; /* drain the remaining tiles */
        /* t -> (offset o, block bi): offset o holds nbq - o tiles */
        int64_t o = 0, rest = t;
        while (rest >= nbq - o) {
            rest -= nbq - o;
            o++;
        }
        int64_t bi = rest, bj = rest + o;
        float *tile = tiles + (size_t)omp_get_thread_num() * KNN_T * KNN_T;
        int64_t i0 = bi * KNN_T, m = MX_MIN(KNN_T, nq - i0);
        int64_t j0 = bj * KNN_T, n = MX_MIN(KNN_T, ng - j0);
        mx_sgemm(0, 1, m, n, d, 1.0f, q + i0 * d, d, g + j0 * d, d, 0.0f, tile, n);
        omp_set_lock(&locks[bi]);
        for (int64_t r = 0; r < m; r++) {
            int64_t i = i0 + r;
            feed_row(tile + r * n, n, j0, i, i, hs + i * k, hi + i * k, k, cnt + i);
        }
        if (bi != bj) {
            omp_unset_lock(&locks[bi]);
            omp_set_lock(&locks[bj]);
        }
        for (int64_t c0 = 0; c0 < n; c0 += KNN_VEC)
            feed_cols(tile, m, n, c0, MX_MIN(n, c0 + KNN_VEC), i0, j0, hs, hi, k, cnt);
        omp_unset_lock(&locks[bj]);
    }
    for (int64_t b = 0; b < nbq; b++) omp_destroy_lock(&locks[b]);
    free(locks);
    mx_free(tiles);
    return mx_stopped(stop) ? mx_error(MX_ERR_INTERRUPTED, "kNN search interrupted") : MX_OK;
}

mx_status mx_knn(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                 int exclude_self, int64_t *idx, float *sim) {
    return mx_knn_stop(q, nq, g, ng, d, k, exclude_self, idx, sim, NULL);
}

mx_status mx_knn_stop(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                      int exclude_self, int64_t *idx, float *sim, volatile const int *stop) {
    if (nq < 0 || ng < 0 || d <= 0 || k <= 0 || (nq > 0 && (!q || !g || !idx)))
        return mx_error(MX_ERR_ARG,
                        "mx_knn: expected nq, ng >= 0, d, k > 0 and non-NULL arrays "
                        "(nq=%lld ng=%lld d=%lld k=%lld)",
                        (long long)nq, (long long)ng, (long long)d, (long long)k);
    if (exclude_self && nq > ng)
        return mx_error(MX_ERR_SHAPE,
                        "mx_knn: exclude_self needs query row i = gallery row i, "
                        "but nq=%lld > ng=%lld",
                        (long long)nq, (long long)ng);
    if (nq == 0) return MX_OK;
    float *hs = sim ? sim : mx_alloc((size_t)nq * (size_t)k * sizeof(float));
    int64_t *cnt = mx_calloc((size_t)nq, sizeof(int64_t));
    mx_status st = MX_OK;
    if (!hs || !cnt) {
        st = mx_error(MX_ERR_NOMEM, "mx_knn: out of memory for %lld x %lld neighbours",
                      (long long)nq, (long long)k);
        goto done;
    }
    st = mx_knn_heaps(q, nq, g, ng, d, k, exclude_self, hs, idx, cnt, stop);
    if (st != MX_OK) goto done;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < nq; i++) heap_finish(hs + i * k, idx + i * k, k, cnt[i]);
done:
    if (hs != sim) mx_free(hs);
    mx_free(cnt);
    return st;
}

/* ---- reference --------------------------------------------------------------------------- */

typedef struct {
    double s;
    int64_t i;
} cand;

static int cand_cmp(const void *pa, const void *pb) {
    const cand *a = pa, *b = pb;
    if (a->s != b->s) return a->s > b->s ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

mx_status mx_knn_ref(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                     int exclude_self, int64_t *idx, float *sim) {
    if (nq < 0 || ng < 0 || d <= 0 || k <= 0) return mx_error(MX_ERR_ARG, "mx_knn_ref: bad sizes");
    cand *c = malloc((size_t)(ng > 0 ? ng : 1) * sizeof(cand));
    if (!c) return mx_error(MX_ERR_NOMEM, "mx_knn_ref: out of memory");
    for (int64_t i = 0; i < nq; i++) {
        int64_t n = 0;
        for (int64_t j = 0; j < ng; j++) {
            if (exclude_self && j == i) continue;
            double s = 0;
            for (int64_t p = 0; p < d; p++) s += (double)q[i * d + p] * g[j * d + p];
            c[n].s = s;
            c[n].i = j;
            n++;
        }
        qsort(c, (size_t)n, sizeof(cand), cand_cmp);
        for (int64_t t = 0; t < k; t++) {
            idx[i * k + t] = t < n ? c[t].i : -1;
            if (sim) sim[i * k + t] = t < n ? (float)c[t].s : -INFINITY;
        }
    }
    free(c);
    return MX_OK;
}
