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

#endif
