/* Report writers (one per format, all from the same wsc_run) and the JSON report loader.
 *
 * The JSON schema is documented in reports/README.md; field names are stable. Writers append
 * to a wsref_buf and return 0 or a negative wsref_err; output is deterministic for a given run
 * (golden tests compare exact bytes).
 */
#ifndef WSC_REPORT_H
#define WSC_REPORT_H

#include <stddef.h>

#include "base/buf.h"
#include "result.h"

#define WSC_REPORT_SCHEMA "wsconform-report/1"

enum wsc_format {
  WSC_FMT_JSON = 1 << 0,
  WSC_FMT_HTML = 1 << 1,
  WSC_FMT_TAP = 1 << 2,
  WSC_FMT_JUNIT = 1 << 3,
  WSC_FMT_MD = 1 << 4,
  WSC_FMT_ALL = 0x1F,
};

/* "json,html,tap,junit,md" (any subset, any order; "all"). Returns 0 or WSREF_E_INVALID_ARG;
 * bad (if not NULL) points at the first unknown name. */
int wsc_format_parse(const char *list, unsigned *mask, const char **bad);
/* File name of a format inside the output folder: "report.json", "report.html",
 * "report.tap", "report.junit.xml", "report.md". */
const char *wsc_format_file(enum wsc_format f);

int wsc_report_json(const wsc_run *run, wsref_buf *out);
int wsc_report_html(const wsc_run *run, wsref_buf *out);
/* TAP version 13, one test per case in run order. NON-STRICT is "not ok" under run->strict;
 * UNSUPPORTED is "ok ... # SKIP". */
int wsc_report_tap(const wsc_run *run, wsref_buf *out);
int wsc_report_junit(const wsc_run *run, wsref_buf *out);
int wsc_report_md(const wsc_run *run, wsref_buf *out);
int wsc_report_format(enum wsc_format f, const wsc_run *run, wsref_buf *out);

/* Write every format in mask into dir (created if missing, parents too). On failure err gets a
 * one-line reason. */
int wsc_report_write_dir(const wsc_run *run, const char *dir, unsigned mask, char *err,
                         size_t err_len);

/* Load a JSON report into *run (zeroed first). Returns 0, or WSREF_E_INVALID_ARG with a
 * "line:col: message" or "field: message" reason in err. */
int wsc_report_load_json(const char *text, size_t n, wsc_run *run, char *err, size_t err_len);
int wsc_report_load_file(const char *path, wsc_run *run, char *err, size_t err_len);

/* Shared formatting helpers for the writers. */
/* An output buffer with a sticky error, so writers check once at the end. */
typedef struct wsc_out {
  wsref_buf *b;
  int err;
} wsc_out;
void wsc_out_put(wsc_out *o, const void *p, size_t n);
void wsc_out_str(wsc_out *o, const char *s); /* NULL writes nothing */
void wsc_out_printf(wsc_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void wsc_out_xml(wsc_out *o, const char *s); /* escaped by wsc_xml_escape; NULL: nothing */
void wsc_out_xmln(wsc_out *o, const void *s, size_t n);
void wsc_out_json(wsc_out *o, const void *s, size_t n); /* JSON string body escaping */
void wsc_out_hexdump(wsc_out *o, const uint8_t *p, size_t n, uint64_t base); /* XML-escaped */

/* Escape for HTML/XML text and attribute values (& < > " '); invalid UTF-8 becomes U+FFFD and
 * control characters other than tab/newline become U+FFFD too (XML 1.0 forbids them). */
int wsc_xml_escape(wsref_buf *out, const void *s, size_t n);
/* Classic hexdump lines: "00000000  48 65 6c 6c 6f ...  |Hello|\n". */
int wsc_hexdump(wsref_buf *out, const uint8_t *p, size_t n, uint64_t base_offset);

#endif
