/* STOMP broker (reference/app/stomp_broker.h): several server sessions driven in memory
 * against one broker, fake clock; MESSAGE bytes are checked exactly and every queue
 * message is counted (no duplicate, no loss). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/stomp_broker.h"
#include "base/buf.h"
#include "base/error.h"
#include "codec/stomp.h"
#include "handshake/registry.h"
#include "session/session.h"
#include "session/stomp_server.h"
#include "support/peer.h"

/* ---- fixture ---- */

#define NCLI 8

typedef struct cli {
  wsref_session *s;
  wsref_buf in;
} cli;

typedef struct tenv {
  wsref_registry *reg;
  wsref_stomp_broker *b;
  wsref_stomp_broker_options o;
  wsref_session_options so;
  uint64_t now;
  cli c[NCLI];
  wsref_buf ev;
  wsref_stomp_header ic_h[16];
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

static void start(tenv *t, enum wsref_stomp_profile p,
                  void (*tweak)(wsref_stomp_broker_options *)) {
  wsref_stomp_broker_options_default(&t->o, p);
  t->o.server.heartbeat_send_ms = t->o.server.heartbeat_recv_ms = 0;
  if (tweak) tweak(&t->o);
  t->b = wsref_stomp_broker_new(&t->o);
  assert_non_null(t->b);
  t->reg = wsref_registry_new();
  assert_non_null(t->reg);
  assert_non_null(wsref_stomp_broker_register(t->b, t->reg, "/stomp"));
}

/* Drain what the server wrote, as the io server would: flush, then run the STOMP tick
 * whenever its deadline is due (the writable notification of queue flow control). */
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

static cli *open_cli(tenv *t, int i, const char *extra) {
  cli *c = &t->c[i];
  if (c->s) wsref_session_free(c->s);
  wsref_buf_reset(&c->in);
  c->s = wsref_session_new_server(t->reg, &t->so, NULL, "127.0.0.1:5000", t->now);
  assert_non_null(c->s);
  char req[1024];
  size_t n = peer_request(req, "/stomp", extra);
  wsref_session_recv(c->s, (uint8_t *)req, n, t->now);
  pump(t, c);
  const char *in = str(&c->in);
  assert_true(strncmp(in, "HTTP/1.1 101", 12) == 0);
  const char *end = strstr(in, "\r\n\r\n");
  wsref_buf_consume(&c->in, (size_t)(end + 4 - in));
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

static void sendf(tenv *t, cli *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* A frame from a format; the NUL that ends it is added. */
static void sendf(tenv *t, cli *c, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  assert_true(n > 0 && (size_t)n < sizeof buf);
  send_msg(t, c, 1, buf, (size_t)n + 1);
}

static bool next_msg(tenv *t, cli *c, unsigned *op, wsref_buf *payload) {
  pump(t, c);
  size_t n = wsref_buf_len(&c->in);
  if (!n) return false;
  peer_parsed pf;
  uint8_t *tmp = malloc(n);
  assert_non_null(tmp);
  size_t used = peer_parse(wsref_buf_head(&c->in), n, &pf, tmp, n);
  assert_true(used > 0);
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

/* Expected frame from a format (its NUL added). */
static void expectf(tenv *t, cli *c, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void expectf(tenv *t, cli *c, const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  expect_msg(t, c, 1, buf, (size_t)n + 1);
}

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

static void expect_error(tenv *t, cli *c, const char *msg, unsigned close_code) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op = 0;
  assert_true(next_msg(t, c, &op, &got));
  const char *s = str(&got);
  char want[512];
  snprintf(want, sizeof want, "ERROR\nmessage:%s\n", msg);
  if (strncmp(s, want, strlen(want)) != 0) {
    print_error("expected [%s] got [%s]\n", want, s);
    fail();
  }
  wsref_buf_free(&got);
  expect_close(t, c, close_code);
}

/* Connect with accept-version ver and optional login; CONNECTED is consumed. */
static cli *connect_cli(tenv *t, int i, const char *ver, const char *login) {
  cli *c = open_cli(t, i, NULL);
  char frame[256];
  int n = snprintf(frame, sizeof frame, "CONNECT\naccept-version:%s\nhost:/\n%s%s%s\n", ver,
                   login ? "login:" : "", login ? login : "", login ? "\n" : "");
  send_msg(t, c, 1, frame, (size_t)n + 1);
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op;
  assert_true(next_msg(t, c, &op, &got));
  assert_true(strncmp(str(&got), "CONNECTED\n", 10) == 0);
  wsref_buf_free(&got);
  return c;
}

static cli *conn12(tenv *t, int i) {
  return connect_cli(t, i, "1.2", NULL);
}

static const char *sid(cli *c) {
  return wsref_session_id(c->s);
}

static wsref_stomp_broker_stats stats(tenv *t) {
  wsref_stomp_broker_stats st;
  wsref_stomp_broker_get_stats(t->b, &st);
  return st;
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
  if (t->b) {
    wsref_stomp_broker_stats st = stats(t);
    assert_int_equal(st.connections, 0);
    assert_int_equal(st.subscriptions, 0);
    assert_int_equal(st.unacked, 0);
  }
  wsref_stomp_broker_free(t->b);
  wsref_registry_free(t->reg);
  wsref_buf_free(&t->ev);
  free(t);
  return 0;
}

/* ---- topics ---- */

static void test_topic_versions(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = connect_cli(t, 0, "1.2", NULL);
  cli *b = connect_cli(t, 1, "1.1", NULL);
  cli *c = connect_cli(t, 2, "1.0", NULL);
  cli *p = conn12(t, 3);
  SEND(t, a, "SUBSCRIBE\nid:sub:a\ndestination:/topic/t\n\n\0");
  SEND(t, b, "SUBSCRIBE\nid:sub-b\ndestination:/topic/t\n\n\0");
  SEND(t, c, "SUBSCRIBE\nid:c\ndestination:/topic/t\n\n\0");
  /* SD-03: user headers pass; content-type as sent; receipt/transaction do not. */
  SEND(t, p,
       "SEND\ndestination:/topic/t\ncontent-type:text/plain;charset=utf-8\nx-h:a\\cb\\rc\n"
       "receipt:r\nfoo:World\nfoo:Hello\n\nhello\0");
  EXPECT(t, p, "RECEIPT\nreceipt-id:r\n\n\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:sub\\ca\nmessage-id:1\ndestination:/topic/t\n"
         "content-type:text/plain;charset=utf-8\nx-h:a\\cb\\rc\nfoo:World\nfoo:Hello\n"
         "content-length:5\n\nhello\0");
  EXPECT(t, b,
         "MESSAGE\nsubscription:sub-b\nmessage-id:2\ndestination:/topic/t\n"
         "content-type:text/plain;charset=utf-8\nx-h:a\\cb\rc\nfoo:World\nfoo:Hello\n"
         "content-length:5\n\nhello\0");
  EXPECT(t, c,
         "MESSAGE\nsubscription:c\nmessage-id:3\ndestination:/topic/t\n"
         "content-type:text/plain;charset=utf-8\nx-h:a:b\rc\nfoo:World\nfoo:Hello\n"
         "content-length:5\n\nhello\0");
  expect_none(t, p);
  wsref_stomp_broker_stats st = stats(t);
  assert_int_equal(st.published, 1);
  assert_int_equal(st.delivered, 3);
}

static void test_topic_fanout_n(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  enum { N = 6 };
  cli *s[N];
  for (int i = 0; i < N; i++) {
    s[i] = conn12(t, i);
    sendf(t, s[i], "SUBSCRIBE\nid:%d\ndestination:/topic/fan\nreceipt:s\n\n", i);
    EXPECT(t, s[i], "RECEIPT\nreceipt-id:s\n\n\0");
  }
  cli *p = conn12(t, N);
  SEND(t, p, "SEND\ndestination:/topic/fan\n\na\0SEND\ndestination:/topic/fan\n\nb\0");
  /* Every subscriber gets both, each delivery with its own message-id (SF-02). */
  for (int i = 0; i < N; i++) {
    expectf(t, s[i],
            "MESSAGE\nsubscription:%d\nmessage-id:%d\ndestination:/topic/fan\n"
            "content-length:1\n\na",
            i, i + 1);
    expectf(t, s[i],
            "MESSAGE\nsubscription:%d\nmessage-id:%d\ndestination:/topic/fan\n"
            "content-length:1\n\nb",
            i, N + i + 1);
    expect_none(t, s[i]);
  }
  assert_int_equal(stats(t).delivered, 2 * N);
}

static void test_topic_fanout_exact_with_nul(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *b = conn12(t, 1), *p = conn12(t, 2);
  SEND(t, a, "SUBSCRIBE\nid:0\ndestination:/topic/n\n\n\0");
  SEND(t, b, "SUBSCRIBE\nid:0\ndestination:/topic/n\n\n\0");
  SEND(t, p, "SEND\ndestination:/topic/n\ncontent-length:3\n\na\0b\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/n\ncontent-length:3\n\na\0b\0");
  EXPECT(t, b,
         "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/topic/n\ncontent-length:3\n\na\0b\0");
  /* Unsubscribed (after its receipt): nothing more for a (SB-08). */
  SEND(t, a, "UNSUBSCRIBE\nid:0\nreceipt:u\n\n\0");
  EXPECT(t, a, "RECEIPT\nreceipt-id:u\n\n\0");
  SEND(t, p, "SEND\ndestination:/topic/n\n\nx\0");
  expect_none(t, a);
  EXPECT(t, b,
         "MESSAGE\nsubscription:0\nmessage-id:3\ndestination:/topic/n\ncontent-length:1\n\nx\0");
  /* A topic without subscribers drops the message; the destination is gone. */
  SEND(t, b, "UNSUBSCRIBE\nid:0\n\n\0");
  SEND(t, p, "SEND\ndestination:/topic/n\n\nlost\0");
  assert_int_equal(stats(t).destinations, 0);
}

/* ---- queues ---- */

static void test_queue_round_robin(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *c[3];
  for (int i = 0; i < 3; i++) {
    c[i] = conn12(t, i);
    sendf(t, c[i], "SUBSCRIBE\nid:q%d\ndestination:/queue/rr\n\n", i);
  }
  cli *p = conn12(t, 3);
  SEND(t, p,
       "SEND\ndestination:/queue/rr\n\nm0\0SEND\ndestination:/queue/rr\n\nm1\0"
       "SEND\ndestination:/queue/rr\n\nm2\0SEND\ndestination:/queue/rr\n\nm3\0"
       "SEND\ndestination:/queue/rr\n\nm4\0SEND\ndestination:/queue/rr\n\nm5\0");
  for (int i = 0; i < 3; i++) {
    expectf(t, c[i],
            "MESSAGE\nsubscription:q%d\nmessage-id:%d\ndestination:/queue/rr\n"
            "content-length:2\n\nm%d",
            i, i + 1, i);
    expectf(t, c[i],
            "MESSAGE\nsubscription:q%d\nmessage-id:%d\ndestination:/queue/rr\n"
            "content-length:2\n\nm%d",
            i, i + 4, i + 3);
    expect_none(t, c[i]);
  }
}

static void test_queue_waits_for_subscriber(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *p = conn12(t, 0);
  SEND(t, p, "SEND\ndestination:/queue/w\n\none\0SEND\ndestination:/queue/w\n\ntwo\0");
  assert_int_equal(stats(t).queued, 2);
  cli *c = conn12(t, 1);
  SEND(t, c, "SUBSCRIBE\nid:0\ndestination:/queue/w\nreceipt:r\n\n\0");
  /* The waiting messages go out while SUBSCRIBE is processed, before its RECEIPT. */
  EXPECT(t, c,
         "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/queue/w\ncontent-length:3\n\none\0");
  EXPECT(t, c,
         "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/queue/w\ncontent-length:3\n\ntwo\0");
  EXPECT(t, c, "RECEIPT\nreceipt-id:r\n\n\0");
  assert_int_equal(stats(t).queued, 0);
}

static void test_ack_client_cumulative(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, a, "SUBSCRIBE\nid:a\ndestination:/queue/c\nack:client\n\n\0");
  SEND(t, p,
       "SEND\ndestination:/queue/c\n\nm1\0SEND\ndestination:/queue/c\n\nm2\0"
       "SEND\ndestination:/queue/c\n\nm3\0");
  for (int i = 1; i <= 3; i++)
    expectf(t, a,
            "MESSAGE\nsubscription:a\nmessage-id:%d\nack:%d\ndestination:/queue/c\n"
            "content-length:2\n\nm%d",
            i, i, i);
  /* AK-05: ACK of 2 covers 1 and 2. */
  SEND(t, a, "ACK\nid:2\nreceipt:k\n\n\0");
  EXPECT(t, a, "RECEIPT\nreceipt-id:k\n\n\0");
  wsref_stomp_broker_stats st = stats(t);
  assert_int_equal(st.acked, 2);
  assert_int_equal(st.unacked, 1);
  /* Unknown or repeated ids are ignored. */
  SEND(t, a, "ACK\nid:1\n\n\0ACK\nid:999\n\n\0ACK\nid:x\n\n\0");
  assert_int_equal(stats(t).acked, 2);
  /* Connection loss: m3 goes to the next subscriber (AK-08). */
  cli *b = conn12(t, 2);
  SEND(t, b, "SUBSCRIBE\nid:b\ndestination:/queue/c\n\n\0");
  expect_none(t, b);
  wsref_session_transport_closed(a->s, WSREF_E_IO, t->now);
  EXPECT(t, b,
         "MESSAGE\nsubscription:b\nmessage-id:4\nredelivered:true\ndestination:/queue/c\n"
         "content-length:2\n\nm3\0");
  assert_int_equal(stats(t).unacked, 0);
  assert_int_equal(stats(t).redelivered, 1);
}

static void test_ack_client_individual(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, a, "SUBSCRIBE\nid:a\ndestination:/queue/i\nack:client-individual\n\n\0");
  SEND(t, p,
       "SEND\ndestination:/queue/i\n\nm1\0SEND\ndestination:/queue/i\n\nm2\0"
       "SEND\ndestination:/queue/i\n\nm3\0");
  for (int i = 1; i <= 3; i++)
    expectf(t, a,
            "MESSAGE\nsubscription:a\nmessage-id:%d\nack:%d\ndestination:/queue/i\n"
            "content-length:2\n\nm%d",
            i, i, i);
  /* AK-06: not cumulative. */
  SEND(t, a, "ACK\nid:2\n\n\0");
  assert_int_equal(stats(t).acked, 1);
  assert_int_equal(stats(t).unacked, 2);
  /* UNSUBSCRIBE: m1 and m3 back to the queue, in order, for the next subscriber. */
  SEND(t, a, "UNSUBSCRIBE\nid:a\n\n\0");
  assert_int_equal(stats(t).queued, 2);
  cli *b = conn12(t, 2);
  SEND(t, b, "SUBSCRIBE\nid:b\ndestination:/queue/i\nack:client-individual\n\n\0");
  EXPECT(t, b,
         "MESSAGE\nsubscription:b\nmessage-id:4\nack:4\nredelivered:true\n"
         "destination:/queue/i\ncontent-length:2\n\nm1\0");
  EXPECT(t, b,
         "MESSAGE\nsubscription:b\nmessage-id:5\nack:5\nredelivered:true\n"
         "destination:/queue/i\ncontent-length:2\n\nm3\0");
  SEND(t, b, "ACK\nid:5\n\n\0ACK\nid:4\n\n\0");
  assert_int_equal(stats(t).acked, 3);
  assert_int_equal(stats(t).unacked, 0);
}

static void test_nack_redelivers_to_next(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *b = conn12(t, 1), *p = conn12(t, 2);
  SEND(t, a, "SUBSCRIBE\nid:a\ndestination:/queue/n\nack:client-individual\n\n\0");
  SEND(t, b, "SUBSCRIBE\nid:b\ndestination:/queue/n\nack:client-individual\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/n\n\nm\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:a\nmessage-id:1\nack:1\ndestination:/queue/"
         "n\ncontent-length:1\n\nm\0");
  SEND(t, a, "NACK\nid:1\n\n\0");
  EXPECT(t, b,
         "MESSAGE\nsubscription:b\nmessage-id:2\nack:2\nredelivered:true\n"
         "destination:/queue/n\ncontent-length:1\n\nm\0");
  expect_none(t, a);
  /* Client mode NACK covers every earlier unacked message too (AK-07). */
  SEND(t, b, "UNSUBSCRIBE\nid:b\n\n\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:a\nmessage-id:3\nack:3\nredelivered:true\n"
         "destination:/queue/n\ncontent-length:1\n\nm\0");
  SEND(t, a, "ACK\nid:3\n\n\0");
  assert_int_equal(stats(t).acked, 1);
}

static void test_disconnect_releases_after_flush(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *b = conn12(t, 1), *p = conn12(t, 2);
  SEND(t, a, "SUBSCRIBE\nid:a\ndestination:/queue/d\nack:client-individual\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/d\n\nm\0");
  SEND(t, b, "SUBSCRIBE\nid:b\ndestination:/queue/d\nack:client-individual\n\n\0");
  /* The MESSAGE for a is still unsent when a says DISCONNECT: b gets nothing while a's
   * output can still carry it, so the message is never with two consumers at once. */
  SEND(t, a, "DISCONNECT\nreceipt:bye\n\n\0");
  expect_none(t, b);
  assert_int_equal(stats(t).unacked, 1);
  EXPECT(t, a,
         "MESSAGE\nsubscription:a\nmessage-id:1\nack:1\ndestination:/queue/"
         "d\ncontent-length:1\n\nm\0");
  EXPECT(t, a, "RECEIPT\nreceipt-id:bye\n\n\0");
  expect_close(t, a, 1000);
  /* Written: a is gone, b gets it again. */
  EXPECT(t, b,
         "MESSAGE\nsubscription:b\nmessage-id:2\nack:2\nredelivered:true\ndestination:/queue/d\n"
         "content-length:1\n\nm\0");
  SEND(t, b, "ACK\nid:2\n\n\0");
}

static void test_ack_v11_v10(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = connect_cli(t, 0, "1.1", NULL), *z = connect_cli(t, 1, "1.0", NULL), *p = conn12(t, 2);
  SEND(t, a, "SUBSCRIBE\nid:s1\ndestination:/queue/v\nack:client\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/v\n\nx\0");
  /* 1.1: no ack header on MESSAGE; ACK names message-id and subscription (AK-02). */
  EXPECT(t, a,
         "MESSAGE\nsubscription:s1\nmessage-id:1\ndestination:/queue/v\ncontent-length:1\n\nx\0");
  SEND(t, a, "ACK\nmessage-id:1\nsubscription:other\n\n\0");
  assert_int_equal(stats(t).acked, 0);
  SEND(t, a, "ACK\nmessage-id:1\nsubscription:s1\n\n\0");
  assert_int_equal(stats(t).acked, 1);
  SEND(t, a, "UNSUBSCRIBE\nid:s1\n\n\0");
  /* 1.0: SUBSCRIBE without id, ACK by message-id (AK-03), UNSUBSCRIBE by destination. */
  SEND(t, z, "SUBSCRIBE\ndestination:/queue/v\nack:client\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/v\n\ny\0");
  EXPECT(t, z, "MESSAGE\nmessage-id:2\ndestination:/queue/v\ncontent-length:1\n\ny\0");
  SEND(t, z, "ACK\nmessage-id:2\n\n\0");
  assert_int_equal(stats(t).acked, 2);
  SEND(t, z, "UNSUBSCRIBE\ndestination:/queue/v\nreceipt:u\n\n\0");
  EXPECT(t, z, "RECEIPT\nreceipt-id:u\n\n\0");
  assert_int_equal(stats(t).subscriptions, 0);
}

static void test_prefetch_limits_unacked(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *a = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, a,
       "SUBSCRIBE\nid:a\ndestination:/queue/pf\nack:client-individual\nprefetch-count:1\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/pf\n\n1\0SEND\ndestination:/queue/pf\n\n2\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:a\nmessage-id:1\nack:1\ndestination:/queue/"
         "pf\ncontent-length:1\n\n1\0");
  expect_none(t, a);
  assert_int_equal(stats(t).queued, 1);
  SEND(t, a, "ACK\nid:1\n\n\0");
  EXPECT(t, a,
         "MESSAGE\nsubscription:a\nmessage-id:2\nack:2\ndestination:/queue/"
         "pf\ncontent-length:1\n\n2\0");
  SEND(t, a, "ACK\nid:2\n\n\0");
}

/* Minimal MESSAGE reader for the counting test: ack value and body. */
static bool read_message(tenv *t, cli *c, unsigned long *ack, char *body, size_t cap) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op;
  if (!next_msg(t, c, &op, &got)) {
    wsref_buf_free(&got);
    return false;
  }
  const char *s = str(&got);
  if (strncmp(s, "MESSAGE\n", 8) != 0) print_error("op %u [%s]\n", op, s);
  assert_true(strncmp(s, "MESSAGE\n", 8) == 0);
  const char *a = strstr(s, "\nack:");
  assert_non_null(a);
  *ack = strtoul(a + 5, NULL, 10);
  const char *b = strstr(s, "\n\n");
  snprintf(body, cap, "%s", b + 2);
  wsref_buf_free(&got);
  return true;
}

static uint64_t prng(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static void test_no_loss_no_duplicate(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  enum { MSGS = 300, CONS = 4 };
  int acked[MSGS] = {0};
  uint64_t seed = 42;
  cli *p = conn12(t, CONS);
  int sent = 0;
  /* Consumers 0..3 subscribe with client-individual acks; they ack most of what they get,
   * and some disconnect mid-stream (DISCONNECT, or the transport just dies) and come back. */
  for (int i = 0; i < CONS; i++) {
    conn12(t, i);
    SEND(t, &t->c[i], "SUBSCRIBE\nid:s\ndestination:/queue/count\nack:client-individual\n\n\0");
  }
  for (int round = 0; round < 200; round++) {
    for (int k = 0; k < 3 && sent < MSGS; k++)
      sendf(t, p, "SEND\ndestination:/queue/count\n\n%d", sent++);
    for (int i = 0; i < CONS; i++) {
      cli *c = &t->c[i];
      unsigned long ack;
      char body[32];
      while (read_message(t, c, &ack, body, sizeof body)) {
        int m = atoi(body);
        assert_true(m >= 0 && m < MSGS);
        assert_int_equal(acked[m], 0); /* never delivered again once acknowledged */
        if (prng(&seed) % 4) {
          sendf(t, c, "ACK\nid:%lu\n\n", ack);
          acked[m]++;
        }
      }
      uint64_t r = prng(&seed) % 20;
      if (r == 0) {
        SEND(t, c, "DISCONNECT\nreceipt:d\n\n\0");
      } else if (r == 1) {
        wsref_session_transport_closed(c->s, WSREF_E_IO, t->now);
      } else {
        continue;
      }
      conn12(t, i);
      SEND(t, c, "SUBSCRIBE\nid:s\ndestination:/queue/count\nack:client-individual\n\n\0");
    }
  }
  /* A last consumer acks everything that is left. */
  for (int i = 0; i < CONS; i++) wsref_session_transport_closed(t->c[i].s, WSREF_E_IO, t->now);
  cli *last = conn12(t, 0);
  SEND(t, last, "SUBSCRIBE\nid:s\ndestination:/queue/count\nack:client-individual\n\n\0");
  unsigned long ack;
  char body[32];
  while (read_message(t, last, &ack, body, sizeof body)) {
    int m = atoi(body);
    assert_int_equal(acked[m], 0);
    sendf(t, last, "ACK\nid:%lu\n\n", ack);
    acked[m]++;
  }
  for (int m = 0; m < MSGS; m++) assert_int_equal(acked[m], 1);
  wsref_stomp_broker_stats st = stats(t);
  assert_int_equal(st.acked, MSGS);
  assert_int_equal(st.queued, 0);
  assert_int_equal(st.unacked, 0);
  assert_true(st.redelivered > 0);
}

static void full_queue(wsref_stomp_broker_options *o) {
  o->max_queue_messages = 2;
}

static void test_queue_full(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, full_queue);
  cli *p = conn12(t, 0);
  SEND(t, p,
       "SEND\ndestination:/queue/f\n\n1\0SEND\ndestination:/queue/f\n\n2\0"
       "SEND\ndestination:/queue/f\n\n3\0");
  expect_error(t, p, "Queue '/queue/f' is full", 1008);
  /* The two accepted ones wait for a consumer. */
  cli *c = conn12(t, 1);
  SEND(t, c, "SUBSCRIBE\nid:0\ndestination:/queue/f\n\n\0");
  EXPECT(t, c,
         "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/queue/f\ncontent-length:1\n\n1\0");
  EXPECT(t, c,
         "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/queue/f\ncontent-length:1\n\n2\0");
}

/* ---- slow consumer ---- */

static void small_sendbuf(wsref_stomp_broker_options *o) {
  o->server.send_buffer_limit = 400;
}

/* Read every MESSAGE c has, counting bodies "message NN" in seen[]. */
static void count_bodies(tenv *t, cli *c, int *seen, int n) {
  wsref_buf got = WSREF_BUF_INIT;
  unsigned op;
  while (next_msg(t, c, &op, &got)) {
    const char *s = str(&got);
    const char *m = strstr(s, "\n\nmessage ");
    assert_non_null(m);
    int i = atoi(m + 10);
    assert_true(i >= 0 && i < n);
    seen[i]++;
  }
  wsref_buf_free(&got);
}

static void test_queue_flow_control(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, small_sendbuf);
  cli *p = conn12(t, 1);
  for (int i = 0; i < 20; i++) sendf(t, p, "SEND\ndestination:/queue/slow\n\nmessage %02d", i);
  /* slow never reads (no pump): it gets what fits below the high-water mark (200 octets
   * here), the rest waits; the backlog never gets it closed. */
  cli *slow = conn12(t, 0);
  SEND(t, slow, "SUBSCRIBE\nid:s\ndestination:/queue/slow\nack:client-individual\n\n\0");
  wsref_stomp_broker_stats st = stats(t);
  assert_int_equal(st.unacked, 3);
  assert_int_equal(st.queued, 17);
  assert_non_null(wsref_stomp_conn_of(slow->s));
  /* A consumer that reads gets the rest, as its output drains. */
  cli *c = conn12(t, 2);
  SEND(t, c, "SUBSCRIBE\nid:c\ndestination:/queue/slow\n\n\0");
  int seen[20] = {0};
  count_bodies(t, c, seen, 20);
  assert_int_equal(stats(t).queued, 0);
  /* slow goes away: its three come back to c, and nothing was lost or doubled. */
  wsref_session_transport_closed(slow->s, WSREF_E_IO, t->now);
  count_bodies(t, c, seen, 20);
  for (int i = 0; i < 20; i++) assert_int_equal(seen[i], 1);
  assert_int_equal(stats(t).redelivered, 3);
}

static void flow_opts(wsref_stomp_broker_options *o) {
  o->server.send_buffer_limit = 400;
  o->queue_flow_high = 4;
}

static void test_producer_flow_control(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, flow_opts);
  cli *c = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, c, "SUBSCRIBE\nid:c\ndestination:/queue/fc\n\n\0");
  /* c does not read: it takes 3 (high-water mark), the queue fills; beyond 4 waiting, the
   * publisher's receipts wait, in order. */
  for (int i = 0; i < 10; i++)
    sendf(t, p, "SEND\ndestination:/queue/fc\nreceipt:%d\n\nmessage %02d", i, i);
  for (int i = 0; i < 7; i++) expectf(t, p, "RECEIPT\nreceipt-id:%d\n\n", i);
  expect_none(t, p);
  assert_int_equal(stats(t).queued, 7);
  /* c reads: the queue drains, the receipts follow. */
  int seen[10] = {0};
  count_bodies(t, c, seen, 10);
  for (int i = 7; i < 10; i++) expectf(t, p, "RECEIPT\nreceipt-id:%d\n\n", i);
  for (int i = 0; i < 10; i++) assert_int_equal(seen[i], 1);
  /* A queue nobody consumes does not hold anyone back. */
  for (int i = 0; i < 10; i++) sendf(t, p, "SEND\ndestination:/queue/idle\nreceipt:x%d\n\nm", i);
  for (int i = 0; i < 10; i++) expectf(t, p, "RECEIPT\nreceipt-id:x%d\n\n", i);
}

static void test_slow_topic_consumer_closed(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, small_sendbuf);
  cli *slow = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, slow,
       "SUBSCRIBE\nid:t\ndestination:/topic/fast\n\n\0"
       "SUBSCRIBE\nid:q\ndestination:/queue/keep\nack:client\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/keep\n\nmessage 00\0");
  assert_int_equal(stats(t).unacked, 1);
  /* Topic messages go out at once: a client that does not read is closed with 4500
   * (Spring's ConcurrentWebSocketSessionDecorator), its unacked queue message requeued. */
  int sent = 0;
  while (sent < 20 && wsref_stomp_conn_of(slow->s))
    sendf(t, p, "SEND\ndestination:/topic/fast\n\nmessage %02d", sent++);
  assert_null(wsref_stomp_conn_of(slow->s));
  assert_int_equal(stats(t).connections, 1);
  assert_int_equal(stats(t).queued, 1);
  pump(t, slow);
  size_t n = wsref_buf_len(&slow->in);
  assert_true(n >= 4);
  assert_memory_equal(wsref_buf_head(&slow->in) + n - 4, "\x88\x02\x11\x94", 4);
  cli *c = conn12(t, 2);
  SEND(t, c, "SUBSCRIBE\nid:c\ndestination:/queue/keep\n\n\0");
  expectf(t, c,
          "MESSAGE\nsubscription:c\nmessage-id:%d\nredelivered:true\ndestination:/queue/keep\n"
          "content-length:10\n\nmessage 00",
          sent + 2);
}

/* ---- transactions ---- */

static void test_transactions(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *s = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, s, "SUBSCRIBE\nid:0\ndestination:/topic/tx\n\n\0");
  SEND(t, p,
       "BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/topic/tx\ntransaction:t1\nreceipt:r\n\na\0"
       "SEND\ndestination:/topic/tx\ntransaction:t1\n\nb\0");
  EXPECT(t, p, "RECEIPT\nreceipt-id:r\n\n\0");
  expect_none(t, s); /* TX-04: invisible until COMMIT */
  SEND(t, p, "COMMIT\ntransaction:t1\nreceipt:c\n\n\0");
  EXPECT(t, s,
         "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/tx\ncontent-length:1\n\na\0");
  EXPECT(t, s,
         "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/topic/tx\ncontent-length:1\n\nb\0");
  EXPECT(t, p, "RECEIPT\nreceipt-id:c\n\n\0");
  /* ABORT drops. */
  SEND(t, p,
       "BEGIN\ntransaction:t2\n\n\0SEND\ndestination:/topic/tx\ntransaction:t2\n\nc\0"
       "ABORT\ntransaction:t2\n\n\0");
  expect_none(t, s);
  /* The id is free again after COMMIT/ABORT. */
  SEND(t, p, "BEGIN\ntransaction:t1\n\n\0SEND\ndestination:/topic/tx\ntransaction:t1\n\nd\0");
  /* TX-05: connection loss aborts it. */
  wsref_session_transport_closed(p->s, WSREF_E_IO, t->now);
  expect_none(t, s);
}

static void test_transaction_acks(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *s = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, s, "SUBSCRIBE\nid:0\ndestination:/queue/ta\nack:client-individual\n\n\0");
  SEND(t, p, "SEND\ndestination:/queue/ta\n\nx\0");
  EXPECT(t, s,
         "MESSAGE\nsubscription:0\nmessage-id:1\nack:1\ndestination:/queue/"
         "ta\ncontent-length:1\n\nx\0");
  /* AK-09: the ACK takes effect at COMMIT; aborted, the message is still unacked. */
  SEND(t, s, "BEGIN\ntransaction:a\n\n\0ACK\nid:1\ntransaction:a\n\n\0ABORT\ntransaction:a\n\n\0");
  assert_int_equal(stats(t).unacked, 1);
  SEND(t, s, "BEGIN\ntransaction:b\n\n\0ACK\nid:1\ntransaction:b\n\n\0");
  assert_int_equal(stats(t).unacked, 1);
  SEND(t, s, "COMMIT\ntransaction:b\n\n\0");
  assert_int_equal(stats(t).unacked, 0);
  assert_int_equal(stats(t).acked, 1);
}

static void test_transaction_errors(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  static const struct {
    const char *frames;
    size_t len;
    const char *error;
  } rows[] = {
#define ROW(f, e) {f, sizeof(f) - 1, e}
      ROW("COMMIT\ntransaction:nope\n\n\0", "Unknown transaction 'nope'"),
      ROW("ABORT\ntransaction:nope\n\n\0", "Unknown transaction 'nope'"),
      ROW("BEGIN\ntransaction:x\n\n\0BEGIN\ntransaction:x\n\n\0", "Transaction 'x' already exists"),
      ROW("SEND\ndestination:/topic/a\ntransaction:q\n\n\0", "Unknown transaction 'q'"),
      ROW("BEGIN\ntransaction:x\n\n\0SEND\ndestination:/nowhere\ntransaction:x\n\n\0",
          "Unknown destination '/nowhere'"),
#undef ROW
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    cli *c = conn12(t, 0);
    send_msg(t, c, 1, rows[i].frames, rows[i].len);
    unsigned code = strstr(rows[i].error, "destination") ? 1008 : 1002;
    expect_error(t, c, rows[i].error, code);
  }
}

/* ---- subscriptions: errors ---- */

static void test_subscribe_errors(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  static const struct {
    const char *frames;
    size_t len;
    const char *error;
    unsigned code;
  } rows[] = {
#define ROW(f, e, c) {f, sizeof(f) - 1, e, c}
      ROW("SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/b\n\n\0",
          "Duplicate subscription id '0'", 1002),
      ROW("SUBSCRIBE\nid:0\ndestination:/foo\n\n\0", "Unknown destination '/foo'", 1008),
      ROW("SUBSCRIBE\nid:0\ndestination:/topic\n\n\0", "Unknown destination '/topic'", 1008),
      ROW("SUBSCRIBE\nid:0\ndestination:/topicx/a\n\n\0", "Unknown destination '/topicx/a'", 1008),
      ROW("SUBSCRIBE\nid:0\ndestination:/app/x\n\n\0",
          "Cannot subscribe to application destination '/app/x'", 1008),
      ROW("UNSUBSCRIBE\nid:7\n\n\0", "No subscription with id '7'", 1002),
      ROW("SEND\ndestination:/bar\n\n\0", "Unknown destination '/bar'", 1008),
      ROW("SEND\ndestination:/app/none\n\n\0", "No handler for destination '/app/none'", 1008),
#undef ROW
  };
  for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
    cli *c = conn12(t, 0);
    send_msg(t, c, 1, rows[i].frames, rows[i].len);
    print_message("# row %zu\n", i);
    expect_error(t, c, rows[i].error, rows[i].code);
  }
  assert_int_equal(stats(t).destinations, 0);
}

static void few_subs(wsref_stomp_broker_options *o) {
  o->max_subscriptions = 2;
}

static void test_subscription_limit(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, few_subs);
  cli *c = conn12(t, 0);
  SEND(t, c,
       "SUBSCRIBE\nid:0\ndestination:/topic/a\n\n\0SUBSCRIBE\nid:1\ndestination:/topic/b\n\n\0"
       "SUBSCRIBE\nid:2\ndestination:/topic/c\n\n\0");
  expect_error(t, c, "Too many subscriptions (limit 2)", 1008);
  assert_int_equal(stats(t).subscriptions, 0);
}

/* ---- application destinations, template, users ---- */

static int on_hello(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                    const wsref_stomp_frame *f, void *ud) {
  tenv *t = ud;
  wsref_buf_appendf(&t->ev, "hello %s from %s\n", dest, c ? wsref_stomp_conn_id(c) : "template");
  char reply[64];
  int n = snprintf(reply, sizeof reply, "Hello, %.*s!", (int)f->body_len, (const char *)f->body);
  wsref_stomp_header h = {"content-type", 12, "text/plain", 10};
  return wsref_template_send(b, "/topic/greetings", &h, 1, reply, (size_t)n);
}

static int on_fail(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                   const wsref_stomp_frame *f, void *ud) {
  (void)b;
  (void)dest;
  (void)f;
  (void)ud;
  if (c) wsref_stomp_conn_set_error(c, "Not today");
  return WSREF_E_HANDLER;
}

static void test_app_handler(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  assert_int_equal(wsref_stomp_broker_add_handler(t->b, "/hello", on_hello, t), 0);
  assert_int_equal(wsref_stomp_broker_add_handler(t->b, "/hello", on_hello, t),
                   WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_stomp_broker_add_handler(t->b, "/fail", on_fail, t), 0);
  cli *s = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, s, "SUBSCRIBE\nid:g\ndestination:/topic/greetings\n\n\0");
  SEND(t, p, "SEND\ndestination:/app/hello\nreceipt:r\n\nWorld\0");
  EXPECT(t, s,
         "MESSAGE\nsubscription:g\nmessage-id:1\ndestination:/topic/greetings\n"
         "content-type:text/plain\ncontent-length:13\n\nHello, World!\0");
  EXPECT(t, p, "RECEIPT\nreceipt-id:r\n\n\0");
  char want[128];
  snprintf(want, sizeof want, "hello /hello from %s\n", sid(p));
  assert_string_equal(str(&t->ev), want);
  /* The template reaches handlers too. */
  assert_int_equal(wsref_template_send(t->b, "/app/hello", NULL, 0, "T", 1), 0);
  EXPECT(t, s,
         "MESSAGE\nsubscription:g\nmessage-id:2\ndestination:/topic/greetings\n"
         "content-type:text/plain\ncontent-length:9\n\nHello, T!\0");
  /* A failing handler answers with ERROR. */
  SEND(t, p, "SEND\ndestination:/app/fail\n\n\0");
  expect_error(t, p, "Not today", 1008);
}

static void test_template(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *s = conn12(t, 0);
  SEND(t, s,
       "SUBSCRIBE\nid:0\ndestination:/topic/news\n\n\0SUBSCRIBE\nid:1\ndestination:/queue/"
       "jobs\n\n\0");
  wsref_stomp_header h[] = {
      {"priority", 8, "9", 1}, {"destination", 11, "/ignored", 8}, {"receipt", 7, "x", 1}};
  assert_int_equal(wsref_template_send(t->b, "/topic/news", h, 3, "extra", 5), 0);
  EXPECT(t, s,
         "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/topic/news\npriority:9\n"
         "content-length:5\n\nextra\0");
  assert_int_equal(wsref_template_send(t->b, "/queue/jobs", NULL, 0, NULL, 0), 0);
  EXPECT(t, s, "MESSAGE\nsubscription:1\nmessage-id:2\ndestination:/queue/jobs\n\n\0");
  assert_int_equal(wsref_template_send(t->b, "/elsewhere", NULL, 0, "x", 1), WSREF_E_INVALID_ARG);
}

static int user_interceptor(const wsref_http_request *req, const char *remote, wsref_attrs *attrs,
                            wsref_reject *reject, void *ud) {
  (void)req;
  (void)remote;
  (void)reject;
  (void)ud;
  return wsref_attrs_set(attrs, "user", "carol");
}

static void test_user_destinations(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  cli *j1 = connect_cli(t, 0, "1.2", "joe"), *j2 = connect_cli(t, 1, "1.2", "joe");
  cli *other = connect_cli(t, 2, "1.2", "ann");
  SEND(t, j1, "SUBSCRIBE\nid:u1\ndestination:/user/queue/reply\n\n\0");
  SEND(t, j2, "SUBSCRIBE\nid:u2\ndestination:/user/queue/reply\n\n\0");
  SEND(t, other, "SUBSCRIBE\nid:u3\ndestination:/user/queue/reply\n\n\0");
  /* To every session of joe, shown as /user/queue/reply. */
  SEND(t, other, "SEND\ndestination:/user/joe/queue/reply\n\nhi joe\0");
  EXPECT(t, j2,
         "MESSAGE\nsubscription:u2\nmessage-id:1\ndestination:/user/queue/"
         "reply\ncontent-length:6\n\nhi joe\0");
  EXPECT(t, j1,
         "MESSAGE\nsubscription:u1\nmessage-id:2\ndestination:/user/queue/"
         "reply\ncontent-length:6\n\nhi joe\0");
  expect_none(t, other);
  assert_int_equal(wsref_template_send_to_user(t->b, "ann", "/queue/reply", NULL, 0, "hi ann", 6),
                   0);
  EXPECT(t, other,
         "MESSAGE\nsubscription:u3\nmessage-id:3\ndestination:/user/queue/"
         "reply\ncontent-length:6\n\nhi ann\0");
  expect_none(t, j1);
  /* Nobody by that name: dropped. */
  assert_int_equal(wsref_template_send_to_user(t->b, "zed", "/queue/reply", NULL, 0, "x", 1), 0);
  /* The resolved name is a per-session destination. */
  char name[128];
  snprintf(name, sizeof name, "/queue/reply-user%s", sid(j1));
  assert_int_equal(wsref_template_send(t->b, name, NULL, 0, "direct", 6), 0);
  EXPECT(t, j1,
         "MESSAGE\nsubscription:u1\nmessage-id:4\ndestination:/user/queue/"
         "reply\ncontent-length:6\n\ndirect\0");
  /* User from a handshake interceptor (session attribute). */
  wsref_registry_free(t->reg);
  t->reg = wsref_registry_new();
  wsref_registration *r = wsref_stomp_broker_register(t->b, t->reg, "/stomp");
  wsref_interceptor ic = {user_interceptor, NULL, NULL};
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), 0);
  cli *carol = conn12(t, 3);
  assert_string_equal(wsref_stomp_conn_user(wsref_stomp_conn_of(carol->s)), "carol");
  SEND(t, carol, "SUBSCRIBE\nid:c\ndestination:/user/topic/alerts\n\n\0");
  assert_int_equal(wsref_template_send_to_user(t->b, "carol", "/topic/alerts", NULL, 0, "!", 1), 0);
  EXPECT(t, carol,
         "MESSAGE\nsubscription:c\nmessage-id:5\ndestination:/user/topic/"
         "alerts\ncontent-length:1\n\n!\0");
  /* Sessions leave: their user destinations go with them. */
  for (int i = 0; i < 4; i++) wsref_session_transport_closed(t->c[i].s, WSREF_E_IO, t->now);
  assert_int_equal(stats(t).destinations, 0);
}

/* ---- interceptors on the broker's traffic ---- */

static const wsref_stomp_frame *pass(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                     enum wsref_stomp_channel ch, void *ud) {
  (void)c;
  (void)ch;
  (void)ud;
  return f;
}

/* The same traffic with and without an outbound interceptor: the per-subscriber frame
 * (slow path) must match the encode-once bytes. */
static void run_mixed(tenv *t, enum wsref_stomp_profile p, bool intercept, wsref_buf *out) {
  start(t, p, NULL);
  if (intercept) {
    wsref_stomp_interceptor ic = {pass, NULL, NULL, NULL};
    assert_int_equal(wsref_stomp_broker_add_interceptor(t->b, WSREF_STOMP_OUTBOUND, &ic), 0);
  }
  static const char *versions[] = {"1.0", "1.1", "1.2"};
  for (int i = 0; i < 3; i++) {
    connect_cli(t, i, versions[i], "u");
    SEND(t, &t->c[i],
         "SUBSCRIBE\nid:s:1\ndestination:/topic/m\nack:client\n\n\0"
         "SUBSCRIBE\nid:q\ndestination:/queue/m\nack:client-individual\n\n\0"
         "SUBSCRIBE\nid:u\ndestination:/user/queue/m\n\n\0");
  }
  cli *pub = conn12(t, 3);
  SEND(t, pub,
       "SEND\ndestination:/topic/m\ncontent-type:application/json; charset=UTF-8\na\\cb:c\\nd\n"
       "x:1\nx:2\ncontent-length:4\nreceipt:r\n\nab\0c\0"
       "SEND\ndestination:/queue/m\n\nq1\0SEND\ndestination:/queue/m\n\nq2\0"
       "SEND\ndestination:/user/u/queue/m\n\n\xc3\xa9\0");
  /* Not UTF-8: a binary WebSocket message carries it. */
  static const char bin[] =
      "SEND\ndestination:/topic/m\ncontent-type:application/octet-stream\n\n\xff\xfe";
  send_msg(t, pub, 2, bin, sizeof bin);
  for (int i = 0; i < 4; i++) {
    wsref_buf got = WSREF_BUF_INIT;
    unsigned op;
    while (next_msg(t, &t->c[i], &op, &got)) {
      wsref_buf_appendf(out, "%d op%u ", i, op);
      /* Session ids differ between runs: show them as <i>. */
      const char *id = sid(&t->c[i]);
      size_t idn = strlen(id), n = wsref_buf_len(&got);
      const uint8_t *g = wsref_buf_head(&got);
      for (size_t k = 0; k < n;) {
        if (k + idn <= n && memcmp(g + k, id, idn) == 0) {
          wsref_buf_appendf(out, "<%d>", i);
          k += idn;
        } else {
          put_esc(out, g + k, 1);
          k++;
        }
      }
      wsref_buf_appendf(out, "\n");
    }
    wsref_buf_free(&got);
  }
  for (int i = 0; i < 4; i++) {
    wsref_session_free(t->c[i].s);
    t->c[i].s = NULL;
    wsref_buf_reset(&t->c[i].in);
  }
  wsref_stomp_broker_free(t->b);
  t->b = NULL;
  wsref_registry_free(t->reg);
  t->reg = NULL;
}

static void test_encode_once_matches_frames(void **state) {
  tenv *t = *state;
  for (int p = 0; p < 2; p++) {
    wsref_buf fast = WSREF_BUF_INIT, slow = WSREF_BUF_INIT;
    run_mixed(t, (enum wsref_stomp_profile)p, false, &fast);
    run_mixed(t, (enum wsref_stomp_profile)p, true, &slow);
    if (wsref_buf_len(&fast) <= 500) print_error("%s\n", str(&fast));
    assert_true(wsref_buf_len(&fast) > 500);
    if (wsref_buf_len(&fast) != wsref_buf_len(&slow) ||
        memcmp(wsref_buf_head(&fast), wsref_buf_head(&slow), wsref_buf_len(&fast)) != 0) {
      FILE *f1 = fopen("/tmp/stomp_fast.txt", "w"), *f2 = fopen("/tmp/stomp_slow.txt", "w");
      if (f1) fputs(str(&fast), f1);
      if (f2) fputs(str(&slow), f2);
      if (f1) fclose(f1);
      if (f2) fclose(f2);
      print_error("fast and slow paths differ: /tmp/stomp_fast.txt /tmp/stomp_slow.txt\n");
      fail();
    }
    if (getenv("SHOW")) print_message("%s\n", str(&fast));
    if (p == 0) {
      /* Spot checks of the spec bytes: 1.0 unescaped, 1.1 without CR escapes, binary
       * message for a body that is not UTF-8. */
      const char *s = str(&fast);
      assert_non_null(
          strstr(s,
                 "0 op1 MESSAGE\\nsubscription:s:1\\nmessage-id:1\\ndestination:/topic/m\\n"
                 "content-type:application/json; charset=UTF-8\\nx:1\\nx:2\\n"
                 "content-length:4\\n\\nab\\0c\\0\n"));
      /* (the transcript shows a backslash as \x5c) */
      assert_non_null(strstr(s,
                             "2 op1 MESSAGE\\nsubscription:s\\x5cc1\\nmessage-id:3\\nack:3\\n"
                             "destination:/topic/m\\ncontent-type:application/json; "
                             "charset=UTF-8\\na\\x5ccb:c\\x5cnd\\nx:1\\nx:2\\n"));
      assert_non_null(strstr(s,
                             "1 op1 MESSAGE\\nsubscription:s\\x5cc1\\nmessage-id:2\\n"
                             "destination:/topic/m\\n"));
      assert_non_null(strstr(s, "op2 MESSAGE"));
    }
    wsref_buf_free(&fast);
    wsref_buf_free(&slow);
  }
}

static const wsref_stomp_frame *drop_for_b(wsref_stomp_conn *c, const wsref_stomp_frame *f,
                                           enum wsref_stomp_channel ch, void *ud) {
  tenv *t = ud;
  (void)ch;
  if (f->command != WSREF_STOMP_MESSAGE) return f;
  if (strcmp(wsref_stomp_conn_id(c), wsref_session_id(t->c[1].s)) == 0) return NULL;
  /* Others get a header added in front. */
  t->ic_h[0] = (wsref_stomp_header){"x-tag", 5, "1", 1};
  size_t n = f->nheaders < 15 ? f->nheaders : 15;
  memcpy(t->ic_h + 1, f->headers, n * sizeof *f->headers);
  t->ic_f = *f;
  t->ic_f.headers = t->ic_h;
  t->ic_f.nheaders = n + 1;
  return &t->ic_f;
}

static void test_outbound_interceptor(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPEC, NULL);
  wsref_stomp_interceptor ic = {drop_for_b, NULL, NULL, t};
  assert_int_equal(wsref_stomp_broker_add_interceptor(t->b, WSREF_STOMP_OUTBOUND, &ic), 0);
  cli *a = conn12(t, 0), *b = conn12(t, 1), *p = conn12(t, 2);
  SEND(t, a, "SUBSCRIBE\nid:0\ndestination:/topic/o\n\n\0");
  SEND(t, b, "SUBSCRIBE\nid:0\ndestination:/topic/o\n\n\0");
  SEND(t, p, "SEND\ndestination:/topic/o\n\nx\0");
  EXPECT(t, a,
         "MESSAGE\nx-tag:1\nsubscription:0\nmessage-id:1\ndestination:/topic/"
         "o\ncontent-length:1\n\nx\0");
  expect_none(t, b);
}

/* ---- spring profile ---- */

static void test_spring_message_bytes(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *s = conn12(t, 0), *p = conn12(t, 1);
  SEND(t, s, "SUBSCRIBE\nid:sub-0\ndestination:/topic/a\nreceipt:nope\n\n\0");
  expect_none(t, s); /* D3 */
  SEND(t, p, "SEND\ndestination:/topic/a\ncontent-type:text/plain\n\nhello\0");
  expectf(t, s,
          "MESSAGE\ndestination:/topic/a\ncontent-type:text/plain\nsubscription:sub-0\n"
          "message-id:%s-0\ncontent-length:5\n\nhello",
          sid(s));
  /* D10: receipt and other headers copied; MimeType printed Spring's way; repeated
   * headers grouped; content-length recomputed. */
  SEND(t, p,
       "SEND\nfoo:1\ndestination:/topic/a\nreceipt:r1\ncontent-type:Application/JSON; "
       "charset=UTF-8\nbar:2\nfoo:3\ncontent-length:2\n\n{}\0");
  expectf(t, s,
          "MESSAGE\nfoo:1\nfoo:3\ndestination:/topic/a\nreceipt:r1\n"
          "content-type:application/json;charset=UTF-8\nbar:2\nsubscription:sub-0\n"
          "message-id:%s-1\ncontent-length:2\n\n{}",
          sid(s));
  expect_none(t, p);
  /* application/octet-stream goes out as a binary WebSocket message. */
  SEND(t, p, "SEND\ndestination:/topic/a\ncontent-type:application/octet-stream\n\nAB\0");
  char want[256];
  int n = snprintf(want, sizeof want,
                   "MESSAGE\ndestination:/topic/a\ncontent-type:application/octet-stream\n"
                   "subscription:sub-0\nmessage-id:%s-2\ncontent-length:2\n\nAB",
                   sid(s));
  expect_msg(t, s, 2, want, (size_t)n + 1);
}

static void test_spring_simple_broker(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *a = conn12(t, 0), *b = conn12(t, 1), *p = conn12(t, 2);
  /* /queue fans out too; ack modes are ignored (no ack header, ACK ignored). */
  SEND(t, a, "SUBSCRIBE\nid:1\ndestination:/queue/x\nack:client\n\n\0");
  SEND(t, b, "SUBSCRIBE\nid:1\ndestination:/queue/x\n\n\0");
  /* D11: a duplicate id keeps the first subscription; D2: invalid frames ignored. */
  SEND(t, a,
       "SUBSCRIBE\nid:1\ndestination:/topic/other\n\n\0SUBSCRIBE\nid:2\n\n\0"
       "SUBSCRIBE\nid:3\ndestination:/nowhere\n\n\0UNSUBSCRIBE\nid:99\n\n\0");
  SEND(t, p,
       "SEND\ndestination:/queue/x\n\nq\0SEND\ndestination:/topic/other\n\nt\0"
       "SEND\ndestination:/nowhere\n\nn\0SEND\n\nno destination\0"
       "SEND\ndestination:/app/unmapped\n\nz\0BEGIN\ntransaction:t\n\n\0"
       "SEND\ndestination:/queue/x\ntransaction:t\n\nnow\0");
  expectf(t, a,
          "MESSAGE\ndestination:/queue/x\nsubscription:1\nmessage-id:%s-0\ncontent-length:1\n\nq",
          sid(a));
  expectf(t, b,
          "MESSAGE\ndestination:/queue/x\nsubscription:1\nmessage-id:%s-1\ncontent-length:1\n\nq",
          sid(b));
  expectf(t, a,
          "MESSAGE\ndestination:/queue/x\ntransaction:t\nsubscription:1\nmessage-id:%s-2\n"
          "content-length:3\n\nnow",
          sid(a));
  expectf(t, b,
          "MESSAGE\ndestination:/queue/x\ntransaction:t\nsubscription:1\nmessage-id:%s-3\n"
          "content-length:3\n\nnow",
          sid(b));
  expect_none(t, a);
  expect_none(t, b);
  expect_none(t, p);
  SEND(t, a, "ACK\nid:whatever\n\n\0NACK\nid:1\n\n\0");
  expect_none(t, a);
}

static void test_spring_user_destination(void **state) {
  tenv *t = *state;
  start(t, WSREF_STOMP_PROFILE_SPRING, NULL);
  cli *j = open_cli(t, 0, NULL);
  wsref_attrs_set(wsref_session_attributes(j->s), "user", "joe");
  SEND(t, j, "CONNECT\naccept-version:1.2\n\n\0");
  EXPECT(t, j, "CONNECTED\nversion:1.2\nheart-beat:0,0\nuser-name:joe\n\n\0");
  SEND(t, j, "SUBSCRIBE\nid:0\ndestination:/user/queue/q\n\n\0");
  cli *p = conn12(t, 1);
  SEND(t, p, "SEND\ndestination:/user/joe/queue/q\n\nhi\0");
  expectf(
      t, j,
      "MESSAGE\ndestination:/user/queue/q\nsubscription:0\nmessage-id:%s-0\ncontent-length:2\n\nhi",
      sid(j));
  assert_int_equal(wsref_template_send_to_user(t->b, "joe", "/queue/q", NULL, 0, "t", 1), 0);
  expectf(
      t, j,
      "MESSAGE\ndestination:/user/queue/q\nsubscription:0\nmessage-id:%s-1\ncontent-length:1\n\nt",
      sid(j));
}

static void test_options_validation(void **state) {
  (void)state;
  wsref_stomp_broker_options o;
  wsref_stomp_broker_options_default(&o, WSREF_STOMP_PROFILE_SPEC);
  o.broker_prefixes[0] = "topic";
  assert_null(wsref_stomp_broker_new(&o));
  wsref_stomp_broker_options_default(&o, WSREF_STOMP_PROFILE_SPEC);
  o.app_prefixes[0] = "";
  assert_null(wsref_stomp_broker_new(&o));
  wsref_stomp_broker *b = wsref_stomp_broker_new(NULL);
  assert_non_null(b);
  assert_int_equal(wsref_stomp_server_options_of(wsref_stomp_broker_server(b))->profile,
                   WSREF_STOMP_PROFILE_SPEC);
  wsref_stomp_broker_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_topic_versions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_topic_fanout_n, setup, teardown),
      cmocka_unit_test_setup_teardown(test_topic_fanout_exact_with_nul, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_round_robin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_waits_for_subscriber, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_client_cumulative, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_client_individual, setup, teardown),
      cmocka_unit_test_setup_teardown(test_nack_redelivers_to_next, setup, teardown),
      cmocka_unit_test_setup_teardown(test_disconnect_releases_after_flush, setup, teardown),
      cmocka_unit_test_setup_teardown(test_ack_v11_v10, setup, teardown),
      cmocka_unit_test_setup_teardown(test_prefetch_limits_unacked, setup, teardown),
      cmocka_unit_test_setup_teardown(test_no_loss_no_duplicate, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_flow_control, setup, teardown),
      cmocka_unit_test_setup_teardown(test_producer_flow_control, setup, teardown),
      cmocka_unit_test_setup_teardown(test_slow_topic_consumer_closed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transaction_acks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_transaction_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subscribe_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_subscription_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_app_handler, setup, teardown),
      cmocka_unit_test_setup_teardown(test_template, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_destinations, setup, teardown),
      cmocka_unit_test_setup_teardown(test_encode_once_matches_frames, setup, teardown),
      cmocka_unit_test_setup_teardown(test_outbound_interceptor, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_message_bytes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_simple_broker, setup, teardown),
      cmocka_unit_test_setup_teardown(test_spring_user_destination, setup, teardown),
      cmocka_unit_test(test_options_validation),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
