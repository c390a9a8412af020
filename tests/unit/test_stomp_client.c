/* STOMP client session (reference/app/stomp_client.h), sans-I/O core: exact frames sent for
 * CONNECT / SUBSCRIBE / SEND / ACK / NACK / transactions / DISCONNECT per negotiated version,
 * version and heart-beat negotiation, routing of MESSAGE / RECEIPT / ERROR, heart-beat
 * sending and silent-server detection, receipt / connect / disconnect timeouts, protocol
 * failures and the end of the transport, all against a scripted server and a fake clock.
 *
 * Expected bytes are written out literally: they do not come from the codec under use. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/stomp_client.h"
#include "base/buf.h"
#include "base/error.h"
#include "codec/close.h"

#define MAXMSG 64
#define T0 1000000u

typedef struct tc {
  wsref_stomp_client *c;
  wsref_stomp_client_options o;
  wsref_stomp_session_handler h;
  wsref_stomp_transport t;
  wsref_buf msg[MAXMSG]; /* messages the client sent */
  bool binary[MAXMSG];
  size_t nmsg;
  int send_fail; /* next send returns this */
  unsigned close_code;
  int closes;
  wsref_buf ev; /* callback transcript */
  wsref_stomp_subscription *last_sub;
  bool ack_in_callback;
} tc;

static const char *str(wsref_buf *b) {
  assert_non_null(wsref_buf_reserve(b, 1));
  wsref_buf_head(b)[wsref_buf_len(b)] = 0;
  return (const char *)wsref_buf_head(b);
}

/* ---- fake transport ---- */

static int t_send(void *ud, const uint8_t *p, size_t n, bool binary) {
  tc *t = ud;
  if (t->send_fail) {
    int r = t->send_fail;
    t->send_fail = 0;
    return r;
  }
  assert_true(t->nmsg < MAXMSG);
  assert_int_equal(wsref_buf_append(&t->msg[t->nmsg], p, n), 0);
  t->binary[t->nmsg] = binary;
  t->nmsg++;
  return 0;
}

static void t_close(void *ud, unsigned code, const char *reason) {
  tc *t = ud;
  (void)reason;
  t->closes++;
  t->close_code = code;
}

/* ---- handler callbacks: a transcript ---- */

static void put_value(wsref_buf *b, const wsref_stomp_frame *f, const char *name) {
  const wsref_stomp_header *h = wsref_stomp_frame_header(f, name);
  if (h) wsref_buf_appendf(b, " %s=%.*s", name, (int)h->value_len, h->value);
}

static void on_connected(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  tc *t = ud;
  (void)f;
  uint32_t s, r;
  wsref_stomp_client_heartbeat(c, &s, &r);
  wsref_buf_appendf(&t->ev, "connected v%d hb %u,%u\n", (int)wsref_stomp_client_version(c), s, r);
}
static void on_error(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  tc *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "error");
  put_value(&t->ev, f, "message");
  wsref_buf_appendf(&t->ev, " body=%.*s\n", (int)f->body_len, (const char *)f->body);
}
static void on_transport_error(wsref_stomp_client *c, int err, void *ud) {
  tc *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "transport-error %s\n", wsref_err_name(err));
}
static void on_frame(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  tc *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "frame %s\n", wsref_stomp_command_name(f->command));
}
static void on_closed(wsref_stomp_client *c, void *ud) {
  tc *t = ud;
  wsref_buf_appendf(&t->ev, "closed %s\n",
                    wsref_stomp_client_state_name(wsref_stomp_client_state(c)));
}
static void on_message(wsref_stomp_client *c, wsref_stomp_subscription *sub,
                       const wsref_stomp_frame *f, void *ud) {
  tc *t = ud;
  wsref_buf_appendf(&t->ev, "message sub=%s", wsref_stomp_subscription_id(sub));
  put_value(&t->ev, f, "message-id");
  wsref_buf_appendf(&t->ev, " body=%.*s\n", (int)f->body_len, (const char *)f->body);
  if (t->ack_in_callback) assert_int_equal(wsref_stomp_client_ack(c, f, NULL, NULL), 0);
}
static void on_receipt(wsref_stomp_client *c, const char *id, bool received, void *ud) {
  tc *t = ud;
  (void)c;
  wsref_buf_appendf(&t->ev, "receipt %s %s\n", id, received ? "received" : "lost");
}

static int setup(void **state) {
  tc *t = calloc(1, sizeof *t);
  assert_non_null(t);
  wsref_stomp_client_options_default(&t->o);
  t->h = (wsref_stomp_session_handler){on_connected, on_error,  on_transport_error,
                                       on_frame,     on_closed, t};
  t->t = (wsref_stomp_transport){t_send, t_close, t};
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tc *t = *state;
  wsref_stomp_client_free(t->c);
  for (size_t i = 0; i < MAXMSG; i++) wsref_buf_free(&t->msg[i]);
  wsref_buf_free(&t->ev);
  free(t);
  return 0;
}

/* Create the client with t->o and send CONNECT at T0. */
static void start(tc *t) {
  t->c = wsref_stomp_client_new(&t->o, &t->h, &t->t);
  assert_non_null(t->c);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_NEW);
  assert_int_equal(wsref_stomp_client_start(t->c, T0), 0);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CONNECTING);
}

#define FEED_AT(t, now, lit) \
  wsref_stomp_client_recv((t)->c, (const uint8_t *)(lit), sizeof(lit) - 1, (now))
#define FEED(t, lit) FEED_AT(t, T0, lit)

/* Message i is exactly these bytes (a literal, NULs included), as text. */
#define SENT(t, i, lit) sent_is((t), (i), (lit), sizeof(lit) - 1, false)
#define SENT_BIN(t, i, lit) sent_is((t), (i), (lit), sizeof(lit) - 1, true)
static void sent_is(tc *t, size_t i, const char *want, size_t n, bool binary) {
  if (i >= t->nmsg) fail_msg("message %zu not sent (only %zu)", i, t->nmsg);
  wsref_buf *b = &t->msg[i];
  if (wsref_buf_len(b) != n || memcmp(wsref_buf_head(b), want, n) != 0) {
    wsref_buf shown = WSREF_BUF_INIT;
    for (size_t k = 0; k < wsref_buf_len(b); k++) {
      uint8_t ch = wsref_buf_head(b)[k];
      if (ch == 0)
        wsref_buf_appendf(&shown, "\\0");
      else if (ch == '\n')
        wsref_buf_appendf(&shown, "\\n");
      else
        wsref_buf_appendf(&shown, "%c", ch);
    }
    fail_msg("message %zu differs: got \"%s\"", i, str(&shown));
  }
  assert_int_equal(t->binary[i], binary);
}

static void ev_is(tc *t, const char *want) {
  assert_string_equal(str(&t->ev), want);
  wsref_buf_reset(&t->ev);
}

/* start + CONNECTED with this version and heart-beat 0,0 */
static void connect_v(tc *t, enum wsref_stomp_version v) {
  start(t);
  int r;
  if (v == WSREF_STOMP_V12)
    r = FEED(t, "CONNECTED\nversion:1.2\nheart-beat:0,0\n\n\0");
  else if (v == WSREF_STOMP_V11)
    r = FEED(t, "CONNECTED\nversion:1.1\nheart-beat:0,0\n\n\0");
  else
    r = FEED(t, "CONNECTED\nsession:s1\n\n\0");
  assert_int_equal(r, 0);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CONNECTED);
  assert_int_equal(wsref_stomp_client_version(t->c), v);
  wsref_buf_reset(&t->ev);
}

/* ---- CONNECT ---- */

static void test_connect_default(void **state) {
  tc *t = *state;
  start(t);
  assert_int_equal(t->nmsg, 1);
  SENT(t, 0, "CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\nheart-beat:10000,10000\n\n\0");
  assert_int_equal(wsref_stomp_client_version(t->c), 0);
  /* Nothing may be sent before CONNECTED. */
  assert_int_equal(wsref_stomp_client_send(t->c, "/queue/a", "x", 1, NULL, 0, NULL), WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/queue/a", WSREF_STOMP_ACK_AUTO, NULL, NULL,
                                                0, NULL, NULL),
                   WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_disconnect(t->c, NULL), WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_start(t->c, T0), WSREF_E_STATE);
  assert_int_equal(t->nmsg, 1);
}

static void test_connect_options(void **state) {
  tc *t = *state;
  static const wsref_stomp_kv extra[] = {{"client-id", "a:b\\c"}};
  t->o.accept_version = "1.2";
  t->o.host = "/";
  t->o.login = "guest";
  t->o.passcode = "pa:ss\\word"; /* CONNECT is never escaped (ES-05) */
  t->o.heartbeat_send_ms = 0;
  t->o.heartbeat_receive_ms = 0;
  t->o.use_stomp_command = true;
  t->o.connect_headers = extra;
  t->o.nconnect_headers = 1;
  start(t);
  SENT(t, 0,
       "STOMP\naccept-version:1.2\nhost:/\nlogin:guest\npasscode:pa:ss\\word\nheart-beat:0,0\n"
       "client-id:a:b\\c\n\n\0");
}

static void test_connect_send_failure(void **state) {
  tc *t = *state;
  t->c = wsref_stomp_client_new(&t->o, &t->h, &t->t);
  assert_non_null(t->c);
  t->send_fail = WSREF_E_LIMIT;
  assert_int_equal(wsref_stomp_client_start(t->c, T0), WSREF_E_LIMIT);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_NEW);
}

/* ---- CONNECTED: version and heart-beat negotiation ---- */

static void test_connected_v12(void **state) {
  tc *t = *state;
  start(t);
  assert_int_equal(FEED(t, "CONNECTED\nversion:1.2\nheart-beat:5000,20000\nserver:x/1\n\n\0"), 0);
  /* send: max(cx 10000, sy 20000); receive: max(sx 5000, cy 10000) (HB-03) */
  ev_is(t, "frame CONNECTED\nconnected v12 hb 20000,10000\n");
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CONNECTED);
}

static void test_heartbeat_math(void **state) {
  tc *t = *state;
  /* stomp.py's test_calculate_heartbeats pairs (client send, client receive) */
  static const struct {
    uint32_t cx, cy;
    const char *server;
    uint32_t send, recv;
  } cases[] = {
      {3000, 5000, "5000,3000", 3000, 5000},
      {3000, 5000, "6000,2000", 3000, 6000},
      {3000, 5000, "0,0", 0, 0},
      {3000, 5000, "10000,0", 0, 10000},
      {0, 0, "5000,5000", 0, 0},
      {10000, 10000, "20000,20000", 20000, 20000},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    t->o.heartbeat_send_ms = cases[i].cx;
    t->o.heartbeat_receive_ms = cases[i].cy;
    wsref_stomp_client *c = wsref_stomp_client_new(&t->o, NULL, &t->t);
    assert_non_null(c);
    assert_int_equal(wsref_stomp_client_start(c, T0), 0);
    char frame[128];
    int n =
        snprintf(frame, sizeof frame, "CONNECTED\nversion:1.1\nheart-beat:%s\n\n", cases[i].server);
    assert_int_equal(wsref_stomp_client_recv(c, (const uint8_t *)frame, (size_t)n + 1, T0), 0);
    uint32_t s = 1, r = 1;
    wsref_stomp_client_heartbeat(c, &s, &r);
    assert_int_equal(s, cases[i].send);
    assert_int_equal(r, cases[i].recv);
    wsref_stomp_client_free(c);
  }
}

static void test_connected_missing_heartbeat_and_10(void **state) {
  tc *t = *state;
  start(t);
  /* No version: a 1.0 server; no heart-beat: 0,0 (HB-02). */
  assert_int_equal(FEED(t, "CONNECTED\nsession:abc\n\n\0"), 0);
  ev_is(t, "frame CONNECTED\nconnected v10 hb 0,0\n");
  assert_int_equal(wsref_stomp_client_deadline(t->c), 0);
}

static void test_connected_split_and_coalesced(void **state) {
  tc *t = *state;
  start(t);
  wsref_stomp_subscription *sub = NULL;
  (void)sub;
  static const char part1[] = "CONNEC";
  static const char part2[] = "TED\nversion:1.2\nheart-beat:0,0\n\n";
  assert_int_equal(wsref_stomp_client_recv(t->c, (const uint8_t *)part1, 6, T0), 0);
  assert_int_equal(wsref_stomp_client_recv(t->c, (const uint8_t *)part2, sizeof part2 - 1, T0), 0);
  ev_is(t, "");
  assert_int_equal(wsref_stomp_client_recv(t->c, (const uint8_t *)"\0\n", 2, T0), 0);
  ev_is(t, "frame CONNECTED\nconnected v12 hb 0,0\n");
  wsref_stomp_frame_handler fh = {on_message, t};
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/topic/t", WSREF_STOMP_ACK_AUTO, &fh, NULL,
                                                0, NULL, NULL),
                   0);
  /* Two MESSAGEs and a heart-beat in one WebSocket message. */
  assert_int_equal(FEED(t,
                        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/t\n\na\0\n"
                        "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/topic/t\n\nb\0"),
                   0);
  ev_is(t,
        "frame MESSAGE\nmessage sub=0 message-id=1 body=a\n"
        "frame MESSAGE\nmessage sub=0 message-id=2 body=b\n");
}

static void test_connected_bad_version(void **state) {
  tc *t = *state;
  t->o.accept_version = "1.1,1.2";
  start(t);
  /* 1.0 was not offered */
  assert_int_equal(FEED(t, "CONNECTED\nversion:1.0\n\n\0"), 0);
  ev_is(t, "frame CONNECTED\ntransport-error WSREF_E_STOMP_VERSION\n");
  assert_int_equal(t->closes, 1);
  assert_int_equal(t->close_code, WSREF_CLOSE_PROTOCOL_ERROR);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CLOSING);
  assert_int_equal(wsref_stomp_client_error(t->c), WSREF_E_STOMP_VERSION);
  /* Further input is ignored; the end of the transport reports nothing more. */
  assert_int_equal(FEED(t, "MESSAGE\nsubscription:0\n\n\0"), 0);
  wsref_stomp_client_transport_closed(t->c, 0, T0);
  ev_is(t, "closed CLOSED\n");
}

static void test_connected_unknown_version(void **state) {
  tc *t = *state;
  start(t);
  assert_int_equal(FEED(t, "CONNECTED\nversion:2.0\n\n\0"), 0);
  ev_is(t, "frame CONNECTED\ntransport-error WSREF_E_STOMP_VERSION\n");
}

static void test_connected_bad_heartbeat(void **state) {
  tc *t = *state;
  static const char *const bad[] = {
      "CONNECTED\nversion:1.2\nheart-beat:10\n\n",   "CONNECTED\nversion:1.2\nheart-beat:a,1\n\n",
      "CONNECTED\nversion:1.2\nheart-beat:1, 2\n\n", "CONNECTED\nversion:1.2\nheart-beat:-1,0\n\n",
      "CONNECTED\nversion:1.2\nheart-beat:,\n\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsref_stomp_client *c = wsref_stomp_client_new(&t->o, &t->h, &t->t);
    assert_non_null(c);
    assert_int_equal(wsref_stomp_client_start(c, T0), 0);
    assert_int_equal(wsref_stomp_client_recv(c, (const uint8_t *)bad[i], strlen(bad[i]) + 1, T0),
                     0);
    assert_int_equal(wsref_stomp_client_error(c), WSREF_E_STOMP_HEARTBEAT);
    assert_int_equal(wsref_stomp_client_state(c), WSREF_STOMP_CLIENT_CLOSING);
    wsref_stomp_client_free(c);
  }
}

static void test_frame_before_connected(void **state) {
  tc *t = *state;
  start(t);
  assert_int_equal(FEED(t, "MESSAGE\ndestination:/a\nmessage-id:1\nsubscription:0\n\nx\0"), 0);
  ev_is(t, "frame MESSAGE\ntransport-error WSREF_E_STOMP_NOT_CONNECTED\n");
  assert_int_equal(t->close_code, WSREF_CLOSE_PROTOCOL_ERROR);
}

static void test_malformed_frame(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  int r = FEED(t, "MESSAGE\nno-colon-here\n\n\0");
  assert_int_equal(r, WSREF_E_STOMP_HEADER);
  ev_is(t, "transport-error WSREF_E_STOMP_HEADER\n");
  assert_int_equal(t->closes, 1);
  assert_int_equal(t->close_code, WSREF_CLOSE_PROTOCOL_ERROR);
  assert_int_equal(wsref_stomp_client_error(t->c), WSREF_E_STOMP_HEADER);
}

static void test_client_frame_from_server(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  assert_int_equal(FEED(t, "SEND\ndestination:/a\n\n\0"), 0);
  ev_is(t, "frame SEND\ntransport-error WSREF_E_STOMP_COMMAND\n");
  assert_int_equal(t->close_code, WSREF_CLOSE_PROTOCOL_ERROR);
}

static void test_second_connected(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  assert_int_equal(FEED(t, "CONNECTED\nversion:1.2\n\n\0"), 0);
  ev_is(t, "frame CONNECTED\ntransport-error WSREF_E_STOMP_STATE\n");
}

static void test_connect_timeout(void **state) {
  tc *t = *state;
  t->o.connect_timeout_ms = 3000;
  start(t);
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 3000);
  wsref_stomp_client_tick(t->c, T0 + 2999);
  ev_is(t, "");
  wsref_stomp_client_tick(t->c, T0 + 3000);
  ev_is(t, "transport-error WSREF_E_TIMEOUT\n");
  assert_int_equal(t->close_code, WSREF_CLOSE_GOING_AWAY);
}

/* ---- ERROR ---- */

static void test_error_while_connecting(void **state) {
  tc *t = *state;
  start(t);
  assert_int_equal(
      FEED(t, "ERROR\nmessage:Bad login\ncontent-type:text/plain\ncontent-length:4\n\nnope\0"), 0);
  ev_is(t, "frame ERROR\nerror message=Bad login body=nope\n");
  assert_true(wsref_stomp_client_error_received(t->c));
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CLOSING);
  /* The server closes after ERROR; if it does not, the client does after the timeout. */
  assert_int_equal(t->closes, 0);
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 5000);
  wsref_stomp_client_tick(t->c, T0 + 5000);
  assert_int_equal(t->closes, 1);
  assert_int_equal(t->close_code, WSREF_CLOSE_NORMAL);
  assert_int_equal(wsref_stomp_client_deadline(t->c), 0);
  wsref_stomp_client_transport_closed(t->c, 0, T0 + 5001);
  ev_is(t, "closed CLOSED\n");
  assert_int_equal(wsref_stomp_client_error(t->c), 0);
}

static void test_error_fails_its_receipt(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_send(t->c, "/queue/a", "x", 1, NULL, 0, &r), 0);
  assert_int_equal(wsref_stomp_client_send(t->c, "/queue/b", "y", 1, NULL, 0, &r), 0);
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 2);
  assert_int_equal(FEED(t, "ERROR\nreceipt-id:r-2\nmessage:no\n\n\0"), 0);
  ev_is(t, "frame ERROR\nerror message=no body=\nreceipt r-2 lost\n");
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 1);
  /* The server's close after the ERROR: the other receipt is lost, no transport error. */
  wsref_stomp_client_transport_closed(t->c, 0, T0);
  ev_is(t, "receipt r-1 lost\nclosed CLOSED\n");
}

static void test_nothing_after_error_or_failure(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_frame_handler fh = {on_message, t};
  assert_int_equal(
      wsref_stomp_client_subscribe(t->c, "/q", WSREF_STOMP_ACK_AUTO, &fh, NULL, 0, NULL, NULL), 0);
  /* frames after an ERROR in the same WebSocket message are not delivered */
  assert_int_equal(FEED(t,
                        "ERROR\nmessage:bye\n\n\0"
                        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\nx\0"),
                   0);
  ev_is(t, "frame ERROR\nerror message=bye body=\n");
  wsref_stomp_client_free(t->c);
  t->c = NULL;
  /* nor after a protocol failure */
  connect_v(t, WSREF_STOMP_V12);
  assert_int_equal(
      wsref_stomp_client_subscribe(t->c, "/q", WSREF_STOMP_ACK_AUTO, &fh, NULL, 0, NULL, NULL), 0);
  assert_int_equal(FEED(t,
                        "CONNECTED\nversion:1.2\n\n\0"
                        "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\n\nx\0"),
                   0);
  ev_is(t, "frame CONNECTED\ntransport-error WSREF_E_STOMP_STATE\n");
}

/* ---- SUBSCRIBE / MESSAGE / UNSUBSCRIBE ---- */

static void test_subscribe_and_route(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_frame_handler fh = {on_message, t};
  wsref_stomp_subscription *a = NULL, *b = NULL;
  static const wsref_stomp_kv extra[] = {{"prefetch-count", "10"}};
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/queue/a", WSREF_STOMP_ACK_CLIENT_INDIVIDUAL,
                                                &fh, extra, 1, NULL, &a),
                   0);
  assert_int_equal(
      wsref_stomp_client_subscribe(t->c, "/topic/b", WSREF_STOMP_ACK_AUTO, &fh, NULL, 0, NULL, &b),
      0);
  SENT(t, 1,
       "SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client-individual\nprefetch-count:10\n\n\0");
  SENT(t, 2, "SUBSCRIBE\nid:1\ndestination:/topic/b\nack:auto\n\n\0");
  assert_string_equal(wsref_stomp_subscription_id(a), "0");
  assert_string_equal(wsref_stomp_subscription_destination(b), "/topic/b");
  assert_int_equal(wsref_stomp_subscription_ack(a), WSREF_STOMP_ACK_CLIENT_INDIVIDUAL);
  assert_ptr_equal(wsref_stomp_client_subscription(t->c, "1"), b);
  assert_null(wsref_stomp_client_subscription(t->c, "7"));

  assert_int_equal(FEED(t, "MESSAGE\nsubscription:1\nmessage-id:m1\ndestination:/topic/b\n\nB\0"),
                   0);
  assert_int_equal(
      FEED(t, "MESSAGE\nsubscription:0\nmessage-id:m2\ndestination:/queue/a\nack:a2\n\nA\0"), 0);
  assert_int_equal(FEED(t, "MESSAGE\nsubscription:9\nmessage-id:m3\ndestination:/x\n\nX\0"), 0);
  ev_is(t,
        "frame MESSAGE\nmessage sub=1 message-id=m1 body=B\n"
        "frame MESSAGE\nmessage sub=0 message-id=m2 body=A\n"
        "frame MESSAGE\n");

  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_unsubscribe(t->c, b, &r), 0);
  SENT(t, 3, "UNSUBSCRIBE\nid:1\nreceipt:r-1\n\n\0");
  assert_null(wsref_stomp_client_subscription(t->c, "1"));
  /* In flight after UNSUBSCRIBE: the session handler sees it, no frame handler. */
  assert_int_equal(FEED(t, "MESSAGE\nsubscription:1\nmessage-id:m4\ndestination:/topic/b\n\nB\0"),
                   0);
  assert_int_equal(FEED(t, "RECEIPT\nreceipt-id:r-1\n\n\0"), 0);
  ev_is(t, "frame MESSAGE\nframe RECEIPT\nreceipt r-1 received\n");
  /* Ids are never reused. */
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/topic/c", WSREF_STOMP_ACK_CLIENT, &fh, NULL,
                                                0, NULL, NULL),
                   0);
  SENT(t, 4, "SUBSCRIBE\nid:2\ndestination:/topic/c\nack:client\n\n\0");
  assert_int_equal(wsref_stomp_client_unsubscribe(t->c, b, NULL), WSREF_E_INVALID_ARG);
}

static void test_message_without_subscription_10(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V10);
  wsref_stomp_frame_handler fh = {on_message, t};
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/queue/a", WSREF_STOMP_ACK_CLIENT, &fh, NULL,
                                                0, NULL, NULL),
                   0);
  /* client-individual does not exist in 1.0 */
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/queue/b", WSREF_STOMP_ACK_CLIENT_INDIVIDUAL,
                                                &fh, NULL, 0, NULL, NULL),
                   WSREF_E_INVALID_ARG);
  assert_int_equal(FEED(t, "MESSAGE\ndestination:/queue/a\nmessage-id:7\n\nhi\0"), 0);
  ev_is(t, "frame MESSAGE\nmessage sub=0 message-id=7 body=hi\n");
}

/* ---- SEND, escaping, binary ---- */

static void test_send_v12(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  static const wsref_stomp_kv extra[] = {{"content-type", "text/plain"}, {"x", "a:b\nc\rd\\e"}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/queue/a", "hello", 5, extra, 2, NULL), 0);
  SENT(t, 1,
       "SEND\ndestination:/queue/a\ncontent-type:text/plain\nx:a\\cb\\nc\\rd\\\\e\n"
       "content-length:5\n\nhello\0");
  /* a body with NULs */
  assert_int_equal(wsref_stomp_client_send(t->c, "/queue/a", "a\0b", 3, NULL, 0, NULL), 0);
  SENT(t, 2, "SEND\ndestination:/queue/a\ncontent-length:3\n\na\0b\0");
  /* not UTF-8: a binary message */
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "\xff", 1, NULL, 0, NULL), 0);
  SENT_BIN(t, 3, "SEND\ndestination:/q\ncontent-length:1\n\n\xff\0");
  assert_int_equal(wsref_stomp_client_send(t->c, NULL, "x", 1, NULL, 0, NULL), WSREF_E_INVALID_ARG);
  static const wsref_stomp_kv bad[] = {{"x", NULL}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "x", 1, bad, 1, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(t->nmsg, 4);
}

static void test_send_escaping_v11_v10(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V11);
  static const wsref_stomp_kv extra[] = {{"x", "a:b\nc\\d"}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "", 0, extra, 1, NULL), 0);
  SENT(t, 1, "SEND\ndestination:/q\nx:a\\cb\\nc\\\\d\n\n\0");
  wsref_stomp_client_free(t->c);
  t->c = NULL;
  t->nmsg = 0;
  for (size_t i = 0; i < MAXMSG; i++) wsref_buf_reset(&t->msg[i]);
  connect_v(t, WSREF_STOMP_V10);
  static const wsref_stomp_kv colon[] = {{"x", "a:b\\c"}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "z", 1, colon, 1, NULL), 0);
  SENT(t, 1, "SEND\ndestination:/q\nx:a:b\\c\ncontent-length:1\n\nz\0");
  static const wsref_stomp_kv lf[] = {{"x", "a\nb"}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "z", 1, lf, 1, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(t->nmsg, 2);
}

static void test_binary_frames_option(void **state) {
  tc *t = *state;
  t->o.binary_frames = true;
  t->o.heartbeat_send_ms = 0;
  t->o.heartbeat_receive_ms = 0;
  start(t);
  SENT_BIN(t, 0, "CONNECT\naccept-version:1.0,1.1,1.2\nhost:localhost\nheart-beat:0,0\n\n\0");
}

static void test_send_frame_generic(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_header hs[] = {{"destination", 11, "/q", 2}, {"k", 1, "v:1", 3}};
  wsref_stomp_frame f = {WSREF_STOMP_SEND, hs, 2, (const uint8_t *)"b", 1};
  wsref_stomp_receipt r = {NULL, NULL};
  assert_int_equal(wsref_stomp_client_send_frame(t->c, &f, &r), 0);
  SENT(t, 1, "SEND\nreceipt:r-1\ndestination:/q\nk:v\\c1\ncontent-length:1\n\nb\0");
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 1);
  assert_int_equal(FEED(t, "RECEIPT\nreceipt-id:r-1\n\n\0"), 0);
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 0);
  wsref_stomp_frame bad = {WSREF_STOMP_SUBSCRIBE, hs, 1, (const uint8_t *)"b", 1};
  assert_int_equal(wsref_stomp_client_send_frame(t->c, &bad, NULL), WSREF_E_INVALID_ARG);
}

/* ---- ACK / NACK per version ---- */

static void test_ack_v12(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_frame_handler fh = {on_message, t};
  assert_int_equal(wsref_stomp_client_subscribe(t->c, "/queue/a", WSREF_STOMP_ACK_CLIENT_INDIVIDUAL,
                                                &fh, NULL, 0, NULL, NULL),
                   0);
  t->ack_in_callback = true;
  assert_int_equal(
      FEED(t, "MESSAGE\nsubscription:0\nmessage-id:m1\ndestination:/queue/a\nack:k:1\n\nA\0"), 0);
  SENT(t, 2, "ACK\nid:k\\c1\n\n\0");
  assert_int_equal(wsref_stomp_client_ack_ids(t->c, true, "a2", "m2", "0", "tx1", NULL), 0);
  SENT(t, 3, "NACK\nid:a2\ntransaction:tx1\n\n\0");
  assert_int_equal(wsref_stomp_client_ack_ids(t->c, false, NULL, "m2", "0", NULL, NULL),
                   WSREF_E_STOMP_MISSING_HEADER);
  /* an auto-mode MESSAGE has no ack header */
  t->ack_in_callback = false;
  wsref_stomp_header hs[] = {{"message-id", 10, "m9", 2}, {"subscription", 12, "0", 1}};
  wsref_stomp_frame m = {WSREF_STOMP_MESSAGE, hs, 2, NULL, 0};
  assert_int_equal(wsref_stomp_client_ack(t->c, &m, NULL, NULL), WSREF_E_STOMP_MISSING_HEADER);
  assert_int_equal(wsref_stomp_client_ack(t->c, NULL, NULL, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(t->nmsg, 4);
}

static void test_ack_v11(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V11);
  wsref_stomp_header hs[] = {
      {"message-id", 10, "m9", 2}, {"subscription", 12, "3", 1}, {"ack", 3, "ignored", 7}};
  wsref_stomp_frame m = {WSREF_STOMP_MESSAGE, hs, 3, NULL, 0};
  assert_int_equal(wsref_stomp_client_ack(t->c, &m, NULL, NULL), 0);
  SENT(t, 1, "ACK\nmessage-id:m9\nsubscription:3\n\n\0");
  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_nack(t->c, &m, "t1", &r), 0);
  SENT(t, 2, "NACK\nmessage-id:m9\nsubscription:3\ntransaction:t1\nreceipt:r-1\n\n\0");
  wsref_stomp_frame m2 = {WSREF_STOMP_MESSAGE, hs, 1, NULL, 0}; /* no subscription */
  assert_int_equal(wsref_stomp_client_ack(t->c, &m2, NULL, NULL), WSREF_E_STOMP_MISSING_HEADER);
}

static void test_ack_v10(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V10);
  assert_int_equal(wsref_stomp_client_ack_ids(t->c, false, "a", "m5", "0", "tx", NULL), 0);
  SENT(t, 1, "ACK\nmessage-id:m5\ntransaction:tx\n\n\0");
  /* no NACK in 1.0 (AK-03) */
  assert_int_equal(wsref_stomp_client_ack_ids(t->c, true, "a", "m5", "0", NULL, NULL),
                   WSREF_E_STATE);
  assert_int_equal(t->nmsg, 2);
}

/* ---- transactions ---- */

static void test_transactions(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  assert_int_equal(wsref_stomp_client_begin(t->c, "tx1", NULL), 0);
  static const wsref_stomp_kv tx[] = {{"transaction", "tx1"}};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "m", 1, tx, 1, NULL), 0);
  assert_int_equal(wsref_stomp_client_commit(t->c, "tx1", NULL), 0);
  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_abort(t->c, "tx2", &r), 0);
  SENT(t, 1, "BEGIN\ntransaction:tx1\n\n\0");
  SENT(t, 2, "SEND\ndestination:/q\ntransaction:tx1\ncontent-length:1\n\nm\0");
  SENT(t, 3, "COMMIT\ntransaction:tx1\n\n\0");
  SENT(t, 4, "ABORT\ntransaction:tx2\nreceipt:r-1\n\n\0");
  assert_int_equal(wsref_stomp_client_begin(t->c, NULL, NULL), WSREF_E_INVALID_ARG);
}

/* ---- receipts ---- */

static void test_receipts(void **state) {
  tc *t = *state;
  t->o.receipt_timeout_ms = 2000;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "1", 1, NULL, 0, &r), 0);
  SENT(t, 1, "SEND\ndestination:/q\nreceipt:r-1\ncontent-length:1\n\n1\0");
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 2000);
  wsref_stomp_client_tick(t->c, T0 + 1000);
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "2", 1, NULL, 0, &r), 0);
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "3", 1, NULL, 0, &r), 0);
  /* out of order, and one nobody asked for */
  assert_int_equal(
      FEED_AT(t, T0 + 1500, "RECEIPT\nreceipt-id:r-3\n\n\0RECEIPT\nreceipt-id:zz\n\n\0"), 0);
  ev_is(t, "frame RECEIPT\nreceipt r-3 received\nframe RECEIPT\n");
  wsref_stomp_client_tick(t->c, T0 + 2000);
  ev_is(t, "receipt r-1 lost\n");
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 3000);
  /* a RECEIPT after the timeout is only a frame */
  assert_int_equal(FEED_AT(t, T0 + 2500, "RECEIPT\nreceipt-id:r-1\n\n\0"), 0);
  ev_is(t, "frame RECEIPT\n");
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 1);
  /* a failed send registers nothing */
  t->send_fail = WSREF_E_LIMIT;
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "4", 1, NULL, 0, &r), WSREF_E_LIMIT);
  assert_int_equal(wsref_stomp_client_pending_receipts(t->c), 1);
  /* the connection drops: a transport error, then the pending receipt, then closed */
  wsref_stomp_client_transport_closed(t->c, WSREF_E_IO, T0 + 2600);
  ev_is(t, "transport-error WSREF_E_IO\nreceipt r-2 lost\nclosed CLOSED\n");
  assert_int_equal(wsref_stomp_client_error(t->c), WSREF_E_IO);
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "5", 1, NULL, 0, NULL), WSREF_E_STATE);
}

/* ---- heart-beats ---- */

static void test_heartbeat_send_and_silence(void **state) {
  tc *t = *state;
  t->o.heartbeat_send_ms = 4000;
  t->o.heartbeat_receive_ms = 1000;
  start(t);
  /* send every 4000; the server promises every 2000: dead after 3 x 2000 */
  assert_int_equal(FEED(t, "CONNECTED\nversion:1.2\nheart-beat:2000,3000\n\n\0"), 0);
  ev_is(t, "frame CONNECTED\nconnected v12 hb 4000,2000\n");
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 4000);
  wsref_stomp_client_tick(t->c, T0 + 3999);
  assert_int_equal(t->nmsg, 1);
  wsref_stomp_client_tick(t->c, T0 + 4000);
  assert_int_equal(t->nmsg, 2);
  SENT(t, 1, "\n");
  /* a server heart-beat keeps it alive */
  assert_int_equal(FEED_AT(t, T0 + 5000, "\n"), 0);
  ev_is(t, "");
  /* a frame we send resets our heart-beat timer */
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "", 0, NULL, 0, NULL), 0);
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 5000 + 4000);
  wsref_stomp_client_tick(t->c, T0 + 9000);
  assert_int_equal(t->nmsg, 4);
  SENT(t, 3, "\n");
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 5000 + 6000);
  wsref_stomp_client_tick(t->c, T0 + 10999);
  ev_is(t, "");
  wsref_stomp_client_tick(t->c, T0 + 11000);
  ev_is(t, "transport-error WSREF_E_STOMP_HEARTBEAT\n");
  assert_int_equal(t->close_code, WSREF_CLOSE_GOING_AWAY);
  assert_int_equal(wsref_stomp_client_deadline(t->c), 0);
  wsref_stomp_client_transport_closed(t->c, 0, T0 + 11001);
  ev_is(t, "closed CLOSED\n");
}

static void test_heartbeat_factor(void **state) {
  tc *t = *state;
  t->o.heartbeat_send_ms = 0;
  t->o.heartbeat_receive_ms = 1000;
  t->o.heartbeat_read_factor = 5;
  start(t);
  assert_int_equal(FEED(t, "CONNECTED\nversion:1.1\nheart-beat:1000,0\n\n\0"), 0);
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 5000);
  /* any data counts (HB-08) */
  assert_int_equal(FEED_AT(t, T0 + 4000, "RECEIPT\nreceipt-id:x\n\n\0"), 0);
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 9000);
}

/* ---- DISCONNECT ---- */

static void test_disconnect_graceful(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_frame_handler fh = {on_message, t};
  assert_int_equal(
      wsref_stomp_client_subscribe(t->c, "/q", WSREF_STOMP_ACK_CLIENT, &fh, NULL, 0, NULL, NULL),
      0);
  wsref_stomp_receipt r = {on_receipt, t};
  assert_int_equal(wsref_stomp_client_disconnect(t->c, &r), 0);
  SENT(t, 2, "DISCONNECT\nreceipt:r-1\n\n\0");
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_DISCONNECTING);
  /* nothing after DISCONNECT (RC-06), not even heart-beats */
  assert_int_equal(wsref_stomp_client_send(t->c, "/q", "x", 1, NULL, 0, NULL), WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_ack_ids(t->c, false, "a", "m", "0", NULL, NULL),
                   WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_disconnect(t->c, &r), WSREF_E_STATE);
  /* frames still in flight are delivered (RC-07) */
  assert_int_equal(
      FEED(t, "MESSAGE\nsubscription:0\nmessage-id:m1\ndestination:/q\nack:1\n\nlate\0"), 0);
  assert_int_equal(t->closes, 0);
  assert_int_equal(FEED(t, "RECEIPT\nreceipt-id:r-1\n\n\0"), 0);
  ev_is(t,
        "frame MESSAGE\nmessage sub=0 message-id=m1 body=late\nframe RECEIPT\n"
        "receipt r-1 received\n");
  assert_int_equal(t->closes, 1);
  assert_int_equal(t->close_code, WSREF_CLOSE_NORMAL);
  assert_int_equal(wsref_stomp_client_state(t->c), WSREF_STOMP_CLIENT_CLOSING);
  assert_int_equal(t->nmsg, 3);
  wsref_stomp_client_transport_closed(t->c, 0, T0);
  ev_is(t, "closed CLOSED\n");
  assert_int_equal(wsref_stomp_client_error(t->c), 0);
  wsref_stomp_client_transport_closed(t->c, 0, T0);
  ev_is(t, "");
}

static void test_disconnect_without_receipt(void **state) {
  tc *t = *state;
  t->o.disconnect_timeout_ms = 700;
  connect_v(t, WSREF_STOMP_V12);
  assert_int_equal(wsref_stomp_client_disconnect(t->c, NULL), 0);
  SENT(t, 1, "DISCONNECT\nreceipt:r-1\n\n\0");
  assert_int_equal(wsref_stomp_client_deadline(t->c), T0 + 700);
  wsref_stomp_client_tick(t->c, T0 + 700);
  assert_int_equal(t->closes, 1);
  assert_int_equal(t->close_code, WSREF_CLOSE_NORMAL);
  ev_is(t, "");
  /* The server may reset before the RECEIPT (LC-02): not a transport error. */
  wsref_stomp_client_transport_closed(t->c, WSREF_E_IO, T0 + 800);
  ev_is(t, "closed CLOSED\n");
}

static void test_connection_lost(void **state) {
  tc *t = *state;
  connect_v(t, WSREF_STOMP_V12);
  wsref_stomp_client_transport_closed(t->c, 0, T0);
  ev_is(t, "transport-error WSREF_E_CLOSED\nclosed CLOSED\n");
  assert_int_equal(wsref_stomp_client_error(t->c), WSREF_E_CLOSED);
  assert_int_equal(t->closes, 0);
}

static void test_names(void **state) {
  (void)state;
  assert_string_equal(wsref_stomp_ack_mode_name(WSREF_STOMP_ACK_CLIENT_INDIVIDUAL),
                      "client-individual");
  assert_int_equal(wsref_stomp_ack_mode_parse("client"), WSREF_STOMP_ACK_CLIENT);
  assert_int_equal(wsref_stomp_ack_mode_parse("Client"), -1);
  assert_int_equal(wsref_stomp_ack_mode_parse(NULL), -1);
  assert_string_equal(wsref_stomp_client_state_name(WSREF_STOMP_CLIENT_DISCONNECTING),
                      "DISCONNECTING");
  wsref_stomp_client_options o;
  wsref_stomp_client_options_default(&o);
  assert_string_equal(o.accept_version, "1.0,1.1,1.2");
  assert_int_equal(o.heartbeat_read_factor, 3);
  assert_int_equal(o.receipt_timeout_ms, 15000);
  /* a sans-I/O client has no socket */
  wsref_stomp_client *c = wsref_stomp_client_new(NULL, NULL, NULL);
  assert_non_null(c);
  assert_int_equal(wsref_stomp_client_process(c), WSREF_E_STATE);
  assert_int_equal(wsref_stomp_client_fd(c), -1);
  assert_null(wsref_stomp_client_ws(c));
  assert_int_equal(wsref_stomp_client_start(c, T0), WSREF_E_STATE); /* no transport */
  wsref_stomp_client_free(c);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(test_connect_default),
      T(test_connect_options),
      T(test_connect_send_failure),
      T(test_connected_v12),
      T(test_heartbeat_math),
      T(test_connected_missing_heartbeat_and_10),
      T(test_connected_split_and_coalesced),
      T(test_connected_bad_version),
      T(test_connected_unknown_version),
      T(test_connected_bad_heartbeat),
      T(test_frame_before_connected),
      T(test_malformed_frame),
      T(test_client_frame_from_server),
      T(test_second_connected),
      T(test_connect_timeout),
      T(test_error_while_connecting),
      T(test_error_fails_its_receipt),
      T(test_nothing_after_error_or_failure),
      T(test_subscribe_and_route),
      T(test_message_without_subscription_10),
      T(test_send_v12),
      T(test_send_escaping_v11_v10),
      T(test_binary_frames_option),
      T(test_send_frame_generic),
      T(test_ack_v12),
      T(test_ack_v11),
      T(test_ack_v10),
      T(test_transactions),
      T(test_receipts),
      T(test_heartbeat_send_and_silence),
      T(test_heartbeat_factor),
      T(test_disconnect_graceful),
      T(test_disconnect_without_receipt),
      T(test_connection_lost),
      T(test_names),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
