/* Seed corpora for the fuzz harnesses (tests/fuzz/fuzz_seeds.c). */
#ifndef MX_FUZZ_SEEDS_H
#define MX_FUZZ_SEEDS_H

/* Writes dir/<reader>/seed_<k> for every reader of fuzz_targets.h; returns 0 on success (else a
 * bit mask of the groups that failed: 1 io, 2 config, 4 idx, 8 index, 16 image, 32 mat). */
int fz_write_seeds(const char *dir);

#endif
