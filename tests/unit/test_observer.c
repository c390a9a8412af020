/* The strict observer (harness/observer.h): decoding of what a server sends, and one finding
 * per broken sender rule, with its clause and the offset of the offending octet. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "handshake/accept.h"
#include "handshake/http.h"
#include "observer.h"
#include "result.h"

typedef struct fx {
  wsc_result res;
  wsc_observer obs;
  wsc_event ev[32];
  size_t nev;
} fx;

static void start(fx *f, const wsc_observer_options *o) {
  memset(f, 0, sizeof *f);
  wsc_observer_init(&f->obs, o, &f->res);
}

static void drain(fx *f) {
  wsc_event e;
  while (wsc_observer_next(&f->obs, &e)) {
    assert_true(f->nev < 32);
    f->ev[f->nev++] = e;
  }
}

static void feed(fx *f, const char *bytes, size_t n) {
  assert_int_equal(wsc_observer_feed(&f->obs, (const uint8_t *)bytes, n, 7), 0);
  drain(f);
}

/* Feeds one octet per call: every split must decode the same. */
static void feed_bytewise(fx *f, const char *bytes, size_t n) {
  for (size_t i = 0; i < n; i++) {
    assert_int_equal(wsc_observer_feed(&f->obs, (const uint8_t *)bytes + i, 1, 7), 0);
    drain(f);
  }
}

static void finish(fx *f) {
  for (size_t i = 0; i < f->nev; i++) wsc_event_free(&f->ev[i]);
  wsc_observer_free(&f->obs);
  wsc_result_free(&f->res);
}

static void assert_finding(const fx *f, size_t i, const char *rule, const char *clause,
                           uint64_t off) {
  assert_true(i < f->res.nfindings);
  assert_string_equal(f->res.findings[i].rule, rule);
  assert_string_equal(f->res.findings[i].clause, clause);
  assert_int_equal(f->res.findings[i].rx_offset, off);
}

#define FEED(f, lit) feed((f), (lit), sizeof(lit) - 1)

static void test_text_ok(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f, "\x81\x05Hello");
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0].type, WSC_EV_TEXT);
  assert_int_equal(f.ev[0].len, 5);
  assert_int_equal(f.ev[0].data_len, 5);
  assert_memory_equal(f.ev[0].data, "Hello", 5);
  assert_int_equal(f.ev[0].frames, 1);
  assert_true(f.ev[0].fin);
  assert_int_equal(f.ev[0].t_us, 7);
  uint8_t h[32];
  wsc_sha256("Hello", 5, h);
  assert_true(f.ev[0].has_sha256);
  assert_memory_equal(f.ev[0].sha256, h, 32);
  assert_int_equal(f.res.nfindings, 0);
  assert_false(wsc_observer_partial(&f.obs));
  finish(&f);
}

/* Feeding nothing (NULL, 0) is allowed at any point (fuzz_observer found NULL + 0 in the
 * decoding loop, undefined behaviour). */
static void test_feed_nothing(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  assert_int_equal(wsc_observer_feed(&f.obs, NULL, 0, 7), 0);
  FEED(&f, "\x81\x02");
  assert_int_equal(wsc_observer_feed(&f.obs, NULL, 0, 7), 0);
  drain(&f);
  assert_int_equal(f.nev, 0);
  assert_true(wsc_observer_partial(&f.obs));
  FEED(&f, "Hi\x8a\x00");
  assert_int_equal(wsc_observer_feed(&f.obs, NULL, 0, 7), 0);
  drain(&f);
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[0].type, WSC_EV_TEXT);
  assert_int_equal(f.ev[1].type, WSC_EV_PONG);
  assert_int_equal(f.res.nfindings, 0);
  finish(&f);
}

static void test_masked(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  wsc_observer_set_base(&f.obs, 100);
  /* "Hello" masked with 37 fa 21 3d (RFC 6455 5.7) */
  FEED(&f, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58");
  assert_int_equal(f.nev, 1);
  assert_memory_equal(f.ev[0].data, "Hello", 5);
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "server-frame-masked", "RFC6455 5.1", 100);
  finish(&f);
}

static void test_non_minimal(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f,
       "\x82\x05"
       "abcde"
       "\x82\x7e\x00\x05"
       "Hello");
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[1].type, WSC_EV_BINARY);
  assert_memory_equal(f.ev[1].data, "Hello", 5);
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "non-minimal-length", "RFC6455 5.2", 7);
  assert_string_equal(f.res.findings[0].message,
                      "payload length 5 encoded in 2 extended length octets, not 0");
  finish(&f);
}

static void test_rsv(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f, "\xc1\x01x"); /* RSV1 on text */
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "rsv-without-extension", "RFC6455 5.2", 0);
  assert_int_equal(f.ev[0].rsv, 4);
  finish(&f);

  /* an extension that claims RSV1 allows it on the first frame only */
  wsc_observer_options o = {.rsv_allowed = 4};
  start(&f, &o);
  FEED(&f,
       "\x41\x01x"
       "\xc0\x01y"
       "\x89\x00");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "rsv-without-extension", "RFC6455 5.2", 3);
  assert_int_equal(f.nev, 2); /* the message completes before the ping arrives */
  assert_int_equal(f.ev[0].type, WSC_EV_TEXT);
  assert_memory_equal(f.ev[0].data, "xy", 2);
  assert_int_equal(f.ev[1].type, WSC_EV_PING);
  finish(&f);
}

static void test_reserved_opcode(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f,
       "\x83\x02hi"
       "\x8b\x00");
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[0].type, WSC_EV_FRAME);
  assert_int_equal(f.ev[0].opcode, 3);
  assert_memory_equal(f.ev[0].data, "hi", 2);
  assert_int_equal(f.ev[1].type, WSC_EV_FRAME);
  assert_int_equal(f.ev[1].opcode, 11);
  assert_int_equal(f.res.nfindings, 2);
  assert_finding(&f, 0, "reserved-opcode", "RFC6455 5.2", 0);
  assert_finding(&f, 1, "reserved-opcode", "RFC6455 5.2", 4);
  finish(&f);
}

static void test_utf8(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  /* C3 28: the second octet cannot continue the sequence (offset 3 in the stream) */
  FEED(&f, "\x81\x02\xc3\x28");
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "text-invalid-utf8", "RFC6455 5.6", 3);
  finish(&f);

  /* a message that ends inside a sequence */
  start(&f, NULL);
  FEED(&f,
       "\x01\x01\xe2"
       "\x80\x01\x82");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "text-invalid-utf8", "RFC6455 5.6", 6);
  assert_string_equal(f.res.findings[0].message, "a text message ends inside a UTF-8 sequence");
  finish(&f);

  /* a sequence split across fragments is fine; binary is never checked */
  start(&f, NULL);
  FEED(&f,
       "\x01\x01\xe2"
       "\x00\x01\x82"
       "\x80\x01\xac"
       "\x82\x01\xff");
  assert_int_equal(f.res.nfindings, 0);
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[0].frames, 3);
  assert_memory_equal(f.ev[0].data, "\xe2\x82\xac", 3);
  finish(&f);
}

static void test_fragments_and_control(void **state) {
  (void)state;
  static const char wire[] =
      "\x01\x03Hel"
      "\x89\x02hi"
      "\x80\x02lo";
  for (int bytewise = 0; bytewise < 2; bytewise++) {
    fx f;
    start(&f, NULL);
    if (bytewise)
      feed_bytewise(&f, wire, sizeof wire - 1);
    else
      feed(&f, wire, sizeof wire - 1);
    assert_int_equal(f.nev, 2);
    assert_int_equal(f.ev[0].type, WSC_EV_PING);
    assert_memory_equal(f.ev[0].data, "hi", 2);
    assert_int_equal(f.ev[1].type, WSC_EV_TEXT);
    assert_int_equal(f.ev[1].len, 5);
    assert_memory_equal(f.ev[1].data, "Hello", 5);
    assert_int_equal(f.ev[1].frames, 2);
    assert_int_equal(f.res.nfindings, 0);
    finish(&f);
  }
}

static void test_frame_level(void **state) {
  (void)state;
  wsc_observer_options o = {.frame_level = true};
  fx f;
  start(&f, &o);
  FEED(&f,
       "\x02\x01"
       "a"
       "\x80\x01"
       "b");
  assert_int_equal(f.nev, 2);
  assert_int_equal(f.ev[0].type, WSC_EV_FRAME);
  assert_int_equal(f.ev[0].opcode, 2);
  assert_false(f.ev[0].fin);
  assert_int_equal(f.ev[1].type, WSC_EV_FRAME);
  assert_int_equal(f.ev[1].opcode, 0);
  assert_true(f.ev[1].fin);
  finish(&f);
}

static void test_fragmentation_rules(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f, "\x80\x01x");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "continuation-unexpected", "RFC6455 5.4", 0);
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0].type, WSC_EV_FRAME);
  finish(&f);

  start(&f, NULL);
  FEED(&f,
       "\x01\x01x"
       "\x81\x01y");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "message-interleaved", "RFC6455 5.4", 3);
  finish(&f);
}

static void test_close_frames(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f,
       "\x88\x05\x03\xe8"
       "bye");
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0].type, WSC_EV_CLOSE);
  assert_int_equal(f.ev[0].code, 1000);
  assert_string_equal(f.ev[0].detail, "bye");
  assert_int_equal(f.res.nfindings, 0);
  /* a control frame after the close frame is not forbidden (5.5.1 names data frames) */
  FEED(&f, "\x8a\x00");
  assert_int_equal(f.res.nfindings, 0);
  /* a data frame after the close frame is */
  FEED(&f, "\x81\x01x");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "frame-after-close", "RFC6455 5.5.1", 9);
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x88\x02\x03\xed");
  assert_int_equal(f.ev[0].code, 1005);
  assert_finding(&f, 0, "close-code-invalid", "RFC6455 7.4.1", 0);
  assert_string_equal(f.res.findings[0].message,
                      "close code 1005 must not appear in a close frame");
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x88\x01\x03");
  assert_int_equal(f.ev[0].code, -1);
  assert_finding(&f, 0, "close-payload-1", "RFC6455 5.5.1", 0);
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x88\x04\x03\xe8\xc3\x28");
  assert_finding(&f, 0, "close-reason-utf8", "RFC6455 5.5.1", 0);
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x88\x00");
  assert_int_equal(f.ev[0].code, -1);
  assert_int_equal(f.res.nfindings, 0);
  finish(&f);
}

static void test_fatal(void **state) {
  (void)state;
  fx f;
  start(&f, NULL);
  FEED(&f,
       "\x09\x00"
       "\x81\x01x"); /* ping without FIN: undecodable from here */
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0].type, WSC_EV_ERROR);
  assert_string_equal(f.ev[0].detail, "WSREF_E_FRAME_CONTROL_FRAG");
  assert_int_equal(f.res.nfindings, 1);
  assert_finding(&f, 0, "control-fragmented", "RFC6455 5.5", 0);
  FEED(&f, "\x81\x01y");
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.obs.rx_off, 8);
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01");
  assert_finding(&f, 0, "length-msb", "RFC6455 5.2", 0);
  finish(&f);

  start(&f, NULL);
  FEED(&f, "\x89\x7e\x00\x7e");
  assert_finding(&f, 0, "control-too-long", "RFC6455 5.5", 0);
  finish(&f);
}

static void test_partial_and_cap(void **state) {
  (void)state;
  wsc_observer_options o = {.max_kept = 4};
  fx f;
  start(&f, &o);
  FEED(&f,
       "\x82\x0a"
       "0123");
  assert_int_equal(f.nev, 0);
  assert_true(wsc_observer_partial(&f.obs));
  FEED(&f, "456789");
  assert_int_equal(f.nev, 1);
  assert_int_equal(f.ev[0].len, 10);
  assert_int_equal(f.ev[0].data_len, 4);
  assert_memory_equal(f.ev[0].data, "0123", 4);
  uint8_t h[32];
  wsc_sha256("0123456789", 10, h);
  assert_memory_equal(f.ev[0].sha256, h, 32);
  assert_false(wsc_observer_partial(&f.obs));
  finish(&f);
}

static void check_response(wsc_result *r, const char *req, const char *resp) {
  wsref_http_response *rs = malloc(sizeof *rs);
  assert_non_null(rs);
  assert_true(wsref_http_parse_response(resp, strlen(resp), NULL, rs) > 0);
  wsc_observer_check_response(r, (const uint8_t *)req, strlen(req), rs, 5);
  free(rs);
}

static void test_response(void **state) {
  (void)state;
  static const char req[] =
      "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
      "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
  wsc_result r;
  memset(&r, 0, sizeof r);
  check_response(&r, req,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                 "Sec-WebSocket-Protocol: chat\r\n\r\n");
  assert_int_equal(r.nfindings, 0);
  wsc_result_free(&r);

  check_response(&r, req,
                 "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 "Sec-WebSocket-Accept: xxxxLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                 "Sec-WebSocket-Protocol: other\r\nSec-WebSocket-Extensions: foo\r\n\r\n");
  assert_int_equal(r.nfindings, 4);
  assert_string_equal(r.findings[0].rule, "connection-token");
  assert_string_equal(r.findings[1].rule, "accept-mismatch");
  assert_string_equal(r.findings[1].message,
                      "Sec-WebSocket-Accept is \"xxxxLMBiTxaQ9kYGzzhZRbK+xOo=\", expected "
                      "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_string_equal(r.findings[2].rule, "subprotocol-not-offered");
  assert_string_equal(r.findings[3].rule, "extension-not-offered");
  assert_string_equal(r.findings[3].clause, "RFC6455 4.2.2");
  wsc_result_free(&r);

  /* a refusal is not judged here */
  check_response(&r, req, "HTTP/1.1 400 Bad Request\r\n\r\n");
  assert_int_equal(r.nfindings, 0);
  wsc_result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_ok),
      cmocka_unit_test(test_feed_nothing),
      cmocka_unit_test(test_masked),
      cmocka_unit_test(test_non_minimal),
      cmocka_unit_test(test_rsv),
      cmocka_unit_test(test_reserved_opcode),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test(test_fragments_and_control),
      cmocka_unit_test(test_frame_level),
      cmocka_unit_test(test_fragmentation_rules),
      cmocka_unit_test(test_close_frames),
      cmocka_unit_test(test_fatal),
      cmocka_unit_test(test_partial_and_cap),
      cmocka_unit_test(test_response),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
