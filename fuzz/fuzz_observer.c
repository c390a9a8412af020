/* The harness's strict observer (harness/observer.h): what wsconform makes of the bytes a
 * server under test sends. A broken or hostile server must give findings, never a crash, a
 * hang or a result that depends on how TCP cut the stream.
 *
 * Input: [options][chunk plan][server bytes]
 *   options bits 0-2 rsv_allowed, bit 3 frame_level, bits 4-5 max_kept (default 64 MiB, 0 -> 1,
 *   16, 4096 octets), bit 6: the stream starts with the handshake response head (parsed as the
 *   runner does, checked with wsc_observer_check_response against a fixed request offering
 *   subprotocols and permessage-deflate; the frames follow it), bit 7 unused.
 *
 * The frames are fed twice, into two observers: as one buffer, and in pieces whose sizes come
 * from the chunk plan, events popped after every piece. Both runs write a transcript (every
 * event's fields and kept payload, every finding's rule, clause, message and offset, whether
 * a frame was left partial); the transcripts must be equal. Along the way: kept payloads stay
 * within max_kept and are the prefix of the payload the SHA-256 covers; a text message with
 * no UTF-8 finding is valid UTF-8 (checked by the slow oracle in support/); finding offsets
 * lie inside the stream; every finding has a rule and a clause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "handshake/http.h"
#include "observer.h"
#include "result.h"
#include "support/common.h"

static const char request[] =
    "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";

static bool has_finding(const wsc_result *r, const char *rule) {
  for (size_t i = 0; i < r->nfindings; i++)
    if (strcmp(r->findings[i].rule, rule) == 0) return true;
  return false;
}

typedef struct run {
  wsc_observer obs;
  wsc_result res;
  wsref_buf tr;
  uint64_t base, end, max_kept;
} run;

static void pop_all(run *r) {
  wsc_event ev;
  while (wsc_observer_next(&r->obs, &ev)) {
    FUZZ_CHECK(ev.data_len <= ev.len);
    FUZZ_CHECK(ev.data_len <= r->max_kept);
    FUZZ_CHECK(ev.data_len == 0 || ev.data != NULL);
    if (ev.data_len < ev.len && ev.type != WSC_EV_ERROR) FUZZ_CHECK(ev.has_sha256);
    uint8_t rec[8] = {(uint8_t)ev.type, ev.opcode, ev.fin, ev.rsv, ev.has_sha256, 0, 0, 0};
    fuzz_put(&r->tr, rec, sizeof rec);
    fuzz_put_u64(&r->tr, ev.frames);
    fuzz_put_u64(&r->tr, ev.len);
    fuzz_put_u64(&r->tr, (uint64_t)(int64_t)ev.code);
    fuzz_put_u64(&r->tr, ev.data_len);
    fuzz_put(&r->tr, ev.data, ev.data_len);
    if (ev.has_sha256) fuzz_put(&r->tr, ev.sha256, sizeof ev.sha256);
    fuzz_put_str(&r->tr, ev.detail);
    if (ev.type == WSC_EV_CLOSE) FUZZ_CHECK(ev.code == -1 || (ev.code >= 0 && ev.code <= 65535));
    wsc_event_free(&ev);
  }
}

/* Feeds stream[0..n) at offset base, in one piece or as the plan says. */
static void observe(run *r, const wsc_observer_options *opt, const uint8_t *stream, size_t n,
                    fuzz_chunks *plan) {
  wsc_observer_init(&r->obs, opt, &r->res);
  wsc_observer_set_base(&r->obs, r->base);
  size_t pos = 0;
  do {
    size_t len = plan ? fuzz_chunks_next(plan, n - pos) : n - pos;
    uint8_t *piece = fuzz_dup(stream + pos, len); /* exactly its size, for ASan */
    FUZZ_CHECK(wsc_observer_feed(&r->obs, piece, len, 7) == 0);
    free(piece);
    pos += len;
    pop_all(r);
  } while (pos < n);
  fuzz_put(&r->tr, "P", 1);
  fuzz_put(&r->tr, wsc_observer_partial(&r->obs) ? "1" : "0", 1);
  for (size_t i = 0; i < r->res.nfindings; i++) {
    const wsc_finding *f = &r->res.findings[i];
    FUZZ_CHECK(f->rule && f->rule[0] && f->clause && f->clause[0] && f->message);
    FUZZ_CHECK(f->rx_offset <= r->end);
    fuzz_put_str(&r->tr, f->rule);
    fuzz_put_str(&r->tr, f->clause);
    fuzz_put_str(&r->tr, f->message);
    fuzz_put_u64(&r->tr, f->rx_offset);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint64_t kept[4] = {0, 16, 4096, 1};
  fuzz_in in = {data, size, 0};
  uint8_t o = fuzz_u8(&in);
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  wsc_observer_options opt;
  memset(&opt, 0, sizeof opt);
  opt.rsv_allowed = o & 7;
  opt.frame_level = (o & 8) != 0;
  opt.max_kept = kept[(o >> 4) & 3];
  const uint8_t *stream = fuzz_rest(&in);
  size_t n = fuzz_left(&in);

  uint64_t base = 0;
  if (o & 0x40) {
    /* The response head, as the runner reads it, then its checks. */
    wsc_result hres;
    memset(&hres, 0, sizeof hres);
    wsref_http_response rs;
    wsref_http_limits lim = {16384, 100};
    ssize_t k = wsref_http_parse_response((const char *)stream, n, &lim, &rs);
    if (k <= 0) return 0; /* no complete head: the runner never starts observing */
    wsc_observer_check_response(&hres, (const uint8_t *)request, sizeof request - 1, &rs, 7);
    for (size_t i = 0; i < hres.nfindings; i++) {
      const wsc_finding *f = &hres.findings[i];
      FUZZ_CHECK(f->rule && f->rule[0] && f->clause && f->clause[0] && f->message);
    }
    /* a response that is not even a 101 has nothing of RFC 6455 4.2.2 to break */
    if (rs.status != 101) FUZZ_CHECK(hres.nfindings == 0);
    /* the request offered chat and superchat: selecting just one of them is no finding */
    size_t pos = 0, cnt = 0;
    wsref_str t, first = {NULL, 0};
    while (wsref_http_next_token(rs.headers, rs.nheaders, "Sec-WebSocket-Protocol", &pos, &t))
      if (cnt++ == 0) first = t;
    if (cnt == 1 && ((first.n == 4 && strncasecmp(first.p, "chat", 4) == 0) ||
                     (first.n == 9 && strncasecmp(first.p, "superchat", 9) == 0)))
      FUZZ_CHECK(!has_finding(&hres, "subprotocol-not-offered"));
    wsc_result_free(&hres);
    base = (uint64_t)k;
    stream += k;
    n -= (size_t)k;
  }

  run a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  a.base = b.base = base;
  a.end = b.end = base + n;
  a.max_kept = b.max_kept = opt.max_kept ? opt.max_kept : WSC_OBSERVER_MAX_KEPT_DEFAULT;
  observe(&a, &opt, stream, n, NULL);
  observe(&b, &opt, stream, n, plan.progress ? &plan : NULL);
  FUZZ_CHECK(fuzz_same(&a.tr, &b.tr));

  /* Text messages kept whole, with no UTF-8 finding, are UTF-8 (by the slow oracle). */
  if (!opt.frame_level && !has_finding(&a.res, "text-invalid-utf8")) {
    wsc_observer chk;
    wsc_result cres;
    memset(&cres, 0, sizeof cres);
    wsc_observer_init(&chk, &opt, &cres);
    FUZZ_CHECK(wsc_observer_feed(&chk, stream, n, 7) == 0);
    wsc_event ev;
    while (wsc_observer_next(&chk, &ev)) {
      if (ev.type == WSC_EV_TEXT && ev.data_len == ev.len && ev.opcode == 1 && !ev.rsv)
        FUZZ_CHECK(fuzz_utf8_ok(ev.data, ev.data_len));
      wsc_event_free(&ev);
    }
    wsc_observer_free(&chk);
    wsc_result_free(&cres);
  }

  for (run *r = &a; r; r = r == &a ? &b : NULL) {
    wsc_observer_free(&r->obs);
    wsc_result_free(&r->res);
    wsref_buf_free(&r->tr);
  }
  return 0;
}
