/* fuzz_repl.c — libFuzzer target: the REPL's line handler (repl_needs_more + repl_input
 * of compiler/repl_eval.c) on a scripted session: the input is split into lines, lines
 * gather while repl_needs_more says so, and each complete input goes to the session, as
 * repl.c does for a non-terminal stdin. `:load` (reads any file) and `:time` (runs for
 * 200 ms) are left out; expressions compile through the JIT with the disk cache off
 * (NNC_NO_CACHE), so executions are slow (~0.1 s each): run it longer than the others.
 * Property: no crash, leak or UB; the session survives every input. */
#include <string.h>

#include "api_int.h"
#include "fuzz_util.h"

#define FZ_MAX_INPUTS 8

static const char *fz_import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  setenv("NNC_NO_CACHE", "1", 1);
  return 0;
}

/* 1 for a command this target must not run. */
static int fz_banned(const char *t) {
  while (*t == ' ' || *t == '\t' || *t == '\n') t++;
  return !strncmp(t, ":load", 5) || !strncmp(t, ":time", 5) || !strncmp(t, ":l", 2) ||
         !strncmp(t, ":t", 2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > 4096 || memchr(data, 0, size)) return 0;
  char *text = malloc(size + 1), *buf = malloc(size + 2);
  repl_session *s = repl_new(fz_import_paths);
  if (!text || !buf || !s) goto done;
  memcpy(text, data, size);
  text[size] = 0;
  size_t n = 0;
  int inputs = 0;
  for (char *line = text, *next; line && inputs < FZ_MAX_INPUTS; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = 0;
    size_t k = strlen(line);
    memcpy(buf + n, line, k);
    n += k;
    buf[n++] = '\n';
    buf[n] = 0;
    if (next && repl_needs_more(buf)) continue;
    inputs++;
    if (!fz_banned(buf) && repl_input(s, buf, fz_null())) break;
    n = 0;
  }
done:
  repl_free(s);
  free(text);
  free(buf);
  return 0;
}
