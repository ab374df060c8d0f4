/* The experiment files of examples/{fast_weights,phased_lstm,zoneout} parse and check
 * cleanly (no warnings either), so that run.sh does not fail late on a typo. */
#include <criterion/criterion.h>
#include <string.h>

#include "lang.h"

static const char *import_paths[] = {NNC_SOURCE_DIR "/stdlib", NULL};

static int warnings(const Lang *L) {
  int n = 0;
  for (const Diag *d = diag_first(L); d; d = d->next) n += d->level == DIAG_WARNING;
  return n;
}

static void check_file(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/examples/%s", NNC_SOURCE_DIR, rel);
  LangOptions lo = {.import_paths = import_paths};
  Lang *L = lang_new(&lo);
  Node *f = lang_parse_file(L, path);
  cr_assert_not_null(f, "%s does not parse", rel);
  int errs = lang_check(L, f);
  if (errs || warnings(L)) diag_render(L, stderr, 0);
  cr_expect_eq(errs, 0, "%s has errors", rel);
  cr_expect_eq(warnings(L), 0, "%s has warnings", rel);
  lang_free(L);
}

Test(examples, experiment_files_check) {
  const char *files[] = {"fast_weights/fw.nn", "fast_weights/lstm.nn", "fast_weights/irnn.nn",
                         "phased_lstm/plstm.nn", "phased_lstm/plstm_gates.nn", "phased_lstm/lstm.nn",
                         "zoneout/none.nn", "zoneout/recdrop.nn", "zoneout/zoneout.nn", "zoneout/gradflow.nn"};
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) check_file(files[i]);
}
