/* `wsconform fuzz`: the mutation engine and case writer (harness/fuzzmut.c) and the campaign
 * (harness/fuzzcamp.c).
 *
 * Mutator: deterministic for a state, each kind of mutation renders to the exact text that
 * says it. Writer: every corpus case written back loads into the same model (text -> model ->
 * text is a fixpoint), every generated mutant loads, and a written finding re-runs with the
 * runner (PASS against the reference server). Campaign: against in-process fake servers with
 * one bug each (a "crash" on RSV bits, reserved opcodes answered with reserved opcodes), it
 * finds the bug, writes a case file that loads and fails against the faulty server and passes
 * against the reference server; plus the CLI's refusals and the helpers. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/echo.h"
#include "base/error.h"
#include "case.h"
#include "caseparse.h"
#include "codec/utf8.h"
#include "fuzzcamp.h"
#include "fuzzmut.h"
#include "handshake/accept.h"
#include "handshake/registry.h"
#include "io/server.h"
#include "payload.h"
#include "result.h"
#include "runner.h"
#include "support/peer.h"

/* ------------------------------------------------------------------------------------------
 * Helpers
 */

static void load_text(const char *text, struct wsc_suite *s) {
  struct wsc_diags d = {0};
  memset(s, 0, sizeof *s);
  int rc = wsc_suite_load_buffer("t.case", text, strlen(text), NULL, s, &d);
  if (rc) {
    wsc_diags_print(&d, stderr);
    fprintf(stderr, "--- text:\n%s\n", text);
  }
  wsc_diags_free(&d);
  assert_int_equal(rc, 0);
}

static char *render(const struct wsc_case *c, const struct wsc_mutation *m, size_t n,
                    enum wsc_mut_family fam, bool fuzz, struct wsc_render_info *info) {
  struct wsc_render_opts o;
  wsc_render_opts_default(&o);
  o.fuzz = fuzz;
  o.family = fam;
  char *text = NULL;
  size_t len = 0;
  char err[256];
  int rc = wsc_mut_render(c, m, n, &o, &text, &len, info, err, sizeof err);
  if (rc) fprintf(stderr, "render: %s\n", err);
  assert_int_equal(rc, 0);
  assert_non_null(text);
  assert_int_equal(strlen(text), len);
  return text;
}

static void assert_has(const char *text, const char *needle) {
  if (!strstr(text, needle)) fprintf(stderr, "missing: [%s]\nin:\n%s\n", needle, text);
  assert_non_null(strstr(text, needle));
}

static void assert_lacks(const char *text, const char *needle) {
  if (strstr(text, needle)) fprintf(stderr, "unexpected: [%s]\nin:\n%s\n", needle, text);
  assert_null(strstr(text, needle));
}

/* Renders base with one mutation in campaign form, checks the text has `want` and loads. */
static void one(const struct wsc_case *c, enum wsc_mut_family fam, enum wsc_mut_kind k, size_t step,
                uint64_t a, uint64_t b, const char *want) {
  struct wsc_mutation m = {k, step, a, b};
  struct wsc_render_info info;
  char *t = render(c, &m, 1, fam, true, &info);
  assert_has(t, want);
  assert_int_equal(info.applied, 1);
  struct wsc_suite s;
  load_text(t, &s);
  wsc_suite_free(&s);
  free(t);
}

static const char ws_base[] =
    "case t.echo \"Echo\"\n"
    "  clause RFC6455 5.6\n"
    "  level MUST\n"
    "  send text \"Hello\"\n"
    "  expect text \"Hello\"\n"
    "  send binary hex\"0001\"\n"
    "  expect binary hex\"0001\"\n"
    "  finish\n";

static const char stomp_base[] =
    "case t.stomp \"Send\"\n"
    "  clause STOMP1.2 FR-01\n"
    "  level MUST\n"
    "  conn a subprotocol=v12.stomp connect=1.2\n"
    "  a SEND destination:/queue/x receipt:r1 body=\"hi\"\n"
    "  a expect RECEIPT receipt-id:r1\n";

/* ------------------------------------------------------------------------------------------
 * Structural comparison of two expanded cases (what the runner reads)
 */

static const char *cmp_lookup(void *ud, const char *name) {
  (void)ud;
  return name;
}

static int cmp_payload(const struct wsc_payload *a, const struct wsc_payload *b) {
  if (!a || !b) return a == b ? 0 : -1;
  static const struct wsc_payload_env env = {"h:1", "/t",   "k==",      "o",
                                             "run", "case", cmp_lookup, NULL};
  uint8_t *x = NULL, *y = NULL;
  size_t xn = 0, yn = 0;
  int rc = -1;
  if (!wsc_payload_materialize(a, &env, &x, &xn) && !wsc_payload_materialize(b, &env, &y, &yn))
    rc = xn == yn && memcmp(x, y, xn) == 0 ? 0 : -1;
  free(x);
  free(y);
  return rc;
}

static int cmp_text(const struct wsc_text *a, const struct wsc_text *b) {
  return a->n == b->n && (a->n == 0 || memcmp(a->s, b->s, a->n) == 0) ? 0 : -1;
}

static int cmp_write(const struct wsc_write *a, const struct wsc_write *b) {
  if (a->chop != b->chop || a->delay_us != b->delay_us || a->nsplits != b->nsplits ||
      a->coalesce != b->coalesce)
    return -1;
  for (size_t i = 0; i < a->nsplits; i++)
    if (a->splits[i] != b->splits[i]) return -1;
  return 0;
}

static int cmp_expect(const struct wsc_expect *a, const struct wsc_expect *b) {
  if (a->kind != b->kind || a->opcode != b->opcode || a->fin != b->fin || a->rsv != b->rsv ||
      a->duration_us != b->duration_us || a->timeout_us != b->timeout_us ||
      a->interval_permille != b->interval_permille)
    return -1;
  if (cmp_payload(a->match.payload, b->match.payload) || a->match.has_len != b->match.has_len ||
      a->match.len != b->match.len || a->match.has_sha256 != b->match.has_sha256 ||
      memcmp(a->match.sha256, b->match.sha256, 32))
    return -2;
  const struct wsc_expect_close *x = &a->close, *y = &b->close;
  if (x->ncodes != y->ncodes || x->any_code != y->any_code || x->no_code != y->no_code ||
      x->drop_ok != y->drop_ok || x->clean != y->clean || x->by != y->by ||
      cmp_payload(x->reason, y->reason))
    return -3;
  for (size_t i = 0; i < x->ncodes; i++)
    if (x->codes[i].lo != y->codes[i].lo || x->codes[i].hi != y->codes[i].hi) return -3;
  const struct wsc_stomp_expect *s = &a->stomp, *t = &b->stomp;
  if (cmp_text(&s->command, &t->command) || s->nheaders != t->nheaders || s->as != t->as ||
      cmp_payload(s->raw, t->raw) || cmp_text(&s->body_re, &t->body_re))
    return -4;
  for (size_t i = 0; i < s->nheaders; i++)
    if (s->headers[i].op != t->headers[i].op ||
        cmp_text(&s->headers[i].name, &t->headers[i].name) ||
        cmp_text(&s->headers[i].value, &t->headers[i].value))
      return -5;
  return 0;
}

static int cmp_step(const struct wsc_step *a, const struct wsc_step *b) {
  if (a->kind != b->kind || a->conn != b->conn) return -1;
  switch (a->kind) {
    case WSC_STEP_SEND: {
      const struct wsc_frame_spec *x = &a->frame, *y = &b->frame;
      if (x->fin != y->fin || x->rsv != y->rsv || x->opcode != y->opcode || x->mask != y->mask ||
          (x->mask == WSC_MASK_KEY && memcmp(x->key, y->key, 4)) || x->has_len != y->has_len ||
          x->len != y->len || x->len_form != y->len_form || x->fragment_size != y->fragment_size)
        return -10;
      if (cmp_payload(x->payload, y->payload)) return -11;
      return cmp_write(&a->write, &b->write) ? -12 : 0;
    }
    case WSC_STEP_SEND_RAW:
      if (cmp_payload(a->raw, b->raw)) return -13;
      return cmp_write(&a->write, &b->write) ? -14 : 0;
    case WSC_STEP_FLUSH:
      return cmp_write(&a->write, &b->write) ? -15 : 0;
    case WSC_STEP_SLEEP:
      return a->sleep_us == b->sleep_us ? 0 : -16;
    case WSC_STEP_EXPECT:
      if (a->expect.nalts != b->expect.nalts) return -17;
      for (size_t i = 0; i < a->expect.nalts; i++) {
        const struct wsc_alt *x = &a->expect.alts[i], *y = &b->expect.alts[i];
        if (x->grade != y->grade || x->nitems != y->nitems) return -18;
        for (size_t k = 0; k < x->nitems; k++)
          if (cmp_expect(&x->items[k], &y->items[k])) return -19;
      }
      return 0;
    case WSC_STEP_STOMP:
    case WSC_STEP_STOMP_FLUSH: {
      const struct wsc_stomp_frame_spec *x = &a->stomp, *y = &b->stomp;
      if (a->coalesce != b->coalesce || x->heartbeat != y->heartbeat || x->count != y->count ||
          cmp_text(&x->command, &y->command) || x->nheaders != y->nheaders ||
          cmp_payload(x->body, y->body) || x->escape != y->escape || x->clen != y->clen ||
          x->clen_value != y->clen_value || x->eol != y->eol ||
          cmp_payload(x->terminator, y->terminator))
        return -20;
      for (size_t i = 0; i < x->nheaders; i++)
        if (x->headers[i].line != y->headers[i].line ||
            x->headers[i].optional != y->headers[i].optional ||
            cmp_text(&x->headers[i].name, &y->headers[i].name) ||
            cmp_text(&x->headers[i].value, &y->headers[i].value))
          return -21;
      const struct wsc_msg_policy *m = &a->msg, *n = &b->msg;
      if (m->split != n->split || m->nat != n->nat || m->chunk != n->chunk || m->seed != n->seed ||
          m->cuts != n->cuts || m->as_set != n->as_set || m->binary != n->binary ||
          m->frag != n->frag || m->delay_us != n->delay_us)
        return -22;
      for (size_t i = 0; i < m->nat; i++)
        if (m->at[i] != n->at[i]) return -22;
      return cmp_write(&a->write, &b->write) ? -23 : 0;
    }
    case WSC_STEP_CAPTURE:
      return strcmp(a->capture_name, b->capture_name) || a->capture_src != b->capture_src ||
                     cmp_text(&a->capture_header, &b->capture_header)
                 ? -24
                 : 0;
    default:
      return 0;
  }
}

static int cmp_case(const struct wsc_case *a, const struct wsc_case *b, char *why, size_t cap) {
  if (a->level != b->level || a->role != b->role || a->timeout_us != b->timeout_us ||
      a->nclauses != b->nclauses || a->frame_level != b->frame_level || a->stomp != b->stomp ||
      a->nrequires != b->nrequires || a->ntags != b->ntags) {
    snprintf(why, cap, "metadata");
    return -1;
  }
  if (a->nconns != b->nconns) {
    snprintf(why, cap, "nconns %zu %zu", a->nconns, b->nconns);
    return -1;
  }
  for (size_t i = 0; i < a->nconns; i++) {
    const struct wsc_conn_decl *x = &a->conns[i], *y = &b->conns[i];
    if ((x->name == NULL) != (y->name == NULL) || (x->name && strcmp(x->name, y->name)) ||
        x->stomp != y->stomp || x->eol != y->eol || x->binary != y->binary ||
        x->nsubprotocols != y->nsubprotocols || (x->connect == NULL) != (y->connect == NULL) ||
        (x->connect && strcmp(x->connect, y->connect))) {
      snprintf(why, cap, "conn %zu", i);
      return -1;
    }
  }
  const struct wsc_handshake *h = &a->hs, *k = &b->hs;
  if (cmp_payload(h->raw, k->raw) || h->nedits != k->nedits || h->pipeline != k->pipeline ||
      cmp_payload(h->body, k->body) || cmp_write(&h->write, &k->write) ||
      h->nexpects != k->nexpects || (h->method == NULL) != (k->method == NULL) ||
      (h->method && strcmp(h->method, k->method)) || (h->target == NULL) != (k->target == NULL) ||
      (h->target && strcmp(h->target, k->target)) || (h->version == NULL) != (k->version == NULL) ||
      (h->version && strcmp(h->version, k->version))) {
    snprintf(why, cap, "handshake");
    return -1;
  }
  for (size_t i = 0; i < h->nedits; i++)
    if (h->edits[i].op != k->edits[i].op || strcmp(h->edits[i].name, k->edits[i].name) ||
        (h->edits[i].value == NULL) != (k->edits[i].value == NULL) ||
        (h->edits[i].value && strcmp(h->edits[i].value, k->edits[i].value))) {
      snprintf(why, cap, "handshake edit %zu", i);
      return -1;
    }
  for (size_t i = 0; i < h->nexpects; i++) {
    const struct wsc_hs_expect *x = &h->expects[i], *y = &k->expects[i];
    if (x->kind != y->kind || x->miss_grade != y->miss_grade || x->implicit != y->implicit ||
        x->nstatuses != y->nstatuses || (x->name && strcmp(x->name, y->name)) || x->op != y->op ||
        (x->value && strcmp(x->value, y->value)) || cmp_payload(x->body, y->body)) {
      snprintf(why, cap, "handshake expectation %zu", i);
      return -1;
    }
  }
  if (a->nsteps != b->nsteps) {
    snprintf(why, cap, "nsteps %zu %zu", a->nsteps, b->nsteps);
    return -1;
  }
  for (size_t i = 0; i < a->nsteps; i++) {
    int rc = cmp_step(&a->steps[i], &b->steps[i]);
    if (rc) {
      snprintf(why, cap, "step %zu (line %d, %s): %d", i, a->steps[i].loc.line,
               wsc_step_kind_name(a->steps[i].kind), rc);
      return -1;
    }
  }
  return 0;
}

/* The corpus, when the tests run from the source tree (make test-unit does). */
static bool load_corpus(struct wsc_suite *s) {
  const char *dir = getenv("WSC_CASES");
  if (!dir || !*dir) dir = "cases";
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return false;
  memset(s, 0, sizeof *s);
  struct wsc_diags d = {0};
  int rc = wsc_suite_load_files(&dir, 1, NULL, s, &d);
  wsc_diags_free(&d);
  return rc == 0;
}

/* ------------------------------------------------------------------------------------------
 * The mutator
 */

static void test_rand_deterministic(void **state) {
  (void)state;
  /* splitmix64's published first output for state 0 */
  uint64_t s = 0;
  assert_true(wsc_mut_rand(&s) == 0xE220A8397B1DCDAFull);
  assert_true(wsc_mut_rand(&s) == 0x6E789E6AA1B965F4ull);
  assert_true(wsc_mut_iter_state(1, 5) == wsc_mut_iter_state(1, 5));
  assert_true(wsc_mut_iter_state(1, 5) != wsc_mut_iter_state(2, 5));
  assert_true(wsc_mut_iter_state(1, 5) != wsc_mut_iter_state(1, 6));
}

static void test_generate_deterministic(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  size_t distinct = 0;
  char *prev = NULL;
  for (uint64_t it = 0; it < 40; it++) {
    struct wsc_mutation a[WSC_MUT_MAX], b[WSC_MUT_MAX];
    enum wsc_mut_family fa, fb;
    uint64_t r1 = wsc_mut_iter_state(42, it), r2 = wsc_mut_iter_state(42, it);
    size_t na = wsc_mut_generate(c, &r1, &fa, a, WSC_MUT_MAX);
    size_t nb = wsc_mut_generate(c, &r2, &fb, b, WSC_MUT_MAX);
    assert_true(na >= 1 && na <= WSC_MUT_MAX);
    assert_int_equal(na, nb);
    assert_int_equal(fa, fb);
    assert_memory_equal(a, b, na * sizeof a[0]);
    char *t1 = render(c, a, na, fa, true, NULL);
    char *t2 = render(c, b, nb, fb, true, NULL);
    assert_string_equal(t1, t2);
    if (!prev || strcmp(prev, t1) != 0) distinct++;
    free(prev);
    prev = t1;
    free(t2);
  }
  free(prev);
  assert_true(distinct > 30);
  wsc_suite_free(&s);
}

static void test_frame_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  const enum wsc_mut_family F = WSC_MUT_STEPS;
  one(c, F, WSC_MUT_FIN, 0, 0, 0, "  fz send text payload=\"Hello\" fin=0\n");
  one(c, F, WSC_MUT_RSV, 0, 4, 0, "  fz send text payload=\"Hello\" rsv=4\n");
  one(c, F, WSC_MUT_OPCODE, 0, 3, 0, "  fz send op=3 payload=\"Hello\"\n");
  one(c, F, WSC_MUT_OPCODE, 2, 9, 0, "  fz send ping payload=hex\"0001\"\n");
  one(c, F, WSC_MUT_MASK, 0, 0, 0, "  fz send text payload=\"Hello\" mask=off\n");
  one(c, F, WSC_MUT_MASK, 0, 1, 0x37FA213D, "  fz send text payload=\"Hello\" key=37fa213d\n");
  one(c, F, WSC_MUT_LEN, 0, 1048577, 0, "  fz send text payload=\"Hello\" len=1048577\n");
  one(c, F, WSC_MUT_LEN, 0, 0xFFFFFFFFFFFFFFFFull, 0, "len=18446744073709551615\n");
  one(c, F, WSC_MUT_LENFORM, 0, 64, 0, "  fz send text payload=\"Hello\" lenform=64\n");
  one(c, F, WSC_MUT_FRAG, 0, 2, 0, "  fz send text payload=\"Hello\" frag=2\n");
  /* the close frame of `finish` loses its shortcut once mutated */
  one(c, F, WSC_MUT_RSV, 4, 1, 0, "  fz send close payload=hex\"03e8\" rsv=1\n");

  /* conflicts the parser would reject are settled: len= wins over frag= */
  struct wsc_mutation m2[2] = {{WSC_MUT_FRAG, 0, 2, 0}, {WSC_MUT_LEN, 0, 9, 0}};
  char *t = render(c, m2, 2, F, true, NULL);
  assert_has(t, "  fz send text payload=\"Hello\" len=9\n");
  free(t);
  /* lenform=16 with a declared length above 65535 becomes 64 */
  struct wsc_mutation m3[2] = {{WSC_MUT_LENFORM, 0, 16, 0}, {WSC_MUT_LEN, 0, 70000, 0}};
  t = render(c, m3, 2, F, true, NULL);
  assert_has(t, "len=70000 lenform=64\n");
  struct wsc_suite s2;
  load_text(t, &s2);
  free(t);
  const struct wsc_step *st = &s2.cases[0].steps[0];
  assert_int_equal(st->kind, WSC_STEP_SEND);
  assert_true(st->frame.has_len);
  assert_int_equal(st->frame.len, 70000);
  assert_int_equal(st->frame.len_form, WSC_LEN_64);
  wsc_suite_free(&s2);
  wsc_suite_free(&s);
}

static void test_payload_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  const enum wsc_mut_family F = WSC_MUT_STEPS;
  /* table entry 4 is U+D800 as ed a0 80, inserted at the end of "Hello" */
  one(c, F, WSC_MUT_UTF8, 0, 4, 5, "  fz send text payload=\"Hello\\xed\\xa0\\x80\"\n");
  one(c, F, WSC_MUT_UTF8, 0, 4, 6 * 1000 + 2, "payload=\"He\\xed\\xa0\\x80llo\"\n");
  one(c, F, WSC_MUT_TRUNC, 0, 2, 0, "  fz send text payload=\"He\"\n");
  one(c, F, WSC_MUT_EXTEND, 0, 126, 0, "  fz send text payload=\"Hello\" + repeat(\"A\", 126)\n");
  one(c, F, WSC_MUT_EXTEND, 2, 13, 2, "payload=hex\"0001\" + repeat(hex\"ff\", 13)\n");

  /* BYTES: deterministic for its parameter, and it changes the payload */
  struct wsc_mutation m = {WSC_MUT_BYTES, 0, 3, 12345};
  char *t1 = render(c, &m, 1, F, true, NULL);
  char *t2 = render(c, &m, 1, F, true, NULL);
  assert_string_equal(t1, t2);
  struct wsc_suite s2;
  load_text(t1, &s2);
  const struct wsc_step *st = &s2.cases[0].steps[0];
  uint8_t *b = NULL;
  size_t n = 0;
  assert_int_equal(wsc_payload_materialize(st->frame.payload, NULL, &b, &n), 0);
  assert_true(n >= 5 && n <= 8);
  assert_false(n == 5 && memcmp(b, "Hello", 5) == 0);
  free(b);
  free(t1);
  free(t2);
  wsc_suite_free(&s2);
  wsc_suite_free(&s);
}

static void test_write_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  const enum wsc_mut_family F = WSC_MUT_STEPS;
  one(c, F, WSC_MUT_CHOP, 0, 1, 0, "  fz send text payload=\"Hello\" chop=1\n");
  one(c, F, WSC_MUT_SPLIT, 0, 1, 3, "  fz send text payload=\"Hello\" split=1,3\n");
  one(c, F, WSC_MUT_SPLIT, 0, 2, 0, "  fz send text payload=\"Hello\" split=2\n");
  one(c, F, WSC_MUT_DELAY, 0, 5000, 0, "  fz send text payload=\"Hello\" delay=5ms\n");
  /* one write's pauses stay near a second: 900 pieces get 1 ms each, 65000 none */
  const char *big =
      "case t.big \"Big\"\n  clause RFC6455 5.6\n  level MUST\n"
      "  send binary payload=repeat(hex\"00\", 900) chop=1 delay=20ms\n"
      "  send binary payload=repeat(hex\"00\", 65536) chop=1 delay=20ms\n";
  struct wsc_suite s2;
  load_text(big, &s2);
  char *t = render(&s2.cases[0], NULL, 0, F, true, NULL);
  assert_has(t, "fz send binary payload=repeat(hex\"00\", 900) chop=1 delay=1ms\n");
  assert_has(t, "fz send binary payload=repeat(hex\"00\", 65536) chop=1\n");
  free(t);
  /* the faithful form keeps what the case says */
  t = render(&s2.cases[0], NULL, 0, F, false, NULL);
  assert_has(t, "  send binary payload=repeat(hex\"00\", 65536) chop=1 delay=20ms\n");
  free(t);
  wsc_suite_free(&s2);
  wsc_suite_free(&s);
}

static void test_step_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  const enum wsc_mut_family F = WSC_MUT_STEPS;
  struct wsc_mutation m = {WSC_MUT_DROP_STEP, 1, 0, 0};
  char *t = render(c, &m, 1, F, true, NULL);
  assert_lacks(t, "expect text");
  assert_has(t, "expect binary");
  free(t);
  m = (struct wsc_mutation){WSC_MUT_DUP_STEP, 0, 0, 0};
  t = render(c, &m, 1, F, true, NULL);
  assert_has(t, "  fz send text payload=\"Hello\"\n  fz send text payload=\"Hello\"\n");
  free(t);
  one(c, F, WSC_MUT_INSERT, 1, 0, 0, "  fz send text payload=\"Hello\"\n  fz send cont \"x\"\n");
  one(c, F, WSC_MUT_INSERT, 5, 11, 0, "  fz send binary \"\" len=0x7fffffffffffffff\n");
  one(c, F, WSC_MUT_INSERT, 0, 14, 99, "  fz send raw hex\"");
  one(c, F, WSC_MUT_SLEEP, 1, 10000, 0, "  fz send text payload=\"Hello\"\n  sleep 10ms\n");
  /* sleeps are clamped in the campaign form */
  one(c, F, WSC_MUT_SLEEP, 1, 5000000, 0, "  sleep 250ms\n");
  wsc_suite_free(&s);
}

static void test_handshake_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *c = &s.cases[0];
  assert_true(wsc_mut_family_ok(c, WSC_MUT_HANDSHAKE));
  const enum wsc_mut_family H = WSC_MUT_HANDSHAKE;
  one(c, H, WSC_MUT_HS_REMOVE, 0, 3, 0, "  handshake remove Sec-WebSocket-Key\n");
  one(c, H, WSC_MUT_HS_SET, 0, 4, 2, "  handshake set Sec-WebSocket-Version: \"8\"\n");
  one(c, H, WSC_MUT_HS_ADD, 0, 1, 20, "  handshake add Upgrade: \"a\\r\\nX-Injected: 1\"\n");
  one(c, H, WSC_MUT_HS_CASE, 0, 0, 0, "  handshake remove Upgrade\n  handshake add ");
  one(c, H, WSC_MUT_HS_MANY, 0, 0, 0, "  handshake add X-Fuzz-49: \"v\"\n");
  one(c, H, WSC_MUT_HS_METHOD, 0, 0, 0, "  handshake method \"POST\"\n");
  one(c, H, WSC_MUT_HS_TARGET, 0, 0, 0, "  handshake target \"*\"\n");
  one(c, H, WSC_MUT_HS_VERSION, 0, 0, 0, "  handshake version \"HTTP/1.0\"\n");
  one(c, H, WSC_MUT_HS_BODY, 0, 1, 1,
      "  handshake set Content-Length: \"100\"\n  handshake body repeat(\"b\", 100)\n");
  one(c, H, WSC_MUT_HS_WRITE, 0, 0, 0, "  handshake write chop=1\n");
  /* the handshake family's oracle, and no probe (edits apply to every connection) */
  struct wsc_mutation m = {WSC_MUT_HS_REMOVE, 0, 1, 0};
  struct wsc_render_info info;
  char *t = render(c, &m, 1, H, true, &info);
  assert_has(t, "  expect status 100..599\n");
  assert_lacks(t, "fzprobe");
  assert_int_equal(info.probe_line, 0);
  assert_has(t, "  expect text payload=\"Hello\" timeout=250ms else=pass\n");
  free(t);
  /* a finding's file gets a probe case of its own: connected at once, requested late */
  struct wsc_render_opts o;
  wsc_render_opts_default(&o);
  o.fuzz = true;
  o.family = H;
  o.probe_case = true;
  o.id = "fuzz.crash-001";
  char err[200];
  size_t len;
  assert_int_equal(wsc_mut_render(c, &m, 1, &o, &t, &len, &info, err, sizeof err), 0);
  assert_true(info.probe_case);
  assert_has(t,
             "\ncase fuzz.crash-001-probe \"The target still answers a connection opened "
             "with fuzz.crash-001\"\n");
  char want[128];
  snprintf(want, sizeof want, "  handshake write split=1 delay=%llums\n  send ping",
           (unsigned long long)(info.timeout_us / 1000));
  assert_has(t, want);
  struct wsc_suite two;
  load_text(t, &two);
  assert_int_equal(two.ncases, 2);
  assert_int_equal(two.cases[1].hs.write.nsplits, 1);
  assert_int_equal(two.cases[1].hs.write.delay_us, info.timeout_us);
  assert_int_equal(two.cases[1].hs.nedits, 0);
  wsc_suite_free(&two);
  free(t);
  /* a mutant with its probe connection needs none */
  o.family = WSC_MUT_STEPS;
  assert_int_equal(wsc_mut_render(c, NULL, 0, &o, &t, &len, &info, err, sizeof err), 0);
  assert_false(info.probe_case);
  assert_lacks(t, "\ncase fuzz.crash-001-probe");
  free(t);

  /* a raw request cannot take header edits: not a handshake-family case */
  struct wsc_suite r;
  load_text(
      "case t.raw \"Raw\"\n  clause RFC6455 4.1\n  level MUST\n"
      "  handshake raw \"GET / HTTP/1.1\\r\\n\\r\\n\"\n  expect handshake fail\n",
      &r);
  assert_false(wsc_mut_family_ok(&r.cases[0], H));
  assert_true(wsc_mut_family_ok(&r.cases[0], WSC_MUT_STEPS));
  wsc_suite_free(&r);
  wsc_suite_free(&s);
}

static void test_stomp_mutations(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(stomp_base, &s);
  const struct wsc_case *c = &s.cases[0];
  assert_true(c->stomp);
  assert_int_equal(c->nsteps, 4); /* CONNECT, expect CONNECTED (from connect=), SEND, expect */
  const enum wsc_mut_family F = WSC_MUT_STEPS;
  const char *conn = "  conn a subprotocol=v12.stomp connect=1.2 stomp\n";
  one(c, F, WSC_MUT_ST_COMMAND, 2, 0, 0,
      "  a stomp \"send\" destination:/queue/x receipt:r1 body=\"hi\"\n");
  one(c, F, WSC_MUT_ST_COMMAND, 2, 3, 0, "  a stomp \"FOO\" destination");
  one(c, F, WSC_MUT_ST_HDR_DROP, 2, 1, 0, "  a SEND destination:/queue/x body=\"hi\"\n");
  one(c, F, WSC_MUT_ST_HDR_DUP, 2, 0, 0,
      "  a SEND destination:/queue/x destination:/queue/x receipt:r1");
  one(c, F, WSC_MUT_ST_HDR_VALUE, 2, 1, 1, "  a SEND destination:/queue/x receipt:a:b body=");
  one(c, F, WSC_MUT_ST_HDR_VALUE, 2, 1, 2, " receipt:\"a\\nb\" body=");
  one(c, F, WSC_MUT_ST_HDR_ADD, 2, 0, 8, " receipt:r1 content-length:-1 body=\"hi\"\n");
  one(c, F, WSC_MUT_ST_CLEN, 2, 0, 0, " body=\"hi\" content-length=none\n");
  one(c, F, WSC_MUT_ST_CLEN, 2, 1, 0, " body=\"hi\" content-length=3\n");
  one(c, F, WSC_MUT_ST_TERM, 2, 1, 0, " body=\"hi\" terminator=\"X\"\n");
  one(c, F, WSC_MUT_ST_ESCAPE, 2, 0, 0, " body=\"hi\" escape=off\n");
  one(c, F, WSC_MUT_ST_EOL, 2, 1, 2, " body=\"hi\" eols=2 eol=crlf\n");
  one(c, F, WSC_MUT_ST_MSG, 2, 1, 0, " body=\"hi\" chunk=1\n");
  one(c, F, WSC_MUT_ST_MSG, 2, 0, 77, " body=\"hi\" split=random seed=77\n");
  one(c, F, WSC_MUT_BYTES, 2, 1, 5, "  a SEND destination:/queue/x receipt:r1 body=");
  one(c, F, WSC_MUT_INSERT, 3, 1000, 0, "  a stomp FOO\n");
  one(c, F, WSC_MUT_INSERT, 3, 1001, 0, "  a heartbeat 3\n");
  /* the connect= steps come back as the option, untouched by mutations */
  struct wsc_mutation m = {WSC_MUT_ST_COMMAND, 0, 0, 0};
  struct wsc_render_info info;
  char *t = render(c, &m, 1, F, true, &info);
  assert_has(t, conn);
  assert_lacks(t, "CONNECT");
  assert_int_equal(info.applied, 0);
  free(t);
  wsc_suite_free(&s);
}

static void test_campaign_form(void **state) {
  (void)state;
  struct wsc_suite s;
  load_text(ws_base, &s);
  struct wsc_render_info info;
  char *t = render(&s.cases[0], NULL, 0, WSC_MUT_STEPS, true, &info);
  /* 2 connections, 3 expectations of 250 ms, the probe's 2 s, 2 s for the rest */
  assert_has(t,
             "case t.echo \"Echo\"\n  clause RFC6455 5.6\n  level MUST\n  tags fuzz\n"
             "  timeout 6750ms\n  conn fz\n  conn fzprobe\n  fz send text payload=\"Hello\"\n");
  assert_has(t, "  fz expect text payload=\"Hello\" timeout=250ms else=pass\n");
  assert_has(t, "  fz expect close 1000 none clean by=suite timeout=250ms else=pass\n");
  assert_has(t, "  fz close 1000\n");
  assert_has(t,
             "  fzprobe send ping \"wsconform-fuzz-probe\"\n"
             "  fzprobe expect pong \"wsconform-fuzz-probe\" timeout=2s\n");
  /* probe_line is the line of the probe's expectation */
  int line = 1;
  const char *e = strstr(t, "  fzprobe expect pong");
  assert_non_null(e);
  for (const char *q = t; q < e; q++) line += *q == '\n';
  assert_int_equal(info.probe_line, line);
  assert_int_equal(info.timeout_us, 6750000);
  struct wsc_suite s2;
  load_text(t, &s2);
  assert_int_equal(s2.cases[0].nconns, 2);
  assert_int_equal(s2.cases[0].timeout_us, 6750000);
  wsc_suite_free(&s2);
  free(t);
  wsc_suite_free(&s);
}

/* ------------------------------------------------------------------------------------------
 * The writer over the corpus
 */

static void test_writer_fixpoint_corpus(void **state) {
  (void)state;
  struct wsc_suite s;
  if (!load_corpus(&s)) skip();
  size_t checked = 0;
  for (size_t i = 0; i < s.ncases; i++) {
    const struct wsc_case *c = &s.cases[i];
    char *t1 = render(c, NULL, 0, WSC_MUT_STEPS, false, NULL);
    struct wsc_suite s2;
    struct wsc_diags d = {0};
    memset(&s2, 0, sizeof s2);
    int rc = wsc_suite_load_buffer(c->loc.file, t1, strlen(t1), NULL, &s2, &d);
    if (rc) {
      wsc_diags_print(&d, stderr);
      fprintf(stderr, "%s does not load back:\n%s\n", c->id, t1);
    }
    wsc_diags_free(&d);
    assert_int_equal(rc, 0);
    char why[200];
    if (cmp_case(c, &s2.cases[0], why, sizeof why)) {
      fprintf(stderr, "%s: %s\n%s\n", c->id, why, t1);
      fail();
    }
    char *t2 = render(&s2.cases[0], NULL, 0, WSC_MUT_STEPS, false, NULL);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    wsc_suite_free(&s2);
    checked++;
  }
  assert_true(checked > 100);
  wsc_suite_free(&s);
}

static void test_mutants_load_corpus(void **state) {
  (void)state;
  struct wsc_suite s;
  if (!load_corpus(&s)) skip();
  size_t n = 0, eligible = 0;
  for (size_t i = 0; i < s.ncases; i++) {
    const struct wsc_case *c = &s.cases[i];
    if (wsc_case_has_tag(c, "perf") || !wsc_fuzz_eligible(c)) continue;
    eligible++;
    for (uint64_t it = 0; it < 3; it++) {
      uint64_t rng = wsc_mut_iter_state(7, i * 10 + it);
      struct wsc_mutation m[WSC_MUT_MAX];
      enum wsc_mut_family fam;
      size_t nm = wsc_mut_generate(c, &rng, &fam, m, WSC_MUT_MAX);
      char *t = render(c, m, nm, fam, true, NULL);
      struct wsc_suite s2;
      struct wsc_diags d = {0};
      memset(&s2, 0, sizeof s2);
      int rc = wsc_suite_load_buffer("m.case", t, strlen(t), NULL, &s2, &d);
      if (rc) {
        wsc_diags_print(&d, stderr);
        fprintf(stderr, "mutant of %s does not load:\n%.4000s\n", c->id, t);
      }
      wsc_diags_free(&d);
      assert_int_equal(rc, 0);
      wsc_suite_free(&s2);
      free(t);
      n++;
    }
  }
  assert_true(eligible > 100);
  assert_true(n == eligible * 3);
  wsc_suite_free(&s);
}

/* ------------------------------------------------------------------------------------------
 * Targets: the reference server in a thread, and a fake with one bug
 */

typedef struct refsrv {
  wsref_registry *reg;
  wsref_server *srv;
  pthread_t th;
  char url[128];
} refsrv;

static void *ref_main(void *arg) {
  wsref_server_run(arg);
  return NULL;
}

static void ref_start(refsrv *r) {
  memset(r, 0, sizeof *r);
  r->reg = wsref_registry_new();
  assert_non_null(r->reg);
  assert_int_equal(wsref_echo_register(r->reg), 0);
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.host = "127.0.0.1";
  o.port = 0;
  o.quiet = true;
  char err[256];
  r->srv = wsref_server_new(r->reg, &o, err, sizeof err);
  assert_non_null(r->srv);
  assert_int_equal(wsref_server_bind(r->srv, err, sizeof err), 0);
  assert_int_equal(pthread_create(&r->th, NULL, ref_main, r->srv), 0);
  snprintf(r->url, sizeof r->url, "%s/echo", wsref_server_url(r->srv));
}

static void ref_stop(refsrv *r) {
  wsref_server_stop(r->srv);
  pthread_join(r->th, NULL);
  wsref_server_free(r->srv);
  wsref_registry_free(r->reg);
}

#define FAKE_MAX 16
typedef struct fconn {
  int fd;
  bool upgraded;
  uint8_t *buf;
  size_t n, cap;
} fconn;

typedef struct fake {
  int lfd;
  uint16_t port;
  pthread_t th;
  atomic_int stop;
  atomic_int crashed;
  bool crash_on_rsv;  /* any RSV bit: close every socket, the listener too ("exits") */
  bool echo_reserved; /* a reserved opcode is answered with a frame of that opcode */
  bool drop_unkeyed;  /* a request without Sec-WebSocket-Key is not answered (else: 400) */
  char url[64];
  fconn c[FAKE_MAX];
} fake;

static void fk_send(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k <= 0) return;
    b += k;
    n -= (size_t)k;
  }
}

static void fk_drop(fconn *c) {
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
  free(c->buf);
  c->buf = NULL;
  c->n = c->cap = 0;
  c->upgraded = false;
}

/* false: the connection ends */
static bool fk_serve(fake *f, fconn *c) {
  if (!c->upgraded) {
    uint8_t *end = memmem(c->buf, c->n, "\r\n\r\n", 4);
    if (!end) return c->n < 65536;
    *end = 0;
    char *key = strcasestr((char *)c->buf, "sec-websocket-key:");
    if (!key) {
      static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      if (!f->drop_unkeyed) fk_send(c->fd, bad, sizeof bad - 1);
      return false;
    }
    key += 18;
    while (*key == ' ') key++;
    size_t kl = strcspn(key, "\r\n ");
    char acc[WSREF_ACCEPT_LEN + 1];
    wsref_accept_compute(key, kl, acc);
    char resp[256];
    int rn = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                      acc);
    fk_send(c->fd, resp, (size_t)rn);
    size_t used = (size_t)(end - c->buf) + 4;
    memmove(c->buf, c->buf + used, c->n - used);
    c->n -= used;
    c->upgraded = true;
  }
  for (;;) {
    if (c->n >= 2 && (c->buf[0] & 0x70) && f->crash_on_rsv) {
      atomic_store(&f->crashed, 1);
      return false;
    }
    peer_parsed pf;
    static uint8_t payload[70000];
    size_t k = peer_parse(c->buf, c->n, &pf, payload, sizeof payload);
    if (!k) return c->n < (1u << 20);
    memmove(c->buf, c->buf + k, c->n - k);
    c->n -= k;
    size_t pl = pf.len < sizeof payload ? (size_t)pf.len : sizeof payload;
    uint8_t out[70016];
    if (pf.opcode == 9) {
      fk_send(c->fd, out, peer_frame(out, 0x8A, NULL, payload, pl));
    } else if (pf.opcode == 8) {
      fk_send(c->fd, out, peer_frame(out, 0x88, NULL, "\x03\xe8", 2));
      return false;
    } else if ((pf.opcode == 1 || pf.opcode == 2) && pf.fin) {
      if (pf.opcode == 1 && !wsref_utf8_valid(payload, pl)) {
        fk_send(c->fd, out, peer_frame(out, 0x88, NULL, "\x03\xef", 2));
        return false;
      }
      fk_send(c->fd, out, peer_frame(out, (uint8_t)(0x80 | pf.opcode), NULL, payload, pl));
    } else if (f->echo_reserved && ((pf.opcode >= 3 && pf.opcode <= 7) || pf.opcode >= 11)) {
      fk_send(c->fd, out, peer_frame(out, (uint8_t)(0x80 | pf.opcode), NULL, payload, pl));
    }
  }
}

static void *fake_main(void *arg) {
  fake *f = arg;
  while (!atomic_load(&f->stop)) {
    struct pollfd p[FAKE_MAX + 1];
    int idx[FAKE_MAX + 1];
    nfds_t np = 0;
    if (f->lfd >= 0) {
      p[np].fd = f->lfd;
      p[np].events = POLLIN;
      idx[np++] = -1;
    }
    for (int i = 0; i < FAKE_MAX; i++)
      if (f->c[i].fd >= 0) {
        p[np].fd = f->c[i].fd;
        p[np].events = POLLIN;
        idx[np++] = i;
      }
    if (poll(p, np, 20) <= 0) continue;
    for (nfds_t j = 0; j < np; j++) {
      if (!p[j].revents) continue;
      if (idx[j] < 0) {
        int fd = accept(f->lfd, NULL, NULL);
        if (fd < 0) continue;
        int slot = -1;
        for (int i = 0; i < FAKE_MAX && slot < 0; i++)
          if (f->c[i].fd < 0) slot = i;
        if (slot < 0) {
          close(fd);
          continue;
        }
        f->c[slot].fd = fd;
        continue;
      }
      fconn *c = &f->c[idx[j]];
      if (c->fd < 0) continue;
      if (c->cap - c->n < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
      }
      ssize_t k = recv(c->fd, c->buf + c->n, c->cap - c->n, 0);
      if (k <= 0) {
        fk_drop(c);
        continue;
      }
      c->n += (size_t)k;
      if (!fk_serve(f, c)) fk_drop(c);
      if (atomic_load(&f->crashed)) {
        /* the "process" is gone: every socket, the listener too */
        for (int i = 0; i < FAKE_MAX; i++) fk_drop(&f->c[i]);
        close(f->lfd);
        f->lfd = -1;
        break;
      }
    }
    if (f->lfd < 0) break;
  }
  return NULL;
}

enum { FAKE_CRASH_ON_RSV = 1, FAKE_ECHO_RESERVED = 2, FAKE_DROP_UNKEYED = 4 };

static void fake_start(fake *f, unsigned bugs) {
  memset(f, 0, sizeof *f);
  for (int i = 0; i < FAKE_MAX; i++) f->c[i].fd = -1;
  f->crash_on_rsv = bugs & FAKE_CRASH_ON_RSV;
  f->echo_reserved = bugs & FAKE_ECHO_RESERVED;
  f->drop_unkeyed = bugs & FAKE_DROP_UNKEYED;
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->lfd >= 0);
  int one_ = 1;
  setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one_, sizeof one_);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof sa), 0);
  assert_int_equal(listen(f->lfd, 64), 0);
  assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &sl), 0);
  f->port = ntohs(sa.sin_port);
  snprintf(f->url, sizeof f->url, "ws://127.0.0.1:%u/echo", f->port);
  assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f) {
  atomic_store(&f->stop, 1);
  pthread_join(f->th, NULL);
  for (int i = 0; i < FAKE_MAX; i++) fk_drop(&f->c[i]);
  if (f->lfd >= 0) close(f->lfd);
}

/* Runs every case of a file against url; returns the first case's result and, in *worst, the
 * worst verdict of all (a finding's file may hold a probe case after the mutant). */
static wsc_result run_file_all(const char *path, const char *url, enum wsc_verdict *worst) {
  struct wsc_suite s;
  memset(&s, 0, sizeof s);
  struct wsc_diags d = {0};
  int rc = wsc_suite_load_files(&path, 1, NULL, &s, &d);
  if (rc) wsc_diags_print(&d, stderr);
  wsc_diags_free(&d);
  assert_int_equal(rc, 0);
  assert_true(s.ncases == 1 || s.ncases == 2);
  wsc_runner_options ro;
  wsc_runner_options_default(&ro);
  ro.url = url;
  ro.close_wait_us = 200000;
  char err[256];
  int rrc;
  wsc_runner *rn = wsc_runner_new(&ro, &rrc, err, sizeof err);
  assert_non_null(rn);
  wsc_result first;
  *worst = WSC_PASS;
  for (size_t i = 0; i < s.ncases; i++) {
    wsc_result res;
    wsc_runner_run_case(rn, &s.cases[i], &res);
    if (res.verdict > *worst) *worst = res.verdict;
    if (i == 0)
      first = res;
    else
      wsc_result_free(&res);
  }
  wsc_runner_free(rn);
  wsc_suite_free(&s);
  return first;
}

static wsc_result run_file(const char *path, const char *url) {
  enum wsc_verdict worst;
  return run_file_all(path, url, &worst);
}

static char *tmpdir(void) {
  char tmpl[] = "/tmp/wsc-fuzz-test.XXXXXX";
  char *d = mkdtemp(tmpl);
  assert_non_null(d);
  return strdup(d);
}

static void rm_rf(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  assert_int_equal(system(cmd), 0);
}

/* ------------------------------------------------------------------------------------------
 * A written finding re-runs
 */

static void test_written_mutant_reruns(void **state) {
  (void)state;
  refsrv ref;
  ref_start(&ref);
  struct wsc_suite s;
  load_text(ws_base, &s);
  char *dir = tmpdir();
  /* a mutant the reference server must survive: RSV1 on the first frame, a stray continuation */
  struct wsc_mutation m[2] = {{WSC_MUT_RSV, 0, 4, 0}, {WSC_MUT_INSERT, 3, 0, 0}};
  struct wsc_render_info info;
  char *t = render(&s.cases[0], m, 2, WSC_MUT_STEPS, true, &info);
  char path[600];
  snprintf(path, sizeof path, "%s/finding.case", dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(t, f);
  fclose(f);
  wsc_result res = run_file(path, ref.url);
  if (res.verdict != WSC_PASS)
    fprintf(stderr, "%s: %s\n", wsc_verdict_name(res.verdict), res.reason);
  assert_int_equal(res.verdict, WSC_PASS);
  assert_int_equal(res.nfindings, 0);
  /* the frame went out with RSV1, and the probe got its pong */
  bool rsv_sent = false;
  for (size_t i = 0; i < res.wire.n; i++) {
    const wsc_wire_chunk *ch = &res.wire.chunks[i];
    if (ch->dir == WSC_WIRE_TX && ch->conn && strcmp(ch->conn, "fz") == 0 && ch->data_len >= 1 &&
        ch->data[0] == 0xC1)
      rsv_sent = true;
  }
  assert_true(rsv_sent);
  bool pong = false;
  for (size_t i = 0; i < res.nexpected; i++)
    if (res.expected[i].line == info.probe_line) pong = res.expected[i].matched;
  assert_true(pong);
  wsc_result_free(&res);
  free(t);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
  ref_stop(&ref);
}

/* ------------------------------------------------------------------------------------------
 * Campaigns
 */

static void campaign_opts(wsc_fuzz_options *o, const char *url, const struct wsc_case *const *b,
                          size_t nb, const char *dir) {
  memset(o, 0, sizeof *o);
  wsc_runner_options_default(&o->runner);
  o->runner.url = url;
  o->bases = b;
  o->nbases = nb;
  o->seed = 3;
  o->time_us = 60u * 1000000u;
  o->iterations = 300;
  o->hang_timeout_us = 1000000;
  o->expect_timeout_us = 30000;
  o->shrink_time_us = 20u * 1000000u;
  o->max_findings = 1;
  o->out_dir = dir;
  o->run_id = "unit";
}

static void test_campaign_reference_clean(void **state) {
  (void)state;
  refsrv ref;
  ref_start(&ref);
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *b[1] = {&s.cases[0]};
  char *dir = tmpdir();
  wsc_fuzz_options o;
  campaign_opts(&o, ref.url, b, 1, dir);
  o.iterations = 40;
  wsc_fuzz_stats st;
  char err[256];
  assert_int_equal(wsc_fuzz_campaign(&o, &st, err, sizeof err), 0);
  assert_int_equal(st.iterations, 40);
  assert_int_equal(st.nfindings, 0);
  assert_int_equal(st.invalid, 0);
  for (int k = 1; k < WSC_FUZZ_KIND_COUNT; k++) assert_int_equal(st.found[k], 0);
  assert_true(st.execs >= 80); /* each mutant, then the liveness check */
  char sum[4096];
  FILE *mf = fmemopen(sum, sizeof sum, "w");
  wsc_fuzz_print_summary(mf, &o, &st);
  fclose(mf);
  assert_has(sum, "iterations    40 in ");
  assert_has(sum, "  crash             0        0");
  wsc_fuzz_stats_free(&st);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
  ref_stop(&ref);
}

static void test_campaign_finds_crash(void **state) {
  (void)state;
  fake f;
  fake_start(&f, FAKE_CRASH_ON_RSV);
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *b[1] = {&s.cases[0]};
  char *dir = tmpdir();
  wsc_fuzz_options o;
  campaign_opts(&o, f.url, b, 1, dir);
  wsc_fuzz_stats st;
  char err[256];
  assert_int_equal(wsc_fuzz_campaign(&o, &st, err, sizeof err), 0);
  assert_true(atomic_load(&f.crashed));
  assert_int_equal(st.found[WSC_FUZZ_CRASH], 1);
  assert_int_equal(st.nfindings, 1);
  const wsc_fuzz_finding *fd = &st.findings[0];
  assert_int_equal(fd->kind, WSC_FUZZ_CRASH);
  assert_has(fd->detail, "refused");
  /* nothing restarts the fake: the campaign stops after it, without confirming */
  assert_false(fd->confirmed);
  assert_has(st.stop_reason, "nothing restarts it");
  assert_has(fd->path, "/crash-001.case");
  /* the file replays: against the faulty server it fails, against the reference it passes */
  fake f2;
  fake_start(&f2, FAKE_CRASH_ON_RSV);
  wsc_result res = run_file(fd->path, f2.url);
  assert_true(res.verdict == WSC_FAIL || res.verdict == WSC_ERROR);
  assert_true(atomic_load(&f2.crashed));
  wsc_result_free(&res);
  fake_stop(&f2);
  refsrv ref;
  ref_start(&ref);
  res = run_file(fd->path, ref.url);
  if (res.verdict != WSC_PASS) fprintf(stderr, "%s\n", res.reason);
  assert_int_equal(res.verdict, WSC_PASS);
  wsc_result_free(&res);
  ref_stop(&ref);
  wsc_fuzz_stats_free(&st);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
  fake_stop(&f);
}

static void test_campaign_protocol_shrunk(void **state) {
  (void)state;
  fake f;
  fake_start(&f, FAKE_ECHO_RESERVED);
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *b[1] = {&s.cases[0]};
  char *dir = tmpdir();
  wsc_fuzz_options o;
  campaign_opts(&o, f.url, b, 1, dir);
  o.iterations = 200;
  wsc_fuzz_stats st;
  char err[256];
  assert_int_equal(wsc_fuzz_campaign(&o, &st, err, sizeof err), 0);
  assert_true(st.found[WSC_FUZZ_PROTOCOL] >= 1);
  assert_int_equal(st.nfindings, 1);
  const wsc_fuzz_finding *fd = &st.findings[0];
  assert_int_equal(fd->kind, WSC_FUZZ_PROTOCOL);
  assert_true(fd->confirmed);
  assert_true(fd->replayed);
  assert_true(fd->replay_fails);
  assert_has(fd->detail, "reserved");
  /* shrunk: one mutation (a reserved opcode) is all it takes, every other step is gone */
  assert_int_equal(fd->nmutations >= 1, 1);
  struct wsc_suite w;
  memset(&w, 0, sizeof w);
  const char *pp = fd->path;
  assert_int_equal(wsc_suite_load_files(&pp, 1, NULL, &w, NULL), 0);
  size_t sends = 0;
  for (size_t i = 0; i < w.cases[0].nsteps; i++)
    sends += w.cases[0].steps[i].kind == WSC_STEP_SEND && w.cases[0].steps[i].conn == 0;
  assert_int_equal(sends, 1);
  wsc_suite_free(&w);
  /* replays: FAIL against the faulty server, PASS against the reference */
  wsc_result res = run_file(fd->path, f.url);
  assert_int_equal(res.verdict, WSC_FAIL);
  assert_true(res.nfindings >= 1);
  wsc_result_free(&res);
  refsrv ref;
  ref_start(&ref);
  res = run_file(fd->path, ref.url);
  if (res.verdict != WSC_PASS) fprintf(stderr, "%s\n", res.reason);
  assert_int_equal(res.verdict, WSC_PASS);
  wsc_result_free(&res);
  ref_stop(&ref);
  /* the details file says what was seen */
  char tpath[600];
  snprintf(tpath, sizeof tpath, "%s", fd->path);
  strcpy(strrchr(tpath, '.'), ".txt");
  FILE *tf = fopen(tpath, "r");
  assert_non_null(tf);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, tf);
  buf[n] = 0;
  fclose(tf);
  assert_has(buf, "kind      protocol\n");
  assert_has(buf, "verdict   FAIL: the file fails while the finding reproduces\n");
  wsc_fuzz_stats_free(&st);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
  fake_stop(&f);
}

static void test_campaign_handshake_unanswered(void **state) {
  (void)state;
  fake f;
  fake_start(&f, FAKE_DROP_UNKEYED);
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *b[1] = {&s.cases[0]};
  char *dir = tmpdir();
  wsc_fuzz_options o;
  campaign_opts(&o, f.url, b, 1, dir);
  o.iterations = 150;
  wsc_fuzz_stats st;
  char err[256];
  assert_int_equal(wsc_fuzz_campaign(&o, &st, err, sizeof err), 0);
  assert_true(st.found[WSC_FUZZ_PROTOCOL] >= 1);
  assert_true(st.nfindings >= 1);
  const wsc_fuzz_finding *fd = &st.findings[0];
  assert_int_equal(fd->kind, WSC_FUZZ_PROTOCOL);
  assert_has(fd->detail, "handshake-unanswered");
  assert_has(fd->detail, "without an HTTP response");
  assert_true(fd->confirmed && fd->replayed && fd->replay_fails);
  /* shrunk to the one mutation that matters: the key removed */
  assert_int_equal(fd->nmutations, 1);
  FILE *cf = fopen(fd->path, "r");
  assert_non_null(cf);
  char buf[8192];
  size_t n = fread(buf, 1, sizeof buf - 1, cf);
  buf[n] = 0;
  fclose(cf);
  assert_has(buf, "  handshake remove Sec-WebSocket-Key\n  expect status 100..599\n");
  assert_has(buf, "\ncase fuzz.protocol-001-probe ");
  /* the campaign replayed it against the faulty server (replay_fails above); against the
   * reference server, which answers 400, both cases pass */
  enum wsc_verdict worst;
  refsrv ref;
  ref_start(&ref);
  wsc_result res = run_file_all(fd->path, ref.url, &worst);
  assert_int_equal(res.verdict, WSC_PASS);
  assert_int_equal(worst, WSC_PASS);
  wsc_result_free(&res);
  ref_stop(&ref);
  wsc_fuzz_stats_free(&st);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
  fake_stop(&f);
}

static void test_campaign_unreachable(void **state) {
  (void)state;
  uint16_t port;
  assert_int_equal(wsc_fuzz_free_port(&port), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/", port);
  struct wsc_suite s;
  load_text(ws_base, &s);
  const struct wsc_case *b[1] = {&s.cases[0]};
  char *dir = tmpdir();
  wsc_fuzz_options o;
  campaign_opts(&o, url, b, 1, dir);
  wsc_fuzz_stats st;
  char err[256];
  assert_int_equal(wsc_fuzz_campaign(&o, &st, err, sizeof err), WSREF_E_CONNECT);
  assert_has(err, "unreachable");
  wsc_fuzz_stats_free(&st);
  rm_rf(dir);
  free(dir);
  wsc_suite_free(&s);
}

/* ------------------------------------------------------------------------------------------
 * The command line and the helpers
 */

static int fuzz_cli(const char *a0, ...) {
  char *argv[16];
  int argc = 0;
  va_list ap;
  va_start(ap, a0);
  for (const char *a = a0; a && argc < 15; a = va_arg(ap, const char *)) argv[argc++] = (char *)a;
  va_end(ap);
  argv[argc] = NULL;
  return wsc_fuzz_main(argc, argv);
}

static void test_cli(void **state) {
  (void)state;
  assert_int_equal(fuzz_cli("fuzz", "--help", NULL), 0);
  assert_int_equal(fuzz_cli("fuzz", NULL), 2);
  assert_int_equal(fuzz_cli("fuzz", "--bogus", "ws://127.0.0.1:1/", NULL), 2);
  assert_int_equal(fuzz_cli("fuzz", "--time", "soon", "ws://127.0.0.1:1/", NULL), 2);
  /* not loopback: refused with a reason, before anything is sent */
  assert_int_equal(fuzz_cli("fuzz", "ws://example.com/", NULL), 2);
  assert_int_equal(fuzz_cli("fuzz", "ws://127.0.0.1:1/", "--stomp-url", "ws://10.0.0.1/", NULL), 2);
  /* {port} without --exec */
  assert_int_equal(fuzz_cli("fuzz", "ws://127.0.0.1:{port}/", NULL), 2);
  /* unreachable: 3 */
  char *dir = tmpdir();
  char cpath[600], out[600], url[64];
  snprintf(cpath, sizeof cpath, "%s/base.case", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  FILE *f = fopen(cpath, "w");
  assert_non_null(f);
  fputs(ws_base, f);
  fclose(f);
  uint16_t port;
  assert_int_equal(wsc_fuzz_free_port(&port), 0);
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/", port);
  assert_int_equal(fuzz_cli("fuzz", "-q", "--case", cpath, "-o", out, "-n", "1", url, NULL), 3);
  /* --exec whose command never listens: 3 as well */
  assert_int_equal(fuzz_cli("fuzz", "-q", "--case", cpath, "-o", out, "-n", "1", "--exec", "exit 7",
                            "--start-timeout", "2s", "ws://127.0.0.1:{port}/", NULL),
                   3);
  rm_rf(dir);
  free(dir);
}

static void test_helpers(void **state) {
  (void)state;
  assert_true(wsc_fuzz_is_loopback("127.0.0.1"));
  assert_true(wsc_fuzz_is_loopback("127.1.2.3"));
  assert_true(wsc_fuzz_is_loopback("localhost"));
  assert_true(wsc_fuzz_is_loopback("::1"));
  assert_false(wsc_fuzz_is_loopback("128.0.0.1"));
  assert_false(wsc_fuzz_is_loopback("example.com"));
  assert_false(wsc_fuzz_is_loopback("10.0.0.1"));
  assert_false(wsc_fuzz_is_loopback(""));
  char *s = NULL;
  assert_int_equal(wsc_fuzz_subst_port("srv --port {port} ws://h:{port}/x", 4242, &s), 0);
  assert_string_equal(s, "srv --port 4242 ws://h:4242/x");
  free(s);
  assert_int_equal(wsc_fuzz_subst_port("none", 1, &s), 0);
  assert_string_equal(s, "none");
  free(s);
  uint16_t p = 0;
  assert_int_equal(wsc_fuzz_free_port(&p), 0);
  assert_true(p > 0);
  uint64_t kib = 0;
  assert_int_equal(wsc_fuzz_rss_kib(getpid(), &kib), 0);
  assert_true(kib > 100);
  assert_int_equal(wsc_fuzz_rss_kib(-1, &kib), WSREF_E_IO);
  assert_string_equal(wsc_fuzz_kind_name(WSC_FUZZ_HANG), "hang");
  assert_string_equal(wsc_mut_kind_name(WSC_MUT_RSV), "rsv");
  for (int k = 0; k < WSC_MUT_KIND_COUNT; k++)
    assert_string_not_equal(wsc_mut_kind_name((enum wsc_mut_kind)k), "?");
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rand_deterministic),
      cmocka_unit_test(test_generate_deterministic),
      cmocka_unit_test(test_frame_mutations),
      cmocka_unit_test(test_payload_mutations),
      cmocka_unit_test(test_write_mutations),
      cmocka_unit_test(test_step_mutations),
      cmocka_unit_test(test_handshake_mutations),
      cmocka_unit_test(test_stomp_mutations),
      cmocka_unit_test(test_campaign_form),
      cmocka_unit_test(test_writer_fixpoint_corpus),
      cmocka_unit_test(test_mutants_load_corpus),
      cmocka_unit_test(test_written_mutant_reruns),
      cmocka_unit_test(test_campaign_reference_clean),
      cmocka_unit_test(test_campaign_finds_crash),
      cmocka_unit_test(test_campaign_protocol_shrunk),
      cmocka_unit_test(test_campaign_handshake_unanswered),
      cmocka_unit_test(test_campaign_unreachable),
      cmocka_unit_test(test_cli),
      cmocka_unit_test(test_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
