/* fuzz_util.h — helpers shared by the libFuzzer targets (one process per target).
 *
 * Loaders that only take a path get the input through a per-process temporary file
 * (in $TMPDIR, else /dev/shm); output that a target renders (diagnostics, dumps) goes to /dev/null. */
#ifndef NNC_FUZZ_UTIL_H
#define NNC_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* fz_null: a FILE* that discards everything (opened once). */
__attribute__((unused)) static FILE *fz_null(void) {
  static FILE *f;
  if (!f) f = fopen("/dev/null", "w");
  return f;
}

/* fz_write_temp: writes data to a per-process file whose name ends in suffix (".gz"
 * matters to loaders that sniff it); returns its path, or NULL if it could not. */
__attribute__((unused)) static const char *fz_write_temp(const uint8_t *data, size_t size, const char *suffix) {
  static char path[256];
  const char *dir = getenv("TMPDIR");
  if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(path, sizeof path, "%s/nnc-fuzz-%ld%s", dir, (long)getpid(), suffix);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  size_t n = size ? fwrite(data, 1, size, f) : 0;
  if (fclose(f) != 0 || n != size) return NULL;
  return path;
}

#endif
