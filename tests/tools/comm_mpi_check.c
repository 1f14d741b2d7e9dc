/* comm_mpi_check: tests/comm_check.inc on the MPI communicator; run as
 * mpirun -np N comm_mpi_check (tests/mpi_test.sh). Exit 0 when every check passes on this rank. */
#include <stdio.h>
#include <string.h>

#include "comm_check.inc"

int main(void) {
    mx_comm *c = NULL;
    CHECK_OK(mx_comm_create_mpi(&c));
    if (!c) return mx_test_finish("comm_mpi_check");
    CHECK(!strcmp(mx_comm_kind(c), "mpi"));
    comm_checks(c);
    printf("comm_mpi_check: rank %d of %d: %d checks, %d failures\n", mx_comm_rank(c),
           mx_comm_size(c), mx_test_checks, mx_test_failures);
    mx_comm_free(c);
    return mx_test_finish("comm_mpi_check");
}
