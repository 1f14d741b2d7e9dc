/* The training configuration: one table of keys drives defaults, parsing (flags and JSON files),
 * validation, printing and --help. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "core/core_impl.h"
#include "metrix/train.h"

typedef enum { K_STR, K_INT, K_FLOAT, K_BOOL, K_U64 } key_type;

typedef struct cfg_key {
    const char *key;
    key_type type;
    size_t offset;
    const char *choices; /* K_STR: "a|b|c" or NULL for free text */
    double lo, hi;       /* K_INT / K_FLOAT: inclusive range */
    const char *help;
} cfg_key;

#define OFF(f) offsetof(mx_train_config, f)
#define S(k, f, ch, h) {k, K_STR, OFF(f), ch, 0, 0, h}
#define I(k, f, lo, hi, h) {k, K_INT, OFF(f), NULL, lo, hi, h}
#define F(k, f, lo, hi, h) {k, K_FLOAT, OFF(f), NULL, lo, hi, h}
#define B(k, f, h) {k, K_BOOL, OFF(f), NULL, 0, 1, h}

static const cfg_key keys[] = {
    S("dataset", dataset, "fashion-mnist|cub|cars|sop|inshop|folder|list|glyphs",
      "dataset (glyphs: CJK / Hangul characters rendered from the installed fonts, cached under "
      "data_root, default ~/.cache/metrix/glyphs)"),
    S("data_root", data_root, NULL, "dataset folder (empty: the dataset's default location)"),
    S("train_list", train_list, NULL,
      "dataset list: file of 'path label' lines; alone, its sorted classes are split in "
      "class-disjoint halves (first train, second test). Absolute paths are used as they are, "
      "relative ones against data_root when set, else the list's folder"),
    S("test_list", test_list, NULL,
      "dataset list: a second file for testing (train_list is then used whole for training)"),
    I("train_classes_lo", train_classes_lo, 0, 9, "fashion-mnist: first training class"),
    I("train_classes_hi", train_classes_hi, 0, 9, "fashion-mnist: last training class"),
    I("test_classes_lo", test_classes_lo, 0, 9, "fashion-mnist: first test class"),
    I("test_classes_hi", test_classes_hi, 0, 9, "fashion-mnist: last test class"),
    F("val_fraction", val_fraction, 0, 0.9,
      "fraction of training classes held out for validation and model selection (class-disjoint; "
      "0: none, the best checkpoint is then the last)"),
    I("image_size", image_size, 8, 1024, "network input crop size (image datasets)"),
    I("resize_size", resize_size, 8, 2048, "test-time shorter-side resize (image datasets)"),
    B("augment", augment, "training augmentation"),
    I("workers", workers, 0, 64, "background decoding threads"),
    S("backbone", backbone, "smallcnn|resnet18|resnet50", "network trunk"),
    I("embed_dim", embed_dim, 2, 8192, "embedding dimension d"),
    S("weights", weights, NULL, "torchvision weights (.safetensors) for the trunk (empty: random init)"),
    B("bn_freeze", bn_freeze, "BatchNorm in eval mode: running statistics frozen"),
    S("conv_algo", conv_algo, "winograd|direct",
      "convolution algorithm: winograd (3x3 stride-1 layers, faster, ~1e-4 relative error) or "
      "direct everywhere"),
    S("precision", precision, "fp32|bf16",
      "trunk activations: fp32, or bf16 mixed precision (CPUs with AVX512-BF16; float weights, "
      "gradients, BN statistics, head, loss and mixing; docs/precision.md)"),
    S("loss", loss, "contrastive|contrastive-cos|ms|proxy-anchor|triplet|proxy-nca", "metric loss"),
    F("contrastive_pos_margin", contrastive_pos_margin, 0, 4, "contrastive: positive distance margin"),
    F("contrastive_neg_margin", contrastive_neg_margin, 0, 4, "contrastive: negative distance margin"),
    F("contrastive_cos_margin", contrastive_cos_margin, -1, 1,
      "contrastive-cos: negative similarity margin m in [s - m]_+"),
    F("ms_pos_scale", ms_pos_scale, 1e-6, 1e4, "multi-similarity: positive scale (beta)"),
    F("ms_neg_scale", ms_neg_scale, 1e-6, 1e4, "multi-similarity: negative scale (gamma)"),
    F("ms_margin", ms_margin, -1, 1, "multi-similarity: margin m"),
    F("ms_epsilon", ms_epsilon, 0, 2, "multi-similarity miner: epsilon"),
    B("ms_miner", ms_miner, "multi-similarity: use the miner"),
    F("pa_alpha", pa_alpha, 1e-6, 1e4, "proxy-anchor: scale alpha"),
    F("pa_delta", pa_delta, -1, 1, "proxy-anchor: margin delta"),
    F("triplet_margin", triplet_margin, 0, 4, "triplet: distance margin"),
    S("triplet_mining", triplet_mining, "all|semihard|hardest", "triplet: which triplets"),
    F("nca_scale", nca_scale, 1e-6, 1e4, "proxy-nca: softmax scale"),
    S("mix", mix, "none|input|feature|embed",
      "Metrix mixing level (none: the baseline). Cost per step: embed ~ none; feature (after the "
      "last stage: fused head) ~ none + O(M C) pooling and one M x C x d GEMM; input: one full "
      "forward + backward pass per mixed image (capped by mix_input_max)"),
    S("mix_stage", mix_stage, NULL,
      "feature mixing: stage after which feature maps are mixed (empty: the last stage)"),
    S("mix_pairs", mix_pairs, "official|posneg|anchorneg|both|negneg|pospos",
      "mixed pairs (official: positive-negative or anchor-negative, 50/50 per batch)"),
    S("mix_negatives", mix_negatives, "all|hardest|random",
      "negatives mixed with each positive"),
    I("mix_k", mix_k, 1, 1000000, "negatives per positive for hardest / random"),
    F("mix_alpha", mix_alpha, 1e-3, 1e3, "lambda ~ Beta(alpha, alpha)"),
    F("mix_weight", mix_weight, 0, 100, "w in loss = clean + w * mixed"),
    B("mix_lambda_per_pair", mix_lambda_per_pair, "one lambda per mixed pair (default: per batch)"),
    S("mix_fused", mix_fused, "auto|on|off",
      "feature level: pool the mixed maps straight from the clean ones (fused head, O(M C) memory) "
      "instead of writing M mixed maps through the head; auto: fused when only the head follows "
      "mix_stage (on: error otherwise; off: the unfused path)"),
    I("mix_input_max", mix_input_max, -1, 100000000,
      "input level: most mixed images per step, a random subset of the selected pairs; each costs "
      "a full forward + backward pass (all negatives at batch 128: 16256 passes, ~117x the "
      "baseline step). 0: 2 x batch (a step ~3x the baseline); -1: no cap"),
    S("optimizer", optimizer, "adam|adamw|sgd", "optimizer"),
    F("lr", lr, 0, 10, "base learning rate"),
    F("weight_decay", weight_decay, 0, 10, "weight decay (L2 for adam / sgd, decoupled for adamw)"),
    F("momentum", momentum, 0, 1, "sgd momentum"),
    B("nesterov", nesterov, "sgd: Nesterov momentum"),
    F("proxy_lr_mult", proxy_lr_mult, 0, 1e6, "learning-rate multiplier of loss parameters (proxies)"),
    F("clip_value", clip_value, 0, 1e9, "clip gradients by value (0: off)"),
    F("clip_norm", clip_norm, 0, 1e9, "clip gradients by global norm (0: off)"),
    S("schedule", schedule, "none|step|cosine", "learning-rate schedule"),
    I("lr_step", lr_step, 1, 100000, "step schedule: epochs between decays"),
    F("lr_gamma", lr_gamma, 0, 1, "step schedule: decay factor"),
    I("warmup_epochs", warmup_epochs, 0, 100000,
      "epochs training only the embedding head and loss parameters (trunk frozen)"),
    I("epochs", epochs, 1, 100000, "training epochs"),
    I("batch", batch, 2, 100000, "batch size"),
    S("sampler", sampler, "random|m-per-class", "batch sampler"),
    I("samples_per_class", samples_per_class, 1, 100000, "m-per-class sampler: images per class"),
    I("max_steps_per_epoch", max_steps_per_epoch, 0, 100000000, "cap on steps per epoch (0: full)"),
    {"seed", K_U64, OFF(seed), NULL, 0, 0, "random seed (init, sampling, augmentation, mixing)"},
    I("threads", threads, 0, 1024, "threads (0: all cores)"),
    I("eval_every", eval_every, 0, 100000, "evaluate every N epochs (0: only at the end)"),
    B("eval_test", eval_test, "also evaluate the test split during training"),
    I("memory_mb", memory_mb, 0, 1000000000,
      "memory the run may use in MiB, checked before training starts (0: what the system has "
      "available)"),
    S("output", output, NULL, "run directory (empty: runs/<dataset>-<loss>-<mix>-s<seed>)"),
};
#define N_KEYS (sizeof keys / sizeof keys[0])

mx_train_config mx_train_config_default(void) {
    mx_train_config c;
    memset(&c, 0, sizeof c);
    strcpy(c.dataset, "fashion-mnist");
    c.train_classes_lo = 0, c.train_classes_hi = 4;
    c.test_classes_lo = 5, c.test_classes_hi = 9;
    c.val_fraction = 0.0f;
    c.image_size = 224, c.resize_size = 256;
    c.augment = 1;
    c.workers = 1;
    strcpy(c.backbone, "smallcnn");
    c.embed_dim = 128;
    c.bn_freeze = 0;
    strcpy(c.conv_algo, "winograd");
    strcpy(c.precision, "fp32");
    strcpy(c.loss, "ms");
    c.contrastive_pos_margin = 0.0f, c.contrastive_neg_margin = 0.5f;
    c.contrastive_cos_margin = 0.5f;
    c.ms_pos_scale = 17.97f, c.ms_neg_scale = 75.66f, c.ms_margin = 0.77f, c.ms_epsilon = 0.39f;
    c.ms_miner = 1;
    c.pa_alpha = 32.0f, c.pa_delta = 0.1f;
    c.triplet_margin = 0.05f;
    strcpy(c.triplet_mining, "all");
    c.nca_scale = 10.0f;
    strcpy(c.mix, "feature");
    strcpy(c.mix_pairs, "official");
    strcpy(c.mix_negatives, "random"); /* see docs/results.md: hardest-5 hurt, all is 7x slower */
    c.mix_k = 5;
    c.mix_alpha = 2.0f, c.mix_weight = 0.4f;
    strcpy(c.mix_fused, "auto");
    c.mix_input_max = 0;
    strcpy(c.optimizer, "adam");
    c.lr = 1e-3f, c.weight_decay = 1e-4f, c.momentum = 0.9f;
    c.proxy_lr_mult = 100.0f;
    c.clip_value = 10.0f;
    strcpy(c.schedule, "step");
    c.lr_step = 5, c.lr_gamma = 0.5f;
    c.warmup_epochs = 0;
    c.epochs = 8, c.batch = 128;
    strcpy(c.sampler, "random"); /* 5 training classes: random batches have positives */
    c.samples_per_class = 8;
    c.seed = 1;
    c.threads = 0;
    c.eval_every = 1;
    c.eval_test = 1;
    return c;
}

/* ---- presets ----------------------------------------------------------------------------- */

typedef struct preset {
    const char *name, *help;
    const char *kv; /* "key=value;key=value" applied over the current config */
} preset;

#define PAPER_COMMON                                                                               \
    "backbone=resnet50;embed_dim=512;batch=100;optimizer=adam;lr=1e-4;weight_decay=1e-4;"          \
    "schedule=step;bn_freeze=1;warmup_epochs=5;image_size=224;resize_size=256;clip_value=10;"      \
    "proxy_lr_mult=100;sampler=random;workers=2;eval_every=1;mix_negatives=all;"
#define MS_LOSS "loss=ms;ms_pos_scale=17.97;ms_neg_scale=75.66;ms_margin=0.77;ms_epsilon=0.39;"
#define CUB_CARS_MS "lr_step=5;lr_gamma=0.5;epochs=60;"
#define SOP_MS "lr=6e-4;lr_step=20;lr_gamma=0.25;epochs=60;warmup_epochs=1;bn_freeze=0;"        \
               "sampler=m-per-class;samples_per_class=5;"

#define CUB_METRIX "lr_step=10;lr_gamma=0.5;epochs=100;"
#define SOP_CONTRASTIVE                                                                            \
    "loss=contrastive;lr=3e-5;lr_step=10;lr_gamma=0.25;epochs=60;sampler=m-per-class;"             \
    "samples_per_class=5;"
#define INSHOP_CONTRASTIVE                                                                         \
    "loss=contrastive;lr=1e-4;lr_step=10;lr_gamma=0.25;epochs=60;sampler=m-per-class;"             \
    "samples_per_class=5;"

/* ---- glyphs presets (issue 12; experiments/PROTOCOL.md) ---------------------------------
 * Many classes, few instances (the SOP regime): characters rendered from Debian's CJK / Hangul
 * fonts, 16 x 16 gray, smallcnn. Kept in one block; GLYPHS_COMMON is the pre-registered
 * protocol. */
#define GLYPHS_COMMON                                                                              \
    "dataset=glyphs;backbone=smallcnn;embed_dim=128;batch=100;sampler=m-per-class;"               \
    "samples_per_class=5;optimizer=adam;lr=1e-3;weight_decay=1e-4;schedule=step;lr_step=2;"        \
    "lr_gamma=0.3;epochs=3;max_steps_per_epoch=350;val_fraction=0.1;eval_every=1;eval_test=0;"     \
    "warmup_epochs=0;"                                                                             \
    "clip_value=10;proxy_lr_mult=100;workers=1;mix_negatives=random;mix_k=5;mix_weight=0.4;"
#define GLYPHS_PRESETS                                                                             \
    {"glyphs", "glyphs (CJK / Hangul characters from the installed fonts), Multi-Similarity "      \
               "baseline",                                                                         \
     GLYPHS_COMMON MS_LOSS "mix=none"},                                                            \
        {"glyphs-ms", "glyphs, Multi-Similarity baseline of glyphs-ms-metrix (= glyphs)",          \
         GLYPHS_COMMON MS_LOSS "mix=none"},                                                        \
        {"glyphs-ms-metrix", "glyphs, Multi-Similarity + Metrix/feature",                          \
         GLYPHS_COMMON MS_LOSS "mix=feature"},                                                     \
        {"glyphs-contrastive", "glyphs, Contrastive baseline",                                     \
         GLYPHS_COMMON "loss=contrastive;mix=none"},                                               \
        {"glyphs-contrastive-metrix", "glyphs, Contrastive + Metrix/feature",                      \
         GLYPHS_COMMON "loss=contrastive;mix=feature"},                                            \
        {"glyphs-pa", "glyphs, ProxyAnchor baseline", GLYPHS_COMMON "loss=proxy-anchor;mix=none"}, \
        {"glyphs-pa-metrix", "glyphs, ProxyAnchor + Metrix/feature",                               \
         GLYPHS_COMMON "loss=proxy-anchor;mix=feature"},
/* ---- end of the glyphs presets ----------------------------------------------------------- */

static const preset presets[] = {
    {"fashion-mnist", "the embedded default (smallcnn, MS + Metrix/feature)", ""},
    /* Every X-metrix preset has its baseline X: the same protocol (data, network, optimiser,
     * schedule), mixing off. Where the official README trains the baseline with other settings,
     * those are X-readme. */
    {"cub-ms", "CUB-200-2011, Multi-Similarity baseline of cub-ms-metrix",
     "dataset=cub;" PAPER_COMMON MS_LOSS CUB_METRIX "mix=none"},
    {"cub-ms-readme",
     "CUB-200-2011, Multi-Similarity baseline, the README's schedule (method.md 5.2)",
     "dataset=cub;" PAPER_COMMON MS_LOSS CUB_CARS_MS "mix=none"},
    {"cub-ms-metrix", "CUB-200-2011, Multi-Similarity + Metrix/feature, 100 epochs",
     "dataset=cub;" PAPER_COMMON MS_LOSS CUB_METRIX "mix=feature"},
    {"cub-contrastive", "CUB-200-2011, Contrastive baseline",
     "dataset=cub;" PAPER_COMMON "loss=contrastive;lr_step=10;lr_gamma=0.1;epochs=60;mix=none"},
    {"cub-contrastive-metrix", "CUB-200-2011, Contrastive + Metrix/feature",
     "dataset=cub;" PAPER_COMMON "loss=contrastive;lr_step=10;lr_gamma=0.1;epochs=60;mix=feature"},
    {"cub-pa", "CUB-200-2011, ProxyAnchor baseline of cub-pa-metrix",
     "dataset=cub;" PAPER_COMMON "loss=proxy-anchor;" CUB_METRIX "mix=none"},
    {"cub-pa-readme", "CUB-200-2011, ProxyAnchor baseline, the README's schedule",
     "dataset=cub;" PAPER_COMMON "loss=proxy-anchor;" CUB_CARS_MS "mix=none"},
    {"cub-pa-metrix", "CUB-200-2011, ProxyAnchor + Metrix/feature",
     "dataset=cub;" PAPER_COMMON "loss=proxy-anchor;" CUB_METRIX "mix=feature"},
    {"cars-ms", "Cars196, Multi-Similarity baseline",
     "dataset=cars;" PAPER_COMMON MS_LOSS CUB_CARS_MS "mix=none"},
    {"cars-ms-metrix", "Cars196, Multi-Similarity + Metrix/feature",
     "dataset=cars;" PAPER_COMMON MS_LOSS CUB_CARS_MS "mix=feature"},
    {"cars-contrastive", "Cars196, Contrastive baseline",
     "dataset=cars;" PAPER_COMMON "loss=contrastive;lr_step=10;lr_gamma=0.1;epochs=60;mix=none"},
    {"cars-pa", "Cars196, ProxyAnchor baseline",
     "dataset=cars;" PAPER_COMMON "loss=proxy-anchor;" CUB_CARS_MS "mix=none"},
    {"cars-pa-metrix", "Cars196, ProxyAnchor + Metrix/feature",
     "dataset=cars;" PAPER_COMMON "loss=proxy-anchor;" CUB_CARS_MS "mix=feature"},
    {"sop-ms", "Stanford Online Products, Multi-Similarity baseline",
     "dataset=sop;" PAPER_COMMON MS_LOSS SOP_MS "mix=none"},
    {"sop-ms-metrix", "Stanford Online Products, Multi-Similarity + Metrix/feature",
     "dataset=sop;" PAPER_COMMON MS_LOSS SOP_MS "mix=feature"},
    {"sop-contrastive", "Stanford Online Products, Contrastive baseline of sop-contrastive-metrix",
     "dataset=sop;" PAPER_COMMON SOP_CONTRASTIVE "mix=none"},
    {"sop-contrastive-readme", "Stanford Online Products, Contrastive baseline, the README's "
     "settings (BatchNorm trained)",
     "dataset=sop;" PAPER_COMMON SOP_CONTRASTIVE "bn_freeze=0;mix=none"},
    {"sop-contrastive-metrix", "Stanford Online Products, Contrastive + Metrix/feature",
     "dataset=sop;" PAPER_COMMON SOP_CONTRASTIVE "mix=feature"},
    {"inshop-ms", "In-Shop, Multi-Similarity baseline",
     "dataset=inshop;" PAPER_COMMON MS_LOSS SOP_MS "mix=none"},
    {"inshop-ms-metrix", "In-Shop, Multi-Similarity + Metrix/feature",
     "dataset=inshop;" PAPER_COMMON MS_LOSS SOP_MS "mix=feature"},
    {"inshop-contrastive", "In-Shop, Contrastive baseline of inshop-contrastive-metrix",
     "dataset=inshop;" PAPER_COMMON INSHOP_CONTRASTIVE "mix=none"},
    {"inshop-contrastive-readme", "In-Shop, Contrastive baseline, the README's settings "
     "(lr 3e-5, step 5, 1 warm-up epoch, BatchNorm trained)",
     "dataset=inshop;" PAPER_COMMON "loss=contrastive;lr=3e-5;lr_step=5;lr_gamma=0.25;epochs=60;"
     "warmup_epochs=1;bn_freeze=0;sampler=m-per-class;samples_per_class=5;mix=none"},
    {"inshop-contrastive-metrix", "In-Shop, Contrastive + Metrix/feature",
     "dataset=inshop;" PAPER_COMMON INSHOP_CONTRASTIVE "mix=feature"},
    GLYPHS_PRESETS
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

static const cfg_key *find_key(const char *k) {
    for (size_t i = 0; i < N_KEYS; i++)
        if (!strcmp(keys[i].key, k)) return &keys[i];
    return NULL;
}

static int in_choices(const char *choices, const char *v) {
    size_t n = strlen(v);
    const char *p = choices;
    while (*p) {
        const char *e = strchr(p, '|');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == n && !strncmp(p, v, n)) return 1;
        if (!e) break;
        p = e + 1;
    }
    return 0;
}

mx_status mx_train_config_set(mx_train_config *cfg, const char *key, const char *value) {
    const cfg_key *k = find_key(key);
    if (!k) return mx_error(MX_ERR_CONFIG, "unknown configuration key '%s' (metrix train --help lists them)", key);
    char *field = (char *)cfg + k->offset;
    char *end = NULL;
    errno = 0;
    switch (k->type) {
    case K_STR:
        if (k->choices && !in_choices(k->choices, value))
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not one of %s", key, value, k->choices);
        if (strlen(value) >= MX_CFG_STR)
            return mx_error(MX_ERR_CONFIG, "%s: value longer than %d characters", key, MX_CFG_STR - 1);
        strcpy(field, value);
        return MX_OK;
    case K_INT: {
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < k->lo || v > k->hi)
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not an integer in [%g, %g]", key, value, k->lo,
                            k->hi);
        *(int *)field = (int)v;
        return MX_OK;
    }
    case K_FLOAT: {
        double v = strtod(value, &end);
        if (errno || end == value || *end || !isfinite(v) || v < k->lo || v > k->hi)
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not a number in [%g, %g]", key, value, k->lo,
                            k->hi);
        *(float *)field = (float)v;
        return MX_OK;
    }
    case K_BOOL:
        if (!strcmp(value, "1") || !strcmp(value, "true") || !strcmp(value, "yes") || !strcmp(value, "on"))
            *(int *)field = 1;
        else if (!strcmp(value, "0") || !strcmp(value, "false") || !strcmp(value, "no") ||
                 !strcmp(value, "off"))
            *(int *)field = 0;
        else
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not a boolean (true/false, 1/0)", key, value);
        return MX_OK;
    case K_U64: {
        if (value[0] == '-')
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not an integer in [0, %" PRId64 "]", key,
                            value, INT64_MAX);
        unsigned long long v = strtoull(value, &end, 10);
        if (errno || end == value || *end || v > INT64_MAX) /* JSON files hold int64 exactly */
            return mx_error(MX_ERR_CONFIG, "%s: '%s' is not an integer in [0, %" PRId64 "]", key,
                            value, INT64_MAX);
        *(uint64_t *)field = (uint64_t)v;
        return MX_OK;
    }
    }
    return mx_error(MX_ERR_INTERNAL, "%s: bad key type", key);
}

mx_status mx_train_config_preset(mx_train_config *cfg, const char *name) {
    for (size_t i = 0; i < N_PRESETS; i++) {
        if (strcmp(presets[i].name, name)) continue;
        char buf[2048];
        snprintf(buf, sizeof buf, "%s", presets[i].kv);
        char *save = NULL;
        for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
            char *eq = strchr(kv, '=');
            MX_ASSERT(eq);
            *eq = '\0';
            mx_status s = mx_train_config_set(cfg, kv, eq + 1);
            MX_ASSERT(s == MX_OK); /* presets are checked by the tests */
        }
        return MX_OK;
    }
    char names[2048] = "";
    for (size_t i = 0; i < N_PRESETS; i++) {
        strncat(names, i ? ", " : "", sizeof names - strlen(names) - 1);
        strncat(names, presets[i].name, sizeof names - strlen(names) - 1);
    }
    return mx_error(MX_ERR_CONFIG, "unknown preset '%s' (known: %s)", name, names);
}

const char *mx_train_config_preset_name(int i) {
    return i >= 0 && (size_t)i < N_PRESETS ? presets[i].name : NULL;
}

void mx_train_config_presets(FILE *f) {
    for (size_t i = 0; i < N_PRESETS; i++) fprintf(f, "  %-26s %s\n", presets[i].name, presets[i].help);
}

/* Parses the JSON file at path into *root; errors name the file and, for a syntax error, the
 * line and column json-c stopped at. */
static mx_status parse_json_file(const char *path, json_object **root) {
    *root = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mx_error(MX_ERR_IO, "%s: cannot open configuration file", path);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            char *nb = cap < (1u << 24) ? realloc(buf, cap = cap ? 2 * cap : 4096) : NULL;
            if (!nb) {
                free(buf);
                fclose(f);
                return mx_error(MX_ERR_NOMEM, "%s: configuration file too large", path);
            }
            buf = nb;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int rerr = ferror(f);
    fclose(f);
    if (rerr) {
        free(buf);
        return mx_error(MX_ERR_IO, "%s: read error", path);
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        free(buf);
        return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    }
    *root = json_tokener_parse_ex(tok, buf, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    size_t rest = end; /* only white space may follow the value */
    while (*root && rest < len && strchr(" \t\r\n", buf[rest])) rest++;
    mx_status st = MX_OK;
    if (e == json_tokener_continue || (!*root && e == json_tokener_success)) {
        st = mx_error(MX_ERR_FORMAT, "%s: empty or truncated JSON", path);
    } else if (!*root || rest < len) {
        size_t at = *root ? rest : end, line = 1, col = 1;
        for (size_t i = 0; i < at && i < len; i++)
            line += buf[i] == '\n', col = buf[i] == '\n' ? 1 : col + 1;
        st = mx_error(MX_ERR_FORMAT, "%s: line %zu, column %zu (byte %zu): not valid JSON (%s)",
                      path, line, col, at,
                      *root ? "text after the value" : json_tokener_error_desc(e));
    }
    free(buf);
    if (st != MX_OK) {
        json_object_put(*root);
        *root = NULL;
    }
    return st;
}

mx_status mx_train_config_load(mx_train_config *cfg, const char *path) {
    json_object *root;
    MX_TRY(parse_json_file(path, &root));
    if (!json_object_is_type(root, json_type_object)) {
        json_object_put(root);
        return mx_error(MX_ERR_FORMAT, "%s: expected a JSON object of key: value pairs", path);
    }
    mx_status st = MX_OK;
    json_object_object_foreach(root, key, val) {
        char text[MX_CFG_STR + 64];
        switch (json_object_get_type(val)) {
        case json_type_string: snprintf(text, sizeof text, "%s", json_object_get_string(val)); break;
        case json_type_boolean: snprintf(text, sizeof text, "%d", json_object_get_boolean(val)); break;
        case json_type_int: /* json-c saturates at INT64_MAX (int64) / UINT64_MAX (uint64) */
            if (json_object_get_uint64(val) > (uint64_t)INT64_MAX)
                snprintf(text, sizeof text, "more than %" PRId64, INT64_MAX);
            else
                snprintf(text, sizeof text, "%" PRId64, json_object_get_int64(val));
            break;
        case json_type_double: snprintf(text, sizeof text, "%.9g", json_object_get_double(val)); break;
        default:
            st = mx_error(MX_ERR_CONFIG, "%s: key '%s': expected a string, number or boolean", path, key);
            goto done;
        }
        st = mx_train_config_set(cfg, key, text);
        if (st != MX_OK) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", mx_errmsg());
            st = mx_error(st, "%s: %s", path, msg);
            goto done;
        }
    }
done:
    json_object_put(root);
    return st;
}

mx_status mx_train_config_validate(const mx_train_config *c) {
    if (c->train_classes_lo > c->train_classes_hi)
        return mx_error(MX_ERR_CONFIG, "train_classes_lo (%d) > train_classes_hi (%d)",
                        c->train_classes_lo, c->train_classes_hi);
    if (c->test_classes_lo > c->test_classes_hi)
        return mx_error(MX_ERR_CONFIG, "test_classes_lo (%d) > test_classes_hi (%d)",
                        c->test_classes_lo, c->test_classes_hi);
    if (!strcmp(c->sampler, "m-per-class") && c->batch % c->samples_per_class)
        return mx_error(MX_ERR_CONFIG, "batch (%d) must be a multiple of samples_per_class (%d)",
                        c->batch, c->samples_per_class);
    if (!strcmp(c->dataset, "list") && !c->train_list[0])
        return mx_error(MX_ERR_CONFIG,
                        "dataset list needs train_list (alone: its classes are split in "
                        "class-disjoint halves; with test_list: the two files)");
    if (!strcmp(c->dataset, "folder") && !c->data_root[0])
        return mx_error(MX_ERR_CONFIG, "dataset folder needs data_root");
    if (!strcmp(c->dataset, "fashion-mnist") && strcmp(c->backbone, "smallcnn"))
        return mx_error(MX_ERR_CONFIG, "dataset fashion-mnist (1x28x28) needs backbone smallcnn, "
                                       "not %s", c->backbone);
    if (strcmp(c->dataset, "fashion-mnist") && strcmp(c->dataset, "glyphs") &&
        !strcmp(c->backbone, "smallcnn"))
        return mx_error(MX_ERR_CONFIG, "backbone smallcnn is for fashion-mnist and glyphs; use "
                                       "resnet18 or resnet50 for %s", c->dataset);
    if (c->image_size > c->resize_size)
        return mx_error(MX_ERR_CONFIG, "image_size (%d) > resize_size (%d)", c->image_size,
                        c->resize_size);
    return MX_OK;
}

static void write_value(const cfg_key *k, const mx_train_config *cfg, FILE *f, int json) {
    const char *field = (const char *)cfg + k->offset;
    switch (k->type) {
    case K_STR:
        if (json) {
            fputc('"', f);
            for (const char *p = field; *p; p++) {
                if (*p == '"' || *p == '\\') fputc('\\', f);
                fputc(*p, f);
            }
            fputc('"', f);
        } else
            fprintf(f, "'%s'", field);
        break;
    case K_INT: fprintf(f, "%d", *(const int *)field); break;
    case K_FLOAT: {
        /* shortest text that reads back as the same float */
        float v = *(const float *)field;
        char buf[32];
        for (int prec = 6; prec <= 9; prec++) {
            snprintf(buf, sizeof buf, "%.*g", prec, (double)v);
            if (strtof(buf, NULL) == v) break;
        }
        fputs(buf, f);
        break;
    }
    case K_BOOL: fprintf(f, "%s", *(const int *)field ? "true" : "false"); break;
    case K_U64: fprintf(f, "%" PRIu64, *(const uint64_t *)field); break;
    }
}

void mx_train_config_write_json(const mx_train_config *cfg, FILE *f) {
    fprintf(f, "{\n");
    for (size_t i = 0; i < N_KEYS; i++) {
        fprintf(f, "  \"%s\": ", keys[i].key);
        write_value(&keys[i], cfg, f, 1);
        fprintf(f, "%s\n", i + 1 < N_KEYS ? "," : "");
    }
    fprintf(f, "}\n");
}

void mx_train_config_help(FILE *f) {
    mx_train_config d = mx_train_config_default();
    for (size_t i = 0; i < N_KEYS; i++) {
        const cfg_key *k = &keys[i];
        char arg[300];
        if (k->type == K_STR && k->choices) snprintf(arg, sizeof arg, "{%s}", k->choices);
        else if (k->type == K_STR) snprintf(arg, sizeof arg, "TEXT");
        else if (k->type == K_BOOL) snprintf(arg, sizeof arg, "BOOL");
        else if (k->type == K_FLOAT) snprintf(arg, sizeof arg, "X");
        else snprintf(arg, sizeof arg, "N");
        fprintf(f, "  --%s %s\n      %s (default: ", k->key, arg, k->help);
        write_value(k, &d, f, 0);
        fprintf(f, ")\n");
    }
}
