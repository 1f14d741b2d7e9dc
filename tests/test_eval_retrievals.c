/* eval: mx_retrieval_examples against a brute-force double-precision search: the seeded query
 * choice (reproducible, distinct, sorted, independent of the embeddings), leave-one-out excludes
 * the query itself, query/gallery, clamping, short galleries, errors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrix/eval.h"
#include "mx_test.h"

/* brute force: the k best gallery rows by cosine (ties: smaller index), excluding skip */
static void brute(const float *q, const float *g, int64_t ng, int64_t d, int64_t k, int64_t skip,
                  int64_t *out) {
    double *s = malloc(sizeof(double) * (size_t)ng);
    double nq = 0;
    for (int64_t j = 0; j < d; j++) nq += (double)q[j] * q[j];
    for (int64_t i = 0; i < ng; i++) {
        double dot = 0, n = 0;
        for (int64_t j = 0; j < d; j++)
            dot += (double)q[j] * g[i * d + j], n += (double)g[i * d + j] * g[i * d + j];
        s[i] = i == skip ? -INFINITY : dot / sqrt(n * nq);
    }
    for (int64_t t = 0; t < k; t++) {
        int64_t best = -1;
        for (int64_t i = 0; i < ng; i++)
            if (s[i] > -INFINITY && (best < 0 || s[i] > s[best])) best = i;
        out[t] = best;
        if (best >= 0) s[best] = -INFINITY;
    }
    free(s);
}

int main(void) {
    enum { N = 300, D = 12, NQ = 8, K = 6 };
    float *x = malloc(sizeof(float) * N * D), *y = malloc(sizeof(float) * N * D);
    mx_rng r;
    mx_rng_seed(&r, 5);
    for (int i = 0; i < N * D; i++)
        x[i] = (float)mx_rng_normal(&r), y[i] = (float)mx_rng_normal(&r);
    int64_t qi[NQ], nn[NQ * K], qi2[NQ], nn2[NQ * K], want[K];
    float sim[NQ * K];
    int n = 0, n2 = 0;
    CHECK_OK(mx_retrieval_examples(x, N, NULL, 0, D, NQ, K, 2022, qi, nn, sim, &n));
    CHECK(n == NQ);
    for (int i = 0; i < n; i++) {
        CHECK(qi[i] >= 0 && qi[i] < N);
        if (i) CHECK(qi[i] > qi[i - 1]); /* distinct and sorted */
        brute(x + qi[i] * D, x, N, D, K, qi[i], want);
        CHECK(!memcmp(want, nn + i * K, sizeof want));
        for (int t = 0; t < K; t++) CHECK(nn[i * K + t] != qi[i]);
        for (int t = 1; t < K; t++) CHECK(sim[i * K + t] <= sim[i * K + t - 1]);
        CHECK(sim[i * K] <= 1.0001f && sim[i * K] > 0);
    }
    /* the same seed picks the same queries, whatever the embeddings; another seed others */
    CHECK_OK(mx_retrieval_examples(y, N, NULL, 0, D, NQ, K, 2022, qi2, nn2, NULL, &n2));
    CHECK(n2 == NQ && !memcmp(qi, qi2, sizeof qi));
    CHECK_OK(mx_retrieval_examples(x, N, NULL, 0, D, NQ, K, 7, qi2, nn2, NULL, &n2));
    CHECK(memcmp(qi, qi2, sizeof qi) != 0);

    /* query/gallery: nothing excluded */
    CHECK_OK(mx_retrieval_examples(x, N, y, 100, D, NQ, K, 1, qi, nn, sim, &n));
    for (int i = 0; i < n; i++) {
        brute(x + qi[i] * D, y, 100, D, K, -1, want);
        CHECK(!memcmp(want, nn + i * K, sizeof want));
    }
    /* more queries than rows: clamped; fewer candidates than k: -1 tails */
    CHECK_OK(mx_retrieval_examples(x, 4, NULL, 0, D, NQ, K, 1, qi, nn, sim, &n));
    CHECK(n == 4);
    for (int i = 0; i < n; i++) {
        CHECK(qi[i] == i);
        for (int t = 0; t < K; t++) CHECK((t < 3) == (nn[i * K + t] >= 0));
    }
    /* errors */
    CHECK(mx_retrieval_examples(x, N, NULL, 0, D, 0, K, 1, qi, nn, sim, &n) == MX_ERR_ARG);
    CHECK(mx_retrieval_examples(x, N, NULL, 0, D, NQ, 0, 1, qi, nn, sim, &n) == MX_ERR_ARG);
    CHECK(mx_retrieval_examples(x, N, y, 0, D, NQ, K, 1, qi, nn, sim, &n) == MX_ERR_ARG);
    memset(x + 5 * D, 0, sizeof(float) * D); /* a zero row cannot be normalised */
    CHECK(mx_retrieval_examples(x, 6, NULL, 0, D, NQ, K, 1, qi, nn, NULL, &n) == MX_ERR_NUMERIC);
    free(x);
    free(y);
    return mx_test_finish("test_eval_retrievals");
}
