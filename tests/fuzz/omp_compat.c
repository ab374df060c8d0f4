/* omp_compat.c — linked into the fuzz targets only when scripts/fuzz.sh builds them
 * against LLVM 14's libomp (NNC_FUZZ_OMP14=ON; libomp-19-dev is not installed, since it
 * uninstalls libomp-dev). clang-19 ends each dynamically scheduled loop with
 * __kmpc_dispatch_deinit, which libomp 19 added; libomp 14 recycles its dispatch buffers
 * in __kmpc_dispatch_next when the loop runs out, so there is nothing to do here. */
#include <stdint.h>

void __kmpc_dispatch_deinit(void *loc, int32_t gtid);

void __kmpc_dispatch_deinit(void *loc, int32_t gtid) {
  (void)loc;
  (void)gtid;
}
