/* metrix train: the training configuration and the trainer that ties data, network, Metrix
 * mixing, loss, optimizer and evaluation into steps and epochs.
 *
 * The configuration is one plain struct. Every field has a key (its name in config files and the
 * `--key value` flag of `metrix train`), a default, a help line and a validity rule, all in one
 * table (src/train/config.c), so parsing, printing, --help and validation cannot drift apart. */
#ifndef METRIX_TRAIN_H
#define METRIX_TRAIN_H

#include <stdint.h>
#include <stdio.h>

#include "metrix/comm.h"
#include "metrix/core.h"
#include "metrix/data.h"
#include "metrix/eval.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MX_CFG_STR 256

typedef struct mx_train_config {
    /* data */
    char dataset[MX_CFG_STR];   /* fashion-mnist | cub | cars | sop | inshop | folder | list */
    char data_root[MX_CFG_STR]; /* dataset folder ("" = the dataset's default location) */
    char train_list[MX_CFG_STR];
    char test_list[MX_CFG_STR];
    int train_classes_lo, train_classes_hi; /* fashion-mnist class range used for training */
    int test_classes_lo, test_classes_hi;   /* fashion-mnist class range used for testing */
    float val_fraction; /* fraction of training classes held out (class-disjoint) for validation */
    int image_size;     /* crop size fed to the network (ResNet datasets) */
    int resize_size;    /* test-time shorter-side resize */
    int augment;        /* training augmentation on/off */
    int workers;        /* background decoding threads */
    /* network */
    char backbone[MX_CFG_STR]; /* smallcnn | resnet18 | resnet50 */
    int embed_dim;
    char weights[MX_CFG_STR];   /* torchvision weights (.safetensors) for the trunk, "" = random */
    int bn_freeze;              /* BatchNorm in eval mode (running statistics frozen) */
    char conv_algo[MX_CFG_STR]; /* winograd | direct (mx_conv_algo) */
    char precision[MX_CFG_STR]; /* fp32 | bf16 (mx_precision) */
    /* loss */
    char loss[MX_CFG_STR]; /* contrastive | contrastive-cos | ms | proxy-anchor | triplet |
                              proxy-nca */
    float contrastive_pos_margin, contrastive_neg_margin, contrastive_cos_margin;
    float ms_pos_scale, ms_neg_scale, ms_margin, ms_epsilon;
    int ms_miner;
    float pa_alpha, pa_delta;
    float triplet_margin;
    char triplet_mining[MX_CFG_STR]; /* all | semihard | hardest */
    float nca_scale;
    /* Metrix mixing */
    char mix[MX_CFG_STR];           /* none | input | feature | embed */
    char mix_stage[MX_CFG_STR];     /* feature level: backbone stage after which to mix */
    char mix_pairs[MX_CFG_STR];     /* official | posneg | anchorneg | both | negneg | pospos */
    char mix_negatives[MX_CFG_STR]; /* all | hardest | random */
    int mix_k;                      /* negatives per positive for hardest / random */
    float mix_alpha;                /* lambda ~ Beta(alpha, alpha) */
    float mix_weight;               /* w in E = clean + w * mixed */
    int mix_lambda_per_pair;        /* one lambda per pair instead of one per batch */
    char mix_fused[MX_CFG_STR];     /* feature level: fused mixed head auto | on | off */
    int mix_input_max; /* input level: most mixed images per step (0: 2 x batch, -1: no cap) */
    /* optimisation */
    char optimizer[MX_CFG_STR]; /* adam | adamw | sgd */
    float lr, weight_decay, momentum;
    int nesterov;
    float proxy_lr_mult;       /* learning-rate multiplier of loss parameters (proxies) */
    float clip_value;          /* clip gradients by value (0 = off) */
    float clip_norm;           /* clip gradients by global norm (0 = off) */
    char schedule[MX_CFG_STR]; /* none | step | cosine */
    int lr_step;
    float lr_gamma;
    int warmup_epochs; /* epochs training only the head and loss parameters (trunk frozen) */
    /* loop */
    int epochs, batch;
    char sampler[MX_CFG_STR]; /* random | m-per-class */
    int samples_per_class;
    int max_steps_per_epoch; /* 0 = a full epoch */
    uint64_t seed;
    int threads;             /* 0 = all cores */
    int eval_every;          /* evaluate every N epochs (0 = only at the end) */
    int eval_test;           /* also evaluate the test split during training */
    int memory_mb;           /* memory the run may use, MiB (0 = the system's available memory) */
    char output[MX_CFG_STR]; /* run directory ("" = runs/<dataset>-<loss>-<mix>-<seed>) */
} mx_train_config;

/* The embedded default: Fashion-MNIST class-disjoint protocol, smallcnn, d = 128,
 * Multi-Similarity + Metrix/feature, Adam. */
mx_train_config mx_train_config_default(void);

/* Applies a named preset (e.g. "cub-ms-metrix", "sop-contrastive"); MX_ERR_CONFIG names the
 * known presets when the name is unknown. */
mx_status mx_train_config_preset(mx_train_config *cfg, const char *name);
/* Lists the preset names and one-line descriptions. */
void mx_train_config_presets(FILE *f);

/* Sets one key from its text form; errors name the key and the expected values. */
mx_status mx_train_config_set(mx_train_config *cfg, const char *key, const char *value);
/* Reads a JSON object of key: value pairs (numbers, strings, booleans). Unknown keys and bad
 * values are errors naming the file and key. */
mx_status mx_train_config_load(mx_train_config *cfg, const char *path);
/* Checks cross-field rules (ranges, combinations). */
mx_status mx_train_config_validate(const mx_train_config *cfg);
/* Writes the resolved configuration as a JSON object. */
void mx_train_config_write_json(const mx_train_config *cfg, FILE *f);
/* Writes one line per key: "--key VALUE  help (default: X)". */
void mx_train_config_help(FILE *f);
/* The i-th preset's name (0-based), NULL past the last one. */
const char *mx_train_config_preset_name(int i);

/* The evaluation configuration of a dataset's protocol: mx_eval_config_default() with the one
 * table of Recall@K cut-offs every report uses (training, eval --run, the final report):
 * SOP 1,10,100,1000; In-Shop 1,10,20,30,40,50; CUB, Cars, Fashion-MNIST, folder, list 1,2,4,8.
 * dataset: a `dataset` key value (NULL or unknown: 1,2,4,8). */
mx_eval_config mx_train_eval_config(const char *dataset);
/* The table above as one line of text for help texts, into buf (snprintf semantics: returns the
 * length it needs, writes at most cap bytes, NUL-terminated if cap > 0). */
size_t mx_train_recall_ks_help(char *buf, size_t cap);

/* ---- the trainer ------------------------------------------------------------------------- */

/* What a progress callback sees, once per step. */
typedef struct mx_train_progress {
    int epoch, epochs;   /* 1-based epoch, total */
    int64_t step, steps; /* 1-based step within the epoch, steps per epoch */
    double loss;         /* running mean of the total loss over this epoch */
    double images_per_s; /* clean training images per second over this epoch */
    double eta_s;        /* estimated seconds to the end of the run (training only) */
} mx_train_progress;

/* One row of the run's log (log.csv), delivered after every epoch. NaN where not measured. */
typedef struct mx_epoch_summary {
    int epoch;
    double loss, loss_clean, loss_mixed;
    double lr;
    double seconds, images_per_s;
    int trunk_frozen;
    double val_r1, val_map_r;   /* validation split (NaN if none or not evaluated) */
    double test_r1, test_map_r; /* test split (NaN if not evaluated this epoch) */
    int best;                   /* this epoch is the best so far (checkpoint best.safetensors) */
} mx_epoch_summary;

typedef struct mx_train_callbacks {
    void (*progress)(void *user, const mx_train_progress *p);
    void (*epoch_end)(void *user, const mx_epoch_summary *s);
    /* Free-form status lines ("evaluating test split", "saved checkpoint ..."). */
    void (*message)(void *user, const char *msg);
    void *user;
} mx_train_callbacks;

typedef struct mx_trainer mx_trainer;

/* Prepares a new run in run_dir, which must not exist yet (it is created): opens the datasets,
 * builds the network, loss, optimizer and loader, writes run_dir/config.json. */
mx_status mx_trainer_create(const mx_train_config *cfg, const char *run_dir, mx_trainer **out);
/* Reopens run_dir (config.json + checkpoint_last.safetensors) to continue where it stopped;
 * the continuation is identical to an uninterrupted run. epochs > 0 extends the run. A run
 * stopped before its first checkpoint starts again from its config.json. Stale temporary files
 * are removed and log.csv is cut back to the checkpoint's epochs. create and resume lock the
 * directory (one trainer per run) and check that it is writable before any training. */
mx_status mx_trainer_resume(const char *run_dir, int epochs, mx_trainer **out);
/* The same over the ranks of comm (NULL: one process; the communicator is the caller's and must
 * outlive the trainer). Data parallel (docs/scaling.md): cfg->batch is the global batch and must
 * divide by the number of ranks (MX_ERR_CONFIG naming batch otherwise); every rank draws the same
 * batches, decodes and embeds its slice, and evaluates the loss over the whole global batch (all
 * negatives and Metrix pairs of all ranks count), so a step equals the 1-process step with the
 * same batch up to float summation order. threads are per rank. Rank 0 alone writes the run
 * directory; checkpoints hold one copy and resume on any number of ranks. BN in training mode
 * normalises with each rank's slice statistics (running statistics are averaged over the ranks
 * at evaluation and checkpoints); frozen BN (bn_freeze, the Metrix protocol) is exact. A failure
 * on one rank (an unreadable image, a full disk on rank 0) returns on every rank with that rank's
 * message; a stop request on any rank stops all. Every rank must make the same calls. */
mx_status mx_trainer_create_comm(const mx_train_config *cfg, const char *run_dir, mx_comm *comm,
                                 mx_trainer **out);
mx_status mx_trainer_resume_comm(const char *run_dir, int epochs, mx_comm *comm, mx_trainer **out);
void mx_trainer_free(mx_trainer *t);
const mx_train_config *mx_trainer_config(const mx_trainer *t);

/* Before allocating, create and resume estimate the run's memory (the network plan's buffers,
 * parameters, gradients, optimizer state, step and mixing buffers, the loader's ring) and fail
 * with MX_ERR_NOMEM naming the options to change (batch, mix_negatives / mix_k, mix_stage) when
 * it exceeds memory_mb or, by default, the system's available memory.
 *
 * Trains until the last epoch, then evaluates the test split and writes report.txt/.json,
 * log.csv and the plots. *stop becoming non-zero (e.g. from a SIGINT handler) makes it return
 * MX_ERR_INTERRUPTED within about a second: during training steps or an epoch's evaluation it
 * first saves checkpoint_last at the current step; during the final evaluation, report and
 * plots the checkpoints are already complete (a resume redoes the report). A NaN or Inf loss
 * returns MX_ERR_NUMERIC; the last good checkpoint stays on disk. log.csv holds exactly the
 * epochs of checkpoint_last (see docs/reliability.md). */
mx_status mx_trainer_run(mx_trainer *t, const mx_train_callbacks *cb, volatile const int *stop);

/* Cancellation for mx_trainer_evaluate / mx_trainer_embed (mx_trainer_run takes its own): when
 * *stop (may be NULL) becomes non-zero they return MX_ERR_INTERRUPTED within about a second. */
void mx_trainer_set_stop(mx_trainer *t, volatile const int *stop);

/* The final test report text (valid after mx_trainer_run returned MX_OK). */
const char *mx_trainer_report_text(const mx_trainer *t);

/* Opens a finished (or interrupted) run for evaluation: checkpoint "best" (default when NULL),
 * "last", or a file name inside run_dir. Inference only: the network is planned forward-only
 * (activation buffers reused along the pass), no gradients, optimizer state or training
 * buffers are allocated, and only the weights and BN statistics are read from the checkpoint;
 * mx_trainer_run refuses such a trainer. */
mx_status mx_trainer_open(const char *run_dir, const char *checkpoint, mx_trainer **out);
/* The same with a thread count: threads < 0 keeps the run's own (config.json), 0 = all cores.
 * Inference runs on chunks of at most 32 images whatever the run's batch (BN is in eval mode, so
 * only the memory changes: ResNet-50 at 224 needs about 1 GB). */
mx_status mx_trainer_open_threads(const char *run_dir, const char *checkpoint, int threads,
                                  mx_trainer **out);
/* The same over the ranks of comm (NULL: one process; the caller's, outliving the trainer):
 * mx_trainer_evaluate and mx_trainer_embed then embed the split in shards and run the exact kNN
 * sharded (each rank searches its part of the gallery, the lists are merged), with the metrics of
 * a 1-process evaluation on every rank. Every rank must make the same calls. */
mx_status mx_trainer_open_comm(const char *run_dir, const char *checkpoint, int threads,
                               mx_comm *comm, mx_trainer **out);
/* L2-normalised embeddings (n x d) and labels (n) of a split, test transform, BN in eval mode.
 * Every split the run's dataset has: train, val (val_fraction > 0), test, and In-Shop's query and
 * gallery; In-Shop's test is the query rows followed by the gallery rows. An absent split is
 * MX_ERR_ARG naming the splits the run has. The arrays are the caller's (mx_free). */
mx_status mx_trainer_embed(mx_trainer *t, mx_split split, float **emb, int64_t **labels,
                           int64_t *n);
int mx_trainer_embed_dim(const mx_trainer *t);
/* The full retrieval report of a split with the dataset's Recall@K cut-offs: leave-one-out over
 * the split, except In-Shop's test split (query against gallery); In-Shop's query or gallery
 * alone is ranked leave-one-out. */
mx_status mx_trainer_evaluate(mx_trainer *t, mx_split split, mx_eval_report *rep);
/* Retrieval picture (PNG at path) of a split: n_queries queries drawn by a fixed seed (the same
 * ones for every run on the same dataset), each followed by its k nearest neighbours in the split
 * (itself excluded; In-Shop's test split: queries against the gallery), framed green for the
 * query's class, red otherwise, with class names (Fashion-MNIST's, folder names, else ids).
 * Every training run writes <run>/retrievals.png with 8 queries x 8 neighbours. */
#define MX_RETRIEVALS_SEED 2022
mx_status mx_trainer_retrievals(mx_trainer *t, mx_split split, const char *path, int n_queries,
                                int k);

/* A user's own images (metrix embed --images, metrix search): decoded by the caller, e.g. with
 * mx_image_load(path, mx_trainer_image_min_short(t), &im), any size, gray or RGB. They go
 * through the run's test-time transform (a run whose test images need no geometry, such as
 * Fashion-MNIST, resizes the shorter side to the input size and centre-crops), the model in
 * eval mode, and are L2-normalised into emb (n x d, the caller's). Any n: batches of the run's
 * batch size. */
mx_status mx_trainer_embed_images(mx_trainer *t, int64_t n, const mx_image *images, float *emb);
/* The shorter side the test-time transform needs from the decoder (min_short of mx_image_load). */
int mx_trainer_image_min_short(const mx_trainer *t);

#ifdef __cplusplus
}
#endif
#endif
