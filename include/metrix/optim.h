/* metrix optim: SGD / Adam / AdamW over flat parameter buffers with parameter groups, learning-rate
 * schedules (StepLR, cosine, linear warm-up) and gradient clipping (by value, by global norm).
 *
 * Layout. A model keeps all its parameters in one float buffer and their gradients in a second
 * buffer of the same layout; a loss with parameters (proxies) keeps its own pair of buffers. Each
 * (params, grads, n) pair is registered with mx_optim_add_buffer, which allocates that buffer's
 * moments once (one float buffer per moment, same layout). Groups are contiguous ranges
 * [offset, offset + count) of one buffer, each with an lr multiplier, a weight decay and a frozen
 * flag; elements outside every group are never touched. The optimizer does not own params/grads.
 *
 * Semantics follow PyTorch 1.13 (torch.optim.SGD / Adam / AdamW, single-tensor path):
 *   SGD:   g += wd*p; b = mu*b + g (b starts at g); g = nesterov ? g + mu*b : b; p -= lr*g
 *   Adam:  g += wd*p; m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
 *          p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps)
 *   AdamW: p *= 1 - lr*wd; then Adam without the decay term.
 * A group's lr is base_lr * lr_mult. Step counts t are per group and advance only when the group
 * is stepped, so a frozen group behaves like torch parameters with grad None: no update, no moment
 * change, no step count change. */
#ifndef METRIX_OPTIM_H
#define METRIX_OPTIM_H

#include <stdint.h>

#include "metrix/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mx_optim_kind {
    MX_OPTIM_SGD = 0,
    MX_OPTIM_ADAM = 1,
    MX_OPTIM_ADAMW = 2
} mx_optim_kind;

typedef struct mx_optim_config {
    mx_optim_kind kind; /* default MX_OPTIM_ADAM (the Metrix code) */
    double lr;          /* base learning rate (default 1e-4) */
    double momentum;    /* SGD momentum (default 0: plain SGD); dampening is always 0 */
    int nesterov;       /* SGD Nesterov momentum (needs momentum > 0) */
    double beta1;       /* Adam(W) (default 0.9) */
    double beta2;       /* Adam(W) (default 0.999) */
    double eps;         /* Adam(W), added outside the sqrt (default 1e-8) */
} mx_optim_config;

mx_optim_config mx_optim_config_default(void);

typedef struct mx_optim mx_optim;

/* Validates cfg and creates an optimizer with no buffers. */
mx_status mx_optim_create(const mx_optim_config *cfg, mx_optim **out);
void mx_optim_free(mx_optim *o); /* NULL: no-op */

/* Registers a (params, grads) pair of n floats (not owned; must outlive o) and allocates its
 * zeroed moments. *buffer_id (may be NULL) receives its index (0, 1, ...). */
mx_status mx_optim_add_buffer(mx_optim *o, float *params, float *grads, int64_t n, int *buffer_id);

/* Adds group [offset, offset + count) of buffer `buffer` with lr multiplier and weight decay.
 * Groups may not overlap. name (copied, may be NULL) is used in messages and state names.
 * *group_id (may be NULL) receives the group index (0, 1, ... over all buffers). */
mx_status mx_optim_add_group(mx_optim *o, int buffer, int64_t offset, int64_t count, double lr_mult,
                             double weight_decay, const char *name, int *group_id);

int mx_optim_group_count(const mx_optim *o);
/* Frozen groups are skipped by step and by the clipping calls given groups == NULL. */
mx_status mx_optim_set_frozen(mx_optim *o, int group, int frozen);
int mx_optim_is_frozen(const mx_optim *o, int group);
/* Finds a group by name; -1 if none. */
int mx_optim_find_group(const mx_optim *o, const char *name);

/* Base learning rate (group lr = base * lr_mult). */
void mx_optim_set_lr(mx_optim *o, double lr);
double mx_optim_get_lr(const mx_optim *o);

/* One update of every non-frozen group from the current gradients. No allocation. Returns
 * MX_ERR_NUMERIC (and updates nothing) if a stepped gradient is NaN or Inf. */
mx_status mx_optim_step(mx_optim *o);

/* Zeroes every registered gradient buffer (one memset per buffer). */
void mx_optim_zero_grad(mx_optim *o);

/* ---- clipping ----------------------------------------------------------------------------- */

/* torch.nn.utils.clip_grad_value_: g = clamp(g, -clip, clip) elementwise. */
void mx_clip_grad_value(float *grads, int64_t n, float clip);

/* Clips by value the gradients of the listed groups (groups == NULL: every non-frozen group). */
mx_status mx_optim_clip_grad_value(mx_optim *o, const int *groups, int n_groups, float clip);

/* torch.nn.utils.clip_grad_norm_ (L2) over the listed groups taken together (groups == NULL:
 * every non-frozen group): total = ||g||_2; if finite, g *= min(1, max_norm / (total + 1e-6)).
 * *total_norm (may be NULL) receives the norm before clipping. A NaN/Inf norm returns
 * MX_ERR_NUMERIC and leaves the gradients unchanged. */
mx_status mx_optim_clip_grad_norm(mx_optim *o, const int *groups, int n_groups, double max_norm,
                                  double *total_norm);

/* ---- state for checkpoints ---------------------------------------------------------------- */

typedef enum mx_optim_state_type {
    MX_OPTIM_STATE_F32 = 0,
    MX_OPTIM_STATE_I64 = 1
} mx_optim_state_type;

typedef struct mx_optim_state_entry {
    char name[64]; /* "buf<i>.exp_avg", "buf<i>.exp_avg_sq", "buf<i>.momentum", "steps" */
    mx_optim_state_type type;
    void *data;    /* points into the optimizer: read to save, write to load */
    int64_t numel; /* F32: the buffer's n; I64 "steps": one count per group */
} mx_optim_state_entry;

/* Number of state arrays (depends on the kind and the number of buffers). */
int mx_optim_state_count(const mx_optim *o);
/* Entry i in [0, state_count). Entries stay valid until the next add_buffer / add_group / free. */
mx_status mx_optim_state_get(mx_optim *o, int i, mx_optim_state_entry *out);

/* ---- learning-rate schedules -------------------------------------------------------------- */

typedef enum mx_lr_kind {
    MX_LR_CONSTANT = 0,
    MX_LR_STEP = 1,  /* StepLR: gamma ^ floor(t / step_size) */
    MX_LR_COSINE = 2 /* CosineAnnealingLR: f_min + (1 - f_min) (1 + cos(pi t / t_max)) / 2 */
} mx_lr_kind;

typedef struct mx_lr_schedule {
    mx_lr_kind kind;       /* default MX_LR_STEP */
    int64_t step_size;     /* StepLR period in epochs/iterations (default 10) */
    double gamma;          /* StepLR factor (default 0.5) */
    int64_t t_max;         /* cosine half period (default 60) */
    double eta_min_factor; /* cosine floor as a fraction of the base lr (default 0) */
    int64_t warmup_iters;  /* linear warm-up length, 0 = none (default 0) */
    double warmup_start;   /* warm-up start factor, ramps linearly to 1 (default 1/3, torch) */
} mx_lr_schedule;

mx_lr_schedule mx_lr_schedule_default(void);
/* Checks the fields; MX_ERR_CONFIG names the bad one. */
mx_status mx_lr_schedule_check(const mx_lr_schedule *s);
/* lr factor at epoch/iteration t >= 0: the schedule's factor times the warm-up factor
 * warmup_start + (1 - warmup_start) * min(t, warmup_iters) / warmup_iters (as torch's LinearLR
 * chained with the others). Set the lr with mx_optim_set_lr(o, base_lr * factor). */
double mx_lr_factor(const mx_lr_schedule *s, int64_t t);

#ifdef __cplusplus
}
#endif
#endif /* METRIX_OPTIM_H */
