/* metrix nn: the training engine. CPU fp32 networks on oneDNN with forward and backward passes,
 * the backbones of the paper (smallcnn, torchvision's resnet18 / resnet50) and its embedding head
 * (GAP + GMP summed -> linear -> L2 normalisation), and a stage split for feature mixup.
 *
 * Memory: all parameters live in ONE float buffer (mx_model_params), their gradients in ONE buffer
 * of the same layout (mx_model_grads), BN running statistics in a third (mx_model_stats). The
 * parameter table (mx_model_param_at) names every tensor by its torchvision name and gives its
 * shape, offset and kind; parameters are stored in torch layout (conv weights OIHW, linear OI).
 * Activations are kept in oneDNN's blocked layouts inside the model ("slots", planned once with
 * mx_model_plan); only the input (NCHW) and the embeddings (N x d) are plain.
 *
 * A training step over one slot:
 *     mx_model_forward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, x, n, emb);   // x: n x C x H x W
 *     ... loss gives d_emb (n x d) ...
 *     mx_model_backward(m, 0, MX_STAGE_INPUT, MX_STAGE_EMBED, d_emb, NULL);
 * Feature mixup (stage s = the last trunk stage, "layer4"):
 *     forward(m, 0, INPUT, s, x, n, f0)          f0: n x mx_model_stage_size(m, s) floats
 *     forward(m, 0, s, EMBED, f0, n, e0)
 *     mixer builds fmix (k slabs) from f0;  forward(m, 1, s, EMBED, fmix, k, emix)
 *     loss -> d_e0, d_emix
 *     backward(m, 1, s, EMBED, d_emix, d_fmix)   d_fmix (k slabs) is ADDED to; mixer scatters it
 *                                                 into d_f0 (n slabs, zeroed by the caller)
 *     backward(m, 0, s, EMBED, d_e0, d_f0)       adds the clean path into d_f0
 *     backward(m, 0, INPUT, s, d_f0, NULL)
 * In train mode every forward over a BN layer (any slot) updates its running statistics, as
 * torch does for every forward call; Metrix freezes BN (mx_model_set_train(m, 0)).
 * Parameter gradients accumulate (ADD) across calls and slots; zero them with
 * mx_model_zero_grad. A backward call must follow the forward call(s) of the same slot covering
 * the same stages, with no other forward on that slot in between. */
#ifndef METRIX_NN_H
#define METRIX_NN_H

#include <stddef.h>
#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mx_backbone {
    MX_BACKBONE_SMALLCNN = 0, /* 1x28x28-ish inputs: 3 conv blocks (32, 64, 128 channels) */
    MX_BACKBONE_RESNET18 = 1,
    MX_BACKBONE_RESNET50 = 2
} mx_backbone;

/* "smallcnn", "resnet18", "resnet50" -> backbone (returns 0 if unknown). */
int mx_backbone_from_name(const char *name, mx_backbone *out);
const char *mx_backbone_name(mx_backbone b);

/* Convolution algorithm. Winograd F(4x4, 3x3) (oneDNN's jit_wino_4x3, fp32 throughout) does
 * fewer multiplications than direct convolution on 3x3 stride-1 pad-1 layers whose channel
 * counts are multiples of 16; its results differ from direct convolution by float rounding, up
 * to ~1e-4 relative (docs/performance.md). On this project's CPU (Zen 5, AVX-512) it was faster
 * for every such layer of ResNet-50 in all three passes, and for smallcnn and ResNet-18.
 *   WINOGRAD  (default) Winograd where it applies and oneDNN has it for the CPU, else direct
 *   DIRECT    direct convolution everywhere */
typedef enum mx_conv_algo { MX_CONV_WINOGRAD = 0, MX_CONV_DIRECT = 1 } mx_conv_algo;

/* "winograd", "direct" -> algorithm (returns 0 if unknown). */
int mx_conv_algo_from_name(const char *name, mx_conv_algo *out);
const char *mx_conv_algo_name(mx_conv_algo a);

/* Numeric precision of a plan (mx_plan_config.precision; docs/precision.md).
 *   FP32  (default) everything in float.
 *   BF16  mixed precision on CPUs with AVX512-BF16 (oneDNN's avx512_core_bf16 or newer; elsewhere
 *         a plan asking for it fails with MX_ERR_CONFIG, there is no emulation): activations and
 *         activation gradients of convolutions, batch norm, pooling and residual adds are bf16
 *         in the blocked layouts, convolutions run on bf16 copies of the weights (refreshed
 *         from the float parameters after mx_model_params_updated). Float stays: the
 *         parameters (master weights), their gradients (oneDNN accumulates the weight gradients
 *         in float), BN statistics (batch and running), the head (pooling output, linear, L2
 *         norm), and everything the caller sees: the input, stage slabs given to / returned by
 *         forward and backward (bf16 values widened exactly to float) and the embeddings.
 *         Checkpoints are the same in both precisions. */
typedef enum mx_precision { MX_PRECISION_FP32 = 0, MX_PRECISION_BF16 = 1 } mx_precision;

/* "fp32", "bf16" -> precision (returns 0 if unknown). */
int mx_precision_from_name(const char *name, mx_precision *out);
const char *mx_precision_name(mx_precision p);
/* 1 if this CPU runs p natively (fp32 always; bf16: oneDNN's effective ISA has AVX512-BF16). */
int mx_precision_supported(mx_precision p);
/* MX_OK, or MX_ERR_CONFIG saying why p cannot run on this CPU. */
mx_status mx_precision_check(mx_precision p);

typedef struct mx_model_config {
    mx_backbone backbone;   /* default MX_BACKBONE_RESNET50 */
    int in_channels;        /* default 3 (1 for smallcnn) */
    int embed_dim;          /* d; 0 = default: 512 for ResNets, 128 for smallcnn */
    float bn_eps;           /* default 1e-5 */
    float bn_momentum;      /* default 0.1 (torch): running = (1-m) running + m batch */
    mx_conv_algo conv_algo; /* default MX_CONV_WINOGRAD */
} mx_model_config;

mx_model_config mx_model_config_default(mx_backbone b);

/* Stages: 0 = the input; 1..n_trunk = trunk stages (ResNet: stem, layer1..layer4; smallcnn:
 * block1..block3); MX_STAGE_EMBED = the L2-normalised embedding (after the head). */
#define MX_STAGE_INPUT 0
#define MX_STAGE_EMBED 1000

typedef enum mx_param_kind {
    MX_PARAM_CONV_WEIGHT = 0,
    MX_PARAM_LINEAR_WEIGHT,
    MX_PARAM_BIAS,
    MX_PARAM_BN_WEIGHT,
    MX_PARAM_BN_BIAS
} mx_param_kind;

typedef struct mx_param_info {
    const char *name; /* torchvision name, e.g. "layer1.0.conv1.weight", "embedding.bias" */
    int ndim;
    int64_t shape[4];
    int64_t offset; /* in floats into mx_model_params / mx_model_grads */
    int64_t numel;
    mx_param_kind kind;
    int head; /* 1: embedding head, 0: trunk */
} mx_param_info;

/* BN running statistics ("bn1.running_mean", "bn1.running_var") in mx_model_stats. */
typedef struct mx_stat_info {
    const char *name;
    int64_t offset, numel;
} mx_stat_info;

typedef struct mx_model mx_model;

/* Builds the network and initialises it as torchvision does (Kaiming-normal fan_out convs, BN
 * weight 1 bias 0, running mean 0 var 1; embedding Kaiming-normal fan_out, bias 0) from rng. */
mx_status mx_model_create(const mx_model_config *cfg, mx_rng *rng, mx_model **out);
void mx_model_free(mx_model *m); /* NULL: no-op */

/* Plans n_slots activation slots, each for batches of up to max_batch examples of
 * in_channels x h x w: creates every oneDNN primitive and allocates every buffer. Call again to
 * re-plan (frees the previous plan). No allocation happens in forward/backward afterwards. */
mx_status mx_model_plan(mx_model *m, int n_slots, int64_t max_batch, int h, int w);

/* A plan in detail. Slot i holds batches of up to max_batch[i] examples and runs only stages
 * (from_stage[i], ...]: activations before that stage are not allocated (feature mixup's slot 1
 * starts at the mixing stage), and calls must have from >= from_stage[i].
 * inference = 1: a forward-only plan. Activation buffers are shared by liveness along the forward
 * pass (a tensor's buffer is reused once its last reader has run; residual adds and batch norm
 * write over their input when that was its last use), so a ResNet-50 batch needs a few maps' worth
 * of memory instead of all of them; no gradient buffers; inference primitives (BN on running
 * statistics). mx_model_backward then fails, and a stage map kept in a slot (forward with
 * out = NULL) is consumed by the forward that reads it. */
#define MX_PLAN_MAX_SLOTS 4
typedef struct mx_plan_config {
    int n_slots;                          /* 1..MX_PLAN_MAX_SLOTS */
    int64_t max_batch[MX_PLAN_MAX_SLOTS]; /* >= 1 */
    int from_stage[MX_PLAN_MAX_SLOTS];    /* MX_STAGE_INPUT (default) .. n_stages (the head) */
    int h, w;                             /* input spatial size */
    int inference;                        /* default 0 */
    mx_precision precision;               /* default MX_PRECISION_FP32 */
} mx_plan_config;

/* n_slots slots of max_batch examples each, from the input, training plan. */
mx_plan_config mx_plan_config_default(int n_slots, int64_t max_batch, int h, int w);
mx_status mx_model_plan_ex(mx_model *m, const mx_plan_config *pc);
/* Bytes of the buffers mx_model_plan_ex(m, pc) would allocate (activations, gradients, scratch,
 * head), computed without allocating anything; the current plan is left as it is. oneDNN's own
 * memory (reordered weights, workspaces) is known only once planned: mx_model_plan_bytes. */
mx_status mx_model_plan_estimate(mx_model *m, const mx_plan_config *pc, int64_t *bytes);
/* Bytes the current plan holds: its buffers (as mx_model_plan_estimate counts them) plus the
 * memory oneDNN allocated for its primitives (weights in primitive layouts, BN / pooling
 * workspaces); 0 without a plan. Parameters, gradients and statistics are not included. */
int64_t mx_model_plan_bytes(const mx_model *m);
/* Precision of the current plan (MX_PRECISION_FP32 without a plan). */
mx_precision mx_model_precision(const mx_model *m);
/* Convolutions whose forward pass runs on Winograd in the current plan (see mx_conv_algo; bf16
 * plans run direct convolutions: oneDNN has no bf16 Winograd). */
int mx_model_conv_winograd_count(const mx_model *m);

int mx_model_embed_dim(const mx_model *m);
int mx_model_n_stages(const mx_model *m); /* trunk stages: 5 for ResNets, 3 for smallcnn */
/* Stage index by name ("input", "stem", "layer1".., "block1".., "embedding"); -1 if unknown. */
int mx_model_stage_index(const mx_model *m, const char *name);
const char *mx_model_stage_name(const mx_model *m, int stage);
/* Floats per example of the feature map at `stage` (requires a plan); blocked layout, padded
 * channels included: two examples' slabs can be mixed elementwise. */
int64_t mx_model_stage_size(const mx_model *m, int stage);
/* Channels / spatial size at `stage` (requires a plan for h, w). */
void mx_model_stage_shape(const mx_model *m, int stage, int *c, int *h, int *w);

/* Parameters. The model caches convolution weights in oneDNN layouts: whoever writes the
 * parameter buffer through a pointer obtained earlier (an optimizer step) must then call
 * mx_model_params_updated before the next forward. mx_model_params and mx_model_load count as
 * updates themselves. */
float *mx_model_params(mx_model *m);
void mx_model_params_updated(mx_model *m);
float *mx_model_grads(mx_model *m);
float *mx_model_stats(mx_model *m);
int64_t mx_model_n_params(const mx_model *m); /* floats */
int64_t mx_model_n_stats(const mx_model *m);
int mx_model_param_count(const mx_model *m);
const mx_param_info *mx_model_param_at(const mx_model *m, int i);
int mx_model_stat_count(const mx_model *m);
const mx_stat_info *mx_model_stat_at(const mx_model *m, int i);
/* [offset, offset+count) of the trunk and head parameters in the buffers (trunk first). */
void mx_model_trunk_range(const mx_model *m, int64_t *offset, int64_t *count);
void mx_model_head_range(const mx_model *m, int64_t *offset, int64_t *count);
void mx_model_zero_grad(mx_model *m);

/* Modes (default: train, nothing frozen). bn_train = 1: BN uses batch statistics and updates
 * the running ones (momentum); bn_train = 0: BN uses the running statistics (frozen BN, the
 * Metrix default during training; backward works). bn_affine_frozen: no gradients for BN
 * weight / bias. trunk_frozen (warm-up): no trunk parameter gradients, and backward skips the
 * trunk entirely unless an input gradient (din) is requested. */
void mx_model_set_train(mx_model *m, int bn_train);
void mx_model_set_bn_affine_frozen(mx_model *m, int frozen);
void mx_model_set_trunk_frozen(mx_model *m, int frozen);
/* inference: forward only (oneDNN inference primitives without workspaces, BN uses the running
 * statistics whatever set_train says); mx_model_backward then fails. For embedding. */
void mx_model_set_inference(mx_model *m, int inference);

/* Runs stages (from, to] on slot's first n examples (n <= the planned max batch).
 * in:  from == MX_STAGE_INPUT: n x C x H x W NCHW floats; else n slabs of stage_size(from).
 *      May be the `out` of a previous forward of the same slot (then nothing is copied).
 * out: to == MX_STAGE_EMBED: n x d embeddings; else n slabs of stage_size(to). NULL allowed
 *      when to < EMBED (the map stays inside the slot). */
mx_status mx_model_forward(mx_model *m, int slot, int from, int to, const float *in, int64_t n,
                           float *out);
/* Back-propagates through stages (from, to] of slot (same n as its forward).
 * dout: n x d (to == EMBED) or n slabs at stage `to`; may be the slot's own gradient at `to`
 *       (mx_model_stage_grad: then nothing is copied).
 * din:  if non-NULL, d(loss)/d(in) is ADDED to it (n slabs at `from`, or n x C x H x W input);
 *       NULL and from == INPUT: the first conv's data gradient is skipped. din may be the slot's
 *       own gradient at `from` (mx_model_stage_grad): then the gradient is left there (written,
 *       not added), ready to be added to and passed on as the dout of a backward ending at `from`.
 * Parameter gradients are ADDED to mx_model_grads (unless frozen). */
mx_status mx_model_backward(mx_model *m, int slot, int from, int to, const float *dout, float *din);
/* A hook mx_model_backward calls after each node that has parameters, with that node's lowest
 * parameter offset (mx_model_grads): the nodes run in reverse order and own increasing offsets
 * (mx_model_grad_offsets_ordered), so from then on this call writes no gradient at or above it —
 * e.g. to start the all-reduce of those gradients while the rest of the backward runs. NULL:
 * none. The hook must not touch the gradients below its offset. */
typedef void (*mx_grad_hook)(void *ctx, int64_t lowest_param);
void mx_model_set_grad_hook(mx_model *m, mx_grad_hook fn, void *ctx);
/* 1 when the nodes' parameter offsets increase with the node order (true of every built-in
 * backbone; what the hook's contract relies on). */
int mx_model_grad_offsets_ordered(const mx_model *m);
/* The lowest parameter offset of each node with parameters, in node order, into offs (at most
 * cap written); returns how many nodes have parameters. */
int mx_model_node_param_offsets(const mx_model *m, int64_t *offs, int cap);
/* The slot's own map / gradient at stage (1..n_stages): n slabs of mx_model_stage_size, in the
 * plan's layout. The map is valid after a forward that wrote it (to >= stage) until the slot's
 * next forward; the gradient as mx_model_backward says. NULL for bf16 plans (their slot buffers
 * hold bf16: use the float copies forward's out / backward's din give) and inference plans.
 * They let a caller read and extend a stage map in place, without copying it out and back in. */
const float *mx_model_stage_map(const mx_model *m, int slot, int stage);
float *mx_model_stage_grad(mx_model *m, int slot, int stage);

/* Fused mixed head of feature-level Metrix at the LAST trunk stage (src/nn/mix_head.c): the
 * embeddings of M mixed maps lambda_k h_i + (1 - lambda_k) h_j computed straight from the n clean
 * maps (the slabs mx_model_forward wrote for the last stage) without materialising any mixed map:
 * GAP is linear (lambda gap_i + (1 - lambda) gap_j), GMP is taken over the mixed values, then one
 * GEMM over the M pooled rows and the L2 norm. Memory O(M (C + d) + n C) instead of the
 * O(M C H W) of mixing the maps and running the head on them (slot 1); same results up to float
 * rounding. Pairs are struct mx_mix_pair (metrix/loss.h). Planned for n <= max_n, M <= max_m; no
 * allocation per call. A backward must follow its forward with the same pairs. */
typedef struct mx_mix_head mx_mix_head;
struct mx_mix_pair;
/* Requires a plan (the layout and spatial size of the last stage). */
mx_status mx_mix_head_create(const mx_model *m, int64_t max_n, int64_t max_m, mx_mix_head **out);
void mx_mix_head_free(mx_mix_head *h); /* NULL: no-op */
/* Bytes of the head's buffers (for memory reports). */
int64_t mx_mix_head_bytes(const mx_mix_head *h);
/* feat: n slabs of mx_model_stage_size(m, n_stages); emb: M x d, L2-normalised. */
mx_status mx_mix_head_forward(mx_mix_head *h, const mx_model *m, const float *feat, int64_t n,
                              const struct mx_mix_pair *pairs, int64_t M, float *emb);
/* demb: M x d. Head parameter gradients are ADDED to mx_model_grads; if dfeat is non-NULL,
 * d(loss)/d(feat) of the mixed path is ADDED to it (n slabs). */
mx_status mx_mix_head_backward(mx_mix_head *h, mx_model *m, const struct mx_mix_pair *pairs,
                               const float *demb, float *dfeat);

/* Weights by torchvision names from / to safetensors. Load: every parameter and running stat
 * must be present with its shape (F32/F16/BF16/F64 accepted); "*.num_batches_tracked" and any
 * tensor the model does not have ("fc.weight") are ignored; missing / misshaped: MX_ERR_SHAPE
 * naming the tensor; a NaN / Inf value: MX_ERR_NUMERIC naming it. strict_head = 0: a missing
 * embedding.* keeps its initialisation (ImageNet trunk weights). On failure the model may be partly
 * overwritten: reload or discard it.
 */
mx_status mx_model_load(mx_model *m, const char *path, int strict_head);
/* Fails naming `path`, the tensor and the element if a parameter or running statistic is
 * NaN or infinite (MX_ERR_NUMERIC; mx_model_load runs it after loading; checkpoint readers call it
 * too). */
mx_status mx_model_check_finite(const mx_model *m, const char *path);
mx_status mx_model_save(const mx_model *m, const char *path);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_NN_H */
