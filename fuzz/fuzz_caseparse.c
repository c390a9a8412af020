/* The case-file parser (harness/caseparse.c through wsc_suite_load_buffer()): a user's bad
 * case file must give an error with diagnostics, never a crash, a hang or a leak.
 *
 * Input: the text of one case file. Limits are lowered (expansions, steps, payload sizes)
 * so that a small file cannot legitimately ask for gigabytes; file("...") payloads resolve
 * under cases/data (run from the project root).
 *
 * Checks: the result is one of the documented codes; success means no diagnostics and
 * well-formed cases (ids, at least one clause, a source location inside the text, payload
 * lengths within max_payload); failure means an empty suite and at least one diagnostic,
 * at most max_errors, each with a message and a plausible location.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "case.h"
#include "caseparse.h"
#include "payload.h"
#include "support/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = (char *)fuzz_dup(data, size);
  struct wsc_load_opts opts;
  wsc_load_opts_default(&opts);
  opts.data_dir = "cases/data";
  opts.max_payload = 1 << 20;
  opts.max_expansions = 256;
  opts.max_steps = 1024;
  opts.max_errors = 16;
  struct wsc_suite suite;
  memset(&suite, 0, sizeof suite);
  struct wsc_diags diags;
  memset(&diags, 0, sizeof diags);

  int rc = wsc_suite_load_buffer("fuzz.case", text, size, &opts, &suite, &diags);
  FUZZ_CHECK(rc == 0 || rc == WSREF_E_INVALID_ARG || rc == WSREF_E_IO || rc == WSREF_E_NOMEM);
  size_t lines = 1;
  for (size_t i = 0; i < size; i++) lines += text[i] == '\n';

  FUZZ_CHECK(diags.n <= opts.max_errors);
  for (size_t i = 0; i < diags.n; i++) {
    FUZZ_CHECK(diags.v[i].msg != NULL && diags.v[i].msg[0] != '\0');
    FUZZ_CHECK(diags.v[i].line >= 0 && (size_t)diags.v[i].line <= lines);
  }
  if (rc == 0) {
    FUZZ_CHECK(diags.n == 0);
    FUZZ_CHECK(suite.ncases <= opts.max_expansions * (lines + 1));
    for (size_t i = 0; i < suite.ncases; i++) {
      const struct wsc_case *c = &suite.cases[i];
      FUZZ_CHECK(c->id && c->id[0]);
      FUZZ_CHECK(c->nclauses >= 1);
      FUZZ_CHECK(c->loc.line >= 1 && (size_t)c->loc.line <= lines);
      FUZZ_CHECK(c->nsteps <= opts.max_steps);
      for (size_t k = 0; k < c->nsteps; k++) {
        const struct wsc_step *s = &c->steps[k];
        FUZZ_CHECK(s->loc.line >= 1 && (size_t)s->loc.line <= lines);
        if (s->raw && !wsc_payload_has_vars(s->raw)) {
          uint64_t len = 0;
          if (wsc_payload_length(s->raw, NULL, &len) == 0) FUZZ_CHECK(len <= opts.max_payload);
        }
      }
    }
  } else {
    FUZZ_CHECK(suite.ncases == 0);
    if (rc == WSREF_E_INVALID_ARG) FUZZ_CHECK(diags.n >= 1);
  }
  wsc_suite_free(&suite);
  wsc_diags_free(&diags);
  free(text);
  return 0;
}
