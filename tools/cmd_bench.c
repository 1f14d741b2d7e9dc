/* metrix bench {train|knn|loss|mix}: throughput benchmarks (never timed tests). The side-by-side
 * comparison with PyTorch is in bench/. */
#include <stdio.h>
#include <string.h>

#include "cmd.h"

int mx_cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: metrix bench {train|knn|loss|mix} [options]   (metrix bench WHAT --help)\n"
               "  train  full training steps of a backbone (forward, loss, backward, optimizer)\n"
               "  knn    exact top-k neighbours of every row of an N x D embedding matrix\n"
               "  loss   forward + backward of a metric loss, clean and with Metrix mixing\n"
               "  mix    trainer steps of one configuration (the cost of a Metrix level)\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "train")) return mx_bench_train(argc - 1, argv + 1);
    if (!strcmp(argv[1], "knn")) return mx_bench_knn(argc - 1, argv + 1);
    if (!strcmp(argv[1], "loss")) return mx_bench_loss(argc - 1, argv + 1);
    if (!strcmp(argv[1], "mix")) return mx_bench_mix(argc - 1, argv + 1);
    fprintf(stderr, "metrix bench: unknown benchmark '%s' (train, knn, loss, mix)\n", argv[1]);
    return 2;
}
