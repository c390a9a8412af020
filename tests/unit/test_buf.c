/* Byte FIFO (reference/base/buf.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"

static void test_empty(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_buf_len(&b), 0);
  assert_int_equal(wsref_buf_append(&b, "x", 0), 0);
  assert_null(b.data); /* appending nothing allocates nothing */
  wsref_buf_consume(&b, 10);
  assert_int_equal(wsref_buf_len(&b), 0);
  wsref_buf_free(&b);
  assert_null(b.data);
}

static void test_append_consume(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_buf_append(&b, "hello ", 6), 0);
  assert_int_equal(wsref_buf_append(&b, "world", 5), 0);
  assert_int_equal(wsref_buf_len(&b), 11);
  assert_memory_equal(wsref_buf_head(&b), "hello world", 11);
  wsref_buf_consume(&b, 6);
  assert_int_equal(wsref_buf_len(&b), 5);
  assert_memory_equal(wsref_buf_head(&b), "world", 5);
  /* Consuming everything (or more) empties the buffer and rewinds it. */
  wsref_buf_consume(&b, 100);
  assert_int_equal(wsref_buf_len(&b), 0);
  assert_int_equal(b.start, 0);
  assert_int_equal(b.end, 0);
  assert_int_equal(wsref_buf_append(&b, "again", 5), 0);
  assert_ptr_equal(wsref_buf_head(&b), b.data);
  assert_memory_equal(wsref_buf_head(&b), "again", 5);
  wsref_buf_free(&b);
  assert_null(b.data);
  assert_int_equal(b.cap, 0);
  assert_int_equal(wsref_buf_len(&b), 0);
}

static void test_reserve_commit(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  uint8_t *p = wsref_buf_reserve(&b, 10);
  assert_non_null(p);
  assert_true(b.cap >= 10);
  assert_int_equal(wsref_buf_len(&b), 0); /* reserving does not add bytes */
  memcpy(p, "0123456789", 10);
  wsref_buf_commit(&b, 4);
  assert_int_equal(wsref_buf_len(&b), 4);
  assert_memory_equal(wsref_buf_head(&b), "0123", 4);
  p = wsref_buf_reserve(&b, 3);
  assert_ptr_equal(p, wsref_buf_head(&b) + 4);
  wsref_buf_free(&b);
}

/* Growth keeps the contents and moves unread bytes to the front. */
static void test_growth(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  uint8_t chunk[1000];
  for (size_t i = 0; i < sizeof chunk; i++) chunk[i] = (uint8_t)i;
  for (int i = 0; i < 100; i++) assert_int_equal(wsref_buf_append(&b, chunk, sizeof chunk), 0);
  assert_int_equal(wsref_buf_len(&b), 100000);
  assert_true(b.cap >= 100000);
  for (int i = 0; i < 100; i++) assert_memory_equal(wsref_buf_head(&b) + i * 1000, chunk, 1000);
  wsref_buf_consume(&b, 99500);
  assert_int_equal(wsref_buf_append(&b, chunk, 1000), 0);
  assert_int_equal(wsref_buf_len(&b), 1500);
  assert_memory_equal(wsref_buf_head(&b), chunk + 500, 500);
  assert_memory_equal(wsref_buf_head(&b) + 500, chunk, 1000);
  wsref_buf_free(&b);
}

/* A drained-from-the-front queue reuses its space instead of growing. */
static void test_steady_state_reuses_space(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  uint8_t chunk[100];
  memset(chunk, 'q', sizeof chunk);
  assert_int_equal(wsref_buf_append(&b, chunk, 100), 0);
  size_t cap = b.cap;
  for (int i = 0; i < 10000; i++) {
    assert_int_equal(wsref_buf_append(&b, chunk, 100), 0);
    wsref_buf_consume(&b, 100);
    assert_int_equal(wsref_buf_len(&b), 100);
  }
  assert_int_equal(b.cap, cap);
  wsref_buf_free(&b);
}

static void test_appendf(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_buf_appendf(&b, "%d-%s", 42, "x"), 0);
  assert_int_equal(wsref_buf_len(&b), 4);
  assert_memory_equal(wsref_buf_head(&b), "42-x", 4);
  assert_int_equal(wsref_buf_appendf(&b, "%s", ""), 0);
  assert_int_equal(wsref_buf_len(&b), 4);
  /* Longer than the initial capacity. */
  char big[1000];
  memset(big, 'b', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(wsref_buf_appendf(&b, "[%s]", big), 0);
  assert_int_equal(wsref_buf_len(&b), 4 + 1001);
  assert_int_equal(wsref_buf_head(&b)[4], '[');
  assert_int_equal(wsref_buf_head(&b)[4 + 1000], ']');
  assert_int_equal(wsref_buf_head(&b)[4 + 500], 'b');
  wsref_buf_free(&b);
}

static void test_reset(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_buf_append(&b, "abc", 3), 0);
  uint8_t *data = b.data;
  size_t cap = b.cap;
  wsref_buf_reset(&b);
  assert_int_equal(wsref_buf_len(&b), 0);
  assert_ptr_equal(b.data, data); /* capacity kept */
  assert_int_equal(b.cap, cap);
  wsref_buf_free(&b);
}

/* Impossible sizes fail cleanly and leave the contents alone. */
static void test_too_large(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_buf_append(&b, "keep", 4), 0);
  assert_null(wsref_buf_reserve(&b, SIZE_MAX));
  assert_null(wsref_buf_reserve(&b, SIZE_MAX / 2));
  assert_int_equal(wsref_buf_len(&b), 4);
  assert_memory_equal(wsref_buf_head(&b), "keep", 4);
  wsref_buf_free(&b);
}

static uint32_t rnd(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/* Random appends and consumes against a plain array model. */
static void test_fifo_model(void **state) {
  (void)state;
  enum { CAP = 1 << 16 };
  uint8_t *model = malloc(CAP);
  size_t mstart = 0, mend = 0;
  wsref_buf b = WSREF_BUF_INIT;
  uint32_t seed = 7;
  uint8_t counter = 0;
  for (int op = 0; op < 20000; op++) {
    uint32_t r = rnd(&seed);
    if (r % 3 != 0 && mend + 600 < CAP) {
      uint8_t tmp[600];
      size_t n = rnd(&seed) % 600;
      for (size_t i = 0; i < n; i++) tmp[i] = counter++;
      assert_int_equal(wsref_buf_append(&b, tmp, n), 0);
      memcpy(model + mend, tmp, n);
      mend += n;
    } else {
      size_t n = rnd(&seed) % 900;
      wsref_buf_consume(&b, n);
      mstart = (n >= mend - mstart) ? mend : mstart + n;
      if (mstart == mend) mstart = mend = 0;
    }
    assert_int_equal(wsref_buf_len(&b), mend - mstart);
    if (mend > mstart) assert_memory_equal(wsref_buf_head(&b), model + mstart, mend - mstart);
  }
  wsref_buf_free(&b);
  free(model);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_empty),
      cmocka_unit_test(test_append_consume),
      cmocka_unit_test(test_reserve_commit),
      cmocka_unit_test(test_growth),
      cmocka_unit_test(test_steady_state_reuses_space),
      cmocka_unit_test(test_appendf),
      cmocka_unit_test(test_reset),
      cmocka_unit_test(test_too_large),
      cmocka_unit_test(test_fifo_model),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
