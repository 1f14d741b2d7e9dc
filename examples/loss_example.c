/* The README's example, compiled and run by ctest (test_example_loss): the Metrix loss of a batch
 * of embeddings mixed at the embedding level, with gradients flowing to both mixed components.
 * Only the public API (include/metrix). Build your own with:
 *     cc loss_example.c $(pkg-config --cflags --libs metrix) */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrix/metrix.h"

int main(void) {
    enum { n = 32, d = 16, classes = 4, max_mixed = n * (n - 1) };
    mx_rng rng;
    mx_rng_seed(&rng, 7);
    float *emb = malloc(sizeof(float) * n * d), *d_emb = calloc(n * d, sizeof(float));
    float *mixed = malloc(sizeof(float) * max_mixed * d);
    float *d_mixed = calloc((size_t)max_mixed * d, sizeof(float));
    mx_mix_pair *pairs = malloc(sizeof(mx_mix_pair) * max_mixed);
    int64_t labels[n], m = 0;
    for (int i = 0; i < n; i++) labels[i] = i % classes;
    for (int i = 0; i < n * d; i++) emb[i] = (float)mx_rng_normal(&rng);

    mx_loss_config cfg = mx_loss_config_default(MX_LOSS_MS); /* beta 17.97, gamma 75.66, m 0.77 */
    mx_loss *loss = NULL;
    mx_mixer *mixer = NULL;
    mx_mix_config mc = mx_mix_config_default(); /* lambda ~ Beta(2, 2), pos-neg or anchor-neg */
    mx_loss_result r;
    mx_status s = mx_loss_create(&cfg, n, max_mixed, d, 0, &loss);
    if (s == MX_OK) s = mx_mixer_create(&mc, n, &mixer);
    if (s == MX_OK) s = mx_mixer_sample(mixer, n, labels, NULL, &rng, max_mixed, pairs, &m);
    if (s == MX_OK) {
        mx_mix_rows_forward(m, d, emb, pairs, mixed); /* Metrix/embed */
        s = mx_loss_compute(loss, n, emb, labels, NULL, m, mixed, pairs, &r, d_emb, d_mixed, NULL);
    }
    if (s == MX_OK) mx_mix_rows_backward(m, d, d_mixed, pairs, d_emb); /* to both components */
    if (s != MX_OK) {
        fprintf(stderr, "loss_example: %s: %s\n", mx_status_str(s), mx_errmsg());
        return 1;
    }
    double gnorm = 0;
    for (int i = 0; i < n * d; i++) gnorm += (double)d_emb[i] * d_emb[i];
    printf("%lld mixed pairs; loss %.6f = clean %.6f + %.1f x mixed %.6f; |d emb| = %.6f\n",
           (long long)m, r.total, r.clean, cfg.mix_weight, r.mixed, sqrt(gnorm));
    int ok = m > 0 && isfinite(r.total) && fabs(r.total - (r.clean + cfg.mix_weight * r.mixed)) < 1e-5 &&
             r.mixed > 0 && gnorm > 0;
    mx_mixer_free(mixer);
    mx_loss_free(loss);
    free(emb), free(d_emb), free(mixed), free(d_mixed), free(pairs);
    return ok ? 0 : 1;
}
