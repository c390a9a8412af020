/* The case-file parser: lexing, `each` expansion, `loop` unrolling, validation.
 *
 * The public entry points (wsc_suite_load_files, wsc_suite_load_buffer, wsc_lint_files,
 * selection) are declared in case.h, the model they produce; this header adds the small
 * value parsers the runner and the CLI reuse so that `--timeout 2s` means what it means in
 * a case file. The language itself is documented in cases/README.md.
 */
#ifndef WSC_CASEPARSE_H
#define WSC_CASEPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "case.h"

/* "500ms", "2s", "1.5s", "250us" -> microseconds. A unit is required.
 * Returns 0 or WSREF_E_INVALID_ARG. */
int wsc_parse_duration(const char *s, size_t len, uint64_t *us);

/* Defaults of struct wsc_load_opts, for callers that want to change one field. */
void wsc_load_opts_default(struct wsc_load_opts *o);

/* The cases folder, as every wsconform command finds it: opt (--cases-dir), $WSC_CASES,
 * then relative to the executable (build/bin, build/asan/bin, an installed bin/ with
 * share/wsconform/cases), then ./cases. Returns a malloc'd path (NULL only on OOM). */
char *wsc_cases_dir_find(const char *opt);

#endif
