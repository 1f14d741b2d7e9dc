/* k-means empty clusters: from the same initial centres as scikit-learn (fixture written by
 * tests/ref/eval_kmeans_relocate_ref.py), separated blobs where plain Lloyd leaves a cluster
 * empty (a duplicated centre, a centre far from every point) end with scikit-learn's clustering
 * and NMI on the small-problem path, with 1 and 2 threads (the large path does not relocate: it
 * must still give the same clusters on 1 and 2 threads). A random problem checks that every
 * cluster is used after k-means++ seeding too. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval_impl.h"
#include "metrix/eval.h"
#include "mx_test.h"

#define FIX_MAX 4096

static int read_arr(FILE *f, const char *name, double *out, int64_t max, int64_t *n) {
    char tok[64];
    long long cnt;
    if (fscanf(f, "%63s %lld", tok, &cnt) != 2 || strcmp(tok, name) || cnt > max) {
        fprintf(stderr, "fixture: expected array '%s' (got '%s')\n", name, tok);
        return 0;
    }
    for (long long i = 0; i < cnt; i++)
        if (fscanf(f, "%lf", &out[i]) != 1) return 0;
    *n = cnt;
    return 1;
}

static int64_t clusters_used(const int64_t *a, int64_t n, int64_t k) {
    int64_t used = 0;
    char *seen = calloc((size_t)k, 1);
    for (int64_t i = 0; i < n; i++)
        if (!seen[a[i]]) seen[a[i]] = 1, used++;
    free(seen);
    return used;
}

/* One fixture case: ours from the same initial centres on both paths and thread counts. */
static void check_case(int ci, const float *x, const int64_t *lab, const float *init,
                       const int64_t *sk, double sk_nmi, int64_t n, int64_t d, int64_t k) {
    int th = mx_threads_get();
    int64_t *a = malloc((size_t)n * sizeof(int64_t)), *b = malloc((size_t)n * sizeof(int64_t));
    for (int large = 0; large < 2; large++) {
        mx_kmeans_opts o = {large ? 0 : MX_KMEANS_LARGE_WORK, 8, init, 0, NULL};
        mx_kmeans_stats st;
        mx_rng r;
        mx_rng_seed(&r, 1);
        mx_threads_set(1);
        CHECK_OK(mx_kmeans_ex(x, n, d, k, 300, &r, &o, a, &st));
        mx_threads_set(2);
        CHECK_OK(mx_kmeans_ex(x, n, d, k, 300, &r, &o, b, NULL));
        mx_threads_set(th);
        CHECK(memcmp(a, b, (size_t)n * sizeof(int64_t)) == 0);
        CHECK(st.large == large && (st.relocated > 0) == !large); /* an empty cluster refilled */
        if (large) continue;
        double nmi = 0, same = 0;
        CHECK_OK(mx_nmi(lab, a, n, &nmi));
        CHECK_OK(mx_nmi(sk, a, n, &same));
        if (fabs(nmi - sk_nmi) > 1e-12 || fabs(same - 1.0) > 1e-12 || clusters_used(a, n, k) != k)
            fprintf(stderr, "case %d: NMI %.17g, scikit-learn %.17g, vs its labels %g\n", ci, nmi,
                    sk_nmi, same);
        CHECK_CLOSE(nmi, sk_nmi, 1e-12, 0);
        CHECK_CLOSE(same, 1.0, 1e-12, 0); /* the same partition as scikit-learn's */
        CHECK(clusters_used(a, n, k) == k);
    }
    free(a);
    free(b);
}

static void test_fixture(void) {
    const char *path = MX_SOURCE_DIR "/tests/fixtures/eval/kmeans_relocate.txt";
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    double *v = malloc(FIX_MAX * sizeof(double));
    float *x = malloc(FIX_MAX * sizeof(float)), *init = malloc(FIX_MAX * sizeof(float));
    int64_t *lab = malloc(FIX_MAX * sizeof(int64_t)), *sk = malloc(FIX_MAX * sizeof(int64_t));
    int64_t m, cases = 0;
    int ok = read_arr(f, "cases", v, 1, &m);
    if (ok) cases = (int64_t)v[0];
    CHECK(ok && cases == 2);
    for (int64_t c = 0; ok && c < cases; c++) {
        int64_t n, d, k;
        ok = read_arr(f, "shape", v, 3, &m);
        if (!ok) break;
        n = (int64_t)v[0], d = (int64_t)v[1], k = (int64_t)v[2];
        ok = read_arr(f, "x", v, FIX_MAX, &m) && m == n * d;
        for (int64_t i = 0; ok && i < m; i++) x[i] = (float)v[i];
        ok = ok && read_arr(f, "labels", v, FIX_MAX, &m) && m == n;
        for (int64_t i = 0; ok && i < m; i++) lab[i] = (int64_t)v[i];
        ok = ok && read_arr(f, "init", v, FIX_MAX, &m) && m == k * d;
        for (int64_t i = 0; ok && i < m; i++) init[i] = (float)v[i];
        ok = ok && read_arr(f, "sklearn_labels", v, FIX_MAX, &m) && m == n;
        for (int64_t i = 0; ok && i < m; i++) sk[i] = (int64_t)v[i];
        ok = ok && read_arr(f, "sklearn_nmi", v, 1, &m);
        CHECK(ok);
        if (ok) check_case((int)c, x, lab, init, sk, v[0], n, d, k);
    }
    fclose(f);
    free(v);
    free(x);
    free(init);
    free(lab);
    free(sk);
}

/* Overlapping blobs with plain k-means++ seeding (data where plain Lloyd emptied a cluster for
 * some seeds; the greedy default seeding leaves none empty here): every cluster ends non-empty
 * (small-problem path). */
static void test_kmeanspp_no_empty(void) {
    mx_rng r;
    mx_rng_seed(&r, 1148);
    int64_t k = 60, d = 2, n = 0, sz[60];
    for (int64_t c = 0; c < k; c++) n += sz[c] = 5 + (int64_t)mx_rng_below(&r, 3);
    float *x = malloc((size_t)(n * d) * sizeof(float)), cen[120];
    int64_t *a = malloc((size_t)n * sizeof(int64_t));
    for (int64_t c = 0; c < k * d; c++) cen[c] = (float)((mx_rng_uniform(&r) * 2 - 1) * 8);
    for (int64_t c = 0, i = 0; c < k; c++)
        for (int64_t j = 0; j < sz[c]; j++, i++)
            for (int64_t p = 0; p < d; p++)
                x[i * d + p] = cen[c * d + p] + (float)mx_rng_normal(&r);
    int64_t relocated = 0;
    for (uint64_t s = 0; s < 40; s++) {
        mx_kmeans_opts o = {MX_KMEANS_LARGE_WORK, 8, NULL, s < 20 ? 1 : 0, NULL}; /* plain, greedy */
        mx_kmeans_stats st;
        mx_rng kr;
        mx_rng_seed(&kr, s);
        CHECK_OK(mx_kmeans_ex(x, n, d, k, 300, &kr, &o, a, &st));
        CHECK(clusters_used(a, n, k) == k);
        if (s < 20) relocated += st.relocated;
    }
    CHECK(relocated > 0); /* the data does exercise the relocation */
    free(x);
    free(a);
}

int main(void) {
    test_fixture();
    test_kmeanspp_no_empty();
    return mx_test_finish("test_eval_kmeans_relocate");
}
