/* Subcommands of the metrix CLI. Each takes (argc, argv) with argv[0] the command name and
 * returns the process exit code: 0 success, 1 runtime failure, 2 usage error. */
#ifndef MX_TOOLS_CMD_H
#define MX_TOOLS_CMD_H

typedef struct mx_cmd {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} mx_cmd;

int mx_cmd_version(int argc, char **argv);

/* "test" | "val" | "train" -> *out (1), else prints "metrix CMD: --split ...: expected ..." (0). */
#include "metrix/data.h"
int mx_cli_split(const char *cmd, const char *name, mx_split *out);

/* Takes SIGINT / SIGTERM from here on (tools/cli_signal.c: blocked in all threads, a signal
 * thread sets the flag) and returns the stop flag, for mx_trainer_run, mx_trainer_set_stop and
 * mx_eval_config.stop. Call it before any other thread is started. Exit code 130 on a stop. */
volatile const int *mx_cli_stop_on_signals(void);
/* tools/cli_comm.c: the communicator of a data-parallel command: MPI when started by mpirun
 * (mx_comm_launched_by_mpirun), else one process. Ranks other than 0 log errors only. On failure
 * prints "metrix CMD: ..." and returns NULL. */
#include "metrix/comm.h"
mx_comm *mx_cli_comm_open(const char *cmd);
int mx_cmd_bench(int argc, char **argv);
int mx_cmd_embed(int argc, char **argv);
int mx_cmd_eval(int argc, char **argv);
int mx_cmd_search(int argc, char **argv);
int mx_cmd_train(int argc, char **argv);

/* metrix bench subcommands (tools/bench_<what>.c) */
int mx_bench_train(int argc, char **argv);
int mx_bench_knn(int argc, char **argv);
int mx_bench_loss(int argc, char **argv);
int mx_bench_mix(int argc, char **argv);

#endif
