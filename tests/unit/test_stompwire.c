/* The harness's STOMP wire helpers (harness/stompwire.h): frame encoding under every option a
 * case controls, reading frames back with per-version unescaping, deterministic random cuts,
 * and the strict STOMP observer (events for frames and heart-beats across any message
 * split, and one finding per sender rule broken). Expected bytes are written out by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/error.h"
#include "result.h"
#include "stompwire.h"

/* ---- encoding ---- */

static void assert_buf(const wsref_buf *b, const char *want, size_t n) {
  if (wsref_buf_len(b) != n || memcmp(wsref_buf_head(b), want, n) != 0) {
    print_error("got %zu octets: %.*s\n", wsref_buf_len(b), (int)wsref_buf_len(b),
                (const char *)wsref_buf_head(b));
    fail();
  }
}
#define ASSERT_BUF(b, lit) assert_buf((b), (lit), sizeof(lit) - 1)

static void test_escape(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  const char v[] = "a:b\nc\\d\re";
  assert_int_equal(wsc_stomp_escape(&b, 12, v, sizeof v - 1), 0);
  ASSERT_BUF(&b, "a\\cb\\nc\\\\d\\re");
  wsref_buf_reset(&b);
  /* 1.1 has no \r: a CR stays a raw octet */
  assert_int_equal(wsc_stomp_escape(&b, 11, v, sizeof v - 1), 0);
  ASSERT_BUF(&b, "a\\cb\\nc\\\\d\re");
  wsref_buf_reset(&b);
  assert_int_equal(wsc_stomp_escape(&b, 10, v, sizeof v - 1), 0);
  ASSERT_BUF(&b, "a:b\nc\\d\re");
  wsref_buf_free(&b);
}

static void test_encode(void **state) {
  (void)state;
  wsref_buf b = WSREF_BUF_INIT;
  wsc_stomp_out_header h[] = {{"destination", 11, "/q/a:b", 6, false}, {"x", 1, "1", 1, false}};
  wsc_stomp_out f = {.command = "SEND",
                     .command_len = 4,
                     .headers = h,
                     .nheaders = 2,
                     .body = (const uint8_t *)"hi\0!",
                     .body_len = 4,
                     .escape_rules = 12,
                     .content_length = true,
                     .clen = 4};
  assert_int_equal(wsc_stomp_encode(&b, &f), 0);
  ASSERT_BUF(&b, "SEND\ndestination:/q/a\\cb\nx:1\ncontent-length:4\n\nhi\0!\0");
  /* CRLF, no content-length, a wrong terminator, trailing EOLs, a raw line */
  wsref_buf_reset(&b);
  wsc_stomp_out_header h2[] = {{"", 0, "no-colon", 8, true}, {"a", 1, "x:y", 3, false}};
  wsc_stomp_out g = {.command = "SUBSCRIBE",
                     .command_len = 9,
                     .headers = h2,
                     .nheaders = 2,
                     .escape_rules = 0,
                     .crlf = true,
                     .terminator = (const uint8_t *)"X",
                     .terminator_len = 1,
                     .trailing_eols = 2};
  assert_int_equal(wsc_stomp_encode(&b, &g), 0);
  ASSERT_BUF(&b, "SUBSCRIBE\r\nno-colon\r\na:x:y\r\n\r\nX\r\n\r\n");
  /* a declared length that differs from the body */
  wsref_buf_reset(&b);
  wsc_stomp_out k = {.command = "SEND",
                     .command_len = 4,
                     .body = (const uint8_t *)"abcdef",
                     .body_len = 6,
                     .content_length = true,
                     .clen = 3};
  assert_int_equal(wsc_stomp_encode(&b, &k), 0);
  ASSERT_BUF(&b, "SEND\ncontent-length:3\n\nabcdef\0");
  wsref_buf_free(&b);
}

/* ---- reading ---- */

static void test_parse(void **state) {
  (void)state;
  static const char f[] =
      "MESSAGE\r\nfoo:World\r\nfoo:Hello\r\nx:a\\cb\\nc\\\\d\\re\r\n"
      "content-length:3\r\n\r\nA\0B\0";
  wsc_stomp_msg m;
  assert_int_equal(wsc_stomp_parse((const uint8_t *)f, sizeof f - 1, 12, &m), 0);
  assert_string_equal(m.command, "MESSAGE");
  assert_int_equal(m.nheaders, 4);
  const wsc_stomp_header *h = wsc_stomp_msg_header(&m, "foo", 3);
  assert_non_null(h);
  assert_string_equal(h->value, "World"); /* repeated: the first wins */
  h = wsc_stomp_msg_header(&m, "x", 1);
  assert_int_equal(h->value_len, 9);
  assert_memory_equal(h->value, "a:b\nc\\d\re", 9);
  assert_int_equal(m.body_len, 3);
  assert_memory_equal(m.body, "A\0B", 3);
  assert_null(wsc_stomp_msg_header(&m, "Foo", 3));
  wsc_stomp_msg_free(&m);

  /* 1.1: \r is no escape; CONNECTED is never unescaped; 1.0 has no escapes */
  static const char g[] = "MESSAGE\nx:a\\rb\\c\n\n\0";
  assert_int_equal(wsc_stomp_parse((const uint8_t *)g, sizeof g - 1, 11, &m), 0);
  assert_string_equal(wsc_stomp_msg_header(&m, "x", 1)->value, "a\\rb:");
  wsc_stomp_msg_free(&m);
  static const char c[] = "CONNECTED\nx:a\\cb\n\n\0";
  assert_int_equal(wsc_stomp_parse((const uint8_t *)c, sizeof c - 1, 12, &m), 0);
  assert_string_equal(wsc_stomp_msg_header(&m, "x", 1)->value, "a\\cb");
  wsc_stomp_msg_free(&m);
  assert_int_equal(wsc_stomp_parse((const uint8_t *)g, sizeof g - 1, 10, &m), 0);
  assert_string_equal(wsc_stomp_msg_header(&m, "x", 1)->value, "a\\rb\\c");
  wsc_stomp_msg_free(&m);
  /* not a frame: no NUL */
  assert_int_equal(wsc_stomp_parse((const uint8_t *)"SEND\n\nabc", 9, 12, &m), WSREF_E_INVALID_ARG);

  char d[200];
  wsc_stomp_describe(d, sizeof d, (const uint8_t *)f, sizeof f - 1, 12);
  assert_string_equal(d,
                      "MESSAGE foo:World foo:Hello x:a:b\\nc\\\\d\\re content-length:3 "
                      "(3-octet body \"A\\x00B\")");
}

static void test_versions(void **state) {
  (void)state;
  assert_int_equal(wsc_stomp_version_parse("1.2", 3), 12);
  assert_int_equal(wsc_stomp_version_parse("1.3", 3), 0);
  assert_int_equal(wsc_stomp_version_max("1.0,1.1,2.0", 11), 11);
  assert_int_equal(wsc_stomp_version_max("1.2,1.0", 7), 12);
  /* spaces around the tokens are read past; an empty list or token is no version */
  assert_int_equal(wsc_stomp_version_max("1.1, 1.2", 8), 12);
  assert_int_equal(wsc_stomp_version_max(" 1.0 ,\t1.1\t", 11), 11);
  assert_int_equal(wsc_stomp_version_max("", 0), 0);
  assert_int_equal(wsc_stomp_version_max(",,", 2), 0);
  assert_int_equal(wsc_stomp_subprotocol_version("V11.STOMP"), 11);
  assert_int_equal(wsc_stomp_subprotocol_version("stomp"), 0);
  assert_true(wsc_stomp_is_server_command("RECEIPT", 7));
  assert_false(wsc_stomp_is_server_command("SEND", 4));
  assert_true(wsc_stomp_escape_exempt("CONNECTED", 9));
  assert_false(wsc_stomp_escape_exempt("SEND", 4));
}

static void test_random_cuts(void **state) {
  (void)state;
  uint64_t a[16], b[16];
  size_t n = wsc_stomp_random_cuts(7, 100, 3, a, 16);
  assert_int_equal(n, 3);
  assert_int_equal(wsc_stomp_random_cuts(7, 100, 3, b, 16), 3);
  assert_memory_equal(a, b, sizeof a[0] * 3);
  for (size_t i = 0; i < n; i++) {
    assert_true(a[i] >= 1 && a[i] <= 99);
    if (i) assert_true(a[i] > a[i - 1]);
  }
  /* the algorithm is part of the language: seed 7 means these cuts on every platform */
  assert_int_equal(a[0], 1);
  assert_int_equal(a[1], 20);
  assert_int_equal(a[2], 81);
  /* another seed, other cuts; K = 0 lets the seed choose how many (1..16) */
  assert_int_equal(wsc_stomp_random_cuts(8, 100, 3, b, 16), 3);
  assert_memory_not_equal(a, b, sizeof a[0] * 3);
  n = wsc_stomp_random_cuts(7, 100, 0, a, 16);
  assert_true(n >= 1 && n <= 16);
  /* more cuts than positions: every position */
  assert_int_equal(wsc_stomp_random_cuts(1, 4, 10, a, 16), 3);
  assert_int_equal(a[0], 1);
  assert_int_equal(a[2], 3);
  assert_int_equal(wsc_stomp_random_cuts(1, 1, 3, a, 16), 0);
}

/* ---- the observer ---- */

typedef struct obs_fx {
  wsc_result res;
  wsc_wirelog notes;
  wsc_stomp_obs *o;
} obs_fx;

static void obs_start(obs_fx *f, int version) {
  memset(f, 0, sizeof *f);
  wsc_stomp_obs_options o = {.version = version, .notes = &f->notes};
  f->o = wsc_stomp_obs_new(&o, &f->res);
  assert_non_null(f->o);
}

static void obs_stop(obs_fx *f) {
  wsc_stomp_obs_free(f->o);
  wsc_result_free(&f->res);
  wsc_wirelog_free(&f->notes);
}

static void msg(obs_fx *f, const char *p, size_t n) {
  assert_int_equal(wsc_stomp_obs_message(f->o, (const uint8_t *)p, n, 1, 0, 0), 0);
}
#define MSG(f, lit) msg((f), (lit), sizeof(lit) - 1)
#define SENT(f, lit) wsc_stomp_obs_sent((f)->o, (const uint8_t *)(lit), sizeof(lit) - 1)

/* The next event: its type, and for frames the exact bytes. */
static void next_is(obs_fx *f, enum wsc_event_type t, const char *bytes, size_t n) {
  wsc_event ev;
  assert_true(wsc_stomp_obs_next(f->o, &ev));
  assert_int_equal(ev.type, t);
  assert_int_equal(ev.len, n);
  assert_memory_equal(ev.data, bytes, n);
  wsc_event_free(&ev);
}
#define NEXT(f, t, lit) next_is((f), (t), (lit), sizeof(lit) - 1)

static void no_more(obs_fx *f) {
  wsc_event ev;
  assert_false(wsc_stomp_obs_next(f->o, &ev));
}

static bool has_finding(const obs_fx *f, const char *rule, const char *clause) {
  for (size_t i = 0; i < f->res.nfindings; i++)
    if (strcmp(f->res.findings[i].rule, rule) == 0 &&
        (!clause || strcmp(f->res.findings[i].clause, clause) == 0))
      return true;
  return false;
}

/* has_finding, listing what there is when the wanted one is missing */
static bool finding(const obs_fx *f, const char *rule, const char *clause) {
  if (has_finding(f, rule, clause)) return true;
  for (size_t i = 0; i < f->res.nfindings; i++)
    print_error("finding: %s %s %s\n", f->res.findings[i].clause, f->res.findings[i].rule,
                f->res.findings[i].message);
  return false;
}

static void test_obs_events(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.2\nhost:h\nheart-beat:0,500\n\n\0");
  MSG(&f, "CONNECTED\nversion:1.2\nheart-beat:1000,0\n\n\0");
  NEXT(&f, WSC_EV_STOMP, "CONNECTED\nversion:1.2\nheart-beat:1000,0\n\n\0");
  uint64_t s2c = 0, c2s = 0;
  assert_true(wsc_stomp_obs_heartbeats(f.o, &s2c, &c2s));
  assert_int_equal(s2c, 1000); /* max(sx 1000, cy 500) */
  assert_int_equal(c2s, 0);    /* cx 0 */
  /* a heart-beat message, then a frame split over three messages, then two frames and
   * trailing EOLs in one message: EOLs after a NUL belong to the frame */
  MSG(&f, "\n");
  NEXT(&f, WSC_EV_HEARTBEAT, "\n");
  SENT(&f, "SUBSCRIBE\nid:0\ndestination:/q\n\n\0");
  MSG(&f, "MESS");
  no_more(&f);
  MSG(&f, "AGE\nsubscription:0\nmessage-id:1\ndestination:/q\ncontent-length:2\n\nh");
  no_more(&f);
  MSG(&f, "i\0\r\n");
  NEXT(&f, WSC_EV_STOMP,
       "MESSAGE\nsubscription:0\nmessage-id:1\ndestination:/q\ncontent-length:2\n\nhi\0");
  no_more(&f);
  MSG(&f,
      "\r\n\nMESSAGE\nsubscription:0\nmessage-id:2\ndestination:/q\n\na\0\n\n"
      "MESSAGE\nsubscription:0\nmessage-id:3\ndestination:/q\n\nb\0\n");
  NEXT(&f, WSC_EV_HEARTBEAT, "\r\n\n");
  NEXT(&f, WSC_EV_STOMP, "MESSAGE\nsubscription:0\nmessage-id:2\ndestination:/q\n\na\0");
  NEXT(&f, WSC_EV_STOMP, "MESSAGE\nsubscription:0\nmessage-id:3\ndestination:/q\n\nb\0");
  no_more(&f);
  assert_int_equal(f.res.nfindings, 0);
  /* the SHOULD note: MESSAGE bodies without content-length/content-type */
  assert_true(f.notes.n >= 1);
  assert_non_null(strstr(f.notes.chunks[0].note, "SF-04 (SHOULD)"));
  obs_stop(&f);
}

static void test_obs_message_rules(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 12);
  SENT(&f,
       "CONNECT\naccept-version:1.2\nhost:h\n\n\0SUBSCRIBE\nid:s1\ndestination:/q\n"
       "ack:client-individual\n\n\0");
  MSG(&f, "CONNECTED\nversion:1.2\n\n\0");
  /* client-individual: ack missing; then subscription missing; then an unknown one; then
   * a repeated message-id; then no destination */
  MSG(&f, "MESSAGE\nsubscription:s1\nmessage-id:1\ndestination:/q\n\n\0");
  assert_true(finding(&f, "stomp-message-ack", "STOMP1.2 AK-04"));
  MSG(&f, "MESSAGE\nmessage-id:2\ndestination:/q\nack:2\n\n\0");
  assert_true(finding(&f, "stomp-message-subscription", "STOMP1.2 SF-03"));
  size_t n0 = f.res.nfindings;
  MSG(&f, "MESSAGE\nsubscription:zz\nmessage-id:3\ndestination:/q\n\n\0");
  assert_int_equal(f.res.nfindings, n0 + 1);
  assert_non_null(strstr(f.res.findings[n0].message, "subscription:zz"));
  MSG(&f, "MESSAGE\nsubscription:s1\nmessage-id:1\ndestination:/q\nack:1\n\n\0");
  assert_true(finding(&f, "stomp-message-id", "STOMP1.2 SF-02"));
  MSG(&f, "MESSAGE\nsubscription:s1\nmessage-id:9\nack:9\n\n\0");
  assert_true(finding(&f, "stomp-message-destination", "STOMP1.2 SF-01"));
  obs_stop(&f);
}

static void test_obs_receipt_and_error(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.2\nhost:h\n\n\0SEND\ndestination:/q\nreceipt:r1\n\n\0");
  MSG(&f, "CONNECTED\nversion:1.2\n\n\0RECEIPT\nreceipt-id:r1\n\n\0");
  assert_int_equal(f.res.nfindings, 0);
  MSG(&f, "RECEIPT\n\n\0");
  assert_true(finding(&f, "stomp-receipt-id", "STOMP1.2 RC-02"));
  MSG(&f, "RECEIPT\nreceipt-id:r9\n\n\0");
  assert_non_null(strstr(f.res.findings[f.res.nfindings - 1].message, "receipt-id:r9"));
  MSG(&f, "RECEIPT\nreceipt-id:r1\n\nbody\0");
  assert_true(finding(&f, "stomp-receipt-body", "STOMP1.2 RC-04"));
  uint64_t t;
  assert_false(wsc_stomp_obs_error_seen(f.o, &t));
  assert_int_equal(wsc_stomp_obs_message(f.o, (const uint8_t *)"ERROR\n\n\0", 8, 1, 777, 0), 0);
  assert_true(wsc_stomp_obs_error_seen(f.o, &t));
  assert_int_equal(t, 777);
  MSG(&f, "RECEIPT\nreceipt-id:r1\n\n\0");
  assert_true(finding(&f, "stomp-after-error", "STOMP1.2 SF-05"));
  /* SF-06 is a SHOULD: a note, not a finding */
  bool noted = false;
  for (size_t i = 0; i < f.notes.n; i++) noted |= strstr(f.notes.chunks[i].note, "SF-06") != NULL;
  assert_true(noted);
  assert_false(has_finding(&f, "stomp-error-message", NULL));
  obs_stop(&f);
}

static void test_obs_syntax_rules(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 12);
  MSG(&f, "RECEIPT\nreceipt-id:a\\tb\n\n\0");
  assert_true(finding(&f, "stomp-escape", "STOMP1.2 ES-04"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\nmessage:a:b\n\n\0");
  assert_true(finding(&f, "stomp-escape", "STOMP1.2 ES-04"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\nno colon here\n\n\0");
  assert_true(finding(&f, "stomp-header-syntax", "STOMP1.2 FR-11"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "message\n\n\0");
  assert_true(finding(&f, "stomp-command", "STOMP1.2 FR-05"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\ncontent-length:3\n\nabcd\0");
  assert_true(finding(&f, "stomp-terminator", "STOMP1.2 BD-02"));
  no_more(&f);
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\ncontent-length:x\n\nab\0");
  assert_true(finding(&f, "stomp-content-length", "STOMP1.2 BD-01"));
  obs_stop(&f);

  /* a NUL inside a body without content-length shows as garbage after the frame */
  obs_start(&f, 12);
  MSG(&f, "ERROR\n\nab\0cd\0");
  assert_true(finding(&f, "stomp-nul-in-body", "STOMP1.2 BD-03"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "CONNECTED\nversion:1.2\n\nbody\0");
  assert_true(finding(&f, "stomp-body-not-allowed", "STOMP1.2 FR-07"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\nmessage:\xc3\x28\n\n\0");
  assert_true(finding(&f, "stomp-utf8", "STOMP1.2 FR-08"));
  obs_stop(&f);

  obs_start(&f, 12);
  MSG(&f, "ERROR\nmessage:a\rb\n\n\0");
  assert_true(finding(&f, "stomp-cr", "STOMP1.2 FR-03"));
  obs_stop(&f);

  /* the connection ends inside a frame */
  obs_start(&f, 12);
  MSG(&f, "MESSAGE\nsubscr");
  assert_int_equal(f.res.nfindings, 0);
  wsc_stomp_obs_end(f.o, 0, 0);
  assert_true(finding(&f, "stomp-syntax", "STOMP1.2 FR-01"));
  obs_stop(&f);
}

/* Once the suite sent a frame it cannot track, tracking stops at that frame, however the
 * bytes were cut: whole, the CONNECT behind it used to be tracked as well, cut not
 * (fuzz_stomp_observer finding). */
static void test_obs_untracked_cut_independent(void **state) {
  (void)state;
  static const char sent[] = "not-a-command\n\n\0CONNECT\naccept-version:1.0\nhost:h\n\n\0";
  for (size_t cut = 0; cut < sizeof sent - 1; cut++) {
    obs_fx f;
    obs_start(&f, 12);
    if (cut) wsc_stomp_obs_sent(f.o, (const uint8_t *)sent, cut);
    wsc_stomp_obs_sent(f.o, (const uint8_t *)sent + cut, sizeof sent - 1 - cut);
    assert_int_equal(wsc_stomp_obs_version(f.o), 12);
    /* untracked: a RECEIPT nobody can have asked for is not judged */
    MSG(&f, "RECEIPT\nreceipt-id:77\n\n\0");
    assert_int_equal(f.res.nfindings, 0);
    obs_stop(&f);
  }
}

/* 1.0/1.1 frames the suite sends with CRLF line ends: the CR is part of the value, but a
 * broker that reads CRLF as the line end answers "r1" for receipt:r1\r, "s1" for id:s1\r;
 * both are what the suite asked for (RabbitMQ live campaign). */
static void test_obs_crlf_values(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 10);
  SENT(&f, "CONNECT\r\nlogin:g\r\n\r\n\0");
  SENT(&f, "SUBSCRIBE\r\nid:s1\r\ndestination:/q\r\n\r\n\0");
  SENT(&f, "SEND\r\ndestination:/q\r\nreceipt:r1\r\n\r\nx\0");
  MSG(&f, "CONNECTED\nsession:1\n\n\0");
  MSG(&f, "MESSAGE\nsubscription:s1\nmessage-id:1\ndestination:/q\n\nx\0");
  MSG(&f, "RECEIPT\nreceipt-id:r1\n\n\0");
  for (size_t i = 0; i < f.res.nfindings; i++) print_error("%s %s\n", f.res.findings[i].rule, f.res.findings[i].message);
  assert_int_equal(f.res.nfindings, 0);
  /* a receipt-id nobody asked for is still one */
  MSG(&f, "RECEIPT\nreceipt-id:r2\n\n\0");
  assert_true(finding(&f, "stomp-receipt-id", "STOMP1.0 RC-02"));
  obs_stop(&f);

  /* a strict 1.1 broker keeps the CR as part of the value: "r1<CR>" is the suite's too */
  obs_start(&f, 11);
  SENT(&f, "CONNECT\naccept-version:1.1\nhost:h\n\n\0");
  SENT(&f, "SUBSCRIBE\nid:s1\r\ndestination:/q\n\n\0");
  SENT(&f, "SEND\ndestination:/q\nreceipt:r1\r\n\nx\0");
  MSG(&f, "CONNECTED\nversion:1.1\n\n\0");
  MSG(&f, "MESSAGE\nsubscription:s1\r\nmessage-id:1\ndestination:/q\n\nx\0");
  MSG(&f, "RECEIPT\nreceipt-id:r1\r\n\n\0");
  assert_int_equal(f.res.nfindings, 0);
  obs_stop(&f);

  /* a RECEIPT before the suite sent anything (nothing pending: the fuzz target found the
   * pending-frame check reading an empty, never-allocated buffer) */
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.2\nhost:h\n\n\0");
  MSG(&f, "CONNECTED\nversion:1.2\n\n\0");
  MSG(&f, "RECEIPT\nreceipt-id:r4\n\n\0");
  assert_int_equal(f.res.nfindings, 1);
  assert_non_null(strstr(f.res.findings[0].message, "which no frame of this connection asked"));
  obs_stop(&f);

  /* a RECEIPT for a frame whose content-length still asks for octets says so */
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.2\nhost:h\n\n\0");
  SENT(&f, "SUBSCRIBE\nid:0\ndestination:/q\nreceipt:r1\ncontent-length:1\n\n\0");
  MSG(&f, "CONNECTED\nversion:1.2\n\n\0");
  MSG(&f, "RECEIPT\nreceipt-id:r1\n\n\0");
  assert_int_equal(f.res.nfindings, 1);
  assert_non_null(strstr(f.res.findings[0].message, "receipt-id:r1 for a frame the suite has not "
                                                    "finished sending"));
  obs_stop(&f);
}

static void test_obs_connected_rules(void **state) {
  (void)state;
  obs_fx f;
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.0,1.1\nhost:h\n\n\0");
  assert_int_equal(wsc_stomp_obs_version(f.o), 11);
  MSG(&f, "CONNECTED\nversion:1.2\nheart-beat:x\nserver:/1\n\n\0");
  /* judged in the session the CONNECT asked for */
  assert_true(finding(&f, "stomp-version-not-offered", "STOMP1.1 CN-05"));
  assert_true(finding(&f, "stomp-heart-beat", "STOMP1.2 HB-01"));
  assert_true(finding(&f, "stomp-server-header", "STOMP1.2 CN-09"));
  obs_stop(&f);

  /* "1.1, 1.2" offers 1.2: no CN-05 finding for version:1.2 */
  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.1, 1.2\nhost:h\n\n\0");
  assert_int_equal(wsc_stomp_obs_version(f.o), 12);
  MSG(&f, "CONNECTED\nversion:1.2\nheart-beat:0,0\nserver:s/1\n\n\0");
  assert_int_equal(f.res.nfindings, 0);
  obs_stop(&f);

  obs_start(&f, 12);
  SENT(&f, "CONNECT\naccept-version:1.1\nhost:h\n\n\0");
  MSG(&f, "CONNECTED\nserver:RabbitMQ/3.10.8 (x) (y)\n\n\0");
  assert_true(finding(&f, "stomp-connected-version", "STOMP1.1 CN-06"));
  assert_false(has_finding(&f, "stomp-server-header", NULL));
  assert_int_equal(wsc_stomp_obs_version(f.o), 10);
  obs_stop(&f);

  /* 1.1: escapes are checked with 1.1 rules, heart-beats are LF only */
  obs_start(&f, 11);
  MSG(&f, "ERROR\nmessage:a\\rb\n\n\0");
  assert_true(finding(&f, "stomp-escape", "STOMP1.1 ES-02"));
  MSG(&f, "\r\n");
  assert_true(finding(&f, "stomp-heartbeat-eol", "STOMP1.1 HB-05"));
  obs_stop(&f);

  /* after a broken frame from the suite, answers are not judged against what it asked */
  obs_start(&f, 12);
  SENT(&f, "SEND\ncontent-length:zz\n\n\0");
  MSG(&f, "RECEIPT\nreceipt-id:r7\n\n\0");
  assert_int_equal(f.res.nfindings, 0);
  obs_stop(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_encode),
      cmocka_unit_test(test_parse),
      cmocka_unit_test(test_versions),
      cmocka_unit_test(test_random_cuts),
      cmocka_unit_test(test_obs_events),
      cmocka_unit_test(test_obs_message_rules),
      cmocka_unit_test(test_obs_receipt_and_error),
      cmocka_unit_test(test_obs_syntax_rules),
      cmocka_unit_test(test_obs_connected_rules),
      cmocka_unit_test(test_obs_crlf_values),
      cmocka_unit_test(test_obs_untracked_cut_independent),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
