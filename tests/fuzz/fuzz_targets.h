/* Reader entry points shared by the libFuzzer harnesses (tests/fuzz/fuzz_<reader>.c) and the
 * regression ctest (tests/test_train_reliability.c): each feeds one input to a metrix reader and
 * returns 0 when the reader behaved (accepted it with a consistent result, or rejected it with a
 * message), 1 otherwise. Crashes, leaks and sanitizer reports are caught by the sanitizers.
 *
 * Readers that take a path get the input written to a file in a private temp folder (made once
 * per process, removed at exit). */
#ifndef MX_FUZZ_TARGETS_H
#define MX_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

int fz_npy(const uint8_t *data, size_t size);         /* mx_npy_read */
int fz_safetensors(const uint8_t *data, size_t size); /* mx_st_open + every tensor read */
int fz_checkpoint(const uint8_t *data, size_t size);  /* mx_ckpt_open + typed reads */
int fz_config(const uint8_t *data, size_t size);      /* mx_train_config_load + validate */
/* Fashion-MNIST reader: the input is u32 LE n, then n bytes of the images file, then the labels
 * file (both IDX, gzipped or not). */
int fz_idx(const uint8_t *data, size_t size);
/* Index readers: byte 0 selects list (0), CUB (1), SOP (2), In-Shop (3) (mod 4), byte 1 the
 * split; the rest is the index file (CUB: images.txt, a NUL byte, image_class_labels.txt). */
int fz_index(const uint8_t *data, size_t size);
/* mx_decoder_decode with ONE decoder for the whole process, checked against a fresh decoder:
 * the two must agree (catches state left behind by an earlier damaged input). */
int fz_image(const uint8_t *data, size_t size);
int fz_mat(const uint8_t *data, size_t size); /* as cars_annos.mat of a Cars196 folder */

typedef int (*fz_fn)(const uint8_t *data, size_t size);
typedef struct fz_reader {
    const char *name;
    fz_fn fn;
} fz_reader;
extern const fz_reader fz_readers[]; /* NULL-terminated */

/* 1 when the last fz_* call's reader accepted its input (the ctest checks seeds are valid). */
extern int fz_last_accepted;

/* Frees the shared decoder and removes the temp folder (also registered with atexit). */
void fz_cleanup(void);

#endif
