/* test_regress.c — regression tests for crashes the fuzz targets found in the compiler
 * (the inputs are also under tests/fuzz/regress/<target>/, replayed by scripts/fuzz.sh).
 *  - fuzz_repl: `let x =` with an empty expression compiled to a function with no
 *    results; `let` stored the uninitialized res[0] as the variable, and repl_free (or
 *    the next use of x) freed a wild pointer (heap-buffer-overflow in nnrt_tensor_free). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"

static const char *import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

/* Feeds each input to a fresh session; returns what the session printed (malloc'ed). */
static char *session(const char *const *inputs, int n) {
  char *text = NULL;
  size_t len = 0;
  FILE *out = open_memstream(&text, &len);
  cr_assert_not_null(out);
  repl_session *s = repl_new(import_paths);
  cr_assert_not_null(s);
  for (int i = 0; i < n; i++) repl_input(s, inputs[i], out);
  repl_free(s);
  fclose(out);
  return text;
}

Test(regress, repl_let_without_a_value) {
  setenv("NNC_NO_CACHE", "1", 1);
  const char *in[] = {"let x =\n", "let y = \n", "x\n", "let z = ones(2)\n", "z + 1\n"};
  char *text = session(in, 5);
  cr_assert_not_null(strstr(text, "error"), "%s", text);
  cr_assert_not_null(strstr(text, "2"), "the session did not go on after the error:\n%s", text);
  free(text);
}
