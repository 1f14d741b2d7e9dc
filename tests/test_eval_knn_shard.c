/* The sharded exact kNN of data-parallel evaluation (src/eval/knn_shard.c): a gallery split into
 * 1..4 parts of unequal sizes, each part searched with mx_knn_part (in query blocks, as the
 * trainer does), the lists merged with mx_knn_merge, must equal mx_knn on the whole gallery
 * index for index and similarity for similarity, leave-one-out and query/gallery, with exact ties
 * (integer data) and with k above the candidate count; and mx_knn_merge equals its naive
 * reference (sorting all candidates) on synthetic lists full of ties. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/core.h"
#include "metrix/eval.h"
#include "mx_test.h"

/* Sharded search of q (nq x d) against g (ng x d) in `parts` parts cut at cut[0..parts], query
 * blocks of qb rows, merged into idx / sim (nq x k). */
static void sharded(const float *q, int64_t nq, const float *g, int64_t ng, int64_t d, int64_t k,
                    int loo, int parts, const int64_t *cut, int64_t qb, int64_t *idx, float *sim) {
    int64_t *li = malloc(sizeof(int64_t) * (size_t)(parts * qb * k));
    float *ls = malloc(sizeof(float) * (size_t)(parts * qb * k));
    int64_t *ri = malloc(sizeof(int64_t) * (size_t)(qb * k));
    float *rs = malloc(sizeof(float) * (size_t)(qb * k));
    for (int64_t i0 = 0; i0 < nq; i0 += qb) {
        int64_t m = qb < nq - i0 ? qb : nq - i0;
        for (int p = 0; p < parts; p++)
            CHECK_OK(mx_knn_part(q + i0 * d, m, i0, g + cut[p] * d, cut[p + 1] - cut[p], cut[p], d,
                                 k, loo, li + p * m * k, ls + p * m * k, NULL));
        CHECK_OK(mx_knn_merge(parts, li, ls, m, k, idx + i0 * k, sim + i0 * k));
        /* the merge against its reference on the real lists */
        CHECK_OK(mx_knn_merge_ref(parts, li, ls, m, k, ri, rs));
        int64_t bad = 0;
        for (int64_t t = 0; t < m * k; t++)
            bad += ri[t] != idx[i0 * k + t] || (ri[t] >= 0 && rs[t] != sim[i0 * k + t]);
        CHECK(bad == 0);
    }
    free(li);
    free(ls);
    free(ri);
    free(rs);
}

/* compares sharded searches of every split into 1..4 parts with mx_knn on the whole gallery */
static void check_data(const char *what, const float *q, int64_t nq, const float *g, int64_t ng,
                       int64_t d, int loo, mx_rng *r) {
    const int64_t ks[] = {1, 8, 97, ng + 3};
    for (size_t a = 0; a < sizeof ks / sizeof ks[0]; a++) {
        int64_t k = ks[a];
        int64_t *want = malloc(sizeof(int64_t) * (size_t)(nq * k));
        float *wsim = malloc(sizeof(float) * (size_t)(nq * k));
        int64_t *got = malloc(sizeof(int64_t) * (size_t)(nq * k));
        float *gsim = malloc(sizeof(float) * (size_t)(nq * k));
        CHECK_OK(mx_knn(q, nq, g, ng, d, k, loo, want, wsim));
        for (int parts = 1; parts <= 4; parts++) {
            /* unequal parts: random cuts (an empty part included now and then) */
            int64_t cut[5];
            cut[0] = 0, cut[parts] = ng;
            for (int p = 1; p < parts; p++) cut[p] = (int64_t)mx_rng_below(r, (uint64_t)ng + 1);
            for (int p = 1; p < parts; p++) /* sort the inner cuts */
                for (int p2 = p + 1; p2 < parts; p2++)
                    if (cut[p2] < cut[p]) {
                        int64_t x = cut[p];
                        cut[p] = cut[p2], cut[p2] = x;
                    }
            for (int64_t qb = 64; qb <= nq; qb *= 8) {
                memset(got, 0x7f, sizeof(int64_t) * (size_t)(nq * k));
                sharded(q, nq, g, ng, d, k, loo, parts, cut, qb, got, gsim);
                int64_t bad = 0;
                for (int64_t t = 0; t < nq * k; t++)
                    bad += got[t] != want[t] || (want[t] >= 0 && gsim[t] != wsim[t]);
                if (bad)
                    fprintf(stderr,
                            "%s: k %lld, %d parts (cuts %lld %lld %lld), query blocks of %lld: "
                            "%lld entries differ from mx_knn\n",
                            what, (long long)k, parts, (long long)cut[1], (long long)cut[2],
                            (long long)cut[3], (long long)qb, (long long)bad);
                CHECK(bad == 0);
            }
        }
        free(want);
        free(wsim);
        free(got);
        free(gsim);
    }
}

static void test_sharded_equals_whole(void) {
    mx_rng r;
    mx_rng_seed(&r, 9);
    const int64_t n = 700, d = 24, nq = 300;
    float *x = malloc(sizeof(float) * (size_t)(n * d));
    float *qx = malloc(sizeof(float) * (size_t)(nq * d));
    /* real-valued, normalised rows */
    for (int64_t i = 0; i < n * d; i++) x[i] = (float)mx_rng_normal(&r);
    for (int64_t i = 0; i < nq * d; i++) qx[i] = (float)mx_rng_normal(&r);
    CHECK_OK(mx_eval_normalize(x, n, d));
    CHECK_OK(mx_eval_normalize(qx, nq, d));
    check_data("random, leave-one-out", x, n, x, n, d, 1, &r);
    check_data("random, query/gallery", qx, nq, x, n, d, 0, &r);
    /* exact ties: entries in {-1, 0, 1}, d 5: many equal inner products */
    for (int64_t i = 0; i < n * 5; i++) x[i] = (float)((int)mx_rng_below(&r, 3) - 1);
    check_data("ties, leave-one-out", x, n, x, n, 5, 1, &r);
    check_data("ties, query/gallery", x, nq, x + nq * 5, n - nq, 5, 0, &r);
    free(x);
    free(qx);
}

/* synthetic sorted lists with similarities from {0, 0.25, .., 1} and distinct indices across
 * parts, some lists short (-1 padded): mx_knn_merge == mx_knn_merge_ref */
static void test_merge_ref(void) {
    mx_rng r;
    mx_rng_seed(&r, 4);
    const int64_t nq = 50;
    for (int parts = 1; parts <= 5; parts++)
        for (int64_t k = 1; k <= 40; k += 13) {
            int64_t *li = malloc(sizeof(int64_t) * (size_t)(parts * nq * k));
            float *ls = malloc(sizeof(float) * (size_t)(parts * nq * k));
            int64_t *a = malloc(sizeof(int64_t) * (size_t)(nq * k));
            int64_t *b = malloc(sizeof(int64_t) * (size_t)(nq * k));
            float *sa = malloc(sizeof(float) * (size_t)(nq * k));
            float *sb = malloc(sizeof(float) * (size_t)(nq * k));
            for (int p = 0; p < parts; p++)
                for (int64_t i = 0; i < nq; i++) {
                    int64_t *ii = li + (p * nq + i) * k;
                    float *ss = ls + (p * nq + i) * k;
                    int64_t len = (int64_t)mx_rng_below(&r, (uint64_t)k + 1);
                    /* a sorted list: similarities non-increasing, indices ascending within a
                     * similarity; part p owns the indices = p (mod parts) */
                    float sv = 1.0f;
                    int64_t j = p;
                    for (int64_t t = 0; t < k; t++) {
                        if (t >= len) {
                            ii[t] = -1, ss[t] = -INFINITY;
                            continue;
                        }
                        if (mx_rng_below(&r, 3) == 0 && sv > 0) sv -= 0.25f, j = p;
                        ii[t] = j, ss[t] = sv;
                        j += parts * (1 + (int64_t)mx_rng_below(&r, 3));
                    }
                }
            CHECK_OK(mx_knn_merge(parts, li, ls, nq, k, a, sa));
            CHECK_OK(mx_knn_merge_ref(parts, li, ls, nq, k, b, sb));
            int64_t bad = 0;
            for (int64_t t = 0; t < nq * k; t++)
                bad += a[t] != b[t] || (b[t] >= 0 && sa[t] != sb[t]) || (b[t] < 0 && !isinf(sa[t]));
            CHECK(bad == 0);
            free(li);
            free(ls);
            free(a);
            free(b);
            free(sa);
            free(sb);
        }
    /* a merge of one list is the list; bad arguments */
    int64_t i1[3] = {2, 4, -1}, o[3];
    float s1[3] = {0.5f, 0.5f, -INFINITY}, so[3];
    CHECK_OK(mx_knn_merge(1, i1, s1, 1, 3, o, so));
    CHECK(o[0] == 2 && o[1] == 4 && o[2] == -1 && so[1] == 0.5f);
    CHECK(mx_knn_merge(0, i1, s1, 1, 3, o, so) == MX_ERR_ARG);
    CHECK(mx_knn_part(NULL, 1, 0, NULL, 1, 0, 4, 1, 0, o, so, NULL) == MX_ERR_ARG);
}

int main(void) {
    test_merge_ref();
    test_sharded_equals_whole();
    return mx_test_finish("test_eval_knn_shard");
}
