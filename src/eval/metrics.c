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

static void row_sqnorms(const float *x, int64_t n, int64_t d, float *out) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double s = 0;
        for (int64_t p = 0; p < d; p++) s += (double)x[i * d + p] * x[i * d + p];
        out[i] = (float)s;
    }
}

static double sqdist(const float *a, const float *b, int64_t d) {
    double s = 0;
    for (int64_t p = 0; p < d; p++) {
        double t = (double)a[p] - b[p];
        s += t * t;
    }
    return s;
}

/* Float squared distance, vectorised (the order of the float sum is fixed by the build). */
static float sqdist_f(const float *a, const float *b, int64_t d) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t p = 0; p < d; p++) {
        float t = a[p] - b[p];
        s += t * t;
    }
    return s;
}

/* Nearest columns by GEMM tiles: for each row q_i of q (nq x d), best[i] = min over c in
 * [c0, c1) of xn[c] - 2 q_i . x_c (= ||q_i - x_c||^2 - ||q_i||^2 with xn[c] = ||x_c||^2) and, if
 * arg is not NULL, arg[i] = that c (ties: smaller c). x: centres / gallery rows (c1 x d). */
static void nearest_rows(const float *q, int64_t nq, int64_t d, const float *x, const float *xn,
                         int64_t c0, int64_t c1, float *tiles, float *best, int64_t *arg,
                         volatile const int *stop) {
#pragma omp parallel for schedule(dynamic, 1)
    for (int64_t i0 = 0; i0 < nq; i0 += TILE_ROWS) {
        if (mx_stopped(stop)) continue; /* results are discarded: the caller checks stop */
        int64_t m = MX_MIN(TILE_ROWS, nq - i0);
        float *tile = tiles + (size_t)omp_get_thread_num() * TILE_SIZE;
        for (int64_t j0 = c0; j0 < c1 && !mx_stopped(stop); j0 += TILE_COLS) {
            int64_t w = MX_MIN(TILE_COLS, c1 - j0);
            mx_sgemm(0, 1, m, w, d, 1.0f, q + i0 * d, d, x + j0 * d, d, 0.0f, tile, w);
            for (int64_t r = 0; r < m; r++) {
                const float *v = tile + r * w;
                int64_t i = i0 + r, a = j0 == c0 ? c0 : arg ? arg[i] : 0;
                float b = j0 == c0 ? INFINITY : best[i];
                for (int64_t c = 0; c < w; c++) {
                    float t = xn[j0 + c] - 2.0f * v[c];
                    if (t < b) {
                        b = t;
                        a = j0 + c;
                    }
                }
                best[i] = b;
                if (arg) arg[i] = a;
            }
        }
    }
}

/* na[i] = argmin_c ||x_i - c||^2 (ties: smaller c), bd: n floats of workspace. */
static void kmeans_assign(const float *x, int64_t n, int64_t d, const float *cent,
                          const float *cnorm, int64_t nc, float *tiles, float *bd, int64_t *na,
                          volatile const int *stop) {
    nearest_rows(x, n, d, cent, cnorm, 0, nc, tiles, bd, na, stop);
}

/* Squared-distance rounding allowance (relative to ||x||^2 + max ||c||^2) of the float GEMM form
 * ||x||^2 + ||c||^2 - 2 x.c: a point skips the pass over all k centres only when its best
 * candidate beats the bound on all others by twice this, so that the full pass would have made
 * the same choice (beyond the rounding that pass has anyway). */
#define KM_ROUND 1e-4

/* mind[i] = min(mind[i], min_{c in [c0, c1)} ||x_i - c||^2) by GEMM tiles (large seeding).
 * bd: n floats of workspace. */
static void kmeans_seed_update(const float *x, const float *xn, int64_t n, int64_t d,
                               const float *cent, const float *cnorm, int64_t c0, int64_t c1,
                               float *tiles, float *bd, double *mind, volatile const int *stop) {
    nearest_rows(x, n, d, cent, cnorm, c0, c1, tiles, bd, NULL, stop);
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) {
        double t = (double)xn[i] + bd[i];
        t = t > 0 ? t : 0;
        if (t < mind[i]) mind[i] = t;
    }
}

/* Batched k-means++ (large problems), the distribution of plain serial k-means++, by rejection
 * sampling. The D^2 of all points (mind) is refreshed only once per batch, by GEMM tiles
 * against the batch's centres. Inside a batch, a candidate j is drawn with probability
 * ~ mind[j] (the D^2 at the start of the batch: prefix sums + binary search) and accepted with
 * probability D'^2(j) / mind[j], where D'^2 also counts the centres already accepted in this
 * batch (computed directly, |batch| x d). Since D'^2 <= mind, an accepted candidate is an exact
 * draw from the current D^2 distribution, as in serial k-means++ (only the random stream
 * differs). A batch ends at seed_batch centres or after 4 x seed_batch proposals (acceptance
 * falls as the batch covers the mass). Cost: one n x k x d GEMM in all, plus the proposals,
 * instead of k serial O(n d) passes in double (minutes at Stanford Online Products scale).
 * Every scan and pick is serial and mind comes from fixed row tiles: the centres do not
 * depend on the thread count. cum: n doubles, bd: n floats of workspace. */
static void kmeans_seed_batched(const float *x, const float *xn, int64_t n, int64_t d, int64_t nc,
                                int64_t bmax, mx_rng *rng, float *cent, float *cnorm, double *mind,
                                double *cum, float *tiles, float *bd, mx_kmeans_stats *stats,
                                volatile const int *stop) {
    int64_t first = (int64_t)mx_rng_below(rng, (uint64_t)n);
    memcpy(cent, x + first * d, (size_t)d * sizeof(float));
    cnorm[0] = xn[first];
    for (int64_t i = 0; i < n; i++) mind[i] = INFINITY;
    kmeans_seed_update(x, xn, n, d, cent, cnorm, 0, 1, tiles, bd, mind, stop);
    stats->batches = 1;
    int64_t c = 1;
    while (c < nc && !mx_stopped(stop)) {
        double tot = 0;
        for (int64_t i = 0; i < n; i++) cum[i] = tot += mind[i];
        int64_t b0 = c;
        if (!(tot > 0)) { /* all points on the centres */
            int64_t pick = (int64_t)mx_rng_below(rng, (uint64_t)n);
            memcpy(cent + c * d, x + pick * d, (size_t)d * sizeof(float));
            cnorm[c++] = xn[pick];
        } else {
            int64_t last = n - 1; /* the last point with mass, for rounding at the top */
            while (last > 0 && !(mind[last] > 0)) last--;
            for (int64_t prop = 0; c < nc && c - b0 < bmax && prop < 4 * bmax; prop++) {
                double u = mx_rng_uniform(rng) * tot;
                int64_t lo = 0, hi = last; /* first j with cum[j] > u: then mind[j] > 0 */
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (cum[mid] > u)
                        hi = mid;
                    else
                        lo = mid + 1;
                }
                const float *xj = x + lo * d;
                double dj = mind[lo];
                for (int64_t k = b0; k < c && dj > 0; k++) {
                    double t = sqdist_f(xj, cent + k * d, d);
                    if (t < dj) dj = t;
                }
                double a = mx_rng_uniform(rng);
                stats->proposals++;
                if (a * mind[lo] < dj) {
                    memcpy(cent + c * d, xj, (size_t)d * sizeof(float));
                    cnorm[c++] = xn[lo];
                }
            }
        }
        kmeans_seed_update(x, xn, n, d, cent, cnorm, b0, c, tiles, bd, mind, stop);
        stats->batches++;
    }
}

/* Scores rows r of a block against centres cc (w x d, norms cn, global ids id0 + c or ids[c]):
 * best (b1, ba) and second best (b2) of ||c||^2 - 2 x.c, merged into the running values. */
static void score_rows(const float *a, int64_t g, int64_t d, const float *cc, const float *cn,
                       int64_t w, int64_t id0, const int64_t *ids, float *tile, float *b1,
                       float *b2, int64_t *ba) {
    mx_sgemm(0, 1, g, w, d, 1.0f, a, d, cc, d, 0.0f, tile, w);
    for (int64_t r = 0; r < g; r++) {
        const float *v = tile + r * w;
        float f1 = b1[r], f2 = b2[r];
        int64_t fa = ba[r];
        for (int64_t c = 0; c < w; c++) {
            float dist = cn[c] - 2.0f * v[c];
            if (dist < f2) {
                if (dist < f1) {
                    f2 = f1;
                    f1 = dist;
                    fa = ids ? ids[c] : id0 + c;
                } else {
                    f2 = dist;
                }
            }
        }
        b1[r] = f1, b2[r] = f2, ba[r] = fa;
    }
}

/* One Lloyd assignment pass of the large path. For each point the squared distance to its
 * centre (ub) and a lower bound on the squared distance to every other centre (lb) are kept
 * from the pass that last scored it against all k centres. Only the centres that moved in the
 * last update (nm of them, ids moved, gathered in mcent / mnorm) can have come closer: every
 * point is scored against them alone (one n x nm x d GEMM); where the best of its own centre
 * and the moved ones is below lb by more than the rounding allowance, the Lloyd assignment is
 * known; the others are gathered TILE_ROWS at a time and scored against all k. nm < 0: every
 * point is scored against all k (first pass, or most centres moved). Per-point decisions on
 * fixed row blocks: the result does not depend on the thread count. Returns the points scored
 * against all k. */
static int64_t kmeans_assign_large(const float *x, const float *xn, int64_t n, int64_t d,
                                   const float *cent, const float *cnorm, float maxcn, int64_t nc,
                                   const int64_t *moved, int64_t nm, const float *mcent,
                                   const float *mnorm, float *tiles, float *gbuf,
                                   const int64_t *assign, float *ub, float *lb, int64_t *na,
                                   volatile const int *stop) {
    int64_t scored = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(+ : scored)
    for (int64_t i0 = 0; i0 < n; i0 += TILE_ROWS) {
        if (mx_stopped(stop)) continue; /* results are discarded: the caller checks stop */
        int64_t m = MX_MIN(TILE_ROWS, n - i0), rows[TILE_ROWS], ba[TILE_ROWS], g = 0;
        float b1[TILE_ROWS], b2[TILE_ROWS];
        float *tile = tiles + (size_t)omp_get_thread_num() * TILE_SIZE;
        float *gb = gbuf + (size_t)omp_get_thread_num() * TILE_ROWS * (size_t)d;
        if (nm >= 0) {
            for (int64_t r = 0; r < m; r++) b1[r] = b2[r] = INFINITY, ba[r] = -1;
            for (int64_t c0 = 0; c0 < nm && !mx_stopped(stop); c0 += TILE_COLS)
                score_rows(x + i0 * d, m, d, mcent + c0 * d, mnorm + c0, MX_MIN(TILE_COLS, nm - c0),
                           0, moved + c0, tile, b1, b2, ba);
            for (int64_t r = 0; r < m; r++) {
                int64_t i = i0 + r, own = assign[i];
                float f1 = b1[r], f2 = b2[r];
                int64_t fa = ba[r];
                int own_moved = 0; /* is own among the moved? then its distance is in f1/f2 */
                for (int64_t lo = 0, hi = nm - 1; lo <= hi;) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (moved[mid] == own) {
                        own_moved = 1;
                        break;
                    }
                    if (moved[mid] < own)
                        lo = mid + 1;
                    else
                        hi = mid - 1;
                }
                if (!own_moved) { /* unchanged centre: its last score */
                    float o = ub[i] - xn[i];
                    if (o < f1 || (o == f1 && own < fa)) {
                        f2 = f1;
                        f1 = o;
                        fa = own;
                    } else if (o < f2) {
                        f2 = o;
                    }
                }
                double err = KM_ROUND * ((double)xn[i] + maxcn);
                if ((double)xn[i] + f1 < (double)lb[i] - 2 * err) {
                    na[i] = fa;
                    ub[i] = xn[i] + f1;
                    if (xn[i] + f2 < lb[i]) lb[i] = xn[i] + f2;
                } else {
                    memcpy(gb + g * d, x + i * d, (size_t)d * sizeof(float));
                    rows[g++] = i;
                }
            }
        } else {
            for (int64_t r = 0; r < m; r++) rows[g++] = i0 + r;
        }
        if (g == 0) continue;
        scored += g;
        const float *a = nm < 0 ? x + i0 * d : gb;
        for (int64_t r = 0; r < g; r++) b1[r] = b2[r] = INFINITY, ba[r] = 0;
        for (int64_t c0 = 0; c0 < nc && !mx_stopped(stop); c0 += TILE_COLS)
            score_rows(a, g, d, cent + c0 * d, cnorm + c0, MX_MIN(TILE_COLS, nc - c0), c0, NULL,
                       tile, b1, b2, ba);
        for (int64_t r = 0; r < g; r++) {
            int64_t i = rows[r];
            na[i] = ba[r];
            ub[i] = xn[i] + b1[r];
            lb[i] = xn[i] + b2[r];
        }
    }
    return scored;
}

/* "a is farther than b": larger squared distance, ties to the smaller index. */
static int farther(const double *dist, int64_t a, int64_t b) {
    return dist[a] > dist[b] || (dist[a] == dist[b] && a < b);
}

/* Empty clusters, as scikit-learn relocates them (_relocate_empty_clusters_dense): the j-th empty
 * cluster (increasing id) takes the j-th farthest point from the centre it was assigned to
 * (dist, squared, against the centres of this assignment). eff: the labels the update averages
 * over (assign, with the relocated points moved); a point is not taken from a cluster it would
 * leave empty (that cluster stays empty until the next pass). reloc: nc ids of workspace, the
 * relocated points on return; cnt: nc counts of workspace; dist: n doubles. Returns how many
 * points moved. Serial choices on per-point distances: independent of the thread count. */
static int64_t relocate_empty(const float *x, int64_t n, int64_t d, int64_t nc,
                              const int64_t *assign, const float *cent, int64_t *cnt, double *dist,
                              int64_t *reloc, int64_t *eff) {
    memset(cnt, 0, (size_t)nc * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) cnt[assign[i]]++;
    int64_t ne = 0;
    for (int64_t c = 0; c < nc; c++) ne += cnt[c] == 0;
    memcpy(eff, assign, (size_t)n * sizeof(int64_t));
    if (ne == 0) return 0;
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < n; i++) dist[i] = sqdist(x + i * d, cent + assign[i] * d, d);
    /* the ne farthest points: a heap whose root is the nearest of those kept */
    int64_t h = 0;
    for (int64_t i = 0; i < n; i++) {
        if (cnt[assign[i]] < 2) continue;
        if (h == ne && !farther(dist, i, reloc[0])) continue;
        int64_t at;
        if (h < ne) { /* sift up */
            at = h++;
            while (at > 0 && farther(dist, reloc[(at - 1) / 2], i)) {
                reloc[at] = reloc[(at - 1) / 2];
                at = (at - 1) / 2;
            }
        } else { /* replace the root, sift down */
            at = 0;
            for (;;) {
                int64_t l = 2 * at + 1, r = l + 1, m = at;
                int64_t mv = i;
                if (l < h && farther(dist, mv, reloc[l])) m = l, mv = reloc[l];
                if (r < h && farther(dist, mv, reloc[r])) m = r;
                if (m == at) break;
                reloc[at] = reloc[m];
                at = m;
            }
        }
        reloc[at] = i;
    }
    for (int64_t a = 1; a < h; a++) { /* farthest first */
        int64_t v = reloc[a], b = a;
        for (; b > 0 && farther(dist, v, reloc[b - 1]); b--) reloc[b] = reloc[b - 1];
        reloc[b] = v;
    }
    int64_t moved = 0;
    for (int64_t c = 0, j = 0; c < nc && j < h; c++) {
        if (cnt[c] != 0) continue;
        int64_t p = reloc[j++], old = assign[p];
        if (cnt[old] < 2) continue; /* an earlier move left old with this point alone */
        cnt[old]--;
        cnt[c] = 1;
        eff[p] = c;
        reloc[moved++] = p;
    }
    return moved;
}

/* Centre update: the mean of each cluster (an empty cluster keeps its centre: relocate_empty
 * runs first), summed in double
 * in increasing point order per cluster (as a serial pass would), clusters in parallel. ord,
 * start: n and nc + 1 entries of workspace; acc: threads x d doubles; drift (may be NULL):
 * ||new - old|| per centre. */
static void kmeans_update(const float *x, int64_t n, int64_t d, int64_t nc, const int64_t *assign,
                          int64_t *ord, int64_t *start, double *acc, float *cent, double *drift) {
    memset(start, 0, (size_t)(nc + 1) * sizeof(int64_t));
    for (int64_t i = 0; i < n; i++) start[assign[i] + 1]++;
    for (int64_t c = 0; c < nc; c++) start[c + 1] += start[c];
    for (int64_t i = 0; i < n; i++) ord[start[assign[i]]++] = i; /* start[c] -> end of c */
    for (int64_t c = nc; c > 0; c--) start[c] = start[c - 1];
    start[0] = 0;
#pragma omp parallel for schedule(dynamic, 64)
    for (int64_t c = 0; c < nc; c++) {
        int64_t cnt = start[c + 1] - start[c];
        if (drift) drift[c] = 0;
        if (cnt == 0) continue;
        double *s = acc + (size_t)omp_get_thread_num() * (size_t)d;
        memset(s, 0, (size_t)d * sizeof(double));
        for (int64_t t = start[c]; t < start[c + 1]; t++) {
            const float *xi = x + ord[t] * d;
            for (int64_t p = 0; p < d; p++) s[p] += xi[p];
        }
        double dr = 0;
        float *cc = cent + c * d;
        for (int64_t p = 0; p < d; p++) {
            float v = (float)(s[p] / cnt);
            double t = (double)v - cc[p];
            dr += t * t;
            cc[p] = v;
        }
        if (drift) drift[c] = sqrt(dr);
    }
}

static double now_s(void) {
    return omp_get_wtime();
}

/* Small problems (n k d < opt->large_work): greedy k-means++ as scikit-learn seeds
 * (mx_kmeans_seed_greedy, kmeans_seed.c) and plain Lloyd passes. Large ones: batched k-means++
 * (kmeans_seed_batched, the same distribution of seeds) and Lloyd passes that rescore each point
 * against the centres that moved only (kmeans_assign_large; the same Lloyd iterations up to float
 * rounding). At Stanford Online Products scale (60,502 x 512, k = 11,316) serial seeding alone took
 * minutes. faiss (pytorch-metric-learning's NMI) seeds from a random sample instead and stops after
 * 20 iterations; k-means++ is kept here for both sizes. */
mx_status mx_kmeans_ex(const float *x, int64_t n, int64_t d, int64_t nc, int max_iter, mx_rng *rng,
                       const mx_kmeans_opts *opt, int64_t *assign, mx_kmeans_stats *stats) {
    if (n <= 0 || d <= 0 || nc <= 0 || nc > n || !x || !rng || !assign)
        return mx_error(MX_ERR_ARG,
                        "mx_kmeans: expected 0 < n_clusters <= n and d > 0 (n=%lld d=%lld "
                        "n_clusters=%lld)",
                        (long long)n, (long long)d, (long long)nc);
    mx_kmeans_opts o = {MX_KMEANS_LARGE_WORK, 256, NULL, 0, NULL};
    if (opt) o = *opt;
    if (o.seed_batch < 1) o.seed_batch = 1;
    mx_kmeans_stats st0;
    memset(&st0, 0, sizeof st0);
    mx_kmeans_stats *S = stats ? stats : &st0;
    memset(S, 0, sizeof *S);
    int large = (double)n * (double)nc * (double)d >= o.large_work;
    S->large = large;
    int nth = mx_threads_get();
    float *cent = mx_alloc((size_t)nc * (size_t)d * sizeof(float));
    float *cnorm = mx_alloc((size_t)nc * sizeof(float));
    double *mind = malloc((size_t)n * sizeof(double));
    double *acc = malloc((size_t)nth * (size_t)d * sizeof(double));
    int64_t *ord = malloc((size_t)n * sizeof(int64_t));
    int64_t *start = malloc((size_t)(nc + 1) * sizeof(int64_t));
    int64_t *na = malloc((size_t)n * sizeof(int64_t));
    float *bd = malloc((size_t)n * sizeof(float));
    float *tile = mx_alloc((size_t)nth * TILE_SIZE * sizeof(float));
    int64_t *reloc = malloc((size_t)nc * sizeof(int64_t));
    /* large path only */
    double *cum = NULL, *drift = NULL;
    float *xn = NULL, *ub = NULL, *lb = NULL, *gbuf = NULL, *mcent = NULL, *mnorm = NULL;
    int64_t *moved = NULL;
    /* small path: greedy seeding scratch */
    int trials = o.seed_trials > 0 ? o.seed_trials : mx_kmeans_default_trials(nc);
    double *dcand = NULL;
    int64_t *cand = NULL;
    int ok_large = 1;
    if (large) {
        cum = malloc((size_t)n * sizeof(double));
        drift = malloc((size_t)nc * sizeof(double));
        xn = malloc((size_t)n * sizeof(float));
        ub = malloc((size_t)n * sizeof(float));
        lb = malloc((size_t)n * sizeof(float));
        gbuf = mx_alloc((size_t)nth * TILE_ROWS * (size_t)d * sizeof(float));
        moved = malloc((size_t)nc * sizeof(int64_t));
        mcent = mx_alloc((size_t)(nc / 2 + 1) * (size_t)d * sizeof(float));
        mnorm = malloc((size_t)(nc / 2 + 1) * sizeof(float));
        ok_large = cum && drift && xn && ub && lb && gbuf && moved && mcent && mnorm;
    } else if (!o.init) {
        cum = malloc((size_t)n * sizeof(double));
        dcand = malloc((size_t)trials * (size_t)n * sizeof(double));
        cand = malloc((size_t)trials * sizeof(int64_t));
        ok_large = cum && dcand && cand;
    }
    mx_status st = MX_OK;
    if (!cent || !cnorm || !mind || !acc || !ord || !start || !na || !bd || !tile || !reloc ||
        !ok_large) {
        st = mx_error(MX_ERR_NOMEM, "mx_kmeans: out of memory (n=%lld, %lld clusters)",
                      (long long)n, (long long)nc);
        goto done;
    }
    double t0 = now_s();
    if (large) row_sqnorms(x, n, d, xn);
    if (o.init) {
        memcpy(cent, o.init, (size_t)nc * (size_t)d * sizeof(float));
    } else if (large) {
        kmeans_seed_batched(x, xn, n, d, nc, o.seed_batch, rng, cent, cnorm, mind, cum, tile, bd, S,
                            o.stop);
    } else {
        S->seed_potential =
            mx_kmeans_seed_greedy(x, n, d, nc, trials, rng, cent, mind, cum, dcand, cand);
    }
    double t1 = now_s();
    S->seed_s = t1 - t0;
    /* Lloyd iterations */
    for (int64_t i = 0; i < n; i++) assign[i] = -1;
    for (int it = 0; it < (max_iter > 0 ? max_iter : 1) && !mx_stopped(o.stop); it++) {
        float maxcn = 0;
#pragma omp parallel for schedule(static) reduction(max : maxcn)
        for (int64_t c = 0; c < nc; c++) {
            double s = 0;
            for (int64_t p = 0; p < d; p++) s += (double)cent[c * d + p] * cent[c * d + p];
            cnorm[c] = (float)s;
            maxcn = cnorm[c] > maxcn ? cnorm[c] : maxcn;
        }
        S->iters++;
        if (large) {
            int64_t nm = -1; /* the centres that moved, when few enough (see above) */
            if (it > 0) {
                nm = 0;
                for (int64_t c = 0; c < nc; c++)
                    if (drift[c] != 0) moved[nm++] = c;
                if (nm > nc / 2) nm = -1;
            }
#pragma omp parallel for schedule(static)
            for (int64_t t = 0; t < (nm > 0 ? nm : 0); t++) {
                memcpy(mcent + t * d, cent + moved[t] * d, (size_t)d * sizeof(float));
                mnorm[t] = cnorm[moved[t]];
            }
            S->recomputed +=
                kmeans_assign_large(x, xn, n, d, cent, cnorm, maxcn, nc, moved, nm, mcent, mnorm,
                                    tile, gbuf, assign, ub, lb, na, o.stop);
        } else {
            kmeans_assign(x, n, d, cent, cnorm, nc, tile, bd, na, o.stop);
            S->recomputed += n;
        }
        if (mx_stopped(o.stop)) break;
        int64_t changed = 0;
        for (int64_t i = 0; i < n; i++) {
            changed += na[i] != assign[i];
            assign[i] = na[i];
        }
        if (!changed) break;
        /* na: the labels to average, with empty clusters given the farthest points. Small
         * problems only: at SOP scale relocation keeps moving centres and Lloyd, which stops on
         * an unchanged assignment only, ran its 100 passes (over 15 min instead of 8 s). */
        int64_t nr = large ? 0 : relocate_empty(x, n, d, nc, assign, cent, start, mind, reloc, na);
        S->relocated += nr;
        kmeans_update(x, n, d, nc, large ? assign : na, ord, start, acc, cent,
                      large ? drift : NULL);
    }
    S->lloyd_s = now_s() - t1;
    if (mx_stopped(o.stop)) st = mx_error(MX_ERR_INTERRUPTED, "k-means interrupted");
done:
    mx_free(cent);
    mx_free(cnorm);
    free(mind);
    free(acc);
    free(ord);
    free(start);
    free(na);
    free(bd);
    mx_free(tile);
    free(reloc);
    free(cum);
    free(dcand);
    free(cand);
    free(drift);
    free(xn);
    free(ub);
    free(lb);
    mx_free(gbuf);
    free(moved);
    mx_free(mcent);
    free(mnorm);
    return st;
}

mx_status mx_kmeans(const float *x, int64_t n, int64_t d, int64_t nc, int max_iter, mx_rng *rng,
                    int64_t *assign) {
    return mx_kmeans_ex(x, n, d, nc, max_iter, rng, NULL, assign, NULL);
}

/* ---- utilization ------------------------------------------------------------------------- */

mx_status mx_utilization(const float *q, int64_t nq, const float *x, int64_t nx, int64_t d,
                         double *out) {
    return mx_utilization_stop(q, nq, x, nx, d, out, NULL);
}

mx_status mx_utilization_stop(const float *q, int64_t nq, const float *x, int64_t nx, int64_t d,
                              double *out, volatile const int *stop) {
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
    nearest_rows(q, nq, d, x, xn, 0, nx, tile, best, NULL, stop);
    if (mx_stopped(stop)) {
        st = mx_error(MX_ERR_INTERRUPTED, "utilization interrupted");
        goto done;
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
    return mx_align_uniform_stop(x, labels, n, d, t, alignment, uniformity, NULL);
}

mx_status mx_align_uniform_stop(const float *x, const int64_t *labels, int64_t n, int64_t d,
                                double t, double *alignment, double *uniformity,
                                volatile const int *stop) {
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
                for (int64_t j0 = i0; j0 < n && !mx_stopped(stop); j0 += TILE_COLS) {
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
            if (mx_stopped(stop))
                st = mx_error(MX_ERR_INTERRUPTED, "uniformity interrupted");
            else
                *uniformity = log(tot / ((double)n * (double)(n - 1) / 2));
        }
        free(rs);
        mx_free(tile);
    }
    free(xn);
    return st;
}
