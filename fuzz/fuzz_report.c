/* The JSON report reader and the report writers (harness/json.h, report.h, diff.h): users
 * hand wsconform reports of their own (`--baseline`, `diff`, `replay`), edited by hand or
 * cut short, and everything in a report (ids, reasons, wire bytes) ends up in HTML, JUnit
 * XML, TAP and Markdown. A bad report must give a one-line error, never a crash or a hang;
 * whatever a report holds must come out as well-formed text.
 *
 * Input: the text of a report.
 *
 * Checks: the JSON parser and the loader either succeed or give a non-empty, NUL-terminated
 * reason. A report that loads is written again as JSON, and that JSON loads and writes back
 * to the very same bytes (one normalisation, then a fixed point). The HTML and JUnit output
 * of a loaded report is UTF-8 with no control characters but tab, LF and CR (XML 1.0); TAP
 * and Markdown are written without error; a report diffed against itself has no changes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "diff.h"
#include "json.h"
#include "report.h"
#include "result.h"
#include "support/common.h"

static void check_reason(const char *err, size_t cap) {
  FUZZ_CHECK(memchr(err, 0, cap) != NULL);
  FUZZ_CHECK(err[0] != '\0');
}

static void check_xml_text(const wsref_buf *b) {
  const uint8_t *p = wsref_buf_head(b);
  size_t n = wsref_buf_len(b);
  FUZZ_CHECK(fuzz_utf8_ok(p, n));
  for (size_t i = 0; i < n; i++)
    FUZZ_CHECK(p[i] >= 0x20 || p[i] == '\t' || p[i] == '\n' || p[i] == '\r');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = (char *)fuzz_dup(data, size);
  char err[256];
  memset(err, 'x', sizeof err);
  wsc_json *j = wsc_json_parse(text ? text : "", size, err, sizeof err);
  if (j)
    wsc_json_free(j);
  else
    check_reason(err, sizeof err);

  wsc_run run;
  memset(err, 'x', sizeof err);
  int rc = wsc_report_load_json(text ? text : "", size, &run, err, sizeof err);
  free(text);
  FUZZ_CHECK(rc == 0 || rc == WSREF_E_INVALID_ARG || rc == WSREF_E_NOMEM);
  if (rc) {
    check_reason(err, sizeof err);
    return 0;
  }

  wsref_buf j1 = WSREF_BUF_INIT, j2 = WSREF_BUF_INIT;
  FUZZ_CHECK(wsc_report_json(&run, &j1) == 0);
  wsc_run again;
  rc = wsc_report_load_json((const char *)wsref_buf_head(&j1), wsref_buf_len(&j1), &again, err,
                            sizeof err);
  if (rc) fprintf(stderr, "reload: %s\n", err);
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(wsc_report_json(&again, &j2) == 0);
  FUZZ_CHECK(fuzz_same(&j1, &j2));

  static const enum wsc_format xmlish[] = {WSC_FMT_HTML, WSC_FMT_JUNIT};
  for (size_t i = 0; i < sizeof xmlish / sizeof xmlish[0]; i++) {
    wsref_buf b = WSREF_BUF_INIT;
    FUZZ_CHECK(wsc_report_format(xmlish[i], &run, &b) == 0);
    check_xml_text(&b);
    wsref_buf_free(&b);
  }
  static const enum wsc_format plain[] = {WSC_FMT_TAP, WSC_FMT_MD};
  for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
    wsref_buf b = WSREF_BUF_INIT;
    FUZZ_CHECK(wsc_report_format(plain[i], &run, &b) == 0);
    wsref_buf_free(&b);
  }

  wsc_diff d;
  FUZZ_CHECK(wsc_diff_runs(&run, &again, false, &d) == 0);
  FUZZ_CHECK(d.n == 0);
  wsref_buf db = WSREF_BUF_INIT;
  FUZZ_CHECK(wsc_diff_format(&d, &db) == 0);
  wsref_buf_free(&db);
  wsc_diff_free(&d);

  wsref_buf_free(&j1);
  wsref_buf_free(&j2);
  wsc_run_free(&again);
  wsc_run_free(&run);
  return 0;
}
