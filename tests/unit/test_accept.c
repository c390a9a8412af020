/* Sec-WebSocket-Key / Sec-WebSocket-Accept (RFC 6455 1.3, 4.2.2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "handshake/accept.h"

static void test_rfc_sample_accept(void **state) {
  (void)state;
  char out[WSREF_ACCEPT_LEN + 1];
  memset(out, 'X', sizeof out);
  wsref_accept_compute("dGhlIHNhbXBsZSBub25jZQ==", 24, out);
  assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  assert_int_equal(strlen(out), WSREF_ACCEPT_LEN);
}

static void test_other_accepts(void **state) {
  (void)state;
  char out[WSREF_ACCEPT_LEN + 1];
  wsref_accept_compute("x3JJHMbDL1EzLkh9GBhXDw==", 24, out);
  assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  /* Only key_len bytes count. */
  wsref_accept_compute("x3JJHMbDL1EzLkh9GBhXDw==trailing", 24, out);
  assert_string_equal(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  wsref_accept_compute("", 0, out);
  assert_string_equal(out, "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
  /* Longer than the stack fast path: the streaming digest must agree. */
  char longkey[200];
  memset(longkey, 'A', sizeof longkey);
  wsref_accept_compute(longkey, sizeof longkey, out);
  assert_string_equal(out, "epQuepyJZUpkXo4+7CeEEfXbmv8=");
}

static void test_key_encode(void **state) {
  (void)state;
  char out[WSREF_KEY_LEN + 1];
  wsref_key_encode((const uint8_t *)"the sample nonce", out);
  assert_string_equal(out, "dGhlIHNhbXBsZSBub25jZQ==");
  uint8_t seq[16], ff[16];
  for (int i = 0; i < 16; i++) seq[i] = (uint8_t)i;
  memset(ff, 0xff, sizeof ff);
  wsref_key_encode(seq, out);
  assert_string_equal(out, "AAECAwQFBgcICQoLDA0ODw==");
  wsref_key_encode(ff, out);
  assert_string_equal(out, "/////////////////////w==");
  assert_true(wsref_key_valid(out, strlen(out)));
}

static void test_key_valid(void **state) {
  (void)state;
  assert_true(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 24));
  assert_true(wsref_key_valid("AAECAwQFBgcICQoLDA0ODw==", 24));
  assert_true(wsref_key_valid("+/+/+/+/+/+/+/+/+/+/+w==", 24));
  /* Non-zero unused bits still decode to 16 bytes (RFC 4648 3.5 leaves rejection optional). */
  assert_true(wsref_key_valid("dGhlIHNhbXBsZSBub25jZR==", 24));
  /* Length. */
  assert_false(wsref_key_valid("", 0));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ=", 23));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ", 22));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ===", 25));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ== ", 25));
  /* 15 and 17 byte values. */
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25j", 20));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZWU=", 24));
  /* 18 bytes, no padding. */
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQAA", 24));
  /* Padding in the wrong place or the wrong amount. */
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZ===", 24));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZQ=A", 24));
  assert_false(wsref_key_valid("=GhlIHNhbXBsZSBub25jZQ==", 24));
  /* Not the base64 alphabet: base64url, space, NUL, high bytes. */
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZ-==", 24));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25jZ_==", 24));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25j Q==", 24));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25j\0Q==", 24));
  assert_false(wsref_key_valid("dGhlIHNhbXBsZSBub25j\xc3Q==", 24));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_sample_accept),
      cmocka_unit_test(test_other_accepts),
      cmocka_unit_test(test_key_encode),
      cmocka_unit_test(test_key_valid),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
