/* Close frame payloads and status codes (reference/codec/close.h), RFC 6455 5.5.1 and 7.4. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base/error.h"
#include "codec/close.h"

/* The rule, written independently of close.c: RFC 6455 7.4.1 defined codes that may be sent,
 * 7.4.2 ranges. */
static bool rule(unsigned c) {
  if (c < 1000) return false;
  if (c <= 1003) return true;
  if (c == 1004 || c == 1005 || c == 1006) return false;
  if (c <= 1014) return true;
  if (c < 3000) return false; /* 1015 and the unassigned 1016-2999 */
  return c <= 4999;
}

static void test_code_table(void **state) {
  (void)state;
  for (unsigned c = 0; c <= 65535; c++)
    if (wsref_close_code_valid(c) != rule(c)) fail_msg("code %u", c);
  static const unsigned valid[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                   1012, 1013, 1014, 3000, 3999, 4000, 4500, 4999};
  static const unsigned invalid[] = {0,    999,  1004, 1005, 1006,  1015,  1016,          1100,
                                     2000, 2999, 5000, 5001, 65535, 70000, 0x10000 + 1000};
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
    assert_true(wsref_close_code_valid(valid[i]));
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
    assert_false(wsref_close_code_valid(invalid[i]));
}

static void test_parse_empty(void **state) {
  (void)state;
  wsref_close_status st;
  memset(&st, 0x55, sizeof st);
  assert_int_equal(wsref_close_parse(NULL, 0, &st), 0);
  assert_int_equal(st.code, 0);
  assert_int_equal(st.reason_len, 0);
  assert_string_equal(st.reason, "");
}

static void test_parse_code_and_reason(void **state) {
  (void)state;
  wsref_close_status st;
  static const uint8_t p1[] = {0x03, 0xe8};
  assert_int_equal(wsref_close_parse(p1, 2, &st), 0);
  assert_int_equal(st.code, 1000);
  assert_int_equal(st.reason_len, 0);
  assert_string_equal(st.reason, "");

  static const uint8_t p2[] = {0x03, 0xe9, 'b', 'y', 'e', ' ', 0xc3, 0xa9};
  assert_int_equal(wsref_close_parse(p2, sizeof p2, &st), 0);
  assert_int_equal(st.code, 1001);
  assert_int_equal(st.reason_len, 6);
  assert_string_equal(st.reason, "bye \xc3\xa9");

  static const uint8_t p3[] = {0x11, 0x94, 0x00, 'x'}; /* 4500, reason "\0x" */
  assert_int_equal(wsref_close_parse(p3, sizeof p3, &st), 0);
  assert_int_equal(st.code, 4500);
  assert_int_equal(st.reason_len, 2);
  assert_memory_equal(st.reason, "\0x", 3);

  assert_int_equal(wsref_close_parse(p2, sizeof p2, NULL), 0);
}

static void test_parse_errors(void **state) {
  (void)state;
  wsref_close_status st, untouched;
  memset(&untouched, 0x5a, sizeof untouched);

  static const uint8_t one[] = {0x03};
  memcpy(&st, &untouched, sizeof st);
  assert_int_equal(wsref_close_parse(one, 1, &st), WSREF_E_CLOSE_PAYLOAD_LEN);
  assert_memory_equal(&st, &untouched, sizeof st);

  uint8_t big[126];
  memset(big, 'a', sizeof big);
  big[0] = 0x03, big[1] = 0xe8;
  memcpy(&st, &untouched, sizeof st);
  assert_int_equal(wsref_close_parse(big, 126, &st), WSREF_E_FRAME_CONTROL_LEN);
  assert_memory_equal(&st, &untouched, sizeof st);
  assert_int_equal(wsref_close_parse(big, 125, &st), 0); /* 123-octet reason is the max */
  assert_int_equal(st.reason_len, 123);
  assert_int_equal(st.reason[123], '\0');

  static const unsigned bad_codes[] = {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535};
  for (size_t i = 0; i < sizeof bad_codes / sizeof bad_codes[0]; i++) {
    uint8_t p[4] = {(uint8_t)(bad_codes[i] >> 8), (uint8_t)bad_codes[i], 'o', 'k'};
    assert_int_equal(wsref_close_parse(p, 4, &st), WSREF_E_CLOSE_CODE);
    /* What was on the wire is still reported, for observers. */
    assert_int_equal(st.code, bad_codes[i]);
    assert_string_equal(st.reason, "ok");
    assert_int_equal(wsref_close_parse(p, 2, NULL), WSREF_E_CLOSE_CODE);
  }

  static const uint8_t bad_utf8[][6] = {
      {0x03, 0xe8, 0xc0, 0xaf},             /* overlong */
      {0x03, 0xe8, 'a', 0xed, 0xa0, 0x80},  /* surrogate */
      {0x03, 0xe8, 0xf4, 0x90, 0x80, 0x80}, /* > U+10FFFF */
      {0x03, 0xe8, 'a', 'b', 'c', 0xc3},    /* truncated at the end */
  };
  static const size_t bad_len[] = {4, 6, 6, 6};
  for (size_t i = 0; i < 4; i++) {
    assert_int_equal(wsref_close_parse(bad_utf8[i], bad_len[i], &st), WSREF_E_CLOSE_REASON_UTF8);
    assert_int_equal(st.code, 1000);
    assert_int_equal(st.reason_len, bad_len[i] - 2);
  }
  /* A bad code is reported before a bad reason. */
  static const uint8_t both[] = {0x03, 0xed, 0xff};
  assert_int_equal(wsref_close_parse(both, 3, &st), WSREF_E_CLOSE_CODE);
}

/* Every code on the wire, with and without a reason, against the rule. */
static void test_parse_all_codes(void **state) {
  (void)state;
  for (unsigned c = 0; c <= 65535; c++) {
    uint8_t p[5] = {(uint8_t)(c >> 8), (uint8_t)c, 'a', 'b', 'c'};
    int want = rule(c) ? 0 : WSREF_E_CLOSE_CODE;
    if (wsref_close_parse(p, 2, NULL) != want || wsref_close_parse(p, 5, NULL) != want)
      fail_msg("code %u", c);
  }
}

static void test_encode(void **state) {
  (void)state;
  uint8_t out[130];
  memset(out, 0xee, sizeof out);
  assert_int_equal(wsref_close_encode(out, 1000, NULL, 0), 2);
  assert_memory_equal(out, "\x03\xe8", 2);
  assert_int_equal(out[2], 0xee);

  assert_int_equal(wsref_close_encode(out, 1001, "bye", 3), 5);
  assert_memory_equal(out,
                      "\x03\xe9"
                      "bye",
                      5);

  assert_int_equal(wsref_close_encode(out, 4500, "x", 1), 3);
  assert_memory_equal(out, "\x11\x94x", 3);

  /* Code 0: no status, empty payload, reason dropped. */
  memset(out, 0xee, sizeof out);
  assert_int_equal(wsref_close_encode(out, 0, "ignored", 7), 0);
  assert_int_equal(out[0], 0xee);

  /* The encoder writes what it is given (the harness sends invalid codes on purpose). */
  assert_int_equal(wsref_close_encode(out, 1005, NULL, 0), 2);
  assert_memory_equal(out, "\x03\xed", 2);

  /* Round trip through the parser. */
  wsref_close_status st;
  size_t n = wsref_close_encode(out, 1011, "server \xe2\x82\xac error", 16);
  assert_int_equal(n, 18);
  assert_int_equal(wsref_close_parse(out, n, &st), 0);
  assert_int_equal(st.code, 1011);
  assert_string_equal(st.reason, "server \xe2\x82\xac error");
}

/* Reasons longer than 123 octets are cut at a code point boundary. */
static void test_encode_truncation(void **state) {
  (void)state;
  char r[300];
  uint8_t out[130];
  /* 123 ASCII fit exactly; 124 lose one. */
  memset(r, 'a', sizeof r);
  assert_int_equal(wsref_close_encode(out, 1000, r, 123), 125);
  assert_int_equal(wsref_close_encode(out, 1000, r, 124), 125);
  assert_int_equal(wsref_close_encode(out, 1000, r, 300), 125);

  /* A 2-octet character ending at octet 123 is kept; one straddling 123/124 is dropped. */
  memset(r, 'a', sizeof r);
  memcpy(r + 121, "\xc3\xa9", 2);
  assert_int_equal(wsref_close_encode(out, 1000, r, 130), 125);
  assert_memory_equal(out + 2 + 121, "\xc3\xa9", 2);
  memset(r, 'a', sizeof r);
  memcpy(r + 122, "\xc3\xa9", 2);
  assert_int_equal(wsref_close_encode(out, 1000, r, 130), 2 + 122);
  assert_memory_equal(out + 2, r, 122);

  /* 3- and 4-octet characters straddling the limit at each inner position. */
  for (size_t start = 120; start <= 123; start++) {
    memset(r, 'a', sizeof r);
    memcpy(r + start, "\xf0\x9f\x98\x80", 4);
    size_t want = start + 4 <= 123 ? 123 : start;
    assert_int_equal(wsref_close_encode(out, 1000, r, 140), 2 + want);
    wsref_close_status st;
    assert_int_equal(wsref_close_parse(out, 2 + want, &st), 0);
    memset(r, 'a', sizeof r);
    memcpy(r + start, "\xe2\x82\xac", 3);
    want = start + 3 <= 123 ? 123 : start;
    assert_int_equal(wsref_close_encode(out, 1000, r, 140), 2 + want);
    assert_int_equal(wsref_close_parse(out, 2 + want, &st), 0);
  }

  /* A reason made only of 2-octet characters: 61 of them (122 octets). */
  for (size_t i = 0; i < 150; i++) memcpy(r + 2 * i, "\xc3\xa9", 2);
  assert_int_equal(wsref_close_encode(out, 3000, r, 300), 2 + 122);
}

static void test_status_set(void **state) {
  (void)state;
  wsref_close_status st;
  wsref_close_status_set(&st, 1000, "done");
  assert_int_equal(st.code, 1000);
  assert_string_equal(st.reason, "done");
  assert_int_equal(st.reason_len, 4);

  wsref_close_status_set(&st, 1001, NULL);
  assert_int_equal(st.code, 1001);
  assert_string_equal(st.reason, "");
  assert_int_equal(st.reason_len, 0);

  char r[200];
  memset(r, 'z', sizeof r);
  r[199] = '\0';
  wsref_close_status_set(&st, 1008, r);
  assert_int_equal(st.reason_len, 123);
  assert_int_equal(strlen(st.reason), 123);

  memset(r, 'z', sizeof r);
  memcpy(r + 121, "\xe2\x82\xac", 3); /* octets 121..123: straddles the limit */
  r[199] = '\0';
  wsref_close_status_set(&st, 4500, r);
  assert_int_equal(st.code, 4500);
  assert_int_equal(st.reason_len, 121);
  assert_int_equal(strlen(st.reason), 121);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_code_table),
      cmocka_unit_test(test_parse_empty),
      cmocka_unit_test(test_parse_code_and_reason),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_parse_all_codes),
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_encode_truncation),
      cmocka_unit_test(test_status_set),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
