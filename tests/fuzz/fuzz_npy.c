/* libFuzzer harness for the npy reader: fz_npy (tests/fuzz/fuzz_targets.h) on each input; a
 * misbehaving reader aborts, sanitizers report the rest. Built by -DMX_FUZZ=ON (clang). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fz_npy(data, size)) abort();
    return 0;
}
