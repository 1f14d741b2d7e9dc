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

#ifdef __cplusplus
}
#endif
#endif
