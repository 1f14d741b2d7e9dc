/* The memory check of a new or resumed run: what the run will hold, from the objects themselves
 * (the network plan's estimate or its real size, the optimizer's state arrays, the step buffers
 * sized by the code that allocates them), against memory_mb or the system's available memory,
 * before anything large is allocated or touched. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "train/trainer_impl.h"

#define GIB (1024.0 * 1024.0 * 1024.0)

/* MemAvailable of /proc/meminfo (bytes), else free physical pages; 0 if neither is known. */
static int64_t available_bytes(void) {
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        long long kb = -1;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %lld kB", &kb) == 1) break;
        fclose(f);
        if (kb >= 0) return (int64_t)kb * 1024;
    }
    long pages = sysconf(_SC_AVPHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (int64_t)pages * psz : 0;
}

int64_t mx_tr_mem_fixed(const mx_trainer *t) {
    int64_t b =
        (2 * mx_model_n_params(t->model) + mx_model_n_stats(t->model)) * (int64_t)sizeof(float);
    int n = t->opt ? mx_optim_state_count(t->opt) : 0;
    for (int i = 0; i < n; i++) {
        mx_optim_state_entry e;
        if (mx_optim_state_get(t->opt, i, &e) != MX_OK) continue;
        b += e.numel * (e.type == MX_OPTIM_STATE_F32 ? 4 : 8);
    }
    if (t->proxy_loss) b += 2 * (int64_t)t->n_classes * t->d * (int64_t)sizeof(float);
    return b + t->loader_bytes;
}

mx_status mx_tr_mem_check(const mx_trainer *t, const mx_tr_mem *mem, const char *when) {
    const mx_train_config *c = &t->cfg;
    int64_t limit = c->memory_mb > 0 ? (int64_t)c->memory_mb << 20 : available_bytes();
    int64_t total = mem->fixed + mem->plan + mem->steps + mem->mixed;
    if (limit <= 0 || total <= limit) return MX_OK;
    char src[64], fix[512];
    if (c->memory_mb > 0)
        snprintf(src, sizeof src, "memory_mb=%d", c->memory_mb);
    else
        snprintf(src, sizeof src, "available now; memory_mb=N sets a limit");
    int k = snprintf(fix, sizeof fix,
                     "lower batch (now %d; the network's activations grow with it)", c->batch);
    int64_t mixed = mem->mixed_plan + mem->mixed;
    if (t->level != MIX_NONE && mixed > 0 && k > 0 && k < (int)sizeof fix) {
        if (t->mix_cfg.neg_select == MX_MIX_NEG_ALL)
            k +=
                snprintf(fix + k, sizeof fix - (size_t)k,
                         ", or mix_negatives=random|hardest with a small mix_k (all: up to %" PRId64
                         " mixed examples per batch; mix_k=5: %" PRId64 ")",
                         t->max_mixed, (int64_t)t->B * MX_MIN(5, t->B - 1));
        else
            k += snprintf(fix + k, sizeof fix - (size_t)k,
                          ", or a smaller mix_k (now %d: up to %" PRId64 " mixed examples)",
                          c->mix_k, t->max_mixed);
        if (t->level == MIX_FEATURE && t->stage < mx_model_n_stages(t->model) && k > 0 &&
            k < (int)sizeof fix)
            snprintf(fix + k, sizeof fix - (size_t)k,
                     ", or a later mix_stage (now %s; %s is smaller)",
                     mx_model_stage_name(t->model, t->stage),
                     mx_model_stage_name(t->model, mx_model_n_stages(t->model)));
    }
    char bufs[160] = "step and mixing buffers not counted yet";
    if (mem->steps > 0)
        snprintf(bufs, sizeof bufs,
                 "mixed inputs / maps and their gradients %.2f GiB, step buffers %.2f GiB",
                 mem->mixed / GIB, mem->steps / GIB);
    return mx_error(MX_ERR_NOMEM,
                    "memory: this run needs %s%.2f GiB but %.2f GiB are there (%s); checked %s, "
                    "nothing has run: network plan %.2f GiB (%.2f GiB of it for the mixed "
                    "examples), %s, parameters + gradients + optimizer + loader %.2f GiB. To fit: "
                    "%s",
                    mem->steps > 0 ? "about " : "at least ", total / GIB, limit / GIB, src, when,
                    mem->plan / GIB, mem->mixed_plan / GIB, bufs, mem->fixed / GIB, fix);
}
