/* Report writers (harness/report*.c), the JSON loader and the JSON reader/writer they share:
 * golden outputs for a small fixed run with one result per verdict, a JSON round trip, and the
 * JUnit XML validated against reports/junit.xsd when xmllint is installed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/error.h"
#include "json.h"
#include "report.h"
#include "result.h"

/* A small fixed run for the report tests: one result per verdict, with evidence. */
static void set_event(wsc_event *e, enum wsc_event_type t, uint64_t t_us, const char *data,
                      size_t n, int code) {
  memset(e, 0, sizeof *e);
  e->type = t;
  e->t_us = t_us;
  e->data = (uint8_t *)data;
  e->data_len = n;
  e->len = n;
  e->code = code;
  e->fin = true;
  e->frames = 1;
  if (t == WSC_EV_TEXT) e->opcode = 1;
  if (t == WSC_EV_CLOSE) e->opcode = 8;
}

static wsc_result *add(wsc_run *run, const char *id, const char *alias, enum wsc_verdict v,
                       const char *reason) {
  wsc_result *r = wsc_run_add(run);
  assert_non_null(r);
  r->id = strdup(id);
  r->title = strdup("A <title> & \"quotes\"");
  r->alias = alias ? strdup(alias) : NULL;
  r->clause = strdup("RFC6455 5.2");
  r->level = strdup("MUST");
  size_t al = strcspn(id, ".");
  r->area = strndup(id, al);
  wsc_strv_push(&r->tags, &r->ntags, r->area);
  r->file = strdup("cases/x.case");
  r->line = 3;
  r->verdict = v;
  r->reason = reason ? strdup(reason) : NULL;
  r->started = strdup("2025-01-31T12:00:00.000Z");
  r->duration_us = 1500;
  return r;
}

static void fixture(wsc_run *run) {
  memset(run, 0, sizeof *run);
  run->tool_version = strdup("0.1.0");
  run->run_id = strdup("run-1");
  run->target = strdup("ws://127.0.0.1:9001/echo");
  run->agent = strdup("TestServer/1.0");
  run->started = strdup("2025-01-31T12:00:00.000Z");
  run->finished = strdup("2025-01-31T12:00:01.500Z");
  run->duration_us = 1500000;
  run->jobs = 2;
  run->timeout_ms = 5000;
  wsc_strv_push(&run->exclude, &run->nexclude, "perf.*");

  wsc_result *r = add(run, "framing.text.0", "1.1.1", WSC_PASS, "as expected");
  const char *items[] = {"text \"Hello\""};
  wsc_expect_alt *a = wsc_result_add_expect(r, 5, WSC_PASS, items, 1);
  wsc_expect_alt_outcome(a, true, "matched");
  wsc_event e;
  set_event(&e, WSC_EV_TEXT, 250, "Hello", 5, -1);
  e.has_sha256 = true;
  wsc_sha256("Hello", 5, e.sha256);
  wsc_result_add_event(r, &e);
  set_event(&e, WSC_EV_CLOSE, 300, "\x03\xe8", 2, 1000);
  wsc_result_add_event(r, &e);
  r->close.initiated_by = WSC_SIDE_HARNESS;
  r->close.sent = true;
  r->close.sent_code = 1000;
  r->close.received = true;
  r->close.code = 1000;
  r->close.tcp = WSC_TCP_TARGET_FIN;
  r->close.clean = true;
  r->close.t_us = 310;
  r->status = 101;
  r->request = (uint8_t *)strdup("GET / HTTP/1.1\r\n\r\n");
  r->request_len = 18;
  r->response = (uint8_t *)strdup("HTTP/1.1 101 OK\r\n\r\n");
  r->response_len = 19;
  wsc_wirelog_note(&r->wire, 10, "connected");
  wsc_wirelog_add(&r->wire, WSC_WIRE_TX, 20, "GET / HTTP/1.1\r\n\r\n", 18);
  wsc_wirelog_add(&r->wire, WSC_WIRE_RX, 200, "HTTP/1.1 101 OK\r\n\r\n\x81\x05Hello", 26);
  wsc_wirelog_finish(&r->wire);

  r = add(run, "framing.rsv.1", "3.1", WSC_FAIL,
          "line 7: expected close 1002 drop: the target closed with code 1000");
  const char *items2[] = {"close 1002 drop"};
  a = wsc_result_add_expect(r, 7, WSC_PASS, items2, 1);
  wsc_expect_alt_outcome(a, false,
                         "line 7: expected close 1002 drop: the target closed with code 1000");
  wsc_result_add_finding(r, "server-frame-masked", "RFC6455 5.1", 250, 26,
                         "a frame from the server has the MASK bit set");
  r->close.code = 1000;
  r->close.received = true;
  r->close.reason = (uint8_t *)strdup("b|e\xff");
  r->close.reason_len = 4;
  r->close.initiated_by = WSC_SIDE_TARGET;
  r->close.tcp = WSC_TCP_TARGET_RESET;

  add(run, "close.info.5000", "7.13.1", WSC_INFO, "recorded (informational)");
  add(run, "handshake.sub", NULL, WSC_UNSUPPORTED, "the target did not select subprotocol chat");
  add(run, "utf8.x#1", "6.1.1", WSC_ERROR, "cannot connect: refused");
  add(run, "close.slow", "7.1.6", WSC_NON_STRICT,
      "line 9: expected text (matched the NON-STRICT alternative at line 9)");
}

static const char golden_tap[] =
    "TAP version 13\n"
    "1..6\n"
    "ok 1 - framing.text.0: A <title> & \"quotes\"\n"
    "not ok 2 - framing.rsv.1: A <title> & \"quotes\"\n"
    "  ---\n"
    "  verdict: \"FAIL\"\n"
    "  alias: \"3.1\"\n"
    "  clause: \"RFC6455 5.2\"\n"
    "  level: \"MUST\"\n"
    "  reason: \"line 7: expected close 1002 drop: the target closed with code 1000\"\n"
    "  findings:\n"
    "    - \"RFC6455 5.1 server-frame-masked: a frame from the server has the MASK bit set\"\n"
    "  source: \"cases/x.case:3\"\n"
    "  ...\n"
    "ok 3 - close.info.5000: A <title> & \"quotes\"\n"
    "  ---\n"
    "  verdict: \"INFO\"\n"
    "  alias: \"7.13.1\"\n"
    "  clause: \"RFC6455 5.2\"\n"
    "  level: \"MUST\"\n"
    "  reason: \"recorded (informational)\"\n"
    "  source: \"cases/x.case:3\"\n"
    "  ...\n"
    "ok 4 - handshake.sub: A <title> & \"quotes\" # SKIP unsupported: the target did not select "
    "subprotocol chat\n"
    "  ---\n"
    "  verdict: \"UNSUPPORTED\"\n"
    "  clause: \"RFC6455 5.2\"\n"
    "  level: \"MUST\"\n"
    "  reason: \"the target did not select subprotocol chat\"\n"
    "  source: \"cases/x.case:3\"\n"
    "  ...\n"
    "not ok 5 - utf8.x\\#1: A <title> & \"quotes\"\n"
    "  ---\n"
    "  verdict: \"ERROR\"\n"
    "  alias: \"6.1.1\"\n"
    "  clause: \"RFC6455 5.2\"\n"
    "  level: \"MUST\"\n"
    "  reason: \"cannot connect: refused\"\n"
    "  source: \"cases/x.case:3\"\n"
    "  ...\n"
    "ok 6 - close.slow: A <title> & \"quotes\"\n"
    "  ---\n"
    "  verdict: \"NON-STRICT\"\n"
    "  alias: \"7.1.6\"\n"
    "  clause: \"RFC6455 5.2\"\n"
    "  level: \"MUST\"\n"
    "  reason: \"line 9: expected text (matched the NON-STRICT alternative at line 9)\"\n"
    "  source: \"cases/x.case:3\"\n"
    "  ...\n"
    "# wsconform ws://127.0.0.1:9001/echo: 6 cases, 1 PASS, 1 NON-STRICT, 1 INFO, 1 UNSUPPORTED, 1 "
    "FAIL, 1 ERROR\n";

static const char golden_md[] =
    "## wsconform: FAILED\n"
    "\n"
    "- target: `ws://127.0.0.1:9001/echo`\n"
    "- agent: TestServer/1.0\n"
    "- run: run-1, started 2025-01-31T12:00:00.000Z, 1.500 s, 2 jobs\n"
    "- result: 6 cases, 2 failing (1 FAIL, 1 ERROR)\n"
    "\n"
    "| Area | Cases | PASS | NON-STRICT | INFO | UNSUPPORTED | FAIL | ERROR |\n"
    "|---|---:|---:|---:|---:|---:|---:|---:|\n"
    "| framing | 2 | 1 | 0 | 0 | 0 | 1 | 0 |\n"
    "| close | 2 | 0 | 1 | 1 | 0 | 0 | 0 |\n"
    "| handshake | 1 | 0 | 0 | 0 | 1 | 0 | 0 |\n"
    "| utf8 | 1 | 0 | 0 | 0 | 0 | 0 | 1 |\n"
    "| **total** | 6 | 1 | 1 | 1 | 1 | 1 | 1 |\n"
    "\n"
    "### FAIL (1)\n"
    "\n"
    "| Case | Alias | Clause | Level | Reason |\n"
    "|---|---|---|---|---|\n"
    "| `framing.rsv.1` | 3.1 | RFC6455 5.2 | MUST | line 7: expected close 1002 drop: the target "
    "closed with code 1000; finding RFC6455 5.1: a frame from the server has the MASK bit set |\n"
    "\n"
    "### ERROR (1)\n"
    "\n"
    "| Case | Alias | Clause | Level | Reason |\n"
    "|---|---|---|---|---|\n"
    "| `utf8.x#1` | 6.1.1 | RFC6455 5.2 | MUST | cannot connect: refused |\n"
    "\n"
    "### NON-STRICT (1)\n"
    "\n"
    "| Case | Alias | Clause | Level | Reason |\n"
    "|---|---|---|---|---|\n"
    "| `close.slow` | 7.1.6 | RFC6455 5.2 | MUST | line 9: expected text (matched the NON-STRICT "
    "alternative at line 9) |\n";

static const char golden_junit[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<testsuites name=\"wsconform\" tests=\"6\" failures=\"1\" errors=\"1\" skipped=\"1\" "
    "time=\"1.500000\">\n"
    "  <testsuite name=\"framing\" tests=\"2\" failures=\"1\" errors=\"0\" skipped=\"0\" "
    "time=\"0.003000\">\n"
    "    <testcase classname=\"wsconform.framing\" name=\"framing.text.0: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\"/>\n"
    "    <testcase classname=\"wsconform.framing\" name=\"framing.rsv.1: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\">\n"
    "      <failure message=\"line 7: expected close 1002 drop: the target closed with code 1000\" "
    "type=\"FAIL\">line 7: expected close 1002 drop: the target closed with code 1000\n"
    "clause: RFC6455 5.2 (MUST)\n"
    "alias: 3.1\n"
    "expected (line 7, PASS): close 1002 drop => line 7: expected close 1002 drop: the target "
    "closed with code 1000\n"
    "finding: RFC6455 5.1 server-frame-masked: a frame from the server has the MASK bit set\n"
    "source: cases/x.case:3\n"
    "</failure>\n"
    "    </testcase>\n"
    "  </testsuite>\n"
    "  <testsuite name=\"close\" tests=\"2\" failures=\"0\" errors=\"0\" skipped=\"0\" "
    "time=\"0.003000\">\n"
    "    <testcase classname=\"wsconform.close\" name=\"close.info.5000: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\">\n"
    "      <system-out>INFO: recorded (informational)</system-out>\n"
    "    </testcase>\n"
    "    <testcase classname=\"wsconform.close\" name=\"close.slow: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\">\n"
    "      <system-out>NON-STRICT: line 9: expected text (matched the NON-STRICT alternative at "
    "line 9)</system-out>\n"
    "    </testcase>\n"
    "  </testsuite>\n"
    "  <testsuite name=\"handshake\" tests=\"1\" failures=\"0\" errors=\"0\" skipped=\"1\" "
    "time=\"0.001500\">\n"
    "    <testcase classname=\"wsconform.handshake\" name=\"handshake.sub: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\">\n"
    "      <skipped message=\"the target did not select subprotocol chat\"/>\n"
    "    </testcase>\n"
    "  </testsuite>\n"
    "  <testsuite name=\"utf8\" tests=\"1\" failures=\"0\" errors=\"1\" skipped=\"0\" "
    "time=\"0.001500\">\n"
    "    <testcase classname=\"wsconform.utf8\" name=\"utf8.x#1: A &lt;title&gt; &amp; "
    "&quot;quotes&quot;\" time=\"0.001500\">\n"
    "      <error message=\"cannot connect: refused\" type=\"ERROR\">cannot connect: refused\n"
    "clause: RFC6455 5.2 (MUST)\n"
    "alias: 6.1.1\n"
    "source: cases/x.case:3\n"
    "</error>\n"
    "    </testcase>\n"
    "  </testsuite>\n"
    "</testsuites>\n";

static const char golden_json[] =
    "{\n"
    " \"schema\": \"wsconform-report/1\",\n"
    " \"tool\": {\n"
    "  \"name\": \"wsconform\",\n"
    "  \"version\": \"0.1.0\"\n"
    " },\n"
    " \"run\": {\n"
    "  \"id\": \"run-1\",\n"
    "  \"target\": \"ws://127.0.0.1:9001/echo\",\n"
    "  \"embedded\": false,\n"
    "  \"agent\": \"TestServer/1.0\",\n"
    "  \"started\": \"2025-01-31T12:00:00.000Z\",\n"
    "  \"finished\": \"2025-01-31T12:00:01.500Z\",\n"
    "  \"duration_us\": 1500000,\n"
    "  \"options\": {\n"
    "   \"jobs\": 2,\n"
    "   \"timeout_ms\": 5000,\n"
    "   \"strict\": false,\n"
    "   \"cases\": [],\n"
    "   \"exclude\": [\n"
    "    \"perf.*\"\n"
    "   ],\n"
    "   \"origin\": null,\n"
    "   \"subprotocol\": null,\n"
    "   \"headers\": [],\n"
    "   \"proxy\": null,\n"
    "   \"sni\": null,\n"
    "   \"cacert\": null,\n"
    "   \"insecure\": false\n"
    "  }\n"
    " },\n"
    " \"summary\": {\n"
    "  \"total\": 1,\n"
    "  \"PASS\": 1,\n"
    "  \"NON-STRICT\": 0,\n"
    "  \"INFO\": 0,\n"
    "  \"UNSUPPORTED\": 0,\n"
    "  \"FAIL\": 0,\n"
    "  \"ERROR\": 0,\n"
    "  \"areas\": [\n"
    "   {\n"
    "    \"area\": \"framing\",\n"
    "    \"total\": 1,\n"
    "    \"PASS\": 1,\n"
    "    \"NON-STRICT\": 0,\n"
    "    \"INFO\": 0,\n"
    "    \"UNSUPPORTED\": 0,\n"
    "    \"FAIL\": 0,\n"
    "    \"ERROR\": 0\n"
    "   }\n"
    "  ]\n"
    " },\n"
    " \"cases\": [\n"
    "  {\n"
    "   \"id\": \"framing.text.0\",\n"
    "   \"title\": \"A <title> & \\\"quotes\\\"\",\n"
    "   \"alias\": \"1.1.1\",\n"
    "   \"clause\": \"RFC6455 5.2\",\n"
    "   \"level\": \"MUST\",\n"
    "   \"area\": \"framing\",\n"
    "   \"tags\": [\n"
    "    \"framing\"\n"
    "   ],\n"
    "   \"file\": \"cases/x.case\",\n"
    "   \"line\": 3,\n"
    "   \"verdict\": \"PASS\",\n"
    "   \"reason\": \"as expected\",\n"
    "   \"started\": \"2025-01-31T12:00:00.000Z\",\n"
    "   \"duration_us\": 1500,\n"
    "   \"expected\": [\n"
    "    {\n"
    "     \"line\": 5,\n"
    "     \"grade\": \"PASS\",\n"
    "     \"events\": [\n"
    "      \"text \\\"Hello\\\"\"\n"
    "     ],\n"
    "     \"matched\": true,\n"
    "     \"outcome\": \"matched\"\n"
    "    }\n"
    "   ],\n"
    "   \"observed\": [\n"
    "    {\n"
    "     \"type\": \"text\",\n"
    "     \"t_us\": 250,\n"
    "     \"opcode\": 1,\n"
    "     \"fin\": true,\n"
    "     \"rsv\": 0,\n"
    "     \"frames\": 1,\n"
    "     \"len\": 5,\n"
    "     \"data_hex\": \"48656c6c6f\",\n"
    "     \"truncated\": false,\n"
    "     \"sha256\": \"185f8db32271fe25f561a6fc938b2e264306ec304eda518007d1764826381969\",\n"
    "     \"code\": null,\n"
    "     \"detail\": null\n"
    "    },\n"
    "    {\n"
    "     \"type\": \"close\",\n"
    "     \"t_us\": 300,\n"
    "     \"opcode\": 8,\n"
    "     \"fin\": true,\n"
    "     \"rsv\": 0,\n"
    "     \"frames\": 1,\n"
    "     \"len\": 2,\n"
    "     \"data_hex\": \"03e8\",\n"
    "     \"truncated\": false,\n"
    "     \"sha256\": null,\n"
    "     \"code\": 1000,\n"
    "     \"detail\": null\n"
    "    }\n"
    "   ],\n"
    "   \"findings\": [],\n"
    "   \"close\": {\n"
    "    \"initiated_by\": \"harness\",\n"
    "    \"sent\": true,\n"
    "    \"sent_code\": 1000,\n"
    "    \"received\": true,\n"
    "    \"code\": 1000,\n"
    "    \"reason\": \"\",\n"
    "    \"reason_hex\": \"\",\n"
    "    \"tcp\": \"target-fin\",\n"
    "    \"clean\": true,\n"
    "    \"t_us\": 310\n"
    "   },\n"
    "   \"handshake\": {\n"
    "    \"status\": 101,\n"
    "    \"request\": \"GET / HTTP/1.1\\r\\n\\r\\n\",\n"
    "    \"request_hex\": \"474554202f20485454502f312e310d0a0d0a\",\n"
    "    \"response\": \"HTTP/1.1 101 OK\\r\\n\\r\\n\",\n"
    "    \"response_hex\": \"485454502f312e3120313031204f4b0d0a0d0a\"\n"
    "   },\n"
    "   \"wire\": {\n"
    "    \"tx_bytes\": 18,\n"
    "    \"rx_bytes\": 26,\n"
    "    \"tx_stored\": 18,\n"
    "    \"rx_stored\": 26,\n"
    "    \"tx_sha256\": \"8ac8a2c19d1c441af9f62e3e2309d3adaf82ddc6cbc8f100770cc234df048e17\",\n"
    "    \"rx_sha256\": \"fd197da533241665a6a61fe2228e7cb0063507eaf57a16a8e72cd7a2e300fc9a\",\n"
    "    \"log\": [\n"
    "     {\n"
    "      \"dir\": \"note\",\n"
    "      \"t_us\": 10,\n"
    "      \"note\": \"connected\"\n"
    "     },\n"
    "     {\n"
    "      \"dir\": \"tx\",\n"
    "      \"t_us\": 20,\n"
    "      \"offset\": 0,\n"
    "      \"len\": 18,\n"
    "      \"hex\": \"474554202f20485454502f312e310d0a0d0a\"\n"
    "     },\n"
    "     {\n"
    "      \"dir\": \"rx\",\n"
    "      \"t_us\": 200,\n"
    "      \"offset\": 0,\n"
    "      \"len\": 26,\n"
    "      \"hex\": \"485454502f312e3120313031204f4b0d0a0d0a810548656c6c6f\"\n"
    "     }\n"
    "    ]\n"
    "   }\n"
    "  }\n"
    " ]\n"
    "}\n";

static char *render(enum wsc_format f, const wsc_run *run) {
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsc_report_format(f, run, &b), 0);
  char *s = strndup((const char *)wsref_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
  return s;
}

static void test_tap(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char *s = render(WSC_FMT_TAP, &run);
  assert_string_equal(s, golden_tap);
  free(s);
  /* under --strict a NON-STRICT case is a failing test point */
  run.strict = true;
  s = render(WSC_FMT_TAP, &run);
  assert_non_null(strstr(s, "\nnot ok 6 - close.slow: "));
  free(s);
  wsc_run_free(&run);
}

static void test_markdown(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char *s = render(WSC_FMT_MD, &run);
  assert_string_equal(s, golden_md);
  free(s);
  wsc_run_free(&run);
}

static void test_junit(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char *s = render(WSC_FMT_JUNIT, &run);
  assert_string_equal(s, golden_junit);
  run.strict = true;
  char *t = render(WSC_FMT_JUNIT, &run);
  assert_non_null(
      strstr(t, "<testsuites name=\"wsconform\" tests=\"6\" failures=\"2\" errors=\"1\""));
  assert_non_null(strstr(t,
                         "<failure message=\"line 9: expected text (matched the NON-STRICT "
                         "alternative at line 9)\" type=\"NON-STRICT\">"));
  free(t);

  /* the schema check needs xmllint and the source tree (prove runs from the top folder) */
  if (system("xmllint --version >/dev/null 2>&1") == 0 && access("reports/junit.xsd", R_OK) == 0) {
    char path[] = "/tmp/wsc-junit-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    close(fd);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "xmllint --noout --schema reports/junit.xsd %s 2>/dev/null", path);
    assert_int_equal(system(cmd), 0);
    /* and the check can fail: a testcase without a name is invalid */
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(
        "<testsuites><testsuite name=\"a\" tests=\"1\" failures=\"0\" errors=\"0\" "
        "skipped=\"0\" time=\"0\"><testcase classname=\"a\" time=\"0\"/></testsuite>"
        "</testsuites>\n",
        f);
    fclose(f);
    assert_int_not_equal(system(cmd), 0);
    unlink(path);
  }
  free(s);
  wsc_run_free(&run);
}

static void test_json_golden(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  for (size_t i = 1; i < run.n; i++) wsc_result_free(&run.results[i]);
  run.n = 1;
  char *s = render(WSC_FMT_JSON, &run);
  assert_string_equal(s, golden_json);
  free(s);
  wsc_run_free(&run);
}

/* Writing, loading and writing again gives the same bytes: the loader keeps every field. */
static void test_json_round_trip(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char *a = render(WSC_FMT_JSON, &run);
  wsc_run back;
  char err[200];
  assert_int_equal(wsc_report_load_json(a, strlen(a), &back, err, sizeof err), 0);
  char *b = render(WSC_FMT_JSON, &back);
  assert_string_equal(a, b);
  assert_int_equal(back.n, 6);
  assert_int_equal(back.results[1].verdict, WSC_FAIL);
  assert_int_equal(back.results[1].close.reason_len, 4);
  assert_memory_equal(back.results[1].close.reason, "b|e\xff", 4);
  assert_int_equal(back.results[0].wire.chunks[2].len, 26);
  assert_true(back.results[0].wire.has_sha256);
  free(a);
  free(b);
  wsc_run_free(&back);
  wsc_run_free(&run);
}

static void test_json_load_errors(void **state) {
  (void)state;
  wsc_run run;
  char err[200];
  static const char bad_syntax[] = "{\n  \"schema\": \"wsconform-report/1\",\n  \"cases\": [1,]\n}";
  assert_int_equal(wsc_report_load_json(bad_syntax, strlen(bad_syntax), &run, err, sizeof err),
                   WSREF_E_INVALID_ARG);
  assert_string_equal(err, "3:15: unexpected character");
  static const char other[] = "{\"schema\": \"something-else\", \"cases\": []}";
  assert_int_equal(wsc_report_load_json(other, strlen(other), &run, err, sizeof err),
                   WSREF_E_INVALID_ARG);
  assert_string_equal(err, "schema: expected \"wsconform-report/1\", got \"something-else\"");
  static const char verdict[] =
      "{\"schema\": \"wsconform-report/1\", \"cases\": [{\"id\": \"a\", \"verdict\": \"MAYBE\"}]}";
  assert_int_equal(wsc_report_load_json(verdict, strlen(verdict), &run, err, sizeof err),
                   WSREF_E_INVALID_ARG);
  assert_string_equal(err, "case a: bad verdict");
  static const char minimal[] =
      "{\"schema\": \"wsconform-report/1\", \"cases\": [{\"id\": \"a\", \"verdict\": "
      "\"non-strict\"}]}";
  assert_int_equal(wsc_report_load_json(minimal, strlen(minimal), &run, err, sizeof err), 0);
  assert_int_equal(run.n, 1);
  assert_int_equal(run.results[0].verdict, WSC_NON_STRICT);
  assert_int_equal(run.results[0].close.code, -1);
  wsc_run_free(&run);
}

static void test_html(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char *s = render(WSC_FMT_HTML, &run);
  static const char start[] = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">";
  assert_memory_equal(s, start, sizeof start - 1);
  /* self-contained: no external resources */
  assert_null(strstr(s, "src="));
  assert_null(strstr(s, "<link"));
  assert_null(strstr(s, "http://"));
  assert_null(strstr(s, "https://"));
  /* the summary matrix, by area, coloured by verdict */
  assert_non_null(strstr(s,
                         "<tr><td><a href=\"#area-framing\">framing</a></td><td class=\"n\">2</td>"
                         "<td class=\"n v-PASS\">1</td><td class=\"n zero\">0</td>"
                         "<td class=\"n zero\">0</td><td class=\"n zero\">0</td>"
                         "<td class=\"n v-FAIL\">1</td><td class=\"n zero\">0</td></tr>"));
  /* the verdict filter */
  assert_non_null(
      strstr(s, "<label><input type=\"checkbox\" data-v=\"FAIL\" checked> FAIL (1)</label>"));
  /* escaped metadata, per-case detail with the hex wire log */
  assert_non_null(
      strstr(s,
             "<details class=\"case\" data-v=\"FAIL\" data-k=\"framing.rsv.1 3.1 rfc6455 5.2 "
             "a &lt;title&gt; &amp; &quot;quotes&quot;\" id=\"case-framing.rsv.1\">"));
  assert_non_null(strstr(s, "id=\"case-utf8.x_1\""));
  assert_non_null(
      strstr(s,
             "00000000  48 54 54 50 2f 31 2e 31  20 31 30 31 20 4f 4b 0d  |HTTP/1.1 101 OK.|\n"
             "00000010  0a 0d 0a 81 05 48 65 6c  6c 6f                    |.....Hello|\n"));
  assert_non_null(
      strstr(s,
             "<b>RFC6455 5.1</b> <code>server-frame-masked</code>: a frame from the server "
             "has the MASK bit set (rx octet 26, t=0.250 ms)"));
  /* the invalid UTF-8 close reason is shown, not copied raw */
  assert_non_null(strstr(s, "reason <code>hex 62 7c 65 ff</code>"));
  assert_non_null(strstr(s, "<script>"));
  assert_true(strlen(s) > 1000 && strcmp(s + strlen(s) - 15, "</body></html>\n") == 0);
  free(s);
  wsc_run_free(&run);
}

static void test_formats(void **state) {
  (void)state;
  unsigned m;
  const char *bad;
  assert_int_equal(wsc_format_parse("json,html,tap,junit,md", &m, &bad), 0);
  assert_int_equal(m, WSC_FMT_ALL);
  assert_int_equal(wsc_format_parse("md", &m, &bad), 0);
  assert_int_equal(m, WSC_FMT_MD);
  assert_int_equal(wsc_format_parse("all", &m, &bad), 0);
  assert_int_equal(m, WSC_FMT_ALL);
  assert_int_equal(wsc_format_parse("json,pdf", &m, &bad), WSREF_E_INVALID_ARG);
  assert_string_equal(bad, "pdf");
  assert_int_equal(wsc_format_parse("", &m, &bad), WSREF_E_INVALID_ARG);
  assert_string_equal(wsc_format_file(WSC_FMT_JUNIT), "report.junit.xml");
}

static void test_write_dir(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  char dir[] = "/tmp/wsc-report-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char sub[128];
  snprintf(sub, sizeof sub, "%s/a/b", dir);
  char err[256];
  assert_int_equal(wsc_report_write_dir(&run, sub, WSC_FMT_JSON | WSC_FMT_TAP, err, sizeof err), 0);
  char p[256];
  snprintf(p, sizeof p, "%s/report.json", sub);
  wsc_run back;
  assert_int_equal(wsc_report_load_file(p, &back, err, sizeof err), 0);
  assert_int_equal(back.n, 6);
  wsc_run_free(&back);
  snprintf(p, sizeof p, "%s/report.tap", sub);
  assert_int_equal(access(p, R_OK), 0);
  unlink(p);
  snprintf(p, sizeof p, "%s/report.html", sub);
  assert_int_not_equal(access(p, R_OK), 0);
  snprintf(p, sizeof p, "%s/report.json", sub);
  unlink(p);
  rmdir(sub);
  snprintf(p, sizeof p, "%s/a", dir);
  rmdir(p);
  rmdir(dir);
  wsc_run_free(&run);
}

static void test_json_reader(void **state) {
  (void)state;
  static const char doc[] =
      " {\"a\": [1, -2, 3.5, 1e3, true, false, null],"
      " \"s\": \"x\\u00e9\\ud83d\\ude00\\n\\\"\", \"big\": 18446744073709551615}";
  char err[100];
  wsc_json *j = wsc_json_parse(doc, strlen(doc), err, sizeof err);
  assert_non_null(j);
  const wsc_json *a = wsc_json_get(j, "a");
  assert_int_equal(a->n, 7);
  assert_int_equal(a->child->i, 1);
  assert_true(a->child->is_int);
  assert_int_equal(a->child->next->i, -2);
  assert_false(a->child->next->next->is_int);
  assert_string_equal(wsc_json_get_str(j, "s", NULL), "x\xc3\xa9\xf0\x9f\x98\x80\n\"");
  assert_int_equal((uint64_t)wsc_json_get_int(j, "big", 0), UINT64_MAX);
  assert_null(wsc_json_get(j, "missing"));
  assert_string_equal(wsc_json_get_str(j, "a", "dflt"), "dflt");
  wsc_json_free(j);

  /* numbers past int64 as integers: clamped, not converted (1e999 is inf; fuzz_report) */
  static const char huge[] = "{\"p\": 1e999, \"n\": -1e999, \"f\": 1.5e300, \"s\": -2.5}";
  j = wsc_json_parse(huge, strlen(huge), err, sizeof err);
  assert_non_null(j);
  assert_int_equal(wsc_json_get_int(j, "p", 0), INT64_MAX);
  assert_int_equal(wsc_json_get_int(j, "n", 0), INT64_MIN);
  assert_int_equal(wsc_json_get_int(j, "f", 0), INT64_MAX);
  assert_int_equal(wsc_json_get_int(j, "s", 0), -2);
  wsc_json_free(j);

  static const char *const bad[] = {"",        "{",   "[1 2]", "{\"a\" 1}",
                                    "\"\\q\"", "tru", "{} x",  "\"a\nb\"",
                                    "[\"ok\", \"seed\xd2\xd4\"]"};
  static const char *const why[] = {"1:1: unexpected end of input",
                                    "1:2: expected a member name",
                                    "1:4: expected ',' or ']'",
                                    "1:6: expected ':'",
                                    "1:4: bad escape",
                                    "1:1: unexpected character",
                                    "1:4: trailing data after the document",
                                    "1:3: control character in string",
                                    "1:9: invalid UTF-8 in string"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_null(wsc_json_parse(bad[i], strlen(bad[i]), err, sizeof err));
    assert_string_equal(err, why[i]);
  }
}

static void test_json_writer(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  wsc_jw w;
  wsc_jw_init(&w, &b, 0);
  wsc_jw_obj_begin(&w);
  wsc_jw_kstr(&w, "t", "a\"b\\c\x01\n\xff\xc3\xa9");
  wsc_jw_key(&w, "e");
  wsc_jw_arr_begin(&w);
  wsc_jw_arr_end(&w);
  wsc_jw_kint(&w, "n", -5);
  wsc_jw_khex(&w, "h", "\x00\xab", 2);
  wsc_jw_key(&w, "z");
  wsc_jw_null(&w);
  wsc_jw_obj_end(&w);
  assert_int_equal(wsc_jw_finish(&w), 0);
  const char want[] =
      "{\"t\":\"a\\\"b\\\\c\\u0001\\n\xef\xbf\xbd\xc3\xa9\",\"e\":[],\"n\":-5,"
      "\"h\":\"00ab\",\"z\":null}\n";
  assert_int_equal(wsref_buf_len(&b), strlen(want));
  assert_memory_equal(wsref_buf_head(&b), want, strlen(want));
  wsref_buf_free(&b);

  /* unbalanced documents are errors */
  wsc_jw_init(&w, &b, 2);
  wsc_jw_arr_begin(&w);
  assert_int_equal(wsc_jw_finish(&w), WSREF_E_STATE);
  wsref_buf_free(&b);
}

static void test_escape_and_hexdump(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsc_xml_escape(&b, "<a&'\">\x01\t\xff", 9), 0);
  const char want[] = "&lt;a&amp;&#39;&quot;&gt;\xef\xbf\xbd\t\xef\xbf\xbd";
  assert_int_equal(wsref_buf_len(&b), strlen(want));
  assert_memory_equal(wsref_buf_head(&b), want, strlen(want));
  wsref_buf_reset(&b);
  assert_int_equal(wsc_hexdump(&b, (const uint8_t *)"0123456789abcdefXY", 18, 0x10), 0);
  const char dump[] =
      "00000010  30 31 32 33 34 35 36 37  38 39 61 62 63 64 65 66  |0123456789abcdef|\n"
      "00000020  58 59                                             |XY|\n";
  assert_int_equal(wsref_buf_len(&b), strlen(dump));
  assert_memory_equal(wsref_buf_head(&b), dump, strlen(dump));
  wsref_buf_free(&b);
}

static void test_verdicts(void **state) {
  (void)state;
  enum wsc_verdict v;
  for (int i = 0; i < WSC_VERDICT_COUNT; i++) {
    assert_int_equal(wsc_verdict_parse(wsc_verdict_name((enum wsc_verdict)i), &v), 0);
    assert_int_equal(v, i);
  }
  assert_int_equal(wsc_verdict_parse("bogus", &v), WSREF_E_INVALID_ARG);
  assert_true(wsc_verdict_is_failure(WSC_FAIL, false));
  assert_true(wsc_verdict_is_failure(WSC_ERROR, false));
  assert_false(wsc_verdict_is_failure(WSC_NON_STRICT, false));
  assert_true(wsc_verdict_is_failure(WSC_NON_STRICT, true));
  assert_false(wsc_verdict_is_failure(WSC_INFO, true));
  assert_false(wsc_verdict_is_failure(WSC_UNSUPPORTED, true));
}

static void test_wirelog_caps(void **state) {
  (void)state;
  wsc_wirelog w;
  memset(&w, 0, sizeof w);
  w.max_stored = 4;
  assert_int_equal(wsc_wirelog_add(&w, WSC_WIRE_TX, 1, "abc", 3), 0);
  assert_int_equal(wsc_wirelog_add(&w, WSC_WIRE_TX, 2, "defg", 4), 0);
  assert_int_equal(wsc_wirelog_add(&w, WSC_WIRE_RX, 3, "xyz", 3), 0);
  wsc_wirelog_finish(&w);
  assert_int_equal(w.n, 3);
  assert_int_equal(w.total[WSC_WIRE_TX], 7);
  assert_int_equal(w.stored[WSC_WIRE_TX], 4);
  assert_int_equal(w.chunks[1].offset, 3);
  assert_int_equal(w.chunks[1].len, 4);
  assert_int_equal(w.chunks[1].data_len, 1);
  uint8_t h[32];
  wsc_sha256("abcdefg", 7, h);
  assert_memory_equal(w.sha256[WSC_WIRE_TX], h, 32); /* the hash covers what was not kept */
  wsc_wirelog_trim(&w, 2);
  assert_int_equal(w.n, 3);
  assert_int_equal(w.chunks[0].data_len, 2);
  assert_int_equal(w.chunks[0].len, 3);
  /* the chunk that kept nothing became a note */
  assert_int_equal(w.chunks[1].dir, WSC_WIRE_NOTE);
  assert_int_equal(w.chunks[1].t_us, 2);
  assert_string_equal(w.chunks[1].note, "1 writes (4 octets) and 0 reads (0 octets) not kept");
  assert_int_equal(w.chunks[2].dir, WSC_WIRE_RX);
  assert_int_equal(w.chunks[2].data_len, 2);
  assert_int_equal(w.stored[WSC_WIRE_TX], 2);
  assert_int_equal(w.total[WSC_WIRE_TX], 7);
  wsc_wirelog_free(&w);
}

/* A multi-connection STOMP result: connection names on events, findings and wire chunks, the
 * STOMP target of the run; all of it survives JSON and shows in HTML. Single-connection
 * reports (the golden one) carry no such keys. */
static void test_multi_connection(void **state) {
  (void)state;
  wsc_run run;
  fixture(&run);
  run.stomp_target = strdup("ws://127.0.0.1:9001/stomp");
  wsc_result *r = add(&run, "stomp.queue.redeliver", NULL, WSC_FAIL, "strict observer");
  wsc_event e;
  static const char frame[] = "RECEIPT\nreceipt-id:r1\n\nx";
  set_event(&e, WSC_EV_STOMP, 40, frame, sizeof frame, -1);
  e.detail = (char *)"RECEIPT";
  e.conn = (char *)"sub";
  wsc_result_add_event(r, &e);
  set_event(&e, WSC_EV_HEARTBEAT, 50, "\n", 1, -1);
  e.conn = (char *)"pub";
  wsc_result_add_event(r, &e);
  wsc_result_add_finding_conn(r, "sub", "stomp-receipt-body", "STOMP1.2 RC-04", 40, 123,
                              "RECEIPT with a 1-octet body");
  /* two connections' logs merged by time, each chunk named */
  wsc_wirelog a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  wsc_wirelog_add(&a, WSC_WIRE_TX, 10, "A1", 2);
  wsc_wirelog_add(&a, WSC_WIRE_RX, 30, "A2", 2);
  wsc_wirelog_add(&b, WSC_WIRE_TX, 20, "B1", 2);
  wsc_wirelog_note(&r->wire, 25, "line 9: sleep 1 ms");
  wsc_wirelog_finish(&r->wire);
  assert_int_equal(wsc_wirelog_merge(&r->wire, &a, "sub"), 0);
  assert_int_equal(wsc_wirelog_merge(&r->wire, &b, "pub"), 0);
  r->wire.has_sha256 = false;
  assert_int_equal(r->wire.n, 4);
  assert_string_equal(r->wire.chunks[0].conn, "sub");
  assert_string_equal(r->wire.chunks[1].conn, "pub");
  assert_null(r->wire.chunks[2].conn); /* the case's own note */
  assert_int_equal(r->wire.chunks[3].t_us, 30);
  assert_int_equal(r->wire.total[WSC_WIRE_TX], 4);

  char *js = render(WSC_FMT_JSON, &run);
  assert_non_null(strstr(js, "\"stomp_target\": \"ws://127.0.0.1:9001/stomp\""));
  assert_non_null(strstr(js, "\"type\": \"stomp\""));
  assert_non_null(strstr(js, "\"type\": \"heartbeat\""));
  wsc_run back;
  char err[200];
  assert_int_equal(wsc_report_load_json(js, strlen(js), &back, err, sizeof err), 0);
  char *js2 = render(WSC_FMT_JSON, &back);
  assert_string_equal(js, js2);
  const wsc_result *br = &back.results[back.n - 1];
  assert_string_equal(back.stomp_target, "ws://127.0.0.1:9001/stomp");
  assert_int_equal(br->observed[0].type, WSC_EV_STOMP);
  assert_string_equal(br->observed[0].conn, "sub");
  assert_string_equal(br->observed[1].conn, "pub");
  assert_string_equal(br->findings[0].conn, "sub");
  assert_string_equal(br->wire.chunks[1].conn, "pub");
  assert_false(br->wire.has_sha256);
  /* the first results have no connection names at all */
  assert_null(back.results[0].observed[0].conn);
  assert_null(back.results[0].wire.chunks[0].conn);
  char *html = render(WSC_FMT_HTML, &run);
  assert_non_null(strstr(html, "[pub] >> 2 octets"));
  assert_non_null(strstr(html, "sub: stomp RECEIPT"));
  assert_non_null(strstr(html, "STOMP target"));
  char *md = render(WSC_FMT_MD, &run);
  assert_non_null(strstr(md, "- STOMP target: `ws://127.0.0.1:9001/stomp`"));
  free(js);
  free(js2);
  free(html);
  free(md);
  wsc_run_free(&back);
  wsc_run_free(&run);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_tap),
      cmocka_unit_test(test_markdown),
      cmocka_unit_test(test_junit),
      cmocka_unit_test(test_json_golden),
      cmocka_unit_test(test_json_round_trip),
      cmocka_unit_test(test_json_load_errors),
      cmocka_unit_test(test_html),
      cmocka_unit_test(test_formats),
      cmocka_unit_test(test_write_dir),
      cmocka_unit_test(test_json_reader),
      cmocka_unit_test(test_json_writer),
      cmocka_unit_test(test_escape_and_hexdump),
      cmocka_unit_test(test_verdicts),
      cmocka_unit_test(test_wirelog_caps),
      cmocka_unit_test(test_multi_connection),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
