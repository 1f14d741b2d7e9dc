/* fuzz_gen_seeds DIR: writes the seed corpora DIR/<reader>/seed_<k> (see fuzz_seeds.h). */
#include <stdio.h>

#include "fuzz_seeds.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    int rc = fz_write_seeds(argv[1]);
    if (rc) fprintf(stderr, "fuzz_gen_seeds: writing seeds failed (groups 0x%x)\n", rc);
    return rc ? 1 : 0;
}
