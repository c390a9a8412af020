/* STOMP codec (reference/codec/stomp.h). Test names cite the checklist ids of
 * stomp-and-spring.md section 1.11 (FR, ES, BD, RH, SZ) and the Spring divergences (D5,
 * D6, D6b) of section 2.12; spring-profile tests mirror sections 2.1-2.3.
 *
 * Decoded frames are written to a one-line-per-frame transcript:
 *   COMMAND|name=value|...|body=<octets>      (the body part only when non-empty)
 *   HEARTBEAT
 *   ERR WSREF_E_...
 *   END buffered=N                             (after the last piece, when no error)
 * Octets outside 0x20..0x7e and the backslash are written as \xNN. */
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
#include "support/split.h"

#define S(lit) (const uint8_t *)(lit), sizeof(lit) - 1

/* ---- transcript ---- */

static void put(wsref_buf *t, const void *p, size_t n) {
  const uint8_t *s = p;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < 0x20 || s[i] > 0x7e || s[i] == '\\')
      wsref_buf_appendf(t, "\\x%02x", s[i]);
    else
      wsref_buf_append(t, s + i, 1);
  }
}

static int rec(const wsref_stomp_frame *f, void *ud) {
  wsref_buf *t = ud;
  const char *name = wsref_stomp_command_name(f->command);
  wsref_buf_append(t, name, strlen(name));
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    /* The decoder promises NUL-terminated copies. */
    assert_int_equal(h->name[h->name_len], 0);
    assert_int_equal(h->value[h->value_len], 0);
    wsref_buf_append(t, "|", 1);
    put(t, h->name, h->name_len);
    wsref_buf_append(t, "=", 1);
    put(t, h->value, h->value_len);
  }
  if (f->body_len) {
    wsref_buf_append(t, "|body=", 6);
    put(t, f->body, f->body_len);
  }
  wsref_buf_append(t, "\n", 1);
  return 0;
}

typedef struct dec_ctx {
  wsref_stomp_decoder_options opt;
  wsref_stomp_decoder *d;
  int err;
} dec_ctx;

static void t_reset(void *ctx) {
  dec_ctx *c = ctx;
  wsref_stomp_decoder_free(c->d);
  c->d = wsref_stomp_decoder_new(&c->opt);
  assert_non_null(c->d);
  c->err = 0;
}

static void t_feed(void *ctx, uint8_t *piece, size_t len, wsref_buf *t) {
  dec_ctx *c = ctx;
  int rc = wsref_stomp_decode(c->d, piece, len, rec, t);
  if (rc && !c->err) {
    wsref_buf_appendf(t, "ERR %s\n", wsref_err_name(rc));
    c->err = rc;
  }
  if (c->err) assert_int_equal(rc, c->err); /* sticky */
}

static void t_finish(void *ctx, wsref_buf *t) {
  dec_ctx *c = ctx;
  if (!c->err) wsref_buf_appendf(t, "END buffered=%zu\n", wsref_stomp_decoder_buffered(c->d));
}

static wsref_stomp_decoder_options opts(enum wsref_stomp_version v, enum wsref_stomp_profile pr) {
  wsref_stomp_decoder_options o;
  memset(&o, 0, sizeof o);
  o.version = v;
  o.profile = pr;
  return o;
}

#define SPEC12 opts(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC)
#define SPEC11 opts(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPEC)
#define SPEC10 opts(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC)
#define SPRING12 opts(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING)
#define SPRING11 opts(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPRING)
#define SPRING10 opts(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPRING)

/* Decode data cut at the given positions; returns the transcript (static storage). */
static const char *cuts_o(wsref_stomp_decoder_options o, const uint8_t *data, size_t n,
                          const size_t *cuts, size_t ncuts) {
  static wsref_buf out = WSREF_BUF_INIT;
  dec_ctx c = {o, NULL, 0};
  split_target t = {t_reset, t_feed, t_finish, &c};
  assert_int_equal(split_run(&t, data, n, cuts, ncuts, &out), 0);
  wsref_stomp_decoder_free(c.d);
  return (const char *)wsref_buf_head(&out);
}

static const char *dec_o(wsref_stomp_decoder_options o, const uint8_t *data, size_t n) {
  return cuts_o(o, data, n, NULL, 0);
}

/* One buffer, and also every 2-way split, every chunk size 1..17 and (short inputs) every
 * 3-way split: all must agree (FR-13). Only for the spec profile. */
static const char *dec_split_o(wsref_stomp_decoder_options o, const uint8_t *data, size_t n) {
  dec_ctx c = {o, NULL, 0};
  split_target t = {t_reset, t_feed, t_finish, &c};
  assert_int_equal(split_check(&t, data, n, NULL), 0);
  wsref_stomp_decoder_free(c.d);
  return dec_o(o, data, n);
}

#define DEC(o, lit) dec_split_o(o, S(lit))
#define DEC1(o, lit) dec_o(o, S(lit))

/* Feed transport chunks (spring tests: chunk boundaries matter there). The chunks are
 * C strings in which "^@" stands for a NUL octet; the list ends with NULL. */
static const char *pieces(wsref_stomp_decoder_options o, ...) {
  static wsref_buf out = WSREF_BUF_INIT;
  wsref_buf_reset(&out);
  dec_ctx c = {o, NULL, 0};
  t_reset(&c);
  va_list ap;
  va_start(ap, o);
  for (const char *s = va_arg(ap, const char *); s; s = va_arg(ap, const char *)) {
    size_t n = strlen(s), len = 0;
    uint8_t *piece = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++) {
      if (s[i] == '^' && s[i + 1] == '@') {
        piece[len++] = 0;
        i++;
      } else {
        piece[len++] = (uint8_t)s[i];
      }
    }
    t_feed(&c, piece, len, &out);
    free(piece);
  }
  va_end(ap);
  t_finish(&c, &out);
  wsref_buf_append(&out, "", 1);
  wsref_stomp_decoder_free(c.d);
  return (const char *)wsref_buf_head(&out);
}

#define PIECES(o, ...) pieces(o, __VA_ARGS__, (const char *)NULL)

/* ---- FR: framing ---- */

static void test_fr01_minimal(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "DISCONNECT\n\n\0"), "DISCONNECT\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC11, "DISCONNECT\n\n\0"), "DISCONNECT\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC10, "DISCONNECT\n\n\0"), "DISCONNECT\nEND buffered=0\n");
  assert_string_equal(DEC1(SPRING12, "DISCONNECT\n\n\0"), "DISCONNECT\nEND buffered=0\n");
  /* Incomplete frames: buffered counts the frame's octets. */
  assert_string_equal(DEC(SPEC12, "SEND\ndestination:/a\n\nhel"), "END buffered=24\n");
  assert_string_equal(DEC(SPEC12, ""), "END buffered=0\n");
}

static void test_fr02_crlf(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "DISCONNECT\r\n\r\n\0"), "DISCONNECT\nEND buffered=0\n");
  assert_string_equal(
      DEC(SPEC12, "SEND\r\ndestination:/q\r\na:b\n\r\nhi\r\n\0\r\n\r\nACK\r\nid:1\r\n\r\n\0\r\n"),
      "SEND|destination=/q|a=b|body=hi\\x0d\\x0a\nACK|id=1\nEND buffered=0\n");
  /* A CR at the end of the input is just incomplete in the spec profile. */
  const uint8_t in[] = "SEND\r\nx:y\r\n\r\n\0";
  for (size_t k = 1; k < sizeof in - 1; k++)
    assert_string_equal(cuts_o(SPEC12, in, sizeof in - 1, &k, 1), "SEND|x=y\nEND buffered=0\n");
}

static void test_fr03_bare_cr(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SE\rND\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC12, "SEND\r\n\n\0"), "SEND\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SEND\r\r\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:b\rc\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:b\n\rx\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  /* between frames, and before the first */
  assert_string_equal(DEC(SPEC12, "SEND\n\n\0\rX"), "SEND\nERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC12, "\r\r\n"), "ERR WSREF_E_STOMP_EOL\n");
  /* the body is opaque */
  assert_string_equal(DEC(SPEC12, "SEND\n\na\rb\0"), "SEND|body=a\\x0db\nEND buffered=0\n");
  /* a trailing CR waits for its LF */
  assert_string_equal(DEC(SPEC12, "SEND\na:b\r"), "END buffered=9\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\n\0\r"), "SEND\nEND buffered=0\n");
  /* 1.0 / 1.1 have no CRLF: a CR that can only be one is an EOL error; elsewhere in a
   * header it is an ordinary octet (the 1.1 grammar excludes only LF and ':'). */
  assert_string_equal(DEC(SPEC11, "SEND\r\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC11, "SEND\n\r\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC10, "SEND\r\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC11, "\r\nSEND\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(SPEC11, "SEND\na:b\r\nc\rd:e\n\n\0"),
                      "SEND|a=b\\x0d|c\\x0dd=e\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC10, "SEND\na:b\r\n\n\0"), "SEND|a=b\\x0d\nEND buffered=0\n");
}

static void test_fr04_eols_and_heartbeats(void **state) {
  (void)state;
  /* EOLs after a NUL belong to the frame (NULL *(EOL)): never a heart-beat. */
  assert_string_equal(DEC(SPEC12, "SEND\n\n\0\n\n\n"), "SEND\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\n\0\n\r\n\nSEND\n\n\0\n"),
                      "SEND\nSEND\nEND buffered=0\n");
  /* A run of EOLs at the start of the stream is ONE heart-beat, reported at its first EOL. */
  assert_string_equal(DEC(SPEC12, "\n"), "HEARTBEAT\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "\r\n\n\r\n"), "HEARTBEAT\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "\n\nSEND\n\n\0"), "HEARTBEAT\nSEND\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC11, "\n\n\nCONNECT\n\n\0\n\n"),
                      "HEARTBEAT\nCONNECT\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "\r"), "END buffered=0\n");
  assert_string_equal(DEC(SPEC10, "\nSEND\n\n\0"), "HEARTBEAT\nSEND\nEND buffered=0\n");
}

static void test_fr05_commands_case_sensitive(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "send\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC12, "Send\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_int_equal(wsref_stomp_command_parse("send", 4), -1);
  assert_int_equal(wsref_stomp_command_parse("SEND", 4), WSREF_STOMP_SEND);
  /* detected as soon as the command line is complete (spec profile) */
  assert_string_equal(DEC(SPEC12, "FOO\n"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC12, "SENDX"), "END buffered=5\n");
}

static void test_fr06_header_names_case_sensitive(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\nDestination:/a\ndestination:/b\n\n\0"),
                      "SEND|Destination=/a|destination=/b\nEND buffered=0\n");
  wsref_stomp_header h[] = {{"Destination", 11, "/a", 2}, {"destination", 11, "/b", 2}};
  wsref_stomp_frame f = {WSREF_STOMP_SEND, h, 2, NULL, 0};
  assert_ptr_equal(wsref_stomp_frame_header(&f, "destination"), &h[1]);
  assert_ptr_equal(wsref_stomp_frame_header(&f, "Destination"), &h[0]);
  assert_null(wsref_stomp_frame_header(&f, "DESTINATION"));
}

static void test_fr07_body_not_allowed(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SUBSCRIBE\nid:0\n\nx\0"),
                      "ERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
  /* the first body octet decides: the NUL need not have arrived */
  assert_string_equal(DEC(SPEC12, "ACK\nid:0\n\nx"), "ERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
  /* a declared content-length > 0 fails at the blank line, before the body */
  assert_string_equal(DEC(SPEC12, "BEGIN\ncontent-length:3\n\n"),
                      "ERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
  assert_string_equal(DEC(SPEC12, "BEGIN\ncontent-length:0\n\n\0"),
                      "BEGIN|content-length=0\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\nx\0MESSAGE\n\ny\0ERROR\n\nz\0"),
                      "SEND|body=x\nMESSAGE|body=y\nERROR|body=z\nEND buffered=0\n");
  static const int cmds[] = {WSREF_STOMP_CONNECT,   WSREF_STOMP_STOMP,       WSREF_STOMP_CONNECTED,
                             WSREF_STOMP_SUBSCRIBE, WSREF_STOMP_UNSUBSCRIBE, WSREF_STOMP_ACK,
                             WSREF_STOMP_NACK,      WSREF_STOMP_BEGIN,       WSREF_STOMP_COMMIT,
                             WSREF_STOMP_ABORT,     WSREF_STOMP_DISCONNECT,  WSREF_STOMP_RECEIPT};
  for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
    char in[64];
    int n = snprintf(in, sizeof in, "%s\n\nb", wsref_stomp_command_name(cmds[i]));
    assert_false(wsref_stomp_body_allowed(cmds[i]));
    assert_string_equal(dec_o(SPEC12, (const uint8_t *)in, (size_t)n + 1),
                        "ERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
  }
  assert_true(wsref_stomp_body_allowed(WSREF_STOMP_SEND));
  assert_true(wsref_stomp_body_allowed(WSREF_STOMP_MESSAGE));
  assert_true(wsref_stomp_body_allowed(WSREF_STOMP_ERROR));
}

static void test_fr08_utf8(void **state) {
  (void)state;
  /* RabbitMQ test_unicode: non-ASCII names and values round-trip unchanged. */
  assert_string_equal(DEC(SPEC12, "SEND\n\xc3\xa9t\xc3\xa9:\xe2\x82\xac\xf0\x9f\x98\x80\n\n\0"),
                      "SEND|\\xc3\\xa9t\\xc3\\xa9=\\xe2\\x82\\xac\\xf0\\x9f\\x98\\x80\n"
                      "END buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:\xff\n\n\0"), "ERR WSREF_E_STOMP_UTF8\n");
  assert_string_equal(DEC(SPEC11, "SEND\n\xc0\xaf:b\n\n\0"), "ERR WSREF_E_STOMP_UTF8\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:\xed\xa0\x80\n\n\0"), "ERR WSREF_E_STOMP_UTF8\n");
  assert_string_equal(DEC(SPEC12, "CONNECT\na:\xe2\x82\n\n\0"), "ERR WSREF_E_STOMP_UTF8\n");
  /* 1.0 is not checked */
  assert_string_equal(DEC(SPEC10, "SEND\na:\xff\n\n\0"), "SEND|a=\\xff\nEND buffered=0\n");
  /* bodies are opaque */
  assert_string_equal(DEC(SPEC12, "SEND\n\n\xff\0"), "SEND|body=\\xff\nEND buffered=0\n");
}

static void test_fr09_no_trimming(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\n foo : bar \n\n\0"), "SEND| foo = bar \nEND buffered=0\n");
  assert_string_equal(DEC(SPEC11, "SEND\n foo : bar \n\n\0"), "SEND| foo = bar \nEND buffered=0\n");
  /* 1.0 keeps the octets too (documented choice) */
  assert_string_equal(DEC(SPEC10, "SEND\nlogin: guest\n\n\0"),
                      "SEND|login= guest\nEND buffered=0\n");
}

static void test_fr10_empty_value(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\nkey:\n\n\0"), "SEND|key=\nEND buffered=0\n");
  /* first colon splits: the value may hold more colons (lenient, like every broker) */
  assert_string_equal(DEC(SPEC12, "SEND\na:b:c\n\n\0"), "SEND|a=b:c\nEND buffered=0\n");
}

static void test_fr11_malformed_header(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\nnocolon\n\n\0"), "ERR WSREF_E_STOMP_HEADER\n");
  assert_string_equal(DEC(SPEC12, "SEND\n:value\n\n\0"), "ERR WSREF_E_STOMP_HEADER\n");
  assert_string_equal(DEC(SPEC10, "SEND\nnocolon\n\n\0"), "ERR WSREF_E_STOMP_HEADER\n");
  assert_string_equal(DEC(SPEC11, "SEND\n:\n\n\0"), "ERR WSREF_E_STOMP_HEADER\n");
  /* detected when the line is complete */
  assert_string_equal(DEC(SPEC12, "SEND\nnocolon\n"), "ERR WSREF_E_STOMP_HEADER\n");
  assert_string_equal(DEC(SPEC12, "SEND\nnocolon"), "END buffered=12\n");
}

static void test_fr12_unknown_commands(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "FOO\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\n\0BAR\n\n\0"), "SEND\nERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC12, "\0SEND\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC12, "HEARTBEAT\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  /* NACK and STOMP do not exist in 1.0 */
  assert_string_equal(DEC(SPEC10, "NACK\nmessage-id:1\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC10, "STOMP\n\n\0"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(DEC(SPEC11, "NACK\n\n\0STOMP\n\n\0"), "NACK\nSTOMP\nEND buffered=0\n");
  /* every command by name */
  for (int c = WSREF_STOMP_CONNECT; c < WSREF_STOMP_COMMAND_COUNT; c++) {
    const char *n = wsref_stomp_command_name(c);
    assert_int_equal(wsref_stomp_command_parse(n, strlen(n)), c);
    assert_int_equal(wsref_stomp_command_parse(n, strlen(n) - 1), -1);
  }
  assert_string_equal(wsref_stomp_command_name(WSREF_STOMP_HEARTBEAT), "HEARTBEAT");
  assert_int_equal(wsref_stomp_command_parse("HEARTBEAT", 9), -1);
  assert_string_equal(wsref_stomp_command_name(WSREF_STOMP_COMMAND_COUNT), "UNKNOWN");
}

/* A stream of many frames exercising everything at once. */
static const char stream12[] =
    "\n\r\n"
    "CONNECT\r\naccept-version:1.2\r\nhost:/\r\nx:a\\cb\r\n\r\n\0\r\n"
    "SUBSCRIBE\nid:0\ndestination:/queue/a\nack:client\n\n\0\n\n"
    "SEND\ndestination:/queue/a\ncontent-type:text/plain\ncontent-length:5\n\nA\0B\0C\0"
    "SEND\ndestination:/q\\c1\nesc:\\r\\n\\c\\\\\n\n\xe2\x82\xac\0"
    "MESSAGE\nfoo:World\nfoo:Hello\n\n\0"
    "ERROR\ncontent-length:0\n\n\0\n"
    "MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\n\n"
    "hello queue a\0"
    "ACK\nid:12\n\n\0"
    "SEND\nk:\n\n\0\r\n"
    "DISCONNECT\r\nreceipt:77\r\n\r\n\0";

static const char stream12_expect[] =
    "HEARTBEAT\n"
    "CONNECT|accept-version=1.2|host=/|x=a\\x5ccb\n"
    "SUBSCRIBE|id=0|destination=/queue/a|ack=client\n"
    "SEND|destination=/queue/a|content-type=text/plain|content-length=5|body=A\\x00B\\x00C\n"
    "SEND|destination=/q:1|esc=\\x0d\\x0a:\\x5c|body=\\xe2\\x82\\xac\n"
    "MESSAGE|foo=World|foo=Hello\n"
    "ERROR|content-length=0\n"
    "MESSAGE|subscription=0|message-id=007|destination=/queue/a|content-type=text/plain"
    "|body=hello queue a\n"
    "ACK|id=12\n"
    "SEND|k=\n"
    "DISCONNECT|receipt=77\n"
    "END buffered=0\n";

static void test_fr13_split_invariance_stream(void **state) {
  (void)state;
  /* dec_split_o checks all 2-way splits and chunk sizes 1..17 (byte by byte included). */
  assert_string_equal(dec_split_o(SPEC12, (const uint8_t *)stream12, sizeof stream12 - 1),
                      stream12_expect);
  /* and 3-way splits over a shorter stream */
  static const char shorter[] = "\nSEND\na:\\c\r\n\r\nx\0\r\nACK\ncontent-length:1\n\n\0\0\n";
  dec_ctx c = {SPEC12, NULL, 0};
  split_target t = {t_reset, t_feed, t_finish, &c};
  split_plan all3 = {1, 4, 64};
  assert_int_equal(split_check(&t, (const uint8_t *)shorter, sizeof shorter - 1, &all3), 0);
  wsref_stomp_decoder_free(c.d);
  assert_string_equal(dec_o(SPEC12, (const uint8_t *)shorter, sizeof shorter - 1),
                      "HEARTBEAT\nSEND|a=:|body=x\nERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
}

static void test_fr13_split_invariance_versions(void **state) {
  (void)state;
  static const char s11[] =
      "\nCONNECT\naccept-version:1.1\nhost:/\n\n\0\n"
      "SEND\ndestination:/a\nv:\\n\\c\\\\x\nraw:a\rb\n\nbody\0\n\n"
      "NACK\nmessage-id:1\nsubscription:0\n\n\0";
  assert_string_equal(dec_split_o(SPEC11, (const uint8_t *)s11, sizeof s11 - 1),
                      "HEARTBEAT\nCONNECT|accept-version=1.1|host=/\n"
                      "SEND|destination=/a|v=\\x0a:\\x5cx|raw=a\\x0db|body=body\n"
                      "NACK|message-id=1|subscription=0\nEND buffered=0\n");
  static const char s10[] =
      "CONNECT\nlogin: guest\npasscode:a\\b\n\n\0\n"
      "SEND\ndestination:/a\nv:x:y\\n\ncontent-length:2\n\n\0\0\0";
  assert_string_equal(dec_split_o(SPEC10, (const uint8_t *)s10, sizeof s10 - 1),
                      "CONNECT|login= guest|passcode=a\\x5cb\n"
                      "SEND|destination=/a|v=x:y\\x5cn|content-length=2|body=\\x00\\x00\n"
                      "END buffered=0\n");
}

/* ---- ES: escaping ---- */

static void test_es01_decode_12(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\na\\cb\\r\\n\\\\:\\r\\n\\c\\\\\n\n\0"),
                      "SEND|a:b\\x0d\\x0a\\x5c=\\x0d\\x0a:\\x5c\nEND buffered=0\n");
  /* the escapes apply to MESSAGE, ERROR, every frame but CONNECT/STOMP/CONNECTED */
  assert_string_equal(DEC(SPEC12, "ERROR\nmessage:a\\cb\n\n\0"),
                      "ERROR|message=a:b\nEND buffered=0\n");
}

static void test_es02_decode_11(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC11, "SEND\na\\cb:\\n\\c\\\\\n\n\0"),
                      "SEND|a:b=\\x0a:\\x5c\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC11, "SEND\na:\\r\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
}

static void test_es03_undefined_escapes(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\na:\\t\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:\\x\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:b\\\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC12, "SEND\na\\:b\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\\C:b\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC11, "SEND\na:\\t\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
  assert_string_equal(DEC(SPEC11, "MESSAGE\na:b\\\n\n\0"), "ERR WSREF_E_STOMP_ESCAPE\n");
}

static void test_es05_connect_not_unescaped(void **state) {
  (void)state;
  /* stomp-and-spring ES-05: key:\value in CONNECT yields \value literally */
  assert_string_equal(DEC(SPEC12, "CONNECT\nkey:\\value\n\n\0"),
                      "CONNECT|key=\\x5cvalue\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "STOMP\nkey:\\t\\\n\n\0"),
                      "STOMP|key=\\x5ct\\x5c\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC11, "CONNECTED\nserver:a\\cb\n\n\0"),
                      "CONNECTED|server=a\\x5ccb\nEND buffered=0\n");
  assert_string_equal(DEC1(SPRING12, "CONNECT\nkey:\\value\n\n\0"),
                      "CONNECT|key=\\x5cvalue\nEND buffered=0\n");
}

static void test_es06_no_nested_escapes(void **state) {
  (void)state;
  /* RabbitMQ no_nested_escapes: wire \\r (3 octets) is backslash, r */
  assert_string_equal(DEC(SPEC12, "SEND\na:\\\\r\n\n\0"), "SEND|a=\\x5cr\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SEND\na:\\\\c\\\\n\n\n\0"),
                      "SEND|a=\\x5cc\\x5cn\nEND buffered=0\n");
}

static void test_es07_10_literal(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC10, "SEND\na\\c:b\\n\\t\\\n\n\0"),
                      "SEND|a\\x5cc=b\\x5cn\\x5ct\\x5c\nEND buffered=0\n");
}

static const char *enc(enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                       const wsref_stomp_frame *f, int *rc) {
  static wsref_buf out = WSREF_BUF_INIT;
  wsref_buf_reset(&out);
  *rc = wsref_stomp_encode(&out, v, pr, f);
  static char s[8192];
  size_t o = 0;
  for (size_t i = 0; i < wsref_buf_len(&out) && o + 5 < sizeof s; i++) {
    uint8_t c = wsref_buf_head(&out)[i];
    if (c == 0)
      o += (size_t)snprintf(s + o, sizeof s - o, "^@");
    else
      s[o++] = (char)c;
  }
  s[o] = 0;
  return s;
}

#define H(n, v) \
  { n, sizeof(n) - 1, v, sizeof(v) - 1 }

static void test_es04_encoder_escapes(void **state) {
  (void)state;
  wsref_stomp_header h[] = {H("a:b\\", "c\nd\re:f\\")};
  wsref_stomp_frame f = {WSREF_STOMP_SUBSCRIBE, h, 1, NULL, 0};
  int rc;
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "SUBSCRIBE\na\\cb\\\\:c\\nd\\re\\cf\\\\\n\n^@");
  assert_int_equal(rc, 0);
  /* 1.1: no \r escape (undefined there); a raw CR is a legal 1.1 header octet */
  assert_string_equal(enc(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "SUBSCRIBE\na\\cb\\\\:c\\nd\re\\cf\\\\\n\n^@");
  assert_int_equal(rc, 0);
  /* MESSAGE and ERROR are escaped as well */
  f.command = WSREF_STOMP_MESSAGE;
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "MESSAGE\na\\cb\\\\:c\\nd\\re\\cf\\\\\n\n^@");
  /* standalone */
  wsref_buf b = WSREF_BUF_INIT;
  assert_int_equal(wsref_stomp_escape(&b, WSREF_STOMP_V12, "\r\n:\\x", 5), 0);
  assert_int_equal(wsref_buf_len(&b), 9);
  assert_memory_equal(wsref_buf_head(&b), "\\r\\n\\c\\\\x", 9);
  wsref_buf_reset(&b);
  assert_int_equal(wsref_stomp_escape(&b, WSREF_STOMP_V11, "\r\n:\\x", 5), 0);
  assert_int_equal(wsref_buf_len(&b), 8);
  assert_memory_equal(wsref_buf_head(&b), "\r\\n\\c\\\\x", 8);
  wsref_buf_reset(&b);
  assert_int_equal(wsref_stomp_escape(&b, WSREF_STOMP_V10, "a:\\b", 4), 0);
  assert_memory_equal(wsref_buf_head(&b), "a:\\b", 4);
  assert_int_equal(wsref_stomp_escape(&b, WSREF_STOMP_V10, "a\nb", 3), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_buf_len(&b), 4);
  assert_int_equal(wsref_stomp_escape(&b, (enum wsref_stomp_version)13, "a", 1),
                   WSREF_E_INVALID_ARG);
  wsref_buf_free(&b);
}

static void test_es05_encoder_connect_raw(void **state) {
  (void)state;
  wsref_stomp_header h[] = {H("passcode", "a:b\\c")};
  wsref_stomp_frame f = {WSREF_STOMP_CONNECT, h, 1, NULL, 0};
  int rc;
  for (int c = 0; c < 3; c++) {
    f.command = c == 0 ? WSREF_STOMP_CONNECT : c == 1 ? WSREF_STOMP_STOMP : WSREF_STOMP_CONNECTED;
    char want[64];
    snprintf(want, sizeof want, "%s\npasscode:a:b\\c\n\n^@", wsref_stomp_command_name(f.command));
    assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc), want);
    assert_int_equal(rc, 0);
    assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING, &f, &rc), want);
    assert_int_equal(rc, 0);
  }
  /* unwritable raw values (spec profile) */
  wsref_stomp_header bad[][1] = {{H("a", "b\nc")}, {H("a:b", "c")}, {H("a", "b\rc")}};
  for (int i = 0; i < 3; i++) {
    f.command = WSREF_STOMP_CONNECT;
    f.headers = bad[i];
    enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc);
    assert_int_equal(rc, WSREF_E_INVALID_ARG);
  }
  f.headers = bad[2]; /* a raw CR is fine in 1.1 */
  assert_string_equal(enc(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "CONNECT\na:b\rc\n\n^@");
  assert_int_equal(rc, 0);
}

/* ES-08: escape(unescape(x)) == x, and decode(encode(frame)) == frame, for every octet. */
static uint32_t rng_state;
static uint32_t rnd(void) {
  rng_state = rng_state * 1103515245u + 12345u;
  return rng_state >> 8;
}

typedef struct cap_ctx {
  wsref_stomp_frame f;
  wsref_stomp_header h[8];
  char names[8][64], values[8][64];
  uint8_t body[256];
  int n;
} cap_ctx;

static int capture(const wsref_stomp_frame *f, void *ud) {
  cap_ctx *c = ud;
  c->n++;
  c->f = *f;
  assert_true(f->nheaders <= 8);
  for (size_t i = 0; i < f->nheaders; i++) {
    assert_true(f->headers[i].name_len < 64 && f->headers[i].value_len < 64);
    memcpy(c->names[i], f->headers[i].name, f->headers[i].name_len + 1);
    memcpy(c->values[i], f->headers[i].value, f->headers[i].value_len + 1);
    c->h[i] = f->headers[i];
    c->h[i].name = c->names[i];
    c->h[i].value = c->values[i];
  }
  c->f.headers = c->h;
  assert_true(f->body_len <= sizeof c->body);
  if (f->body_len) memcpy(c->body, f->body, f->body_len);
  c->f.body = c->body;
  return 0;
}

static void test_es08_roundtrip(void **state) {
  (void)state;
  rng_state = 8;
  static const char alpha[] = "ab:\\\r\n \xc3\xa9";
  for (int iter = 0; iter < 3000; iter++) {
    enum wsref_stomp_version v = iter % 3 == 0 ? WSREF_STOMP_V11 : WSREF_STOMP_V12;
    enum wsref_stomp_profile pr =
        iter % 5 == 0 ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
    if (pr == WSREF_STOMP_PROFILE_SPRING) v = WSREF_STOMP_V12;
    char names[4][16], values[4][16];
    wsref_stomp_header h[4];
    size_t nh = rnd() % 5;
    for (size_t i = 0; i < nh; i++) {
      size_t nl = 1 + rnd() % 8, vl = rnd() % 8;
      for (size_t k = 0; k < nl; k++) names[i][k] = alpha[rnd() % (sizeof alpha - 1)];
      for (size_t k = 0; k < vl; k++) values[i][k] = alpha[rnd() % (sizeof alpha - 1)];
      if (v == WSREF_STOMP_V11) { /* keep 1.1 raw CRs away from the line end and from names */
        for (size_t k = 0; k < nl; k++)
          if (names[i][k] == '\r') names[i][k] = 'r';
        for (size_t k = 0; k < vl; k++)
          if (values[i][k] == '\r') values[i][k] = 'r';
      }
      /* keep strings valid UTF-8: drop a lone lead byte */
      for (size_t k = 0; k < nl; k++)
        if ((uint8_t)names[i][k] >= 0x80) names[i][k] = 'x';
      for (size_t k = 0; k < vl; k++)
        if ((uint8_t)values[i][k] >= 0x80) values[i][k] = 'y';
      h[i] = (wsref_stomp_header){names[i], nl, values[i], vl};
      /* escaping is exact: escape(x) then unescape gives x (checked by the decode below) */
    }
    uint8_t body[32];
    size_t bl = rnd() % 3 == 0 ? 0 : rnd() % 32;
    for (size_t k = 0; k < bl; k++) body[k] = (uint8_t)rnd();
    wsref_stomp_frame f = {iter % 2 ? WSREF_STOMP_SEND : WSREF_STOMP_MESSAGE, h, nh, body, bl};
    wsref_buf out = WSREF_BUF_INIT;
    assert_int_equal(wsref_stomp_encode(&out, v, pr, &f), 0);
    wsref_stomp_decoder_options o = opts(v, pr);
    wsref_stomp_decoder *d = wsref_stomp_decoder_new(&o);
    cap_ctx c;
    memset(&c, 0, sizeof c);
    assert_int_equal(wsref_stomp_decode(d, wsref_buf_head(&out), wsref_buf_len(&out), capture, &c),
                     0);
    assert_int_equal(c.n, 1);
    assert_int_equal(c.f.command, f.command);
    size_t extra = (pr == WSREF_STOMP_PROFILE_SPRING || bl > 0) ? 1 : 0; /* content-length */
    assert_int_equal(c.f.nheaders, nh + extra);
    for (size_t i = 0; i < nh; i++) {
      assert_int_equal(c.f.headers[i].name_len, h[i].name_len);
      assert_memory_equal(c.f.headers[i].name, h[i].name, h[i].name_len);
      assert_int_equal(c.f.headers[i].value_len, h[i].value_len);
      assert_memory_equal(c.f.headers[i].value, h[i].value, h[i].value_len);
    }
    assert_int_equal(c.f.body_len, bl);
    if (bl) assert_memory_equal(c.f.body, body, bl);
    /* re-encoding the decoded frame gives the same octets (escape(unescape(x)) == x) */
    wsref_buf again = WSREF_BUF_INIT;
    wsref_stomp_frame g = c.f;
    assert_int_equal(wsref_stomp_encode(&again, v, pr, &g), 0);
    assert_int_equal(wsref_buf_len(&again), wsref_buf_len(&out));
    assert_memory_equal(wsref_buf_head(&again), wsref_buf_head(&out), wsref_buf_len(&out));
    wsref_buf_free(&again);
    wsref_buf_free(&out);
    wsref_stomp_decoder_free(d);
  }
}

/* ---- BD: body and content-length ---- */

static void test_bd01_content_length_with_nuls(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:3\n\n\0\0\0\0"),
                      "SEND|content-length=3|body=\\x00\\x00\\x00\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "MESSAGE\ncontent-length:04\n\na\0b\n\0\n"),
                      "MESSAGE|content-length=04|body=a\\x00b\\x0a\nEND buffered=0\n");
  /* only the first content-length counts (RH-01); later ones are history */
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:1\ncontent-length:x\n\n\0\0"),
                      "SEND|content-length=1|content-length=x|body=\\x00\nEND buffered=0\n");
  /* content-length is a standard header on any frame (not only SEND) */
  assert_string_equal(DEC(SPEC12, "SUBSCRIBE\nid:1\ncontent-length:0\n\n\0"),
                      "SUBSCRIBE|id=1|content-length=0\nEND buffered=0\n");
  /* the header name is matched after unescaping, case-sensitively */
  assert_string_equal(DEC(SPEC12, "SEND\nContent-Length:1\n\nab\0"),
                      "SEND|Content-Length=1|body=ab\nEND buffered=0\n");
}

static void test_bd02_nul_after_body(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:2\n\nabc\0"), "ERR WSREF_E_STOMP_NULL\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:0\n\na\0"), "ERR WSREF_E_STOMP_NULL\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:2\n\nab\n"), "ERR WSREF_E_STOMP_NULL\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:2\n\nab"), "END buffered=25\n");
}

static void test_bd03_04_encoder_content_length(void **state) {
  (void)state;
  int rc;
  wsref_stomp_header h[] = {H("destination", "/q")};
  wsref_stomp_frame f = {WSREF_STOMP_SEND, h, 1, (const uint8_t *)"a\0b", 3};
  /* BD-03: a body with NUL gets content-length; BD-04: SEND/MESSAGE/ERROR with a body too */
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "SEND\ndestination:/q\ncontent-length:3\n\na^@b^@");
  assert_int_equal(rc, 0);
  f.body = (const uint8_t *)"hello";
  f.body_len = 5;
  f.command = WSREF_STOMP_ERROR;
  assert_string_equal(enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "ERROR\ndestination:/q\ncontent-length:5\n\nhello^@");
  /* no body: no content-length (spec profile) */
  f.body_len = 0;
  f.command = WSREF_STOMP_MESSAGE;
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "MESSAGE\ndestination:/q\n\n^@");
  /* a caller's correct content-length is kept in place, not duplicated */
  wsref_stomp_header h2[] = {H("content-length", "5"), H("destination", "/q")};
  wsref_stomp_frame g = {WSREF_STOMP_SEND, h2, 2, (const uint8_t *)"hello", 5};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &g, &rc),
                      "SEND\ncontent-length:5\ndestination:/q\n\nhello^@");
  assert_int_equal(rc, 0);
  /* a wrong one is refused */
  g.body_len = 4;
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &g, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
}

static void test_bd05_body_to_first_nul(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\n\nab\0cd\0"), "SEND|body=ab\nEND buffered=3\n");
  assert_string_equal(DEC(SPEC12, "SEND\n\nab\n\ncd\0\nSEND\n\n\0"),
                      "SEND|body=ab\\x0a\\x0acd\nSEND\nEND buffered=0\n");
}

/* BD-06 (content-length counts octets) and BD-09 (UTF-8 bodies pass untouched) */
static void test_bd06_bd09_utf8_body_octets(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:3\n\n\xe2\x82\xac\0"),
                      "SEND|content-length=3|body=\\xe2\\x82\\xac\nEND buffered=0\n");
}

static void test_bd10_invalid_content_length(void **state) {
  (void)state;
  static const char *const bad[] = {
      "", "x", "-1", " 1", "1 ", "1a", "0x10", "99999999999999999999999", "18446744073709551616"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char in[128];
    int n = snprintf(in, sizeof in, "SEND\ncontent-length:%s\n\nab", bad[i]);
    assert_string_equal(dec_o(SPEC12, (const uint8_t *)in, (size_t)n + 1),
                        "ERR WSREF_E_STOMP_CONTENT_LENGTH\n");
    /* Spring: ignored, the body runs to the NUL */
    char want[128];
    snprintf(want, sizeof want, "SEND|content-length=%s|body=ab\nEND buffered=0\n", bad[i]);
    assert_string_equal(dec_o(SPRING12, (const uint8_t *)in, (size_t)n + 1), want);
  }
  /* a valid number over max_body is not malformed */
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:18446744073709551615\n"),
                      "ERR WSREF_E_STOMP_BODY_TOO_BIG\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:+1\n\nab\0"),
                      "ERR WSREF_E_STOMP_CONTENT_LENGTH\n");
  /* fails as soon as the header line is complete */
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:x\n"),
                      "ERR WSREF_E_STOMP_CONTENT_LENGTH\n");
}

/* The 1.2 specification's own example frames, verbatim (^@ = NUL). */
static void test_spec_examples(void **state) {
  (void)state;
  assert_string_equal(DEC(SPEC12,
                          "SEND\ndestination:/queue/a\ncontent-type:text/plain\n\n"
                          "hello queue a\0"),
                      "SEND|destination=/queue/a|content-type=text/plain|body=hello queue a\n"
                      "END buffered=0\n");
  assert_string_equal(
      DEC(SPEC12,
          "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:170\n"
          "message:malformed frame received\n\nThe message:\n-----\nMESSAGE\n"
          "destined:/queue/a\nreceipt:message-12345\n\nHello queue a!\n-----\n"
          "Did not contain a destination header, which is REQUIRED\n"
          "for message propagation.\n\0"),
      "ERROR|receipt-id=message-12345|content-type=text/plain|content-length=170"
      "|message=malformed frame received|body=The message:\\x0a-----\\x0aMESSAGE\\x0a"
      "destined:/queue/a\\x0areceipt:message-12345\\x0a\\x0aHello queue a!\\x0a-----\\x0a"
      "Did not contain a destination header, which is REQUIRED\\x0afor message propagation."
      "\\x0a\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0"),
                      "CONNECT|accept-version=1.2|host=stomp.github.org\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "CONNECTED\nversion:1.2\n\n\0"),
                      "CONNECTED|version=1.2\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0"),
                      "SUBSCRIBE|id=0|destination=/queue/foo|ack=client\nEND buffered=0\n");
  assert_string_equal(DEC(SPEC12, "RECEIPT\nreceipt-id:77\n\n\0"),
                      "RECEIPT|receipt-id=77\nEND buffered=0\n");
  assert_string_equal(
      DEC(SPEC12,
          "ERROR\nversion:1.2,2.1\ncontent-type:text/plain\n\n"
          "Supported protocol versions are 1.2 2.1\0"),
      "ERROR|version=1.2,2.1|content-type=text/plain|body=Supported protocol versions are 1.2 2.1\n"
      "END buffered=0\n");
}

/* ---- RH: repeated headers ---- */

static void test_rh01_first_wins(void **state) {
  (void)state;
  /* the 1.2 spec's example */
  static const uint8_t in[] = "MESSAGE\nfoo:World\nfoo:Hello\n\n\0";
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(NULL);
  cap_ctx c;
  memset(&c, 0, sizeof c);
  assert_int_equal(wsref_stomp_decode(d, in, sizeof in - 1, capture, &c), 0);
  assert_int_equal(c.n, 1);
  assert_int_equal(c.f.nheaders, 2); /* all kept, in order */
  assert_string_equal(wsref_stomp_frame_get(&c.f, "foo"), "World");
  assert_string_equal(c.f.headers[1].value, "Hello");
  assert_null(wsref_stomp_frame_get(&c.f, "bar"));
  assert_null(wsref_stomp_frame_header(NULL, "foo"));
  wsref_stomp_decoder_free(d);
  assert_string_equal(DEC(SPEC11, "MESSAGE\nfoo:World\nfoo:Hello\n\n\0"),
                      "MESSAGE|foo=World|foo=Hello\nEND buffered=0\n");
}

/* ---- SZ: limits ---- */

static wsref_stomp_decoder_options lim(size_t headers, size_t line, size_t body, size_t buffer) {
  wsref_stomp_decoder_options o = SPEC12;
  o.limits.max_headers = headers;
  o.limits.max_header_line = line;
  o.limits.max_body = body;
  o.limits.max_buffer = buffer;
  return o;
}

static void test_sz01_max_headers(void **state) {
  (void)state;
  wsref_stomp_decoder_options o = lim(2, 0, 0, 0);
  assert_string_equal(DEC(o, "SEND\na:1\nb:2\n\n\0"), "SEND|a=1|b=2\nEND buffered=0\n");
  assert_string_equal(DEC(o, "SEND\na:1\nb:2\nc:3\n\n\0"), "ERR WSREF_E_STOMP_TOO_MANY_HEADERS\n");
  /* the count is per frame */
  assert_string_equal(DEC(o, "SEND\na:1\nb:2\n\n\0SEND\na:1\nb:2\n\n\0"),
                      "SEND|a=1|b=2\nSEND|a=1|b=2\nEND buffered=0\n");
  /* default 64 */
  wsref_buf b = WSREF_BUF_INIT;
  wsref_buf_appendf(&b, "SEND\n");
  for (int i = 0; i < 65; i++) wsref_buf_appendf(&b, "h%d:v\n", i);
  wsref_buf_appendf(&b, "\n");
  assert_string_equal(dec_o(SPEC12, wsref_buf_head(&b), wsref_buf_len(&b)),
                      "ERR WSREF_E_STOMP_TOO_MANY_HEADERS\n");
  wsref_buf_free(&b);
}

static void test_sz01_max_header_line(void **state) {
  (void)state;
  wsref_stomp_decoder_options o = lim(0, 5, 0, 0);
  assert_string_equal(DEC(o, "SEND\nab:de\r\n\n\0"), "SEND|ab=de\nEND buffered=0\n");
  assert_string_equal(DEC(o, "SEND\nab:def\n\n\0"), "ERR WSREF_E_STOMP_HEADER_TOO_LONG\n");
  /* fails before the LF arrives */
  assert_string_equal(DEC(o, "SEND\nab:def"), "ERR WSREF_E_STOMP_HEADER_TOO_LONG\n");
  /* the command line counts too */
  wsref_stomp_decoder_options o4 = lim(0, 4, 0, 0);
  assert_string_equal(DEC(o4, "SEND\n\n\0"), "SEND\nEND buffered=0\n");
  assert_string_equal(DEC(o4, "COMMIT\n\n\0"), "ERR WSREF_E_STOMP_HEADER_TOO_LONG\n");
  assert_string_equal(DEC(o4, "SEND\r\n\r\n\0"), "SEND\nEND buffered=0\n");
  /* an over-long line with a bad CR: the earlier position wins, the CR on a tie */
  assert_string_equal(DEC(o, "SEND\na\rbcdefg\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(o, "SEND\nabcde\rx\n\n\0"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(DEC(o, "SEND\nabcdef\rx\n\n\0"), "ERR WSREF_E_STOMP_HEADER_TOO_LONG\n");
  assert_string_equal(DEC(o, "SEND\nabcde\r"), "END buffered=11\n");
  /* default 8192 */
  wsref_buf b = WSREF_BUF_INIT;
  wsref_buf_appendf(&b, "SEND\nh:");
  for (int i = 0; i < 8190; i++) wsref_buf_append(&b, "v", 1);
  assert_string_equal(dec_o(SPEC12, wsref_buf_head(&b), wsref_buf_len(&b)), "END buffered=8197\n");
  wsref_buf_append(&b, "v", 1);
  assert_string_equal(dec_o(SPEC12, wsref_buf_head(&b), wsref_buf_len(&b)),
                      "ERR WSREF_E_STOMP_HEADER_TOO_LONG\n");
  wsref_buf_free(&b);
}

static void test_sz01_max_body(void **state) {
  (void)state;
  wsref_stomp_decoder_options o = lim(0, 0, 4, 0);
  assert_string_equal(DEC(o, "SEND\n\nabcd\0"), "SEND|body=abcd\nEND buffered=0\n");
  assert_string_equal(DEC(o, "SEND\n\nabcde\0"), "ERR WSREF_E_STOMP_BODY_TOO_BIG\n");
  assert_string_equal(DEC(o, "SEND\n\nabcde"), "ERR WSREF_E_STOMP_BODY_TOO_BIG\n");
  assert_string_equal(DEC(o, "SEND\ncontent-length:4\n\nab\0d\0"),
                      "SEND|content-length=4|body=ab\\x00d\nEND buffered=0\n");
  /* a declared length over the limit fails with the header, before any body octet */
  assert_string_equal(DEC(o, "SEND\ncontent-length:5\n"), "ERR WSREF_E_STOMP_BODY_TOO_BIG\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:1048577\n"),
                      "ERR WSREF_E_STOMP_BODY_TOO_BIG\n");
  assert_string_equal(DEC(SPEC12, "SEND\ncontent-length:1048576\n"), "END buffered=28\n");
}

static void test_sz02_max_buffer(void **state) {
  (void)state;
  wsref_stomp_decoder_options o = lim(0, 0, 0, 10);
  /* within one feed the buffer limit does not apply */
  assert_string_equal(DEC1(o, "SEND\ndestination:/abc\n\nhello\0"),
                      "SEND|destination=/abc|body=hello\nEND buffered=0\n");
  /* an incomplete frame may keep 10 octets across feeds, not 11 */
  assert_string_equal(DEC1(o, "SEND\na:bcd"), "END buffered=10\n");
  assert_string_equal(DEC1(o, "SEND\na:bcde"), "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
  size_t cut = 10;
  assert_string_equal(cuts_o(o, S("SEND\n\nhello\0"), &cut, 1),
                      "SEND|body=hello\nEND buffered=0\n");
  cut = 11;
  assert_string_equal(cuts_o(o, S("SEND\n\nhello!\0"), &cut, 1),
                      "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
  cut = 12;
  assert_string_equal(cuts_o(o, S("SEND\ncontent-length:5\n\nhello\0"), &cut, 1),
                      "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
  /* octets of earlier complete frames and between frames do not count */
  assert_string_equal(DEC1(o, "SEND\n\n\0\n\n\nSEND\na:bcd"), "SEND\nEND buffered=10\n");
  assert_int_equal(WSREF_STOMP_MAX_BUFFER_DEFAULT, 1 << 20);
}

/* ---- incremental behaviour, stickiness, callbacks ---- */

static int count_frames(const wsref_stomp_frame *f, void *ud) {
  assert_int_equal(f->body_len, 1 << 20);
  return wsref_buf_append(ud, "F", 1);
}

static void test_big_body_byte_by_byte(void **state) {
  (void)state;
  /* no quadratic re-parse: 2 MiB of bodies fed one octet at a time finish fast */
  size_t n = 1 << 20;
  wsref_buf b = WSREF_BUF_INIT;
  wsref_buf_appendf(&b, "SEND\ndestination:/a\n\n");
  uint8_t *body = wsref_buf_reserve(&b, n);
  memset(body, 'x', n);
  wsref_buf_commit(&b, n);
  wsref_buf_append(&b, "", 1);
  wsref_buf_appendf(&b, "SEND\ncontent-length:%zu\n\n", n);
  body = wsref_buf_reserve(&b, n);
  memset(body, 0, n);
  wsref_buf_commit(&b, n);
  wsref_buf_append(&b, "", 1);
  wsref_stomp_decoder_options o = SPEC12;
  o.limits.max_buffer = 2 << 20;
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(&o);
  wsref_buf t = WSREF_BUF_INIT;
  for (size_t i = 0; i < wsref_buf_len(&b); i++)
    assert_int_equal(wsref_stomp_decode(d, wsref_buf_head(&b) + i, 1, count_frames, &t), 0);
  assert_int_equal(wsref_stomp_decoder_buffered(d), 0);
  assert_int_equal(wsref_buf_len(&t), 2);
  wsref_stomp_decoder_free(d);
  wsref_buf_free(&b);
  wsref_buf_free(&t);
}

static int stop_at_second(const wsref_stomp_frame *f, void *ud) {
  int *n = ud;
  (void)f;
  return ++*n == 2 ? 42 : 0;
}

static void test_callback_stop_and_sticky(void **state) {
  (void)state;
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(NULL);
  int n = 0;
  assert_int_equal(wsref_stomp_decode(d, S("SEND\n\n\0SEND\n\n\0SEND\n\n\0"), stop_at_second, &n),
                   42);
  assert_int_equal(n, 2);
  assert_int_equal(wsref_stomp_decode(d, S("SEND\n\n\0"), stop_at_second, &n), 42);
  assert_int_equal(n, 2);
  wsref_stomp_decoder_free(d);
  d = wsref_stomp_decoder_new(NULL);
  assert_int_equal(wsref_stomp_decode(d, S("FOO\n"), NULL, NULL), WSREF_E_STOMP_COMMAND);
  assert_int_equal(wsref_stomp_decode(d, S("SEND\n\n\0"), NULL, NULL), WSREF_E_STOMP_COMMAND);
  assert_int_equal(wsref_stomp_decode(d, NULL, 0, NULL, NULL), WSREF_E_STOMP_COMMAND);
  wsref_stomp_decoder_free(d);
  d = wsref_stomp_decoder_new(NULL);
  assert_int_equal(wsref_stomp_decode(d, NULL, 3, NULL, NULL), WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_stomp_decode(d, NULL, 0, NULL, NULL), 0);
  assert_int_equal(wsref_stomp_decode(NULL, NULL, 0, NULL, NULL), WSREF_E_INVALID_ARG);
  wsref_stomp_decoder_free(d);
  wsref_stomp_decoder_free(NULL);
}

static int set_11_on_connected(const wsref_stomp_frame *f, void *ud) {
  wsref_stomp_decoder *d = ud;
  if (f->command == WSREF_STOMP_CONNECT) wsref_stomp_decoder_set_version(d, WSREF_STOMP_V11);
  return 0;
}

static void test_set_version(void **state) {
  (void)state;
  /* negotiated from inside on_frame: the next frame of the same input uses 1.1 rules */
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(NULL);
  assert_int_equal(
      wsref_stomp_decode(d, S("CONNECT\r\n\r\n\0SEND\na:\\r\n\n\0"), set_11_on_connected, d),
      WSREF_E_STOMP_ESCAPE);
  wsref_stomp_decoder_free(d);
  /* mid-frame: applies to the next frame only */
  d = wsref_stomp_decoder_new(NULL);
  assert_int_equal(wsref_stomp_decode(d, S("SEND\na:\\r"), NULL, NULL), 0);
  wsref_stomp_decoder_set_version(d, WSREF_STOMP_V11);
  assert_int_equal(wsref_stomp_decode(d, S("\n\n\0"), NULL, NULL), 0);
  assert_int_equal(wsref_stomp_decode(d, S("SEND\na:\\r\n\n\0"), NULL, NULL), WSREF_E_STOMP_ESCAPE);
  wsref_stomp_decoder_free(d);
  /* 1.0 decoder switched to 1.2 learns CRLF */
  d = wsref_stomp_decoder_new(&(wsref_stomp_decoder_options){.version = WSREF_STOMP_V10});
  wsref_stomp_decoder_set_version(d, WSREF_STOMP_V12);
  wsref_stomp_decoder_set_version(d, (enum wsref_stomp_version)99); /* ignored */
  assert_int_equal(wsref_stomp_decode(d, S("SEND\r\n\r\n\0"), NULL, NULL), 0);
  wsref_stomp_decoder_free(d);
}

/* Every error, with its code, each split-invariant (spec profile). */
static void test_every_error_split(void **state) {
  (void)state;
  wsref_stomp_decoder_options small = lim(1, 8, 3, 0);
  struct {
    wsref_stomp_decoder_options o;
    const char *in;
    size_t n;
    const char *err;
  } cases[] = {
#define E(o, lit, e) {o, lit, sizeof(lit) - 1, "SEND\nERR " e "\n"}
      E(SPEC12, "SEND\n\n\0xyz\n\n\0", "WSREF_E_STOMP_COMMAND"),
      E(SPEC12, "SEND\n\n\0SEND\nab\n\n\0", "WSREF_E_STOMP_HEADER"),
      E(SPEC12, "SEND\n\n\0SEND\na:\\q\n\n\0", "WSREF_E_STOMP_ESCAPE"),
      E(SPEC12, "SEND\n\n\0SEND\na:\rb\n\n\0", "WSREF_E_STOMP_EOL"),
      E(SPEC12, "SEND\n\n\0SEND\ncontent-length:1\n\nab\0", "WSREF_E_STOMP_NULL"),
      E(SPEC12, "SEND\n\n\0SEND\ncontent-length:-1\n\n\0", "WSREF_E_STOMP_CONTENT_LENGTH"),
      E(SPEC12, "SEND\n\n\0ACK\n\nx\0", "WSREF_E_STOMP_BODY_NOT_ALLOWED"),
      E(small, "SEND\n\n\0SEND\na:1\nb:2\n\n\0", "WSREF_E_STOMP_TOO_MANY_HEADERS"),
      E(small, "SEND\n\n\0SEND\nabcdefghi:1\n\n\0", "WSREF_E_STOMP_HEADER_TOO_LONG"),
      E(small, "SEND\n\n\0SEND\n\nabcd\0", "WSREF_E_STOMP_BODY_TOO_BIG"),
      E(SPEC12, "SEND\n\n\0SEND\na:\xf5\n\n\0", "WSREF_E_STOMP_UTF8"),
#undef E
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    assert_string_equal(dec_split_o(cases[i].o, (const uint8_t *)cases[i].in, cases[i].n),
                        cases[i].err);
}

/* Random STOMP-ish inputs: every 2-way split and byte-by-byte feeding must give the
 * transcript of one buffer (spec profile, all versions, small limits). */
static void test_fr13_random_split_invariance(void **state) {
  (void)state;
  static const char *const tok[] = {"SEND",
                                    "ACK",
                                    "CONNECT",
                                    "MESSAGE",
                                    "\n",
                                    "\r\n",
                                    "\r",
                                    ":",
                                    "\\",
                                    "\\c",
                                    "\\r",
                                    "\\n",
                                    "\\t",
                                    "\0",
                                    "a",
                                    "b:c",
                                    "content-length:",
                                    "0",
                                    "1",
                                    "3",
                                    "x",
                                    "\xc3\xa9",
                                    "\xff",
                                    "\n\n",
                                    "\0\n",
                                    "SUBSCRIBE\nid:1\n\n",
                                    "SEND\n\n",
                                    "\xe2\x82"};
  rng_state = 1234;
  uint8_t in[160];
  for (int iter = 0; iter < 1500; iter++) {
    size_t n = 0;
    size_t nt = 1 + rnd() % 24;
    for (size_t k = 0; k < nt; k++) {
      const char *t = tok[rnd() % (sizeof tok / sizeof tok[0])];
      size_t tl = t[0] == 0 ? 1 : strlen(t);
      if (n + tl > sizeof in) break;
      memcpy(in + n, t, tl);
      n += tl;
    }
    wsref_stomp_decoder_options o = opts(iter % 3 == 0   ? WSREF_STOMP_V10
                                         : iter % 3 == 1 ? WSREF_STOMP_V11
                                                         : WSREF_STOMP_V12,
                                         WSREF_STOMP_PROFILE_SPEC);
    o.limits.max_headers = 1 + rnd() % 4;
    o.limits.max_header_line = 1 + rnd() % 20;
    o.limits.max_body = 1 + rnd() % 8;
    dec_ctx c = {o, NULL, 0};
    split_target t = {t_reset, t_feed, t_finish, &c};
    split_plan plan = {1, 3, 0};
    size_t bad = split_check(&t, in, n, &plan);
    wsref_stomp_decoder_free(c.d);
    if (bad) fprintf(stderr, "# iteration %d, version %d\n", iter, (int)o.version);
    assert_int_equal(bad, 0);
  }
}

/* ---- encoder ---- */

static void test_encode_frames(void **state) {
  (void)state;
  int rc;
  wsref_stomp_frame hb = {WSREF_STOMP_HEARTBEAT, NULL, 0, NULL, 0};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &hb, &rc), "\n");
  assert_int_equal(rc, 0);
  assert_string_equal(enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPRING, &hb, &rc), "\n");
  wsref_stomp_header h[] = {H("accept-version", "1.2"), H("host", "/")};
  wsref_stomp_frame f = {WSREF_STOMP_CONNECT, h, 2, NULL, 0};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f, &rc),
                      "CONNECT\naccept-version:1.2\nhost:/\n\n^@");
  /* 1.0 value with LF cannot be written */
  wsref_stomp_header lf[] = {H("a", "b\nc")};
  wsref_stomp_frame g = {WSREF_STOMP_SEND, lf, 1, NULL, 0};
  enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC, &g, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  wsref_stomp_header colon[] = {H("a:b", "c:d\\")};
  g.headers = colon;
  assert_string_equal(enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC, &g, &rc), "");
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  wsref_stomp_header ok10[] = {H("a", "c:d\\")};
  g.headers = ok10;
  assert_string_equal(enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC, &g, &rc),
                      "SEND\na:c:d\\\n\n^@");
  /* empty name refused (spec) */
  wsref_stomp_header empty[] = {H("", "v")};
  g.headers = empty;
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &g, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  /* body on a frame that must not have one */
  wsref_stomp_frame b = {WSREF_STOMP_SUBSCRIBE, NULL, 0, (const uint8_t *)"x", 1};
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &b, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING, &b, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  /* NACK / STOMP do not exist in 1.0 */
  wsref_stomp_frame nack = {WSREF_STOMP_NACK, NULL, 0, NULL, 0};
  enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPEC, &nack, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  assert_string_equal(enc(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPEC, &nack, &rc), "NACK\n\n^@");
  /* bad arguments */
  wsref_stomp_frame badc = {(enum wsref_stomp_command)77, NULL, 0, NULL, 0};
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &badc, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  enc((enum wsref_stomp_version)13, WSREF_STOMP_PROFILE_SPEC, &nack, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  enc(WSREF_STOMP_V12, (enum wsref_stomp_profile)5, &nack, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  wsref_stomp_frame nob = {WSREF_STOMP_SEND, NULL, 0, NULL, 3};
  enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &nob, &rc);
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  /* all or nothing: a failed encode leaves out as it was */
  wsref_buf out = WSREF_BUF_INIT;
  wsref_buf_append(&out, "keep", 4);
  wsref_stomp_header late[] = {H("a", "b"), H("", "v")};
  wsref_stomp_frame fl = {WSREF_STOMP_SEND, late, 2, NULL, 0};
  assert_int_equal(wsref_stomp_encode(&out, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &fl),
                   WSREF_E_INVALID_ARG);
  assert_int_equal(wsref_buf_len(&out), 4);
  /* appends */
  assert_int_equal(wsref_stomp_encode(&out, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &hb), 0);
  assert_memory_equal(wsref_buf_head(&out), "keep\n", 5);
  wsref_buf_free(&out);
  /* the spec's ERROR sample */
  wsref_stomp_header eh[] = {H("version", "1.2,2.1"), H("content-type", "text/plain")};
  wsref_stomp_frame ef = {WSREF_STOMP_ERROR, eh, 2,
                          (const uint8_t *)"Supported protocol versions are 1.2 2.1", 39};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &ef, &rc),
                      "ERROR\nversion:1.2,2.1\ncontent-type:text/plain\ncontent-length:39\n\n"
                      "Supported protocol versions are 1.2 2.1^@");
}

/* ---- spring profile (stomp-and-spring.md 2.1-2.3, D5, D6, D6b) ---- */

static void test_spring_heartbeats_by_chunk(void **state) {
  (void)state;
  /* one heart-beat for a chunk of only EOLs, however many */
  assert_string_equal(PIECES(SPRING12, "\n\n"), "HEARTBEAT\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "\r\n\r\n"), "HEARTBEAT\nEND buffered=0\n");
  /* EOLs after a NUL in the same chunk: none */
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@\n\n"), "SEND\nEND buffered=0\n");
  /* EOLs before a frame in the same chunk: none */
  assert_string_equal(PIECES(SPRING12, "\n\nSEND\n\n^@"), "SEND\nEND buffered=0\n");
  /* a later chunk of EOLs after a frame: one each */
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@\n", "\n", "\r\n\n"),
                      "SEND\nHEARTBEAT\nHEARTBEAT\nEND buffered=0\n");
  /* EOLs that continue a partial frame are not heart-beats */
  assert_string_equal(PIECES(SPRING12, "SEND\na:b", "\n", "\n", "^@"),
                      "SEND|a=b\nEND buffered=0\n");
  /* an empty chunk is nothing */
  assert_string_equal(PIECES(SPRING12, ""), "END buffered=0\n");
}

static void test_spring_d6_cr_at_chunk_end(void **state) {
  (void)state;
  assert_string_equal(PIECES(SPRING12, "SEND\r", "\n\n^@"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@\r", "\n"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(PIECES(SPRING12, "\r"), "ERR WSREF_E_STOMP_EOL\n");
  assert_string_equal(PIECES(SPRING12, "SEND\na:b\r", "\n\n^@"), "ERR WSREF_E_STOMP_EOL\n");
  /* and spec-wise it is only incomplete */
  assert_string_equal(PIECES(SPEC12, "SEND\r", "\n\n^@"), "SEND\nEND buffered=0\n");
  /* inside the body a CR is data */
  assert_string_equal(PIECES(SPRING12, "SEND\n\na\r", "^@"), "SEND|body=a\\x0d\nEND buffered=0\n");
  /* CR followed by something else */
  assert_string_equal(PIECES(SPRING12, "SEND\na:\rb\n\n^@"), "ERR WSREF_E_STOMP_EOL\n");
}

static void test_spring_d5_not_version_aware(void **state) {
  (void)state;
  /* \r escape accepted in 1.1 and even 1.0; CRLF accepted in 1.0/1.1; NACK in 1.0 */
  assert_string_equal(PIECES(SPRING11, "SEND\na:\\r\n\n^@"), "SEND|a=\\x0d\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING10, "SEND\r\na\\c:\\n\r\n\r\n^@"),
                      "SEND|a:=\\x0a\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING10, "NACK\n\n^@STOMP\n\n^@"), "NACK\nSTOMP\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\na:\\t\n\n^@"), "ERR WSREF_E_STOMP_ESCAPE\n");
  /* a raw CR is an EOL error in every version */
  assert_string_equal(PIECES(SPRING10, "SEND\na:b\rc\n\n^@"), "ERR WSREF_E_STOMP_EOL\n");
}

static void test_spring_late_command_and_header_errors(void **state) {
  (void)state;
  /* unknown command: only once an octet follows its EOL */
  assert_string_equal(PIECES(SPRING12, "FOO\n"), "END buffered=4\n");
  assert_string_equal(PIECES(SPRING12, "FOO\n", "\n"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(PIECES(SPRING12, "FOO\n\n"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(PIECES(SPEC12, "FOO\n"), "ERR WSREF_E_STOMP_COMMAND\n");
  /* header without colon or with an empty name: likewise */
  assert_string_equal(PIECES(SPRING12, "SEND\nabc\n"), "END buffered=9\n");
  assert_string_equal(PIECES(SPRING12, "SEND\nabc\n", "\n^@"), "ERR WSREF_E_STOMP_HEADER\n");
  assert_string_equal(PIECES(SPRING12, "SEND\n:v\n\n^@"), "ERR WSREF_E_STOMP_HEADER\n");
  /* an escape error does not wait */
  assert_string_equal(PIECES(SPRING12, "SEND\na:\\\n"), "ERR WSREF_E_STOMP_ESCAPE\n");
}

static void test_spring_content_length(void **state) {
  (void)state;
  /* Java int: sign accepted, negative means absent, Unicode digits are digits */
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:+2\n\n^@^@^@"),
                      "SEND|content-length=+2|body=\\x00\\x00\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:-1\n\nab^@"),
                      "SEND|content-length=-1|body=ab\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:\xd9\xa2\n\nab^@"),
                      "SEND|content-length=\\xd9\\xa2|body=ab\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:\xef\xbc\x91\n\na^@"),
                      "SEND|content-length=\\xef\\xbc\\x91|body=a\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:2147483648\n\nab^@"),
                      "SEND|content-length=2147483648|body=ab\nEND buffered=0\n");
  /* D6b: split after a non-numeric content-length header: fatal */
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:abc\n", "\nab^@"),
                      "ERR WSREF_E_STOMP_CONTENT_LENGTH\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:abc\n\nab^@"),
                      "SEND|content-length=abc|body=ab\nEND buffered=0\n");
  /* ...and the frames decoded earlier in that chunk are lost with it */
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@SEND\ncontent-length:abc\n"),
                      "ERR WSREF_E_STOMP_CONTENT_LENGTH\n");
  /* NUL check first, then the body check, on the complete frame */
  assert_string_equal(PIECES(SPRING12, "ACK\ncontent-length:1\n\nxy"), "ERR WSREF_E_STOMP_NULL\n");
  assert_string_equal(PIECES(SPRING12, "ACK\ncontent-length:1\n\nx"), "END buffered=23\n");
  assert_string_equal(PIECES(SPRING12, "ACK\n\nx", "^@"), "ERR WSREF_E_STOMP_BODY_NOT_ALLOWED\n");
  assert_string_equal(PIECES(SPRING12, "ACK\n\nx"), "END buffered=6\n");
}

static void test_spring_buffer_limit(void **state) {
  (void)state;
  wsref_stomp_decoder_options o = SPRING12;
  o.limits.max_buffer = 16;
  /* the whole chunk counts, complete frames included */
  assert_string_equal(PIECES(o, "SEND\n\n^@SEND\n\n^@SEND\n\n^@"),
                      "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
  assert_string_equal(PIECES(o, "SEND\n\n^@SEND\n\n^@"), "SEND\nSEND\nEND buffered=0\n");
  /* partial + new chunk */
  assert_string_equal(PIECES(o, "SEND\n\nabcd", "efghi^@"),
                      "SEND|body=abcdefghi\nEND buffered=0\n");
  assert_string_equal(PIECES(o, "SEND\n\nabcd", "efghijk^@"), "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
  /* a partial frame's content-length over the limit fails on the NEXT chunk */
  wsref_stomp_decoder_options o2 = SPRING12;
  o2.limits.max_buffer = 30;
  assert_string_equal(PIECES(o2, "SEND\ncontent-length:31\n"), "END buffered=23\n");
  assert_string_equal(PIECES(o2, "SEND\ncontent-length:31\n", ""),
                      "ERR WSREF_E_STOMP_BUFFER_LIMIT\n");
}

static void test_spring_content_length_deferral(void **state) {
  (void)state;
  /* while partial + chunk < content-length the chunk is only buffered: a CR ending such a
   * chunk is not looked at (Spring does not parse) */
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:40\n", "a:b\r", "\n\n",
                             "0123456789012345678901234567890123456789^@"),
                      "SEND|content-length=40|a=b|body=0123456789012345678901234567890123456789\n"
                      "END buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\ncontent-length:4\n", "a:b\r", "\n\nabcd^@"),
                      "ERR WSREF_E_STOMP_EOL\n");
}

static void test_spring_atomic_chunks(void **state) {
  (void)state;
  /* Spring loses the frames decoded before an exception in the same chunk */
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@FOO\n\n^@"), "ERR WSREF_E_STOMP_COMMAND\n");
  assert_string_equal(PIECES(SPRING12, "SEND\n\n^@", "FOO\n\n^@"),
                      "SEND\nERR WSREF_E_STOMP_COMMAND\n");
  /* found by fuzz_stomp: a header-less frame whose body spanned feeds, then a partial frame
   * (its state is moved to the front of the pool while no header was ever stored) */
  assert_string_equal(PIECES(SPRING12, "SEND\n\nab", "c^@SEND\n", "a:b\n\nd^@"),
                      "SEND|body=abc\nSEND|a=b|body=d\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\n\nab", "c^@SEND\n"),
                      "SEND|body=abc\nEND buffered=5\n");
  /* the spec profile delivers what came before */
  assert_string_equal(PIECES(SPEC12, "SEND\n\n^@FOO\n\n^@"), "SEND\nERR WSREF_E_STOMP_COMMAND\n");
  /* frames spanning chunks, several per chunk, bodies handed over intact */
  assert_string_equal(
      PIECES(SPRING12, "SEND\na:1\n\nxy",
             "z^@SEND\nb:2\n\nuv^@SEND\nc:", "3\ncontent-length:2\n\n^@", "^@^@"),
      "SEND|a=1|body=xyz\nSEND|b=2|body=uv\nSEND|c=3|content-length=2|body=\\x00\\x00\n"
      "END buffered=0\n");
}

static void test_spring_utf8_replacement(void **state) {
  (void)state;
  assert_string_equal(PIECES(SPRING12, "SEND\na\xff:b\xe2\x82z\xed\xa0\x80\n\n^@"),
                      "SEND|a\\xef\\xbf\\xbd=b\\xef\\xbf\\xbdz\\xef\\xbf\\xbd\nEND buffered=0\n");
  assert_string_equal(PIECES(SPRING12, "SEND\n\xc3\xa9:\xf0\x9f\x98\x80\n\n^@"),
                      "SEND|\\xc3\\xa9=\\xf0\\x9f\\x98\\x80\nEND buffered=0\n");
}

static void test_spring_encoder(void **state) {
  (void)state;
  int rc;
  /* 1.2 escaping for every version, content-length last even for an empty body, a caller's
   * content-length dropped (SEND/MESSAGE/ERROR) */
  wsref_stomp_header h[] = {H("content-length", "99"), H("a\r", "b:c\n")};
  wsref_stomp_frame f = {WSREF_STOMP_MESSAGE, h, 2, NULL, 0};
  assert_string_equal(enc(WSREF_STOMP_V10, WSREF_STOMP_PROFILE_SPRING, &f, &rc),
                      "MESSAGE\na\\r:b\\cc\\n\ncontent-length:0\n\n^@");
  assert_int_equal(rc, 0);
  f.body = (const uint8_t *)"hi";
  f.body_len = 2;
  f.command = WSREF_STOMP_SEND;
  assert_string_equal(enc(WSREF_STOMP_V11, WSREF_STOMP_PROFILE_SPRING, &f, &rc),
                      "SEND\na\\r:b\\cc\\n\ncontent-length:2\n\nhi^@");
  /* other commands: a content-length in the map is written as-is, none is added */
  f.command = WSREF_STOMP_RECEIPT;
  f.body_len = 0;
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING, &f, &rc),
                      "RECEIPT\ncontent-length:99\na\\r:b\\cc\\n\n\n^@");
  wsref_stomp_frame r = {WSREF_STOMP_RECEIPT, h + 1, 1, NULL, 0};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING, &r, &rc),
                      "RECEIPT\na\\r:b\\cc\\n\n\n^@");
  /* CONNECTED raw, even when the value is unwritable */
  wsref_stomp_header raw[] = {H("x", "a\nb")};
  wsref_stomp_frame c = {WSREF_STOMP_CONNECTED, raw, 1, NULL, 0};
  assert_string_equal(enc(WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPRING, &c, &rc),
                      "CONNECTED\nx:a\nb\n\n^@");
  assert_int_equal(rc, 0);
}

static void test_default_options(void **state) {
  (void)state;
  /* NULL options: 1.2, spec profile, default limits */
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(NULL);
  assert_int_equal(wsref_stomp_decode(d, S("\r\nSEND\r\na:\\r\r\n\r\n\0"), NULL, NULL), 0);
  assert_int_equal(wsref_stomp_decode(d, S("SEND\na:\xff\n\n\0"), NULL, NULL), WSREF_E_STOMP_UTF8);
  wsref_stomp_decoder_free(d);
  assert_int_equal(WSREF_STOMP_MAX_HEADERS_DEFAULT, 64);
  assert_int_equal(WSREF_STOMP_MAX_HEADER_LINE_DEFAULT, 8192);
  assert_int_equal(WSREF_STOMP_MAX_BODY_DEFAULT, 1 << 20);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fr01_minimal),
      cmocka_unit_test(test_fr02_crlf),
      cmocka_unit_test(test_fr03_bare_cr),
      cmocka_unit_test(test_fr04_eols_and_heartbeats),
      cmocka_unit_test(test_fr05_commands_case_sensitive),
      cmocka_unit_test(test_fr06_header_names_case_sensitive),
      cmocka_unit_test(test_fr07_body_not_allowed),
      cmocka_unit_test(test_fr08_utf8),
      cmocka_unit_test(test_fr09_no_trimming),
      cmocka_unit_test(test_fr10_empty_value),
      cmocka_unit_test(test_fr11_malformed_header),
      cmocka_unit_test(test_fr12_unknown_commands),
      cmocka_unit_test(test_fr13_split_invariance_stream),
      cmocka_unit_test(test_fr13_split_invariance_versions),
      cmocka_unit_test(test_fr13_random_split_invariance),
      cmocka_unit_test(test_es01_decode_12),
      cmocka_unit_test(test_es02_decode_11),
      cmocka_unit_test(test_es03_undefined_escapes),
      cmocka_unit_test(test_es04_encoder_escapes),
      cmocka_unit_test(test_es05_connect_not_unescaped),
      cmocka_unit_test(test_es05_encoder_connect_raw),
      cmocka_unit_test(test_es06_no_nested_escapes),
      cmocka_unit_test(test_es07_10_literal),
      cmocka_unit_test(test_es08_roundtrip),
      cmocka_unit_test(test_bd01_content_length_with_nuls),
      cmocka_unit_test(test_bd02_nul_after_body),
      cmocka_unit_test(test_bd03_04_encoder_content_length),
      cmocka_unit_test(test_bd05_body_to_first_nul),
      cmocka_unit_test(test_bd06_bd09_utf8_body_octets),
      cmocka_unit_test(test_spec_examples),
      cmocka_unit_test(test_bd10_invalid_content_length),
      cmocka_unit_test(test_rh01_first_wins),
      cmocka_unit_test(test_sz01_max_headers),
      cmocka_unit_test(test_sz01_max_header_line),
      cmocka_unit_test(test_sz01_max_body),
      cmocka_unit_test(test_sz02_max_buffer),
      cmocka_unit_test(test_big_body_byte_by_byte),
      cmocka_unit_test(test_callback_stop_and_sticky),
      cmocka_unit_test(test_set_version),
      cmocka_unit_test(test_every_error_split),
      cmocka_unit_test(test_encode_frames),
      cmocka_unit_test(test_spring_heartbeats_by_chunk),
      cmocka_unit_test(test_spring_d6_cr_at_chunk_end),
      cmocka_unit_test(test_spring_d5_not_version_aware),
      cmocka_unit_test(test_spring_late_command_and_header_errors),
      cmocka_unit_test(test_spring_content_length),
      cmocka_unit_test(test_spring_buffer_limit),
      cmocka_unit_test(test_spring_content_length_deferral),
      cmocka_unit_test(test_spring_atomic_chunks),
      cmocka_unit_test(test_spring_utf8_replacement),
      cmocka_unit_test(test_spring_encoder),
      cmocka_unit_test(test_default_options),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
