/* driver_int.h — internals of the training driver (driver.c, driver_data.c). */
#ifndef NNC_DRIVER_INT_H
#define NNC_DRIVER_INT_H

#include "driver.h"
#include "irgen.h"
#include "nnrt.h"

/* One split of a data source: rows of x (and y), and the batch fields they feed. */
typedef struct Data {
  nnrt_tensor *x, *y;       /* borrowed views into owned[] */
  IrgField fields[2];       /* shapes with dim 0 = batch size (set per program) */
  int nfields;
  int vocab;                /* text sources: symbols */
  nnrt_tensor *owned[8];
  int nowned;
  nnrt_text *text;
} Data;

int drv_data_load(Data *train, Data *held, const IrgSettings *s, nnrt_ctx *ctx, char *msg, size_t cap);
void drv_data_free(Data *d);

#endif
