/* Comparing two runs: `wsconform diff A.json B.json` and `run --baseline FILE`.
 *
 * Cases are matched by id. A regression is a case that did not fail in A (the baseline) and
 * fails in B; with a baseline, only regressions fail a CI run: cases that already failed, and
 * new cases, do not. "Fails" follows wsc_verdict_is_failure() with the given strictness.
 */
#ifndef WSC_DIFF_H
#define WSC_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "result.h"

enum wsc_change_kind {
  WSC_CHANGE_REGRESSION = 0, /* passed in A, fails in B */
  WSC_CHANGE_FIXED,          /* failed in A, passes in B */
  WSC_CHANGE_VERDICT,        /* another verdict change (PASS -> NON-STRICT, FAIL -> ERROR) */
  WSC_CHANGE_ADDED,          /* only in B */
  WSC_CHANGE_REMOVED,        /* only in A */
  WSC_CHANGE_KIND_COUNT
};

const char *wsc_change_kind_name(enum wsc_change_kind k); /* "regression", "fixed", ... */

typedef struct wsc_change {
  enum wsc_change_kind kind;
  const wsc_result *a; /* NULL for ADDED */
  const wsc_result *b; /* NULL for REMOVED */
} wsc_change;

/* Changes point into the two runs, which must outlive the diff. */
typedef struct wsc_diff {
  wsc_change *v;
  size_t n;
  size_t count[WSC_CHANGE_KIND_COUNT];
  size_t unchanged;
} wsc_diff;

/* Changes are listed in B's case order, then removed cases in A's order. */
int wsc_diff_runs(const wsc_run *a, const wsc_run *b, bool strict, wsc_diff *out);
/* One line per change, then a summary line. */
int wsc_diff_format(const wsc_diff *d, wsref_buf *out);
void wsc_diff_free(wsc_diff *d);

#endif
