/* Single metrics: L2 normalisation, NMI, k-means (k-means++ + Lloyd), utilization u(Q, X),
 * alignment and uniformity. Sums are in double and reduced in a fixed order, so results do not
 * depend on the thread count beyond the rounding of the GEMM tiles. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_impl.h"
#include "eval/eval_impl.h"
#include "metrix/gemm.h"

/* Each thread owns blocks of TILE_ROWS rows and computes its tiles with a single-threaded
 * mx_sgemm into its own TILE_ROWS x TILE_COLS buffer (1 MiB), scanned while in cache. */
#define TILE_ROWS 256
#define TILE_COLS 1024
#define TILE_SIZE ((size_t)TILE_ROWS * TILE_COLS)

mx_status mx_eval_normalize(float *x, int64_t n, int64_t d) {
    int64_t bad = -1;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t p = 0; p < d; p++) s += (double)x[i * d + p] * x[i * d + p];
        if (!(s > 0) || !isfinite(s)) {
#pragma omp critical(mx_eval_bad)
            if (bad < 0 || i < bad) bad = i;
            continue;
        }
        float inv = (float)(1.0 / sqrt(s));
        for (int64_t p = 0; p < d; p++) x[i * d + p] *= inv;
    }
    if (bad >= 0)
        return mx_error(MX_ERR_NUMERIC,
                        "embeddings: row %lld: expected a finite, non-zero vector to normalise",
                        (long long)bad);
    return MX_OK;
}

/* ---- NMI --------------------------------------------------------------------------------- */

static int i64_cmp(const void *pa, const void *pb) {
    int64_t a = *(const int64_t *)pa, b = *(const int64_t *)pb;
    return (a > b) - (a < b);
}

/* Dense ids 0..*n_ids-1 of labels (in sorted label order); ids: n entries. */
mx_status mx_eval_dense_ids(const int64_t *labels, int64_t n, int64_t *ids, int64_t **uniq_out,
                            int64_t *n_ids) {
    int64_t *u = malloc((size_t)(n > 0 ? n : 1) * sizeof(int64_t));
    if (!u) return mx_error(MX_ERR_NOMEM, "eval: out of memory for %lld labels", (long long)n);
    memcpy(u, labels, (size_t)n * sizeof(int64_t));
    qsort(u, (size_t)n, sizeof(int64_t), i64_cmp);
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
        if (m == 0 || u[m - 1] != u[i]) u[m++] = u[i];
    if (ids)
        for (int64_t i = 0; i < n; i++) {
            int64_t lo = 0, hi = m - 1;
            while (lo < hi) {
                int64_t mid = (lo + hi) / 2;
                if (u[mid] < labels[i])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            ids[i] = lo;
        }
    *n_ids = m;
    if (uniq_out)
        *uniq_out = u;
    else
        free(u);
    return MX_OK;
}

mx_status mx_nmi(const int64_t *a, const int64_t *b, int64_t n, double *out) {
    if (n <= 0 || !a || !b || !out)
        return mx_error(MX_ERR_ARG, "mx_nmi: expected n > 0 labels (n=%lld)", (long long)n);
    int64_t *ia = malloc((size_t)n * sizeof(int64_t)), *ib = malloc((size_t)n * sizeof(int64_t));
    int64_t na = 0, nb = 0;
    mx_status st = MX_OK;
    double *ca = NULL, *cb = NULL;
    int64_t *pa = NULL;
    if (!ia || !ib) {
        st = mx_error(MX_ERR_NOMEM, "mx_nmi: out of memory");
        goto done;
    }
    if ((st = mx_eval_dense_ids(a, n, ia, NULL, &na)) != MX_OK) goto done;
    if ((st = mx_eval_dense_ids(b, n, ib, NULL, &nb)) != MX_OK) goto done;
    if ((na == 1 && nb == 1)) { /* sklearn: both labelings trivial -> 1 */
        *out = 1.0;
        goto done;
    }
    /* contingency table as sorted pair keys (sparse: na x nb may be large) */
    pa = malloc((size_t)n * sizeof(int64_t));
    ca = calloc((size_t)na, sizeof(double));
    cb = calloc((size_t)nb, sizeof(double));
    if (!pa || !ca || !cb) {
        st = mx_error(MX_ERR_NOMEM, "mx_nmi: out of memory");
        goto done;
    }
    for (int64_t i = 0; i < n; i++) {
        pa[i] = ia[i] * nb + ib[i];
        ca[ia[i]] += 1;
        cb[ib[i]] += 1;
    }
    qsort(pa, (size_t)n, sizeof(int64_t), i64_cmp);
    double N = (double)n, mi = 0, ha = 0, hb = 0;
    for (int64_t i = 0; i < n;) {
        int64_t j = i;
        while (j < n && pa[j] == pa[i]) j++;
        double nij = (double)(j - i);
        double ai = ca[pa[i] / nb], bj = cb[pa[i] % nb];
        mi += nij / N * (log(nij) + log(N) - log(ai) - log(bj));
        i = j;
    }
    for (int64_t i = 0; i < na; i++) ha -= ca[i] / N * log(ca[i] / N);
    for (int64_t i = 0; i < nb; i++) hb -= cb[i] / N * log(cb[i] / N);
    if (mi < 0) mi = 0;
    double den = 0.5 * (ha + hb);
    *out = mi / (den > 2.220446049250313e-16 ? den : 2.220446049250313e-16);
done:
    free(ia);
    free(ib);
    free(pa);
    free(ca);
    free(cb);
    return st;
}

/* ---- k-means ----------------------------------------------------------------------------- */

static double sqdist(const float *a, const float *b, int64_t d) {
    double s = 0;
    for (int64_t p = 0; p < d; p++) {
        double t = (double)a[p] - b[p];
        s += t * t;
    }
    return s;
}

/* na[i] = argmin_c ||x_i - c||^2 (ties: smaller c), bd: n floats of workspace. */
static void kmeans_assign(const float *x, int64_t n, int64_t d, const float *cent,
                          const float *cnorm, int64_t nc, float *tiles, float *bd, int64_t *na) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i0 = 0; i0 < n; i0 += TILE_ROWS) {
        int64_t m = MX_MIN(TILE_ROWS, n - i0);
        float *tile = tiles + (size_t)omp_get_thread_num() * TILE_SIZE;
        for (int64_t c0 = 0; c0 < nc; c0 += TILE_COLS) {
            int64_t w = MX_MIN(TILE_COLS, nc - c0);
            /* tile (m x w) = x_block . cent_chunk^T; distance less ||x||^2 = |c|^2 - 2 x.c */
            mx_sgemm(0, 1, m, w, d, 1.0f, x + i0 * d, d, cent + c0 * d, d, 0.0f, tile, w);
            for (int64_t r = 0; r < m; r++) {
                const float *v = tile + r * w;
                int64_t i = i0 + r;
                if (c0 == 0) {
                    bd[i] = INFINITY;
                    na[i] = 0;
                }
                for (int64_t c = 0; c < w; c++) {
                    float dist = cnorm[c0 + c] - 2.0f * v[c];
                    if (dist < bd[i]) {
                        bd[i] = dist;
                        na[i] = c0 + c;
                    }
                }
            }
        }
    }
}

mx_status mx_kmeans(const float *x, int64_t n, int64_t d, int64_t nc, int max_iter, mx_rng *rng,
                    int64_t *assign) {
    if (n <= 0 || d <= 0 || nc <= 0 || nc > n || !x || !rng || !assign)
        return mx_error(MX_ERR_ARG,
                        "mx_kmeans: expected 0 < n_clusters <= n and d > 0 (n=%lld d=%lld "
                        "n_clusters=%lld)",
                        (long long)n, (long long)d, (long long)nc);
    float *cent = mx_alloc((size_t)nc * (size_t)d * sizeof(float));
    float *cnorm = mx_alloc((size_t)nc * sizeof(float));
    double *mind = malloc((size_t)n * sizeof(double));
    double *sums = malloc((size_t)nc * (size_t)d * sizeof(double));
    int64_t *cnt = malloc((size_t)nc * sizeof(int64_t));
    int64_t *na = malloc((size_t)n * sizeof(int64_t));
    float *bd = malloc((size_t)n * sizeof(float));
    float *tile = mx_alloc((size_t)mx_threads_get() * TILE_SIZE * sizeof(float));
    mx_status st = MX_OK;
    if (!cent || !cnorm || !mind || !sums || !cnt || !na || !bd || !tile) {
        st = mx_error(MX_ERR_NOMEM, "mx_kmeans: out of memory (n=%lld, %lld clusters)",
                      (long long)n, (long long)nc);
        goto done;
    }
    /* k-means++ seeding: first centre uniform, then each next one with probability ~ D^2 */
    int64_t first = (int64_t)mx_rng_below(rng, (uint64_t)n);
    memcpy(cent, x + first * d, (size_t)d * sizeof(float));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) mind[i] = sqdist(x + i * d, cent, d);
    for (int64_t c = 1; c < nc; c++) {
        double tot = 0;
        for (int64_t i = 0; i < n; i++) tot += mind[i];
        int64_t pick = n - 1;
        if (tot > 0) {
            double u = mx_rng_uniform(rng) * tot, acc = 0;
            for (int64_t i = 0; i < n; i++) {
                acc += mind[i];
                if (mind[i] > 0 && acc > u) {
                    pick = i;
                    break;
                }
            }
            while (mind[pick] <= 0 && pick > 0) pick--; /* rounding at the end of the scan */
        } else {
            pick = (int64_t)mx_rng_below(rng, (uint64_t)n); /* all points on the centres */
        }
        float *cc = cent + c * d;
        memcpy(cc, x + pick * d, (size_t)d * sizeof(float));
#pragma omp parallel for schedule(static)
        for (int64_t i = 0; i < n; i++) {
            double t = sqdist(x + i * d, cc, d);
            if (t < mind[i]) mind[i] = t;
        }
    }
    /* Lloyd iterations */
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < (max_iter > 0 ? max_iter : 1); it++) {
        for (int64_t c = 0; c < nc; c++) {
            double s = 0;
            for (int64_t p = 0; p < d; p++) s += (double)cent[c * d + p] * cent[c * d + p];
            cnorm[c] = (float)s;
        }
        kmeans_assign(x, n, d, cent, cnorm, nc, tile, bd, na);
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) {
            changed += na[i] != assign[i];
            assign[i] = na[i];
        }
        if (!changed) break;
        memset(sums, 0, (size_t)nc * (size_t)d * sizeof(double));
        memset(cnt, 0, (size_t)nc * sizeof(int64_t));
        for (int64_t i = 0; i < n; i++) {
            double *s = sums + assign[i] * d;
            for (int64_t p = 0; p < d; p++) s[p] += x[i * d + p];
            cnt[assign[i]]++;
        }
        for (int64_t c = 0; c < nc; c++) /* an empty cluster keeps its centre */
            if (cnt[c] > 0)
                for (int64_t p = 0; p < d; p++) cent[c * d + p] = (float)(sums[c * d + p] / cnt[c]);
    }
done:
    mx_free(cent);
    mx_free(cnorm);
    free(mind);
    free(sums);
    free(cnt);
    free(na);
    free(bd);
    mx_free(tile);
    return st;
}

/* ---- utilization ------------------------------------------------------------------------- */

static void row_sqnorms(const float *x, int64_t n, int64_t d, float *out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t p = 0; p < d; p++) s += (double)x[i * d + p] * x[i * d + p];
        out[i] = (float)s;
    }
}

mx_status mx_utilization(const float *q, int64_t nq, const float *x, int64_t nx, int64_t d,
                         double *out) {
    if (nq <= 0 || nx <= 0 || d <= 0 || !q || !x || !out)
        return mx_error(MX_ERR_ARG,
                        "mx_utilization: expected non-empty Q and X (nq=%lld "
                        "nx=%lld d=%lld)",
                        (long long)nq, (long long)nx, (long long)d);
    float *qn = malloc((size_t)nq * sizeof(float)), *xn = malloc((size_t)nx * sizeof(float));
    float *best = malloc((size_t)nq * sizeof(float));
    float *tile = mx_alloc((size_t)mx_threads_get() * TILE_SIZE * sizeof(float));
    mx_status st = MX_OK;
    if (!qn || !xn || !best || !tile) {
        st = mx_error(MX_ERR_NOMEM, "mx_utilization: out of memory");
        goto done;
    }
    row_sqnorms(q, nq, d, qn);
    row_sqnorms(x, nx, d, xn);
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i0 = 0; i0 < nq; i0 += TILE_ROWS) {
        int64_t m = MX_MIN(TILE_ROWS, nq - i0);
        float *tp = tile + (size_t)omp_get_thread_num() * TILE_SIZE;
        for (int64_t j0 = 0; j0 < nx; j0 += TILE_COLS) {
            int64_t w = MX_MIN(TILE_COLS, nx - j0);
            mx_sgemm(0, 1, m, w, d, 1.0f, q + i0 * d, d, x + j0 * d, d, 0.0f, tp, w);
            for (int64_t r = 0; r < m; r++) {
                const float *v = tp + r * w;
                float b = j0 == 0 ? INFINITY : best[i0 + r];
                for (int64_t c = 0; c < w; c++) {
                    float t = xn[j0 + c] - 2.0f * v[c];
                    if (t < b) b = t;
                }
                best[i0 + r] = b;
            }
        }
    }
    double s = 0;
    for (int64_t i = 0; i < nq; i++) {
        double t = (double)qn[i] + best[i];
        s += t > 0 ? t : 0;
    }
    *out = s / (double)nq;
done:
    free(qn);
    free(xn);
    free(best);
    mx_free(tile);
    return st;
}

/* ---- alignment and uniformity ------------------------------------------------------------ */

mx_status mx_align_uniform(const float *x, const int64_t *labels, int64_t n, int64_t d, double t,
                           double *alignment, double *uniformity) {
    if (n < 2 || d <= 0 || !x)
        return mx_error(MX_ERR_ARG, "mx_align_uniform: expected n >= 2 rows (n=%lld)",
                        (long long)n);
    mx_status st = MX_OK;
    float *xn = malloc((size_t)n * sizeof(float));
    if (!xn) return mx_error(MX_ERR_NOMEM, "mx_align_uniform: out of memory");
    row_sqnorms(x, n, d, xn);
    if (alignment) {
        /* per class c: sum_{i<j in c} ||x_i - x_j||^2 = n_c sum_i ||x_i||^2 - ||sum_i x_i||^2 */
        if (!labels) {
            free(xn);
            return mx_error(MX_ERR_ARG, "mx_align_uniform: alignment needs labels");
        }
        int64_t *ids = malloc((size_t)n * sizeof(int64_t)), nc = 0;
        double *cs = NULL, *csq = NULL, *cn = NULL;
        if (!ids || (st = mx_eval_dense_ids(labels, n, ids, NULL, &nc)) != MX_OK) {
            free(ids);
            free(xn);
            return st != MX_OK ? st : mx_error(MX_ERR_NOMEM, "mx_align_uniform: out of memory");
        }
        cs = calloc((size_t)nc * (size_t)d, sizeof(double));
        csq = calloc((size_t)nc, sizeof(double));
        cn = calloc((size_t)nc, sizeof(double));
        if (!cs || !csq || !cn) {
            st = mx_error(MX_ERR_NOMEM, "mx_align_uniform: out of memory");
        } else {
            for (int64_t i = 0; i < n; i++) {
                double *s = cs + ids[i] * d;
                for (int64_t p = 0; p < d; p++) s[p] += x[i * d + p];
                csq[ids[i]] += xn[i];
                cn[ids[i]] += 1;
            }
            double tot = 0, pairs = 0;
            for (int64_t c = 0; c < nc; c++) {
                double s2 = 0;
                for (int64_t p = 0; p < d; p++) s2 += cs[c * d + p] * cs[c * d + p];
                double v = cn[c] * csq[c] - s2;
                tot += v > 0 ? v : 0;
                pairs += cn[c] * (cn[c] - 1) / 2;
            }
            *alignment = pairs > 0 ? tot / pairs : NAN;
        }
        free(ids);
        free(cs);
        free(csq);
        free(cn);
        if (st != MX_OK) {
            free(xn);
            return st;
        }
    }
    if (uniformity) {
        /* log mean_{i<j} exp(-t ||x_i - x_j||^2) over upper-triangle tiles; per-row sums */
        double *rs = calloc((size_t)n, sizeof(double));
        float *tile = mx_alloc((size_t)mx_threads_get() * TILE_SIZE * sizeof(float));
        if (!rs || !tile) {
            st = mx_error(MX_ERR_NOMEM, "mx_align_uniform: out of memory");
        } else {
#pragma omp parallel for schedule(dynamic, 1)
            for (int64_t i0 = 0; i0 < n; i0 += TILE_ROWS) {
                int64_t m = MX_MIN(TILE_ROWS, n - i0);
                float *tp = tile + (size_t)omp_get_thread_num() * TILE_SIZE;
                for (int64_t j0 = i0; j0 < n; j0 += TILE_COLS) {
                    int64_t w = MX_MIN(TILE_COLS, n - j0);
                    mx_sgemm(0, 1, m, w, d, 1.0f, x + i0 * d, d, x + j0 * d, d, 0.0f, tp, w);
                    for (int64_t r = 0; r < m; r++) {
                        int64_t i = i0 + r;
                        double s = 0;
                        for (int64_t c = MX_MAX(0, i + 1 - j0); c < w; c++) {
                            double d2 = (double)xn[i] + xn[j0 + c] - 2.0 * tp[r * w + c];
                            s += exp(-t * (d2 > 0 ? d2 : 0));
                        }
                        rs[i] += s;
                    }
                }
            }
            double tot = 0;
            for (int64_t i = 0; i < n; i++) tot += rs[i];
            *uniformity = log(tot / ((double)n * (double)(n - 1) / 2));
        }
        free(rs);
        mx_free(tile);
    }
    free(xn);
    return st;
}
