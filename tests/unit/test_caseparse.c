/* The case parser: every directive, expansion and ids, every error with its line:col,
 * file loading, lint output, glob selection. */
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
#include "case.h"
#include "caseparse.h"
#include "payload.h"

/* ---------------------------------------------------------------------------------------
 * Fixture: a temporary corpus folder with a data directory.
 */
struct fx {
  char dir[64];
  char data[96];
};
static struct fx *F;

static void write_file(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  fputs(text, fp);
  fclose(fp);
}

static int setup(void **state) {
  static struct fx f;
  snprintf(f.dir, sizeof f.dir, "/tmp/wsc-caseparse-XXXXXX");
  if (!mkdtemp(f.dir)) return -1;
  snprintf(f.data, sizeof f.data, "%s/data", f.dir);
  mkdir(f.data, 0700);
  char p[160];
  snprintf(p, sizeof p, "%s/hello.bin", f.data);
  FILE *fp = fopen(p, "wb");
  if (!fp) return -1;
  fputs("hello, data file\n", fp);
  fclose(fp);
  F = &f;
  *state = &f;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", F->dir);
  return system(cmd) == 0 ? 0 : -1;
}

/* ---------------------------------------------------------------------------------------
 * Helpers
 */

static void load_ok(const char *src, struct wsc_suite *s) {
  struct wsc_load_opts o = {.data_dir = F->data};
  struct wsc_diags d = {0};
  int rc = wsc_suite_load_buffer("t.case", src, strlen(src), &o, s, &d);
  if (rc != 0) wsc_diags_print(&d, stderr);
  assert_int_equal(rc, 0);
  assert_int_equal(d.n, 0);
  wsc_diags_free(&d);
}

/* All diagnostics as "file:line:col: message" lines. */
static char *diag_text(const struct wsc_diags *d) {
  char *buf = NULL;
  size_t n = 0;
  FILE *fp = open_memstream(&buf, &n);
  wsc_diags_print(d, fp);
  fclose(fp);
  return buf;
}

/* Loads src expecting failure; returns the diagnostics text (caller frees). */
static char *load_err(const char *src) {
  struct wsc_load_opts o = {.data_dir = F->data};
  struct wsc_diags d = {0};
  struct wsc_suite s;
  int rc = wsc_suite_load_buffer("t.case", src, strlen(src), &o, &s, &d);
  if (rc == 0) {
    print_error("loaded without error:\n%s", src);
    wsc_suite_free(&s);
  }
  assert_int_equal(rc, WSREF_E_INVALID_ARG);
  assert_int_equal(s.ncases, 0);
  assert_null(s.cases);
  assert_true(d.n > 0);
  char *t = diag_text(&d);
  wsc_diags_free(&d);
  return t;
}

static const struct wsc_case *find(const struct wsc_suite *s, const char *id) {
  for (size_t i = 0; i < s->ncases; i++)
    if (strcmp(s->cases[i].id, id) == 0) return &s->cases[i];
  fail_msg("no case %s", id);
  return NULL;
}

static void assert_payload(const struct wsc_payload *p, const void *want, size_t n) {
  assert_non_null(p);
  assert_int_equal(wsc_payload_equals(p, NULL, want, n), 1);
}

static const struct wsc_expect *only_item(const struct wsc_step *st) {
  assert_int_equal(st->kind, WSC_STEP_EXPECT);
  assert_int_equal(st->expect.nalts, 1);
  assert_int_equal(st->expect.alts[0].grade, WSC_GRADE_PASS);
  assert_int_equal(st->expect.alts[0].nitems, 1);
  return &st->expect.alts[0].items[0];
}

#define HDR "clause RFC6455 5\nlevel MUST\ncase t.a \"T\"\n" /* body starts on line 4 */

/* ---------------------------------------------------------------------------------------
 * Metadata
 */

static void test_metadata(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(
      "# file defaults\n"
      "clause   RFC6455 5.2 5.6\n"
      "level    SHOULD\n"
      "tags     framing base\n"
      "requires subprotocol chat\n"
      "timeout  3s\n"
      "\n"
      "case a.one   \"First case\"\n"
      "  alias    1.1.1\n"
      "  tags     extra framing\n"
      "  note     \"why this matters\"\n"
      "  note     second note as plain text\n"
      "\n"
      "case a.two\n"
      "  title    \"Second: \\\"quoted\\\"\"\n"
      "  clause   RFC6455 5.5.1\n"
      "  clause   RFC7692 7\n"
      "  level    INFO\n"
      "  role     client\n"
      "  requires extension \"permessage-deflate; client_max_window_bits\"\n"
      "  timeout  1.5s\n",
      &s);
  assert_int_equal(s.ncases, 2);
  assert_int_equal(s.nfiles, 1);
  assert_string_equal(s.files[0], "t.case");

  const struct wsc_case *a = &s.cases[0];
  assert_string_equal(a->id, "a.one");
  assert_string_equal(a->title, "First case");
  assert_string_equal(a->alias, "1.1.1");
  assert_int_equal(a->nclauses, 2);
  assert_string_equal(a->clauses[0], "RFC6455 5.2");
  assert_string_equal(a->clauses[1], "RFC6455 5.6");
  assert_int_equal(a->level, WSC_LEVEL_SHOULD);
  assert_int_equal(a->role, WSC_ROLE_SERVER);
  assert_int_equal(a->ntags, 3);
  assert_string_equal(a->tags[0], "framing");
  assert_string_equal(a->tags[1], "base");
  assert_string_equal(a->tags[2], "extra");
  assert_int_equal(a->nrequires, 1);
  assert_int_equal(a->requires[0].kind, WSC_REQ_SUBPROTOCOL);
  assert_string_equal(a->requires[0].value, "chat");
  assert_int_equal(a->nnotes, 2);
  assert_string_equal(a->notes[0], "why this matters");
  assert_string_equal(a->notes[1], "second note as plain text");
  assert_int_equal(a->timeout_us, 3000000);
  assert_string_equal(a->loc.file, "t.case");
  assert_int_equal(a->loc.line, 8);
  assert_int_equal(a->loc.col, 1);
  assert_string_equal(a->vars, "");
  assert_int_equal(a->expansion, 0);
  assert_int_equal(a->nsteps, 0);
  /* no handshake expectation written: the implicit one */
  assert_int_equal(a->hs.nexpects, 1);
  assert_int_equal(a->hs.expects[0].kind, WSC_HSX_OK);
  assert_true(a->hs.expects[0].implicit);
  assert_int_equal(a->hs.expects[0].miss_grade, WSC_GRADE_FAIL);

  const struct wsc_case *b = &s.cases[1];
  assert_string_equal(b->title, "Second: \"quoted\"");
  assert_null(b->alias);
  assert_int_equal(b->nclauses, 2); /* own clauses replace the defaults */
  assert_string_equal(b->clauses[0], "RFC6455 5.5.1");
  assert_string_equal(b->clauses[1], "RFC7692 7");
  assert_int_equal(b->level, WSC_LEVEL_INFO);
  assert_int_equal(b->role, WSC_ROLE_CLIENT);
  assert_int_equal(b->nrequires, 2);
  assert_int_equal(b->requires[1].kind, WSC_REQ_EXTENSION);
  assert_string_equal(b->requires[1].value, "permessage-deflate; client_max_window_bits");
  assert_int_equal(b->timeout_us, 1500000);
  assert_int_equal(b->loc.line, 14);
  wsc_suite_free(&s);
  assert_null(s.cases);
}

static void test_comments_and_continuations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(
      "clause RFC6455 5 # trailing comment\n"
      "level MUST\r\n"
      "   # an indented comment\n"
      "case c.{n} \"a#b is not a comment\"\n"
      "  each n = 1 2 \\\n"
      "           3\n"
      "  send text \"#\" + \"x\"   # payload then comment\n"
      "  send text \"a\" + \\\n"
      "    \"b\"\n"
      "  send text \"a\" \\\n"
      "    fin=0\n",
      &s);
  assert_int_equal(s.ncases, 3);
  const struct wsc_case *c = &s.cases[2];
  assert_string_equal(c->id, "c.3");
  assert_string_equal(c->title, "a#b is not a comment");
  assert_int_equal(c->nsteps, 3);
  assert_payload(c->steps[0].frame.payload, "#x", 2);
  assert_payload(c->steps[1].frame.payload, "ab", 2);
  assert_int_equal(c->steps[1].loc.line, 8);
  assert_payload(c->steps[2].frame.payload, "a", 1);
  assert_false(c->steps[2].frame.fin);
  wsc_suite_free(&s);
}

/* ---------------------------------------------------------------------------------------
 * Sending
 */

static void test_send_frames(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  send text \"Hello\"\n"
          "  send binary payload=hex\"00ff\" fin=0 rsv=4 mask=off\n"
          "  send cont rsv1=1 rsv3=1 key=37fa213d\n"
          "  send op=11 repeat(\"*\", 3) len=1000 lenform=64\n"
          "  send ping \"p\" mask=on\n"
          "  send pong\n"
          "  send text repeat(\"*\", 65536) frag=1300\n"
          "  send binary \"x\" len=9223372036854775807 lenform=64\n"
          "  send text file(\"hello.bin\")\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 9);
  const struct wsc_frame_spec *f = &c->steps[0].frame;
  assert_int_equal(c->steps[0].kind, WSC_STEP_SEND);
  assert_int_equal(c->steps[0].loc.line, 4);
  assert_int_equal(c->steps[0].loc.col, 3);
  assert_false(c->steps[0].suite_close);
  assert_int_equal(f->opcode, 1);
  assert_true(f->fin);
  assert_int_equal(f->rsv, 0);
  assert_int_equal(f->mask, WSC_MASK_RANDOM);
  assert_false(f->has_len);
  assert_int_equal(f->len_form, WSC_LEN_AUTO);
  assert_int_equal(f->fragment_size, 0);
  assert_payload(f->payload, "Hello", 5);
  assert_string_equal(wsc_payload_source(f->payload), "\"Hello\"");
  assert_int_equal(c->steps[0].write.chop, 0);
  assert_false(c->steps[0].write.coalesce);

  f = &c->steps[1].frame;
  assert_int_equal(f->opcode, 2);
  assert_false(f->fin);
  assert_int_equal(f->rsv, 4);
  assert_int_equal(f->mask, WSC_MASK_NONE);
  assert_payload(f->payload, "\x00\xff", 2);

  f = &c->steps[2].frame;
  assert_int_equal(f->opcode, 0);
  assert_int_equal(f->rsv, 5);
  assert_int_equal(f->mask, WSC_MASK_KEY);
  assert_memory_equal(f->key, "\x37\xfa\x21\x3d", 4);
  assert_payload(f->payload, "", 0);

  f = &c->steps[3].frame;
  assert_int_equal(f->opcode, 11);
  assert_true(f->has_len);
  assert_int_equal(f->len, 1000);
  assert_int_equal(f->len_form, WSC_LEN_64);
  assert_payload(f->payload, "***", 3);

  assert_int_equal(c->steps[4].frame.opcode, 9);
  assert_int_equal(c->steps[4].frame.mask, WSC_MASK_RANDOM);
  assert_int_equal(c->steps[5].frame.opcode, 10);

  f = &c->steps[6].frame;
  assert_int_equal(f->fragment_size, 1300);
  uint64_t len;
  assert_int_equal(wsc_payload_length(f->payload, NULL, &len), 0);
  assert_int_equal(len, 65536);

  f = &c->steps[7].frame;
  assert_int_equal(f->len, 9223372036854775807ull);
  assert_int_equal(f->len_form, WSC_LEN_64);

  assert_payload(c->steps[8].frame.payload, "hello, data file\n", 17);
  wsc_suite_free(&s);
}

static void test_send_close_raw(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  send close\n"
          "  send close 1000 \"bye\"\n"
          "  send close code=5000 reason=hex\"ff\"\n"
          "  send close payload=hex\"03\" rsv=7 fin=0\n"
          "  send close 0\n"
          "  send raw hex\"82 ff 80\" chop=1\n"
          "  send raw payload=\"GET / HTTP/1.1\\r\\n\"\n"
          "  close\n"
          "  close 1001 \"going away\"\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 9);
  assert_int_equal(c->steps[0].frame.opcode, 8);
  assert_payload(c->steps[0].frame.payload, "", 0);
  assert_payload(c->steps[1].frame.payload,
                 "\x03\xe8"
                 "bye",
                 5);
  assert_string_equal(wsc_payload_source(c->steps[1].frame.payload), "hex\"03e8\" + \"bye\"");
  assert_payload(c->steps[2].frame.payload, "\x13\x88\xff", 3);
  assert_payload(c->steps[3].frame.payload, "\x03", 1);
  assert_int_equal(c->steps[3].frame.rsv, 7);
  assert_false(c->steps[3].frame.fin);
  assert_payload(c->steps[4].frame.payload, "\x00\x00", 2);
  for (int i = 0; i < 5; i++) assert_false(c->steps[i].suite_close);

  assert_int_equal(c->steps[5].kind, WSC_STEP_SEND_RAW);
  assert_payload(c->steps[5].raw, "\x82\xff\x80", 3);
  assert_int_equal(c->steps[5].write.chop, 1);
  assert_payload(c->steps[6].raw, "GET / HTTP/1.1\r\n", 16);

  assert_int_equal(c->steps[7].kind, WSC_STEP_SEND);
  assert_true(c->steps[7].suite_close);
  assert_int_equal(c->steps[7].frame.opcode, 8);
  assert_true(c->steps[7].frame.fin);
  assert_int_equal(c->steps[7].frame.mask, WSC_MASK_RANDOM);
  assert_payload(c->steps[7].frame.payload, "", 0);
  assert_true(c->steps[8].suite_close);
  assert_payload(c->steps[8].frame.payload, "\x03\xe9going away", 12);
  wsc_suite_free(&s);
}

static void test_finish(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR "  finish\n", &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 2);
  assert_true(c->steps[0].suite_close);
  assert_payload(c->steps[0].frame.payload, "\x03\xe8", 2);
  const struct wsc_expect *e = only_item(&c->steps[1]);
  assert_int_equal(e->kind, WSC_EXP_CLOSE);
  assert_int_equal(e->close.ncodes, 1);
  assert_int_equal(e->close.codes[0].lo, 1000);
  assert_int_equal(e->close.codes[0].hi, 1000);
  assert_true(e->close.no_code);
  assert_false(e->close.any_code);
  assert_false(e->close.drop_ok);
  assert_true(e->close.clean);
  assert_int_equal(e->close.by, WSC_BY_SUITE);
  assert_null(e->close.reason);
  assert_int_equal(e->loc.line, 4);
  wsc_suite_free(&s);
}

static void test_write_policy(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  send text \"a\" chop=1 delay=1ms\n"     /* 4 */
          "  send text \"b\" split=1,3 delay=10ms\n" /* 5 */
          "  write chop=997\n"                       /* 6 */
          "  send text \"c\"\n"                      /* 7 */
          "  send text \"d\" chop=5\n"               /* 8 */
          "  write coalesce chop=2\n"                /* 9 */
          "  send text \"e\"\n"                      /* 10 */
          "  send raw \"f\"\n"                       /* 11 */
          "  flush\n"                                /* 12 */
          "  flush\n"                                /* 13: nothing held: no step */
          "  send text \"g\"\n"                      /* 14 */
          "  sleep 250ms\n"                          /* 15: flushes first */
          "  send text \"h\"\n"                      /* 16 */
          "  write whole\n"                          /* 17: flushes under the old policy */
          "  send text \"i\"\n"                      /* 18 */
          "  write coalesce\n"                       /* 19 */
          "  send text \"j\"\n",                     /* 20: flushed at the end */
          &s);
  const struct wsc_case *c = &s.cases[0];
  const struct wsc_step *st = c->steps;
  assert_int_equal(c->nsteps, 15);
  assert_int_equal(st[0].write.chop, 1);
  assert_int_equal(st[0].write.delay_us, 1000);
  assert_int_equal(st[1].write.nsplits, 2);
  assert_int_equal(st[1].write.splits[0], 1);
  assert_int_equal(st[1].write.splits[1], 3);
  assert_int_equal(st[1].write.delay_us, 10000);
  assert_int_equal(st[2].write.chop, 997);
  assert_int_equal(st[3].write.chop, 5);
  assert_true(st[4].write.coalesce);
  assert_int_equal(st[4].kind, WSC_STEP_SEND);
  assert_true(st[5].write.coalesce);
  assert_int_equal(st[5].kind, WSC_STEP_SEND_RAW);
  assert_int_equal(st[6].kind, WSC_STEP_FLUSH);
  assert_int_equal(st[6].loc.line, 12);
  assert_int_equal(st[6].write.chop, 2);
  assert_false(st[6].write.coalesce);
  assert_true(st[7].write.coalesce); /* g */
  assert_int_equal(st[8].kind, WSC_STEP_FLUSH);
  assert_int_equal(st[8].loc.line, 15);
  assert_int_equal(st[9].kind, WSC_STEP_SLEEP);
  assert_int_equal(st[9].sleep_us, 250000);
  assert_true(st[10].write.coalesce); /* h */
  assert_int_equal(st[11].kind, WSC_STEP_FLUSH);
  assert_int_equal(st[11].loc.line, 17);
  assert_int_equal(st[11].write.chop, 2);
  assert_false(st[12].write.coalesce); /* i */
  assert_int_equal(st[12].write.chop, 0);
  assert_true(st[13].write.coalesce); /* j */
  assert_int_equal(st[14].kind, WSC_STEP_FLUSH);
  assert_int_equal(st[14].loc.line, 3); /* end of case: the case line */
  wsc_suite_free(&s);
}

static void test_write_policy_tail(void **state) {
  (void)state;
  /* The fixture above checks 15 steps by index; this one checks drop/shutdown flush too. */
  struct wsc_suite s;
  load_ok(HDR
          "  write coalesce\n"
          "  send text \"a\"\n"
          "  drop\n"
          "  send text \"b\"\n"
          "  shutdown\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 6);
  assert_int_equal(c->steps[0].kind, WSC_STEP_SEND);
  assert_int_equal(c->steps[1].kind, WSC_STEP_FLUSH);
  assert_int_equal(c->steps[2].kind, WSC_STEP_DROP);
  assert_int_equal(c->steps[3].kind, WSC_STEP_SEND);
  assert_int_equal(c->steps[4].kind, WSC_STEP_FLUSH);
  assert_int_equal(c->steps[5].kind, WSC_STEP_SHUTDOWN);
  wsc_suite_free(&s);
}

/* ---------------------------------------------------------------------------------------
 * Expectations
 */

static void test_expect_events(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  expect text \"Hello\"\n"
          "  expect binary payload=repeat(hex\"fe\", 4) timeout=2s\n"
          "  expect message len=65536 "
          "sha256=a1cbdb30233f8ca5786202446a21157e21da0ba7dab4bd98740e785b69c7fc7f\n"
          "  expect ping\n"
          "  expect pong \"pongme\"\n"
          "  expect nothing 500ms\n"
          "  expect text\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 7);
  assert_false(c->frame_level);
  const struct wsc_expect *e = only_item(&c->steps[0]);
  assert_int_equal(e->kind, WSC_EXP_TEXT);
  assert_payload(e->match.payload, "Hello", 5);
  assert_false(e->match.has_len);
  assert_int_equal(e->timeout_us, 0);
  assert_int_equal(e->loc.line, 4);
  assert_int_equal(e->loc.col, 3);
  e = only_item(&c->steps[1]);
  assert_int_equal(e->kind, WSC_EXP_BINARY);
  assert_payload(e->match.payload, "\xfe\xfe\xfe\xfe", 4);
  assert_int_equal(e->timeout_us, 2000000);
  e = only_item(&c->steps[2]);
  assert_int_equal(e->kind, WSC_EXP_MESSAGE);
  assert_null(e->match.payload);
  assert_true(e->match.has_len);
  assert_int_equal(e->match.len, 65536);
  assert_true(e->match.has_sha256);
  assert_memory_equal(e->match.sha256, "\xa1\xcb\xdb\x30", 4);
  assert_int_equal(e->match.sha256[31], 0x7f);
  e = only_item(&c->steps[3]);
  assert_int_equal(e->kind, WSC_EXP_PING);
  assert_null(e->match.payload);
  e = only_item(&c->steps[4]);
  assert_int_equal(e->kind, WSC_EXP_PONG);
  assert_payload(e->match.payload, "pongme", 6);
  e = only_item(&c->steps[5]);
  assert_int_equal(e->kind, WSC_EXP_NOTHING);
  assert_int_equal(e->duration_us, 500000);
  e = only_item(&c->steps[6]);
  assert_null(e->match.payload);
  wsc_suite_free(&s);
}

static void test_expect_frames(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  expect frame binary fin=1 rsv=0 payload=file(\"hello.bin\")\n"
          "  expect frame op=15\n"
          "  expect frame\n"
          "  expect pong\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_true(c->frame_level);
  const struct wsc_expect *e = only_item(&c->steps[0]);
  assert_int_equal(e->kind, WSC_EXP_FRAME);
  assert_int_equal(e->opcode, 2);
  assert_int_equal(e->fin, 1);
  assert_int_equal(e->rsv, 0);
  assert_payload(e->match.payload, "hello, data file\n", 17);
  e = only_item(&c->steps[1]);
  assert_int_equal(e->opcode, 15);
  assert_int_equal(e->fin, -1);
  assert_int_equal(e->rsv, -1);
  e = only_item(&c->steps[2]);
  assert_int_equal(e->opcode, -1);
  wsc_suite_free(&s);

  /* expect frame on control frames only keeps messages whole */
  load_ok(HDR "  expect frame ping\n  expect text\n", &s);
  assert_false(s.cases[0].frame_level);
  wsc_suite_free(&s);
}

static void test_expect_close(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  expect close 1000 3000..4999 none clean by=suite reason=\"bye\" timeout=3s\n"
          "  expect close 1002 drop\n"
          "  expect close any by=peer\n"
          "  expect close\n"
          "  expect fail 1002 1007\n"
          "  expect fail\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  const struct wsc_expect *e = only_item(&c->steps[0]);
  assert_int_equal(e->kind, WSC_EXP_CLOSE);
  assert_int_equal(e->close.ncodes, 2);
  assert_int_equal(e->close.codes[1].lo, 3000);
  assert_int_equal(e->close.codes[1].hi, 4999);
  assert_true(e->close.no_code);
  assert_false(e->close.any_code);
  assert_false(e->close.drop_ok);
  assert_true(e->close.clean);
  assert_int_equal(e->close.by, WSC_BY_SUITE);
  assert_payload(e->close.reason, "bye", 3);
  assert_int_equal(e->timeout_us, 3000000);
  e = only_item(&c->steps[1]);
  assert_int_equal(e->close.ncodes, 1);
  assert_true(e->close.drop_ok);
  assert_false(e->close.no_code);
  assert_false(e->close.clean);
  assert_int_equal(e->close.by, WSC_BY_ANY);
  e = only_item(&c->steps[2]);
  assert_true(e->close.any_code);
  assert_false(e->close.no_code);
  assert_int_equal(e->close.by, WSC_BY_PEER);
  e = only_item(&c->steps[3]); /* no codes: any close frame */
  assert_true(e->close.any_code);
  assert_true(e->close.no_code);
  assert_false(e->close.drop_ok);
  e = only_item(&c->steps[4]);
  assert_int_equal(e->close.ncodes, 2);
  assert_int_equal(e->close.codes[0].lo, 1002);
  assert_int_equal(e->close.codes[1].lo, 1007);
  assert_true(e->close.drop_ok);
  assert_false(e->close.any_code);
  assert_int_equal(e->close.by, WSC_BY_PEER);
  e = only_item(&c->steps[5]);
  assert_true(e->close.drop_ok);
  assert_true(e->close.any_code);
  assert_int_equal(e->close.by, WSC_BY_PEER);
  wsc_suite_free(&s);
}

static void test_alternatives(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  expect text \"Hello\" else=non-strict\n" /* 4 */
          "  expect fail 1007 timeout=1s else=info\n" /* 5 */
          "  either\n"                                /* 6 */
          "    expect text \"Hello\"\n"               /* 7 */
          "    expect fail 1002\n"                    /* 8 */
          "  or non-strict\n"                         /* 9 */
          "    expect fail 1002\n"                    /* 10 */
          "  or fail\n"                               /* 11 */
          "  end\n"                                   /* 12 */
          "  either info\n"                           /* 13 */
          "    expect pong\n"
          "  or pass\n"
          "    expect nothing 1s\n"
          "  end\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 4);
  const struct wsc_expect_step *x = &c->steps[0].expect;
  assert_int_equal(x->nalts, 2);
  assert_int_equal(x->alts[0].grade, WSC_GRADE_PASS);
  assert_int_equal(x->alts[0].nitems, 1);
  assert_int_equal(x->alts[0].items[0].kind, WSC_EXP_TEXT);
  assert_int_equal(x->alts[1].grade, WSC_GRADE_NON_STRICT);
  assert_int_equal(x->alts[1].nitems, 0);
  x = &c->steps[1].expect;
  assert_int_equal(x->alts[0].items[0].timeout_us, 1000000);
  assert_int_equal(x->alts[1].grade, WSC_GRADE_INFO);

  x = &c->steps[2].expect;
  assert_int_equal(c->steps[2].loc.line, 6);
  assert_int_equal(x->nalts, 3);
  assert_int_equal(x->alts[0].grade, WSC_GRADE_PASS);
  assert_int_equal(x->alts[0].loc.line, 6);
  assert_int_equal(x->alts[0].nitems, 2);
  assert_int_equal(x->alts[0].items[0].kind, WSC_EXP_TEXT);
  assert_int_equal(x->alts[0].items[0].loc.line, 7);
  assert_int_equal(x->alts[0].items[1].kind, WSC_EXP_CLOSE);
  assert_int_equal(x->alts[1].grade, WSC_GRADE_NON_STRICT);
  assert_int_equal(x->alts[1].loc.line, 9);
  assert_int_equal(x->alts[1].nitems, 1);
  assert_int_equal(x->alts[2].grade, WSC_GRADE_FAIL);
  assert_int_equal(x->alts[2].nitems, 0);
  x = &c->steps[3].expect;
  assert_int_equal(x->alts[0].grade, WSC_GRADE_INFO);
  assert_int_equal(x->alts[1].grade, WSC_GRADE_PASS);
  assert_int_equal(x->alts[1].items[0].kind, WSC_EXP_NOTHING);
  wsc_suite_free(&s);
}

/* ---------------------------------------------------------------------------------------
 * Handshake
 */

static void test_handshake(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  handshake set Sec-WebSocket-Version: 8\n"
          "  handshake add Sec-WebSocket-Version:   13,  8 \n"
          "  handshake set X-Odd: \"a\\r\\nInjected: 1\"\n"
          "  handshake set X-Empty:\n"
          "  handshake set X-Glued:value and more\n"
          "  handshake remove Origin\n"
          "  handshake method POST\n"
          "  handshake target \"/chat?x=1\"\n"
          "  handshake version HTTP/1.0\n"
          "  handshake body \"hello\"\n"
          "  handshake write chop=1 delay=5ms\n"
          "  handshake pipeline\n"
          "  expect handshake fail\n"
          "  expect status 426 else=non-strict\n"
          "  expect status 4xx 500..503 101\n"
          "  expect header Sec-WebSocket-Version contains 13\n"
          "  expect header Sec-WebSocket-Protocol = chat, superchat\n"
          "  expect header Sec-WebSocket-Accept = $accept\n"
          "  expect header X-A: absent\n"
          "  expect header X-B present else=info\n"
          "  expect header X-C = \"quoted value\"\n"
          "  expect header Connection lacks close\n"
          "  expect body contains \"Upgrade Required\"\n",
          &s);
  const struct wsc_handshake *h = &s.cases[0].hs;
  assert_null(h->raw);
  assert_int_equal(h->nedits, 6);
  assert_int_equal(h->edits[0].op, WSC_HDR_SET);
  assert_string_equal(h->edits[0].name, "Sec-WebSocket-Version");
  assert_string_equal(h->edits[0].value, "8");
  assert_int_equal(h->edits[0].loc.line, 4);
  assert_int_equal(h->edits[1].op, WSC_HDR_ADD);
  assert_string_equal(h->edits[1].value, "13,  8");
  assert_string_equal(h->edits[2].value, "a\r\nInjected: 1");
  assert_string_equal(h->edits[3].name, "X-Empty");
  assert_string_equal(h->edits[3].value, "");
  assert_string_equal(h->edits[4].name, "X-Glued");
  assert_string_equal(h->edits[4].value, "value and more");
  assert_int_equal(h->edits[5].op, WSC_HDR_REMOVE);
  assert_string_equal(h->edits[5].name, "Origin");
  assert_null(h->edits[5].value);
  assert_string_equal(h->method, "POST");
  assert_string_equal(h->target, "/chat?x=1");
  assert_string_equal(h->version, "HTTP/1.0");
  assert_payload(h->body, "hello", 5);
  assert_int_equal(h->write.chop, 1);
  assert_int_equal(h->write.delay_us, 5000);
  assert_true(h->pipeline);

  assert_int_equal(h->nexpects, 11); /* explicit fail/status: no implicit ok */
  const struct wsc_hs_expect *x = h->expects;
  assert_int_equal(x[0].kind, WSC_HSX_FAIL);
  assert_false(x[0].implicit);
  assert_int_equal(x[1].kind, WSC_HSX_STATUS);
  assert_int_equal(x[1].nstatuses, 1);
  assert_int_equal(x[1].statuses[0].lo, 426);
  assert_int_equal(x[1].miss_grade, WSC_GRADE_NON_STRICT);
  assert_int_equal(x[2].nstatuses, 3);
  assert_int_equal(x[2].statuses[0].lo, 400);
  assert_int_equal(x[2].statuses[0].hi, 499);
  assert_int_equal(x[2].statuses[1].lo, 500);
  assert_int_equal(x[2].statuses[1].hi, 503);
  assert_int_equal(x[2].statuses[2].lo, 101);
  assert_int_equal(x[2].miss_grade, WSC_GRADE_FAIL);
  assert_int_equal(x[3].kind, WSC_HSX_HEADER);
  assert_int_equal(x[3].op, WSC_HM_CONTAINS);
  assert_string_equal(x[3].name, "Sec-WebSocket-Version");
  assert_string_equal(x[3].value, "13");
  assert_int_equal(x[4].op, WSC_HM_EQUALS);
  assert_string_equal(x[4].value, "chat, superchat");
  assert_int_equal(x[5].op, WSC_HM_ACCEPT);
  assert_null(x[5].value);
  assert_int_equal(x[6].op, WSC_HM_ABSENT);
  assert_string_equal(x[6].name, "X-A");
  assert_int_equal(x[7].op, WSC_HM_PRESENT);
  assert_int_equal(x[7].miss_grade, WSC_GRADE_INFO);
  assert_string_equal(x[8].value, "quoted value");
  assert_int_equal(x[9].op, WSC_HM_LACKS);
  assert_string_equal(x[9].name, "Connection");
  assert_string_equal(x[9].value, "close");
  assert_int_equal(x[10].kind, WSC_HSX_BODY);
  assert_payload(x[10].body, "Upgrade Required", 16);
  assert_int_equal(x[10].loc.line, 26);
  assert_int_equal(s.cases[0].nsteps, 0);
  wsc_suite_free(&s);
}

static void test_handshake_raw_and_implicit_ok(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(
      HDR
      "  handshake raw \"GET \" + $target + \" HTTP/1.1\\r\\nHost: \" + $host + \"\\r\\n\\r\\n\"\n"
      "  handshake write split=4\n"
      "  expect header Sec-WebSocket-Protocol absent\n",
      &s);
  const struct wsc_handshake *h = &s.cases[0].hs;
  assert_non_null(h->raw);
  assert_true(wsc_payload_has_vars(h->raw));
  struct wsc_payload_env env = {.host = "h", .target = "/t"};
  const char *want = "GET /t HTTP/1.1\r\nHost: h\r\n\r\n";
  assert_int_equal(wsc_payload_equals(h->raw, &env, want, strlen(want)), 1);
  assert_int_equal(h->write.nsplits, 1);
  assert_int_equal(h->nexpects, 2); /* the header check, then the implicit ok */
  assert_int_equal(h->expects[0].kind, WSC_HSX_HEADER);
  assert_int_equal(h->expects[1].kind, WSC_HSX_OK);
  assert_true(h->expects[1].implicit);
  wsc_suite_free(&s);
}

/* ---------------------------------------------------------------------------------------
 * Expansion
 */

static void test_expansion_design_example(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(
      "case framing.text.len-{n}   \"A text message of {n} octets is echoed\"\n"
      "  alias   1.1.{i}\n"
      "  clause  RFC6455 5.2 5.6\n"
      "  level   MUST\n"
      "  each    n = 0 125 126 127 128 65535 65536 ; i = 1..7\n"
      "  send    text payload=repeat(\"*\", {n})\n"
      "  expect  text payload=repeat(\"*\", {n})\n"
      "  close   1000\n"
      "  expect  close 1000 clean\n",
      &s);
  static const char *const ids[] = {"framing.text.len-0",    "framing.text.len-125",
                                    "framing.text.len-126",  "framing.text.len-127",
                                    "framing.text.len-128",  "framing.text.len-65535",
                                    "framing.text.len-65536"};
  static const uint64_t sizes[] = {0, 125, 126, 127, 128, 65535, 65536};
  assert_int_equal(s.ncases, 7);
  for (size_t i = 0; i < 7; i++) {
    const struct wsc_case *c = &s.cases[i];
    char alias[16], vars[32], title[64];
    snprintf(alias, sizeof alias, "1.1.%zu", i + 1);
    snprintf(vars, sizeof vars, "n=%llu i=%zu", (unsigned long long)sizes[i], i + 1);
    snprintf(title, sizeof title, "A text message of %llu octets is echoed",
             (unsigned long long)sizes[i]);
    assert_string_equal(c->id, ids[i]);
    assert_string_equal(c->alias, alias);
    assert_string_equal(c->vars, vars);
    assert_string_equal(c->title, title);
    assert_int_equal(c->expansion, i);
    assert_int_equal(c->loc.line, 1);
    assert_int_equal(c->nsteps, 4);
    uint64_t len;
    assert_int_equal(wsc_payload_length(c->steps[0].frame.payload, NULL, &len), 0);
    assert_int_equal(len, sizes[i]);
    const struct wsc_expect *e = only_item(&c->steps[1]);
    assert_int_equal(wsc_payload_length(e->match.payload, NULL, &len), 0);
    assert_int_equal(len, sizes[i]);
    assert_true(c->steps[2].suite_close);
    e = only_item(&c->steps[3]);
    assert_true(e->close.clean);
    assert_false(e->close.no_code);
  }
  wsc_suite_free(&s);
}

static void test_expansion_values(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "case p.{a}-{b} \"{w}\"\n"
          "  each a = 1 2\n"
          "  each b=x y ; w = \"two words\" plain\n"
          "  send text \"{w}|{a}{b}\"\n"
          "case u.{i} \"surrogate {cp}\"\n"
          "  each cp = D800 DFFF ; i = 1..2\n"
          "  send text \"\\u{{cp}}\" + \"{\\\"json\\\":1}\"\n",
          &s);
  assert_int_equal(s.ncases, 1 + 4 + 2);
  static const char *const ids[] = {"p.1-x", "p.1-y", "p.2-x", "p.2-y"};
  static const char *const texts[] = {"two words|1x", "plain|1y", "two words|2x", "plain|2y"};
  for (int i = 0; i < 4; i++) {
    const struct wsc_case *c = &s.cases[1 + i];
    assert_string_equal(c->id, ids[i]);
    assert_payload(c->steps[0].frame.payload, texts[i], strlen(texts[i]));
  }
  assert_string_equal(s.cases[1].vars, "a=1 b=x w=two words");
  assert_string_equal(s.cases[1].title, "two words");
  const struct wsc_case *u = find(&s, "u.2");
  assert_string_equal(u->title, "surrogate DFFF");
  assert_payload(u->steps[0].frame.payload, "\xed\xbf\xbf{\"json\":1}", 13);
  wsc_suite_free(&s);
}

static void test_loop(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  loop 3\n"
          "    send text \"x\"\n"
          "    expect text \"x\"\n"
          "  end\n"
          "  loop k = 0..1 7 \"a b\"\n"
          "    send ping \"p-{k}\"\n"
          "    loop 2\n"
          "      expect pong \"p-{k}\"\n"
          "    end\n"
          "  end\n"
          "  either\n"
          "    expect text\n"
          "  or\n"
          "  end\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_int_equal(c->nsteps, 6 + 4 * 3 + 1);
  for (int i = 0; i < 6; i += 2) {
    assert_int_equal(c->steps[i].kind, WSC_STEP_SEND);
    assert_int_equal(c->steps[i].loc.line, 5);
    assert_int_equal(c->steps[i + 1].kind, WSC_STEP_EXPECT);
  }
  static const char *const pl[] = {"p-0", "p-1", "p-7", "p-a b"};
  for (int i = 0; i < 4; i++) {
    const struct wsc_step *st = &c->steps[6 + 3 * i];
    assert_payload(st->frame.payload, pl[i], strlen(pl[i]));
    assert_payload(only_item(&st[1])->match.payload, pl[i], strlen(pl[i]));
    assert_payload(only_item(&st[2])->match.payload, pl[i], strlen(pl[i]));
  }
  assert_int_equal(c->steps[18].expect.nalts, 2);
  wsc_suite_free(&s);
}

static void test_limits(void **state) {
  (void)state;
  struct wsc_load_opts o = {.data_dir = F->data, .max_steps = 5, .max_expansions = 3};
  struct wsc_diags d = {0};
  struct wsc_suite s;
  const char *src = HDR "  loop 3\n    send text \"x\"\n    send text \"y\"\n  end\n";
  assert_int_equal(wsc_suite_load_buffer("t.case", src, strlen(src), &o, &s, &d),
                   WSREF_E_INVALID_ARG);
  char *t = diag_text(&d);
  assert_string_equal(t, "t.case:6:5: too many steps: more than 5\n");
  free(t);
  wsc_diags_free(&d);

  src = HDR "case e.{n} \"e\"\n  each n = 1..4\n";
  assert_int_equal(wsc_suite_load_buffer("t.case", src, strlen(src), &o, &s, &d),
                   WSREF_E_INVALID_ARG);
  t = diag_text(&d);
  assert_string_equal(t, "t.case:5:12: bad range '1..4'\n");
  free(t);
  wsc_diags_free(&d);

  src = HDR "case e.{n}{m} \"e\"\n  each n = 1 2\n  each m = 1 2\n";
  assert_int_equal(wsc_suite_load_buffer("t.case", src, strlen(src), &o, &s, &d),
                   WSREF_E_INVALID_ARG);
  t = diag_text(&d);
  assert_string_equal(t, "t.case:4:1: too many expansions: more than 3\n");
  free(t);
  wsc_diags_free(&d);

  /* max_errors caps what is kept */
  struct wsc_load_opts o2 = {.max_errors = 2};
  src = HDR "  a\n  b\n  c\n";
  assert_int_equal(wsc_suite_load_buffer("t.case", src, strlen(src), &o2, &s, &d),
                   WSREF_E_INVALID_ARG);
  assert_int_equal(d.n, 2);
  wsc_diags_free(&d);
}

/* ---------------------------------------------------------------------------------------
 * Errors, each with its exact position
 */

struct err_case {
  const char *src;
  const char *want; /* the whole diagnostics text */
};

static void test_errors(void **state) {
  (void)state;
  static const struct err_case t[] = {
      /* structure and metadata */
      {"send text \"x\"\n",
       "t.case:1:1: 'send' is not allowed before the first case (only clause, level, role, "
       "tags, requires, timeout)\n"},
      {"bogus\n", "t.case:1:1: unknown directive 'bogus'\n"},
      {"loop 2\nend\n",
       "t.case:1:1: 'loop' is not allowed before the first case (only clause, level, role, "
       "tags, requires, timeout)\n"},
      {"case t.a\n  clause RFC6455 5\n  level MUST\n", "t.case:1:1: case 't.a' has no title\n"},
      {"case t.a \"T\"\n  level MUST\n", "t.case:1:1: case 't.a' has no clause\n"},
      {"case t.a \"T\"\n  clause RFC6455 5\n", "t.case:1:1: case 't.a' has no level\n"},
      {"level MUST\nclause RFC6455 5\ncase\n",
       "t.case:3:1: case needs an id: case framing.text.empty \"title\"\n"},
      {"level MUST\nclause RFC6455 5\ncase a/b \"T\"\n",
       "t.case:3:6: bad case id 'a/b': letters, digits, '.', '_', '-'\n"},
      {HDR "case t.a \"U\"\n", "t.case:4:1: duplicate case id 't.a' (first at t.case:3)\n"},
      {HDR "  alias 9.9\ncase t.b \"U\"\n  alias 9.9\n",
       "t.case:5:1: duplicate alias '9.9' (first at t.case:3, case 't.a')\n"},
      {HDR "  sned x\n", "t.case:4:3: unknown directive 'sned'\n"},
      {HDR "  title \"again\"\n", "t.case:4:3: duplicate title\n"},
      {HDR "  alias 1.1\n  alias 1.2\n", "t.case:5:3: duplicate alias\n"},
      {HDR "  alias a/b\n", "t.case:4:9: bad alias 'a/b': letters, digits, '.', '_', '-'\n"},
      {HDR "  tags ok a/b\n", "t.case:4:11: bad tag 'a/b': letters, digits, '.', '_', '-'\n"},
      {HDR "  level must\n", "t.case:4:9: bad level 'must': MUST, SHOULD, MAY or INFO\n"},
      {HDR "  level MUST\n  level MAY\n", "t.case:5:3: duplicate level\n"},
      {HDR "  role peer\n", "t.case:4:8: bad role 'peer': server or client\n"},
      {HDR "  requires codec x\n",
       "t.case:4:3: requires needs subprotocol NAME or extension OFFER\n"},
      {HDR "  requires subprotocol a b\n",
       "t.case:4:26: unexpected 'b': one subprotocol per requires line\n"},
      {HDR "  timeout 5\n", "t.case:4:11: bad duration '5': a number with us, ms or s\n"},
      {HDR "  timeout 1s\n  timeout 2s\n", "t.case:5:3: duplicate timeout\n"},
      {HDR "  clause RFC6455\n",
       "t.case:4:3: clause needs a document and at least one section: clause RFC6455 5.2\n"},
      {"level SOMETIMES\n", "t.case:1:7: bad level 'SOMETIMES': MUST, SHOULD, MAY or INFO\n"},

      /* lexing and substitution */
      {HDR "  send text \"abc\n", "t.case:4:13: unterminated string\n"},
      {HDR "  send text \"{x}\"\n", "t.case:4:14: unknown variable 'x'\n"},

      /* send */
      {HDR "  send\n",
       "t.case:4:3: send needs a frame type: text, binary, cont, ping, pong, close, op=N or "
       "raw\n"},
      {HDR "  send texty\n",
       "t.case:4:8: bad frame type 'texty': text, binary, cont, ping, pong, close, op=N or "
       "raw\n"},
      {HDR "  send text hex\"zz\"\n", "t.case:4:17: bad hex digit 'z'\n"},
      {HDR "  send text payload=hex\"abc\"\n", "t.case:4:27: odd number of hex digits\n"},
      {HDR "  send op=16\n", "t.case:4:8: bad opcode '16': a number from 0 to 15\n"},
      {HDR "  send text rsv=8\n", "t.case:4:13: bad rsv '8': a number from 0 to 7\n"},
      {HDR "  send text fin=2\n", "t.case:4:13: bad fin '2': a number from 0 to 1\n"},
      {HDR "  send text mask=maybe\n",
       "t.case:4:13: bad mask 'maybe': on or off (key=HEX8 sets the key)\n"},
      {HDR "  send text key=123\n", "t.case:4:13: bad mask key '123': 8 hex digits\n"},
      {HDR "  send text mask=off key=01020304\n", "t.case:4:3: key= needs mask=on\n"},
      {HDR "  send text len=x\n", "t.case:4:13: bad len 'x': a number\n"},
      {HDR "  send text lenform=8\n", "t.case:4:13: bad lenform '8': 7, 16 or 64\n"},
      {HDR "  send text repeat(\"*\", 126) lenform=7\n",
       "t.case:4:3: lenform=7 needs a length of at most 125\n"},
      {HDR "  send text len=65536 lenform=16\n",
       "t.case:4:3: lenform=16 needs a length of at most 65535\n"},
      {HDR "  send text \"x\" frag=10 len=3\n",
       "t.case:4:17: frag= cannot be combined with len=\n"},
      {HDR "  send text \"x\" frag=10 fin=0\n",
       "t.case:4:17: frag= cannot be combined with fin=0\n"},
      {HDR "  send text \"x\" frag=0\n", "t.case:4:17: frag= must be at least 1\n"},
      {HDR "  send text \"x\" bogus=1\n", "t.case:4:17: unknown option 'bogus' for send\n"},
      {HDR "  send text \"x\" \"y\"\n",
       "t.case:4:17: unexpected '\"y\"': a frame takes one payload\n"},
      {HDR "  send text \"x\" payload=\"y\"\n", "t.case:4:17: duplicate payload\n"},
      {HDR "  send close 70000\n",
       "t.case:4:14: bad close code '70000': a number from 0 to 65535\n"},
      {HDR "  send close reason=\"x\"\n",
       "t.case:4:14: a close reason needs a code (use payload= for raw bytes)\n"},
      {HDR "  send close 1000 payload=\"x\"\n",
       "t.case:4:19: payload= cannot be combined with a close code or reason\n"},
      {HDR "  send close 1000 \"a\" \"b\"\n",
       "t.case:4:23: unexpected '\"b\"': send close takes a code and a reason\n"},
      {HDR "  send raw\n", "t.case:4:3: send raw needs a payload\n"},
      {HDR "  send raw \"a\" \"b\"\n",
       "t.case:4:16: unexpected '\"b\"': send raw takes one payload\n"},
      {HDR "  send raw \"a\" fin=1\n", "t.case:4:16: unknown option 'fin' for send raw\n"},
      {HDR "  send text repeat(\"*\", 2GiB)\n",
       "t.case:4:13: payload longer than the limit of 1073741824 bytes\n"},
      {HDR "  send text \"x\" split=3,2\n",
       "t.case:4:17: bad split '3,2': ascending positive offsets separated by ','\n"},
      {HDR "  send text \"x\" delay=3\n",
       "t.case:4:17: bad duration '3': a number with us, ms or s\n"},
      {HDR "  write coalesce\n  send text \"x\" chop=1\n",
       "t.case:5:3: chop=, delay= and split= cannot be used while coalescing (set them on "
       "write)\n"},
      {HDR "  write sideways\n",
       "t.case:4:9: unknown write option 'sideways': whole, coalesce, chop=N, delay=D, "
       "split=A,B\n"},
      {HDR "  write\n", "t.case:4:3: write needs whole, coalesce, chop=N, delay=D or split=A,B\n"},
      {HDR "  flush now\n", "t.case:4:9: unexpected 'now': flush takes no arguments\n"},
      {HDR "  drop it\n", "t.case:4:8: unexpected 'it': drop takes no arguments\n"},
      {HDR "  close 1000 \"a\" extra\n",
       "t.case:4:18: unexpected 'extra': close takes a code and a reason\n"},
      {HDR "  close x\n", "t.case:4:9: bad close code 'x': a number from 0 to 65535\n"},
      {HDR "  finish now\n", "t.case:4:10: unexpected 'now': finish takes no arguments\n"},
      {HDR "  sleep 5\n", "t.case:4:9: bad duration '5': a number with us, ms or s\n"},
      {HDR "  sleep\n", "t.case:4:3: sleep needs one duration, e.g. sleep 1s\n"},

      /* expect */
      {HDR "  expect\n", "t.case:4:3: expect needs what to expect, e.g. expect text \"Hello\"\n"},
      {HDR "  expect texts\n",
       "t.case:4:10: bad expectation 'texts': text, binary, message, ping, pong, frame, close, "
       "fail, nothing, handshake, status, header or body\n"},
      {HDR "  expect text \"x\" else=maybe\n",
       "t.case:4:19: bad grade 'maybe': pass, non-strict, info or fail\n"},
      {HDR "  expect text \"x\" timeout=soon\n",
       "t.case:4:19: bad duration 'soon': a number with us, ms or s\n"},
      {HDR "  expect text sha256=abc\n", "t.case:4:15: bad sha256 'abc': 64 hex digits\n"},
      {HDR "  expect text fin=1\n", "t.case:4:15: unknown option 'fin' for expect text\n"},
      {HDR "  expect text \"a\" \"b\"\n",
       "t.case:4:19: unexpected '\"b\"': one payload per expectation\n"},
      {HDR "  expect frame op=16\n", "t.case:4:16: bad opcode '16': a number from 0 to 15\n"},
      {HDR "  expect close 70000\n",
       "t.case:4:16: bad close code '70000': 0..65535, A..B, none, drop, any, clean, by=, "
       "reason=\n"},
      {HDR "  expect close 2000..1000\n",
       "t.case:4:16: bad close code '2000..1000': 0..65535, A..B, none, drop, any, clean, by=, "
       "reason=\n"},
      {HDR "  expect close by=nobody\n", "t.case:4:16: bad by 'nobody': peer, suite or any\n"},
      {HDR "  expect fail by=peer\n", "t.case:4:15: by= is implied by expect fail (the peer)\n"},
      {HDR "  expect nothing\n",
       "t.case:4:10: expect nothing needs one duration, e.g. expect nothing 500ms\n"},
      {HDR "  expect nothing 1s timeout=2s\n", "t.case:4:10: expect nothing takes no timeout=\n"},
      {HDR "  expect frame text\n  expect text \"x\"\n",
       "t.case:5:3: message expectations cannot be mixed with expect frame (line 4) in one "
       "case\n"},
      {HDR "  expect status 99\n",
       "t.case:4:17: bad status '99': 100..999, a range A..B, or a class like 4xx\n"},
      {HDR "  expect status\n",
       "t.case:4:10: expect status needs at least one status code, e.g. 426 or 4xx\n"},
      {HDR "  expect header Foo bar\n",
       "t.case:4:21: bad header check 'bar': =, contains, lacks, absent or present\n"},
      {HDR "  expect header Foo\n",
       "t.case:4:10: expect header needs a name and =, contains, lacks, absent or present\n"},
      {HDR "  expect header F@o present\n", "t.case:4:17: bad header name 'F@o'\n"},
      {HDR "  expect header Foo contains a b\n", "t.case:4:21: contains needs one token\n"},
      {HDR "  expect header Foo lacks\n", "t.case:4:21: lacks needs one token\n"},
      {HDR "  expect header Foo absent x\n", "t.case:4:28: unexpected 'x' after absent\n"},
      {HDR "  expect handshake maybe\n", "t.case:4:10: expect handshake needs ok or fail\n"},
      {HDR "  expect body has \"x\"\n", "t.case:4:10: expect body needs: contains PAYLOAD\n"},

      /* blocks */
      {HDR "  loop 3\n    send text \"x\"\n", "t.case:4:3: loop without end\n"},
      {HDR "  end\n", "t.case:4:3: 'end' without loop or either\n"},
      {HDR "  or\n", "t.case:4:3: 'or' without either\n"},
      {HDR "  loop x\n  end\n", "t.case:4:8: bad loop count 'x': a number from 0 to 100000\n"},
      {HDR "  loop\n  end\n",
       "t.case:4:3: loop needs a count or VAR = VALUES, e.g. loop 10 or loop k = 1..10\n"},
      {HDR "  either\n    expect text \"a\"\n  end\n",
       "t.case:4:3: either needs at least one 'or'\n"},
      {HDR "  either\n    send text \"a\"\n  or\n  end\n",
       "t.case:5:5: only expect lines are allowed inside either/or, not 'send'\n"},
      {HDR "  either\n    loop 2\n    end\n  or\n  end\n",
       "t.case:5:5: only expect lines are allowed inside either/or, not 'loop'\n"},
      {HDR "  either\n    expect text \"a\" else=info\n  or\n  end\n",
       "t.case:5:5: else= is not allowed inside either/or (give the branch a grade)\n"},
      {HDR "  either\n    expect status 101\n  or\n  end\n",
       "t.case:5:5: handshake expectations are not allowed inside either/or\n"},
      {HDR "  either bogus\n    expect text \"a\"\n  or\n  end\n",
       "t.case:4:10: bad grade 'bogus': pass, non-strict, info or fail\n"},
      {HDR "  either\n  or info now\n  end\n",
       "t.case:5:11: unexpected 'now': or takes one grade\n"},

      /* handshake */
      {HDR "  handshake\n",
       "t.case:4:3: handshake needs set, add, remove, method, target, version, body, raw, "
       "write or pipeline\n"},
      {HDR "  handshake frob\n",
       "t.case:4:13: handshake needs set, add, remove, method, target, version, body, raw, "
       "write or pipeline\n"},
      {HDR "  handshake set Foo bar\n",
       "t.case:4:17: expected 'Name:' (a header name followed by a colon), got 'Foo'\n"},
      {HDR "  handshake set F@o: bar\n", "t.case:4:17: bad header name 'F@o'\n"},
      {HDR "  handshake add\n", "t.case:4:13: handshake add needs Name: value\n"},
      {HDR "  handshake raw \"x\"\n  handshake set A: b\n",
       "t.case:5:13: handshake set cannot be combined with handshake raw (line 4)\n"},
      {HDR "  handshake set A: b\n  handshake raw \"x\"\n",
       "t.case:5:13: handshake raw cannot be combined with request edits (line 4)\n"},
      {HDR "  handshake method GET POST\n", "t.case:4:13: handshake method needs one value\n"},
      {HDR "  handshake method GET\n  handshake method POST\n",
       "t.case:5:13: duplicate handshake method\n"},
      {HDR "  handshake remove\n", "t.case:4:13: handshake remove needs one header name\n"},
      {HDR "  handshake body\n", "t.case:4:13: handshake body needs one payload\n"},
      {HDR "  handshake raw \"a\"\n  handshake raw \"b\"\n",
       "t.case:5:13: duplicate handshake raw\n"},
      {HDR "  handshake write coalesce\n",
       "t.case:4:19: unknown handshake write option 'coalesce': whole, chop=N, delay=D, "
       "split=A,B\n"},
      {HDR "  handshake pipeline now\n",
       "t.case:4:22: unexpected 'now': pipeline takes no arguments\n"},

      /* each */
      {HDR "  each n = 1 2 ; i = 1\n",
       "t.case:4:18: expansion list length mismatch: 'i' has 1 values, 'n' has 2\n"},
      {HDR "  each n = 1 ; n = 2\n", "t.case:4:16: variable 'n' defined twice\n"},
      {HDR "  each n = 1\n  each n = 2\n", "t.case:5:8: variable 'n' defined twice\n"},
      {HDR "  each 1n = 2\n", "t.case:4:8: bad variable name '1n'\n"},
      {HDR "  each n 1 2\n", "t.case:4:8: each: expected NAME = VALUES, got 'n'\n"},
      {HDR "  each n = 5..1\n", "t.case:4:12: bad range '5..1'\n"},
      {HDR "  each n =\n", "t.case:4:8: variable 'n' has no values\n"},
      {HDR "  each\n", "t.case:4:3: each needs NAME = VALUES\n"},
      {HDR "case t.b \"T\"\n  each n = 1 2\n",
       "t.case:4:1: every expansion must have its own id: 't.b' repeats (use the each "
       "variables in it)\n"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char *got = load_err(t[i].src);
    if (strcmp(got, t[i].want) != 0) {
      print_error("case %zu: source:\n%s", i, t[i].src);
    }
    assert_string_equal(got, t[i].want);
    free(got);
  }
}

static void test_errors_in_expansions(void **state) {
  (void)state;
  /* An error that depends on the value is reported for the first failing expansion only,
   * with its bindings. */
  char *got = load_err(HDR
                       "case x.{n} \"T\"\n"
                       "  each n = 12 3 4\n"
                       "  send text hex\"{n}\"\n");
  assert_string_equal(got, "t.case:6:13: odd number of hex digits (with n=3)\n");
  free(got);
  /* unsubstituted token: the column points into it */
  got = load_err(HDR "case y.{n} \"T\"\n  each n = 1\n  send text hex\"1q\" fin={n}\n");
  assert_string_equal(got, "t.case:6:18: bad hex digit 'q' (with n=1)\n");
  free(got);
  /* a payload continued over two lines: the error is placed on the second line */
  got = load_err(HDR "  send text \"a\" + \\\n      hex\"zz\"\n");
  assert_string_equal(got, "t.case:5:11: bad hex digit 'z'\n");
  free(got);
  /* several independent errors in one definition are all reported */
  got = load_err(HDR "  sned\n  send text fin=3\n");
  assert_string_equal(got,
                      "t.case:4:3: unknown directive 'sned'\n"
                      "t.case:5:13: bad fin '3': a number from 0 to 1\n");
  free(got);
}

static void test_missing_data_file(void **state) {
  (void)state;
  char want[256];
  snprintf(want, sizeof want, "t.case:4:18: missing data file '%s/nope.bin'\n", F->data);
  char *got = load_err(HDR "  send text file(\"nope.bin\")\n");
  assert_string_equal(got, want);
  free(got);
}

/* ---------------------------------------------------------------------------------------
 * Files, directories, lint
 */

static void test_load_files(void **state) {
  (void)state;
  char p1[128], p2[128], sub[128], sub2[128], dd[160];
  snprintf(sub, sizeof sub, "%s/b-area", F->dir);
  snprintf(sub2, sizeof sub2, "%s/a-area", F->dir);
  mkdir(sub, 0700);
  mkdir(sub2, 0700);
  snprintf(p1, sizeof p1, "%s/b-area/one.case", F->dir);
  snprintf(p2, sizeof p2, "%s/a-area/two.case", F->dir);
  write_file(p1,
             "clause RFC6455 5\nlevel MUST\ncase b.one \"B\"\n  send text file(\"hello.bin\")\n");
  write_file(p2, "clause RFC6455 5\nlevel MUST\ncase a.two \"A\"\n  alias 1.1\n");
  snprintf(dd, sizeof dd, "%s/ignored.case", F->data); /* data/ is never searched */
  write_file(dd, "garbage\n");
  snprintf(dd, sizeof dd, "%s/notes.txt", F->dir); /* only *.case files */
  write_file(dd, "garbage\n");

  const char *paths[] = {F->dir};
  struct wsc_suite s;
  struct wsc_diags d = {0};
  assert_int_equal(wsc_suite_load_files(paths, 1, NULL, &s, &d), 0);
  assert_int_equal(d.n, 0);
  assert_int_equal(s.ncases, 2);
  assert_int_equal(s.nfiles, 2);
  assert_string_equal(s.files[0], p2); /* sorted by path */
  assert_string_equal(s.files[1], p1);
  assert_string_equal(s.cases[0].id, "a.two");
  assert_ptr_equal(s.cases[0].loc.file, s.files[0]);
  assert_string_equal(s.cases[1].id, "b.one");
  /* the data directory was found by walking up from b-area/ */
  assert_payload(s.cases[1].steps[0].frame.payload, "hello, data file\n", 17);
  wsc_suite_free(&s);

  /* the same file twice is loaded once */
  const char *twice[] = {p1, p1};
  assert_int_equal(wsc_suite_load_files(twice, 2, NULL, &s, &d), 0);
  assert_int_equal(s.ncases, 1);
  wsc_suite_free(&s);

  /* duplicate ids across files */
  char p3[128];
  snprintf(p3, sizeof p3, "%s/b-area/three.case", F->dir);
  write_file(p3, "clause RFC6455 5\nlevel MUST\n\ncase a.two \"again\"\n  alias 1.1\n");
  assert_int_equal(wsc_suite_load_files(paths, 1, NULL, &s, &d), WSREF_E_INVALID_ARG);
  assert_int_equal(s.ncases, 0);
  char want[1024];
  snprintf(want, sizeof want,
           "%s:4:1: duplicate case id 'a.two' (first at %s:3)\n"
           "%s:4:1: duplicate alias '1.1' (first at %s:3, case 'a.two')\n",
           p3, p2, p3, p2);
  char *got = diag_text(&d);
  assert_string_equal(got, want);
  free(got);
  wsc_diags_free(&d);

  /* lint: same diagnostics, printed, counted */
  char *buf = NULL;
  size_t n = 0;
  FILE *fp = open_memstream(&buf, &n);
  assert_int_equal(wsc_lint_files(paths, 1, NULL, fp), 2);
  fclose(fp);
  assert_string_equal(buf, want);
  free(buf);
  unlink(p3);

  buf = NULL;
  fp = open_memstream(&buf, &n);
  assert_int_equal(wsc_lint_files(paths, 1, NULL, fp), 0);
  fclose(fp);
  assert_string_equal(buf, "");
  free(buf);

  /* unreadable path */
  char nope[128];
  snprintf(nope, sizeof nope, "%s/nope.case", F->dir);
  const char *np[] = {nope};
  assert_int_equal(wsc_suite_load_files(np, 1, NULL, &s, &d), WSREF_E_IO);
  snprintf(want, sizeof want, "%s: cannot read: No such file or directory\n", nope);
  got = diag_text(&d);
  assert_string_equal(got, want);
  free(got);
  wsc_diags_free(&d);
  /* diags may be NULL */
  assert_int_equal(wsc_suite_load_files(np, 1, NULL, &s, NULL), WSREF_E_IO);
}

/* ---------------------------------------------------------------------------------------
 * Selection
 */

static void test_glob(void **state) {
  (void)state;
  static const struct {
    const char *pat, *str;
    bool match;
  } t[] = {
      {"framing.*", "framing.text.len-0", true},
      {"framing.*", "framing", false},
      {"framing*", "framing", true},
      {"1.1.*", "1.1.8", true},
      {"1.1.*", "1.10.1", false},
      {"1.1.?", "1.1.8", true},
      {"1.1.?", "1.1.10", false},
      {"*", "", true},
      {"", "", true},
      {"", "a", false},
      {"*.len-6*", "framing.text.len-65536", true},
      {"*a*b*c", "xxaxxbxxc", true},
      {"*a*b*c", "xxaxxbxxcx", false},
      {"7.[79].*", "7.9.3", true},
      {"7.[79].*", "7.8.3", false},
      {"7.[!7].*", "7.9.3", true},
      {"7.[!7].*", "7.7.3", false},
      {"6.[1-2]?.*", "6.22.1", true},
      {"6.[1-2]?.*", "6.3.1", false},
      {"a\\*", "a*", true},
      {"a\\*", "ab", false},
      {"a[", "a[", true},
      {"utf8.*.1?", "utf8.valid.12", true},
      {"**x", "yx", true},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    if (wsc_glob_match(t[i].pat, t[i].str) != t[i].match)
      fail_msg("glob '%s' on '%s' should be %d", t[i].pat, t[i].str, t[i].match);
  }
}

static void test_selection(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(
      "clause RFC6455 5\nlevel MUST\n"
      "case framing.text.len-0 \"a\"\n  alias 1.1.1\n"
      "case perf.text.size-64KiB \"b\"\n  alias 9.1.1\n  tags perf\n"
      "case close.valid.1000 \"c\"\n  alias 7.7.1\n",
      &s);
  const struct wsc_case *fr = &s.cases[0], *pf = &s.cases[1], *cl = &s.cases[2];
  assert_true(wsc_case_matches(fr, "framing.*"));
  assert_true(wsc_case_matches(fr, "1.1.*"));
  assert_false(wsc_case_matches(fr, "1.2.*"));
  assert_true(wsc_case_has_tag(pf, "perf"));
  assert_false(wsc_case_has_tag(fr, "perf"));

  /* default run: everything but perf */
  assert_true(wsc_case_selected(fr, NULL, 0, NULL, 0));
  assert_false(wsc_case_selected(pf, NULL, 0, NULL, 0));
  /* all */
  const char *all[] = {"all"};
  assert_true(wsc_case_selected(pf, all, 1, NULL, 0));
  assert_true(wsc_case_selected(fr, all, 1, NULL, 0));
  /* explicit selection, by id or alias */
  const char *perf[] = {"perf.*"};
  assert_true(wsc_case_selected(pf, perf, 1, NULL, 0));
  assert_false(wsc_case_selected(fr, perf, 1, NULL, 0));
  const char *byalias[] = {"9.*", "7.7.1"};
  assert_true(wsc_case_selected(pf, byalias, 2, NULL, 0));
  assert_true(wsc_case_selected(cl, byalias, 2, NULL, 0));
  assert_false(wsc_case_selected(fr, byalias, 2, NULL, 0));
  /* excludes win */
  const char *ex[] = {"7.*"};
  assert_false(wsc_case_selected(cl, NULL, 0, ex, 1));
  assert_true(wsc_case_selected(fr, NULL, 0, ex, 1));
  assert_false(wsc_case_selected(cl, all, 1, ex, 1));
  wsc_suite_free(&s);
}

static void test_names_and_durations(void **state) {
  (void)state;
  assert_string_equal(wsc_level_name(WSC_LEVEL_SHOULD), "SHOULD");
  assert_string_equal(wsc_role_name(WSC_ROLE_CLIENT), "client");
  assert_string_equal(wsc_grade_name(WSC_GRADE_NON_STRICT), "NON-STRICT");
  assert_string_equal(wsc_expect_kind_name(WSC_EXP_NOTHING), "nothing");
  assert_string_equal(wsc_step_kind_name(WSC_STEP_SEND_RAW), "send raw");
  uint64_t us;
  assert_int_equal(wsc_parse_duration("250us", 5, &us), 0);
  assert_int_equal(us, 250);
  assert_int_equal(wsc_parse_duration("1.5s", 4, &us), 0);
  assert_int_equal(us, 1500000);
  assert_int_equal(wsc_parse_duration("0.25ms", 6, &us), 0);
  assert_int_equal(us, 250);
  assert_int_equal(wsc_parse_duration("10", 2, &us), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_duration("s", 1, &us), WSREF_E_INVALID_ARG);
  assert_int_equal(wsc_parse_duration("1m", 2, &us), WSREF_E_INVALID_ARG);
  struct wsc_load_opts o;
  wsc_load_opts_default(&o);
  assert_int_equal(o.max_payload, 1ull << 30);
  assert_int_equal(o.max_steps, 100000);
  assert_int_equal(o.max_errors, 100);
  assert_null(o.data_dir);
}

/* ---------------------------------------------------------------------------------------
 * Connections and STOMP (cases/README.md section 17)
 */

static bool text_is(const struct wsc_text *t, const char *want) {
  size_t n = strlen(want);
  if (t->n != n || memcmp(t->s, want, n) != 0) {
    print_error("text '%.*s', want '%s'\n", (int)t->n, t->s, want);
    return false;
  }
  return true;
}

static void test_stomp_conns(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  conn a b  subprotocol=v12.stomp connect=1.0,1.2 heart-beat=0,500 login=u host=/\n"
          "  conn pub  eol=crlf as=binary stomp\n"
          "  a SUBSCRIBE id:0 destination:/queue/q-$run-$case\n"
          "  pub SEND destination:/queue/q-$run-$case body=\"x\"\n"
          "  b close\n"
          "  sleep 10ms\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  assert_true(c->stomp);
  assert_true(wsc_case_has_tag(c, "stomp"));
  assert_int_equal(c->nconns, 3);
  const struct wsc_conn_decl *a = &c->conns[0], *b = &c->conns[1], *p = &c->conns[2];
  assert_string_equal(a->name, "a");
  assert_string_equal(b->name, "b");
  assert_int_equal(a->loc.line, 4);
  assert_int_equal(a->loc.col, 8);
  assert_int_equal(b->nsubprotocols, 1);
  assert_string_equal(b->subprotocols[0], "v12.stomp");
  assert_string_equal(b->connect, "1.0,1.2");
  assert_true(a->stomp && b->stomp && p->stomp);
  assert_true(text_is(b->login, "u"));
  assert_true(text_is(b->host, "/"));
  assert_null(b->passcode);
  assert_int_equal(p->eol, WSC_EOL_CRLF);
  assert_true(p->binary);
  assert_null(p->connect);
  /* connect= put CONNECT + expect CONNECTED on a, then on b, at the conn line */
  assert_int_equal(c->nsteps, 4 + 4);
  const struct wsc_step *st = &c->steps[0];
  assert_int_equal(st->kind, WSC_STEP_STOMP);
  assert_int_equal(st->conn, 0);
  assert_int_equal(st->loc.line, 4);
  assert_true(text_is(&st->stomp.command, "CONNECT"));
  assert_int_equal(st->stomp.nheaders, 5);
  assert_true(text_is(&st->stomp.headers[0].name, "accept-version"));
  assert_true(text_is(&st->stomp.headers[0].value, "1.0,1.2"));
  assert_true(text_is(&st->stomp.headers[1].value, "$stomp_host"));
  assert_true(text_is(&st->stomp.headers[2].name, "login"));
  assert_true(st->stomp.headers[2].optional);
  assert_true(text_is(&st->stomp.headers[4].value, "0,500"));
  const struct wsc_expect *e = only_item(&c->steps[1]);
  assert_int_equal(c->steps[1].conn, 0);
  assert_int_equal(e->kind, WSC_EXP_STOMP);
  assert_true(text_is(&e->stomp.command, "CONNECTED"));
  assert_int_equal(e->stomp.nheaders, 1);
  assert_int_equal(e->stomp.headers[0].op, WSC_HMO_EQUALS);
  assert_true(text_is(&e->stomp.headers[0].value, "1.2"));
  assert_int_equal(c->steps[2].conn, 1);
  assert_int_equal(c->steps[3].conn, 1);
  /* the steps, each on its connection */
  assert_int_equal(c->steps[4].conn, 0);
  assert_int_equal(c->steps[5].conn, 2);
  assert_int_equal(c->steps[6].kind, WSC_STEP_SEND);
  assert_true(c->steps[6].suite_close);
  assert_int_equal(c->steps[6].conn, 1);
  assert_int_equal(c->steps[7].kind, WSC_STEP_SLEEP);
  wsc_suite_free(&s);

  /* connect=1.0: a 1.0 client sends neither accept-version nor host, any CONNECTED will do */
  load_ok(HDR "  conn a connect=1.0\n", &s);
  st = &s.cases[0].steps[0];
  assert_int_equal(st->stomp.nheaders, 2);
  assert_true(text_is(&st->stomp.headers[0].name, "login"));
  assert_int_equal(only_item(&s.cases[0].steps[1])->stomp.nheaders, 0);
  wsc_suite_free(&s);

  /* one declared connection: its name is optional */
  load_ok(HDR
          "  conn only connect=1.2\n  SUBSCRIBE id:0 destination:/q\n"
          "  only expect RECEIPT\n",
          &s);
  assert_int_equal(s.cases[0].nsteps, 4);
  assert_int_equal(s.cases[0].steps[2].conn, 0);
  assert_int_equal(s.cases[0].steps[3].conn, 0);
  wsc_suite_free(&s);

  /* no conn line, STOMP steps: one implicit (unnamed) STOMP connection */
  load_ok(HDR
          "  requires subprotocol v12.stomp\n  CONNECT accept-version:1.2 host:h\n"
          "  expect CONNECTED\n",
          &s);
  assert_true(s.cases[0].stomp);
  assert_int_equal(s.cases[0].nconns, 1);
  assert_null(s.cases[0].conns[0].name);
  assert_true(s.cases[0].conns[0].stomp);
  wsc_suite_free(&s);

  /* requires subprotocol v11.stomp alone makes a STOMP case of a WebSocket-level one */
  load_ok(HDR
          "  requires subprotocol v11.stomp\n  send text \"CONNECT\\n\\n\\0\"\n"
          "  expect text \"x\"\n",
          &s);
  assert_true(s.cases[0].stomp);
  assert_int_equal(s.cases[0].nconns, 0);
  wsc_suite_free(&s);
  load_ok(HDR "  send text \"x\"\n  expect text \"x\"\n", &s);
  assert_false(s.cases[0].stomp);
  assert_false(wsc_case_has_tag(&s.cases[0], "stomp"));
  wsc_suite_free(&s);
}

static void test_stomp_frames(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  conn a connect=1.2\n"
          "  a SEND destination:/q \"x odd\":\"v\\x01\" empty: k:a:b:c\\t body=hex\"00 01\" "
          "escape=off content-length=none eol=crlf eols=2 terminator=\"X\" line=\"raw line\"\n"
          "  a SEND destination:/q content-length=7 escape=1.1 split=3,9 as=binary frag=4 "
          "delay=5ms chop=2\n"
          "  a stomp \"send\" x:y split=random seed=9 cuts=2\n"
          "  a stomp FOO chunk=1\n"
          "  a heartbeat\n"
          "  a heartbeat 3 eol=crlf split=random\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  const struct wsc_step *st = &c->steps[2];
  const struct wsc_stomp_frame_spec *f = &st->stomp;
  assert_true(text_is(&f->command, "SEND"));
  assert_int_equal(f->nheaders, 5);
  assert_true(text_is(&f->headers[1].name, "x odd"));
  assert_true(text_is(&f->headers[1].value, "v\x01"));
  assert_true(text_is(&f->headers[2].name, "empty"));
  assert_true(text_is(&f->headers[2].value, ""));
  assert_true(text_is(&f->headers[3].name, "k"));
  assert_true(text_is(&f->headers[3].value, "a:b:c\\t"));
  assert_true(f->headers[4].line);
  assert_true(text_is(&f->headers[4].value, "raw line"));
  assert_payload(f->body, "\x00\x01", 2);
  assert_int_equal(f->escape, WSC_ESC_OFF);
  assert_int_equal(f->clen, WSC_CLEN_NONE);
  assert_int_equal(f->eol, WSC_EOL_CRLF);
  assert_int_equal(f->count, 2);
  assert_payload(f->terminator, "X", 1);
  assert_int_equal(st->msg.split, WSC_SPLIT_WHOLE);

  st = &c->steps[3];
  assert_int_equal(st->stomp.clen, WSC_CLEN_VALUE);
  assert_int_equal(st->stomp.clen_value, 7);
  assert_int_equal(st->stomp.escape, WSC_ESC_V11);
  assert_int_equal(st->msg.split, WSC_SPLIT_AT);
  assert_int_equal(st->msg.nat, 2);
  assert_int_equal(st->msg.at[1], 9);
  assert_true(st->msg.as_set && st->msg.binary);
  assert_int_equal(st->msg.frag, 4);
  assert_int_equal(st->msg.delay_us, 5000);
  assert_int_equal(st->write.chop, 2);

  st = &c->steps[4];
  assert_true(text_is(&st->stomp.command, "send"));
  assert_int_equal(st->msg.split, WSC_SPLIT_RANDOM);
  assert_int_equal(st->msg.seed, 9);
  assert_int_equal(st->msg.cuts, 2);
  st = &c->steps[5];
  assert_true(text_is(&st->stomp.command, "FOO"));
  assert_int_equal(st->msg.split, WSC_SPLIT_CHUNK);
  assert_int_equal(st->msg.chunk, 1);
  st = &c->steps[6];
  assert_true(st->stomp.heartbeat);
  assert_int_equal(st->stomp.count, 1);
  st = &c->steps[7];
  assert_int_equal(st->stomp.count, 3);
  assert_int_equal(st->stomp.eol, WSC_EOL_CRLF);
  /* without seed=, the seed comes from the case id and the line: stable, and given */
  assert_int_equal(st->msg.split, WSC_SPLIT_RANDOM);
  uint64_t seed = st->msg.seed;
  wsc_suite_free(&s);
  load_ok(HDR
          "  conn a connect=1.2\n  a SEND destination:/q\n  a SEND destination:/q\n"
          "  a SEND destination:/q\n  a SEND destination:/q\n  a SEND destination:/q\n"
          "  a heartbeat 3 eol=crlf split=random\n",
          &s);
  assert_int_equal(s.cases[0].steps[7].msg.seed, seed);
  wsc_suite_free(&s);
  load_ok(HDR
          "  conn a connect=1.2\n  a SEND destination:/q\n  a SEND destination:/q\n"
          "  a SEND destination:/q\n  a SEND destination:/q\n"
          "  a heartbeat 3 eol=crlf split=random\n  a heartbeat split=random\n",
          &s);
  assert_int_not_equal(s.cases[0].steps[6].msg.seed, seed); /* line 9 */
  assert_int_equal(s.cases[0].steps[7].msg.seed, seed);     /* line 10, as above */
  wsc_suite_free(&s);

  /* stomp coalesce ... stomp flush; an implicit flush before anything else */
  load_ok(HDR
          "  conn a b connect=1.2\n"
          "  a stomp coalesce\n"
          "  a SUBSCRIBE id:0 destination:/q\n"
          "  a heartbeat 2\n"
          "  a SEND destination:/q\n"
          "  a stomp flush split=random seed=3\n"
          "  a stomp coalesce\n"
          "  a SEND destination:/q\n"
          "  b SEND destination:/q\n",
          &s);
  c = &s.cases[0];
  assert_int_equal(c->nsteps, 4 + 4 + 1 + 1 + 1);
  assert_true(c->steps[4].coalesce && c->steps[5].coalesce && c->steps[6].coalesce);
  assert_int_equal(c->steps[7].kind, WSC_STEP_STOMP_FLUSH);
  assert_int_equal(c->steps[7].msg.seed, 3);
  assert_true(c->steps[8].coalesce);
  assert_int_equal(c->steps[9].kind, WSC_STEP_STOMP_FLUSH); /* implicit: b's step follows */
  assert_int_equal(c->steps[9].conn, 0);
  assert_int_equal(c->steps[9].msg.split, WSC_SPLIT_WHOLE);
  assert_false(c->steps[10].coalesce);
  assert_int_equal(c->steps[10].conn, 1);
  wsc_suite_free(&s);

  /* TCP coalescing of STOMP messages: one FLUSH writes both */
  load_ok(HDR
          "  conn a connect=1.2\n  write coalesce\n  a SEND destination:/q\n"
          "  a SEND destination:/q\n  flush\n",
          &s);
  c = &s.cases[0];
  assert_int_equal(c->nsteps, 5);
  assert_true(c->steps[2].write.coalesce && c->steps[3].write.coalesce);
  assert_int_equal(c->steps[4].kind, WSC_STEP_FLUSH);
  wsc_suite_free(&s);
}

static void test_stomp_expect_and_capture(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  conn a connect=1.2\n"
          "  a expect MESSAGE subscription:0 ack? !content-type message-id:~\"[0-9]+\" "
          "body=\"hi\" len=2 as=text timeout=1s\n"
          "  a capture ackid = header ack\n"
          "  a capture b = body\n"
          "  a capture cmd = command\n"
          "  a ACK id:$ackid x:$b-$$-$ body=\"got \" + $ackid\n"
          "  a expect RECEIPT receipt-id:$cmd body=~\"a.c\" raw=\"RECEIPT\\n\\n\\0\"\n"
          "  a expect heartbeat within 1500ms\n"
          "  a expect heartbeat within 1.5x else=non-strict\n"
          "  a expect heartbeat\n"
          "  a expect no frame for 300ms\n"
          "  either\n    a expect ERROR\n    a expect fail\n  or info\n    a expect fail\n  end\n",
          &s);
  const struct wsc_case *c = &s.cases[0];
  const struct wsc_expect *e = only_item(&c->steps[2]);
  assert_int_equal(e->kind, WSC_EXP_STOMP);
  assert_int_equal(e->stomp.nheaders, 4);
  assert_int_equal(e->stomp.headers[0].op, WSC_HMO_EQUALS);
  assert_int_equal(e->stomp.headers[1].op, WSC_HMO_PRESENT);
  assert_true(text_is(&e->stomp.headers[1].name, "ack"));
  assert_int_equal(e->stomp.headers[2].op, WSC_HMO_ABSENT);
  assert_true(text_is(&e->stomp.headers[2].name, "content-type"));
  assert_int_equal(e->stomp.headers[3].op, WSC_HMO_REGEX);
  assert_non_null(e->stomp.headers[3].re);
  assert_true(text_is(&e->stomp.headers[3].value, "[0-9]+"));
  assert_payload(e->match.payload, "hi", 2);
  assert_true(e->match.has_len);
  assert_int_equal(e->stomp.as, 1);
  assert_int_equal(e->timeout_us, 1000000);
  const struct wsc_step *st = &c->steps[3];
  assert_int_equal(st->kind, WSC_STEP_CAPTURE);
  assert_string_equal(st->capture_name, "ackid");
  assert_int_equal(st->capture_src, WSC_CAP_HEADER);
  assert_true(text_is(&st->capture_header, "ack"));
  assert_int_equal(c->steps[4].capture_src, WSC_CAP_BODY);
  assert_int_equal(c->steps[5].capture_src, WSC_CAP_COMMAND);
  st = &c->steps[6];
  assert_true(text_is(&st->stomp.headers[1].value, "$b-$$-$"));
  assert_true(wsc_payload_has_vars(st->stomp.body));
  e = only_item(&c->steps[7]);
  assert_non_null(e->stomp.body_re_c);
  assert_payload(e->stomp.raw, "RECEIPT\n\n\0", 10);
  e = only_item(&c->steps[8]);
  assert_int_equal(e->kind, WSC_EXP_HEARTBEAT);
  assert_int_equal(e->timeout_us, 1500000);
  assert_int_equal(c->steps[9].expect.nalts, 2);
  e = &c->steps[9].expect.alts[0].items[0];
  assert_int_equal(e->interval_permille, 1500);
  assert_int_equal(e->timeout_us, 0);
  e = only_item(&c->steps[11]);
  assert_int_equal(e->kind, WSC_EXP_NO_FRAME);
  assert_int_equal(e->duration_us, 300000);
  assert_int_equal(c->steps[12].expect.nalts, 2);
  assert_int_equal(c->steps[12].expect.alts[1].grade, WSC_GRADE_INFO);
  wsc_suite_free(&s);
}

static void test_stomp_selection(void **state) {
  (void)state;
  struct wsc_suite s;
  load_ok(HDR
          "  send text \"x\"\n  expect text \"x\"\n"
          "case t.s \"S\"\n  conn a connect=1.2\n",
          &s);
  assert_false(s.cases[0].stomp);
  assert_true(s.cases[1].stomp);
  /* the selection rule is unchanged: patterns decide; the CLI adds the corpus split */
  assert_true(wsc_case_selected(&s.cases[1], NULL, 0, NULL, 0));
  const char *inc[] = {"t.s"};
  assert_false(wsc_case_selected(&s.cases[0], inc, 1, NULL, 0));
  wsc_suite_free(&s);
}

static void test_stomp_errors(void **state) {
  (void)state;
  static const struct err_case t[] = {
      {HDR "  sleep 1ms\n  conn a\n", "t.case:5:3: conn lines come before the steps of the case\n"},
      {HDR "  conn a a\n", "t.case:4:10: connection 'a' declared twice\n"},
      {HDR "  conn Big\n",
       "t.case:4:8: bad connection name 'Big': lowercase letters, digits, '_', not a directive\n"},
      {HDR "  conn send\n",
       "t.case:4:8: bad connection name 'send': lowercase letters, digits, '_', not a directive\n"},
      {HDR "  conn\n", "t.case:4:3: conn needs at least one name: conn a b pub ...\n"},
      {HDR "  conn a connect=2.0\n",
       "t.case:4:10: bad connect '2.0': STOMP versions such as 1.2 or 1.0,1.1,1.2\n"},
      {HDR "  conn a heart-beat=5\n",
       "t.case:4:10: bad heart-beat '5': two numbers of milliseconds, e.g. 1000,0\n"},
      {HDR "  conn a speed=1\n",
       "t.case:4:10: unknown conn option 'speed': subprotocol=, connect=, login=, passcode=, "
       "host=, heart-beat=, eol=, as=\n"},
      {HDR "  conn a b\n  SEND destination:/q\n",
       "t.case:5:3: this case has several connections: name one first, e.g. 'a SEND ...'\n"},
      {HDR "  conn a b\n  a sleep 1s\n", "t.case:5:5: 'sleep' does not take a connection name\n"},
      {HDR "  conn a b\n  a expect status 101\n",
       "t.case:5:5: 'expect handshake' does not take a connection name (it checks the first "
       "connection)\n"},
      {HDR "  conn a\n  a\n",
       "t.case:5:3: a connection name needs a step after it, e.g. a SEND destination:/q\n"},
      {HDR "  SEND destination:/q-$nope\n",
       "t.case:4:8: unknown variable '$nope' (built in: run, case, host, stomp_host, "
       "stomp_login, stomp_passcode; or a name captured earlier in the case; $$ is a '$')\n"},
      {HDR "  SEND x:$ackid\n  expect MESSAGE\n  capture ackid = header ack\n",
       "t.case:4:8: unknown variable '$ackid' (built in: run, case, host, stomp_host, "
       "stomp_login, stomp_passcode; or a name captured earlier in the case; $$ is a '$')\n"},
      {HDR "  SEND body=\"x\" + $later\n", "t.case:4:19: unknown payload variable '$later'\n"},
      {HDR "  SEND nocolon\n",
       "t.case:4:8: expected a header NAME:VALUE or an option (body=, line=, escape=, "
       "content-length=, eol=, split=, ...), got 'nocolon'\n"},
      {HDR "  SEND escape=maybe\n", "t.case:4:8: bad escape 'maybe': auto, off, 1.1 or 1.2\n"},
      {HDR "  SEND eol=cr\n", "t.case:4:8: bad eol 'cr': lf or crlf\n"},
      {HDR "  SEND seed=3\n", "t.case:4:3: seed= and cuts= go with split=random\n"},
      {HDR "  SEND chunk=0\n", "t.case:4:8: chunk= must be at least 1\n"},
      {HDR "  SEND split=5,2\n",
       "t.case:4:8: bad split '5,2': ascending positive offsets separated by ','\n"},
      {HDR "  SEND speed=1\n", "t.case:4:8: unknown option 'speed' for a STOMP frame\n"},
      {HDR "  stomp\n",
       "t.case:4:3: stomp needs coalesce, flush, or a command: stomp \"send\" destination:/q\n"},
      {HDR "  stomp flush\n",
       "t.case:4:3: stomp flush without stomp coalesce on this connection\n"},
      {HDR "  stomp coalesce\n  stomp coalesce\n",
       "t.case:5:3: stomp coalesce while already coalescing (line 4)\n"},
      {HDR "  stomp coalesce\n  SEND destination:/q split=1\n",
       "t.case:5:3: message options go on 'stomp flush' while coalescing (line 4)\n"},
      {HDR "  heartbeat 0\n", "t.case:4:13: heartbeat needs at least one EOL\n"},
      {HDR "  capture x\n",
       "t.case:4:3: capture needs NAME = header HNAME, NAME = body or NAME = command\n"},
      {HDR "  capture run = body\n",
       "t.case:4:11: 'run' is a built-in variable; choose another name\n"},
      {HDR "  capture x = header\n", "t.case:4:15: capture ... = header needs one header name\n"},
      {HDR "  expect MESSAGE x:~\"(\"\n",
       "t.case:4:18: bad regular expression '(': Unmatched ( or \\(\n"},
      {HDR "  expect MESSAGE foo\n",
       "t.case:4:18: expected a header check (NAME:VALUE, NAME:~REGEX, NAME?, !NAME) or an "
       "option (body=, body=~, raw=, len=, as=), got 'foo'\n"},
      {HDR "  expect MESSAGE size=3\n",
       "t.case:4:18: unknown option 'size' for expect MESSAGE (body=, body=~, raw=, len=, as=, "
       "timeout=, else=)\n"},
      {HDR "  expect heartbeat within soon\n",
       "t.case:4:27: bad duration 'soon': a number with us, ms or s\n"},
      {HDR "  expect heartbeat within 0x\n",
       "t.case:4:27: bad factor '0x': a number followed by x, e.g. 1.5x\n"},
      {HDR "  expect no frame 300ms\n",
       "t.case:4:10: expect no frame needs 'for DURATION', e.g. expect no frame for 500ms\n"},
      {HDR "  conn a connect=1.2\n  a expect text \"x\"\n",
       "t.case:5:5: connection a speaks STOMP: expect its frames (expect MESSAGE ..., raw= for "
       "exact bytes), not WebSocket messages\n"},
      {HDR
       "  conn a b connect=1.2\n  either\n    a expect ERROR\n  or\n    b expect ERROR\n  end\n",
       "t.case:8:7: the expectations of one either block must be on one connection\n"},
      {HDR "  conn a b\n  handshake pipeline\n",
       "t.case:3:1: handshake pipeline needs a case with one connection\n"},
      {HDR "  conn a stomp\n  expect frame text\n",
       "t.case:5:3: expect frame cannot be used in a case with STOMP connections\n"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    char *got = load_err(t[i].src);
    if (strcmp(got, t[i].want) != 0) print_error("case %zu: source:\n%s", i, t[i].src);
    assert_string_equal(got, t[i].want);
    free(got);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_metadata),
      cmocka_unit_test(test_comments_and_continuations),
      cmocka_unit_test(test_send_frames),
      cmocka_unit_test(test_send_close_raw),
      cmocka_unit_test(test_finish),
      cmocka_unit_test(test_write_policy),
      cmocka_unit_test(test_write_policy_tail),
      cmocka_unit_test(test_expect_events),
      cmocka_unit_test(test_expect_frames),
      cmocka_unit_test(test_expect_close),
      cmocka_unit_test(test_alternatives),
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_handshake_raw_and_implicit_ok),
      cmocka_unit_test(test_expansion_design_example),
      cmocka_unit_test(test_expansion_values),
      cmocka_unit_test(test_loop),
      cmocka_unit_test(test_limits),
      cmocka_unit_test(test_errors),
      cmocka_unit_test(test_errors_in_expansions),
      cmocka_unit_test(test_missing_data_file),
      cmocka_unit_test(test_load_files),
      cmocka_unit_test(test_glob),
      cmocka_unit_test(test_selection),
      cmocka_unit_test(test_names_and_durations),
      cmocka_unit_test(test_stomp_conns),
      cmocka_unit_test(test_stomp_frames),
      cmocka_unit_test(test_stomp_expect_and_capture),
      cmocka_unit_test(test_stomp_selection),
      cmocka_unit_test(test_stomp_errors),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
