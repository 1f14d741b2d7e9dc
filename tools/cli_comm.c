/* The communicator of `metrix train` and `metrix bench train`: MPI under mpirun, else one
 * process. */
#include <stdio.h>

#include "metrix/metrix.h"
#include "cmd.h"

mx_comm *mx_cli_comm_open(const char *cmd) {
    mx_comm *c = NULL;
    mx_status s;
    if (mx_comm_launched_by_mpirun()) {
        s = mx_comm_create_mpi(&c);
        if (s != MX_OK && !mx_comm_mpi_available()) {
            fprintf(stderr,
                    "metrix %s: started by mpirun, but this metrix was built without MPI "
                    "(install libopenmpi-dev and rebuild)\n",
                    cmd);
            return NULL;
        }
    } else {
        s = mx_comm_create_single(&c);
    }
    if (s != MX_OK) {
        fprintf(stderr, "metrix %s: %s\n", cmd, mx_errmsg());
        return NULL;
    }
    if (mx_comm_rank(c) > 0) mx_log_set(NULL, NULL, MX_LOG_ERROR); /* rank 0 speaks */
    return c;
}
