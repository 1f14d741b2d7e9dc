/* SIGINT / SIGTERM / SIGUSR1 for the long commands (train, eval, embed). SIGUSR1 is there for
 * mpirun: OpenMPI's mpirun takes SIGINT / SIGTERM itself (it records exit status 1, then sends
 * SIGTERM to the ranks), but forwards SIGUSR1 to every rank untouched, so `kill -USR1 <mpirun>`
 * stops a data-parallel run with the ranks' own status, 130 (docs/scaling.md). The first signal
 * sets a flag the library polls (mx_trainer_run, mx_eval_config.stop, mx_trainer_set_stop): the
 * command stops within about a second, saving what it must, and exits 130. A second signal takes
 * the default action at once (a checkpoint being written then stays a temporary file, removed by
 * the next --resume; the previous checkpoint is intact).
 *
 * The signals are blocked in every thread and taken by one thread in sigwait(), not by an
 * asynchronous handler: a handler runs on whatever thread the kernel picks, in the middle of
 * whatever it is doing, and oneDNN's JIT GEMM kernels did not survive that (heap corruption,
 * "corrupted size vs. prev_size", when SIGTERM landed inside mx_model_forward at d = 8192). So
 * mx_cli_stop_on_signals must run before any other thread exists (threads inherit the mask). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

#include "cmd.h"

static volatile int g_stop = 0; /* set by the signal thread, polled by the computation */
static int g_started = 0;       /* the CLI's main thread only */

static void *signal_thread(void *arg) {
    const sigset_t *set = arg;
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0) continue;
        if (g_stop) { /* the second signal: its default action, now */
            sigset_t one;
            sigemptyset(&one);
            sigaddset(&one, sig);
            signal(sig, SIG_DFL);
            pthread_sigmask(SIG_UNBLOCK, &one, NULL);
            raise(sig);
        }
        g_stop = 1;
    }
    return NULL;
}

volatile const int *mx_cli_stop_on_signals(void) {
    static sigset_t set;
    if (g_started) return &g_stop;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGUSR1);
    pthread_t th;
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
        pthread_create(&th, NULL, signal_thread, &set) != 0) {
        pthread_sigmask(SIG_UNBLOCK, &set, NULL); /* plain default actions then */
        fprintf(stderr, "metrix: cannot start the signal thread: Ctrl-C will not save a "
                        "checkpoint\n");
        return &g_stop;
    }
    pthread_detach(th);
    g_started = 1;
    return &g_stop;
}
