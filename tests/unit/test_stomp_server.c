/* STOMP protocol handler (reference/session/stomp_server.h): server sessions driven in
 * memory (a client handshake, then masked WebSocket frames carrying STOMP frames) with a
 * fake clock and a recording backend; every expectation is exact bytes. */
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
#include "codec/stomp.h"
#include "handshake/registry.h"
#include "session/session.h"
#include "session/stomp_server.h"
#include "support/peer.h"

/* ---- fixture ---- */

#define NCLI 4

typedef struct cli {
  wsref_session *s;
  wsref_buf in; /* what the server sent, not yet checked */
} cli;

typedef struct tenv {
  wsref_registry *reg;
  wsref_stomp_server *srv;
  wsref_stomp_server_options o;
  wsref_session_options so;
  uint64_t now;
  cli c[NCLI];
  wsref_buf ev;       /* backend and interceptor events, one per line */
  int connect_rc;     /* on_connect result */
  int frame_rc;       /* on_frame result */
  const char *errtxt; /* wsref_stomp_conn_set_error text before a failing on_frame */
  /* interceptor behaviour */
  bool ic_drop_send, ic_reject_send, ic_rewrite_send, ic_rewrite_receipt, ic_drop_connect;
  wsref_stomp_header ic_h[8];
  wsref_stomp_frame ic_f;
} tenv;

static void put_esc(wsref_buf *b, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
      wsref_buf_appendf(b, "%c", p[i]);
    else if (p[i] == '\n')
      wsref_buf_appendf(b, "\\n");
    else if (p[i] == 0)
      wsref_buf_appendf(b, "\\0");
    else
      wsref_buf_appendf(b, "\\x%02x", p[i]);
  }
}

static const char *str(wsref_buf *b) {
  assert_non_null(wsref_buf_reserve(b, 1));
  wsref_buf_head(b)[wsref_buf_len(b)] = 0;
  return (const char *)wsref_buf_head(b);
}

/* ---- fake backend ---- */

static void ev(tenv *t, const char *what, const wsref_stomp_frame *f) {
  wsref_buf_appendf(&t->ev, "%s", what);
  if (f) {
    wsref_buf_appendf(&t->ev, " %s", wsref_stomp_command_name(f->command));
    for (size_t i = 0; i < f->nheaders; i++) {
      wsref_buf_appendf(&t->ev, " ");
      put_esc(&t->ev, (const uint8_t *)f->headers[i].name, f->headers[i].name_len);
      wsref_buf_appendf(&t->ev, "=");
      put_esc(&t->ev, (const uint8_t *)f->headers[i].value, f->headers[i].value_len);
    }
    if (f->body_len) {
      wsref_buf_appendf(&t->ev, " body=");
      put_esc(&t->ev, f->body, f->body_len);
    }
  }
  wsref_buf_appendf(&t->ev, "\n");
}

static int be_connect(wsref_stomp_conn *c, const wsref_stomp_frame *f, void *ud) {
  tenv *t = ud;
  const char *u = wsref_stomp_conn_user(c);
  wsref_buf_appendf(&t->ev, "user=%s ", u ? u : "-");
  ev(t, "connect", f);
  if (t->connect_rc && t->errtxt) wsref_stomp_conn_set_error(c, "%s", t->errtxt);
  return t->connect_rc;
}

static int be_frame(wsref_stomp_conn *c, const wsref_stomp_frame *f, void *ud) {
  tenv *t = ud;
  ev(t, "frame", f);
  if (t->frame_rc && t->errtxt) wsref_stomp_conn_set_error(c, "%s", t->errtxt);
  return t->frame_rc;
}

static void be_disconnect(wsref_stomp_conn *c, void *ud) {
  tenv *t = ud;
  (void)c;
  ev(t, "disconnect", NULL);
}

/* ---- sessions ---- */

static void start(tenv *t, enum wsref_stomp_profile p,
                  void (*tweak)(wsref_stomp_server_options *)) {
  wsref_stomp_server_options_default(&t->o, p);
  if (tweak) tweak(&t->o);
  wsref_stomp_backend be = {be_connect, be_frame, be_disconnect, NULL, t};
  t->srv = wsref_stomp_server_new(&t->o, &be);
  assert_non_null(t->srv);
  t->reg = wsref_registry_new();
  assert_non_null(t->reg);
  assert_non_null(wsref_stomp_server_register(t->srv, t->reg, "/stomp"));
}

/* Drain what the server wrote, as the io server would: flush, then run the STOMP tick
 * whenever its deadline is due (a DISCONNECT completes once its output is written). */
static void pump(tenv *t, cli *c) {
  for (;;) {
    size_t n = 0;
    const uint8_t *p = wsref_session_output(c->s, &n);
    if (p && n) {
      assert_int_equal(wsref_buf_append(&c->in, p, n), 0);
      wsref_session_output_done(c->s, n, t->now);
      continue;
    }
    uint64_t d = wsref_stomp_session_deadline(c->s, NULL);
    if (!d || d > t->now) break;
    wsref_stomp_session_tick(c->s, t->now, NULL);
    if (!wsref_session_output(c->s, &n)) break;
  }
}

/* A client connected to /stomp with extra handshake header lines; the 101 is checked and
 * consumed. */
static cli *open_cli(tenv *t, int i, const char *extra) {
  cli *c = &t->c[i];
  c->s = wsref_session_new_server(t->reg, &t->so, NULL, "127.0.0.1:5000", t->now);
  assert_non_null(c->s);
  char req[1024];
  size_t n = peer_request(req, "/stomp", extra);
  wsref_session_recv(c->s, (uint8_t *)req, n, t->now);
  pump(t, c);
  const char *in = str(&c->in);
  assert_true(strncmp(in, "HTTP/1.1 101", 12) == 0);
  const char *end = strstr(in, "\r\n\r\n");
  assert_non_null(end);
  wsref_buf_consume(&c->in, (size_t)(end + 4 - in));
  assert_int_equal(wsref_session_state(c->s), WSREF_STATE_OPEN);
  return c;
}

static void send_msg(tenv *t, cli *c, unsigned opcode, const void *p, size_t n) {
  uint8_t *f = malloc(n + 16);
  assert_non_null(f);
  size_t fl = peer_frame(f, (uint8_t)(PEER_FIN | opcode), peer_key, p, n);
  wsref_session_recv(c->s, f, fl, t->now);
  free(f);
}

#define SEND(t, c, lit) send_msg((t), (c), 1, (lit), sizeof(lit) - 1)

/* Next WebSocket message the server sent; false if none. */
static bool next_msg(tenv *t, cli *c, unsigned *op, wsref_buf *payload) {
  pump(t, c);
  size_t n = wsref_buf_len(&c->in);
  if (!n) return false;
  peer_parsed pf;
  uint8_t *tmp = malloc(n);
  assert_non_null(tmp);
  size_t used = peer_parse(wsref_buf_head(&c->in), n, &pf, tmp, n);
  assert_true(used > 0);
  assert_true(pf.fin);
  assert_false(pf.masked);
  *op = pf.opcode;
  wsref_buf_reset(payload);
  wsref_buf_append(payload, tmp, (size_t)pf.len);
  free(tmp);
  wsref_buf_consume(&c->in, used);
  return true;
}

static void expect_msg(tenv *t, cli *c, unsigned opcode, const void *p, size_t n) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op = 0;
  bool have = next_msg(t, c, &op, &got);
  if (!have || op != opcode || wsref_buf_len(&got) != n ||
      memcmp(wsref_buf_head(&got), p, n) != 0) {
    wsref_buf a = WSREF_BUF_INIT, b = WSREF_BUF_INIT;
    put_esc(&a, p, n);
    if (have) put_esc(&b, wsref_buf_head(&got), wsref_buf_len(&got));
    print_error("expected op %u [%s]\n     got op %u [%s]%s\n", opcode, str(&a), op, str(&b),
                have ? "" : " (nothing)");
    wsref_buf_free(&a);
    wsref_buf_free(&b);
    wsref_buf_free(&got);
    fail();
  }
  wsref_buf_free(&got);
}

#define EXPECT(t, c, lit) expect_msg((t), (c), 1, (lit), sizeof(lit) - 1)

static void expect_close(tenv *t, cli *c, unsigned code) {
  uint8_t pl[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  expect_msg(t, c, 8, pl, 2);
}

static void expect_none(tenv *t, cli *c) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op = 0;
  if (next_msg(t, c, &op, &got)) {
    wsref_buf a = WSREF_BUF_INIT;
    put_esc(&a, wsref_buf_head(&got), wsref_buf_len(&got));
    print_error("expected nothing, got op %u [%s]\n", op, str(&a));
    wsref_buf_free(&a);
    wsref_buf_free(&got);
    fail();
  }
  wsref_buf_free(&got);
}

/* The next message is an ERROR whose message header is msg (and receipt-id rid when not
 * NULL); returns nothing, checks the close code that follows. */
static void expect_error(tenv *t, cli *c, const char *msg, const char *rid, unsigned close_code) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op = 0;
  assert_true(next_msg(t, c, &op, &got));
  assert_int_equal(op, 1);
  const char *s = str(&got);
  if (strncmp(s, "ERROR\n", 6) != 0) {
    print_error("not an ERROR: %s\n", s);
    fail();
  }
  char want[512];
  snprintf(want, sizeof want, "\nmessage:%s\n", msg);
  if (!strstr(s, want)) {
    print_error("no [%s] in [%s]\n", want, s);
    fail();
  }
  if (rid) {
    snprintf(want, sizeof want, "\nreceipt-id:%s\n", rid);
    assert_non_null(strstr(s, want));
  } else {
    assert_null(strstr(s, "\nreceipt-id:"));
  }
  wsref_buf_free(&got);
  expect_close(t, c, close_code);
}

static void tick(tenv *t, cli *c, uint64_t now) {
  t->now = now;
  wsref_session_tick(c->s, now);
  wsref_stomp_session_tick(c->s, now, NULL);
}

static uint64_t deadline(cli *c) {
  return wsref_stomp_session_deadline(c->s, NULL);
}

/* CONNECTED for a spec 1.2 session with the default heart-beat. */
static void expect_connected(tenv *t, cli *c, const char *version_hb) {
  char want[256];
  int n = snprintf(want, sizeof want, "CONNECTED\n%ssession:%s\nserver:wsref/0.1\n\n", version_hb,
                   wsref_session_id(c->s));
  expect_msg(t, c, 1, want, (size_t)n + 1); /* with the NUL */
}

static cli *connected(tenv *t, int i) {
  cli *c = open_cli(t, i, "Sec-WebSocket-Protocol: v12.stomp\r\n");
  SEND(t, c, "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  wsref_buf_reset(&t->ev);
  return c;
}

static int setup(void **state) {
  tenv *t = calloc(1, sizeof *t);
  assert_non_null(t);
  wsref_session_options_default(&t->so);
  t->now = 1000;
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tenv *t = *state;
  for (int i = 0; i < NCLI; i++) {
    wsref_session_free(t->c[i].s);
    wsref_buf_free(&t->c[i].in);
  }
  if (t->srv) assert_int_equal(wsref_stomp_server_connections(t->srv), 0);
  wsref_stomp_server_free(t->srv);
  wsref_registry_free(t->reg);
  wsref_buf_free(&t->ev);
  free(t);
  return 0;
}

/* ---- connect and negotiation ---- */

static void test_connect_v12(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, "Sec-WebSocket-Protocol: v12.stomp\r\n");
  assert_string_equal(wsref_session_subprotocol(c->s), "v12.stomp");
  SEND(t, c, "CONNECT\naccept-version:1.0,1.1,1.2\nhost:/\nlogin:joe\npasscode:x\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  assert_string_equal(str(&t->ev),
                      "user=joe connect CONNECT accept-version=1.0,1.1,1.2 host=/ login=joe "
                      "passcode=x\n");
  wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
  assert_non_null(sc);
  assert_int_equal(wsref_stomp_conn_version(sc), WSREF_STOMP_V12);
  assert_true(wsref_stomp_conn_is_connected(sc));
  assert_int_equal(wsref_stomp_server_connections(t->srv), 1);
}

static void test_connect_subprotocols(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = open_cli(t, 0, "Sec-WebSocket-Protocol: v10.stomp, v11.stomp\r\n");
  assert_string_equal(wsref_session_subprotocol(a->s), "v10.stomp");
  cli *b = open_cli(t, 1, NULL);
  assert_string_equal(wsref_session_subprotocol(b->s), "");
  cli *c = open_cli(t, 2, "Sec-WebSocket-Protocol: mqtt, v11.stomp\r\n");
  assert_string_equal(wsref_session_subprotocol(c->s), "v11.stomp");
  /* The version comes from accept-version whatever the subprotocol. */
  SEND(t, b, "CONNECT\naccept-version:1.1\nhost:/\n\n\0");
  expect_connected(t, b, "version:1.1\nheart-beat:10000,10000\n");
}

static void test_connect_v10(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  /* CN-03: no accept-version is a 1.0 client: no version, no heart-beat. */
  cli *a = open_cli(t, 0, NULL);
  SEND(t, a, "CONNECT\nlogin:a\nheart-beat:100,100\n\n\0");
  expect_connected(t, a, "");
  assert_int_equal(wsref_stomp_conn_version(wsref_stomp_conn_of(a->s)), WSREF_STOMP_V10);
  assert_int_equal(deadline(a), 0);
  /* accept-version:1.0 explicitly: version:1.0 is said, still no heart-beating. */
  cli *b = open_cli(t, 1, NULL);
  SEND(t, b, "CONNECT\naccept-version:1.0\n\n\0");
  expect_connected(t, b, "version:1.0\n");
}

static void test_connect_stomp_frame(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "STOMP\naccept-version:1.1,1.2\nhost:/\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
}

static void test_negotiation_table(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  static const struct {
    const char *offer, *version; /* NULL: ERROR */
  } rows[] = {
      {"1.0,1.1", "1.1"}, {"1.0,1.1,1.2", "1.2"}, {"1.1,1.3", "1.1"},
      {"1.0", "1.0"},     {"1.2", "1.2"},         {"1.1, 1.2", "1.2"},
      {"2.0,1.0", "1.0"}, {"1.3", NULL},          {"1.0.0,2.0", NULL},
      {"", NULL},         {"12", NULL},           {"1.2,1.1,1.0", "1.2"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    wsref_session_free(t->c[0].s);
    wsref_buf_reset(&t->c[0].in);
    cli *c = open_cli(t, 0, NULL);
    char frame[128];
    int n = snprintf(frame, sizeof frame, "CONNECT\naccept-version:%s\nhost:/\n\n", rows[i].offer);
    send_msg(t, c, 1, frame, (size_t)n + 1);
    if (rows[i].version) {
      char vh[64];
      snprintf(vh, sizeof vh, "version:%s\n%s", rows[i].version,
               strcmp(rows[i].version, "1.0") ? "heart-beat:10000,10000\n" : "");
      expect_connected(t, c, vh);
    } else {
      /* CN-07: ERROR with the supported versions, then close. */
      static const char body[] = "Supported protocol versions are 1.0 1.1 1.2\n";
      char want[256];
      int wn = snprintf(want, sizeof want,
                        "ERROR\nversion:1.0,1.1,1.2\nmessage:Unsupported protocol version\n"
                        "content-type:text/plain\ncontent-length:%zu\n\n%s",
                        strlen(body), body);
      expect_msg(t, c, 1, want, (size_t)wn + 1);
      expect_close(t, c, 1002);
    }
  }
}

static void test_connect_rejected_by_backend(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  t->connect_rc = WSREF_E_HANDLER;
  t->errtxt = "Bad credentials";
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\nhost:/\nlogin:x\n\n\0");
  expect_error(t, c, "Bad credentials", NULL, 1008);
  /* on_connect refused: no on_disconnect owed. */
  assert_null(strstr(str(&t->ev), "disconnect"));
}

static void test_user_from_attribute(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, NULL);
  wsref_attrs_set(wsref_session_attributes(c->s), "user", "alice");
  SEND(t, c, "CONNECT\naccept-version:1.2\nlogin:mallory\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  assert_string_equal(wsref_stomp_conn_user(wsref_stomp_conn_of(c->s)), "alice");
}

/* ---- frames before / after CONNECT ---- */

static void test_frame_before_connect(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, NULL);
  /* FR-04: EOLs before the first frame are skipped, not an error. */
  SEND(t, c, "\n\r\n");
  expect_none(t, c);
  SEND(t, c, "SEND\ndestination:/queue/a\nreceipt:7\n\nx\0");
  expect_error(t, c, "Not connected (no CONNECT yet)", "7", 1002);
  assert_string_equal(str(&t->ev), "");
  /* Input after the ERROR is ignored. */
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  expect_none(t, c);
}

static void test_second_connect(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  expect_error(t, c, "Already connected", NULL, 1002);
  assert_string_equal(str(&t->ev), "disconnect\n");
}

/* ---- receipts, DISCONNECT ---- */

static void test_receipts_after_processing(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  SEND(t, c,
       "SUBSCRIBE\nid:0\ndestination:/topic/a\nreceipt:r1\n\n\0"
       "SEND\ndestination:/topic/a\nreceipt:r2\n\nhello\0"
       "BEGIN\ntransaction:tx\nreceipt:r\\c3\n\n\0"
       "SEND\ndestination:/topic/a\n\nno receipt\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:r1\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:r2\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:r\\c3\n\n\0"); /* escaped back (ES-04) */
  expect_none(t, c);
  assert_string_equal(str(&t->ev),
                      "frame SUBSCRIBE id=0 destination=/topic/a receipt=r1\n"
                      "frame SEND destination=/topic/a receipt=r2 body=hello\n"
                      "frame BEGIN transaction=tx receipt=r:3\n"
                      "frame SEND destination=/topic/a body=no receipt\n");
}

static void test_disconnect_receipt(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  SEND(t, c, "DISCONNECT\nreceipt:bye\n\n\0SEND\ndestination:/topic/a\n\nlate\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:bye\n\n\0");
  expect_close(t, c, 1000);
  expect_none(t, c);
  /* The frame after DISCONNECT was not processed; on_disconnect ran once. */
  assert_string_equal(str(&t->ev), "frame DISCONNECT receipt=bye\ndisconnect\n");
  assert_false(wsref_stomp_conn_is_connected(wsref_stomp_conn_of(c->s)));
  /* The client answers the close: on_close runs, nothing more for the backend. */
  uint8_t pl[2] = {0x03, 0xe8};
  send_msg(t, c, 8, pl, 2);
  assert_int_equal(wsref_session_state(c->s), WSREF_STATE_CLOSED);
  assert_string_equal(str(&t->ev), "frame DISCONNECT receipt=bye\ndisconnect\n");
  assert_int_equal(wsref_stomp_server_connections(t->srv), 0);
}

static void test_disconnect_plain(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  SEND(t, c, "DISCONNECT\n\n\0");
  expect_close(t, c, 1000);
  expect_none(t, c);
}

static void test_connection_loss(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  wsref_session_transport_closed(c->s, WSREF_E_IO, t->now);
  assert_string_equal(str(&t->ev), "disconnect\n");
  assert_int_equal(wsref_stomp_server_connections(t->srv), 0);
  assert_null(wsref_stomp_conn_of(c->s));
}

static void test_backend_error_with_receipt(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  t->frame_rc = WSREF_E_INVALID_ARG;
  t->errtxt = "Unknown destination '/x'";
  SEND(t, c, "SEND\ndestination:/x\nreceipt:r9\n\nhi\0");
  static const char body[] =
      "Unknown destination '/x'\n\nThe offending frame:\n-----\nSEND\ndestination:/x\n"
      "receipt:r9\n\n(body of 2 octets)\n-----\n";
  char want[512];
  int n =
      snprintf(want, sizeof want,
               "ERROR\nmessage:Unknown destination '/x'\nreceipt-id:r9\ncontent-type:text/plain\n"
               "content-length:%zu\n\n%s",
               strlen(body), body);
  expect_msg(t, c, 1, want, (size_t)n + 1);
  expect_close(t, c, 1008);
  assert_string_equal(str(&t->ev), "frame SEND destination=/x receipt=r9 body=hi\ndisconnect\n");
}

/* ---- bad input: ERROR then close, for each ---- */

static void small_limits(wsref_stomp_server_options *o) {
  o->limits.max_headers = 4;
  o->limits.max_header_line = 64;
  o->limits.max_body = 16;
  o->limits.max_buffer = 128;
}

static void test_bad_input(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, small_limits);
  static const struct {
    const char *connect; /* accept-version value */
    const char *frame;
    size_t len;
    const char *message, *receipt;
    unsigned code;
  } rows[] = {
#define ROW(v, f, m, r, code) {v, f, sizeof(f) - 1, m, r, code}
      ROW("1.2", "FOO\n\n\0", "unknown STOMP command", NULL, 1002),
      ROW("1.2", "send\ndestination:/a\n\n\0", "unknown STOMP command", NULL, 1002),
      ROW("1.2", "SEND\nfoo\n\n\0", "STOMP header line without a colon or with an empty name", NULL,
          1002),
      ROW("1.2", "SEND\ndestination:/a\nx:a\\tb\n\n\0",
          "undefined escape sequence in a STOMP header", NULL, 1002),
      ROW("1.1", "SEND\ndestination:/a\nx:a\\rb\n\n\0",
          "undefined escape sequence in a STOMP header", NULL, 1002),
      ROW("1.2", "SEND\rdestination:/a\n\n\0", "CR not followed by LF in a STOMP frame", NULL,
          1002),
      ROW("1.2", "SEND\ndestination:/a\ncontent-length:2\n\nabc\0",
          "STOMP frame not terminated by NUL after content-length octets", NULL, 1002),
      ROW("1.2", "SUBSCRIBE\nid:1\ndestination:/a\n\nbody\0",
          "body on a STOMP frame that must not have one", NULL, 1002),
      ROW("1.2", "SEND\ndestination:/a\nb:1\nc:1\nd:1\ne:1\n\n\0", "too many STOMP headers", NULL,
          1009),
      ROW("1.2",
          "SEND\ndestination:/"
          "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n\n\0",
          "STOMP header line too long", NULL, 1009),
      ROW("1.2", "SEND\ndestination:/a\n\n01234567890123456789\0", "STOMP body over the limit",
          NULL, 1009),
      ROW("1.2", "SEND\nreceipt:r\n\n\0", "SEND frame has no destination header", "r", 1002),
      ROW("1.2", "SUBSCRIBE\ndestination:/a\nreceipt:s\n\n\0", "SUBSCRIBE frame has no id header",
          "s", 1002),
      ROW("1.2", "SUBSCRIBE\nid:0\n\n\0", "SUBSCRIBE frame has no destination header", NULL, 1002),
      ROW("1.2", "SUBSCRIBE\nid:0\ndestination:/a\nack:sometimes\n\n\0",
          "Invalid ack mode 'sometimes'", NULL, 1002),
      ROW("1.2", "UNSUBSCRIBE\n\n\0", "UNSUBSCRIBE frame has no id header", NULL, 1002),
      ROW("1.2", "ACK\nmessage-id:1\n\n\0", "ACK frame has no id header", NULL, 1002),
      ROW("1.1", "ACK\nmessage-id:1\n\n\0", "ACK frame has no subscription header", NULL, 1002),
      ROW("1.1", "NACK\nsubscription:1\n\n\0", "NACK frame has no message-id header", NULL, 1002),
      ROW("1.0", "NACK\nmessage-id:1\n\n\0", "unknown STOMP command", NULL, 1002),
      ROW("1.0", "ACK\n\n\0", "ACK frame has no message-id header", NULL, 1002),
      ROW("1.2", "BEGIN\n\n\0", "BEGIN frame has no transaction header", NULL, 1002),
      ROW("1.2", "COMMIT\nreceipt:c\n\n\0", "COMMIT frame has no transaction header", "c", 1002),
      ROW("1.2", "ABORT\n\n\0", "ABORT frame has no transaction header", NULL, 1002),
      ROW("1.2", "MESSAGE\ndestination:/a\n\n\0", "Unexpected MESSAGE frame from a client", NULL,
          1002),
      ROW("1.2", "CONNECTED\nversion:1.2\n\n\0", "Unexpected CONNECTED frame from a client", NULL,
          1002),
#undef ROW
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    wsref_session_free(t->c[0].s);
    wsref_buf_reset(&t->c[0].in);
    wsref_buf_reset(&t->ev);
    cli *c = open_cli(t, 0, NULL);
    char frame[128];
    int n = snprintf(frame, sizeof frame, "CONNECT\naccept-version:%s\n\n", rows[i].connect);
    send_msg(t, c, 1, frame, (size_t)n + 1);
    wsref_buf got = WSREF_BUF_INIT;
    unsigned op;
    assert_true(next_msg(t, c, &op, &got)); /* CONNECTED */
    wsref_buf_free(&got);
    send_msg(t, c, 1, rows[i].frame, rows[i].len);
    print_message("# row %zu\n", i);
    expect_error(t, c, rows[i].message, rows[i].receipt, rows[i].code);
    expect_none(t, c);
    /* The backend saw no frame, and heard of the disconnect once. */
    assert_string_equal(strstr(str(&t->ev), "\n") + 1, "disconnect\n");
  }
}

static void test_bad_frame_after_good_ones(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  /* RC-07: the frames before the bad one in the same message are processed. */
  SEND(t, c, "SEND\ndestination:/a\nreceipt:1\n\nx\0FOO\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:1\n\n\0");
  expect_error(t, c, "unknown STOMP command", NULL, 1002);
  assert_string_equal(str(&t->ev), "frame SEND destination=/a receipt=1 body=x\ndisconnect\n");
}

static void test_split_and_coalesced(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, NULL);
  static const char in[] =
      "CONNECT\r\naccept-version:1.2\r\nheart-beat:0,0\r\n\r\n\0\r\n"
      "SEND\ndestination:/a\ncontent-length:3\nreceipt:x\n\na\0b\0\n\n"
      "SUBSCRIBE\nid:1\ndestination:/b\nreceipt:y\n\n\0";
  /* FR-13: one octet per WebSocket message (binary ones: any octet is fine). */
  for (size_t i = 0; i < sizeof in - 1; i++) send_msg(t, c, 2, in + i, 1);
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  EXPECT(t, c, "RECEIPT\nreceipt-id:x\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:y\n\n\0");
  assert_string_equal(str(&t->ev),
                      "user=- connect CONNECT accept-version=1.2 heart-beat=0,0\n"
                      "frame SEND destination=/a content-length=3 receipt=x body=a\\0b\n"
                      "frame SUBSCRIBE id=1 destination=/b receipt=y\n");
  /* The same in one message. */
  wsref_buf_reset(&t->ev);
  cli *d = open_cli(t, 1, NULL);
  send_msg(t, d, 1, in, sizeof in - 1);
  expect_connected(t, d, "version:1.2\nheart-beat:10000,10000\n");
  EXPECT(t, d, "RECEIPT\nreceipt-id:x\n\n\0");
  EXPECT(t, d, "RECEIPT\nreceipt-id:y\n\n\0");
}

/* ---- heart-beats ---- */

static void hb_500(wsref_stomp_server_options *o) {
  o->heartbeat_send_ms = 500;
  o->heartbeat_recv_ms = 500;
}

static void test_heartbeat_negotiation(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, hb_500);
  static const struct {
    const char *hb;
    uint32_t write, read;
  } rows[] = {
      {"heart-beat:0,0\n", 0, 0},
      {"", 0, 0},
      {"heart-beat:1000,2000\n", 2000, 1000},
      {"heart-beat:100,200\n", 500, 500},
      {"heart-beat:0,3000\n", 3000, 0},
      {"heart-beat:3000,0\n", 0, 3000},
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    wsref_session_free(t->c[0].s);
    wsref_buf_reset(&t->c[0].in);
    cli *c = open_cli(t, 0, NULL);
    char frame[128];
    int n = snprintf(frame, sizeof frame, "CONNECT\naccept-version:1.2\n%s\n", rows[i].hb);
    send_msg(t, c, 1, frame, (size_t)n + 1);
    expect_connected(t, c, "version:1.2\nheart-beat:500,500\n");
    wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
    assert_int_equal(wsref_stomp_conn_write_interval(sc), rows[i].write);
    assert_int_equal(wsref_stomp_conn_read_interval(sc), rows[i].read);
  }
}

static void test_heartbeat_send_and_timeout(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, hb_500);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.1\nheart-beat:1000,2000\n\n\0");
  expect_connected(t, c, "version:1.1\nheart-beat:500,500\n");
  /* write every 2000 ms; read: 1000 ms, closed after 2 x 1000 of silence. */
  uint64_t t0 = t->now;
  assert_int_equal(deadline(c), t0 + 2000);
  tick(t, c, t0 + 1499);
  expect_none(t, c);
  /* Any received data resets the read timer (HB-08): a heart-beat EOL here. */
  t->now = t0 + 1500;
  SEND(t, c, "\n");
  assert_int_equal(deadline(c), t0 + 2000); /* the write timer is first now */
  tick(t, c, t0 + 1999);
  expect_none(t, c);
  tick(t, c, t0 + 2000);
  EXPECT(t, c, "\n"); /* HB-05: one LF */
  assert_int_equal(deadline(c), t0 + 3500);
  tick(t, c, t0 + 3499);
  expect_none(t, c);
  tick(t, c, t0 + 3500);
  expect_error(t, c, "No data received for 2000 ms (heart-beat 1000 ms)", NULL, 1002);
  assert_int_equal(deadline(c), 0);
}

static void test_heartbeat_writes_reset(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, hb_500);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\nheart-beat:0,1000\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:500,500\n");
  uint64_t t0 = t->now;
  /* A RECEIPT written at t0 + 600 moves the next heart-beat to t0 + 1600. */
  t->now = t0 + 600;
  SEND(t, c, "SEND\ndestination:/a\nreceipt:1\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:1\n\n\0");
  assert_int_equal(deadline(c), t0 + 1600);
  tick(t, c, t0 + 1600);
  EXPECT(t, c, "\n");
  tick(t, c, t0 + 2600);
  EXPECT(t, c, "\n");
  /* No read timer: the client does not send beats. */
  tick(t, c, t0 + 100000);
  EXPECT(t, c, "\n");
  expect_none(t, c);
}

static void test_heartbeat_malformed(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  static const char *bad[] = {"heart-beat:abc\n", "heart-beat:1,\n", "heart-beat:-1,0\n",
                              "heart-beat: 1,1\n", "heart-beat:1,1,1\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsref_session_free(t->c[0].s);
    wsref_buf_reset(&t->c[0].in);
    cli *c = open_cli(t, 0, NULL);
    char frame[128];
    int n = snprintf(frame, sizeof frame, "CONNECT\naccept-version:1.2\n%s\n", bad[i]);
    send_msg(t, c, 1, frame, (size_t)n + 1);
    expect_error(t, c, "Invalid heart-beat header", NULL, 1002);
  }
}

static void test_connect_timeout(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, NULL);
  uint64_t t0 = t->now;
  assert_int_equal(deadline(c), t0 + 60000);
  tick(t, c, t0 + 59999);
  expect_none(t, c);
  tick(t, c, t0 + 60000);
  expect_error(t, c, "No CONNECT frame within 60000 ms", NULL, 1008);
}

static void test_heartbeat_flood(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  /* 1024 EOL octets a second are fine, window after window. */
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < 512; i++) SEND(t, c, "\r\n");
    t->now += 1000;
  }
  expect_none(t, c);
  /* Messages with frames do not count. */
  for (int i = 0; i < 2000; i++) SEND(t, c, "SEND\ndestination:/a\n\n\0\n\n");
  expect_none(t, c);
  static char eols[1025];
  memset(eols, '\n', sizeof eols);
  send_msg(t, c, 1, eols, sizeof eols);
  expect_error(t, c, "Heart-beat flood (more than 1024 EOL octets in a second)", NULL, 1008);
}

static void test_conn_error_api(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = connected(t, 0);
  wsref_stomp_conn_error(wsref_stomp_conn_of(c->s), WSREF_E_STOMP_STATE, "Kicked", "r5");
  EXPECT(t, c,
         "ERROR\nmessage:Kicked\nreceipt-id:r5\ncontent-type:text/plain\ncontent-length:7\n\n"
         "Kicked\n\0");
  expect_close(t, c, 1002);
  assert_string_equal(str(&t->ev), "disconnect\n");
  assert_int_equal(wsref_stomp_conn_send(wsref_stomp_conn_of(c->s), &(wsref_stomp_frame){0}),
                   WSREF_E_STATE);
}

/* ---- interceptors ---- */

static const wsref_stomp_frame *ic_pre(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                       enum wsref_stomp_channel ch, void *ud) {
  tenv *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "pre %s %s\n", ch == WSREF_STOMP_INBOUND ? "in" : "out",
                    wsref_stomp_command_name(f->command));
  if (ch == WSREF_STOMP_INBOUND && f->command == WSREF_STOMP_CONNECT && t->ic_drop_connect)
    return NULL;
  if (ch == WSREF_STOMP_INBOUND && f->command == WSREF_STOMP_SEND) {
    if (t->ic_drop_send) return NULL;
    if (t->ic_reject_send) {
      wsref_stomp_conn_reject(c, "Forbidden");
      return NULL;
    }
    if (t->ic_rewrite_send) {
      /* Add a header: copy the frame's headers and append one. */
      size_t n = f->nheaders < 7 ? f->nheaders : 7;
      memcpy(t->ic_h, f->headers, n * sizeof *f->headers);
      t->ic_h[n] = (wsref_stomp_header){"x-checked", 9, "yes", 3};
      t->ic_f = *f;
      t->ic_f.headers = t->ic_h;
      t->ic_f.nheaders = n + 1;
      return &t->ic_f;
    }
  }
  if (ch == WSREF_STOMP_OUTBOUND && f->command == WSREF_STOMP_RECEIPT && t->ic_rewrite_receipt) {
    t->ic_h[0] = (wsref_stomp_header){"receipt-id", 10, "rewritten", 9};
    t->ic_f = *f;
    t->ic_f.headers = t->ic_h;
    t->ic_f.nheaders = 1;
    return &t->ic_f;
  }
  return f;
}

static void ic_post(wsref_stomp_conn *c, const wsref_stomp_frame *f, enum wsref_stomp_channel ch,
                    bool sent, void *ud) {
  tenv *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "post %s %s %d\n", ch == WSREF_STOMP_INBOUND ? "in" : "out",
                    wsref_stomp_command_name(f->command), sent);
}

static void ic_done(wsref_stomp_conn *c, const wsref_stomp_frame *f, enum wsref_stomp_channel ch,
                    bool sent, void *ud) {
  tenv *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "done %s %s %d\n", ch == WSREF_STOMP_INBOUND ? "in" : "out",
                    wsref_stomp_command_name(f->command), sent);
}

static const wsref_stomp_frame *ic2_pre(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                        enum wsref_stomp_channel ch, void *ud) {
  tenv *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "pre2 %s %s\n", ch == WSREF_STOMP_INBOUND ? "in" : "out",
                    wsref_stomp_command_name(f->command));
  return f;
}

static void ic2_done(wsref_stomp_conn *c, const wsref_stomp_frame *f, enum wsref_stomp_channel ch,
                     bool sent, void *ud) {
  tenv *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "done2 %s %s %d\n", ch == WSREF_STOMP_INBOUND ? "in" : "out",
                    wsref_stomp_command_name(f->command), sent);
}

static void add_interceptors(tenv *t) {
  wsref_stomp_interceptor a = {ic_pre, ic_post, ic_done, t};
  wsref_stomp_interceptor b = {ic2_pre, NULL, ic2_done, t};
  for (int ch = 0; ch < 2; ch++) {
    assert_int_equal(wsref_stomp_server_add_interceptor(t->srv, (enum wsref_stomp_channel)ch, &a),
                     0);
    assert_int_equal(wsref_stomp_server_add_interceptor(t->srv, (enum wsref_stomp_channel)ch, &b),
                     0);
  }
  assert_int_equal(wsref_stomp_server_ninterceptors(t->srv, WSREF_STOMP_INBOUND), 2);
}

static void test_interceptor_chain_order(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  add_interceptors(t);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  assert_string_equal(str(&t->ev),
                      "pre in CONNECT\npre2 in CONNECT\n"
                      "user=- connect CONNECT accept-version=1.2 heart-beat=0,0\n"
                      "post in CONNECT 1\ndone2 in CONNECT 1\ndone in CONNECT 1\n"
                      "pre out CONNECTED\npre2 out CONNECTED\npost out CONNECTED 1\n"
                      "done2 out CONNECTED 1\ndone out CONNECTED 1\n");
}

static void test_interceptor_rewrite_drop_reject(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  add_interceptors(t);
  cli *c = connected(t, 0);
  /* Rewrite: the backend sees the added header; the RECEIPT is rewritten on the way out. */
  t->ic_rewrite_send = true;
  t->ic_rewrite_receipt = true;
  SEND(t, c, "SEND\ndestination:/a\nreceipt:r\n\nx\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:rewritten\n\n\0");
  assert_string_equal(str(&t->ev),
                      "pre in SEND\npre2 in SEND\n"
                      "frame SEND destination=/a receipt=r x-checked=yes body=x\n"
                      "post in SEND 1\ndone2 in SEND 1\ndone in SEND 1\n"
                      "pre out RECEIPT\npre2 out RECEIPT\npost out RECEIPT 1\n"
                      "done2 out RECEIPT 1\ndone out RECEIPT 1\n");
  /* Drop: the backend never sees it, no RECEIPT, and only the first interceptor ran. */
  t->ic_rewrite_send = t->ic_rewrite_receipt = false;
  t->ic_drop_send = true;
  wsref_buf_reset(&t->ev);
  SEND(t, c, "SEND\ndestination:/a\nreceipt:r\n\nx\0");
  expect_none(t, c);
  assert_string_equal(str(&t->ev), "pre in SEND\n");
  /* Reject: ERROR + close 1008 with the interceptor's text. */
  t->ic_drop_send = false;
  t->ic_reject_send = true;
  wsref_buf_reset(&t->ev);
  SEND(t, c, "SEND\ndestination:/a\nreceipt:r2\n\nx\0");
  expect_error(t, c, "Forbidden", "r2", 1008);
  assert_string_equal(str(&t->ev), "pre in SEND\ndisconnect\n");
}

static void test_interceptor_drops_connect(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  add_interceptors(t);
  t->ic_drop_connect = true;
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  expect_error(t, c, "Connection refused", NULL, 1008);
}

/* ---- spring profile ---- */

static void test_spring_connected(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *c = open_cli(t, 0, "Sec-WebSocket-Protocol: v12.stomp\r\n");
  SEND(t, c, "CONNECT\naccept-version:1.1,1.2\nheart-beat:10000,10000\n\n\0");
  EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
  /* With a principal: user-name. */
  cli *d = open_cli(t, 1, NULL);
  wsref_attrs_set(wsref_session_attributes(d->s), "user", "joe");
  SEND(t, d, "CONNECT\naccept-version:1.0\n\n\0");
  EXPECT(t, d, "CONNECTED\nversion:1.0\nheart-beat:0,0\nuser-name:joe\n\n\0");
}

static void spring_hb(wsref_stomp_server_options *o) {
  o->heartbeat_send_ms = 15000;
  o->heartbeat_recv_ms = 15000;
}

static void test_spring_heartbeat_echo(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, spring_hb);
  cli *c = open_cli(t, 0, NULL);
  /* D8: the configured value, not recomputed; reads: max x 3. */
  SEND(t, c, "CONNECT\naccept-version:1.2\nheart-beat:20000,1000\n\n\0");
  EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:15000,15000\n\n\0");
  uint64_t t0 = t->now;
  assert_int_equal(deadline(c), t0 + 15000);
  tick(t, c, t0 + 15000);
  EXPECT(t, c, "\n");
  tick(t, c, t0 + 60000);
  EXPECT(t, c, "ERROR\nmessage:Session closed.\ncontent-length:0\n\n\0");
  expect_close(t, c, 1002);
}

static void test_spring_no_version(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  /* D1: nothing sent, the connection stays open (and the session exists). */
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\nhost:/\n\n\0");
  expect_none(t, c);
  assert_int_equal(wsref_session_state(c->s), WSREF_STATE_OPEN);
  cli *d = open_cli(t, 1, NULL);
  SEND(t, d, "CONNECT\naccept-version:1.3\n\n\0");
  expect_none(t, d);
  SEND(t, d, "SEND\ndestination:/topic/a\n\nx\0");
  expect_none(t, d);
  assert_non_null(strstr(str(&t->ev), "frame SEND destination=/topic/a body=x\n"));
}

static void test_spring_before_connect(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  static const char *inputs[] = {"SEND\ndestination:/a\n\n\0", "\n"};
  for (size_t i = 0; i < 2; i++) {
    cli *c = open_cli(t, (int)i, NULL);
    send_msg(t, c, 1, inputs[i], i ? 1 : sizeof "SEND\ndestination:/a\n\n");
    /* D9: even a heart-beat EOL. */
    char want[128];
    int n =
        snprintf(want, sizeof want, "ERROR\nmessage:Unknown session\\c %s\ncontent-length:0\n\n",
                 wsref_session_id(c->s));
    expect_msg(t, c, 1, want, (size_t)n + 1);
    expect_close(t, c, 1002);
  }
}

static void test_spring_errors(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  static const struct {
    const char *frame;
    size_t len;
    const char *error;
    size_t elen;
  } rows[] = {
#define ROW(f, e) {f, sizeof(f) - 1, e, sizeof(e) - 1}
      ROW("FOO\n\n\0",
          "ERROR\nmessage:No enum constant "
          "org.springframework.messaging.simp.stomp.StompCommand.FOO\n"
          "content-length:0\n\n\0"),
      ROW("SEND\nfoo\n\n\0",
          "ERROR\nmessage:Illegal header\\c 'foo'. A header must be of the form "
          "<name>\\c[<value>].\n"
          "content-length:0\n\n\0"),
      ROW("SEND\na:alpha\\x\\n\n\nMessage body\0",
          "ERROR\nmessage:Illegal escape sequence at index 5\\c "
          "alpha\\\\x\\\\n\ncontent-length:0\n\n\0"),
      ROW("SEND\ndestination:/a\ncontent-length:1\n\nab\0",
          "ERROR\nmessage:Frame must be terminated with a null octet\ncontent-length:0\n\n\0"),
      ROW("CONNECT\naccept-version:1.2\n\n\0",
          "ERROR\nmessage:Session already exists\ncontent-length:0\n\n\0"),
      ROW("SEND\ndestination:/a\nheart-beat:1,x\n\n\0",
          "ERROR\nmessage:For input string\\c \"x\"\ncontent-length:0\n\n\0"),
      ROW("DISCONNECT\n\n\0", "ERROR\nmessage:Session closed.\ncontent-length:0\n\n\0"),
      ROW("SEND\ndestination:/a\ncontent-type:text\n\n\0",
          "ERROR\nmessage:Invalid mime type \"text\"\\c does not contain "
          "'/'\ncontent-length:0\n\n\0"),
      ROW("SEND\ndestination:/a\ncontent-type:text/\n\n\0",
          "ERROR\nmessage:Invalid mime type \"text/\"\\c does not contain subtype after '/'\n"
          "content-length:0\n\n\0"),
#undef ROW
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    wsref_session_free(t->c[0].s);
    wsref_buf_reset(&t->c[0].in);
    cli *c = open_cli(t, 0, NULL);
    SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
    EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
    send_msg(t, c, 1, rows[i].frame, rows[i].len);
    print_message("# row %zu\n", i);
    expect_msg(t, c, 1, rows[i].error, rows[i].elen);
    expect_close(t, c, 1002);
  }
}

/* Spring quotes the offending line of a decoder error in the ERROR message header; Spring
 * decodes that line first, so where it is not UTF-8 the header carries U+FFFD (one per
 * maximal ill-formed subpart) and the ERROR stays a valid STOMP frame in a text message
 * (fuzz/regressions/stomp_server/stomp_server-spring-error-text-not-utf8). */
static void test_spring_error_text_utf8(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
  static const char bad[] =
      "\xff\xffON\xe0\x80"
      "A\xe2\x82\n\n\0";
  send_msg(t, c, 2, bad, sizeof bad - 1);
  EXPECT(t, c,
         "ERROR\nmessage:No enum constant org.springframework.messaging.simp.stomp.StompCommand."
         "\xef\xbf\xbd\xef\xbf\xbdON\xef\xbf\xbd\xef\xbf\xbd"
         "A"
         "\xef\xbf\xbd\ncontent-length:0\n\n\0");
  expect_close(t, c, 1002);
}

static void test_spring_buffer_limit(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
  size_t n = 70000;
  char *big = malloc(n);
  assert_non_null(big);
  memcpy(big, "SEND\ndestination:/a\n\n", 21);
  memset(big + 21, 'x', n - 22);
  big[n - 1] = 0;
  send_msg(t, c, 1, big, n);
  free(big);
  EXPECT(t, c,
         "ERROR\nmessage:The configured STOMP buffer size limit of 65536 bytes has been exceeded\n"
         "content-length:0\n\n\0");
  expect_close(t, c, 1002);
}

static void test_spring_receipts(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\n\n\0");
  EXPECT(t, c, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
  /* D3: no RECEIPT but for DISCONNECT; D2: nothing is validated. */
  SEND(t, c, "SUBSCRIBE\nreceipt:1\n\n\0SEND\nreceipt:2\n\nx\0ACK\n\n\0");
  expect_none(t, c);
  /* D4: DISCONNECT with receipt: RECEIPT, and the server does not close. */
  SEND(t, c, "DISCONNECT\nreceipt:77\n\n\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:77\n\n\0");
  expect_none(t, c);
  assert_int_equal(wsref_session_state(c->s), WSREF_STATE_OPEN);
}

static void test_spring_connect_timeout(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *c = open_cli(t, 0, NULL);
  tick(t, c, t->now + 60000);
  expect_close(t, c, 4500);
}

/* ---- slow consumer, non-STOMP sessions ---- */

static void tiny_sendbuf(wsref_stomp_server_options *o) {
  o->send_buffer_limit = 64;
}

static void test_slow_consumer_terminated(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, tiny_sendbuf);
  cli *c = open_cli(t, 0, NULL);
  SEND(t, c, "CONNECT\naccept-version:1.2\nheart-beat:0,0\n\n\0");
  /* The CONNECTED is not drained: later frames queue in the decorator until the limit. */
  wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
  wsref_stomp_header h = {"receipt-id", 10, "0123456789", 10};
  wsref_stomp_frame f = {WSREF_STOMP_RECEIPT, &h, 1, NULL, 0};
  assert_int_equal(wsref_stomp_conn_send(sc, &f), 0);
  assert_int_equal(wsref_stomp_conn_send(sc, &f), 0);
  assert_int_equal(wsref_stomp_conn_send(sc, &f), WSREF_E_LIMIT);
  assert_null(wsref_stomp_conn_of(c->s));
  assert_string_equal(strstr(str(&t->ev), "disconnect"), "disconnect\n");
  assert_int_equal(wsref_session_state(c->s), WSREF_STATE_CLOSED);
}

/* The ERROR goes past the send limit, but never ahead of frames queued before it: with the
 * client not reading, CONNECTED sits in the session output and a RECEIPT in the decorator;
 * then a bad frame. The ERROR used to go straight to the session, ahead of the RECEIPT (which
 * was then lost behind the close). fuzz_stomp_server found it (an ERROR before CONNECTED). */
static void test_error_after_queued_frames(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c = open_cli(t, 0, "Sec-WebSocket-Protocol: v12.stomp\r\n");
  SEND(t, c, "CONNECT\naccept-version:1.2\nhost:/\nheart-beat:0,0\n\n\0");
  wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
  wsref_stomp_header h = {"receipt-id", 10, "queued", 6};
  wsref_stomp_frame f = {WSREF_STOMP_RECEIPT, &h, 1, NULL, 0};
  assert_int_equal(wsref_stomp_conn_send(sc, &f), 0);
  SEND(t, c, "SEND\n\nx\0"); /* no destination */
  expect_connected(t, c, "version:1.2\nheart-beat:10000,10000\n");
  EXPECT(t, c, "RECEIPT\nreceipt-id:queued\n\n\0");
  expect_error(t, c, "SEND frame has no destination header", NULL, 1002);
}

static void test_deadline_of_other_sessions(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  wsref_handler h = {0};
  assert_non_null(wsref_registry_add(t->reg, "/plain", &h));
  wsref_session *s = wsref_session_new_server(t->reg, NULL, NULL, "", t->now);
  char req[512];
  size_t n = peer_request(req, "/plain", NULL);
  wsref_session_recv(s, (uint8_t *)req, n, t->now);
  assert_null(wsref_stomp_conn_of(s));
  assert_int_equal(wsref_stomp_session_deadline(s, NULL), 0);
  wsref_stomp_session_tick(s, t->now + 100000, NULL);
  wsref_session_free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_connect_v12, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_subprotocols, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_v10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_stomp_frame, setup, teardown),
      cmocka_unit_test_setup_teardown(test_negotiation_table, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_rejected_by_backend, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_from_attribute, setup, teardown),
      cmocka_unit_test_setup_teardown(test_frame_before_connect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_second_connect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_receipts_after_processing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disconnect_receipt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disconnect_plain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_loss, setup, teardown),
      cmocka_unit_test_setup_teardown(test_backend_error_with_receipt, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
      cmocka_unit_test_setup_teardown(test_bad_frame_after_good_ones, setup, teardown),
      cmocka_unit_test_setup_teardown(test_split_and_coalesced, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_negotiation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_send_and_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_writes_reset, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_malformed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_heartbeat_flood, setup, teardown),
      cmocka_unit_test_setup_teardown(test_conn_error_api, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interceptor_chain_order, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interceptor_rewrite_drop_reject, setup, teardown),
      cmocka_unit_test_setup_teardown(test_interceptor_drops_connect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_connected, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_heartbeat_echo, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_no_version, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_before_connect, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_error_text_utf8, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_buffer_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_receipts, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_connect_timeout, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_consumer_terminated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_after_queued_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_deadline_of_other_sessions, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
