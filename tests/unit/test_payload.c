/* Payload specs: parsing, exact bytes, lazy materialisation, errors with offsets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/error.h"
#include "payload.h"

struct fx {
  char dir[64]; /* a data directory holding blob.bin */
};

static const uint8_t blob[] = {0x00, 0x01, 0x02, 0xfe, 0xff, 'a', 'b', 'c'};

static int setup(void **state) {
  struct fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/wsc-payload-XXXXXX");
  if (!mkdtemp(f->dir)) return -1;
  char p[128];
  snprintf(p, sizeof p, "%s/blob.bin", f->dir);
  FILE *fp = fopen(p, "wb");
  if (!fp) return -1;
  fwrite(blob, 1, sizeof blob, fp);
  fclose(fp);
  snprintf(p, sizeof p, "%s/sub", f->dir);
  mkdir(p, 0700);
  snprintf(p, sizeof p, "%s/sub/empty.bin", f->dir);
  fp = fopen(p, "wb");
  if (!fp) return -1;
  fclose(fp);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  struct fx *f = *state;
  char p[160];
  snprintf(p, sizeof p, "%s/blob.bin", f->dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/sub/empty.bin", f->dir);
  unlink(p);
  snprintf(p, sizeof p, "%s/sub", f->dir);
  rmdir(p);
  rmdir(f->dir);
  free(f);
  return 0;
}

static struct wsc_payload *parse_ok(const char *src, const char *data_dir) {
  struct wsc_payload_parse_opts o = {.data_dir = data_dir};
  struct wsc_payload_error e = {0};
  struct wsc_payload *p = NULL;
  int rc = wsc_payload_parse(src, strlen(src), &o, &p, &e);
  if (rc != 0) fprintf(stderr, "parse '%s': %s at %zu\n", src, e.msg, e.offset);
  assert_int_equal(rc, 0);
  assert_non_null(p);
  return p;
}

/* Parses src, materialises it and compares with want[0..n). */
static void check_bytes(const char *src, const void *want, size_t n) {
  struct wsc_payload *p = parse_ok(src, NULL);
  uint64_t len = 99;
  assert_int_equal(wsc_payload_length(p, NULL, &len), 0);
  assert_int_equal(len, n);
  uint8_t *b = NULL;
  size_t bl = 99;
  assert_int_equal(wsc_payload_materialize(p, NULL, &b, &bl), 0);
  assert_non_null(b);
  assert_int_equal(bl, n);
  if (n) assert_memory_equal(b, want, n);
  assert_int_equal(wsc_payload_equals(p, NULL, want, n), 1);
  free(b);
  wsc_payload_free(p);
}

static void check_error(const char *src, const char *data_dir, size_t offset, const char *msg) {
  struct wsc_payload_parse_opts o = {.data_dir = data_dir};
  struct wsc_payload_error e = {0};
  struct wsc_payload *p = (struct wsc_payload *)1;
  assert_int_equal(wsc_payload_parse(src, strlen(src), &o, &p, &e), WSREF_E_INVALID_ARG);
  assert_null(p);
  assert_string_equal(e.msg, msg);
  assert_int_equal(e.offset, offset);
}

static void test_text_escapes(void **state) {
  (void)state;
  check_bytes("\"Hello\"", "Hello", 5);
  check_bytes("\"\"", "", 0);
  check_bytes("\"a\\r\\n\\t\\0\\\\\\\"z\"", "a\r\n\t\0\\\"z", 8);
  check_bytes("\"\\xce\\xBA\"", "\xce\xba", 2);
  check_bytes("\"\\u{e9}\"", "\xc3\xa9", 2);
  check_bytes("\"\\u{D800}\"", "\xed\xa0\x80", 3); /* a surrogate, on purpose */
  check_bytes("\"\\u{10FFFF}\"", "\xf4\x8f\xbf\xbf", 4);
  check_bytes("\"\\u{110000}\"", "\xf4\x90\x80\x80", 4);     /* beyond Unicode */
  check_bytes("\"\\u{200000}\"", "\xf8\x88\x80\x80\x80", 5); /* 5-byte form */
  check_bytes("\"\\u{7FFFFFFF}\"", "\xfd\xbf\xbf\xbf\xbf\xbf", 6);
  check_bytes("\"\\u{0}\"", "\0", 1);
  check_bytes("  \"x\"  ", "x", 1);
}

static void test_hex(void **state) {
  (void)state;
  check_bytes("hex\"ce ba e1\"", "\xce\xba\xe1", 3);
  check_bytes("hex\"CEBA_e1:00\"", "\xce\xba\xe1\x00", 4);
  check_bytes("hex\"\"", "", 0);
}

static void test_repeat(void **state) {
  (void)state;
  check_bytes("repeat(\"abc\", 7)", "abcabca", 7);
  check_bytes("repeat(\"*\", 0)", "", 0);
  check_bytes("repeat( hex\"00ff\" , 5 )", "\x00\xff\x00\xff\x00", 5);
  check_bytes("repeat(\"a\" + hex\"00\", 3)", "a\0a", 3);
  check_bytes("repeat(\"ab\", 0x3)", "aba", 3);
}

static void test_repeat_is_lazy(void **state) {
  (void)state;
  /* 1 GiB costs nothing until read; reading a slice at the end does not allocate it. */
  struct wsc_payload *p = parse_ok("repeat(\"0123456789\", 1GiB)", NULL);
  uint64_t len = 0;
  assert_int_equal(wsc_payload_length(p, NULL, &len), 0);
  assert_int_equal(len, 1ull << 30);
  uint8_t b[5];
  assert_int_equal(wsc_payload_read(p, NULL, len - 5, b, 5), 0);
  /* 2^30 = 1073741824; offsets 1073741819..23 mod 10 = 9,0,1,2,3 */
  assert_memory_equal(b, "90123", 5);
  assert_int_equal(wsc_payload_read(p, NULL, len - 4, b, 5), WSREF_E_INVALID_ARG);
  wsc_payload_free(p);
}

static void test_concat_and_read(void **state) {
  (void)state;
  check_bytes("\"ab\" + hex\"00\" + repeat(\"xy\", 3)", "ab\0xyx", 6);
  check_bytes("\"ab\"+\"cd\"", "abcd", 4);
  struct wsc_payload *p = parse_ok("\"ab\" + repeat(\"xy\", 5) + \"Z\"", NULL);
  uint8_t b[8] = {0};
  assert_int_equal(wsc_payload_read(p, NULL, 1, b, 7), 0); /* crosses all three segments */
  assert_memory_equal(b, "bxyxyxZ", 7);
  assert_int_equal(wsc_payload_read(p, NULL, 8, b, 0), 0);
  assert_int_equal(wsc_payload_read(p, NULL, 8, b, 1), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_payload_equals(p, NULL, "abxyxyxZ", 8), 1);
  assert_int_equal(wsc_payload_equals(p, NULL, "abxyxyxY", 8), 0);
  assert_int_equal(wsc_payload_equals(p, NULL, "abxyxyx", 7), 0);
  assert_string_equal(wsc_payload_source(p), "\"ab\" + repeat(\"xy\", 5) + \"Z\"");
  wsc_payload_free(p);
}

static void test_file(void **state) {
  struct fx *f = *state;
  struct wsc_payload *p = parse_ok("file(\"blob.bin\")", f->dir);
  uint8_t *b;
  size_t n;
  assert_int_equal(wsc_payload_materialize(p, NULL, &b, &n), 0);
  assert_int_equal(n, sizeof blob);
  assert_memory_equal(b, blob, sizeof blob);
  free(b);
  uint8_t mid[3];
  assert_int_equal(wsc_payload_read(p, NULL, 3, mid, 3), 0);
  assert_memory_equal(mid,
                      "\xfe\xff"
                      "a",
                      3);
  wsc_payload_free(p);

  p = parse_ok("\"<\" + file( \"sub/empty.bin\" ) + \">\"", f->dir);
  assert_int_equal(wsc_payload_materialize(p, NULL, &b, &n), 0);
  assert_int_equal(n, 2);
  assert_memory_equal(b, "<>", 2);
  free(b);
  wsc_payload_free(p);
}

static void test_file_errors(void **state) {
  struct fx *f = *state;
  char msg[200];
  snprintf(msg, sizeof msg, "missing data file '%s/nope.bin'", f->dir);
  check_error("file(\"nope.bin\")", f->dir, 5, msg);
  check_error("file(\"../blob.bin\")", f->dir, 5,
              "bad data file name '../blob.bin': relative, without '..'");
  check_error("file(\"sub/../blob.bin\")", f->dir, 5,
              "bad data file name 'sub/../blob.bin': relative, without '..'");
  check_error("file(\"/etc/passwd\")", f->dir, 5,
              "bad data file name '/etc/passwd': relative, without '..'");
  snprintf(msg, sizeof msg, "missing data file '%s/sub'", f->dir); /* a directory */
  check_error("file(\"sub\")", f->dir, 5, msg);
  check_error("file(\"blob.bin\")", NULL, 5, "missing data file 'blob.bin': no data directory");
  check_error("file(blob.bin)", f->dir, 5, "expected a quoted file name");
}

static void test_vars(void **state) {
  (void)state;
  struct wsc_payload *p = parse_ok("\"GET \" + $target + \" HTTP/1.1\\r\\nHost: \" + $host", NULL);
  assert_true(wsc_payload_has_vars(p));
  uint64_t len;
  assert_int_equal(wsc_payload_length(p, NULL, &len), WSREF_E_INVALID_ARG);
  struct wsc_payload_env env = {.host = "h:1", .target = "/x"};
  uint8_t *b;
  size_t n;
  assert_int_equal(wsc_payload_materialize(p, &env, &b, &n), 0);
  const char *want = "GET /x HTTP/1.1\r\nHost: h:1";
  assert_int_equal(n, strlen(want));
  assert_memory_equal(b, want, n);
  free(b);
  wsc_payload_free(p);

  p = parse_ok("$key + $origin", NULL);
  struct wsc_payload_env env2 = {.key = "K", .origin = "O"};
  assert_int_equal(wsc_payload_equals(p, &env2, "KO", 2), 1);
  env2.origin = NULL;
  assert_int_equal(wsc_payload_equals(p, &env2, "KO", 2), WSREF_E_INVALID_ARG);
  wsc_payload_free(p);

  struct wsc_payload *q = parse_ok("\"x\"", NULL);
  assert_false(wsc_payload_has_vars(q));
  wsc_payload_free(q);
}

static const char *lookup_ackid(void *ud, const char *name) {
  return strcmp(name, "ackid") == 0 ? (const char *)ud : NULL;
}

/* $run, $case, and names a case captured (allowed by the parse options, looked up at run
 * time). */
static void test_run_case_and_captures(void **state) {
  (void)state;
  static const char *const names[] = {"ackid"};
  struct wsc_payload_parse_opts po = {.names = names, .nnames = 1};
  struct wsc_payload *p = NULL;
  static const char src[] = "\"q-\" + $run + \"-\" + $case + \":\" + $ackid";
  assert_int_equal(wsc_payload_parse(src, sizeof src - 1, &po, &p, NULL), 0);
  assert_true(wsc_payload_has_vars(p));
  struct wsc_payload_env env = {
      .run = "R1", .case_id = "c.x", .lookup = lookup_ackid, .lookup_ud = "42"};
  assert_int_equal(wsc_payload_equals(p, &env, "q-R1-c.x:42", 11), 1);
  env.lookup_ud = "";
  assert_int_equal(wsc_payload_equals(p, &env, "q-R1-c.x:", 9), 1);
  env.lookup = NULL; /* a capture that never happened */
  uint64_t len;
  assert_int_equal(wsc_payload_length(p, &env, &len), WSREF_E_INVALID_ARG);
  wsc_payload_free(p);
  /* a name the options do not list is unknown */
  struct wsc_payload_error pe;
  assert_int_equal(wsc_payload_parse("$other", 6, &po, &p, &pe), WSREF_E_INVALID_ARG);
  assert_string_equal(pe.msg, "unknown payload variable '$other'");
  assert_int_equal(wsc_payload_parse("$ackid", 6, NULL, &p, &pe), WSREF_E_INVALID_ARG);
}

static void test_errors(void **state) {
  (void)state;
  check_error("\"abc", NULL, 0, "unterminated string");
  check_error("  \"a\\q\"", NULL, 4, "unknown escape '\\q'");
  check_error("\"\\x4\"", NULL, 1, "bad \\x escape: two hex digits needed");
  check_error("\"\\u{}\"", NULL, 1, "bad \\u escape: write \\u{HEX} with at most 7FFFFFFF");
  check_error("\"\\u{80000000}\"", NULL, 1, "bad \\u escape: write \\u{HEX} with at most 7FFFFFFF");
  check_error("\"\\u12\"", NULL, 1, "bad \\u escape: write \\u{HEX}");
  check_error("hex\"ce zz\"", NULL, 7, "bad hex digit 'z'");
  check_error("hex\"ceb\"", NULL, 6, "odd number of hex digits");
  check_error("hex\"c e\"", NULL, 5, "separator inside a hex byte");
  check_error("hex\"ce", NULL, 3, "unterminated hex string");
  check_error("$nope", NULL, 0, "unknown payload variable '$nope'");
  check_error("repeat \"a\", 3)", NULL, 7, "expected '(' after repeat");
  check_error("repeat(\"a\" 3)", NULL, 11, "expected ',' before the repeat size");
  check_error("repeat(\"a\", 3", NULL, 13, "expected ')' after the repeat size");
  check_error("repeat(\"a\", lots)", NULL, 12, "bad size 'lots'");
  check_error("repeat(\"a\", 3KB)", NULL, 12, "bad size '3KB'");
  check_error("repeat(\"\", 3)", NULL, 7, "repeat of an empty pattern");
  check_error("repeat(repeat(\"a\", 2), 3)", NULL, 7,
              "repeat pattern must be literal bytes (text or hex)");
  check_error("\"a\" \"b\"", NULL, 4, "unexpected '\"' after the payload");
  check_error("\"a\" +", NULL, 5, "expected a payload: \"text\", hex\"..\", repeat(), file()");
  check_error("bogus", NULL, 0,
              "expected a payload: \"text\", hex\"..\", repeat(), file(), not 'bogus'");
  check_error("", NULL, 0, "expected a payload: \"text\", hex\"..\", repeat(), file()");
}

static void test_limit(void **state) {
  (void)state;
  struct wsc_payload_parse_opts o = {.max_len = 10};
  struct wsc_payload_error e = {0};
  struct wsc_payload *p = NULL;
  const char *ok = "repeat(\"a\", 6) + \"abcd\"";
  assert_int_equal(wsc_payload_parse(ok, strlen(ok), &o, &p, &e), 0);
  wsc_payload_free(p);
  const char *big = "repeat(\"a\", 6) + \"abcde\"";
  assert_int_equal(wsc_payload_parse(big, strlen(big), &o, &p, &e), WSREF_E_INVALID_ARG);
  assert_string_equal(e.msg, "payload longer than the limit of 10 bytes");
  assert_int_equal(e.offset, 17);
  /* default limit: 1 GiB */
  const char *huge = "repeat(\"a\", 1GiB) + \"x\"";
  assert_int_equal(wsc_payload_parse(huge, strlen(huge), NULL, &p, &e), WSREF_E_INVALID_ARG);
  assert_string_equal(e.msg, "payload longer than the limit of 1073741824 bytes");
}

static void test_parse_size(void **state) {
  (void)state;
  uint64_t v;
  assert_int_equal(wsc_parse_size("65536", 5, &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(wsc_parse_size("64KiB", 5, &v), 0);
  assert_int_equal(v, 65536);
  assert_int_equal(wsc_parse_size("16MiB", 5, &v), 0);
  assert_int_equal(v, 16u << 20);
  assert_int_equal(wsc_parse_size("2GiB", 4, &v), 0);
  assert_int_equal(v, 2ull << 30);
  assert_int_equal(wsc_parse_size("0x7fffffffffffffff", 18, &v), 0);
  assert_int_equal(v, 0x7fffffffffffffffull);
  assert_int_equal(wsc_parse_size("18446744073709551615", 20, &v), 0);
  assert_int_equal(v, UINT64_MAX);
  assert_int_equal(wsc_parse_size("18446744073709551616", 20, &v), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_size("0x", 2, &v), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_size("", 0, &v), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_size("12k", 3, &v), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_size("-1", 2, &v), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_size("17179869184GiB", 14, &v), WSREF_E_INVALID_ARG);
}

static void test_from_bytes_append(void **state) {
  (void)state;
  struct wsc_payload *p = wsc_payload_from_bytes("\x03\xe8", 2);
  assert_non_null(p);
  assert_string_equal(wsc_payload_source(p), "");
  assert_int_equal(wsc_payload_append(p, parse_ok("\"bye\"", NULL)), 0);
  assert_string_equal(wsc_payload_source(p), "\"bye\"");
  assert_int_equal(wsc_payload_equals(p, NULL,
                                      "\x03\xe8"
                                      "bye",
                                      5),
                   1);
  assert_int_equal(wsc_payload_append(p, parse_ok("repeat(\"!\", 2)", NULL)), 0);
  assert_string_equal(wsc_payload_source(p), "\"bye\" + repeat(\"!\", 2)");
  assert_int_equal(wsc_payload_equals(p, NULL,
                                      "\x03\xe8"
                                      "bye!!",
                                      7),
                   1);
  wsc_payload_free(p);

  struct wsc_payload *e = wsc_payload_from_bytes(NULL, 0);
  uint8_t *b = NULL;
  size_t n = 9;
  assert_int_equal(wsc_payload_materialize(e, NULL, &b, &n), 0);
  assert_non_null(b);
  assert_int_equal(n, 0);
  free(b);
  wsc_payload_free(e);
  wsc_payload_free(NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_text_escapes),
      cmocka_unit_test(test_hex),
      cmocka_unit_test(test_repeat),
      cmocka_unit_test(test_repeat_is_lazy),
      cmocka_unit_test(test_concat_and_read),
      cmocka_unit_test(test_file),
      cmocka_unit_test(test_file_errors),
      cmocka_unit_test(test_vars),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_limit),
      cmocka_unit_test(test_parse_size),
      cmocka_unit_test(test_from_bytes_append),
      cmocka_unit_test(test_run_case_and_captures),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
