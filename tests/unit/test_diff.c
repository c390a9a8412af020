/* Comparing runs (harness/diff.h): what changed between two reports, and the baseline rule
 * (only a case that passed in the baseline and fails now is a regression). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "diff.h"
#include "report.h"
#include "result.h"

static void add(wsc_run *run, const char *id, enum wsc_verdict v, const char *reason) {
  wsc_result *r = wsc_run_add(run);
  assert_non_null(r);
  r->id = strdup(id);
  r->verdict = v;
  r->reason = reason ? strdup(reason) : NULL;
}

/* baseline A and current B:
 *   a  PASS       -> FAIL        regression
 *   b  FAIL       -> PASS        fixed
 *   c  PASS       -> NON-STRICT  changed (not a failure unless strict)
 *   d  FAIL       -> FAIL        unchanged (failing before: not a regression)
 *   e  INFO       -> ERROR       regression
 *   f  (absent)   -> FAIL        added (new: not a regression)
 *   g  PASS       -> (absent)    removed
 *   h  FAIL       -> ERROR       changed
 */
static void runs(wsc_run *a, wsc_run *b) {
  memset(a, 0, sizeof *a);
  memset(b, 0, sizeof *b);
  add(a, "a", WSC_PASS, NULL);
  add(a, "b", WSC_FAIL, "x");
  add(a, "c", WSC_PASS, NULL);
  add(a, "d", WSC_FAIL, "x");
  add(a, "e", WSC_INFO, NULL);
  add(a, "g", WSC_PASS, NULL);
  add(a, "h", WSC_FAIL, "x");
  /* B in another order: lookups are by id */
  add(b, "h", WSC_ERROR, "cannot connect");
  add(b, "f", WSC_FAIL, "new case fails");
  add(b, "e", WSC_ERROR, "cannot connect");
  add(b, "d", WSC_FAIL, "still");
  add(b, "c", WSC_NON_STRICT, "late");
  add(b, "b", WSC_PASS, "as expected");
  add(b, "a", WSC_FAIL, "line 3: got text");
}

static void test_diff(void **state) {
  (void)state;
  wsc_run a, b;
  runs(&a, &b);
  wsc_diff d;
  assert_int_equal(wsc_diff_runs(&a, &b, false, &d), 0);
  assert_int_equal(d.count[WSC_CHANGE_REGRESSION], 2);
  assert_int_equal(d.count[WSC_CHANGE_FIXED], 1);
  assert_int_equal(d.count[WSC_CHANGE_VERDICT], 2);
  assert_int_equal(d.count[WSC_CHANGE_ADDED], 1);
  assert_int_equal(d.count[WSC_CHANGE_REMOVED], 1);
  assert_int_equal(d.unchanged, 1);
  wsref_buf out = WSREF_BUF_INIT;
  assert_int_equal(wsc_diff_format(&d, &out), 0);
  static const char want[] =
      "changed    h: FAIL -> ERROR: cannot connect\n"
      "added      f: (none) -> FAIL: new case fails\n"
      "regression e: INFO -> ERROR: cannot connect\n"
      "changed    c: PASS -> NON-STRICT: late\n"
      "fixed      b: FAIL -> PASS\n"
      "regression a: PASS -> FAIL: line 3: got text\n"
      "removed    g: PASS -> (none)\n"
      "2 regressions, 1 fixed, 2 changed, 1 added, 1 removed, 1 unchanged\n";
  assert_int_equal(wsref_buf_len(&out), strlen(want));
  assert_memory_equal(wsref_buf_head(&out), want, strlen(want));
  wsref_buf_free(&out);
  wsc_diff_free(&d);

  /* strict: PASS -> NON-STRICT is a regression too */
  assert_int_equal(wsc_diff_runs(&a, &b, true, &d), 0);
  assert_int_equal(d.count[WSC_CHANGE_REGRESSION], 3);
  assert_int_equal(d.count[WSC_CHANGE_VERDICT], 1);
  wsc_diff_free(&d);
  wsc_run_free(&a);
  wsc_run_free(&b);
}

static void test_identical_and_aliases(void **state) {
  (void)state;
  wsc_run a, b;
  runs(&a, &b);
  wsc_diff d;
  assert_int_equal(wsc_diff_runs(&b, &b, false, &d), 0);
  assert_int_equal(d.n, 0);
  assert_int_equal(d.unchanged, b.n);
  wsref_buf out = WSREF_BUF_INIT;
  assert_int_equal(wsc_diff_format(&d, &out), 0);
  static const char want[] = "0 regressions, 0 fixed, 0 changed, 0 added, 0 removed, 7 unchanged\n";
  assert_int_equal(wsref_buf_len(&out), strlen(want));
  assert_memory_equal(wsref_buf_head(&out), want, strlen(want));
  wsref_buf_free(&out);
  wsc_diff_free(&d);

  /* the alias is shown */
  b.results[6].alias = strdup("1.1.1");
  assert_int_equal(wsc_diff_runs(&a, &b, false, &d), 0);
  assert_int_equal(wsc_diff_format(&d, &out), 0);
  assert_non_null(
      memmem(wsref_buf_head(&out), wsref_buf_len(&out), "regression a [1.1.1]: PASS -> FAIL", 34));
  wsref_buf_free(&out);
  wsc_diff_free(&d);
  wsc_run_free(&a);
  wsc_run_free(&b);
}

/* The baseline comes from a report file: the loaded run diffs like the original. */
static void test_through_json(void **state) {
  (void)state;
  wsc_run a, b;
  runs(&a, &b);
  wsref_buf j = WSREF_BUF_INIT;
  assert_int_equal(wsc_report_json(&a, &j), 0);
  wsc_run la;
  char err[200];
  assert_int_equal(wsc_report_load_json((const char *)wsref_buf_head(&j), wsref_buf_len(&j), &la,
                                        err, sizeof err),
                   0);
  wsc_diff d;
  assert_int_equal(wsc_diff_runs(&la, &b, false, &d), 0);
  assert_int_equal(d.count[WSC_CHANGE_REGRESSION], 2);
  assert_int_equal(d.count[WSC_CHANGE_ADDED], 1);
  wsc_diff_free(&d);
  wsref_buf_free(&j);
  wsc_run_free(&la);
  wsc_run_free(&a);
  wsc_run_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_diff),
      cmocka_unit_test(test_identical_and_aliases),
      cmocka_unit_test(test_through_json),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
