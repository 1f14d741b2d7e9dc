/* metrix bench loss: placeholder until its module lands (replaced by the module's owner). */
#include <stdio.h>

#include "cmd.h"

int mx_bench_loss(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "metrix bench loss: not built yet\n");
    return 1;
}
