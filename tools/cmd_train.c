/* metrix train: resolve the configuration (defaults <- preset <- --config file <- flags), run the
 * trainer with a progress display, print the final retrieval report. Ctrl-C saves a checkpoint. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "metrix/metrix.h"
#include "cmd.h"
#include "train/trainer_fault.h"

typedef struct progress_state {
    int tty;
    int quiet;
    int64_t last_plain_step;
} progress_state;

static void fmt_time(double s, char *buf, size_t cap) {
    if (!(s >= 0) || s > 1e7) {
        snprintf(buf, cap, "--:--");
        return;
    }
    int t = (int)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, cap, "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60);
    else
        snprintf(buf, cap, "%02d:%02d", t / 60, t % 60);
}

static void on_progress(void *user, const mx_train_progress *p) {
    progress_state *ps = user;
    if (ps->quiet) return;
    char eta[32];
    fmt_time(p->eta_s, eta, sizeof eta);
    if (ps->tty) {
        int width = 30, fill = (int)(width * p->step / (p->steps ? p->steps : 1));
        char bar[64];
        for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
        bar[width] = '\0';
        fprintf(stderr, "\repoch %d/%d [%s] %lld/%lld  loss %.4f  %.0f img/s  ETA %s   ", p->epoch,
                p->epochs, bar, (long long)p->step, (long long)p->steps, p->loss, p->images_per_s,
                eta);
        fflush(stderr);
    } else if (p->step == p->steps || p->step - ps->last_plain_step >= (p->steps + 9) / 10) {
        /* not a terminal: about ten plain lines per epoch */
        ps->last_plain_step = p->step == p->steps ? 0 : p->step;
        fprintf(stderr, "epoch %d/%d step %lld/%lld loss %.4f %.0f img/s ETA %s\n", p->epoch,
                p->epochs, (long long)p->step, (long long)p->steps, p->loss, p->images_per_s, eta);
    }
}

static void on_epoch(void *user, const mx_epoch_summary *e) {
    progress_state *ps = user;
    if (ps->tty && !ps->quiet) fprintf(stderr, "\n");
    printf("epoch %3d  loss %.4f (clean %.4f, mixed %.4f)  lr %.3g  %.1f s  %.0f img/s%s", e->epoch,
           e->loss, e->loss_clean, e->loss_mixed, e->lr, e->seconds, e->images_per_s,
           e->trunk_frozen ? "  [trunk frozen]" : "");
    if (e->val_r1 == e->val_r1) printf("  val R@1 %.4f MAP@R %.4f", e->val_r1, e->val_map_r);
    if (e->test_r1 == e->test_r1) printf("  test R@1 %.4f MAP@R %.4f", e->test_r1, e->test_map_r);
    printf("%s\n", e->best ? "  *" : "");
    fflush(stdout);
}

static void on_message(void *user, const char *msg) {
    progress_state *ps = user;
    if (!ps->quiet) fprintf(stderr, "%s\n", msg);
}

static void usage(FILE *f) {
    fprintf(f,
            "usage: metrix train [--preset NAME] [--config FILE.json] [--KEY VALUE ...]\n"
            "                    [--output DIR] [--quiet]\n"
            "       metrix train --resume DIR [--epochs N]\n\n"
            "Trains an embedding network with a metric loss and Metrix mixing, evaluates it on\n"
            "the classes held out from training and prints a retrieval report. With no options:\n"
            "Fashion-MNIST classes 0-4 for training, 5-9 for testing, smallcnn, d = 128,\n"
            "Multi-Similarity + Metrix/feature, Adam.\n\n"
            "The configuration resolves as: defaults <- --preset <- --config file <- --KEY flags.\n"
            "The run directory (--output, default runs/<dataset>-<loss>-<mix>-s<seed>) receives\n"
            "config.json, log.csv, checkpoint_last/best.safetensors, loss.png, recall.png,\n"
            "embeddings_pca.png and report.txt/json. Existing runs are never overwritten.\n\n"
            "  --preset NAME   paper protocols:\n");
    mx_train_config_presets(f);
    fprintf(f, "  --config FILE   JSON object of KEY: value (same keys as the flags)\n"
               "  --resume DIR    continue an interrupted run (identical to an uninterrupted one)\n"
               "  --quiet         no progress display\n\n"
               "configuration keys (--KEY VALUE or --KEY=VALUE):\n");
    mx_train_config_help(f);
}

/* Picks runs/<dataset>-<loss>-<mix>-s<seed>[-N] that does not exist yet. */
static void default_run_dir(const mx_train_config *c, char *out, size_t cap) {
    mkdir("runs", 0777);
    for (int k = 1; k < 10000; k++) {
        if (k == 1)
            snprintf(out, cap, "runs/%s-%s-%s-s%llu", c->dataset, c->loss, c->mix,
                     (unsigned long long)c->seed);
        else
            snprintf(out, cap, "runs/%s-%s-%s-s%llu-%d", c->dataset, c->loss, c->mix,
                     (unsigned long long)c->seed, k);
        struct stat st;
        if (stat(out, &st) != 0) return;
    }
}

int mx_cmd_train(int argc, char **argv) {
    (void)mx_cli_stop_on_signals(); /* first, before any thread: see tools/cli_signal.c */
    mx_train_config cfg = mx_train_config_default();
    const char *preset = NULL, *config = NULL, *resume = NULL;
    int quiet = 0, resume_epochs = 0;
    /* pass 1: preset, config file, resume, help */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--preset") || !strcmp(a, "--config") || !strcmp(a, "--resume")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "metrix train: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "--preset"))
                preset = argv[i + 1];
            else if (!strcmp(a, "--config"))
                config = argv[i + 1];
            else
                resume = argv[i + 1];
            i++;
        }
    }
    if (preset && mx_train_config_preset(&cfg, preset) != MX_OK) {
        fprintf(stderr, "metrix train: %s\n", mx_errmsg());
        return 2;
    }
    if (config && mx_train_config_load(&cfg, config) != MX_OK) {
        fprintf(stderr, "metrix train: %s\n", mx_errmsg());
        return 2;
    }
    /* pass 2: --KEY VALUE flags */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--preset") || !strcmp(a, "--config") || !strcmp(a, "--resume")) {
            i++;
            continue;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "metrix train: unexpected argument '%s' (options are --KEY VALUE)\n",
                    a);
            return 2;
        }
        char key[128];
        const char *val;
        const char *eq = strchr(a + 2, '=');
        if (eq) {
            snprintf(key, sizeof key, "%.*s", (int)(eq - a - 2), a + 2);
            val = eq + 1;
        } else {
            if (i + 1 >= argc) {
                fprintf(stderr, "metrix train: --%s needs a value\n", a + 2);
                return 2;
            }
            snprintf(key, sizeof key, "%s", a + 2);
            val = argv[++i];
        }
        for (char *p = key; *p; p++)
            if (*p == '-') *p = '_';
        if (resume) {
            if (!strcmp(key, "epochs")) {
                resume_epochs = atoi(val);
                if (resume_epochs < 1) {
                    fprintf(stderr, "metrix train: --epochs: '%s' is not a positive integer\n",
                            val);
                    return 2;
                }
                continue;
            }
            fprintf(stderr, "metrix train: --resume takes only --epochs (the run's config.json "
                            "fixes the rest)\n");
            return 2;
        }
        if (mx_train_config_set(&cfg, key, val) != MX_OK) {
            fprintf(stderr, "metrix train: %s\n", mx_errmsg());
            return 2;
        }
    }
    if (!resume && mx_train_config_validate(&cfg) != MX_OK) {
        fprintf(stderr, "metrix train: %s\n", mx_errmsg());
        return 2;
    }

    volatile const int *stop = mx_cli_stop_on_signals(); /* the whole run, setup included */
    /* under mpirun: data parallel over the ranks, rank 0 prints (docs/scaling.md) */
    mx_comm *comm = mx_cli_comm_open("train");
    if (!comm) return 1;
    const int rank0 = mx_comm_rank(comm) == 0, nranks = mx_comm_size(comm);
    mx_trainer *t = NULL;
    mx_status s;
    char dir[1200];
    if (resume) {
        snprintf(dir, sizeof dir, "%s", resume);
        s = mx_trainer_resume_comm(dir, resume_epochs, comm, &t);
    } else {
        if (cfg.output[0])
            snprintf(dir, sizeof dir, "%s", cfg.output);
        else if (rank0)
            default_run_dir(&cfg, dir, sizeof dir);
        /* every rank trains in rank 0's choice of run directory */
        if (!cfg.output[0] && mx_comm_bcast(comm, dir, (int64_t)sizeof dir, 0) != MX_OK) {
            fprintf(stderr, "metrix train: %s\n", mx_errmsg());
            mx_comm_free(comm);
            return 1;
        }
        if (rank0) {
            printf("metrix %s: training run %s\n%s\nconfiguration:\n", mx_version(), dir,
                   mx_build_info());
            mx_train_config_write_json(&cfg, stdout);
            if (nranks > 1)
                printf("data parallel over %d ranks (MPI): global batch %d, %d per rank\n", nranks,
                       cfg.batch, cfg.batch % nranks ? 0 : cfg.batch / nranks);
            fflush(stdout);
        }
        s = mx_trainer_create_comm(&cfg, dir, comm, &t);
    }
    if (s != MX_OK) {
        if (rank0) fprintf(stderr, "metrix train: %s\n", mx_errmsg());
        mx_comm_free(comm);
        return 1;
    }
    if (resume && rank0) printf("metrix %s: resuming run %s\n", mx_version(), dir);
    /* tests/fault_test.sh: SIGKILL at a chosen point (src/train/trainer_fault.h) */
    const char *fault = getenv("MX_FAULT_INJECT");
    if (fault && fault[0] && mx_trainer_fault_inject(t, fault) != MX_OK) {
        fprintf(stderr, "metrix train: %s\n", mx_errmsg());
        mx_trainer_free(t);
        mx_comm_free(comm);
        return 2;
    }

    progress_state ps = {isatty(fileno(stderr)), quiet || !rank0, 0};
    mx_train_callbacks cb = {on_progress, on_epoch, on_message, &ps};
    mx_train_callbacks quiet_cb = {NULL, NULL, on_message, &ps}; /* ranks > 0 */
    s = mx_trainer_run(t, rank0 ? &cb : &quiet_cb, stop);
    if (nranks > 1 && rank0) {
        mx_comm_stats cs;
        mx_comm_stats_get(comm, &cs);
        printf("communication (rank 0): %.1f s in %lld collectives, %.3f MB all-reduced, %.3f MB "
               "all-gathered\n",
               cs.seconds, (long long)cs.calls, cs.bytes_allreduce / 1e6, cs.bytes_allgather / 1e6);
    }
    if (!rank0) {
        /* every rank returns the same (agreed) status; rank 0 reports it */
    } else if (s == MX_OK) {
        printf("\nretrieval report on the test classes (%s):\n%s", dir, mx_trainer_report_text(t));
        printf("run directory: %s (config.json, log.csv, checkpoints, plots, report)\n", dir);
    } else {
        if (ps.tty && !quiet) fprintf(stderr, "\n");
        fprintf(stderr, "metrix train: %s\n", mx_errmsg());
    }
    mx_trainer_free(t);
    mx_comm_free(comm);
    return s == MX_OK ? 0 : (s == MX_ERR_INTERRUPTED ? 130 : 1);
}
