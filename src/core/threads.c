/* One OpenMP pool for metrix, oneDNN (OpenMP runtime) and OpenBLAS (OpenMP build). */
#include <omp.h>
#include <stdio.h>

#include <oneapi/dnnl/dnnl.h>

#include <cblas.h>

#include "core/core_impl.h"
#include "metrix/gemm.h"

int mx_threads_set(int n) {
    if (n <= 0) n = omp_get_num_procs();
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
}

int mx_threads_get(void) {
    return omp_get_max_threads();
}

const char *mx_build_info(void) {
    static _Thread_local char buf[512];
    const dnnl_version_t *v = dnnl_version();
    const char *isa = "?";
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_avx512_core_amx: isa = "avx512_core_amx"; break;
    case dnnl_cpu_isa_avx512_core_bf16: isa = "avx512_core_bf16"; break;
    case dnnl_cpu_isa_avx512_core_vnni: isa = "avx512_core_vnni"; break;
    case dnnl_cpu_isa_avx512_core: isa = "avx512_core"; break;
    case dnnl_cpu_isa_avx2_vnni: isa = "avx2_vnni"; break;
    case dnnl_cpu_isa_avx2: isa = "avx2"; break;
    case dnnl_cpu_isa_avx: isa = "avx"; break;
    case dnnl_cpu_isa_sse41: isa = "sse41"; break;
    default: break;
    }
    snprintf(buf, sizeof buf, "oneDNN %d.%d.%d (ISA %s), OpenBLAS (%s), GEMM %s, %d threads",
             v->major, v->minor, v->patch, isa, openblas_get_config(), mx_sgemm_backend(),
             mx_threads_get());
    return buf;
}
