/* Seeds of the harness's targets, derived from what emit records for the library's targets
 * (so they too are traffic, not hand-picked bytes):
 *
 *   observer        every server stream of a session_client seed (the 101 or refusal, then
 *                   the server's frames): with its head (options bit 6) and frames alone,
 *                   whole and under a chunk plan
 *   stomp_observer  every STOMP byte stream of a stomp seed: its frames as broker messages
 *                   (one per WebSocket message), and the same after the stream as sent by
 *                   the suite
 *   report          one JSON report per server stream: a case whose wire log is the fixed
 *                   request and that stream, whose events and findings are the strict
 *                   observer's, with a verdict, reason, expectations and close facts that
 *                   rotate through every value the schema allows
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "handshake/http.h"
#include "observer.h"
#include "report.h"
#include "result.h"
#include "support/common.h"

typedef void (*seed_writer)(const char *target, const void *data, size_t n);

void emit_harness_derive(seed_writer write, const char *target, const uint8_t *p, size_t n);

static const char k_request[] =
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

static unsigned g_reports, g_rot;

static void with_prefix(seed_writer write, const char *target, const uint8_t *pre, size_t npre,
                        const uint8_t *p, size_t n) {
  wsref_buf b = WSREF_BUF_INIT;
  fuzz_put(&b, pre, npre);
  fuzz_put(&b, p, n);
  write(target, fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

/* A one-case report around a server stream, judged by the strict observer. */
static void report_seed(seed_writer write, const uint8_t *s, size_t n, size_t head) {
  static const enum wsc_verdict verdicts[] = {WSC_PASS, WSC_FAIL,        WSC_NON_STRICT,
                                              WSC_INFO, WSC_UNSUPPORTED, WSC_ERROR};
  static const char *const levels[] = {"MUST", "SHOULD", "MAY", "INFO"};
  unsigned k = g_rot++;
  wsc_run run;
  memset(&run, 0, sizeof run);
  run.tool_version = wsc_strdup("seed");
  run.run_id = wsc_strdup("seed-run");
  run.target = wsc_strdup("ws://127.0.0.1:9001/chat");
  run.started = wsc_strdup("2026-01-01T00:00:00.000000Z");
  run.finished = wsc_strdup("2026-01-01T00:00:01.000000Z");
  run.jobs = 2;
  run.timeout_ms = 5000;
  wsc_result *r = wsc_run_add(&run);
  if (!r) abort();
  char id[32];
  snprintf(id, sizeof id, "seed.%u", k);
  r->id = wsc_strdup(id);
  r->title = wsc_strdup("a stream the library wrote, as a report case <&\"'>");
  r->clause = wsc_strdup("RFC6455 5.2 5.6");
  r->level = wsc_strdup(levels[k % 4]);
  r->area = wsc_strdup("seed");
  r->alias = k % 3 ? NULL : wsc_strdup("1.1.1");
  wsc_strv_push(&r->tags, &r->ntags, "seed");
  r->file = wsc_strdup("seed.case");
  r->line = (int)(k % 50) + 1;
  r->verdict = verdicts[k % 6];
  wsc_result_set_reason(r, "line %d: expected text \"Hello\", got %zu octets", r->line, n);
  r->started = wsc_strdup("2026-01-01T00:00:00.500000Z");
  r->duration_us = 1234 + k;
  static const char *const items[] = {"text \"Hello\"", "close 1000"};
  wsc_expect_alt *a = wsc_result_add_expect(r, r->line, WSC_PASS, items, 2);
  if (a) {
    wsc_expect_alt_outcome(a, k % 2 == 0, "%s", k % 2 ? "got binary" : "matched");
  }
  r->request = (uint8_t *)wsc_memdup(k_request, sizeof k_request - 1);
  r->request_len = sizeof k_request - 1;
  if (head) {
    r->response = (uint8_t *)wsc_memdup(s, head);
    r->response_len = head;
    r->status = 101;
  }
  r->close.tcp = (enum wsc_tcp_end)(k % 4);
  r->close.clean = k % 5 == 0;
  wsc_wirelog_add(&r->wire, WSC_WIRE_TX, 10, k_request, sizeof k_request - 1);
  wsc_wirelog_add(&r->wire, WSC_WIRE_RX, 20, s, n);
  wsc_wirelog_note(&r->wire, 30, "the harness closes the connection");
  wsc_wirelog_finish(&r->wire);

  wsc_observer o;
  wsc_observer_init(&o, NULL, r);
  wsc_observer_set_base(&o, head);
  wsc_observer_feed(&o, s + head, n - head, 20);
  wsc_event ev;
  while (wsc_observer_next(&o, &ev)) {
    wsc_result_add_event(r, &ev);
    wsc_event_free(&ev);
  }
  wsc_observer_free(&o);

  wsref_buf out = WSREF_BUF_INIT;
  if (wsc_report_json(&run, &out) == 0) write("report", fuzz_buf_head(&out), wsref_buf_len(&out));
  wsref_buf_free(&out);
  wsc_run_free(&run);
}

/* A stomp seed's stream: [options][limit][plan][stream]. */
static void stomp_observer_seeds(seed_writer write, const uint8_t *p, size_t n) {
  if (n < 3 || n < 3u + p[2]) return;
  uint8_t vb = p[0] & 3; /* 1: 1.0, 2: 1.1, 0: 1.2, as the stomp target reads them */
  const uint8_t *s = p + 3 + p[2];
  size_t sn = n - 3 - p[2];
  if (sn == 0 || sn > 0xFFFF) return;
  wsref_buf msgs = WSREF_BUF_INIT;
  size_t i = 0;
  while (i < sn) {
    const uint8_t *z = memchr(s + i, 0, sn - i);
    size_t end = z ? (size_t)(z - s) + 1 : sn;
    while (end < sn && (s[end] == '\n' || s[end] == '\r')) end++;
    uint8_t rec[3] = {0, (uint8_t)((end - i) & 255), (uint8_t)((end - i) >> 8)};
    fuzz_put(&msgs, rec, 3);
    fuzz_put(&msgs, s + i, end - i);
    i = end;
  }
  static const uint8_t plans[][4] = {{0}, {2, 1, 7}, {3, 13, 2, 64}};
  const uint8_t *plan = plans[g_rot++ % 3];
  wsref_buf b = WSREF_BUF_INIT;
  uint8_t ob = (uint8_t)(vb | 0x20);
  fuzz_put(&b, &ob, 1);
  fuzz_put(&b, plan, 1u + plan[0]);
  fuzz_put(&b, fuzz_buf_head(&msgs), wsref_buf_len(&msgs));
  write("stomp_observer", fuzz_buf_head(&b), wsref_buf_len(&b));
  /* the same frames after the stream as the suite's own */
  wsref_buf_reset(&b);
  fuzz_put(&b, &ob, 1);
  fuzz_put(&b, plan, 1u + plan[0]);
  uint8_t rec[3] = {2, (uint8_t)(sn & 255), (uint8_t)(sn >> 8)};
  fuzz_put(&b, rec, 3);
  fuzz_put(&b, s, sn);
  fuzz_put(&b, fuzz_buf_head(&msgs), wsref_buf_len(&msgs));
  write("stomp_observer", fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
  wsref_buf_free(&msgs);
}

void emit_harness_derive(seed_writer write, const char *target, const uint8_t *p, size_t n) {
  if (strcmp(target, "stomp") == 0) {
    stomp_observer_seeds(write, p, n);
    return;
  }
  if (strcmp(target, "session_client") != 0 || n < 4 || n < 4u + p[3]) return;
  /* [hb][ob][cfg][script length][script][server stream] */
  const uint8_t *s = p + 4 + p[3];
  size_t sn = n - 4 - p[3];
  wsref_http_response rs;
  wsref_http_limits lim = {16384, 100};
  ssize_t k = wsref_http_parse_response((const char *)s, sn, &lim, &rs);
  size_t head = k > 0 ? (size_t)k : 0;
  static const uint8_t plans[][4] = {{0}, {2, 1, 7}, {3, 2, 0xC1, 5}};
  const uint8_t *plan = plans[g_rot++ % 3];
  uint8_t pre[6] = {0x40};
  memcpy(pre + 1, plan, 1u + plan[0]);
  with_prefix(write, "observer", pre, 2u + plan[0], s, sn);
  if (head && sn > head) {
    pre[0] = (uint8_t)(g_rot % 2 ? 0x08 : 0x00); /* frame-level now and then */
    with_prefix(write, "observer", pre, 2u + plan[0], s + head, sn - head);
  }
  if (g_reports < 96 && sn <= 16384) {
    g_reports++;
    report_seed(write, s, sn, head);
  }
}
