/* fuzz_lang.c — libFuzzer target: the front end (lexer, parser, imports, checker) and its
 * dumps and diagnostics on arbitrary bytes. Property: no crash, no leak, no UB, and an
 * input that checks clean has no error diagnostics. Seeds: stdlib/, examples/ and the
 * tests/lang corpora (scripts/fuzz.sh); dictionary: nn.dict. */
#include <string.h>

#include "fuzz_util.h"
#include "lang.h"

static const char *fz_import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  LangOptions lo = {.import_paths = fz_import_paths, .max_errors = 20};
  Lang *L = lang_new(&lo);
  if (!L) return 0;
  Node *file = lang_parse_string(L, "fuzz.nn", (const char *)data, size);
  if (file) {
    int errs = lang_check(L, file);
    if (errs == 0 && diag_error_count(L) != 0) __builtin_trap();
    lang_dump_types(L, file, fz_null());
    ast_dump(L, file, fz_null());
  }
  SrcFile *f = lang_file_count(L) > 0 ? src_get(L, 0) : NULL;
  if (f) lang_dump_tokens(L, f, fz_null());
  diag_render(L, fz_null(), size & 1);
  lang_free(L);
  return 0;
}
