/* The single-process communicator (every collective a no-op with the right result), and the
 * MPI constructor's answer when metrix was built without MPI. The same checks run on 2 and 4
 * ranks under mpirun in tests/mpi_test.sh (tests/tools/comm_mpi_check.c). */
#include <string.h>

#include "comm_check.inc"

int main(void) {
    mx_comm *c = NULL;
    CHECK_OK(mx_comm_create_single(&c));
    if (c) {
        CHECK(mx_comm_rank(c) == 0 && mx_comm_size(c) == 1);
        CHECK(!strcmp(mx_comm_kind(c), "single"));
        comm_checks(c);
    }
    mx_comm_free(c);
    mx_comm_free(NULL);
    if (!mx_comm_mpi_available()) {
        mx_comm *m = (mx_comm *)1;
        CHECK(mx_comm_create_mpi(&m) == MX_ERR_BACKEND && m == NULL);
        CHECK(strstr(mx_errmsg(), "without MPI") != NULL);
    }
    return mx_test_finish("test_comm");
}
