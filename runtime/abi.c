/* abi.c: the table of runtime functions that generated code calls, built from abi.def.
 * The JIT walks it once and defines every symbol with LLVMOrcAbsoluteSymbols. */
#include "rt.h"

#define NNRT_ABI(name, ret, params) {#name, (void (*)(void))name, #ret, #params},
const rt_abi_entry rt_abi_table[] = {
#include "abi.def"
};
#undef NNRT_ABI

const int rt_abi_count = (int)(sizeof rt_abi_table / sizeof rt_abi_table[0]);
