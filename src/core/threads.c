/* One OpenMP pool for metrix, oneDNN (OpenMP runtime) and OpenBLAS (OpenMP build). */
#include <omp.h>

#include <cblas.h>

#include "core/core_impl.h"

int mx_threads_set(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

int mx_threads_get(void) {
    return omp_get_max_threads();
}
