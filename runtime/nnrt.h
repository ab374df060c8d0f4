/* nnrt.h: the public API of libnnrt, nnc's runtime (no LLVM). */
#ifndef NNRT_H
#define NNRT_H
#include <stddef.h>
#include <stdint.h>
#endif
