/* The harness's STOMP observer and frame reader (harness/stompwire.h): what wsconform makes
 * of the STOMP frames a broker under test sends, against what the suite sent. A broken or
 * hostile broker must give findings, never a crash, a hang or a verdict that depends on how
 * the suite's own bytes were cut.
 *
 * Input: [options][chunk plan][records...]
 *   options bits 0-1 the session's initial version (0: 1.2 default, 1: 1.0, 2: 1.1, 3: 1.2),
 *   bits 2-3 max_kept (default 64 MiB, 8, 64, 4096 octets), bits 4-5 the version of the
 *   parse/encode round trip (10, 11, 12, 12).
 *   record: tag, then for tags 0-2 a 2-octet little-endian length and that many octets
 *     tag % 4 == 0  a text message from the broker      1  a binary message from the broker
 *            2      octets the suite sent                3  tag bit 2: the suite sent
 *                                                           something it could not track
 *
 * Everything is observed twice: with each sent record fed whole, and cut as the chunk plan
 * says (tracking is a byte stream: any cut must give the same verdict). The transcripts of
 * both runs (every event, every finding with its offset, the negotiated version, heart-beats,
 * ERROR seen) must be equal. Every STOMP event's frame goes through the reader: a frame it
 * parses re-encodes (escaped for the round-trip version) to one that parses to the same
 * command, headers and body (in 1.2, unless a command or unescaped value ends in CR, which 1.2
 * cannot encode); the one-line description is NUL-terminated within its buffer.
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "result.h"
#include "stompwire.h"
#include "support/common.h"

/* parse -> encode -> parse gives the same frame. */
static void round_trip(const uint8_t *frame, size_t n, int version) {
  wsc_stomp_msg a;
  int rc = wsc_stomp_parse(frame, n, version, &a);
  FUZZ_CHECK(rc == 0 || rc == WSREF_E_INVALID_ARG);
  if (rc) return;
  bool exempt = wsc_stomp_escape_exempt(a.command, a.command_len);
  if (version >= 12) {
    /* 1.2 reads a CR before the LF as part of the EOL: a command, or an unescaped value,
     * that ends in CR has no 1.2 encoding (the reader took one CR off; "X\r\r" reads "X\r") */
    bool cr_end = a.command_len && a.command[a.command_len - 1] == '\r';
    for (size_t i = 0; exempt && i < a.nheaders; i++)
      cr_end |= a.headers[i].value_len && a.headers[i].value[a.headers[i].value_len - 1] == '\r';
    if (cr_end) {
      wsc_stomp_msg_free(&a);
      return;
    }
  }
  wsc_stomp_out_header *hs = calloc(a.nheaders + 1, sizeof *hs);
  if (!hs) abort();
  for (size_t i = 0; i < a.nheaders; i++) {
    hs[i].name = a.headers[i].name;
    hs[i].name_len = a.headers[i].name_len;
    hs[i].value = a.headers[i].value;
    hs[i].value_len = a.headers[i].value_len;
  }
  wsc_stomp_out out;
  memset(&out, 0, sizeof out);
  out.command = a.command;
  out.command_len = a.command_len;
  out.headers = hs;
  out.nheaders = a.nheaders;
  out.body = a.body;
  out.body_len = a.body_len;
  out.escape_rules = exempt ? 0 : version;
  wsref_buf enc = WSREF_BUF_INIT;
  FUZZ_CHECK(wsc_stomp_encode(&enc, &out) == 0);
  wsc_stomp_msg b;
  FUZZ_CHECK(wsc_stomp_parse(wsref_buf_head(&enc), wsref_buf_len(&enc), version, &b) == 0);
  FUZZ_CHECK(b.command_len == a.command_len && memcmp(b.command, a.command, a.command_len) == 0);
  FUZZ_CHECK(b.nheaders == a.nheaders);
  for (size_t i = 0; i < a.nheaders && i < b.nheaders; i++) {
    FUZZ_CHECK(b.headers[i].name_len == a.headers[i].name_len &&
               memcmp(b.headers[i].name, a.headers[i].name, a.headers[i].name_len) == 0);
    FUZZ_CHECK(b.headers[i].value_len == a.headers[i].value_len &&
               memcmp(b.headers[i].value, a.headers[i].value, a.headers[i].value_len) == 0);
  }
  FUZZ_CHECK(b.body_len == a.body_len && memcmp(b.body, a.body, a.body_len) == 0);
  wsc_stomp_msg_free(&b);
  wsref_buf_free(&enc);
  free(hs);
  wsc_stomp_msg_free(&a);
}

typedef struct run {
  wsc_stomp_obs *o;
  wsc_result res;
  wsc_wirelog notes;
  wsref_buf tr;
  uint64_t max_kept;
  int rt_version;
  bool check; /* the first run also checks the frames it saw */
} run;

static void pop_all(run *r) {
  wsc_event ev;
  while (wsc_stomp_obs_next(r->o, &ev)) {
    FUZZ_CHECK(ev.data_len <= ev.len);
    FUZZ_CHECK(ev.data_len <= r->max_kept);
    uint8_t rec[4] = {(uint8_t)ev.type, ev.opcode, ev.fin, ev.has_sha256};
    fuzz_put(&r->tr, rec, sizeof rec);
    fuzz_put_u64(&r->tr, ev.frames);
    fuzz_put_u64(&r->tr, ev.len);
    fuzz_put_u64(&r->tr, ev.data_len);
    fuzz_put(&r->tr, ev.data, ev.data_len);
    fuzz_put_str(&r->tr, ev.detail);
    if (r->check && ev.type == WSC_EV_STOMP && ev.data_len == ev.len) {
      round_trip(ev.data, ev.data_len, r->rt_version);
      char line[160];
      memset(line, 'x', sizeof line);
      wsc_stomp_describe(line, sizeof line, ev.data, ev.data_len, r->rt_version);
      FUZZ_CHECK(memchr(line, 0, sizeof line) != NULL);
    }
    wsc_event_free(&ev);
  }
}

static void observe(run *r, const wsc_stomp_obs_options *opt, fuzz_in in, fuzz_chunks *plan) {
  wsc_stomp_obs_options o = *opt;
  o.notes = &r->notes;
  r->o = wsc_stomp_obs_new(&o, &r->res);
  if (!r->o) abort();
  uint64_t t = 1000, off = 0;
  while (fuzz_left(&in) > 0) {
    uint8_t tag = fuzz_u8(&in);
    if ((tag & 3) == 3) {
      if (tag & 4) wsc_stomp_obs_untracked(r->o);
      continue;
    }
    size_t len = fuzz_u8(&in);
    len |= (size_t)fuzz_u8(&in) << 8;
    if (len > fuzz_left(&in)) len = fuzz_left(&in);
    const uint8_t *p = fuzz_rest(&in);
    in.pos += len;
    t += 10;
    if ((tag & 3) == 2) {
      size_t pos = 0;
      do {
        size_t k = plan ? fuzz_chunks_next(plan, len - pos) : len - pos;
        uint8_t *piece = fuzz_dup(p + pos, k);
        wsc_stomp_obs_sent(r->o, piece, k);
        free(piece);
        pos += k;
      } while (pos < len);
      continue;
    }
    uint8_t *msg = fuzz_dup(p, len);
    FUZZ_CHECK(wsc_stomp_obs_message(r->o, msg ? msg : (const uint8_t *)"", len,
                                     (tag & 3) == 0 ? 1 : 2, t, off) == 0);
    free(msg);
    off += len + 2;
    pop_all(r);
  }
  wsc_stomp_obs_end(r->o, t + 10, off);
  pop_all(r);
  int v = wsc_stomp_obs_version(r->o);
  FUZZ_CHECK(v == 10 || v == 11 || v == 12);
  uint64_t s2c = 0, c2s = 0, te = 0;
  bool hb = wsc_stomp_obs_heartbeats(r->o, &s2c, &c2s);
  bool err = wsc_stomp_obs_error_seen(r->o, &te);
  fuzz_put_u64(&r->tr, (uint64_t)v);
  fuzz_put_u64(&r->tr, hb ? s2c : UINT64_MAX);
  fuzz_put_u64(&r->tr, hb ? c2s : UINT64_MAX);
  fuzz_put_u64(&r->tr, err ? te : UINT64_MAX);
  for (size_t i = 0; i < r->res.nfindings; i++) {
    const wsc_finding *f = &r->res.findings[i];
    FUZZ_CHECK(f->rule && f->rule[0] && f->clause && f->clause[0] && f->message);
    FUZZ_CHECK(strncmp(f->rule, "stomp-", 6) == 0);
    FUZZ_CHECK(f->rx_offset <= off);
    fuzz_put_str(&r->tr, f->rule);
    fuzz_put_str(&r->tr, f->clause);
    fuzz_put_str(&r->tr, f->message);
    fuzz_put_u64(&r->tr, f->rx_offset);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const int versions[4] = {0, 10, 11, 12};
  static const uint64_t kept[4] = {0, 8, 64, 4096};
  static const int rt[4] = {10, 11, 12, 12};
  fuzz_in in = {data, size, 0};
  uint8_t o = fuzz_u8(&in);
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  wsc_stomp_obs_options opt;
  memset(&opt, 0, sizeof opt);
  opt.version = versions[o & 3];
  opt.max_kept = kept[(o >> 2) & 3];

  run a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.max_kept = b.max_kept = opt.max_kept ? opt.max_kept : UINT64_C(64) << 20;
  a.rt_version = b.rt_version = rt[(o >> 4) & 3];
  a.check = true;
  observe(&a, &opt, in, NULL);
  observe(&b, &opt, in, plan.progress ? &plan : NULL);
  FUZZ_CHECK(fuzz_same(&a.tr, &b.tr));
  for (run *r = &a; r; r = r == &a ? &b : NULL) {
    wsc_stomp_obs_free(r->o);
    wsc_result_free(&r->res);
    wsc_wirelog_free(&r->notes);
    wsref_buf_free(&r->tr);
  }
  return 0;
}
