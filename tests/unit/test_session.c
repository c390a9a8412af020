/* Session state machine (reference/session/session.h): RFC 6455 sections 4-7, driven with
 * scripted peer bytes and a fake clock; every expectation is exact wire bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "handshake/registry.h"
#include "session/session.h"
#include "support/peer.h"
#include "support/split.h"

/* ---- fixture: a registry, a session, a transcript of callbacks and log lines ---- */

typedef struct tc {
  wsref_registry *reg;
  wsref_handler h;
  wsref_session_options opt;
  wsref_session_io io;
  wsref_session *s;
  uint64_t now;
  wsref_buf out; /* output drained so far, not yet checked */
  wsref_buf ev;  /* one line per handler callback */
  wsref_buf log; /* one line per io->log call */
  int want_writes;
  bool echo;         /* send every text/binary message back */
  int msg_rc;        /* on_message return value */
  int open_rc;       /* on_open return value */
  bool close_in_msg; /* wsref_session_close(1000, "done") from on_message */
} tc;

static void put_bytes(wsref_buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
      wsref_buf_appendf(b, "%c", p[i]);
    else
      wsref_buf_appendf(b, "\\x%02x", p[i]);
  }
}

static const char *type_name(enum wsref_message_type t) {
  switch (t) {
    case WSREF_MSG_TEXT:
      return "text";
    case WSREF_MSG_BINARY:
      return "binary";
    case WSREF_MSG_PING:
      return "ping";
    case WSREF_MSG_PONG:
      return "pong";
  }
  return "?";
}

static int cb_open(wsref_session *s, void *ud) {
  tc *t = ud;
  (void)s;
  wsref_buf_appendf(&t->ev, "open\n");
  return t->open_rc;
}

static int cb_message(wsref_session *s, const wsref_message *m, void *ud) {
  tc *t = ud;
  wsref_buf_appendf(&t->ev, "%s%s ", type_name(m->type), m->is_last ? "" : "+");
  put_bytes(&t->ev, m->data, m->len);
  wsref_buf_appendf(&t->ev, "\n");
  /* Messages still arrive after our close frame; sending is then refused. */
  int want = wsref_session_is_open(s) ? 0 : WSREF_E_STATE;
  if (t->echo && (m->type == WSREF_MSG_TEXT || m->type == WSREF_MSG_BINARY))
    assert_int_equal(wsref_session_send(s, m), want);
  if (t->close_in_msg) assert_int_equal(wsref_session_close(s, 1000, "done"), want);
  return t->msg_rc;
}

static void cb_error(wsref_session *s, int err, void *ud) {
  tc *t = ud;
  (void)s;
  wsref_buf_appendf(&t->ev, "error %s\n", wsref_err_name(err));
}

static void cb_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  tc *t = ud;
  assert_int_equal(wsref_session_state(s), WSREF_STATE_CLOSED);
  wsref_buf_appendf(&t->ev, "close %u ", st->code);
  put_bytes(&t->ev, (const uint8_t *)st->reason, st->reason_len);
  wsref_buf_appendf(&t->ev, "\n");
}

static void io_want_write(wsref_session *s, void *ud) {
  tc *t = ud;
  (void)s;
  t->want_writes++;
}

static void io_log(wsref_session *s, const char *line, void *ud) {
  tc *t = ud;
  (void)s;
  wsref_buf_appendf(&t->log, "%s\n", line);
}

static int setup(void **state) {
  tc *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->h.on_open = cb_open;
  t->h.on_message = cb_message;
  t->h.on_transport_error = cb_error;
  t->h.on_close = cb_close;
  t->h.ud = t;
  t->echo = true;
  wsref_session_options_default(&t->opt);
  t->io.want_write = io_want_write;
  t->io.log = io_log;
  t->io.io_ud = t;
  t->now = 1000;
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tc *t = *state;
  wsref_session_free(t->s);
  wsref_registry_free(t->reg);
  wsref_buf_free(&t->out);
  wsref_buf_free(&t->ev);
  wsref_buf_free(&t->log);
  free(t);
  return 0;
}

/* NUL-terminated view of a transcript buffer. */
static const char *str(wsref_buf *b) {
  assert_non_null(wsref_buf_reserve(b, 1));
  wsref_buf_head(b)[wsref_buf_len(b)] = 0;
  return (const char *)wsref_buf_head(b);
}

static void new_server(tc *t) {
  t->reg = wsref_registry_new();
  assert_non_null(t->reg);
  assert_non_null(wsref_registry_add(t->reg, "/echo", &t->h));
  wsref_registration *r = wsref_registry_add(t->reg, "/chat", &t->h);
  assert_non_null(r);
  static const char *const protos[] = {"chat"};
  assert_int_equal(wsref_registration_subprotocols(r, protos, 1), 0);
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, "192.0.2.7:5000", t->now);
  assert_non_null(t->s);
}

/* Feed a private heap copy of exactly n bytes: the session unmasks in place and must not
 * keep pointers into it (ASan sees both). */
static int feed(tc *t, const void *p, size_t n) {
  uint8_t *c = malloc(n ? n : 1);
  assert_non_null(c);
  if (n) memcpy(c, p, n);
  int rc = wsref_session_recv(t->s, c, n, t->now);
  free(c);
  return rc;
}

static int feed_str(tc *t, const char *s) {
  return feed(t, s, strlen(s));
}

/* A masked client frame. */
static int feed_frame(tc *t, uint8_t b0, const void *payload, size_t len) {
  uint8_t *f = malloc(len + 14);
  assert_non_null(f);
  size_t n = peer_frame(f, b0, peer_key, payload, len);
  int rc = feed(t, f, n);
  free(f);
  return rc;
}

static void drain(tc *t) {
  size_t n;
  const uint8_t *p;
  while ((p = wsref_session_output(t->s, &n)) != NULL) {
    assert_int_equal(wsref_buf_append(&t->out, p, n), 0);
    wsref_session_output_done(t->s, n, t->now);
  }
  assert_int_equal(wsref_session_buffered(t->s), 0);
}

/* Drain, compare everything sent since the last check with hex, forget it. */
static void expect_out(tc *t, const char *hex) {
  drain(t);
  uint8_t want[4096];
  size_t wn = peer_unhex(hex, want, sizeof want);
  assert_true(wn != (size_t)-1);
  char *got_s = malloc(3 * wsref_buf_len(&t->out) + 1), *want_s = malloc(3 * wn + 1);
  peer_hex((const uint8_t *)str(&t->out), wsref_buf_len(&t->out), got_s);
  peer_hex(want, wn, want_s);
  assert_string_equal(got_s, want_s);
  free(got_s);
  free(want_s);
  wsref_buf_reset(&t->out);
}

static void expect_out_text(tc *t, const char *text) {
  drain(t);
  assert_string_equal(str(&t->out), text);
  wsref_buf_reset(&t->out);
}

static void expect_ev(tc *t, const char *text) {
  assert_string_equal(str(&t->ev), text);
  wsref_buf_reset(&t->ev);
}

static void expect_log(tc *t, const char *text) {
  assert_string_equal(str(&t->log), text);
  wsref_buf_reset(&t->log);
}

static const char resp_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: " PEER_SAMPLE_ACCEPT "\r\n\r\n";

/* Server session on /echo, past the opening handshake, transcripts cleared. */
static void open_server(tc *t) {
  new_server(t);
  char req[1024];
  size_t n = peer_request(req, "/echo", NULL);
  assert_int_equal(feed(t, req, n), 0);
  expect_out_text(t, resp_101);
  expect_ev(t, "open\n");
  wsref_buf_reset(&t->log);
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_OPEN);
}

/* Drop the session (its on_close runs) and the registry, and every transcript. */
static void forget(tc *t) {
  wsref_session_free(t->s);
  t->s = NULL;
  wsref_registry_free(t->reg);
  t->reg = NULL;
  wsref_buf_reset(&t->ev);
  wsref_buf_reset(&t->log);
  wsref_buf_reset(&t->out);
}

/* The connection was failed: exactly `close_hex` went out, on_transport_error(err) then
 * on_close(1006) ran, nothing more is read, and the transport closes after the flush. */
static void expect_failed(tc *t, int rc, int err, const char *close_hex) {
  assert_int_equal(rc, err);
  assert_false(wsref_session_transport_done(t->s) && wsref_session_buffered(t->s) > 0);
  expect_out(t, close_hex);
  char ev[128];
  snprintf(ev, sizeof ev, "error %s\nclose 1006 \n", wsref_err_name(err));
  expect_ev(t, ev);
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_true(wsref_session_transport_done(t->s));
  /* Input after the failure is ignored, even a valid frame. */
  assert_int_equal(feed_frame(t, 0x81, "x", 1), 0);
  expect_out(t, "");
  expect_ev(t, "");
}

/* ---- opening handshake ---- */

static void test_handshake_rfc_sample(void **state) {
  tc *t = *state;
  new_server(t);
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CONNECTING);
  assert_int_equal(wsref_session_deadline(t->s), 1000 + 10000);
  /* RFC 6455 section 1.3, byte for byte. */
  assert_int_equal(feed_str(t,
                            "GET /chat HTTP/1.1\r\n"
                            "Host: server.example.com\r\n"
                            "Upgrade: websocket\r\n"
                            "Connection: Upgrade\r\n"
                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                            "Origin: http://example.com\r\n"
                            "Sec-WebSocket-Protocol: chat, superchat\r\n"
                            "Sec-WebSocket-Version: 13\r\n\r\n"),
                   0);
  expect_out_text(t,
                  "HTTP/1.1 101 Switching Protocols\r\n"
                  "Upgrade: websocket\r\n"
                  "Connection: Upgrade\r\n"
                  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                  "Sec-WebSocket-Protocol: chat\r\n\r\n");
  expect_ev(t, "open\n");
  expect_log(t, "open /chat subprotocol=chat\n");
  assert_int_equal(t->want_writes, 1);
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_OPEN);
  assert_true(wsref_session_is_open(t->s));
  assert_string_equal(wsref_session_path(t->s), "/chat");
  assert_string_equal(wsref_session_subprotocol(t->s), "chat");
  assert_string_equal(wsref_session_extensions(t->s), "");
  assert_string_equal(wsref_session_remote_addr(t->s), "192.0.2.7:5000");
  assert_string_equal(wsref_session_request_header(t->s, "origin"), "http://example.com");
  assert_string_equal(wsref_session_request_header(t->s, "SEC-WEBSOCKET-PROTOCOL"),
                      "chat, superchat");
  assert_null(wsref_session_request_header(t->s, "Cookie"));
  assert_ptr_equal(wsref_session_handler(t->s), &t->h);
  assert_true(strlen(wsref_session_id(t->s)) > 0);
  assert_int_equal(wsref_session_deadline(t->s), 0); /* no idle timeout by default */
  assert_false(wsref_session_transport_done(t->s));
}

static void test_echo_hello(void **state) {
  tc *t = *state;
  open_server(t);
  /* RFC 6455 5.7: a masked "Hello". */
  uint8_t hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
  assert_int_equal(feed(t, hello, sizeof hello), 0);
  expect_ev(t, "text Hello\n");
  expect_out(t, "81 05 48 65 6c 6c 6f");
  assert_int_equal(t->want_writes, 2);
  /* Binary, 16-bit and 64-bit lengths: echoes use the minimal form. */
  uint8_t big[70000];
  for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
  assert_int_equal(feed_frame(t, 0x82, big, 300), 0);
  drain(t);
  peer_parsed f;
  uint8_t *pl = malloc(sizeof big);
  assert_int_equal(peer_parse(wsref_buf_head(&t->out), wsref_buf_len(&t->out), &f, pl, 300), 304);
  assert_int_equal(f.b0, 0x82);
  assert_false(f.masked);
  assert_true(f.minimal);
  assert_memory_equal(pl, big, 300);
  wsref_buf_reset(&t->out);
  assert_int_equal(feed_frame(t, 0x82, big, sizeof big), 0);
  drain(t);
  assert_int_equal(peer_parse(wsref_buf_head(&t->out), wsref_buf_len(&t->out), &f, pl, sizeof big),
                   10 + sizeof big);
  assert_true(f.minimal);
  assert_memory_equal(pl, big, sizeof big);
  free(pl);
  wsref_buf_reset(&t->out);
  /* Empty messages. */
  assert_int_equal(feed_frame(t, 0x81, "", 0), 0);
  assert_int_equal(feed_frame(t, 0x82, "", 0), 0);
  expect_out(t, "81 00 82 00");
}

static void test_pipelined_frames_after_head(void **state) {
  tc *t = *state;
  new_server(t);
  uint8_t buf[1024];
  size_t n = peer_request((char *)buf, "/echo", NULL);
  n += peer_frame(buf + n, 0x81, peer_key, "Hello", 5);
  n += peer_frame(buf + n, 0x89, peer_key, "p", 1);
  assert_int_equal(feed(t, buf, n), 0);
  expect_ev(t, "open\ntext Hello\n");
  drain(t);
  size_t hl = strlen(resp_101);
  assert_int_equal(wsref_buf_len(&t->out), hl + 7 + 3);
  assert_memory_equal(wsref_buf_head(&t->out), resp_101, hl);
  uint8_t want[] = {0x81, 5, 'H', 'e', 'l', 'l', 'o', 0x8a, 1, 'p'};
  assert_memory_equal(wsref_buf_head(&t->out) + hl, want, sizeof want);
}

static void test_handshake_errors(void **state) {
  tc *t = *state;
  /* Unknown path: 404 from the handshake handler, then the server closes. */
  new_server(t);
  char req[1024];
  peer_request(req, "/nope?x=1", NULL);
  assert_int_equal(feed_str(t, req), WSREF_E_HS_PATH);
  assert_false(wsref_session_transport_done(t->s)); /* the response is not flushed yet */
  drain(t);
  assert_true(wsref_session_transport_done(t->s));
  assert_true(strncmp(str(&t->out), "HTTP/1.1 404 Not Found\r\n", 24) == 0);
  assert_non_null(strstr(str(&t->out), "\r\nConnection: close\r\n"));
  expect_log(t, "handshake 404 /nope\n");
  expect_ev(t, ""); /* no handler callback before the connection is established */
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_int_equal(feed_str(t, req), 0); /* ignored */
  wsref_session_free(t->s);
  wsref_buf_reset(&t->out);

  /* Syntax error: 400. */
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, NULL, t->now);
  assert_int_equal(feed_str(t, "GET  /echo HTTP/1.1\r\n\r\n"), WSREF_E_HTTP_SYNTAX);
  drain(t);
  assert_true(strncmp(str(&t->out), "HTTP/1.1 400 ", 13) == 0);
  assert_true(wsref_session_transport_done(t->s));
  expect_log(t, "handshake 400 WSREF_E_HTTP_SYNTAX\n");
  assert_string_equal(wsref_session_remote_addr(t->s), "");
  wsref_session_free(t->s);
  wsref_buf_reset(&t->out);

  /* Head over opt.http.max_head: 431, decided without waiting for the end of the head. */
  t->opt.http.max_head = 100;
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, NULL, t->now);
  char big[300];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /echo HTTP/1.1\r\nX: ", 23);
  assert_int_equal(feed(t, big, sizeof big), WSREF_E_HTTP_TOO_LARGE);
  drain(t);
  assert_true(strncmp(str(&t->out), "HTTP/1.1 431 ", 13) == 0);
  assert_true(wsref_session_transport_done(t->s));
  expect_log(t, "handshake 431 WSREF_E_HTTP_TOO_LARGE\n");
  wsref_session_free(t->s);
  wsref_buf_reset(&t->out);

  /* More header lines than opt.http.max_headers: 431. */
  t->opt.http.max_head = 0; /* default */
  t->opt.http.max_headers = 3;
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, NULL, t->now);
  peer_request(req, "/echo", NULL);
  assert_int_equal(feed_str(t, req), WSREF_E_HTTP_TOO_MANY_HEADERS);
  drain(t);
  assert_true(strncmp(str(&t->out), "HTTP/1.1 431 ", 13) == 0);
  expect_log(t, "handshake 431 WSREF_E_HTTP_TOO_MANY_HEADERS\n");
  wsref_session_free(t->s);
  wsref_buf_reset(&t->out);

  /* Wrong version: 426 from the handshake handler. */
  t->opt.http.max_headers = 0;
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, NULL, t->now);
  assert_int_equal(feed_str(t,
                            "GET /echo HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                            "Connection: Upgrade\r\nSec-WebSocket-Key: " PEER_SAMPLE_KEY
                            "\r\nSec-WebSocket-Version: 8\r\n\r\n"),
                   WSREF_E_HS_VERSION);
  drain(t);
  assert_true(strncmp(str(&t->out), "HTTP/1.1 426 ", 13) == 0);
  expect_log(t, "handshake 426 /echo\n");
  expect_ev(t, "");
}

static void test_handshake_timeout(void **state) {
  tc *t = *state;
  new_server(t);
  assert_int_equal(feed_str(t, "GET /echo HTTP/1.1\r\n"), 0);
  assert_int_equal(wsref_session_deadline(t->s), 11000);
  wsref_session_tick(t->s, 10999);
  assert_false(wsref_session_transport_done(t->s));
  wsref_session_tick(t->s, 11000);
  assert_true(wsref_session_transport_done(t->s));
  expect_log(t, "handshake timeout\n");
  expect_out(t, "");
  expect_ev(t, "");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
}

static void test_handshake_bytewise(void **state) {
  tc *t = *state;
  new_server(t);
  char req[1024];
  size_t n = peer_request(req, "/echo", NULL);
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(feed(t, req + i, 1), 0);
    assert_int_equal(wsref_session_state(t->s),
                     i + 1 < n ? WSREF_STATE_CONNECTING : WSREF_STATE_OPEN);
  }
  expect_out_text(t, resp_101);
  expect_ev(t, "open\n");
}

/* ---- failing the connection (RFC 6455 7.1.7), one rule at a time ---- */

typedef struct fail_case {
  const char *name;
  const char *frames; /* hex, as the client sends it (masking done here if "M" prefix) */
  int err;
  const char *close_hex;
} fail_case;

/* A masked frame from hex of the *unmasked* header fields: b0 then payload. */
static size_t mk(uint8_t *out, uint8_t b0, const char *payload_hex) {
  uint8_t pl[256];
  size_t n = peer_unhex(payload_hex, pl, sizeof pl);
  assert_true(n != (size_t)-1);
  return peer_frame(out, b0, peer_key, pl, n);
}

static void run_fail(tc *t, const uint8_t *bytes, size_t n, int err, const char *close_hex) {
  open_server(t);
  int rc = feed(t, bytes, n);
  expect_failed(t, rc, err, close_hex);
  char line[128];
  unsigned code = wsref_err_close_code(err);
  snprintf(line, sizeof line, "fail %u %s\n", code, wsref_err_name(err));
  expect_log(t, line);
  forget(t);
}

static void test_fail_rsv_and_opcodes(void **state) {
  tc *t = *state;
  uint8_t b[64];
  run_fail(t, b, mk(b, 0xc1, "41"), WSREF_E_FRAME_RSV, "88 02 03 ea");
  run_fail(t, b, mk(b, 0xa1, "41"), WSREF_E_FRAME_RSV, "88 02 03 ea");
  run_fail(t, b, mk(b, 0x91, "41"), WSREF_E_FRAME_RSV, "88 02 03 ea");
  run_fail(t, b, mk(b, 0xc9, ""), WSREF_E_FRAME_RSV, "88 02 03 ea"); /* on a ping too */
  static const uint8_t reserved[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
  for (size_t i = 0; i < sizeof reserved; i++)
    run_fail(t, b, mk(b, (uint8_t)(0x80 | reserved[i]), ""), WSREF_E_FRAME_OPCODE, "88 02 03 ea");
}

static void test_fail_control_rules(void **state) {
  tc *t = *state;
  uint8_t b[512], pl[126];
  memset(pl, 'a', sizeof pl);
  run_fail(t, b, mk(b, 0x09, "61"), WSREF_E_FRAME_CONTROL_FRAG, "88 02 03 ea");
  run_fail(t, b, mk(b, 0x08, ""), WSREF_E_FRAME_CONTROL_FRAG, "88 02 03 ea");
  run_fail(t, b, peer_frame(b, 0x89, peer_key, pl, 126), WSREF_E_FRAME_CONTROL_LEN, "88 02 03 ea");
  run_fail(t, b, peer_frame(b, 0x8a, peer_key, pl, 126), WSREF_E_FRAME_CONTROL_LEN, "88 02 03 ea");
  /* Unmasked client frame. */
  run_fail(t, b, peer_frame(b, 0x81, NULL, "a", 1), WSREF_E_FRAME_UNMASKED, "88 02 03 ea");
  /* Length encodings. */
  size_t n = peer_header_form(b, 0x82, UINT64_C(1) << 63, 64, peer_key);
  run_fail(t, b, n, WSREF_E_FRAME_LEN64_MSB, "88 02 03 ea");
  n = peer_header_form(b, 0x82, 5, 16, peer_key);
  run_fail(t, b, n, WSREF_E_FRAME_NON_MINIMAL, "88 02 03 ea");
}

static void test_fail_fragmentation(void **state) {
  tc *t = *state;
  uint8_t b[64];
  /* Continuation without a started message. */
  run_fail(t, b, mk(b, 0x80, "61"), WSREF_E_FRAME_CONT, "88 02 03 ea");
  run_fail(t, b, mk(b, 0x00, "61"), WSREF_E_FRAME_CONT, "88 02 03 ea");
  /* A new data frame inside a fragmented message. */
  size_t n = mk(b, 0x01, "61");
  n += mk(b + n, 0x81, "62");
  run_fail(t, b, n, WSREF_E_FRAME_NOT_CONT, "88 02 03 ea");
  n = mk(b, 0x02, "61");
  n += mk(b + n, 0x01, "62");
  run_fail(t, b, n, WSREF_E_FRAME_NOT_CONT, "88 02 03 ea");
  /* After a complete fragmented message a continuation is again out of place. */
  n = mk(b, 0x01, "61");
  n += mk(b + n, 0x80, "62");
  open_server(t);
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "text ab\n");
  expect_out(t, "81 02 61 62");
  expect_failed(t, feed(t, b + n - 7, 7), WSREF_E_FRAME_CONT, "88 02 03 ea");
}

static void test_fail_invalid_utf8(void **state) {
  tc *t = *state;
  uint8_t b[64];
  run_fail(t, b, mk(b, 0x81, "ce ba e1 bd b9 cf 83 ce bc ce b5 ed a0 80 65 64 69 74 65 64"),
           WSREF_E_UTF8, "88 02 03 ef");
  /* The message ends inside a code point. */
  run_fail(t, b, mk(b, 0x81, "48 ce"), WSREF_E_UTF8, "88 02 03 ef");
  size_t n = mk(b, 0x01, "48");
  n += mk(b + n, 0x80, "e2 82");
  run_fail(t, b, n, WSREF_E_UTF8, "88 02 03 ef");
  /* Fragmented: the bad octet is in the second fragment. */
  n = mk(b, 0x01, "ce ba");
  n += mk(b + n, 0x80, "c0 af");
  run_fail(t, b, n, WSREF_E_UTF8, "88 02 03 ef");
}

/* Fail-fast: the connection fails at the bad octet, before the frame or message ends. */
static void test_utf8_fail_fast_mid_frame(void **state) {
  tc *t = *state;
  open_server(t);
  uint8_t b[64];
  const uint8_t pl[20] = {'H', 'e', 'l', 'l', 'o', 0xff};
  size_t n = peer_frame(b, 0x81, peer_key, pl, sizeof pl);
  /* Header (6) + 5 valid octets: nothing happens. */
  assert_int_equal(feed(t, b, 11), 0);
  expect_out(t, "");
  /* The 0xff octet, 14 more promised but not sent: fail now. */
  expect_failed(t, feed(t, b + 11, 1), WSREF_E_UTF8, "88 02 03 ef");
  (void)n;
  forget(t);
  /* Same across fragments: first fragment complete, second cut after its bad octet. */
  open_server(t);
  n = mk(b, 0x01, "ce ba e1 bd b9");
  assert_int_equal(feed(t, b, n), 0);
  n = mk(b, 0x80, "cf 83 ed a0 80 61 62 63");
  assert_int_equal(feed(t, b, 6 + 3), 0); /* header + cf 83 ed: still a valid prefix */
  expect_failed(t, feed(t, b + 9, 1), WSREF_E_UTF8, "88 02 03 ef");
}

static void test_utf8_split_across_fragments(void **state) {
  tc *t = *state;
  open_server(t);
  /* "κόσμε" with a code point split at every fragment boundary. */
  uint8_t b[128];
  size_t n = mk(b, 0x01, "ce");
  n += mk(b + n, 0x00, "ba e1");
  n += mk(b + n, 0x00, "bd");
  n += mk(b + n, 0x00, "b9 cf 83 ce bc ce");
  n += mk(b + n, 0x80, "b5");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "text \\xce\\xba\\xe1\\xbd\\xb9\\xcf\\x83\\xce\\xbc\\xce\\xb5\n");
  expect_out(t, "81 0b ce ba e1 bd b9 cf 83 ce bc ce b5");
  /* A 4-byte code point split 1+1+1+1, then an empty final frame. */
  n = mk(b, 0x01, "f0");
  n += mk(b + n, 0x00, "9f");
  n += mk(b + n, 0x00, "98");
  n += mk(b + n, 0x00, "80");
  n += mk(b + n, 0x80, "");
  assert_int_equal(feed(t, b, n), 0);
  expect_out(t, "81 04 f0 9f 98 80");
}

/* ---- control frames ---- */

static void test_ping_pong(void **state) {
  tc *t = *state;
  open_server(t);
  assert_int_equal(feed_frame(t, 0x89, "Hello", 5), 0);
  expect_out(t, "8a 05 48 65 6c 6c 6f");
  expect_ev(t, ""); /* pings are not delivered */
  assert_int_equal(feed_frame(t, 0x89, "", 0), 0);
  expect_out(t, "8a 00");
  uint8_t pl[125];
  for (int i = 0; i < 125; i++) pl[i] = (uint8_t)i;
  assert_int_equal(feed_frame(t, 0x89, pl, 125), 0);
  drain(t);
  assert_int_equal(wsref_buf_len(&t->out), 127);
  assert_int_equal(wsref_buf_head(&t->out)[0], 0x8a);
  assert_int_equal(wsref_buf_head(&t->out)[1], 125);
  assert_memory_equal(wsref_buf_head(&t->out) + 2, pl, 125);
  wsref_buf_reset(&t->out);
  /* An unsolicited pong goes to on_message and nothing is sent. */
  assert_int_equal(feed_frame(t, 0x8a, "hb", 2), 0);
  expect_ev(t, "pong hb\n");
  expect_out(t, "");
}

static void test_fragmented_with_interleaved_ping(void **state) {
  tc *t = *state;
  open_server(t);
  uint8_t b[128];
  size_t n = mk(b, 0x01, "48 65 6c");  /* "Hel" */
  n += mk(b + n, 0x89, "70 69 6e 67"); /* ping "ping" */
  n += mk(b + n, 0x00, "");            /* empty continuation */
  n += mk(b + n, 0x8a, "");            /* pong */
  n += mk(b + n, 0x80, "6c 6f");       /* "lo" */
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "pong \ntext Hello\n");
  expect_out(t, "8a 04 70 69 6e 67 81 05 48 65 6c 6c 6f");
  /* Binary, fed frame by frame. */
  n = mk(b, 0x02, "01 02");
  assert_int_equal(feed(t, b, n), 0);
  n = mk(b, 0x89, "");
  assert_int_equal(feed(t, b, n), 0);
  expect_out(t, "8a 00");
  n = mk(b, 0x80, "03");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "binary \\x01\\x02\\x03\n");
  expect_out(t, "82 03 01 02 03");
}

/* ---- the closing handshake ---- */

static void test_close_echo_sweep(void **state) {
  tc *t = *state;
  /* Every code 0..5000 in a close frame with a reason: valid codes are echoed (and the
   * server closes TCP), the others fail the connection with 1002. */
  for (unsigned code = 0; code <= 5000; code++) {
    open_server(t);
    uint8_t pl[16], b[32];
    size_t pn = peer_close_payload(pl, code, "bye");
    size_t n = peer_frame(b, 0x88, peer_key, pl, pn);
    int rc = feed(t, b, n);
    bool valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                 (code >= 3000 && code <= 4999);
    if (valid) {
      assert_int_equal(rc, 0);
      assert_false(wsref_session_transport_done(t->s));
      char hex[32], ev[64];
      snprintf(hex, sizeof hex, "88 02 %02x %02x", code >> 8, code & 0xff);
      expect_out(t, hex);
      assert_true(wsref_session_transport_done(t->s));
      snprintf(ev, sizeof ev, "close %u bye\n", code);
      expect_ev(t, ev);
      snprintf(ev, sizeof ev, "close %u clean\n", code);
      expect_log(t, ev);
      assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
      /* Nothing after the close frame is read. */
      assert_int_equal(feed_frame(t, 0x81, "x", 1), 0);
      expect_out(t, "");
      expect_ev(t, "");
    } else {
      expect_failed(t, rc, WSREF_E_CLOSE_CODE, "88 02 03 ea");
      wsref_buf_reset(&t->log);
    }
    wsref_session_free(t->s);
    t->s = NULL;
    wsref_registry_free(t->reg);
    t->reg = NULL;
  }
}

static void test_close_payload_rules(void **state) {
  tc *t = *state;
  /* No code: reply with an empty close, on_close gets 1005. */
  open_server(t);
  assert_int_equal(feed_frame(t, 0x88, "", 0), 0);
  expect_out(t, "88 00");
  expect_ev(t, "close 1005 \n");
  expect_log(t, "close 1005 clean\n");
  assert_true(wsref_session_transport_done(t->s));
  forget(t);

  uint8_t b[256];
  /* One-byte payload. */
  run_fail(t, b, mk(b, 0x88, "03"), WSREF_E_CLOSE_PAYLOAD_LEN, "88 02 03 ea");
  /* Reason that is not UTF-8. */
  run_fail(t, b, mk(b, 0x88, "03 e8 ce"), WSREF_E_CLOSE_REASON_UTF8, "88 02 03 ef");
  run_fail(t, b, mk(b, 0x88, "03 e8 ed a0 80"), WSREF_E_CLOSE_REASON_UTF8, "88 02 03 ef");
  /* Valid UTF-8 reason, 123 octets. */
  open_server(t);
  uint8_t pl[125];
  pl[0] = 0x0b;
  pl[1] = 0xb8; /* 3000 */
  memset(pl + 2, 'r', 123);
  assert_int_equal(feed(t, b, peer_frame(b, 0x88, peer_key, pl, 125)), 0);
  expect_out(t, "88 02 0b b8");
  /* The close frame arriving inside a fragmented message is answered too. */
  forget(t);
  open_server(t);
  size_t n = mk(b, 0x01, "61");
  n += mk(b + n, 0x88, "03 e8");
  assert_int_equal(feed(t, b, n), 0);
  expect_out(t, "88 02 03 e8");
  expect_ev(t, "close 1000 \n");
}

static void test_server_initiated_close(void **state) {
  tc *t = *state;
  open_server(t);
  t->now = 5000;
  wsref_session_tick(t->s, t->now); /* close() uses the last time the io layer gave */
  assert_int_equal(wsref_session_close(t->s, 1000, "bye"), 0);
  expect_out(t, "88 05 03 e8 62 79 65");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSING);
  assert_false(wsref_session_is_open(t->s));
  assert_int_equal(wsref_session_close(t->s, 1000, NULL), WSREF_E_STATE);
  assert_int_equal(wsref_session_send_text(t->s, "x", 1), WSREF_E_STATE);
  assert_int_equal(wsref_session_deadline(t->s), 8000);
  /* What the peer sent before it saw our close is still delivered (no reply is lost), but
   * nothing may follow our close frame: no echo, no pong. */
  assert_int_equal(feed_frame(t, 0x81, "late", 4), 0);
  assert_int_equal(feed_frame(t, 0x89, "p", 1), 0);
  assert_int_equal(feed_frame(t, 0x8a, "p", 1), 0);
  assert_int_equal(feed_frame(t, 0x82, "b", 1), 0);
  expect_out(t, "");
  expect_ev(t, "text late\npong p\nbinary b\n");
  /* The peer's close completes the handshake; the server closes TCP. */
  assert_int_equal(feed_frame(t, 0x88, "\x03\xe8", 2), 0);
  expect_out(t, "");
  expect_ev(t, "close 1000 \n");
  expect_log(t, "close 1000 clean\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_true(wsref_session_transport_done(t->s));
  wsref_session_transport_closed(t->s, 0, t->now);
  expect_ev(t, "");
}

/* A protocol error after our close frame ends the connection without a second close frame. */
static void test_violation_after_our_close(void **state) {
  tc *t = *state;
  open_server(t);
  assert_int_equal(wsref_session_close(t->s, 1000, NULL), 0);
  expect_out(t, "88 02 03 e8");
  assert_int_equal(feed_frame(t, 0x80, "c", 1), WSREF_E_FRAME_CONT);
  expect_out(t, "");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_true(wsref_session_transport_done(t->s));
}

static void test_close_timeout(void **state) {
  tc *t = *state;
  open_server(t);
  t->now = 5000;
  wsref_session_tick(t->s, t->now); /* close() uses the last time the io layer gave */
  assert_int_equal(wsref_session_close(t->s, 1001, NULL), 0);
  expect_out(t, "88 02 03 e9");
  assert_int_equal(wsref_session_deadline(t->s), 8000);
  wsref_session_tick(t->s, 7999);
  assert_false(wsref_session_transport_done(t->s));
  expect_ev(t, "");
  wsref_session_tick(t->s, 8000);
  assert_true(wsref_session_transport_done(t->s));
  expect_ev(t, "close 1006 \n");
  expect_log(t, "close timeout\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  /* A late close frame changes nothing. */
  assert_int_equal(feed_frame(t, 0x88, "", 0), 0);
  expect_out(t, "");
  expect_ev(t, "");
  wsref_session_transport_closed(t->s, 0, 9000);
  expect_ev(t, "");
}

static void test_close_invalid_args(void **state) {
  tc *t = *state;
  open_server(t);
  assert_int_equal(wsref_session_close(t->s, 1005, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_session_close(t->s, 999, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_session_close(t->s, 1000, "\xff"), WSREF_E_UTF8);
  expect_out(t, "");
  assert_int_equal(wsref_session_close(t->s, 0, "ignored"), 0);
  expect_out(t, "88 00");
  /* The peer answers without a code. */
  assert_int_equal(feed_frame(t, 0x88, "", 0), 0);
  expect_ev(t, "close 1005 \n");
  expect_out(t, "");
}

static void test_transport_closed_without_close(void **state) {
  tc *t = *state;
  open_server(t);
  wsref_session_transport_closed(t->s, 0, t->now);
  expect_ev(t, "close 1006 \n");
  expect_log(t, "close 1006 abnormal\n");
  assert_true(wsref_session_transport_done(t->s));
  assert_int_equal(wsref_session_send_text(t->s, "x", 1), WSREF_E_STATE);
  wsref_session_transport_closed(t->s, 0, t->now);
  expect_ev(t, "");
  forget(t);
  /* A transport error is reported first. */
  open_server(t);
  wsref_session_transport_closed(t->s, WSREF_E_IO, t->now);
  expect_ev(t, "error WSREF_E_IO\nclose 1006 \n");
  forget(t);
  /* Freed while open: on_close still runs once. */
  open_server(t);
  wsref_session_free(t->s);
  t->s = NULL;
  expect_ev(t, "close 1006 \n");
}

static void test_terminate(void **state) {
  tc *t = *state;
  open_server(t);
  wsref_session_terminate(t->s, 4500, NULL);
  expect_ev(t, "close 4500 \n");
  expect_log(t, "terminate 4500\n");
  assert_false(wsref_session_transport_done(t->s));
  expect_out(t, "88 02 11 94");
  assert_true(wsref_session_transport_done(t->s));
  wsref_session_terminate(t->s, 1000, NULL);
  expect_out(t, "");
  expect_ev(t, "");
}

/* Fuzz finding (fuzz/regressions/session_server/session-terminate-*): terminate() with a
 * code or reason that may not be on the wire must not put it there. */
static void test_terminate_unsendable(void **state) {
  tc *t = *state;
  open_server(t);
  wsref_session_terminate(t->s, 1005, "\xff");
  expect_ev(t, "close 1005 \n");
  expect_out(t, "88 02 03 f3"); /* 1011, no reason */

  teardown(state);
  setup(state);
  t = *state;
  open_server(t);
  wsref_session_terminate(t->s, 5000, "ok");
  expect_out(t, "88 04 03 f3 6f 6b"); /* 1011 "ok" */
}

static void test_idle_timeout(void **state) {
  tc *t = *state;
  t->opt.idle_timeout_ms = 500;
  open_server(t);
  assert_int_equal(wsref_session_deadline(t->s), 1500);
  t->now = 1400;
  assert_int_equal(feed_frame(t, 0x89, "", 0), 0);
  expect_out(t, "8a 00");
  assert_int_equal(wsref_session_deadline(t->s), 1900);
  wsref_session_tick(t->s, 1899);
  expect_out(t, "");
  t->now = 1900;
  wsref_session_tick(t->s, 1900);
  expect_out(t, "88 0e 03 e9 69 64 6c 65 20 74 69 6d 65 6f 75 74"); /* 1001 "idle timeout" */
  expect_log(t, "idle timeout\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSING);
  assert_int_equal(wsref_session_deadline(t->s), 4900);
}

/* ---- limits ---- */

static void test_max_message(void **state) {
  tc *t = *state;
  t->opt.max_message = 10;
  uint8_t b[128];
  /* 6 + 6 > 10: fails at the second frame's header, before its payload. */
  size_t n = mk(b, 0x01, "61 61 61 61 61 61");
  size_t n2 = mk(b + n, 0x80, "61 61 61 61 61 61");
  open_server(t);
  assert_int_equal(feed(t, b, n), 0);
  expect_failed(t, feed(t, b + n, 6), WSREF_E_MESSAGE_TOO_BIG, "88 02 03 f1");
  forget(t);
  /* Exactly 10 is fine. */
  open_server(t);
  n = mk(b, 0x01, "61 61 61 61 61");
  n += mk(b + n, 0x80, "61 61 61 61 61");
  assert_int_equal(feed(t, b, n), 0);
  expect_out(t, "81 0a 61 61 61 61 61 61 61 61 61 61");
  forget(t);
  /* A single frame over max_message is over max_frame too (0 = max_message). */
  run_fail(t, b, mk(b, 0x82, "00 01 02 03 04 05 06 07 08 09 0a"), WSREF_E_FRAME_TOO_BIG,
           "88 02 03 f1");
  /* Partial handlers count the message bytes as well. */
  t->h.partial_messages = true;
  t->echo = false;
  open_server(t);
  n = mk(b, 0x01, "61 61 61 61 61 61");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "text+ aaaaaa\n");
  n2 = mk(b, 0x80, "61 61 61 61 61 61");
  expect_failed(t, feed(t, b, n2), WSREF_E_MESSAGE_TOO_BIG, "88 02 03 f1");
}

static void test_max_frame_and_huge_length(void **state) {
  tc *t = *state;
  uint8_t b[64];
  t->opt.max_frame = 4;
  run_fail(t, b, mk(b, 0x82, "00 01 02 03 04"), WSREF_E_FRAME_TOO_BIG, "88 02 03 f1");
  /* A 16-bit length over the limit fails on the header alone. */
  run_fail(t, b, peer_header(b, 0x82, 200, peer_key), WSREF_E_FRAME_TOO_BIG, "88 02 03 f1");
  t->opt.max_frame = 0;
  /* 2^62 declared with the default limits: 1009 right after the header. */
  run_fail(t, b, peer_header(b, 0x82, UINT64_C(1) << 62, peer_key), WSREF_E_FRAME_TOO_BIG,
           "88 02 03 f1");
  /* With the limits lifted the declaration is accepted and nothing is allocated for it:
   * memory follows the bytes that actually arrive (ASan would flag a 2^62 allocation). */
  t->opt.max_frame = UINT64_MAX;
  t->opt.max_message = UINT64_MAX;
  open_server(t);
  size_t n = peer_header(b, 0x82, UINT64_C(1) << 62, peer_key);
  assert_int_equal(feed(t, b, n), 0);
  uint8_t chunk[4096] = {0};
  for (int i = 0; i < 16; i++) assert_int_equal(feed(t, chunk, sizeof chunk), 0);
  expect_out(t, "");
  expect_ev(t, "");
  /* Partial delivery of the same. */
  forget(t);
  t->h.partial_messages = true;
  t->echo = false;
  open_server(t);
  assert_int_equal(feed(t, b, n), 0);
  assert_int_equal(feed(t, chunk, 3), 0);
  expect_ev(t, "binary+ 7\\xfa!\n"); /* zeros on the wire, unmasked with 37 fa 21 */
}

/* ---- handler contract ---- */

static int on_msg_plain(wsref_session *s, const wsref_message *m, void *ud) {
  return cb_message(s, m, ud);
}

static void test_text_and_binary_handlers(void **state) {
  tc *t = *state;
  uint8_t b[64];
  wsref_handler full = t->h;
  t->h = wsref_text_handler(on_msg_plain, t);
  assert_int_equal(t->h.accept, WSREF_ACCEPT_TEXT);
  assert_false(t->h.partial_messages);
  assert_null(t->h.on_open);
  t->h.on_open = cb_open; /* to see the callbacks in the transcript */
  t->h.on_transport_error = cb_error;
  t->h.on_close = cb_close;
  open_server(t);
  assert_int_equal(feed_frame(t, 0x81, "ok", 2), 0);
  expect_out(t, "81 02 6f 6b");
  expect_ev(t, "text ok\n");
  expect_failed(t, feed(t, b, mk(b, 0x82, "01")), WSREF_E_MESSAGE_TYPE, "88 02 03 eb");
  forget(t);
  /* Decided at the first frame of a fragmented message. */
  open_server(t);
  expect_failed(t, feed(t, b, mk(b, 0x02, "01")), WSREF_E_MESSAGE_TYPE, "88 02 03 eb");
  forget(t);

  t->h = wsref_binary_handler(on_msg_plain, t);
  assert_int_equal(t->h.accept, WSREF_ACCEPT_BINARY);
  assert_ptr_equal(t->h.ud, t);
  t->h.on_open = cb_open;
  t->h.on_transport_error = cb_error;
  t->h.on_close = cb_close;
  open_server(t);
  assert_int_equal(feed_frame(t, 0x82, "ok", 2), 0);
  expect_out(t, "82 02 6f 6b");
  expect_ev(t, "binary ok\n");
  expect_failed(t, feed(t, b, mk(b, 0x81, "61")), WSREF_E_MESSAGE_TYPE, "88 02 03 eb");
  t->h = full;
}

static void test_handler_errors(void **state) {
  tc *t = *state;
  uint8_t b[64];
  /* on_message failing: 1011, and the rest of the chunk is not read. */
  t->msg_rc = -1;
  t->echo = false;
  for (int pong = 0; pong < 2; pong++) {
    open_server(t);
    size_t n = pong ? mk(b, 0x8a, "") : mk(b, 0x81, "61");
    n += mk(b + n, 0x89, "");
    assert_int_equal(feed(t, b, n), WSREF_E_HANDLER);
    expect_out(t, "88 02 03 f3"); /* no pong for the ping after the failing message */
    expect_ev(t, pong ? "pong \nerror WSREF_E_HANDLER\nclose 1006 \n"
                      : "text a\nerror WSREF_E_HANDLER\nclose 1006 \n");
    expect_log(t, "fail 1011 WSREF_E_HANDLER\n");
    assert_true(wsref_session_transport_done(t->s));
    wsref_session_free(t->s);
    t->s = NULL;
    wsref_registry_free(t->reg);
    t->reg = NULL;
  }
  t->msg_rc = 0;
  /* on_open failing: the 101 is already out, then the close; pipelined frames unread. */
  t->open_rc = 1;
  new_server(t);
  uint8_t req[1024];
  size_t n = peer_request((char *)req, "/echo", NULL);
  n += peer_frame(req + n, 0x81, peer_key, "x", 1);
  assert_int_equal(feed(t, req, n), WSREF_E_HANDLER);
  drain(t);
  size_t hl = strlen(resp_101);
  assert_int_equal(wsref_buf_len(&t->out), hl + 4);
  assert_memory_equal(wsref_buf_head(&t->out), resp_101, hl);
  assert_memory_equal(wsref_buf_head(&t->out) + hl, "\x88\x02\x03\xf3", 4);
  expect_ev(t, "open\nerror WSREF_E_HANDLER\nclose 1006 \n");
  expect_log(t, "open /echo\nfail 1011 WSREF_E_HANDLER\n");
  assert_true(wsref_session_transport_done(t->s));
}

static void test_close_from_handler(void **state) {
  tc *t = *state;
  t->close_in_msg = true;
  t->echo = false;
  open_server(t);
  uint8_t b[64];
  /* The handler closes on the first message; the second one (same chunk) is still
   * delivered, and the ping after it gets no pong (nothing follows our close). */
  size_t n = mk(b, 0x81, "61");
  n += mk(b + n, 0x81, "62");
  n += mk(b + n, 0x89, "");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "text a\ntext b\n");
  expect_out(t, "88 06 03 e8 64 6f 6e 65");
  assert_int_equal(feed_frame(t, 0x88, "\x03\xe8", 2), 0);
  expect_ev(t, "close 1000 \n");
  assert_true(wsref_session_transport_done(t->s));
}

static void test_partial_handler(void **state) {
  tc *t = *state;
  t->h.partial_messages = true;
  open_server(t);
  uint8_t b[128];
  /* Each piece of payload is delivered as it arrives; is_last on the end of the FIN frame.
   * The echo handler sends the pieces back as fragments. */
  size_t n = mk(b, 0x01, "48 65 6c");
  assert_int_equal(feed(t, b, 6 + 2), 0); /* header + "He" */
  expect_ev(t, "text+ He\n");
  assert_int_equal(feed(t, b + 8, n - 8), 0);
  expect_ev(t, "text+ l\n");
  n = mk(b, 0x80, "6c 6f");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "text lo\n");
  expect_out(t, "01 02 48 65 00 01 6c 80 02 6c 6f");
  /* An empty final frame gives one empty is_last piece; empty non-final frames nothing. */
  n = mk(b, 0x02, "01");
  n += mk(b + n, 0x00, "");
  n += mk(b + n, 0x80, "");
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "binary+ \\x01\nbinary \n");
  expect_out(t, "02 01 01 80 00");
  /* Single-frame message in one piece. */
  assert_int_equal(feed_frame(t, 0x81, "hi", 2), 0);
  expect_ev(t, "text hi\n");
  expect_out(t, "81 02 68 69");
  /* A code point split across pieces is fine; incomplete at the end is not. */
  n = mk(b, 0x81, "ce ba");
  assert_int_equal(feed(t, b, 7), 0);
  expect_ev(t, "text+ \\xce\n");
  assert_int_equal(feed(t, b + 7, 1), 0);
  expect_ev(t, "text \\xba\n");
  expect_out(t, "01 01 ce 80 01 ba");
  expect_failed(t, feed(t, b, mk(b, 0x81, "61 ce")), WSREF_E_UTF8, "88 02 03 ef");
}

/* ---- sending ---- */

static void test_send_api(void **state) {
  tc *t = *state;
  open_server(t);
  wsref_session *s = t->s;
  assert_int_equal(wsref_session_send_text(s, "Hello", 5), 0);
  assert_int_equal(wsref_session_send_binary(s, "\x01\x02", 2), 0);
  expect_out(t, "81 05 48 65 6c 6c 6f 82 02 01 02");
  assert_int_equal(wsref_session_send_text(s, "\xce", 1), WSREF_E_UTF8);
  assert_int_equal(wsref_session_send_text(s, "\xed\xa0\x80", 3), WSREF_E_UTF8);
  /* A fragmented send with a control frame in between; the split code point is fine. */
  wsref_message m = {WSREF_MSG_TEXT, (const uint8_t *)"a\xce", 2, false};
  assert_int_equal(wsref_session_send(s, &m), 0);
  wsref_message bin = {WSREF_MSG_BINARY, (const uint8_t *)"x", 1, true};
  assert_int_equal(wsref_session_send(s, &bin), WSREF_E_INVALID_ARG); /* wrong type mid-message */
  wsref_message ping = {WSREF_MSG_PING, (const uint8_t *)"p", 1, true};
  assert_int_equal(wsref_session_send(s, &ping), 0);
  wsref_message end = {WSREF_MSG_TEXT, (const uint8_t *)"\xba", 1, true};
  assert_int_equal(wsref_session_send(s, &end), 0);
  expect_out(t, "01 02 61 ce 89 01 70 80 01 ba");
  /* Ending inside a code point is refused and sends nothing. */
  wsref_message m1 = {WSREF_MSG_TEXT, (const uint8_t *)"\xe2", 1, false};
  wsref_message m2 = {WSREF_MSG_TEXT, (const uint8_t *)"\x82", 1, true};
  assert_int_equal(wsref_session_send(s, &m1), 0);
  assert_int_equal(wsref_session_send(s, &m2), WSREF_E_UTF8);
  wsref_message m3 = {WSREF_MSG_TEXT, (const uint8_t *)"\x82\xac", 2, true};
  assert_int_equal(wsref_session_send(s, &m3), 0);
  expect_out(t, "01 01 e2 80 02 82 ac");
  /* Control frame rules. */
  uint8_t big[126] = {0};
  wsref_message bp = {WSREF_MSG_PING, big, 126, true};
  assert_int_equal(wsref_session_send(s, &bp), WSREF_E_INVALID_ARG);
  bp.len = 125;
  bp.is_last = false;
  assert_int_equal(wsref_session_send(s, &bp), WSREF_E_INVALID_ARG);
  wsref_message bad = {(enum wsref_message_type)3, big, 1, true};
  assert_int_equal(wsref_session_send(s, &bad), WSREF_E_INVALID_ARG);
  wsref_message pong = {WSREF_MSG_PONG, NULL, 0, true};
  assert_int_equal(wsref_session_send(s, &pong), 0);
  expect_out(t, "8a 00");
  /* want_write fires on empty -> non-empty only. */
  int w = t->want_writes;
  assert_int_equal(wsref_session_send_text(s, "a", 1), 0);
  assert_int_equal(wsref_session_send_text(s, "b", 1), 0);
  assert_int_equal(t->want_writes, w + 1);
  assert_int_equal(wsref_session_buffered(s), 6);
  assert_int_equal(wsref_session_output_since(s), t->now);
  expect_out(t, "81 01 61 81 01 62");
  assert_int_equal(wsref_session_output_since(s), 0);
}

static void test_max_output(void **state) {
  tc *t = *state;
  t->opt.max_output = 20;
  open_server(t);
  uint8_t pl[32] = {0};
  /* The limit counts whole frames, header included. */
  assert_int_equal(wsref_session_send_binary(t->s, pl, 18), 0);
  assert_int_equal(wsref_session_buffered(t->s), 20);
  drain(t);
  wsref_buf_reset(&t->out);
  assert_int_equal(wsref_session_send_binary(t->s, pl, 19), WSREF_E_LIMIT);
  assert_int_equal(wsref_session_send_binary(t->s, pl, 6), 0);
  assert_int_equal(wsref_session_send_binary(t->s, pl, 10), 0);
  assert_int_equal(wsref_session_send_binary(t->s, pl, 0), WSREF_E_LIMIT);
  expect_out(t, "82 06 00 00 00 00 00 00 82 0a 00 00 00 00 00 00 00 00 00 00");
}

static void test_output_api(void **state) {
  tc *t = *state;
  open_server(t);
  assert_int_equal(wsref_session_send_text(t->s, "a", 1), 0);
  size_t n;
  const uint8_t *p = wsref_session_output(t->s, &n);
  assert_non_null(p);
  assert_int_equal(n, 3);
  assert_memory_equal(p,
                      "\x81\x01"
                      "a",
                      3);
  wsref_session_output_done(t->s, 1, t->now);
  assert_int_equal(wsref_session_buffered(t->s), 2);
  p = wsref_session_output(t->s, &n);
  assert_int_equal(n, 2);
  assert_memory_equal(p,
                      "\x01"
                      "a",
                      2);
  wsref_session_output_done(t->s, 2, t->now);
  assert_null(wsref_session_output(t->s, &n));
  assert_int_equal(n, 0);
}

static void count_drain(wsref_session *s, void *ud) {
  (void)s;
  (*(int *)ud)++;
}

static void test_drain_hook_called(void **state) {
  tc *t = *state;
  open_server(t);
  int calls = 0;
  wsref_session_set_drain_hook(t->s, count_drain, &calls);
  assert_int_equal(wsref_session_send_text(t->s, "ab", 2), 0);
  wsref_session_output_done(t->s, 2, t->now);
  assert_int_equal(calls, 0);
  wsref_session_output_done(t->s, 2, t->now);
  assert_int_equal(calls, 1);
  wsref_session_set_drain_hook(t->s, NULL, NULL);
  assert_int_equal(wsref_session_send_text(t->s, "ab", 2), 0);
  drain(t);
  assert_int_equal(calls, 1);
}

/* ---- split invariance of a whole conversation ---- */

typedef struct conv {
  tc *t;
} conv;

static void conv_reset(void *ctx) {
  conv *c = ctx;
  tc *t = c->t;
  wsref_session_free(t->s);
  t->s = wsref_session_new_server(t->reg, &t->opt, &t->io, NULL, t->now);
  assert_non_null(t->s);
  wsref_buf_reset(&t->ev);
  wsref_buf_reset(&t->log);
}

static void conv_feed(void *ctx, uint8_t *piece, size_t len, wsref_buf *transcript) {
  conv *c = ctx;
  tc *t = c->t;
  wsref_session_recv(t->s, piece, len, t->now);
  size_t n;
  const uint8_t *p;
  while ((p = wsref_session_output(t->s, &n)) != NULL) {
    char *hex = malloc(3 * n + 2);
    peer_hex(p, n, hex);
    wsref_buf_appendf(transcript, "%s ", hex);
    free(hex);
    wsref_session_output_done(t->s, n, t->now);
  }
}

static void conv_finish(void *ctx, wsref_buf *transcript) {
  conv *c = ctx;
  wsref_buf_appendf(transcript, "\n--\n%s--\n%s", str(&c->t->ev), str(&c->t->log));
  wsref_buf_appendf(transcript, "done=%d\n", wsref_session_transport_done(c->t->s));
}

static void test_split_invariance(void **state) {
  tc *t = *state;
  new_server(t);
  uint8_t conv_bytes[2048];
  size_t n = peer_request((char *)conv_bytes, "/echo", NULL);
  uint8_t *b = conv_bytes;
  n += peer_frame(b + n, 0x81, peer_key, "Hello", 5);
  n += mk(b + n, 0x01, "48 65 6c");
  n += mk(b + n, 0x89, "70");
  n += mk(b + n, 0x80, "6c 6f");
  n += mk(b + n, 0x01, "ce");
  n += mk(b + n, 0x80, "ba");
  uint8_t bin[300];
  for (size_t i = 0; i < sizeof bin; i++) bin[i] = (uint8_t)(i ^ 0x5a);
  n += peer_frame(b + n, 0x82, peer_key, bin, sizeof bin);
  n += mk(b + n, 0x8a, "78");
  n += mk(b + n, 0x81, "");
  n += mk(b + n, 0x88, "03 e8 62 79 65");
  n += mk(b + n, 0x81, "61"); /* after the close: never read */
  conv c = {t};
  split_target target = {conv_reset, conv_feed, conv_finish, &c};
  /* The whole conversation in one chunk, checked byte for byte. */
  wsref_buf whole = WSREF_BUF_INIT;
  assert_int_equal(split_run(&target, b, n, NULL, 0, &whole), 0);
  const char *w = (const char *)wsref_buf_head(&whole);
  assert_non_null(strstr(w, "\n--\nopen\ntext Hello\ntext Hello\ntext \\xce\\xba\nbinary Z[XY"));
  assert_non_null(strstr(w,
                         "rspq\npong x\ntext \nclose 1000 bye\n--\nopen /echo\n"
                         "close 1000 clean\ndone=1\n"));
  const char *tail = "81 05 48 65 6c 6c 6f 8a 01 70 81 05 48 65 6c 6c 6f 81 02 ce ba 82 7e 01 2c";
  assert_non_null(strstr(w, tail));
  assert_non_null(strstr(w, "81 00 88 02 03 e8 \n"));
  wsref_buf_free(&whole);
  /* Every two-way cut, byte by byte and every chunk size up to 17. */
  assert_int_equal(split_check(&target, b, n, NULL), 0);
}

/* Random, mostly well-formed frame sequences (valid and invalid opcodes, RSV bits, masks,
 * fragments, UTF-8, close codes): one chunk and random cuttings give the same transcript. */
static uint64_t rnd(uint64_t *x) {
  return *x = *x * UINT64_C(6364136223846793005) + 1442695040888963407u;
}
static unsigned pick(uint64_t *x, unsigned n) {
  return (unsigned)((rnd(x) >> 33) % n);
}

static size_t random_conversation(uint64_t *x, uint8_t *b, size_t cap) {
  size_t n = peer_request((char *)b, "/echo", NULL);
  static const uint8_t ops[] = {0x1, 0x2, 0x0, 0x9, 0xa, 0x8, 0x3, 0xb};
  static const char *const texts[] = {
      "a", "\xce", "\xba", "\xed\xa0\x80", "hello", "\xf0\x9f", "\x98\x80", "\xff", ""};
  unsigned frames = 1 + pick(x, 12);
  for (unsigned f = 0; f < frames && n + 300 < cap; f++) {
    uint8_t op = ops[pick(x, 6 + (pick(x, 8) == 0 ? 2 : 0))];
    uint8_t b0 = (uint8_t)(op | (pick(x, 4) ? 0x80 : 0) | (pick(x, 30) == 0 ? 0x40 : 0));
    uint8_t pl[200];
    size_t len = 0;
    if (op == 0x8) {
      unsigned code = pick(x, 3) ? 1000 + pick(x, 20) : pick(x, 5000);
      len = peer_close_payload(pl, code, pick(x, 2) ? "ok" : NULL);
      if (pick(x, 10) == 0) len = 1;
    } else if (op == 0x1 || op == 0x0 || pick(x, 2)) {
      unsigned k = pick(x, 4);
      for (unsigned i = 0; i < k; i++) {
        const char *t = texts[pick(x, sizeof texts / sizeof texts[0])];
        size_t tl = strlen(t);
        memcpy(pl + len, t, tl);
        len += tl;
      }
    } else {
      len = pick(x, 130);
      for (size_t i = 0; i < len; i++) pl[i] = (uint8_t)rnd(x);
    }
    bool masked = pick(x, 40) != 0;
    n += peer_frame(b + n, b0, masked ? peer_key : NULL, pl, len);
  }
  return n;
}

static void test_random_split_invariance(void **state) {
  tc *t = *state;
  new_server(t);
  t->echo = true;
  conv c = {t};
  split_target target = {conv_reset, conv_feed, conv_finish, &c};
  uint64_t x = 12345;
  wsref_buf whole = WSREF_BUF_INIT, cut = WSREF_BUF_INIT;
  int failed = 0, closed = 0;
  for (int round = 0; round < 400; round++) {
    uint8_t b[8192];
    size_t n = random_conversation(&x, b, sizeof b);
    assert_int_equal(split_run(&target, b, n, NULL, 0, &whole), 0);
    const char *w = str(&whole);
    if (strstr(w, "\nfail ")) failed++;
    if (strstr(w, " clean\n")) closed++;
    for (int k = 0; k < 4; k++) {
      size_t cuts[8], nc = 1 + pick(&x, 7), at = 0;
      for (size_t i = 0; i < nc; i++) {
        at += 1 + pick(&x, (unsigned)((n - at) / (nc - i + 1) + 1));
        if (at >= n) break;
        cuts[i] = at;
        if (i + 1 == nc) nc = i + 1;
      }
      size_t used = 0;
      while (used < nc && cuts[used] < n && (used == 0 || cuts[used] > cuts[used - 1])) used++;
      assert_int_equal(split_run(&target, b, n, cuts, used, &cut), 0);
      assert_string_equal(str(&cut), w);
    }
  }
  /* The generator reaches both outcomes often. */
  assert_true(failed > 50);
  assert_true(closed > 20);
  wsref_buf_free(&whole);
  wsref_buf_free(&cut);
}

/* ---- client sessions ---- */

static uint64_t ref_splitmix(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static void next_key(uint64_t *prng, uint8_t key[4]) {
  uint64_t r = ref_splitmix(prng);
  for (int i = 0; i < 4; i++) key[i] = (uint8_t)(r >> (8 * i));
}

static void new_client(tc *t) {
  static const char *const protos[] = {"chat", "superchat"};
  wsref_handshake_client hs;
  memset(&hs, 0, sizeof hs);
  char host[] = "server.example.com", path[] = "/chat";
  hs.host = host;
  hs.path = path;
  hs.subprotocols = protos;
  hs.nsubprotocols = 2;
  memcpy(hs.nonce, "the sample nonce", 16);
  t->opt.seed = 42;
  t->s = wsref_session_new_client(&hs, &t->h, &t->opt, &t->io, t->now);
  assert_non_null(t->s);
  assert_string_equal(hs.key, PEER_SAMPLE_KEY);
  /* The strings given need not outlive the call. */
  memset(host, 'x', sizeof host - 1);
  memset(path, 'y', sizeof path - 1);
}

static const char resp_101_chat[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: " PEER_SAMPLE_ACCEPT "\r\nSec-WebSocket-Protocol: chat\r\n\r\n";

/* RFC 9110 15.2: interim 1xx responses before the 101 are skipped, even split across reads. */
static void test_client_interim_responses(void **state) {
  tc *t = *state;
  new_client(t);
  drain(t);
  wsref_buf_reset(&t->out);
  static const char interim[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n";
  char all[1024];
  int n = snprintf(all, sizeof all, "%s%s", interim, resp_101_chat);
  assert_int_equal(feed(t, (const uint8_t *)all, 10), 0);
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CONNECTING);
  assert_int_equal(feed(t, (const uint8_t *)all + 10, (size_t)n - 10), 0);
  expect_ev(t, "open\n");
  expect_log(t,
             "interim response 100 skipped\ninterim response 103 skipped\n"
             "open /chat subprotocol=chat\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_OPEN);
}

static void test_client_session(void **state) {
  tc *t = *state;
  new_client(t);
  assert_int_equal(t->want_writes, 1);
  expect_out_text(t,
                  "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CONNECTING);
  assert_string_equal(wsref_session_path(t->s), "/chat");
  /* The 101 and a first server frame in one read. */
  uint8_t b[512];
  size_t n = strlen(resp_101_chat);
  memcpy(b, resp_101_chat, n);
  n += peer_frame(b + n, 0x81, NULL, "Hello", 5);
  assert_int_equal(feed(t, b, n), 0);
  expect_ev(t, "open\ntext Hello\n");
  expect_log(t, "open /chat subprotocol=chat\n");
  assert_string_equal(wsref_session_subprotocol(t->s), "chat");
  /* The echo is masked with the key from splitmix64 seeded with opt.seed. */
  uint64_t prng = 42;
  uint8_t key[4], want[32], pl[8];
  next_key(&prng, key);
  size_t wn = peer_frame(want, 0x81, key, "Hello", 5);
  drain(t);
  assert_int_equal(wsref_buf_len(&t->out), wn);
  assert_memory_equal(wsref_buf_head(&t->out), want, wn);
  wsref_buf_reset(&t->out);
  /* A new key for every frame. */
  assert_int_equal(wsref_session_send_binary(t->s, "", 0), 0);
  next_key(&prng, key);
  wn = peer_frame(want, 0x82, key, "", 0);
  drain(t);
  assert_int_equal(wsref_buf_len(&t->out), wn);
  assert_memory_equal(wsref_buf_head(&t->out), want, wn);
  wsref_buf_reset(&t->out);
  /* Server pings are answered with masked pongs. */
  assert_int_equal(feed(t, b, peer_frame(b, 0x89, NULL, "pi", 2)), 0);
  next_key(&prng, key);
  wn = peer_frame(want, 0x8a, key, "pi", 2);
  drain(t);
  assert_int_equal(wsref_buf_len(&t->out), wn);
  assert_memory_equal(wsref_buf_head(&t->out), want, wn);
  wsref_buf_reset(&t->out);
  /* The server closes: echo the code, masked; then wait for the server's TCP close. */
  t->now = 2000;
  assert_int_equal(feed(t, b, peer_frame(b, 0x88, NULL, "\x03\xe8", 2)), 0);
  next_key(&prng, key);
  wn = peer_frame(want, 0x88, key, "\x03\xe8", 2);
  drain(t);
  assert_int_equal(wsref_buf_len(&t->out), wn);
  assert_memory_equal(wsref_buf_head(&t->out), want, wn);
  peer_parsed f;
  assert_int_equal(peer_parse(wsref_buf_head(&t->out), wn, &f, pl, sizeof pl), wn);
  assert_true(f.masked);
  assert_memory_equal(pl, "\x03\xe8", 2);
  wsref_buf_reset(&t->out);
  expect_ev(t, "close 1000 \n");
  expect_log(t, "close 1000 clean\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_false(wsref_session_transport_done(t->s)); /* the server closes first */
  assert_int_equal(wsref_session_deadline(t->s), 5000);
  wsref_session_tick(t->s, 4999);
  assert_false(wsref_session_transport_done(t->s));
  wsref_session_tick(t->s, 5000);
  assert_true(wsref_session_transport_done(t->s));
  wsref_session_transport_closed(t->s, 0, 5001);
  expect_ev(t, "");
}

static void test_client_same_seed_same_bytes(void **state) {
  tc *t = *state;
  wsref_buf first = WSREF_BUF_INIT;
  for (int round = 0; round < 2; round++) {
    new_client(t);
    drain(t);
    assert_int_equal(feed_str(t, resp_101_chat), 0);
    assert_int_equal(wsref_session_send_text(t->s, "abc", 3), 0);
    assert_int_equal(wsref_session_close(t->s, 1000, NULL), 0);
    drain(t);
    if (round == 0) {
      wsref_buf_append(&first, wsref_buf_head(&t->out), wsref_buf_len(&t->out));
    } else {
      assert_int_equal(wsref_buf_len(&first), wsref_buf_len(&t->out));
      assert_memory_equal(wsref_buf_head(&first), wsref_buf_head(&t->out), wsref_buf_len(&first));
    }
    wsref_buf_reset(&t->out);
    wsref_session_free(t->s);
    t->s = NULL;
  }
  wsref_buf_free(&first);
}

static void test_client_initiated_close(void **state) {
  tc *t = *state;
  new_client(t);
  drain(t);
  assert_int_equal(feed_str(t, resp_101_chat), 0);
  expect_ev(t, "open\n");
  wsref_buf_reset(&t->out);
  assert_int_equal(wsref_session_close(t->s, 1000, NULL), 0);
  drain(t);
  peer_parsed f;
  uint8_t pl[8];
  assert_int_equal(peer_parse(wsref_buf_head(&t->out), wsref_buf_len(&t->out), &f, pl, 8), 8);
  assert_int_equal(f.b0, 0x88);
  assert_true(f.masked);
  assert_memory_equal(pl, "\x03\xe8", 2);
  wsref_buf_reset(&t->out);
  uint8_t b[16];
  assert_int_equal(feed(t, b, peer_frame(b, 0x88, NULL, "\x03\xe8", 2)), 0);
  expect_out(t, ""); /* no second close */
  expect_ev(t, "close 1000 \n");
  assert_false(wsref_session_transport_done(t->s));
  wsref_session_transport_closed(t->s, 0, t->now);
  assert_true(wsref_session_transport_done(t->s));
  expect_ev(t, "");
}

static void test_client_failures(void **state) {
  tc *t = *state;
  /* A wrong Sec-WebSocket-Accept: no connection, the handler hears the error. */
  new_client(t);
  drain(t);
  wsref_buf_reset(&t->out);
  int rc =
      feed_str(t,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n");
  assert_int_equal(rc, WSREF_E_HS_ACCEPT);
  expect_ev(t, "error WSREF_E_HS_ACCEPT\n");
  expect_log(t, "handshake 101 WSREF_E_HS_ACCEPT\n");
  expect_out(t, "");
  assert_true(wsref_session_transport_done(t->s));
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  wsref_session_free(t->s);
  expect_ev(t, ""); /* never opened: no on_close */
  /* A 404. */
  new_client(t);
  drain(t);
  wsref_buf_reset(&t->out);
  assert_int_equal(feed_str(t, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
                   WSREF_E_HS_STATUS);
  expect_ev(t, "error WSREF_E_HS_STATUS\n");
  wsref_session_free(t->s);
  /* Handshake timeout. */
  new_client(t);
  wsref_session_tick(t->s, t->now + 10000);
  expect_ev(t, "error WSREF_E_TIMEOUT\n");
  assert_true(wsref_session_transport_done(t->s));
  wsref_session_free(t->s);
  /* A masked frame from the server fails the connection with a masked 1002. */
  new_client(t);
  drain(t);
  wsref_buf_reset(&t->out);
  uint8_t b[512];
  size_t n = strlen(resp_101_chat);
  memcpy(b, resp_101_chat, n);
  n += peer_frame(b + n, 0x81, peer_key, "x", 1);
  assert_int_equal(feed(t, b, n), WSREF_E_FRAME_MASKED);
  expect_ev(t, "open\nerror WSREF_E_FRAME_MASKED\nclose 1006 \n");
  drain(t);
  peer_parsed f;
  uint8_t pl[8];
  assert_int_equal(peer_parse(wsref_buf_head(&t->out), wsref_buf_len(&t->out), &f, pl, 8), 8);
  assert_int_equal(f.b0, 0x88);
  assert_true(f.masked);
  assert_memory_equal(pl, "\x03\xea", 2);
  assert_true(wsref_session_transport_done(t->s));
}

static void test_options_default(void **state) {
  (void)state;
  wsref_session_options o;
  memset(&o, 0xab, sizeof o);
  wsref_session_options_default(&o);
  assert_int_equal(o.max_message, 64u << 20);
  assert_int_equal(o.max_frame, 0);
  assert_int_equal(o.max_output, (size_t)256 << 20);
  assert_int_equal(o.http.max_head, 8192);
  assert_int_equal(o.http.max_headers, 64);
  assert_int_equal(o.handshake_timeout_ms, 10000);
  assert_int_equal(o.close_timeout_ms, 3000);
  assert_int_equal(o.idle_timeout_ms, 0);
  assert_false(o.allow_non_minimal);
}

static void test_session_ids_differ(void **state) {
  tc *t = *state;
  new_server(t);
  wsref_session *b = wsref_session_new_server(t->reg, NULL, NULL, NULL, t->now);
  assert_non_null(b);
  assert_string_not_equal(wsref_session_id(t->s), wsref_session_id(b));
  wsref_session_set_user_data(b, t);
  assert_ptr_equal(wsref_session_user_data(b), t);
  assert_non_null(wsref_session_attributes(b));
  assert_int_equal(wsref_session_now(b), t->now);
  wsref_session_free(b);
}

/* options.id gives the id verbatim (in hex): repeatable across runs, unlike the default. */
static void test_session_id_option(void **state) {
  tc *t = *state;
  wsref_session_options o;
  wsref_session_options_default(&o);
  assert_int_equal(o.id, 0);
  o.id = 42;
  wsref_session *b = wsref_session_new_server(t->reg, &o, NULL, NULL, t->now);
  assert_non_null(b);
  assert_string_equal(wsref_session_id(b), "2a");
  o.id = UINT64_MAX;
  wsref_session *c = wsref_session_new_server(t->reg, &o, NULL, NULL, t->now);
  assert_non_null(c);
  assert_string_equal(wsref_session_id(c), "ffffffffffffffff");
  wsref_session_free(b);
  wsref_session_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_handshake_rfc_sample, setup, teardown),
      cmocka_unit_test_setup_teardown(test_echo_hello, setup, teardown),
      cmocka_unit_test_setup_teardown(test_pipelined_frames_after_head, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handshake_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handshake_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handshake_bytewise, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_rsv_and_opcodes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_control_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_fragmentation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fail_invalid_utf8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_utf8_fail_fast_mid_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_utf8_split_across_fragments, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ping_pong, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fragmented_with_interleaved_ping, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_echo_sweep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_payload_rules, setup, teardown),
      cmocka_unit_test_setup_teardown(test_server_initiated_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_violation_after_our_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_invalid_args, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transport_closed_without_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_terminate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_terminate_unsendable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_frame_and_huge_length, setup, teardown),
      cmocka_unit_test_setup_teardown(test_text_and_binary_handlers, setup, teardown),
      cmocka_unit_test_setup_teardown(test_handler_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_close_from_handler, setup, teardown),
      cmocka_unit_test_setup_teardown(test_partial_handler, setup, teardown),
      cmocka_unit_test_setup_teardown(test_send_api, setup, teardown),
      cmocka_unit_test_setup_teardown(test_max_output, setup, teardown),
      cmocka_unit_test_setup_teardown(test_output_api, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drain_hook_called, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_invariance, setup, teardown),
      cmocka_unit_test_setup_teardown(test_random_split_invariance, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_session, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_same_seed_same_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_initiated_close, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_failures, setup, teardown),
      cmocka_unit_test(test_options_default),
      cmocka_unit_test_setup_teardown(test_session_ids_differ, setup, teardown),
      cmocka_unit_test_setup_teardown(test_session_id_option, setup, teardown),
      cmocka_unit_test_setup_teardown(test_client_interim_responses, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
