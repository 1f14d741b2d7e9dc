/* Private header of the nn module: reference layers (double, plain NCHW) used as test oracles,
 * and the node graph shared by the oneDNN executor and the reference executor. */
#ifndef MX_NN_IMPL_H
#define MX_NN_IMPL_H

#include <stdint.h>

#include "metrix/loss.h" /* mx_mix_pair */
#include "core/core_impl.h"
#include "metrix/nn.h"

/* ---- reference layers: double precision, NCHW, naive loops. Backward ADDS into dx/dw/db. -- */

/* x: n x ic x h x w, wt: oc x ic x k x k, b: oc or NULL, y: n x oc x oh x ow with
 * oh = (h + 2 pad - k) / stride + 1. */
void mx_ref_conv_fwd(const double *x, int64_t n, int ic, int h, int w, const double *wt,
                     const double *b, int oc, int k, int stride, int pad, double *y);
void mx_ref_conv_bwd(const double *x, int64_t n, int ic, int h, int w, const double *wt, int oc,
                     int k, int stride, int pad, const double *dy, double *dx, double *dw,
                     double *db);
/* Batch norm over (n, h, w) per channel. train: batch mean / biased var (written to mean, var);
 * else uses the given mean, var. relu: fused ReLU on the output. */
void mx_ref_bn_fwd(const double *x, int64_t n, int c, int hw, const double *gamma,
                   const double *beta, double eps, int train, double *mean, double *var, int relu,
                   double *y);
/* y is the forward output (for the fused ReLU mask). dgamma/dbeta may be NULL. */
void mx_ref_bn_bwd(const double *x, int64_t n, int c, int hw, const double *gamma, double eps,
                   int train, const double *mean, const double *var, int relu, const double *y,
                   const double *dy, double *dx, double *dgamma, double *dbeta);
/* Max pool k x k, stride, pad (padding never wins; ties: the first in row-major window order). */
void mx_ref_maxpool_fwd(const double *x, int64_t n, int c, int h, int w, int k, int stride, int pad,
                        double *y);
void mx_ref_maxpool_bwd(const double *x, int64_t n, int c, int h, int w, int k, int stride, int pad,
                        const double *dy, double *dx);
/* y = relu?(a + b); backward adds mask * dy into da and db. */
void mx_ref_add_fwd(const double *a, const double *b, int64_t len, int relu, double *y);
void mx_ref_add_bwd(const double *y, int64_t len, int relu, const double *dy, double *da,
                    double *db);
/* Pooling of mixed maps, naively: each mixed map lambda x_i + (1 - lambda) x_j (x: n x c x hw)
 * is built and pooled by mx_ref_gapgmp_fwd; backward ADDS into dx. The oracle of mx_nn_mixpool_*.
 */
void mx_ref_mixpool_fwd(const double *x, int64_t n, int c, int hw, const mx_mix_pair *pairs,
                        int64_t m, double *p);
void mx_ref_mixpool_bwd(const double *x, int64_t n, int c, int hw, const mx_mix_pair *pairs,
                        int64_t m, const double *dp, double *dx);
/* Head pieces. pool: p[n][c] = mean_hw x + max_hw x. */
void mx_ref_gapgmp_fwd(const double *x, int64_t n, int c, int hw, double *p);
void mx_ref_gapgmp_bwd(const double *x, int64_t n, int c, int hw, const double *dp, double *dx);
/* y (n x out) = x (n x in) W^T (W: out x in) + b. */
void mx_ref_linear_fwd(const double *x, int64_t n, int in, const double *wt, const double *b,
                       int out, double *y);
void mx_ref_linear_bwd(const double *x, int64_t n, int in, const double *wt, int out,
                       const double *dy, double *dx, double *dw, double *db);
/* y = x / sqrt(sum x^2 + 1e-12) per row of length d. */
void mx_ref_l2norm_fwd(const double *x, int64_t n, int d, double *y);
void mx_ref_l2norm_bwd(const double *x, int64_t n, int d, const double *dy, double *dx);

/* ---- float helpers of the head (used by the oneDNN executor) ------------------------------ */

/* Feature map in blocked layout with channel block `blk` (1: nchw, 8/16: nChw8c/16c, c: nhwc):
 * element (n, ch, s) at n*cpad*hw + (ch/blk)*hw*blk + s*blk + ch%blk. */
void mx_nn_gapgmp_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk, float *p,
                      int32_t *argmax);
void mx_nn_gapgmp_bwd(int64_t n, int c, int cpad, int hw, int blk, const int32_t *argmax,
                      const float *dp, float *dx);
/* Fused pooling of mixed maps (mix_head.c), same layout parameters. gap (n x c): per-channel
 * means of the n clean maps. mixpool_fwd: for pair k, p[k][ch] = lambda gap[i][ch] +
 * (1 - lambda) gap[j][ch] + max_s (lambda x(i, ch, s) + (1 - lambda) x(j, ch, s)), argmax[k][ch]
 * = the first s of that max. mixpool_bwd: ADDS the gradient of sum_k dp[k] . p[k] w.r.t. x into dx
 * (n maps; padding channels untouched); dgap (n x c) is scratch. */
void mx_nn_gap_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk, float *gap);
void mx_nn_mixpool_fwd(const float *x, int64_t n, int c, int cpad, int hw, int blk,
                       const float *gap, const mx_mix_pair *pairs, int64_t m, float *p,
                       int32_t *argmax);
void mx_nn_mixpool_bwd(int64_t n, int c, int cpad, int hw, int blk, const mx_mix_pair *pairs,
                       int64_t m, const int32_t *argmax, const float *dp, float *dgap, float *dx);
/* x += bias per row (in place: x is what the backward reads), then y = x / |x|. */
void mx_nn_bias_l2norm_fwd(float *x, int64_t n, int d, const float *bias, float *y);
/* Writes (does not add) dx. */
void mx_nn_l2norm_bwd(const float *x, int64_t n, int d, const float *dy, float *dx);

/* ---- bf16 kernels (precision.c): float arithmetic, one rounding per store ---------------- */

float mx_bf16_to_float(uint16_t h);
uint16_t mx_bf16_from_float(float f); /* round to nearest even; NaN stays NaN */
void mx_bf16_pack(const float *src, uint16_t *dst, int64_t len);
void mx_bf16_unpack(const uint16_t *src, float *dst, int64_t len);
void mx_bf16_add_to_f32(float *dst, const uint16_t *src, int64_t len);  /* dst += src */
void mx_bf16_add_into(uint16_t *dst, const uint16_t *src, int64_t len); /* dst += src */
/* Residual add forward / backward, as resadd_fwd / resadd_bwd of exec.c (same aliasing rules). */
void mx_bf16_resadd_fwd(const uint16_t *x0, const uint16_t *x1, uint16_t *o, int64_t len, int relu);
void mx_bf16_resadd_bwd(const uint16_t *y, const uint16_t *dy, uint16_t *dx0, uint16_t *dx1,
                        int64_t len, int relu, int acc0, int acc1);
/* mx_nn_gapgmp_fwd / _bwd over a bf16 map (p, dp float). */
void mx_bf16_gapgmp_fwd(const uint16_t *x, int64_t n, int c, int cpad, int hw, int blk, float *p,
                        int32_t *argmax);
void mx_bf16_gapgmp_bwd(int64_t n, int c, int cpad, int hw, int blk, const int32_t *argmax,
                        const float *dp, uint16_t *dx);

/* ---- the node graph ---------------------------------------------------------------------- */

typedef enum mx_node_kind { MX_NODE_CONV, MX_NODE_BN, MX_NODE_MAXPOOL, MX_NODE_ADD } mx_node_kind;

typedef struct mx_node {
    mx_node_kind kind;
    int in0, in1, out; /* tensor ids (in1: ADD only) */
    int k, stride, pad, relu;
    int64_t w, b;   /* param offsets: conv weight / bias (-1 none); bn gamma / beta */
    int64_t rm, rv; /* bn running mean / var offsets in stats */
} mx_node;

typedef struct mx_tensor_shape {
    int c, h, w;
} mx_tensor_shape;

#define MX_NN_MAX_PARAMS 512
#define MX_NN_MAX_NODES  256
#define MX_NN_MAX_STAGES 6
#define MX_NN_NAME       64

typedef struct mx_plan mx_plan; /* oneDNN state: exec.c */

#define MX_NN_T_MAX (MX_NN_MAX_NODES + 1) /* tensors */

/* Memory layout of one slot (plan.c). Sizes are elements per example (times max_n), of
 * mx_nn_layout.esz bytes each. */
typedef struct mx_nn_slot_layout {
    int from;                            /* first stage (mx_plan_config.from_stage) */
    int64_t max_n;                       /* examples */
    int n_act_buf, act_buf[MX_NN_T_MAX]; /* tensor -> activation buffer (-1: not in this slot) */
    int64_t act_n[MX_NN_T_MAX];
    int n_dif_buf, dif_buf[MX_NN_T_MAX]; /* tensor -> gradient buffer (-1: none) */
    int64_t dif_n[MX_NN_T_MAX];          /* 0: buffer unused by this slot */
    int64_t scratch_n;                   /* gradient accumulation scratch (training) */
} mx_nn_slot_layout;

typedef struct mx_nn_layout {
    int inference, n_slots;
    int esz; /* bytes per activation / activation-gradient element: 4 fp32, 2 bf16 */
    int dif_of[MX_NN_T_MAX]; /* training: gradient buffer per tensor (-1: none; input: own) */
    int act_of[MX_NN_T_MAX]; /* training: tensor whose activation buffer t uses (in-place adds) */
    int n_dif_buf;
    int head_c;   /* channels of the last trunk map */
    int64_t dw_n; /* floats of the weight-gradient reorder buffer (training) */
    mx_nn_slot_layout s[MX_PLAN_MAX_SLOTS];
} mx_nn_layout;

void mx_nn_layout_make(const mx_model *m, const mx_plan_config *pc, mx_nn_layout *L);
/* Bytes of every buffer of the layout; head bytes per example. */
int64_t mx_nn_layout_bytes(const mx_model *m, const mx_nn_layout *L);
int64_t mx_nn_layout_head_bytes(const mx_model *m, const mx_nn_layout *L);

struct mx_model {
    mx_model_config cfg;
    int d;
    mx_grad_hook grad_hook; /* mx_model_set_grad_hook */
    void *grad_hook_ctx;
    /* graph: tensor 0 is the input; nodes in topological order */
    mx_node nodes[MX_NN_MAX_NODES];
    int n_nodes, n_tensors;
    int tensor_c[MX_NN_MAX_NODES + 1];
    int n_stages;                           /* trunk stages */
    int stage_tensor[MX_NN_MAX_STAGES + 1]; /* output tensor of stage s (0: input) */
    int stage_end[MX_NN_MAX_STAGES + 1];    /* nodes of stage s: [stage_end[s-1], stage_end[s]) */
    const char *stage_names[MX_NN_MAX_STAGES + 1];
    int64_t emb_w, emb_b; /* head param offsets */
    /* parameter and statistic tables */
    mx_param_info params[MX_NN_MAX_PARAMS];
    mx_stat_info stats[MX_NN_MAX_PARAMS];
    char pnames[MX_NN_MAX_PARAMS][MX_NN_NAME], snames[MX_NN_MAX_PARAMS][MX_NN_NAME];
    int n_ptab, n_stab;
    int64_t np, nst, trunk_np;
    float *p, *g, *st;
    int bn_train, affine_frozen, trunk_frozen, inference;
    uint64_t pver; /* parameter version (>= 1): cached conv weight layouts are stale if changed */
    /* plan */
    int plan_h, plan_w;
    int th[MX_NN_MAX_NODES + 1], tw[MX_NN_MAX_NODES + 1]; /* spatial size per tensor */
    mx_plan *plan;
};

/* exec.c */
void mx_nn_plan_free(mx_plan *p);
/* pc was checked and m->th / m->tw set for it (model.c). */
mx_status mx_nn_plan_create(mx_model *m, const mx_plan_config *pc, mx_plan **out);
/* Bytes of the buffers mx_nn_plan_create would allocate for pc (nothing is allocated). */
mx_status mx_nn_plan_size(const mx_model *m, const mx_plan_config *pc, int64_t *bytes);
int64_t mx_nn_stage_size(const mx_model *m, int stage);
/* Channel block of the layout of stage's map (1: plain NCHW, as the input). Requires a plan. */
int mx_nn_layout_block(const mx_model *m, int stage);

/* Test networks: mx_model_config.backbone = MX_NN_TEST_NET + kind builds one stage "block1"
 * (16 output channels) around the layer under test: 0 conv3x3+bias, 1 conv3x3/2 + BN,
 * 2 conv + BN + ReLU, 3 conv + maxpool 3/2 pad 1, 4 conv1x1+bias + conv3x3 -> add + ReLU,
 * 5 the ResNet stem (conv7x7/2 + BN + ReLU + maxpool), 6 conv3x3+bias then conv3x3 16->16 (the
 * Winograd case) + BN + ReLU. */
#define MX_NN_TEST_NET 100

/* How many convolutions of slot 0 run pass (0 forward, 1 backward-data, 2 backward-weights) on
 * Winograd (0 before mx_model_plan). For tests. */
int mx_nn_conv_winograd_count(const mx_model *m, int pass);

/* Converts n examples of a stage's feature map between the model's layout and NCHW. */
void mx_nn_to_nchw(const mx_model *m, int stage, int64_t n, const float *src, float *dst);
void mx_nn_from_nchw(const mx_model *m, int stage, int64_t n, const float *src, float *dst);

/* Reference executor of a model (double, NCHW), for tests: forward of all stages + head on n
 * examples (feat: the last stage's map, NCHW, may be NULL) with the model's current params/stats
 * and mode (bn train or not; running stats are not updated), then backward of sum(emb * demb) into
 * dparams (n_params doubles, ADDED) and dx (may be NULL; ADDED). params may be NULL (use the
 * model's). Returns MX_ERR_NOMEM or MX_OK. */
mx_status mx_nn_ref_run(const mx_model *m, const double *params, const double *x, int64_t n, int h,
                        int w, double *feat, double *emb, const double *demb, double *dparams,
                        double *dx);

#endif
