/* Send-limit decorator (reference/session/send_limit.h), Spring's
 * ConcurrentWebSocketSessionDecorator: queueing behind unsent output, buffer limit with both
 * overflow strategies, send time limit, all against a fake clock. */
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
#include "session/send_limit.h"
#include "session/session.h"
#include "support/peer.h"

typedef struct tc {
  wsref_registry *reg;
  wsref_handler h;
  wsref_session *s;
  wsref_send_limit *d;
  wsref_buf out;
  wsref_buf ev;
} tc;

static void cb_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  tc *t = ud;
  (void)s;
  wsref_buf_appendf(&t->ev, "close %u\n", st->code);
}

static int setup(void **state) {
  tc *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->h.on_close = cb_close;
  t->h.ud = t;
  t->reg = wsref_registry_new();
  assert_non_null(wsref_registry_add(t->reg, "/ws", &t->h));
  t->s = wsref_session_new_server(t->reg, NULL, NULL, NULL, 1000);
  assert_non_null(t->s);
  char req[1024];
  size_t n = peer_request(req, "/ws", NULL);
  assert_int_equal(wsref_session_recv(t->s, (uint8_t *)req, n, 1000), 0);
  assert_true(wsref_session_is_open(t->s));
  size_t len;
  const uint8_t *p = wsref_session_output(t->s, &len);
  assert_non_null(p);
  wsref_session_output_done(t->s, len, 1000); /* the 101 */
  *state = t;
  return 0;
}

static int teardown(void **state) {
  tc *t = *state;
  wsref_send_limit_free(t->d);
  wsref_session_free(t->s);
  wsref_registry_free(t->reg);
  wsref_buf_free(&t->out);
  wsref_buf_free(&t->ev);
  free(t);
  return 0;
}

static const char *str(wsref_buf *b) {
  assert_non_null(wsref_buf_reserve(b, 1));
  wsref_buf_head(b)[wsref_buf_len(b)] = 0;
  return (const char *)wsref_buf_head(b);
}

/* The transport writes everything pending at time now (the drain hook may add more). */
static void flush(tc *t, uint64_t now) {
  size_t n;
  const uint8_t *p;
  while ((p = wsref_session_output(t->s, &n)) != NULL) {
    assert_int_equal(wsref_buf_append(&t->out, p, n), 0);
    wsref_session_output_done(t->s, n, now);
  }
}

/* The transport writes only what is pending now, without calling output_done again. */
static void flush_once(tc *t, uint64_t now) {
  size_t n;
  const uint8_t *p = wsref_session_output(t->s, &n);
  if (!p) return;
  assert_int_equal(wsref_buf_append(&t->out, p, n), 0);
  wsref_session_output_done(t->s, n, now);
}

static void expect_out(tc *t, const char *hex) {
  uint8_t want[1024];
  size_t wn = peer_unhex(hex, want, sizeof want);
  assert_true(wn != (size_t)-1);
  char got_s[3 * 1024 + 1], want_s[3 * 1024 + 1];
  assert_true(wsref_buf_len(&t->out) <= 1024);
  peer_hex((const uint8_t *)str(&t->out), wsref_buf_len(&t->out), got_s);
  peer_hex(want, wn, want_s);
  assert_string_equal(got_s, want_s);
  wsref_buf_reset(&t->out);
}

static int send_text(tc *t, const char *text) {
  wsref_message m = {WSREF_MSG_TEXT, (const uint8_t *)text, strlen(text), true};
  return wsref_send_limit_send(t->d, &m);
}

static void test_direct_when_idle(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_non_null(t->d);
  assert_ptr_equal(wsref_send_limit_session(t->d), t->s);
  assert_int_equal(send_text(t, "abc"), 0);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  assert_int_equal(wsref_session_buffered(t->s), 5);
  flush(t, 1000);
  expect_out(t, "81 03 61 62 63");
  assert_int_equal(send_text(t, "d"), 0);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  flush(t, 1000);
  expect_out(t, "81 01 64");
}

static void test_queue_and_flush_on_drain(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(send_text(t, "A"), 0);  /* in flight */
  assert_int_equal(send_text(t, "BB"), 0); /* queued behind it */
  wsref_message ping = {WSREF_MSG_PING, (const uint8_t *)"p", 1, true};
  assert_int_equal(wsref_send_limit_send(t->d, &ping), 0);
  assert_int_equal(send_text(t, "CCC"), 0);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 6);
  assert_int_equal(wsref_session_buffered(t->s), 3);
  /* A partial write does not release the queue. */
  size_t n;
  wsref_session_output(t->s, &n);
  wsref_session_output_done(t->s, 1, 1000);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 6);
  wsref_session_output_done(t->s, 2, 1000);
  /* The output emptied: the whole queue went in as the next batch, in order. */
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  flush_once(t, 1000);
  expect_out(t, "81 02 42 42 89 01 70 81 03 43 43 43");
  assert_int_equal(wsref_send_limit_dropped(t->d), 0);
  /* Bad control frames are refused while queueing, as the session would. */
  assert_int_equal(send_text(t, "x"), 0);
  uint8_t big[126] = {0};
  wsref_message bp = {WSREF_MSG_PING, big, 126, true};
  assert_int_equal(wsref_send_limit_send(t->d, &bp), WSREF_E_INVALID_ARG);
  wsref_message bt = {(enum wsref_message_type)5, big, 1, true};
  assert_int_equal(wsref_send_limit_send(t->d, &bt), WSREF_E_INVALID_ARG);
  flush(t, 1000);
  expect_out(t, "81 01 78");
}

/* flush: the queue goes to the session now, in order, before a message sent to the session
 * directly (the STOMP ERROR before the close). */
static void test_flush_now(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(send_text(t, "A"), 0);  /* in flight */
  assert_int_equal(send_text(t, "BB"), 0); /* queued */
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 2);
  assert_int_equal(wsref_send_limit_flush(t->d), 0);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  wsref_message last = {WSREF_MSG_TEXT, (const uint8_t *)"Z", 1, true};
  assert_int_equal(wsref_session_send(t->s, &last), 0);
  flush(t, 1000);
  expect_out(t, "81 01 41 81 02 42 42 81 01 5a");
  assert_int_equal(wsref_send_limit_flush(t->d), 0); /* nothing queued: nothing to do */
  assert_int_equal(wsref_send_limit_flush(NULL), WSREF_E_INVALID_ARG);
}

static void test_terminate_on_buffer_limit(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 60000, 10, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(send_text(t, "AAAAA"), 0);
  assert_int_equal(send_text(t, "BBBBBB"), 0);
  assert_int_equal(send_text(t, "CCCC"), 0); /* exactly 10 queued: still fine */
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 10);
  assert_string_equal(str(&t->ev), "");
  assert_int_equal(send_text(t, "D"), WSREF_E_LIMIT);
  /* Closed with SESSION_NOT_RELIABLE; the queue is discarded. */
  assert_string_equal(str(&t->ev), "close 4500\n");
  assert_int_equal(wsref_session_state(t->s), WSREF_STATE_CLOSED);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  flush(t, 1000);
  expect_out(t, "81 05 41 41 41 41 41 88 02 11 94");
  assert_true(wsref_session_transport_done(t->s));
  assert_int_equal(send_text(t, "E"), WSREF_E_CLOSED);
}

static void test_drop_oldest(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 60000, 10, WSREF_OVERFLOW_DROP);
  assert_int_equal(send_text(t, "AAAA"), 0);
  assert_int_equal(send_text(t, "BBBB"), 0);
  assert_int_equal(send_text(t, "CCCC"), 0);
  assert_int_equal(send_text(t, "DDDD"), 0); /* 12 > 10: B goes */
  assert_int_equal(wsref_send_limit_dropped(t->d), 1);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 8);
  assert_int_equal(send_text(t, "EEEEEEEEE"), 0); /* 17: C and D go */
  assert_int_equal(wsref_send_limit_dropped(t->d), 3);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 9);
  assert_true(wsref_session_is_open(t->s));
  assert_string_equal(str(&t->ev), "");
  flush(t, 1000);
  expect_out(t, "81 04 41 41 41 41 81 09 45 45 45 45 45 45 45 45 45");
  /* A message larger than the limit on its own is dropped too (Spring does the same). */
  assert_int_equal(send_text(t, "F"), 0);
  assert_int_equal(send_text(t, "GGGGGGGGGGG"), 0);
  assert_int_equal(wsref_send_limit_dropped(t->d), 4);
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
  flush(t, 1000);
  expect_out(t, "81 01 46");
}

static void test_time_limit(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 1 << 20, WSREF_OVERFLOW_TERMINATE);
  wsref_session_tick(t->s, 2000);
  assert_int_equal(send_text(t, "A"), 0); /* output pending since 2000 */
  assert_int_equal(wsref_session_output_since(t->s), 2000);
  wsref_session_tick(t->s, 3000);
  assert_int_equal(send_text(t, "B"), 0); /* waited exactly the limit: fine */
  assert_string_equal(str(&t->ev), "");
  wsref_session_tick(t->s, 3001);
  assert_int_equal(send_text(t, "C"), WSREF_E_TIMEOUT);
  assert_string_equal(str(&t->ev), "close 4500\n");
  flush(t, 3001);
  expect_out(t, "81 01 41 88 02 11 94");
  assert_int_equal(send_text(t, "D"), WSREF_E_CLOSED);
}

static void test_time_limit_restarts_per_batch(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 1 << 20, WSREF_OVERFLOW_DROP);
  wsref_session_tick(t->s, 2000);
  assert_int_equal(send_text(t, "A"), 0);
  wsref_session_tick(t->s, 2500);
  assert_int_equal(send_text(t, "B"), 0);
  /* A is written at 2900: B becomes the batch in flight, pending since 2900. */
  flush_once(t, 2900);
  expect_out(t, "81 01 41");
  assert_int_equal(wsref_session_output_since(t->s), 2900);
  wsref_session_tick(t->s, 3800);
  assert_int_equal(send_text(t, "C"), 0);
  /* The time limit terminates whatever the overflow strategy. */
  wsref_session_tick(t->s, 3901);
  assert_int_equal(send_text(t, "D"), WSREF_E_TIMEOUT);
  assert_string_equal(str(&t->ev), "close 4500\n");
  flush(t, 3901);
  expect_out(t, "81 01 42 88 02 11 94");
}

static void test_not_open_and_free(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(send_text(t, "A"), 0);
  assert_int_equal(send_text(t, "B"), 0);
  /* Freed with a queue: the session no longer calls into it. */
  wsref_send_limit_free(t->d);
  t->d = NULL;
  flush(t, 1000);
  expect_out(t, "81 01 41");
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(wsref_session_close(t->s, 1000, NULL), 0);
  assert_int_equal(send_text(t, "C"), WSREF_E_STATE);
  assert_int_equal(wsref_send_limit_send(t->d, NULL), WSREF_E_INVALID_ARG);
  assert_null(wsref_send_limit_new(NULL, 1, 1, WSREF_OVERFLOW_DROP));
}

static void test_queued_then_session_closed(void **state) {
  tc *t = *state;
  t->d = wsref_send_limit_new(t->s, 1000, 100, WSREF_OVERFLOW_TERMINATE);
  assert_int_equal(send_text(t, "A"), 0);
  assert_int_equal(send_text(t, "B"), 0);
  /* The session closes before the queue could go out: the queue is dropped at the drain. */
  assert_int_equal(wsref_session_close(t->s, 1000, NULL), 0);
  flush(t, 1000);
  expect_out(t, "81 01 41 88 02 03 e8");
  assert_int_equal(wsref_send_limit_queued_bytes(t->d), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_direct_when_idle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queue_and_flush_on_drain, setup, teardown),
      cmocka_unit_test_setup_teardown(test_flush_now, setup, teardown),
      cmocka_unit_test_setup_teardown(test_terminate_on_buffer_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_drop_oldest, setup, teardown),
      cmocka_unit_test_setup_teardown(test_time_limit, setup, teardown),
      cmocka_unit_test_setup_teardown(test_time_limit_restarts_per_batch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_not_open_and_free, setup, teardown),
      cmocka_unit_test_setup_teardown(test_queued_then_session_closed, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
