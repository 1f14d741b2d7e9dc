/* Private header of the trainer: the state every trainer_*.c file shares, and their entry points.
 *
 *   trainer.c         the epoch loop (mx_trainer_run): steps, evaluation, log, checkpoints
 *   trainer_setup.c   create / resume / open: data, model, loss + mixing, optimizer, buffers
 *   trainer_step.c    one training step: forward, Metrix mixing, loss, backward, optimizer
 *   trainer_eval.c    embedding and evaluating a split (leave-one-out or query/gallery)
 *   trainer_ckpt.c    checkpoint save / load
 *   trainer_report.c  log.csv, curves, the final report and its plots
 *   trainer_retrievals.c  the retrieval picture (retrievals.png)
 *   trainer_rundir.c  the run directory's integrity: lock, write probe, stale temp files, log.csv
 *                     cut back to the checkpointed epochs, fault injection for the fault tests
 *   trainer_dist.c    data-parallel ranks: the batch slice, agreement on failures and stops,
 *                     all-gathers of rows, the gradient all-reduce, BN statistics */
#ifndef MX_TRAINER_IMPL_H
#define MX_TRAINER_IMPL_H

#include <stdint.h>
#include <stdio.h>

#include "core/core_impl.h"
#include "metrix/comm.h"
#include "metrix/data.h"
#include "metrix/eval.h"
#include "metrix/gemm.h"
#include "metrix/io.h"
#include "metrix/loss.h"
#include "metrix/mix.h"
#include "metrix/nn.h"
#include "metrix/optim.h"
#include "metrix/plot.h"
#include "metrix/train.h"

#define MX_UTIL_MIXED_CAP 20000 /* mixed embeddings kept from the last epoch for utilization */
/* An opened run (eval / embed) runs the network on chunks of at most this many images: BN is in
 * inference mode, so the chunking changes nothing but the memory (activations grow with it). */
#define MX_INFER_CHUNK 32

typedef enum { MIX_NONE, MIX_INPUT, MIX_FEATURE, MIX_EMBED } mix_level;

struct mx_trainer {
    mx_train_config cfg;
    char dir[1024];
    int infer_only; /* opened for evaluation (mx_trainer_open): forward-only plan, no training state
                     */

    /* data */
    mx_dataset *ds_train, *ds_val, *ds_test, *ds_query, *ds_gallery;
    mx_sampler *sampler;
    mx_loader *loader;
    mx_transform_config tf_train, tf_test;
    int channels, size;
    int64_t img_floats; /* C * H * W */
    int n_classes;      /* training classes */

    /* network, loss, optimizer */
    mx_model *model;
    mx_precision precision; /* of the plan (config key precision) */
    int d;
    mix_level level;
    int stage;         /* mixing stage (feature level) */
    int64_t feat_size; /* floats per example at `stage` */
    mx_loss *loss;
    int proxy_loss;
    float *proxies, *d_proxies; /* C x d */
    mx_optim *opt;
    int g_trunk, g_head, g_proxy;
    mx_lr_schedule sched;
    int64_t loader_bytes; /* the training loader's ring of prefetched batches */
    mx_mix_config mix_cfg;
    mx_mixer *mixer;
    int64_t max_mixed;  /* pairs the sampler may select per step */
    int64_t max_run;    /* mixed examples run per step (input level: the mix_input_max cap) */
    int fused;          /* feature level: the fused mixed head (mx_mix_head) runs */
    mx_mix_head *mhead; /* fused: pooled / linear buffers of the M mixed rows */
    char mix_path[256]; /* which mixing path runs, for the log */
    float *sim;         /* B x B clean cosine similarities (hardest-negative selection) */

    /* step buffers (allocated once) */
    int B;                /* the batch; an opened run: its inference chunk (MX_INFER_CHUNK) */
    float *images;        /* B x C x H x W */
    int64_t *labels;      /* B */
    float *emb, *d_emb;   /* B x d */
    float *feat, *d_feat; /* B x feat_size (feature level; NULL when feat_inplace) */
    int feat_inplace;     /* feature level, one rank, fp32: the clean slot's own stage map and
                           * its gradient are used in place (mx_model_stage_map / _grad) */
    float *mixed_in;      /* M x (img_floats | feat_size): mixed inputs or feature maps */
    float *d_mixed_in;    /* M x feat_size (feature level) */
    float *emb_mixed, *d_emb_mixed; /* M x d */
    mx_mix_pair *pairs;             /* M */
    float *util_mixed;              /* MX_UTIL_MIXED_CAP x d */
    int64_t n_util_mixed;

    /* state (checkpointed) */
    mx_rng rng_mix;
    int64_t epoch;                         /* completed epochs */
    int64_t step_in_epoch;                 /* completed steps of the current (interrupted) epoch */
    double acc_loss, acc_clean, acc_mixed; /* sums over the current epoch */
    double best_metric;
    int64_t best_epoch;
    double *hist_loss, *hist_val_r1, *hist_test_r1; /* per epoch (cfg.epochs) */

    char report_text[8192];

    /* data-parallel ranks (trainer_dist.c). Every rank holds the whole global batch's buffers;
     * it decodes and embeds rows [b_lo, b_lo + b_n), the rest arrive by all-gather. Rank 0 alone
     * writes the run directory: follower (rank > 0; 0 in a zeroed trainer) never writes. */
    mx_comm *comm;
    int own_comm; /* the trainer created comm (a single-process one) */
    int rank, nranks, follower;
    int64_t b_lo, b_n;
    int64_t *counts; /* nranks: all-gather counts (scratch, allocated once) */
    /* the gradient all-reduce in buckets (several ranks): bucket k is [bucket_lo[k], bucket_lo[k -
     * 1]) of mx_model_grads (bucket_lo[-1] = n_params), from the top; buckets before next_bucket
     * are started (during the last backward through mx_tr_grad_hook, the rest after it) */
    int64_t *bucket_lo;
    int n_buckets, next_bucket;
    /* feature level over ranks (mx_tr_exchange_maps): need[q B + x] = 1 when rank q's share of
     * the pairs uses row x owned by another rank; xcounts: 2 nranks all-to-all counts; xsend,
     * xrecv: (B - b_n) x feat_size staging rows */
    unsigned char *need;
    int64_t *xcounts;
    float *xsend, *xrecv;

    /* cancellation: set by mx_trainer_run / mx_trainer_set_stop, checked by every long phase */
    volatile const int *stop;
    int lock_fd; /* the run directory, flock()ed while the trainer trains in it (-1: none) */
    /* fault injection (trainer_rundir.c): SIGKILL at the fault_n-th event of kind fault_kind */
    int fault_kind;
    int64_t fault_n, fault_seen[6];
};

/* fault-injection points (MX_FAULT_INJECT=<name>:<n>, see trainer_fault.h) */
enum {
    MX_TR_FAULT_NONE,
    MX_TR_FAULT_CKPT_WRITE,
    MX_TR_FAULT_LOG_ROW,
    MX_TR_FAULT_CKPT_DONE,
    MX_TR_FAULT_EVAL_SIGTERM,
    MX_TR_FAULT_REPORT_SIGTERM
};

/* ---- shared helpers (trainer.c) ---------------------------------------------------------- */

double mx_tr_now(void);
void mx_tr_say(const mx_train_callbacks *cb, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* out = <run dir>/name */
void mx_tr_path(const mx_trainer *t, const char *name, char *out, size_t cap);
mx_status mx_tr_alloc_f(float **p, int64_t n);
void mx_tr_zero_f(float *p, int64_t n);
mx_dataset_kind mx_tr_dataset_kind(const char *name);
mx_status mx_tr_open_split(const mx_trainer *t, mx_split split, mx_dataset **out);

/* trainer_setup.c */
mx_status mx_tr_write_config(const mx_trainer *t);
/* classes.tsv: split, label, original class id, images (glyphs: the character); trainer_classes.c
 */
mx_status mx_tr_write_classes(const mx_trainer *t);
/* trainer_mem.c: the memory check before allocating (see mx_trainer_run in train.h).
 * fixed: bytes besides the plan and the step buffers (parameters, gradients, statistics,
 * optimizer state, loader); plan: the activation plan's bytes, mixed_plan the part of it for the
 * mixed examples' slot; steps / mixed: the trainer's step buffers and its mixed-path buffers;
 * when: "before planning" or "after planning". */
typedef struct mx_tr_mem {
    int64_t fixed, plan, mixed_plan, steps, mixed;
} mx_tr_mem;
int64_t mx_tr_mem_fixed(const mx_trainer *t);
mx_status mx_tr_mem_check(const mx_trainer *t, const mx_tr_mem *mem, const char *when);
/* trainer_ckpt.c */
mx_status mx_tr_ckpt_save(mx_trainer *t, const char *name);
mx_status mx_tr_ckpt_load(mx_trainer *t, const char *path);
/* trainer_step.c: one step on the n examples in t->images / t->labels */
mx_status mx_tr_step(mx_trainer *t, int64_t n, mx_loss_result *res);
/* trainer_eval.c */
mx_status mx_tr_embed_split(mx_trainer *t, const mx_dataset *ds, float *emb, int64_t *labels);
/* An evaluation set: one split ranked leave-one-out (set), or a query split ranked against a
 * gallery split (In-Shop's test protocol). Every evaluation goes through it: per-epoch
 * validation / test, the final report, utilization, the PCA plot, eval / embed --run. */
typedef struct mx_tr_evalset {
    const mx_dataset *set;             /* leave-one-out, or NULL */
    const mx_dataset *query, *gallery; /* query/gallery, or NULL */
} mx_tr_evalset;
/* The run's evaluation set for a split (TEST on In-Shop: query against gallery); 0 when the run
 * has no such split. */
int mx_tr_evalset_of(const mx_trainer *t, mx_split split, mx_tr_evalset *es);
/* Embeds and evaluates es with the dataset's Recall@K cut-offs. full adds NMI and alignment /
 * uniformity; train (n_train x d, may be NULL) adds utilization u(queries, train). emb_out /
 * lab_out (may be NULL) receive the query side's raw embeddings (n_query x d) and labels,
 * caller's (mx_free). */
mx_status mx_tr_evaluate(mx_trainer *t, const mx_tr_evalset *es, const float *train,
                         int64_t n_train, int full, mx_eval_report *rep, float **emb_out,
                         int64_t **lab_out);
/* trainer_report.c: appends (and fsyncs) a row; *size_before (may be NULL) receives the file's
 * size before it, for mx_tr_log_truncate */
mx_status mx_tr_write_log_row(mx_trainer *t, const mx_epoch_summary *e, int64_t *size_before);
mx_status mx_tr_write_curves(mx_trainer *t);
mx_status mx_tr_final_report(mx_trainer *t, const mx_train_callbacks *cb);
/* trainer_retrievals.c: <run>/retrievals.png of the test split; test_emb: its embeddings when
 * already computed (leave-one-out splits), else NULL */
mx_status mx_tr_final_retrievals(mx_trainer *t, const float *test_emb);
/* trainer_rundir.c */
/* Takes an exclusive flock on the run directory (one trainer per run) and checks that it is
 * writable by creating and removing a probe file; clear errors for both. */
mx_status mx_tr_dir_acquire(mx_trainer *t);
/* Removes stale "<run file>.tmp.<suffix>" temp files left by a killed writer (our own names
 * only: the run's checkpoints, config, log, report and plots). Call with the lock held. What
 * it repairs is logged as a warning (the next two too). */
mx_status mx_tr_dir_clean_temps(mx_trainer *t);
/* Rewrites log.csv atomically with only its header and the complete rows of epochs <= max_epoch
 * (the checkpointed history); a missing log.csv is left missing. */
mx_status mx_tr_log_cut(mx_trainer *t, int64_t max_epoch);
/* Cuts log.csv back to size bytes (undoes a row whose checkpoint could not be written). */
mx_status mx_tr_log_truncate(mx_trainer *t, int64_t size);
/* Fault injection: counts an event of kind k and, at the armed one, raises SIGKILL (SIGTERM for
 * the *_SIGTERM kinds; ckpt_write returns 1 and the writer dies half-way). */
int mx_tr_fault_hit(mx_trainer *t, int kind);

/* trainer_dist.c */
/* Sets comm (NULL: a single-process communicator owned by t), rank, follower and the slice; fails
 * naming --batch when the global batch does not divide by the ranks. */
mx_status mx_tr_dist_init(mx_trainer *t, mx_comm *comm);
/* mx_comm_agree on the trainer's communicator. */
mx_status mx_tr_agree(mx_trainer *t, mx_status s);
/* *t->stop on any rank (agreed: every rank sees the same answer). */
int mx_tr_stop_agreed(mx_trainer *t);
/* All-gather of a batch buffer whose rows (row floats each) are split by rank as the batch. */
mx_status mx_tr_gather_rows_f(mx_trainer *t, float *buf, int64_t row);
/* This rank's share [*lo, *lo + *cnt) of M mixed examples (contiguous, by rank). */
void mx_tr_mixed_share(const mx_trainer *t, int64_t M, int rank, int64_t *lo, int64_t *cnt);
/* Feature level over ranks, after the M pairs are drawn: each rank receives (all-to-all) the maps
 * of the rows its share of the pairs uses and does not own, into t->feat; no other row moves. */
mx_status mx_tr_exchange_maps(mx_trainer *t, int64_t M);
/* Its backward: the mixed path's map gradients of rows owned elsewhere go to their owners and
 * are added to theirs (t->d_feat); the need sets of the last mx_tr_exchange_maps. */
mx_status mx_tr_return_map_grads(mx_trainer *t);
/* All-gather of M mixed rows (row floats each) split as mx_tr_mixed_share. */
mx_status mx_tr_gather_mixed_f(mx_trainer *t, float *buf, int64_t M, int64_t row);
/* Sums the parameter gradients over the ranks; averages the proxy gradients (every rank
 * computed the same ones from the same global batch). */
mx_status mx_tr_reduce_grads(mx_trainer *t);
/* Splits the gradients into buckets at node boundaries (several ranks; trainer_dist.c). */
mx_status mx_tr_buckets_init(mx_trainer *t);
/* mx_grad_hook of the last backward of a step: starts the buckets that are complete. */
void mx_tr_grad_hook(void *ctx, int64_t lowest_param);
/* Training-mode BN: averages the running statistics over the ranks (before evaluation and
 * checkpoints; each rank normalises with its own slice's batch statistics). */
mx_status mx_tr_sync_bn_stats(mx_trainer *t);

#endif
