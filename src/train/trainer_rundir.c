/* The run directory's integrity after crashes, full disks and read-only mounts.
 *
 *   lock         one trainer per run directory: flock(LOCK_EX) on the directory itself, held
 *                until mx_trainer_free (a second `train --resume` of the same run is refused)
 *   write probe  create + remove a file before any training, so that a read-only directory
 *                fails at once instead of at the end of the first epoch
 *   temp files   a killed writer leaves "<file>.tmp.<pid>" (mx_atomic_*) or "<file>.tmp.XXXXXX"
 *                (PNG plots): removed on resume, for the run's own file names only
 *   log.csv      rows are appended (and fsynced) before the epoch's checkpoint is committed; a
 *                row whose checkpoint failed is cut off at once (mx_tr_log_truncate), and a
 *                resume cuts the log back to the checkpoint's epochs (mx_tr_log_cut), so the
 *                log always describes exactly the checkpointed history
 *   faults       MX_FAULT_INJECT (see trainer_fault.h): SIGKILL at chosen points, for tests */
#define _DEFAULT_SOURCE /* flock */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/io_impl.h"
#include "train/trainer_fault.h"
#include "train/trainer_impl.h"

#define PROBE_NAME ".write-probe"

mx_status mx_tr_dir_acquire(mx_trainer *t) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    int fd = open(t->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return mx_error(MX_ERR_IO, "%s: cannot open the run directory: %s", t->dir,
                        strerror(errno));
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int err = errno;
        close(fd);
        if (err == EWOULDBLOCK)
            return mx_error(MX_ERR_IO,
                            "%s: the run directory is in use by another metrix train process "
                            "(wait for it to end, or stop it, then --resume)",
                            t->dir);
        return mx_error(MX_ERR_IO, "%s: cannot lock the run directory: %s", t->dir, strerror(err));
    }
    t->lock_fd = fd;
    char path[1100];
    snprintf(path, sizeof path, "%s/" PROBE_NAME ".tmp.%ld", t->dir, (long)getpid());
    int pf = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (pf < 0)
        return mx_error(MX_ERR_IO,
                        "%s: the run directory is not writable (cannot create %s: %s); no "
                        "checkpoint could be saved: make it writable, or copy the run elsewhere "
                        "and resume the copy",
                        t->dir, path, strerror(errno));
    close(pf);
    if (unlink(path) != 0)
        return mx_error(MX_ERR_IO, "%s: cannot remove the write probe %s: %s", t->dir, path,
                        strerror(errno));
    return MX_OK;
}

/* Is name "<one of the run's files>.tmp.<suffix>", suffix of letters and digits? */
static int is_our_temp(const char *name) {
    static const char *const files[] = {"checkpoint_last.safetensors",
                                        "checkpoint_best.safetensors",
                                        "config.json",
                                        "classes.tsv",
                                        "log.csv",
                                        "report.txt",
                                        "report.json",
                                        "loss.png",
                                        "recall.png",
                                        "embeddings_pca.png",
                                        PROBE_NAME};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t n = strlen(files[i]);
        if (strncmp(name, files[i], n) != 0 || strncmp(name + n, ".tmp.", 5) != 0) continue;
        const char *p = name + n + 5;
        if (!*p) return 0;
        for (; *p; p++)
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
                return 0;
        return 1;
    }
    return 0;
}

mx_status mx_tr_dir_clean_temps(mx_trainer *t) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    DIR *dir = opendir(t->dir);
    if (!dir)
        return mx_error(MX_ERR_IO, "%s: cannot list the run directory: %s", t->dir,
                        strerror(errno));
    mx_status s = MX_OK;
    struct dirent *de;
    while (s == MX_OK && (de = readdir(dir)) != NULL) {
        if (!is_our_temp(de->d_name)) continue;
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", t->dir, de->d_name);
        if (unlink(path) != 0)
            s = mx_error(MX_ERR_IO, "%s: cannot remove the stale temporary file: %s", path,
                         strerror(errno));
        else
            mx_log(MX_LOG_WARN, "removed %s (left by an interrupted write)", path);
    }
    closedir(dir);
    return s;
}

mx_status mx_tr_log_cut(mx_trainer *t, int64_t max_epoch) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    mx_tr_path(t, "log.csv", path, sizeof path);
    struct stat sb;
    if (stat(path, &sb) != 0 && errno == ENOENT) return MX_OK;
    unsigned char *buf;
    size_t len;
    MX_TRY(mx_io_read_file(path, &buf, &len));
    /* keep: the header line, then complete rows ("\n"-terminated) of increasing epochs
     * 1 .. max_epoch (a torn last row, repeated or later epochs are dropped) */
    char *out = malloc(len + 1);
    if (!out) {
        mx_free(buf);
        return mx_error(MX_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t o = 0, pos = 0;
    int64_t last = 0, dropped = 0;
    int header = 0;
    while (pos < len) {
        const char *line = (const char *)buf + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) + 1 : len - pos;
        pos += n;
        int keep = 0;
        if (!nl) {
            keep = 0; /* torn write */
        } else if (!header) {
            keep = header = strncmp(line, "epoch,", 6) == 0;
        } else {
            char *end;
            long long ep = strtoll(line, &end, 10);
            keep = end != line && *end == ',' && ep > last && ep <= max_epoch;
            if (keep) last = ep;
        }
        if (keep) {
            memcpy(out + o, line, n);
            o += n;
        } else if (header || nl) {
            dropped++;
        }
    }
    mx_status s = MX_OK;
    if (o != len) {
        mx_atomic_file *af;
        FILE *f;
        s = mx_atomic_open(path, &af, &f);
        if (s == MX_OK) {
            if (o > 0) fwrite(out, 1, o, f);
            s = mx_atomic_commit(af);
        }
        if (s == MX_OK)
            mx_log(MX_LOG_WARN,
                   "%s: dropped %" PRId64 " row(s) beyond the checkpoint's epoch %" PRId64
                   " (written before an interrupted checkpoint)",
                   path, dropped, max_epoch);
    }
    free(out);
    mx_free(buf);
    return s;
}

mx_status mx_tr_log_truncate(mx_trainer *t, int64_t size) {
    if (t->follower) return MX_OK; /* rank 0 alone writes the run directory */
    char path[1100];
    mx_tr_path(t, "log.csv", path, sizeof path);
    if (truncate(path, (off_t)size) != 0)
        return mx_error(MX_ERR_IO, "%s: cannot cut the log back to %" PRId64 " bytes: %s", path,
                        size, strerror(errno));
    return MX_OK;
}

/* ---- fault injection --------------------------------------------------------------------- */

int mx_tr_fault_hit(mx_trainer *t, int kind) {
    if (t->follower) return 0;
    if (t->fault_kind != kind || ++t->fault_seen[kind] != t->fault_n) return 0;
    if (kind == MX_TR_FAULT_CKPT_WRITE) return 1; /* the checkpoint writer dies half-way */
    if (kind == MX_TR_FAULT_EVAL_SIGTERM || kind == MX_TR_FAULT_REPORT_SIGTERM) {
        /* to the process, as `kill` would: the CLI's signal thread sets the stop flag; wait
         * (up to 5 s) until it has, so that the phase after this point sees it */
        kill(getpid(), SIGTERM);
        struct timespec ms = {0, 1000000};
        for (int i = 0; i < 5000 && !mx_stopped(t->stop); i++) nanosleep(&ms, NULL);
    } else {
        raise(SIGKILL);
    }
    return 1;
}

mx_status mx_trainer_fault_inject(mx_trainer *t, const char *spec) {
    static const char *const names[] = {NULL,        "ckpt_write",   "log_row",
                                        "ckpt_done", "eval_sigterm", "report_sigterm"};
    const char *colon = spec ? strchr(spec, ':') : NULL;
    if (colon) {
        char *end;
        long long n = strtoll(colon + 1, &end, 10);
        for (int k = 1; k < 6; k++)
            if (strlen(names[k]) == (size_t)(colon - spec) &&
                !strncmp(spec, names[k], (size_t)(colon - spec)) && *end == 0 && n >= 1) {
                t->fault_kind = k;
                t->fault_n = n;
                memset(t->fault_seen, 0, sizeof t->fault_seen);
                return MX_OK;
            }
    }
    return mx_error(MX_ERR_CONFIG,
                    "MX_FAULT_INJECT='%s': expected ckpt_write:N, log_row:N, ckpt_done:N, "
                    "eval_sigterm:N or report_sigterm:N (N >= 1)",
                    spec ? spec : "");
}
