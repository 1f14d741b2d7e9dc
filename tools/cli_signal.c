/* SIGINT / SIGTERM for the long commands (train, eval, embed). The first signal sets a flag the
 * library polls (mx_trainer_run, mx_eval_config.stop, mx_trainer_set_stop): the command stops
 * within about a second, saving what it must, and exits non-zero. A second signal takes the
 * default action at once (a checkpoint being written then stays a temporary file, removed by the
 * next --resume; the previous checkpoint is intact). */
#include <signal.h>
#include <string.h>

#include "cmd.h"

static volatile int g_stop = 0; /* written only by the handler: int is sig_atomic_t on our ABIs */
_Static_assert(sizeof(sig_atomic_t) == sizeof(int), "the stop flag must be sig_atomic_t");

static void on_signal(int sig) {
    if (g_stop) {
        signal(sig, SIG_DFL);
        raise(sig);
        return;
    }
    g_stop = 1;
}

volatile const int *mx_cli_stop_on_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART; /* blocking reads and writes carry on; the flag is polled */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}
