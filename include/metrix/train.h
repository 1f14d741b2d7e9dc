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
    int image_size;   /* crop size fed to the network (ResNet datasets) */
    int resize_size;  /* test-time shorter-side resize */
    int augment;      /* training augmentation on/off */
    int workers;      /* background decoding threads */
    /* network */
    char backbone[MX_CFG_STR]; /* smallcnn | resnet18 | resnet50 */
    int embed_dim;
    char weights[MX_CFG_STR]; /* torchvision weights (.safetensors) for the trunk, "" = random */
    int bn_freeze;            /* BatchNorm in eval mode (running statistics frozen) */
    char conv_algo[MX_CFG_STR]; /* winograd | direct (mx_conv_algo) */
    /* loss */
    char loss[MX_CFG_STR]; /* contrastive | contrastive-cos | ms | proxy-anchor | triplet | proxy-nca */
    float contrastive_pos_margin, contrastive_neg_margin, contrastive_cos_margin;
    float ms_pos_scale, ms_neg_scale, ms_margin, ms_epsilon;
    int ms_miner;
    float pa_alpha, pa_delta;
    float triplet_margin;
    char triplet_mining[MX_CFG_STR]; /* all | semihard | hardest */
    float nca_scale;
    /* Metrix mixing */
    char mix[MX_CFG_STR];       /* none | input | feature | embed */
    char mix_stage[MX_CFG_STR]; /* feature level: backbone stage after which to mix */
    char mix_pairs[MX_CFG_STR]; /* official | posneg | anchorneg | both | negneg | pospos */
    char mix_negatives[MX_CFG_STR]; /* all | hardest | random */
    int mix_k;                      /* negatives per positive for hardest / random */
    float mix_alpha;                /* lambda ~ Beta(alpha, alpha) */
    float mix_weight;               /* w in E = clean + w * mixed */
    int mix_lambda_per_pair;        /* one lambda per pair instead of one per batch */
    /* optimisation */
    char optimizer[MX_CFG_STR]; /* adam | adamw | sgd */
    float lr, weight_decay, momentum;
    int nesterov;
    float proxy_lr_mult; /* learning-rate multiplier of loss parameters (proxies) */
    float clip_value;    /* clip gradients by value (0 = off) */
    float clip_norm;     /* clip gradients by global norm (0 = off) */
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
    int threads; /* 0 = all cores */
    int eval_every;  /* evaluate every N epochs (0 = only at the end) */
    int eval_test;   /* also evaluate the test split during training */
    int memory_mb;   /* memory the run may use, MiB (0 = the system's available memory) */
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

/* ---- the trainer ------------------------------------------------------------------------- */

/* What a progress callback sees, once per step. */
typedef struct mx_train_progress {
    int epoch, epochs;       /* 1-based epoch, total */
    int64_t step, steps;     /* 1-based step within the epoch, steps per epoch */
    double loss;             /* running mean of the total loss over this epoch */
    double images_per_s;     /* clean training images per second over this epoch */
    double eta_s;            /* estimated seconds to the end of the run (training only) */
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
 * the continuation is identical to an uninterrupted run. epochs > 0 extends the run. */
mx_status mx_trainer_resume(const char *run_dir, int epochs, mx_trainer **out);
void mx_trainer_free(mx_trainer *t);
const mx_train_config *mx_trainer_config(const mx_trainer *t);

/* Before allocating, create and resume estimate the run's memory (the network plan's buffers,
 * parameters, gradients, optimizer state, step and mixing buffers, the loader's ring) and fail
 * with MX_ERR_NOMEM naming the options to change (batch, mix_negatives / mix_k, mix_stage) when
 * it exceeds memory_mb or, by default, the system's available memory.
 *
 * Trains until the last epoch, then evaluates the test split and writes report.txt/.json,
 * log.csv and the plots. *stop becoming non-zero (e.g. from a SIGINT handler) makes it save a
 * checkpoint at the current step and return MX_ERR_INTERRUPTED. A NaN or Inf loss returns
 * MX_ERR_NUMERIC; the last good checkpoint stays on disk. */
mx_status mx_trainer_run(mx_trainer *t, const mx_train_callbacks *cb, volatile const int *stop);

/* The final test report text (valid after mx_trainer_run returned MX_OK). */
const char *mx_trainer_report_text(const mx_trainer *t);

/* Opens a finished (or interrupted) run for evaluation: checkpoint "best" (default when NULL),
 * "last", or a file name inside run_dir. Inference only: the network is planned forward-only
 * (activation buffers reused along the pass), no gradients, optimizer state or training
 * buffers are allocated, and only the weights and BN statistics are read from the checkpoint;
 * mx_trainer_run refuses such a trainer. */
mx_status mx_trainer_open(const char *run_dir, const char *checkpoint, mx_trainer **out);
/* L2-normalised embeddings (n x d) and labels (n) of a split, test transform, BN in eval mode.
 * The arrays are the caller's (mx_free). */
mx_status mx_trainer_embed(mx_trainer *t, mx_split split, float **emb, int64_t **labels,
                           int64_t *n);
int mx_trainer_embed_dim(const mx_trainer *t);
/* The full retrieval report of a split (In-Shop's test split: query against gallery). */
mx_status mx_trainer_evaluate(mx_trainer *t, mx_split split, mx_eval_report *rep);

#ifdef __cplusplus
}
#endif
#endif
