/* libFuzzer harness for the idx reader: fz_idx (tests/fuzz/fuzz_targets.h) on each input; a
 * misbehaving reader aborts, sanitizers report the rest. Built by -DMX_FUZZ=ON (clang). */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_targets.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (fz_idx(data, size)) abort();
    return 0;
}
