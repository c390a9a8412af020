/* The mutation engine and the case writer (see fuzzmut.h). */
#include "fuzzmut.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/error.h"
#include "payload.h"
#include "stompwire.h"

/* ------------------------------------------------------------------------------------------
 * Randomness
 */

uint64_t wsc_mut_rand(uint64_t *state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t wsc_mut_iter_state(uint64_t seed, uint64_t iter) {
  uint64_t s = seed ^ 0x6A09E667F3BCC908ull;
  uint64_t a = wsc_mut_rand(&s);
  uint64_t t = iter ^ a;
  return wsc_mut_rand(&t) ^ seed;
}

static uint64_t rnd(uint64_t *s, uint64_t n) {
  return n ? wsc_mut_rand(s) % n : 0;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------------------------
 * Tables. Indexes into them are what mutations store, so they only ever grow at the end
 * (a finding's notes name the values anyway).
 */

static const uint64_t len_table[] = {0,
                                     1,
                                     2,
                                     125,
                                     126,
                                     127,
                                     65535,
                                     65536,
                                     1048576,
                                     1048577,
                                     16777216,
                                     0x7FFFFFFFull,
                                     0x80000000ull,
                                     0xFFFFFFFFull,
                                     0x100000000ull,
                                     0x7FFFFFFFFFFFFFFFull,
                                     0x8000000000000000ull,
                                     0xFFFFFFFFFFFFFFFFull};

static const uint64_t frag_table[] = {1, 2, 3, 7, 64, 125, 126, 1000};
static const uint64_t chop_table[] = {1, 2, 3, 5, 7, 13, 64, 1000};
static const uint64_t delay_table[] = {1000, 5000, 20000};
static const uint64_t sleep_table[] = {10000, 100000};
static const uint64_t extend_table[] = {1, 2, 3, 125, 126, 65536, 70000};

/* Sequences at and around the edges of RFC 3629: invalid ones first, valid edge ones after. */
static const struct {
  const char *b;
  size_t n;
} utf8_table[] = {
    {"\xc0\x80", 2},             /* overlong NUL */
    {"\xc1\xbf", 2},             /* overlong */
    {"\xe0\x80\xaf", 3},         /* overlong '/' */
    {"\xf0\x80\x80\xaf", 4},     /* overlong '/' */
    {"\xed\xa0\x80", 3},         /* U+D800 */
    {"\xed\xbf\xbf", 3},         /* U+DFFF */
    {"\xf4\x90\x80\x80", 4},     /* above U+10FFFF */
    {"\xf8\x88\x80\x80\x80", 5}, /* 5-octet form */
    {"\xfe", 1},
    {"\xff", 1},
    {"\x80", 1},             /* lone continuation */
    {"\xc3", 1},             /* truncated 2-octet */
    {"\xe2\x82", 2},         /* truncated 3-octet */
    {"\xf0\x9f\x98", 3},     /* truncated 4-octet */
    {"\xef\xbf\xbe", 3},     /* U+FFFE: valid */
    {"\xef\xbb\xbf", 3},     /* BOM: valid */
    {"\xf4\x8f\xbf\xbf", 4}, /* U+10FFFF: valid */
    {"\xf0\x9f\x98\x80", 4}, /* U+1F600: valid */
    {"\xdf\xbf", 2},         /* U+07FF: valid */
    {"\x00", 1},             /* NUL: valid */
};

static const uint8_t interesting_bytes[] = {0x00, 0xFF, 0x7F, 0x80, 0xC0, 0xED, 0xF4, 0xF8, '\n'};

/* Crafted frames inserted before a step, as case-language text after the connection name.
 * Each is valid on any connection; the STOMP ones are drawn only for STOMP connections. */
static const char *const ws_templates[] = {
    "send cont \"x\"",
    "send ping payload=repeat(\"p\", 126)",
    "send ping \"p\" fin=0",
    "send close payload=hex\"03\"",
    "send close 1005",
    "send close 1000 \"\\xff\"",
    "send op=3 \"r\"",
    "send op=11",
    "send text hex\"eda080\"",
    "send text \"x\" fin=0",
    "send pong \"unsolicited\"",
    "send binary \"\" len=0x7fffffffffffffff",
    "send binary hex\"00\" len=0x8000000000000000",
    "send text \"x\" mask=off",
    NULL, /* send raw: random octets from the parameter */
    "send text payload=repeat(\"*\", 1000) frag=1",
    "send binary payload=repeat(hex\"fe\", 1048577)",
    "send text \"\" rsv=4",
};
#define RAW_TEMPLATE 14u

static const char *const stomp_templates[] = {
    "stomp FOO",
    "heartbeat 3",
    "SEND body=\"no destination\"",
    "CONNECT accept-version:1.2 host:fuzz",
    "DISCONNECT receipt:fz-r",
    "SUBSCRIBE id:fz destination:/queue/fz-$run ack:client",
    "ACK id:nonexistent",
    "stomp \"SEND\\r\" destination:/queue/fz-$run",
    "SEND destination:/queue/fz-$run content-length:99999999 body=\"x\"",
    "SUBSCRIBE",
    "COMMIT transaction:nonexistent",
    "send binary hex\"00\"",
    "send text \"\"",
    "SEND destination:/queue/fz-$run body=repeat(\"b\", 70000)",
};

static const char *const hs_names[] = {
    "Host",
    "Upgrade",
    "Connection",
    "Sec-WebSocket-Key",
    "Sec-WebSocket-Version",
    "Sec-WebSocket-Protocol",
    "Sec-WebSocket-Extensions",
    "Origin",
    "Content-Length",
    "Transfer-Encoding",
    "Cookie",
    "X-Fuzz",
};
#define HS_CORE_NAMES 5u

/* Values; "@N" is N octets of 'a' (written out when rendering). */
static const char *const hs_values[] = {
    "",
    "13",
    "8",
    "0",
    "-1",
    "99999999999999999999",
    "websocket",
    "WebSocket, h2c",
    "Upgrade, keep-alive",
    "keep-alive",
    "dGhlIHNhbXBsZSBub25jZQ==",
    "AAAAAAAAAAAAAAAAAAAAAA==",
    "not base64 !!",
    "permessage-deflate; client_max_window_bits",
    "permessage-deflate; server_max_window_bits=0",
    "permessage-deflate; client_max_window_bits=16; server_no_context_takeover=1",
    "x-webkit-deflate-frame",
    "chat, superchat, chat",
    ",,,",
    "v12.stomp, v11.stomp",
    "a\r\nX-Injected: 1",
    "\t13\t",
    "\xc3\xa9",
    "chunked",
    "@8192",
    "@70000",
};

/* Header names whose case HS_CASE changes, with the value it adds back. */
static const struct {
  const char *name, *value;
} hs_case_table[] = {
    {"Upgrade", "websocket"},
    {"Connection", "Upgrade"},
    {"Sec-WebSocket-Version", "13"},
    {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
};

static const char *const hs_methods[] = {"POST", "HEAD", "get", "OPTIONS", "CONNECT", "", "@1000"};
static const char *const hs_targets[] = {
    "*", "/../../../etc/passwd", "/%zz", "/%00", "http://example.com/echo", "//", "", "/@8192",
};
static const char *const hs_versions[] = {
    "HTTP/1.0", "HTTP/2", "HTTP/1.2", "HTTP/1", "http/1.1", "", "HTTP/9.9", "HTTP/1.1\r\nX: y",
};
static const uint64_t hs_many_counts[] = {50, 200, 1000};
static const uint64_t hs_many_sizes[] = {1, 100, 4000};
static const uint64_t hs_body_sizes[] = {1, 100, 70000};
static const uint64_t hs_chops[] = {1, 2, 7, 64};
static const uint64_t hs_delays[] = {0, 1000, 5000};

/* STOMP commands; "~lower", "~cut" and "~space" derive from the frame's own command. */
static const char *const st_commands[] = {
    "~lower", "~cut", "~space", "FOO", "", "CONNECTED", "MESSAGE", "SEND\r", "@300",
};
static const char *const st_hdr_names[] = {
    "content-length", "content-type", "receipt",        "id",   "destination",  "ack",
    "transaction",    "heart-beat",   "accept-version", "host", "subscription", "x-fuzz",
};
static const char *const st_values[] = {
    "",
    "a:b",
    "a\nb",
    "a\\b",
    "\\x",
    "\r",
    "\xff\xfe",
    "\xc3\xa9",
    "-1",
    "0",
    "99999999999999999999",
    "1,1",
    "-5,abc",
    " padded ",
    "@1024",
    "@70000",
};
static const char *const st_terms[] = {"", "X", "\0\0", "\n"};

/* ------------------------------------------------------------------------------------------
 * Names and descriptions
 */

static const char *const kind_names[WSC_MUT_KIND_COUNT] = {
    [WSC_MUT_DROP_STEP] = "drop-step",
    [WSC_MUT_DUP_STEP] = "dup-step",
    [WSC_MUT_INSERT] = "insert",
    [WSC_MUT_SLEEP] = "sleep",
    [WSC_MUT_FIN] = "fin",
    [WSC_MUT_RSV] = "rsv",
    [WSC_MUT_OPCODE] = "opcode",
    [WSC_MUT_MASK] = "mask",
    [WSC_MUT_LEN] = "len",
    [WSC_MUT_LENFORM] = "lenform",
    [WSC_MUT_FRAG] = "frag",
    [WSC_MUT_BYTES] = "bytes",
    [WSC_MUT_UTF8] = "utf8",
    [WSC_MUT_TRUNC] = "trunc",
    [WSC_MUT_EXTEND] = "extend",
    [WSC_MUT_CHOP] = "chop",
    [WSC_MUT_SPLIT] = "split",
    [WSC_MUT_DELAY] = "delay",
    [WSC_MUT_HS_REMOVE] = "hs-remove",
    [WSC_MUT_HS_SET] = "hs-set",
    [WSC_MUT_HS_ADD] = "hs-add",
    [WSC_MUT_HS_CASE] = "hs-case",
    [WSC_MUT_HS_MANY] = "hs-many",
    [WSC_MUT_HS_METHOD] = "hs-method",
    [WSC_MUT_HS_TARGET] = "hs-target",
    [WSC_MUT_HS_VERSION] = "hs-version",
    [WSC_MUT_HS_BODY] = "hs-body",
    [WSC_MUT_HS_WRITE] = "hs-write",
    [WSC_MUT_ST_COMMAND] = "stomp-command",
    [WSC_MUT_ST_HDR_DROP] = "stomp-header-drop",
    [WSC_MUT_ST_HDR_DUP] = "stomp-header-dup",
    [WSC_MUT_ST_HDR_VALUE] = "stomp-header-value",
    [WSC_MUT_ST_HDR_ADD] = "stomp-header-add",
    [WSC_MUT_ST_CLEN] = "stomp-content-length",
    [WSC_MUT_ST_TERM] = "stomp-terminator",
    [WSC_MUT_ST_ESCAPE] = "stomp-escape",
    [WSC_MUT_ST_EOL] = "stomp-eol",
    [WSC_MUT_ST_MSG] = "stomp-messages",
};

const char *wsc_mut_kind_name(enum wsc_mut_kind k) {
  return (unsigned)k < WSC_MUT_KIND_COUNT && kind_names[k] ? kind_names[k] : "?";
}

static bool is_hs_kind(enum wsc_mut_kind k) {
  return k >= WSC_MUT_HS_REMOVE && k <= WSC_MUT_HS_WRITE;
}

/* A table value for notes: "@N" spelled out, control octets escaped. */
static void value_desc(char *out, size_t cap, const char *v, size_t vn) {
  if (vn > 1 && v[0] == '@') {
    snprintf(out, cap, "%s octets of 'a'", v + 1);
    return;
  }
  size_t k = 0;
  if (cap < 8) {
    if (cap) out[0] = 0;
    return;
  }
  out[k++] = '"';
  for (size_t i = 0; i < vn && k + 6 < cap; i++) {
    unsigned char ch = (unsigned char)v[i];
    if (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\')
      out[k++] = (char)ch;
    else
      k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
  }
  out[k++] = '"';
  out[k] = 0;
}

void wsc_mut_describe(const struct wsc_case *c, const struct wsc_mutation *m, char *out,
                      size_t cap) {
  char where[96] = "";
  if (!is_hs_kind(m->kind)) {
    if (m->step < c->nsteps)
      snprintf(where, sizeof where, "step %zu (%s, line %d): ", m->step + 1,
               wsc_step_kind_name(c->steps[m->step].kind), c->steps[m->step].loc.line);
    else
      snprintf(where, sizeof where, "after the last step: ");
  } else {
    snprintf(where, sizeof where, "handshake: ");
  }
  char v[128];
  const char *nm = wsc_mut_kind_name(m->kind);
  unsigned long long a = (unsigned long long)m->a, b = (unsigned long long)m->b;
  switch (m->kind) {
    case WSC_MUT_INSERT:
      if (m->a >= 1000 && m->a - 1000 < NELEM(stomp_templates))
        snprintf(out, cap, "%sinsert `%s`", where, stomp_templates[m->a - 1000]);
      else if (m->a == RAW_TEMPLATE)
        snprintf(out, cap, "%sinsert random raw octets (parameter %llu)", where, b);
      else if (m->a < NELEM(ws_templates))
        snprintf(out, cap, "%sinsert `%s`", where, ws_templates[m->a]);
      else
        snprintf(out, cap, "%sinsert ?", where);
      return;
    case WSC_MUT_SLEEP:
    case WSC_MUT_DELAY:
      snprintf(out, cap, "%s%s %llu us", where, nm, a);
      return;
    case WSC_MUT_MASK:
      if (m->a)
        snprintf(out, cap, "%smask key=%08llx", where, b & 0xFFFFFFFFull);
      else
        snprintf(out, cap, "%smask=off", where);
      return;
    case WSC_MUT_FIN:
    case WSC_MUT_DROP_STEP:
    case WSC_MUT_DUP_STEP:
      snprintf(out, cap, "%s%s", where, nm);
      return;
    case WSC_MUT_UTF8:
      value_desc(v, sizeof v, utf8_table[m->a % NELEM(utf8_table)].b,
                 utf8_table[m->a % NELEM(utf8_table)].n);
      snprintf(out, cap, "%sutf8 %s inserted", where, v);
      return;
    case WSC_MUT_SPLIT:
      snprintf(out, cap, "%ssplit=%llu%s%llu", where, a, b > a ? "," : "", b > a ? b : 0ull);
      if (b <= a) snprintf(out, cap, "%ssplit=%llu", where, a);
      return;
    case WSC_MUT_HS_REMOVE:
      snprintf(out, cap, "%sremove %s", where, hs_names[m->a % NELEM(hs_names)]);
      return;
    case WSC_MUT_HS_SET:
    case WSC_MUT_HS_ADD: {
      const char *val = hs_values[m->b % NELEM(hs_values)];
      value_desc(v, sizeof v, val, strlen(val));
      snprintf(out, cap, "%s%s %s: %s", where, m->kind == WSC_MUT_HS_SET ? "set" : "add",
               hs_names[m->a % NELEM(hs_names)], v);
      return;
    }
    case WSC_MUT_HS_CASE:
      snprintf(out, cap, "%sname case of %s changed", where,
               hs_case_table[m->a % NELEM(hs_case_table)].name);
      return;
    case WSC_MUT_HS_MANY:
      snprintf(out, cap, "%s%llu more headers of %llu octets", where,
               (unsigned long long)hs_many_counts[m->a % NELEM(hs_many_counts)],
               (unsigned long long)hs_many_sizes[m->b % NELEM(hs_many_sizes)]);
      return;
    case WSC_MUT_HS_METHOD:
    case WSC_MUT_HS_TARGET:
    case WSC_MUT_HS_VERSION: {
      const char *val = m->kind == WSC_MUT_HS_METHOD   ? hs_methods[m->a % NELEM(hs_methods)]
                        : m->kind == WSC_MUT_HS_TARGET ? hs_targets[m->a % NELEM(hs_targets)]
                                                       : hs_versions[m->a % NELEM(hs_versions)];
      value_desc(v, sizeof v, val, strlen(val));
      snprintf(out, cap, "%s%s %s", where, nm + 3, v);
      return;
    }
    case WSC_MUT_HS_BODY:
      snprintf(out, cap, "%sbody of %llu octets%s", where,
               (unsigned long long)hs_body_sizes[m->a % NELEM(hs_body_sizes)],
               m->b % 3 == 0   ? ""
               : m->b % 3 == 1 ? " with Content-Length"
                               : " with a wrong Content-Length");
      return;
    case WSC_MUT_HS_WRITE:
      snprintf(out, cap, "%swritten chop=%llu delay=%llu us", where,
               (unsigned long long)hs_chops[m->a % NELEM(hs_chops)],
               (unsigned long long)hs_delays[m->b % NELEM(hs_delays)]);
      return;
    case WSC_MUT_ST_COMMAND: {
      const char *val = st_commands[m->a % NELEM(st_commands)];
      value_desc(v, sizeof v, val, strlen(val));
      snprintf(out, cap, "%scommand %s", where, v);
      return;
    }
    case WSC_MUT_ST_HDR_VALUE:
    case WSC_MUT_ST_HDR_ADD: {
      const char *val = st_values[m->b % NELEM(st_values)];
      value_desc(v, sizeof v, val, strlen(val));
      if (m->kind == WSC_MUT_ST_HDR_ADD)
        snprintf(out, cap, "%sheader %s:%s added", where, st_hdr_names[m->a % NELEM(st_hdr_names)],
                 v);
      else
        snprintf(out, cap, "%sheader #%llu value %s", where, a, v);
      return;
    }
    case WSC_MUT_ST_TERM: {
      const char *val = st_terms[m->a % NELEM(st_terms)];
      value_desc(v, sizeof v, val, m->a % NELEM(st_terms) == 2 ? 2 : strlen(val));
      snprintf(out, cap, "%sterminator %s", where, v);
      return;
    }
    default:
      snprintf(out, cap, "%s%s a=%llu b=%llu", where, nm, a, b);
      return;
  }
}

/* ------------------------------------------------------------------------------------------
 * What each step allows
 */

/* Steps the parser generated from a `conn ... connect=` line (CONNECT and expect CONNECTED):
 * they are written back as that option, not as steps. */
static bool is_generated(const struct wsc_case *c, size_t i) {
  const struct wsc_step *st = &c->steps[i];
  for (size_t k = 0; k < c->nconns; k++) {
    const struct wsc_conn_decl *d = &c->conns[k];
    if (!d->name || !d->connect) continue;
    if (d->loc.line == st->loc.line && d->loc.file == st->loc.file) return true;
  }
  return false;
}

static bool payload_plain(const struct wsc_payload *p, uint64_t max, uint64_t *len) {
  if (!p || wsc_payload_has_vars(p)) return false;
  uint64_t n;
  if (wsc_payload_length(p, NULL, &n) != 0 || n > max) return false;
  if (len) *len = n;
  return true;
}

enum {
  CAP_FRAME = 1,
  CAP_PAYLOAD = 2,
  CAP_WRITE = 4,
  CAP_STOMP = 8,
  CAP_MSG = 16,
  CAP_DUP = 32,
  CAP_DROP = 64,
  CAP_HEARTBEAT = 128,
};

static unsigned caps_of(const struct wsc_case *c, size_t i, uint64_t max_payload) {
  if (is_generated(c, i)) return 0;
  const struct wsc_step *st = &c->steps[i];
  unsigned k = 0;
  switch (st->kind) {
    case WSC_STEP_SEND:
      k = CAP_FRAME | CAP_DUP | CAP_DROP;
      if (payload_plain(st->frame.payload, max_payload, NULL)) k |= CAP_PAYLOAD;
      if (!st->write.coalesce) k |= CAP_WRITE;
      break;
    case WSC_STEP_SEND_RAW:
      k = CAP_DUP | CAP_DROP;
      if (payload_plain(st->raw, max_payload, NULL)) k |= CAP_PAYLOAD;
      if (!st->write.coalesce) k |= CAP_WRITE;
      break;
    case WSC_STEP_FLUSH:
      k = CAP_WRITE;
      break;
    case WSC_STEP_STOMP:
      k = CAP_DUP | CAP_DROP;
      if (st->stomp.heartbeat) {
        k |= CAP_HEARTBEAT;
      } else {
        k |= CAP_STOMP;
        if (!st->stomp.body || payload_plain(st->stomp.body, max_payload, NULL)) k |= CAP_PAYLOAD;
      }
      if (!st->coalesce) k |= CAP_MSG;
      if (!st->coalesce && !st->write.coalesce) k |= CAP_WRITE;
      break;
    case WSC_STEP_STOMP_FLUSH:
      k = CAP_MSG;
      if (!st->write.coalesce) k |= CAP_WRITE;
      break;
    case WSC_STEP_CAPTURE:
      k = 0; /* later steps use the name */
      break;
    default:
      k = CAP_DROP;
      break;
  }
  return k;
}

/* Does the case expect its handshake to upgrade? Otherwise its steps never run. */
static bool expects_upgrade(const struct wsc_case *c) {
  for (size_t i = 0; i < c->hs.nexpects; i++) {
    const struct wsc_hs_expect *e = &c->hs.expects[i];
    if (e->kind == WSC_HSX_FAIL && e->miss_grade == WSC_GRADE_FAIL) return false;
    if (e->kind == WSC_HSX_STATUS && e->miss_grade == WSC_GRADE_FAIL) {
      bool has101 = false;
      for (size_t k = 0; k < e->nstatuses; k++)
        has101 |= e->statuses[k].lo <= 101 && e->statuses[k].hi >= 101;
      if (!has101) return false;
    }
  }
  return true;
}

/* Does the case send the runner's default request? Its edits would apply to a probe
 * connection too (a body, a pipelined frame, a raw request with frames behind it). */
static bool default_request(const struct wsc_case *c) {
  const struct wsc_handshake *h = &c->hs;
  return !h->raw && !h->nedits && !h->body && !h->method && !h->target && !h->version &&
         !h->pipeline;
}

bool wsc_mut_family_ok(const struct wsc_case *c, enum wsc_mut_family fam) {
  if (fam == WSC_MUT_STEPS) return true;
  size_t named = 0;
  for (size_t i = 0; i < c->nconns; i++) named += c->conns[i].name != NULL;
  return named <= 1 && !c->hs.raw;
}

/* ------------------------------------------------------------------------------------------
 * Generation
 */

static void gen_step_mutation(const struct wsc_case *c, uint64_t *rng, struct wsc_mutation *m) {
  memset(m, 0, sizeof *m);
  size_t targets[256];
  unsigned tcaps[256];
  size_t nt = 0;
  for (size_t i = 0; i < c->nsteps; i++) {
    unsigned k = caps_of(c, i, WSC_MUT_MAX_PAYLOAD_DEFAULT);
    if (!(k & ~(unsigned)CAP_DROP)) continue;
    if (nt < NELEM(targets)) {
      targets[nt] = i;
      tcaps[nt++] = k;
    } else {
      /* reservoir: every step keeps an equal chance in long cases */
      uint64_t j = rnd(rng, i + 1);
      if (j < NELEM(targets)) {
        targets[j] = i;
        tcaps[j] = k;
      }
    }
  }
  uint64_t r = rnd(rng, 100);
  if (nt == 0 || r < 10) {
    m->kind = WSC_MUT_INSERT;
    m->step = (size_t)rnd(rng, c->nsteps + 1);
    size_t conn = m->step < c->nsteps ? c->steps[m->step].conn : 0;
    bool stomp = conn < c->nconns && c->conns[conn].stomp;
    if (stomp && rnd(rng, 2))
      m->a = 1000 + rnd(rng, NELEM(stomp_templates));
    else
      m->a = rnd(rng, NELEM(ws_templates));
    m->b = wsc_mut_rand(rng);
    return;
  }
  if (r < 13) {
    m->kind = WSC_MUT_SLEEP;
    m->step = (size_t)rnd(rng, c->nsteps + 1);
    m->a = sleep_table[rnd(rng, NELEM(sleep_table))];
    return;
  }
  size_t ti = (size_t)rnd(rng, nt);
  size_t si = targets[ti];
  unsigned k = tcaps[ti];
  const struct wsc_step *st = &c->steps[si];
  m->step = si;
  enum wsc_mut_kind pool[64];
  size_t np = 0;
#define ADD(kind, weight)                                                          \
  do {                                                                             \
    for (int w_ = 0; w_ < (weight) && np < NELEM(pool); w_++) pool[np++] = (kind); \
  } while (0)
  if (k & CAP_FRAME) {
    ADD(WSC_MUT_FIN, 2);
    ADD(WSC_MUT_RSV, 3);
    ADD(WSC_MUT_OPCODE, 3);
    ADD(WSC_MUT_MASK, 2);
    ADD(WSC_MUT_LEN, 4);
    ADD(WSC_MUT_LENFORM, 2);
    ADD(WSC_MUT_FRAG, 2);
  }
  if (k & CAP_PAYLOAD) {
    ADD(WSC_MUT_BYTES, 3);
    ADD(WSC_MUT_UTF8, 3);
    ADD(WSC_MUT_TRUNC, 1);
    ADD(WSC_MUT_EXTEND, 1);
  }
  if (k & CAP_WRITE) {
    ADD(WSC_MUT_CHOP, 2);
    ADD(WSC_MUT_SPLIT, 2);
    ADD(WSC_MUT_DELAY, 1);
  }
  if (k & CAP_STOMP) {
    ADD(WSC_MUT_ST_COMMAND, 2);
    ADD(WSC_MUT_ST_HDR_DROP, 2);
    ADD(WSC_MUT_ST_HDR_DUP, 1);
    ADD(WSC_MUT_ST_HDR_VALUE, 3);
    ADD(WSC_MUT_ST_HDR_ADD, 2);
    ADD(WSC_MUT_ST_CLEN, 2);
    ADD(WSC_MUT_ST_TERM, 1);
    ADD(WSC_MUT_ST_ESCAPE, 1);
    ADD(WSC_MUT_ST_EOL, 1);
  }
  if (k & CAP_HEARTBEAT) ADD(WSC_MUT_ST_EOL, 1);
  if (k & CAP_MSG) ADD(WSC_MUT_ST_MSG, 2);
  if (k & CAP_DUP) ADD(WSC_MUT_DUP_STEP, 1);
  if (k & CAP_DROP) ADD(WSC_MUT_DROP_STEP, 1);
#undef ADD
  m->kind = pool[rnd(rng, np)];
  uint64_t plen = 0;
  const struct wsc_payload *pl = st->kind == WSC_STEP_SEND       ? st->frame.payload
                                 : st->kind == WSC_STEP_SEND_RAW ? st->raw
                                 : st->kind == WSC_STEP_STOMP    ? st->stomp.body
                                                                 : NULL;
  if (pl) payload_plain(pl, UINT64_MAX, &plen);
  switch (m->kind) {
    case WSC_MUT_RSV:
      m->a = 1 + rnd(rng, 7);
      break;
    case WSC_MUT_OPCODE:
      m->a = rnd(rng, 16);
      break;
    case WSC_MUT_MASK:
      m->a = rnd(rng, 2);
      m->b = wsc_mut_rand(rng) & 0xFFFFFFFFull;
      break;
    case WSC_MUT_LEN: {
      uint64_t r2 = rnd(rng, NELEM(len_table) + 2);
      if (r2 < NELEM(len_table))
        m->a = len_table[r2];
      else
        m->a = r2 == NELEM(len_table) ? (plen ? plen - 1 : 1) : plen + 1;
      break;
    }
    case WSC_MUT_LENFORM:
      m->a = rnd(rng, 2) ? 64 : 16;
      break;
    case WSC_MUT_FRAG:
      m->a = frag_table[rnd(rng, NELEM(frag_table))];
      break;
    case WSC_MUT_BYTES:
      m->a = 1 + rnd(rng, 4);
      m->b = wsc_mut_rand(rng);
      break;
    case WSC_MUT_UTF8:
      m->a = rnd(rng, NELEM(utf8_table));
      m->b = wsc_mut_rand(rng);
      break;
    case WSC_MUT_TRUNC:
      m->a = rnd(rng, plen + 1);
      break;
    case WSC_MUT_EXTEND:
      m->a = extend_table[rnd(rng, NELEM(extend_table))];
      m->b = wsc_mut_rand(rng);
      break;
    case WSC_MUT_CHOP:
      m->a = chop_table[rnd(rng, NELEM(chop_table))];
      break;
    case WSC_MUT_SPLIT:
      m->a = 1 + rnd(rng, 16);
      m->b = rnd(rng, 2) ? m->a + 1 + rnd(rng, 64) : 0;
      break;
    case WSC_MUT_DELAY:
      m->a = delay_table[rnd(rng, NELEM(delay_table))];
      break;
    case WSC_MUT_ST_COMMAND:
      m->a = rnd(rng, NELEM(st_commands));
      break;
    case WSC_MUT_ST_HDR_DROP:
    case WSC_MUT_ST_HDR_DUP:
      m->a = wsc_mut_rand(rng) & 0xFFFF;
      break;
    case WSC_MUT_ST_HDR_VALUE:
      m->a = wsc_mut_rand(rng) & 0xFFFF;
      m->b = rnd(rng, NELEM(st_values));
      break;
    case WSC_MUT_ST_HDR_ADD:
      m->a = rnd(rng, NELEM(st_hdr_names));
      m->b = rnd(rng, NELEM(st_values));
      break;
    case WSC_MUT_ST_CLEN:
      m->a = rnd(rng, 4);
      break;
    case WSC_MUT_ST_TERM:
      m->a = rnd(rng, NELEM(st_terms));
      break;
    case WSC_MUT_ST_ESCAPE:
      m->a = rnd(rng, 3);
      break;
    case WSC_MUT_ST_EOL:
      m->a = rnd(rng, 2);
      m->b = rnd(rng, 4);
      break;
    case WSC_MUT_ST_MSG:
      m->a = rnd(rng, 5);
      m->b = wsc_mut_rand(rng) & 0xFFFFFF;
      break;
    default:
      break;
  }
}

static void gen_hs_mutation(uint64_t *rng, struct wsc_mutation *m) {
  static const struct {
    enum wsc_mut_kind k;
    int w;
  } weights[] = {
      {WSC_MUT_HS_REMOVE, 15}, {WSC_MUT_HS_SET, 25},    {WSC_MUT_HS_ADD, 10},
      {WSC_MUT_HS_CASE, 5},    {WSC_MUT_HS_MANY, 4},    {WSC_MUT_HS_METHOD, 8},
      {WSC_MUT_HS_TARGET, 8},  {WSC_MUT_HS_VERSION, 8}, {WSC_MUT_HS_BODY, 6},
      {WSC_MUT_HS_WRITE, 8},
  };
  int total = 0;
  for (size_t i = 0; i < NELEM(weights); i++) total += weights[i].w;
  int r = (int)rnd(rng, (uint64_t)total);
  size_t i = 0;
  for (; i + 1 < NELEM(weights) && r >= weights[i].w; i++) r -= weights[i].w;
  memset(m, 0, sizeof *m);
  m->kind = weights[i].k;
  switch (m->kind) {
    case WSC_MUT_HS_REMOVE:
      m->a = rnd(rng, 3) ? rnd(rng, HS_CORE_NAMES) : rnd(rng, NELEM(hs_names));
      break;
    case WSC_MUT_HS_SET:
    case WSC_MUT_HS_ADD:
      m->a = rnd(rng, NELEM(hs_names));
      m->b = rnd(rng, NELEM(hs_values));
      break;
    case WSC_MUT_HS_CASE:
      m->a = rnd(rng, NELEM(hs_case_table));
      m->b = wsc_mut_rand(rng) & 0xFFFF;
      break;
    case WSC_MUT_HS_MANY:
      m->a = rnd(rng, NELEM(hs_many_counts));
      m->b = rnd(rng, NELEM(hs_many_sizes));
      break;
    case WSC_MUT_HS_METHOD:
      m->a = rnd(rng, NELEM(hs_methods));
      break;
    case WSC_MUT_HS_TARGET:
      m->a = rnd(rng, NELEM(hs_targets));
      break;
    case WSC_MUT_HS_VERSION:
      m->a = rnd(rng, NELEM(hs_versions));
      break;
    case WSC_MUT_HS_BODY:
      m->a = rnd(rng, NELEM(hs_body_sizes));
      m->b = rnd(rng, 3);
      break;
    case WSC_MUT_HS_WRITE:
      m->a = rnd(rng, NELEM(hs_chops));
      m->b = rnd(rng, NELEM(hs_delays));
      break;
    default:
      break;
  }
}

size_t wsc_mut_generate(const struct wsc_case *c, uint64_t *rng, enum wsc_mut_family *fam,
                        struct wsc_mutation *out, size_t cap) {
  if (cap > WSC_MUT_MAX) cap = WSC_MUT_MAX;
  if (cap == 0) return 0;
  enum wsc_mut_family f = WSC_MUT_STEPS;
  bool hs_ok = wsc_mut_family_ok(c, WSC_MUT_HANDSHAKE);
  /* a case whose upgrade is refused runs no step: only its request is worth mutating */
  if (hs_ok && (rnd(rng, 5) == 0 || !expects_upgrade(c))) f = WSC_MUT_HANDSHAKE;
  *fam = f;
  size_t n = 1;
  uint64_t r = wsc_mut_rand(rng);
  while (n < cap && (r & 1)) {
    n++;
    r >>= 1;
  }
  for (size_t i = 0; i < n; i++) {
    if (f == WSC_MUT_HANDSHAKE)
      gen_hs_mutation(rng, &out[i]);
    else
      gen_step_mutation(c, rng, &out[i]);
  }
  return n;
}

/* ------------------------------------------------------------------------------------------
 * Writing text
 */

typedef struct rend {
  wsref_buf out;
  int lines; /* complete lines written */
  int rc;
  char *err;
  size_t err_len;
  const struct wsc_case *c;
  const struct wsc_render_opts *o;
  const struct wsc_mutation *m;
  size_t nm;
  bool *applied;

  /* connection names as written; prefix: steps name their connection */
  const char **cname;
  size_t ncname;
  bool prefix;
  const char *probe;
  const char *conn0_rename; /* the case's only connection, named for the probe */

  /* the `write` policy in force in the text */
  struct wsc_write pol;
  bool pending; /* TCP-coalesced bytes not yet flushed */
  bool spack;   /* `stomp coalesce` open */
  size_t spack_conn;

  uint64_t budget_us;
  uint64_t item_us;     /* campaign form: the wait of each expectation */
  uint64_t request_len; /* an estimate of the request's size, for its write's delays */
} rend;

static void fail(rend *r, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(rend *r, int rc, const char *fmt, ...) {
  if (r->rc) return;
  r->rc = rc;
  if (r->err && r->err_len) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, r->err_len, fmt, ap);
    va_end(ap);
  }
}

static void put(rend *r, const void *p, size_t n) {
  if (r->rc) return;
  if (wsref_buf_append(&r->out, p, n)) {
    fail(r, WSREF_E_NOMEM, "out of memory");
    return;
  }
  const char *s = p;
  for (size_t i = 0; i < n; i++) r->lines += s[i] == '\n';
}

static void puts_(rend *r, const char *s) {
  put(r, s, strlen(s));
}

static void putf(rend *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(rend *r, const char *fmt, ...) {
  char small[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(small, sizeof small, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n < sizeof small) {
    put(r, small, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    fail(r, WSREF_E_NOMEM, "out of memory");
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  put(r, big, (size_t)n);
  free(big);
}

static void put_dur(rend *r, uint64_t us) {
  if (us && us % 1000000 == 0)
    putf(r, "%llus", (unsigned long long)(us / 1000000));
  else if (us % 1000 == 0)
    putf(r, "%llums", (unsigned long long)(us / 1000));
  else
    putf(r, "%lluus", (unsigned long long)us);
}

static bool is_ident_start(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || ch == '_';
}
static bool is_ident_char(char ch) {
  return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

/* Would the parser read a `{name}` starting at s[i] as an each/loop variable? */
static bool brace_var_at(const char *s, size_t n, size_t i) {
  if (i + 2 >= n || s[i] != '{' || !is_ident_start(s[i + 1])) return false;
  if (i >= 2 && s[i - 1] == 'u' && s[i - 2] == '\\') return false;
  size_t j = i + 1;
  while (j < n && is_ident_char(s[j])) j++;
  return j < n && s[j] == '}';
}

static bool has_brace_var(const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (brace_var_at(s, n, i)) return true;
  return false;
}

/* A payload string literal: "..." with \xHH for anything but plain printable ASCII (and '{',
 * so that no {name} is ever read as a variable). */
static void put_qstr(rend *r, const uint8_t *s, size_t n) {
  wsref_buf *b = &r->out;
  if (r->rc) return;
  /* worst case 4 octets per input octet */
  uint8_t *d = wsref_buf_reserve(b, n * 4 + 2);
  if (!d) {
    fail(r, WSREF_E_NOMEM, "out of memory");
    return;
  }
  size_t k = 0;
  d[k++] = '"';
  static const char hx[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    uint8_t ch = s[i];
    if (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\' && ch != '{') {
      d[k++] = ch;
    } else if (ch == '\n') {
      d[k++] = '\\';
      d[k++] = 'n';
    } else if (ch == '\r') {
      d[k++] = '\\';
      d[k++] = 'r';
    } else if (ch == '\t') {
      d[k++] = '\\';
      d[k++] = 't';
    } else if (ch == '"' || ch == '\\') {
      d[k++] = '\\';
      d[k++] = ch;
    } else {
      d[k++] = '\\';
      d[k++] = 'x';
      d[k++] = (uint8_t)hx[ch >> 4];
      d[k++] = (uint8_t)hx[ch & 15];
    }
  }
  d[k++] = '"';
  wsref_buf_commit(b, k);
}

static void put_hex(rend *r, const uint8_t *s, size_t n) {
  static const char hx[] = "0123456789abcdef";
  if (r->rc) return;
  uint8_t *d = wsref_buf_reserve(&r->out, n * 2 + 5);
  if (!d) {
    fail(r, WSREF_E_NOMEM, "out of memory");
    return;
  }
  size_t k = 0;
  memcpy(d, "hex\"", 4);
  k = 4;
  for (size_t i = 0; i < n; i++) {
    d[k++] = (uint8_t)hx[s[i] >> 4];
    d[k++] = (uint8_t)hx[s[i] & 15];
  }
  d[k++] = '"';
  wsref_buf_commit(&r->out, k);
}

static bool printable(uint8_t ch) {
  return ch >= 0x20 && ch < 0x7F;
}

/* Bytes as a payload expression: runs as repeat(), text as strings, binary as hex. */
static void put_bytes(rend *r, const uint8_t *b, size_t n) {
  if (n == 0) {
    puts_(r, "\"\"");
    return;
  }
  const size_t minrun = 12;
  size_t i = 0;
  bool first = true;
  while (i < n) {
    size_t run = 1;
    while (i + run < n && b[i + run] == b[i]) run++;
    if (!first) puts_(r, " + ");
    first = false;
    if (run >= minrun) {
      puts_(r, "repeat(");
      if (printable(b[i]))
        put_qstr(r, b + i, 1);
      else
        put_hex(r, b + i, 1);
      putf(r, ", %zu)", run);
      i += run;
      continue;
    }
    size_t j = i;
    while (j < n) {
      size_t r2 = 1;
      while (j + r2 < n && b[j + r2] == b[j]) r2++;
      if (r2 >= minrun) break;
      j += r2;
    }
    size_t np = 0;
    for (size_t k = i; k < j; k++) np += !printable(b[k]) && b[k] != '\n' && b[k] != '\r';
    if (np * 2 > j - i)
      put_hex(r, b + i, j - i);
    else
      put_qstr(r, b + i, j - i);
    i = j;
  }
}

/* An unmutated payload: its source expression when that reads back the same, else its
 * bytes. */
static void put_payload(rend *r, const struct wsc_payload *p) {
  const char *src = wsc_payload_source(p);
  size_t sl = strlen(src);
  if (sl && !strstr(src, "file(")) {
    /* Control octets and `{name}` can only stand inside string literals of a source (each
     * values substituted there): their escapes read back as the same octets. */
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < sl; i++) {
      unsigned char ch = (unsigned char)src[i];
      if (ch < 0x20 || ch == 0x7F || brace_var_at(src, sl, i)) {
        char e[4] = {'\\', 'x', hx[ch >> 4], hx[ch & 15]};
        put(r, e, 4);
      } else {
        put(r, &src[i], 1);
      }
    }
    return;
  }
  uint8_t *b = NULL;
  size_t n = 0;
  int rc = wsc_payload_materialize(p, NULL, &b, &n);
  if (rc) {
    fail(r, WSREF_E_INVALID_ARG, "a payload (%s) cannot be written back: %s",
         sl ? src : "built from bytes", wsref_strerror(rc));
    return;
  }
  put_bytes(r, b, n);
  free(b);
}

/* Text in quotes the way `unquote` reads it (titles, notes, handshake values): only \" \\
 * \r \n \t are escapes. `sanitize` turns what cannot be written into something readable
 * (free text); otherwise it is an error. */
static void put_uq(rend *r, const char *s, size_t n, bool sanitize) {
  if (!sanitize && has_brace_var(s, n)) {
    fail(r, WSREF_E_INVALID_ARG, "the value '%.*s' cannot be written back (a {name})", (int)n, s);
    return;
  }
  puts_(r, "\"");
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\') {
      char e[2] = {'\\', (char)ch};
      put(r, e, 2);
    } else if (ch == '\r') {
      puts_(r, "\\r");
    } else if (ch == '\n') {
      puts_(r, "\\n");
    } else if (ch == '\t') {
      puts_(r, "\\t");
    } else if (sanitize && (ch < 0x20 || ch == 0x7F)) {
      puts_(r, "?");
    } else if (sanitize && ch == '{') {
      puts_(r, "(");
    } else if (ch == 0) {
      fail(r, WSREF_E_INVALID_ARG, "a NUL octet cannot be written in a header value");
    } else {
      put(r, &s[i], 1);
    }
  }
  puts_(r, "\"");
}

/* A STOMP text (header name or value): bare when the parser reads it back as is, else a
 * payload string (whose escapes keep every octet; $names stay $names). */
static void put_text(rend *r, const char *s, size_t n, bool name) {
  bool bare = n > 0;
  for (size_t i = 0; bare && i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-' || ch == '/' || ch == '$' || ch == '*' ||
              ch == '@' || ch == '%';
    if (!name) ok = ok || ch == ':' || ch == '=' || ch == ',';
    bare = ok;
  }
  if (bare && s[0] == '~') bare = false;
  if (bare)
    put(r, s, n);
  else
    put_qstr(r, (const uint8_t *)s, n);
}

static void line_start(rend *r, size_t conn) {
  puts_(r, "  ");
  if (r->prefix) {
    const char *nm = conn < r->ncname ? r->cname[conn] : NULL;
    if (nm) putf(r, "%s ", nm);
  }
}

static uint64_t pieces_of(const struct wsc_write *w, uint64_t n);

/* The pause between the pieces of one write, as the campaign form writes it: each pause
 * costs at least a millisecond in the runner, and one write should not take much more than
 * a second, so many pieces get no pause at all. */
static uint64_t eff_delay(const rend *r, uint64_t delay, uint64_t pieces) {
  if (!r->o->fuzz || !delay || pieces < 2) return delay;
  uint64_t d = delay > r->o->max_sleep_us ? r->o->max_sleep_us : delay;
  uint64_t cap = r->o->max_sleep_us * 4;
  uint64_t gaps = pieces - 1;
  uint64_t cost = d < 1000 ? 1000 : d;
  if (gaps * cost <= cap) return d;
  if (gaps * 1000 > cap) return 0;
  return cap / gaps / 1000 * 1000;
}

static void put_write_opts(rend *r, const struct wsc_write *w, uint64_t nbytes) {
  if (w->nsplits) {
    puts_(r, " split=");
    for (size_t i = 0; i < w->nsplits; i++)
      putf(r, "%s%llu", i ? "," : "", (unsigned long long)w->splits[i]);
  } else if (w->chop) {
    putf(r, " chop=%llu", (unsigned long long)w->chop);
  }
  uint64_t d = eff_delay(r, w->delay_us, pieces_of(w, nbytes));
  if (d) {
    puts_(r, " delay=");
    put_dur(r, d);
  }
}

static bool write_eq(const struct wsc_write *a, const struct wsc_write *b) {
  if (a->coalesce != b->coalesce || a->chop != b->chop || a->delay_us != b->delay_us ||
      a->nsplits != b->nsplits)
    return false;
  for (size_t i = 0; i < a->nsplits; i++)
    if (a->splits[i] != b->splits[i]) return false;
  return true;
}

/* Makes `want` the policy in force, with a `write` line when it is not. */
static void set_policy_n(rend *r, const struct wsc_write *want, uint64_t nbytes) {
  if (write_eq(&r->pol, want)) return;
  puts_(r, "  write");
  if (want->coalesce) puts_(r, " coalesce");
  if (!want->coalesce && !want->nsplits && !want->chop && !want->delay_us) puts_(r, " whole");
  put_write_opts(r, want, nbytes);
  puts_(r, "\n");
  free(r->pol.splits);
  r->pol = *want;
  r->pol.splits = NULL;
  if (want->nsplits) {
    r->pol.splits = malloc(want->nsplits * sizeof *want->splits);
    if (!r->pol.splits) {
      fail(r, WSREF_E_NOMEM, "out of memory");
      r->pol.nsplits = 0;
      return;
    }
    memcpy(r->pol.splits, want->splits, want->nsplits * sizeof *want->splits);
  }
  /* the parser flushes what is held before the policy changes */
  r->pending = false;
}

/* A policy for writes of unknown size (flushes of coalesced runs, STOMP messages): sized
 * for the worst the campaign sends in one go. */
static void set_policy(rend *r, const struct wsc_write *want) {
  set_policy_n(r, want, 70000);
}

/* ------------------------------------------------------------------------------------------
 * Applying mutations to one step
 */

/* A step's working copy: the frame / write / payload as the mutations leave them. */
typedef struct work {
  struct wsc_frame_spec fr;
  struct wsc_write w;
  uint64_t wsplits[2];
  bool w_changed;
  /* payload bytes, when a mutation needed them */
  bool have_bytes;
  uint8_t *b;
  size_t n, cap;
  /* STOMP */
  struct wsc_stomp_frame_spec sf;
  struct wsc_msg_policy msg;
  struct wsc_stomp_hdr *hdrs; /* shallow copies; values from tables are static */
  size_t nhdrs;
  char *cmd; /* replacement command bytes (malloc'd), or NULL */
  size_t cmdn;
  bool stomp_changed;
  char *owned[16]; /* strings the mutations allocated */
  size_t nowned;
  uint8_t term_buf[4];
  bool term_set;
  size_t term_n;
  bool body_set;
} work;

static void work_free(work *k) {
  free(k->b);
  free(k->hdrs);
  free(k->cmd);
  for (size_t i = 0; i < k->nowned; i++) free(k->owned[i]);
}

static int bytes_ensure(work *k, size_t n) {
  if (n + 1 <= k->cap) return 0;
  size_t nc = k->cap ? k->cap : 64;
  while (nc < n + 1) nc *= 2;
  uint8_t *nb = realloc(k->b, nc);
  if (!nb) return WSREF_E_NOMEM;
  k->b = nb;
  k->cap = nc;
  return 0;
}

static bool load_bytes(rend *r, work *k, const struct wsc_payload *p) {
  if (k->have_bytes) return true;
  if (!p) {
    k->have_bytes = true;
    k->n = 0;
    return bytes_ensure(k, 0) == 0;
  }
  if (!payload_plain(p, r->o->max_payload, NULL)) return false;
  uint8_t *b = NULL;
  size_t n = 0;
  if (wsc_payload_materialize(p, NULL, &b, &n)) return false;
  free(k->b);
  k->b = b;
  k->n = n;
  k->cap = n;
  k->have_bytes = true;
  if (bytes_ensure(k, n)) return false;
  return true;
}

static bool insert_bytes(work *k, size_t pos, const uint8_t *p, size_t n) {
  if (bytes_ensure(k, k->n + n)) return false;
  if (pos > k->n) pos = k->n;
  memmove(k->b + pos + n, k->b + pos, k->n - pos);
  memcpy(k->b + pos, p, n);
  k->n += n;
  return true;
}

/* Payload mutations; false if the payload cannot be mutated (a $variable, too large). */
static bool apply_payload(rend *r, work *k, const struct wsc_payload *p,
                          const struct wsc_mutation *m) {
  if (!load_bytes(r, k, p)) return false;
  uint64_t s = m->b;
  switch (m->kind) {
    case WSC_MUT_BYTES:
      for (uint64_t i = 0; i < m->a; i++) {
        uint64_t op = rnd(&s, 4);
        uint8_t v = (uint8_t)rnd(&s, 256);
        if (k->n == 0 || op == 3) {
          size_t pos = (size_t)rnd(&s, k->n + 1);
          uint8_t ib = interesting_bytes[rnd(&s, NELEM(interesting_bytes))];
          if (!insert_bytes(k, pos, &ib, 1)) return false;
          continue;
        }
        size_t pos = (size_t)rnd(&s, k->n);
        if (op == 0)
          k->b[pos] ^= (uint8_t)(1u << (v & 7));
        else if (op == 1)
          k->b[pos] = v;
        else
          k->b[pos] = interesting_bytes[v % NELEM(interesting_bytes)];
      }
      return true;
    case WSC_MUT_UTF8: {
      size_t ti = (size_t)(m->a % NELEM(utf8_table));
      size_t pos = (size_t)(m->b % (k->n + 1));
      return insert_bytes(k, pos, (const uint8_t *)utf8_table[ti].b, utf8_table[ti].n);
    }
    case WSC_MUT_TRUNC:
      if (m->a < k->n) k->n = (size_t)m->a;
      return true;
    case WSC_MUT_EXTEND: {
      uint64_t add = m->a > 1048576 ? 1048576 : m->a;
      if (bytes_ensure(k, k->n + (size_t)add)) return false;
      uint8_t pat = (uint8_t)(m->b % 4 == 0   ? 'A'
                              : m->b % 4 == 1 ? 0x00
                              : m->b % 4 == 2 ? 0xFF
                                              : '*');
      memset(k->b + k->n, pat, (size_t)add);
      k->n += (size_t)add;
      return true;
    }
    default:
      return false;
  }
}

static bool apply_write(rend *r, work *k, const struct wsc_mutation *m) {
  (void)r;
  switch (m->kind) {
    case WSC_MUT_CHOP:
      k->w.nsplits = 0;
      k->w.splits = NULL;
      k->w.chop = m->a ? m->a : 1;
      break;
    case WSC_MUT_SPLIT:
      k->wsplits[0] = m->a ? m->a : 1;
      k->w.nsplits = 1;
      if (m->b > k->wsplits[0]) {
        k->wsplits[1] = m->b;
        k->w.nsplits = 2;
      }
      k->w.splits = k->wsplits;
      k->w.chop = 0;
      break;
    case WSC_MUT_DELAY:
      k->w.delay_us = m->a;
      break;
    default:
      return false;
  }
  k->w_changed = true;
  return true;
}

static const struct wsc_step *base_step(const rend *r, size_t i) {
  return &r->c->steps[i];
}

static bool step_has(const rend *r, size_t i, enum wsc_mut_kind kind) {
  for (size_t j = 0; j < r->nm; j++)
    if (r->m[j].kind == kind && r->m[j].step == i) return true;
  return false;
}

static void mark_applied(rend *r, const struct wsc_mutation *m) {
  if (r->applied) r->applied[m - r->m] = true;
}

/* "@N": N octets of 'a' */
static char *table_value(const char *v, size_t *n) {
  if (v[0] == '@' && v[1]) {
    size_t k = (size_t)strtoull(v + 1, NULL, 10);
    char *s = malloc(k + 1);
    if (!s) return NULL;
    memset(s, 'a', k);
    s[k] = 0;
    *n = k;
    return s;
  }
  *n = strlen(v);
  char *s = malloc(*n + 1);
  if (s) memcpy(s, v, *n + 1);
  return s;
}

static char *own(work *k, char *s) {
  if (!s) return NULL;
  if (k->nowned >= NELEM(k->owned)) {
    free(s);
    return NULL;
  }
  k->owned[k->nowned++] = s;
  return s;
}

static bool apply_stomp(rend *r, work *k, const struct wsc_mutation *m) {
  (void)r;
  struct wsc_stomp_frame_spec *f = &k->sf;
  switch (m->kind) {
    case WSC_MUT_ST_COMMAND: {
      const char *v = st_commands[m->a % NELEM(st_commands)];
      const char *cur = k->cmd ? k->cmd : f->command.s;
      size_t curn = k->cmd ? k->cmdn : f->command.n;
      char *nc;
      size_t nn;
      if (strcmp(v, "~lower") == 0 || strcmp(v, "~cut") == 0 || strcmp(v, "~space") == 0) {
        nn = curn;
        if (v[1] == 'c') nn = curn > 3 ? 3 : curn / 2;
        nc = malloc(curn + 2);
        if (!nc) return false;
        memcpy(nc, cur, nn);
        if (v[1] == 'l')
          for (size_t i = 0; i < nn; i++)
            if (nc[i] >= 'A' && nc[i] <= 'Z') nc[i] = (char)(nc[i] + 32);
        if (v[1] == 's') nc[nn++] = ' ';
        nc[nn] = 0;
      } else {
        nc = table_value(v, &nn);
        if (!nc) return false;
      }
      free(k->cmd);
      k->cmd = nc;
      k->cmdn = nn;
      return true;
    }
    case WSC_MUT_ST_HDR_DROP:
    case WSC_MUT_ST_HDR_DUP:
    case WSC_MUT_ST_HDR_VALUE: {
      if (!k->nhdrs) return false;
      size_t i = (size_t)(m->a % k->nhdrs);
      if (m->kind == WSC_MUT_ST_HDR_DROP) {
        memmove(&k->hdrs[i], &k->hdrs[i + 1], (k->nhdrs - i - 1) * sizeof *k->hdrs);
        k->nhdrs--;
        return true;
      }
      if (m->kind == WSC_MUT_ST_HDR_DUP) {
        struct wsc_stomp_hdr *nh = realloc(k->hdrs, (k->nhdrs + 1) * sizeof *nh);
        if (!nh) return false;
        k->hdrs = nh;
        memmove(&k->hdrs[i + 1], &k->hdrs[i], (k->nhdrs - i) * sizeof *k->hdrs);
        k->nhdrs++;
        return true;
      }
      size_t vn;
      char *v = own(k, table_value(st_values[m->b % NELEM(st_values)], &vn));
      if (!v) return false;
      if (k->hdrs[i].line) return false;
      k->hdrs[i].value.s = v;
      k->hdrs[i].value.n = vn;
      return true;
    }
    case WSC_MUT_ST_HDR_ADD: {
      size_t vn;
      char *v = own(k, table_value(st_values[m->b % NELEM(st_values)], &vn));
      if (!v) return false;
      struct wsc_stomp_hdr *nh = realloc(k->hdrs, (k->nhdrs + 1) * sizeof *nh);
      if (!nh) return false;
      k->hdrs = nh;
      struct wsc_stomp_hdr h = {0};
      h.name.s = (char *)st_hdr_names[m->a % NELEM(st_hdr_names)];
      h.name.n = strlen(h.name.s);
      h.value.s = v;
      h.value.n = vn;
      k->hdrs[k->nhdrs++] = h;
      return true;
    }
    case WSC_MUT_ST_CLEN: {
      uint64_t blen = 0;
      if (k->have_bytes)
        blen = k->n;
      else if (f->body)
        payload_plain(f->body, UINT64_MAX, &blen);
      switch (m->a % 4) {
        case 0:
          f->clen = WSC_CLEN_NONE;
          break;
        case 1:
          f->clen = WSC_CLEN_VALUE;
          f->clen_value = blen + 1;
          break;
        case 2:
          f->clen = WSC_CLEN_VALUE;
          f->clen_value = blen ? blen - 1 : 0;
          break;
        default:
          f->clen = WSC_CLEN_VALUE;
          f->clen_value = 99999999999ull;
          break;
      }
      return true;
    }
    case WSC_MUT_ST_TERM: {
      size_t ti = (size_t)(m->a % NELEM(st_terms));
      k->term_n = ti == 2 ? 2 : strlen(st_terms[ti]);
      memcpy(k->term_buf, st_terms[ti], k->term_n);
      k->term_set = true;
      return true;
    }
    case WSC_MUT_ST_ESCAPE:
      f->escape = m->a % 3 == 0 ? WSC_ESC_OFF : m->a % 3 == 1 ? WSC_ESC_V11 : WSC_ESC_V12;
      return true;
    case WSC_MUT_ST_EOL:
      f->eol = m->a % 2 ? WSC_EOL_CRLF : WSC_EOL_LF;
      if (f->heartbeat)
        f->count = (uint32_t)(1 + m->b % 4);
      else
        f->count = (uint32_t)(m->b % 4);
      return true;
    default:
      return false;
  }
}

static bool apply_msg(work *k, const struct wsc_mutation *m) {
  struct wsc_msg_policy *g = &k->msg;
  switch (m->a % 5) {
    case 0:
      g->split = WSC_SPLIT_RANDOM;
      g->seed = m->b;
      g->cuts = 0;
      g->nat = 0;
      g->at = NULL;
      break;
    case 1:
      g->split = WSC_SPLIT_CHUNK;
      g->chunk = 1;
      break;
    case 2:
      g->split = WSC_SPLIT_CHUNK;
      g->chunk = 1 + m->b % 7;
      break;
    case 3:
      g->frag = 1 + m->b % 9;
      break;
    default:
      g->as_set = true;
      g->binary = !g->binary;
      break;
  }
  return true;
}

/* ------------------------------------------------------------------------------------------
 * Rendering steps
 */

static const char *opcode_word(uint8_t op) {
  switch (op) {
    case 0:
      return "cont";
    case 1:
      return "text";
    case 2:
      return "binary";
    case 8:
      return "close";
    case 9:
      return "ping";
    case 10:
      return "pong";
    default:
      return NULL;
  }
}

static uint64_t pieces_of(const struct wsc_write *w, uint64_t n) {
  if (w->nsplits) return w->nsplits + 1;
  if (w->chop) return n / w->chop + 1;
  return 1;
}

/* The time a write's delays may take, for the case's budget. */
static void budget_write(rend *r, const struct wsc_write *w, uint64_t n) {
  if (!w->delay_us) return;
  uint64_t p = pieces_of(w, n);
  uint64_t d = eff_delay(r, w->delay_us, p);
  if (d && d < 1000) d = 1000;
  r->budget_us += d * (p > 1 ? p - 1 : 0);
}

/* The policy a coalesced run starting at step i is flushed with: its FLUSH step's, mutated. */
static void run_policy(rend *r, size_t i, struct wsc_write *out, uint64_t buf[2]) {
  const struct wsc_case *c = r->c;
  memset(out, 0, sizeof *out);
  for (size_t j = i + 1; j < c->nsteps; j++) {
    if (c->steps[j].kind != WSC_STEP_FLUSH) continue;
    if (step_has(r, j, WSC_MUT_DROP_STEP)) continue;
    *out = c->steps[j].write;
    for (size_t q = 0; q < r->nm; q++) {
      const struct wsc_mutation *m = &r->m[q];
      if (m->step != j) continue;
      if (m->kind == WSC_MUT_CHOP) {
        out->chop = m->a ? m->a : 1;
        out->nsplits = 0;
      } else if (m->kind == WSC_MUT_SPLIT) {
        buf[0] = m->a ? m->a : 1;
        out->nsplits = 1;
        if (m->b > buf[0]) {
          buf[1] = m->b;
          out->nsplits = 2;
        }
        out->splits = buf;
        out->chop = 0;
      } else if (m->kind == WSC_MUT_DELAY) {
        out->delay_us = m->a;
      }
    }
    break;
  }
  out->coalesce = true;
}

/* Prepares the policy for a bytes-writing step; returns true when the step is coalesced
 * (its own write options are then not written). */
static bool policy_for(rend *r, size_t i, const struct wsc_write *w, bool own_opts) {
  if (w->coalesce) {
    struct wsc_write want;
    uint64_t buf[2];
    run_policy(r, i, &want, buf);
    set_policy(r, &want);
    r->pending = true;
    return true;
  }
  if (own_opts) {
    static const struct wsc_write whole = {0, 0, NULL, 0, false};
    set_policy(r, &whole);
  } else {
    struct wsc_write want = *w;
    want.coalesce = false;
    set_policy(r, &want);
  }
  return false;
}

static void render_send(rend *r, size_t i, work *k) {
  const struct wsc_step *st = base_step(r, i);
  struct wsc_frame_spec *f = &k->fr;
  /* conflicts the parser rejects: the later-listed field wins over frag= */
  if (f->fragment_size && (f->has_len || f->len_form != WSC_LEN_AUTO || !f->fin))
    f->fragment_size = 0;
  uint64_t n = 0;
  bool known = true;
  if (k->have_bytes)
    n = k->n;
  else
    known = payload_plain(f->payload, UINT64_MAX, &n);
  if (f->len_form == WSC_LEN_7 || f->len_form == WSC_LEN_16) {
    uint64_t declared = f->has_len ? f->len : n;
    uint64_t lim = f->len_form == WSC_LEN_7 ? 125 : 65535;
    if ((f->has_len || known) && declared > lim) f->len_form = WSC_LEN_64;
  }
  bool coalesced = policy_for(r, i, &k->w, true);
  budget_write(r, &k->w, n + 14);
  line_start(r, st->conn);
  bool defaults = f->fin && !f->rsv && f->mask == WSC_MASK_RANDOM && !f->has_len &&
                  f->len_form == WSC_LEN_AUTO && !f->fragment_size;
  bool own_w = !coalesced && (k->w.chop || k->w.nsplits || k->w.delay_us);
  if (st->suite_close && f->opcode == 8 && defaults && !own_w && !k->have_bytes) {
    uint8_t *b = NULL;
    size_t bn = 0;
    if (!wsc_payload_has_vars(f->payload) &&
        wsc_payload_materialize(f->payload, NULL, &b, &bn) == 0 && bn != 1) {
      if (bn == 0) {
        puts_(r, "close\n");
      } else {
        putf(r, "close %u", (unsigned)(b[0] << 8 | b[1]));
        if (bn > 2) {
          puts_(r, " ");
          put_bytes(r, b + 2, bn - 2);
        }
        puts_(r, "\n");
      }
      free(b);
      return;
    }
    free(b);
  }
  const char *w = opcode_word(f->opcode);
  if (w)
    putf(r, "send %s", w);
  else
    putf(r, "send op=%u", (unsigned)f->opcode);
  bool has_payload =
      k->have_bytes ||
      (f->payload && (wsc_payload_source(f->payload)[0] || !payload_plain(f->payload, 0, NULL)));
  if (has_payload || f->opcode == 8) {
    puts_(r, " payload=");
    if (k->have_bytes)
      put_bytes(r, k->b, k->n);
    else
      put_payload(r, f->payload);
  }
  if (!f->fin) puts_(r, " fin=0");
  if (f->rsv) putf(r, " rsv=%u", (unsigned)(f->rsv & 7));
  if (f->mask == WSC_MASK_NONE)
    puts_(r, " mask=off");
  else if (f->mask == WSC_MASK_KEY)
    putf(r, " key=%02x%02x%02x%02x", f->key[0], f->key[1], f->key[2], f->key[3]);
  if (f->has_len) putf(r, " len=%llu", (unsigned long long)f->len);
  if (f->len_form != WSC_LEN_AUTO)
    putf(r, " lenform=%s",
         f->len_form == WSC_LEN_7    ? "7"
         : f->len_form == WSC_LEN_16 ? "16"
                                     : "64");
  if (f->fragment_size) putf(r, " frag=%llu", (unsigned long long)f->fragment_size);
  if (!coalesced) {
    uint64_t frames = f->fragment_size ? n / f->fragment_size + 1 : 1;
    put_write_opts(r, &k->w, n + 14 * frames);
  }
  puts_(r, "\n");
}

static void render_raw(rend *r, size_t i, work *k) {
  const struct wsc_step *st = base_step(r, i);
  uint64_t n = 0;
  if (k->have_bytes)
    n = k->n;
  else
    payload_plain(st->raw, UINT64_MAX, &n);
  bool coalesced = policy_for(r, i, &k->w, true);
  budget_write(r, &k->w, n);
  line_start(r, st->conn);
  puts_(r, "send raw ");
  if (k->have_bytes)
    put_bytes(r, k->b, k->n);
  else
    put_payload(r, st->raw);
  if (!coalesced) put_write_opts(r, &k->w, n);
  puts_(r, "\n");
}

static void put_msg_opts(rend *r, const struct wsc_msg_policy *g, uint64_t nbytes) {
  switch (g->split) {
    case WSC_SPLIT_AT:
      puts_(r, " split=");
      for (size_t i = 0; i < g->nat; i++)
        putf(r, "%s%llu", i ? "," : "", (unsigned long long)g->at[i]);
      break;
    case WSC_SPLIT_CHUNK:
      putf(r, " chunk=%llu", (unsigned long long)g->chunk);
      break;
    case WSC_SPLIT_RANDOM:
      putf(r, " split=random seed=%llu", (unsigned long long)g->seed);
      if (g->cuts) putf(r, " cuts=%u", g->cuts);
      break;
    default:
      break;
  }
  if (g->as_set) putf(r, " as=%s", g->binary ? "binary" : "text");
  if (g->frag) putf(r, " frag=%llu", (unsigned long long)g->frag);
  if (g->delay_us) {
    uint64_t msgs = g->split == WSC_SPLIT_AT       ? g->nat + 1
                    : g->split == WSC_SPLIT_CHUNK  ? nbytes / (g->chunk ? g->chunk : 1) + 1
                    : g->split == WSC_SPLIT_RANDOM ? (g->cuts ? g->cuts : 16) + 1
                                                   : 1;
    uint64_t d = eff_delay(r, g->delay_us, msgs);
    if (d) {
      puts_(r, " delay=");
      put_dur(r, d);
      r->budget_us += (d < 1000 ? 1000 : d) * (msgs - 1);
    }
  }
}

static void open_spack(rend *r, size_t conn) {
  if (r->spack && r->spack_conn == conn) return;
  if (r->spack) return; /* another connection's pack: the parser flushes it at the next step */
  line_start(r, conn);
  puts_(r, "stomp coalesce\n");
  r->spack = true;
  r->spack_conn = conn;
}

static void render_stomp(rend *r, size_t i, work *k) {
  const struct wsc_step *st = base_step(r, i);
  const struct wsc_stomp_frame_spec *f = &k->sf;
  if (st->coalesce) {
    open_spack(r, st->conn);
  } else {
    /* anything else flushes an open pack: the model has that flush as a step already */
    struct wsc_write want = k->w;
    if (want.coalesce) {
      policy_for(r, i, &k->w, false);
    } else {
      want.coalesce = false;
      set_policy(r, &want);
    }
    budget_write(r, &k->w, 64);
  }
  line_start(r, st->conn);
  if (f->heartbeat) {
    puts_(r, "heartbeat");
    if (f->count != 1) putf(r, " %u", f->count);
  } else {
    const char *cmd = k->cmd ? k->cmd : f->command.s;
    size_t cn = k->cmd ? k->cmdn : f->command.n;
    char tmp[64];
    bool bare = cn > 0 && cn < sizeof tmp && memchr(cmd, 0, cn) == NULL;
    if (bare) {
      memcpy(tmp, cmd, cn);
      tmp[cn] = 0;
      bare = wsc_stomp_is_command(tmp, cn);
      for (size_t q = 0; bare && q < cn; q++)
        bare = (tmp[q] >= 'A' && tmp[q] <= 'Z') || (tmp[q] >= '0' && tmp[q] <= '9') ||
               tmp[q] == '_' || tmp[q] == '-';
    }
    if (bare) {
      put(r, cmd, cn);
    } else {
      puts_(r, "stomp ");
      put_qstr(r, (const uint8_t *)cmd, cn);
    }
    for (size_t h = 0; h < k->nhdrs; h++) {
      const struct wsc_stomp_hdr *hd = &k->hdrs[h];
      puts_(r, " ");
      if (hd->line) {
        puts_(r, "line=");
        put_qstr(r, (const uint8_t *)hd->value.s, hd->value.n);
        continue;
      }
      put_text(r, hd->name.s, hd->name.n, true);
      puts_(r, ":");
      put_text(r, hd->value.s, hd->value.n, false);
    }
    if (k->have_bytes) {
      puts_(r, " body=");
      put_bytes(r, k->b, k->n);
    } else if (f->body) {
      puts_(r, " body=");
      put_payload(r, f->body);
    }
    if (f->escape != WSC_ESC_AUTO)
      putf(r, " escape=%s",
           f->escape == WSC_ESC_OFF   ? "off"
           : f->escape == WSC_ESC_V11 ? "1.1"
                                      : "1.2");
    if (f->clen == WSC_CLEN_NONE)
      puts_(r, " content-length=none");
    else if (f->clen == WSC_CLEN_VALUE)
      putf(r, " content-length=%llu", (unsigned long long)f->clen_value);
    if (f->count) putf(r, " eols=%u", f->count);
    if (k->term_set) {
      puts_(r, " terminator=");
      put_bytes(r, k->term_buf, k->term_n);
    } else if (f->terminator) {
      puts_(r, " terminator=");
      put_payload(r, f->terminator);
    }
  }
  if (f->eol != WSC_EOL_DEFAULT) putf(r, " eol=%s", f->eol == WSC_EOL_CRLF ? "crlf" : "lf");
  if (!st->coalesce) {
    uint64_t fl = 64 + (k->have_bytes ? k->n : 0);
    if (!k->have_bytes && f->body) {
      uint64_t bl = 0;
      payload_plain(f->body, UINT64_MAX, &bl);
      fl += bl;
    }
    for (size_t h = 0; h < k->nhdrs; h++) fl += k->hdrs[h].name.n + k->hdrs[h].value.n + 2;
    put_msg_opts(r, &k->msg, fl);
  }
  puts_(r, "\n");
}

static void render_stomp_flush(rend *r, size_t i, work *k) {
  const struct wsc_step *st = base_step(r, i);
  if (!(r->spack && r->spack_conn == st->conn)) {
    if (r->spack) {
      /* a pack of another connection is open: it goes out first, as the parser would */
      r->spack = false;
    }
    open_spack(r, st->conn);
  }
  if (k->w.coalesce) {
    policy_for(r, i, &k->w, false);
  } else {
    struct wsc_write want = k->w;
    set_policy(r, &want);
  }
  budget_write(r, &k->w, 256);
  line_start(r, st->conn);
  puts_(r, "stomp flush");
  put_msg_opts(r, &k->msg, 70000);
  puts_(r, "\n");
  r->spack = false;
}

/* --- expectations --- */

static void put_match(rend *r, const struct wsc_match *mt) {
  if (mt->payload) {
    puts_(r, " payload=");
    put_payload(r, mt->payload);
  }
  if (mt->has_len) putf(r, " len=%llu", (unsigned long long)mt->len);
  if (mt->has_sha256) {
    puts_(r, " sha256=");
    for (int i = 0; i < 32; i++) putf(r, "%02x", mt->sha256[i]);
  }
}

static void put_ranges(rend *r, const struct wsc_code_range *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (v[i].lo == v[i].hi)
      putf(r, " %u", v[i].lo);
    else
      putf(r, " %u..%u", v[i].lo, v[i].hi);
  }
}

/* One expectation item, without the trailing newline; lenient: with timeout= and else=pass
 * (the caller adds else=). Returns the longest it can wait (for the budget). */
static uint64_t put_item(rend *r, const struct wsc_expect *e, bool lenient) {
  uint64_t T = lenient && r->item_us ? r->item_us : r->o->expect_timeout_us;
  uint64_t to = e->timeout_us;
  if (lenient && (!to || to > T)) to = T;
  puts_(r, "expect");
  switch (e->kind) {
    case WSC_EXP_TEXT:
    case WSC_EXP_BINARY:
    case WSC_EXP_MESSAGE:
    case WSC_EXP_PING:
    case WSC_EXP_PONG:
      putf(r, " %s",
           e->kind == WSC_EXP_TEXT      ? "text"
           : e->kind == WSC_EXP_BINARY  ? "binary"
           : e->kind == WSC_EXP_MESSAGE ? "message"
           : e->kind == WSC_EXP_PING    ? "ping"
                                        : "pong");
      put_match(r, &e->match);
      break;
    case WSC_EXP_FRAME: {
      puts_(r, " frame");
      if (e->opcode >= 0) {
        const char *w = opcode_word((uint8_t)e->opcode);
        if (w)
          putf(r, " %s", w);
        else
          putf(r, " op=%d", e->opcode);
      }
      if (e->fin >= 0) putf(r, " fin=%d", e->fin);
      if (e->rsv >= 0) putf(r, " rsv=%d", e->rsv);
      put_match(r, &e->match);
      break;
    }
    case WSC_EXP_CLOSE: {
      const struct wsc_expect_close *ec = &e->close;
      puts_(r, " close");
      put_ranges(r, ec->codes, ec->ncodes);
      if (ec->any_code) puts_(r, " any");
      if (ec->no_code) puts_(r, " none");
      if (ec->drop_ok) puts_(r, " drop");
      if (ec->clean) puts_(r, " clean");
      putf(r, " by=%s", ec->by == WSC_BY_PEER ? "peer" : ec->by == WSC_BY_SUITE ? "suite" : "any");
      if (ec->reason) {
        puts_(r, " reason=");
        put_payload(r, ec->reason);
      }
      break;
    }
    case WSC_EXP_NOTHING:
    case WSC_EXP_NO_FRAME: {
      uint64_t d = e->duration_us;
      if (lenient && d > T) d = T;
      puts_(r, e->kind == WSC_EXP_NOTHING ? " nothing " : " no frame for ");
      put_dur(r, d);
      return d;
    }
    case WSC_EXP_HEARTBEAT:
      puts_(r, " heartbeat");
      if (lenient) {
        puts_(r, " within ");
        put_dur(r, T);
        return T;
      }
      if (e->interval_permille)
        putf(r, " within %u.%03ux", e->interval_permille / 1000, e->interval_permille % 1000);
      else if (e->timeout_us) {
        puts_(r, " within ");
        put_dur(r, e->timeout_us);
      }
      return e->timeout_us;
    case WSC_EXP_STOMP: {
      const struct wsc_stomp_expect *se = &e->stomp;
      putf(r, " %.*s", (int)se->command.n, se->command.s);
      for (size_t h = 0; h < se->nheaders; h++) {
        const struct wsc_stomp_hmatch *hm = &se->headers[h];
        puts_(r, " ");
        if (hm->op == WSC_HMO_ABSENT) {
          puts_(r, "!");
          put_text(r, hm->name.s, hm->name.n, true);
        } else if (hm->op == WSC_HMO_PRESENT) {
          put_text(r, hm->name.s, hm->name.n, true);
          puts_(r, "?");
        } else {
          put_text(r, hm->name.s, hm->name.n, true);
          if (hm->op == WSC_HMO_REGEX) {
            puts_(r, ":~");
            put_qstr(r, (const uint8_t *)hm->value.s, hm->value.n);
          } else {
            puts_(r, ":");
            put_text(r, hm->value.s, hm->value.n, false);
          }
        }
      }
      if (e->match.payload) {
        puts_(r, " body=");
        put_payload(r, e->match.payload);
      }
      if (se->body_re.n) {
        puts_(r, " body=~");
        put_qstr(r, (const uint8_t *)se->body_re.s, se->body_re.n);
      }
      if (e->match.has_len) putf(r, " len=%llu", (unsigned long long)e->match.len);
      if (se->raw) {
        puts_(r, " raw=");
        put_payload(r, se->raw);
      }
      if (se->as == 1 || se->as == 2) putf(r, " as=%s", se->as == 1 ? "text" : "binary");
      break;
    }
  }
  if (to) {
    puts_(r, " timeout=");
    put_dur(r, to);
  }
  return to ? to : T;
}

static const char *grade_word(enum wsc_grade g) {
  switch (g) {
    case WSC_GRADE_PASS:
      return "pass";
    case WSC_GRADE_NON_STRICT:
      return "non-strict";
    case WSC_GRADE_INFO:
      return "info";
    default:
      return "fail";
  }
}

static void render_expect(rend *r, size_t i) {
  const struct wsc_step *st = base_step(r, i);
  const struct wsc_expect_step *es = &st->expect;
  if (r->o->fuzz) {
    if (!es->nalts) return;
    const struct wsc_alt *a = &es->alts[0];
    for (size_t k = 0; k < a->nitems; k++) {
      line_start(r, st->conn);
      r->budget_us += put_item(r, &a->items[k], true);
      puts_(r, " else=pass\n");
    }
    return;
  }
  if (es->nalts == 1 && es->alts[0].grade == WSC_GRADE_PASS && es->alts[0].nitems == 1) {
    line_start(r, st->conn);
    put_item(r, &es->alts[0].items[0], false);
    puts_(r, "\n");
    return;
  }
  if (es->nalts == 2 && es->alts[0].grade == WSC_GRADE_PASS && es->alts[0].nitems == 1 &&
      es->alts[1].nitems == 0) {
    line_start(r, st->conn);
    put_item(r, &es->alts[0].items[0], false);
    putf(r, " else=%s\n", grade_word(es->alts[1].grade));
    return;
  }
  for (size_t a = 0; a < es->nalts; a++) {
    const struct wsc_alt *al = &es->alts[a];
    if (a == 0)
      putf(r, "  either%s%s\n", al->grade == WSC_GRADE_PASS ? "" : " ",
           al->grade == WSC_GRADE_PASS ? "" : grade_word(al->grade));
    else
      putf(r, "  or %s\n", grade_word(al->grade));
    for (size_t k = 0; k < al->nitems; k++) {
      puts_(r, "  ");
      line_start(r, st->conn);
      put_item(r, &al->items[k], false);
      puts_(r, "\n");
    }
  }
  puts_(r, "  end\n");
}

static void render_capture(rend *r, size_t i) {
  const struct wsc_step *st = base_step(r, i);
  line_start(r, st->conn);
  putf(r, "capture %s = ", st->capture_name);
  if (st->capture_src == WSC_CAP_HEADER) {
    puts_(r, "header ");
    put_text(r, st->capture_header.s, st->capture_header.n, true);
  } else {
    puts_(r, st->capture_src == WSC_CAP_BODY ? "body" : "command");
  }
  puts_(r, "\n");
}

/* One base step, with its mutations; `times` > 1 for DUP. */
static void render_step(rend *r, size_t i) {
  const struct wsc_step *st = base_step(r, i);
  work k;
  memset(&k, 0, sizeof k);
  k.fr = st->frame;
  k.w = st->write;
  k.msg = st->msg;
  if (st->kind == WSC_STEP_STOMP) {
    k.sf = st->stomp;
    if (st->stomp.nheaders) {
      k.hdrs = malloc(st->stomp.nheaders * sizeof *k.hdrs);
      if (!k.hdrs) {
        fail(r, WSREF_E_NOMEM, "out of memory");
        return;
      }
      memcpy(k.hdrs, st->stomp.headers, st->stomp.nheaders * sizeof *k.hdrs);
      k.nhdrs = st->stomp.nheaders;
    }
  }
  size_t times = 1;
  unsigned caps = caps_of(r->c, i, r->o->max_payload);
  for (size_t q = 0; q < r->nm; q++) {
    const struct wsc_mutation *m = &r->m[q];
    if (m->step != i || is_hs_kind(m->kind)) continue;
    bool ok = false;
    switch (m->kind) {
      case WSC_MUT_DUP_STEP:
        ok = (caps & CAP_DUP) != 0;
        if (ok) times++;
        break;
      case WSC_MUT_FIN:
        ok = caps & CAP_FRAME;
        if (ok) k.fr.fin = !k.fr.fin;
        break;
      case WSC_MUT_RSV:
        ok = caps & CAP_FRAME;
        if (ok) k.fr.rsv = (uint8_t)(m->a & 7);
        break;
      case WSC_MUT_OPCODE:
        ok = caps & CAP_FRAME;
        if (ok) k.fr.opcode = (uint8_t)(m->a & 15);
        break;
      case WSC_MUT_MASK:
        ok = caps & CAP_FRAME;
        if (ok && m->a) {
          k.fr.mask = WSC_MASK_KEY;
          for (int b = 0; b < 4; b++) k.fr.key[b] = (uint8_t)(m->b >> (24 - 8 * b));
        } else if (ok) {
          k.fr.mask = WSC_MASK_NONE;
        }
        break;
      case WSC_MUT_LEN:
        ok = caps & CAP_FRAME;
        if (ok) {
          k.fr.has_len = true;
          k.fr.len = m->a;
          k.fr.fragment_size = 0;
        }
        break;
      case WSC_MUT_LENFORM:
        ok = caps & CAP_FRAME;
        if (ok) {
          k.fr.len_form = m->a == 7 ? WSC_LEN_7 : m->a == 16 ? WSC_LEN_16 : WSC_LEN_64;
          k.fr.fragment_size = 0;
        }
        break;
      case WSC_MUT_FRAG:
        ok = (caps & CAP_FRAME) && m->a > 0;
        if (ok) {
          k.fr.fragment_size = m->a;
          k.fr.has_len = false;
          k.fr.len_form = WSC_LEN_AUTO;
          k.fr.fin = true;
        }
        break;
      case WSC_MUT_BYTES:
      case WSC_MUT_UTF8:
      case WSC_MUT_TRUNC:
      case WSC_MUT_EXTEND:
        if (caps & CAP_PAYLOAD) {
          const struct wsc_payload *p = st->kind == WSC_STEP_SEND       ? st->frame.payload
                                        : st->kind == WSC_STEP_SEND_RAW ? st->raw
                                                                        : st->stomp.body;
          ok = apply_payload(r, &k, p, m);
        }
        break;
      case WSC_MUT_CHOP:
      case WSC_MUT_SPLIT:
      case WSC_MUT_DELAY:
        if (!(caps & CAP_WRITE)) break;
        if (st->kind == WSC_STEP_STOMP && m->kind != WSC_MUT_CHOP) {
          /* message cuts and pauses between messages */
          if (m->kind == WSC_MUT_SPLIT) {
            k.msg.split = WSC_SPLIT_AT;
            k.wsplits[0] = m->a ? m->a : 1;
            k.msg.nat = 1;
            if (m->b > k.wsplits[0]) {
              k.wsplits[1] = m->b;
              k.msg.nat = 2;
            }
            k.msg.at = k.wsplits;
          } else {
            k.msg.delay_us = m->a;
          }
          ok = true;
        } else {
          ok = apply_write(r, &k, m);
        }
        break;
      case WSC_MUT_ST_EOL:
        ok = (caps & (CAP_STOMP | CAP_HEARTBEAT)) && apply_stomp(r, &k, m);
        break;
      case WSC_MUT_ST_COMMAND:
      case WSC_MUT_ST_HDR_DROP:
      case WSC_MUT_ST_HDR_DUP:
      case WSC_MUT_ST_HDR_VALUE:
      case WSC_MUT_ST_HDR_ADD:
      case WSC_MUT_ST_CLEN:
      case WSC_MUT_ST_TERM:
      case WSC_MUT_ST_ESCAPE:
        ok = (caps & CAP_STOMP) && apply_stomp(r, &k, m);
        break;
      case WSC_MUT_ST_MSG:
        ok = (caps & CAP_MSG) && apply_msg(&k, m);
        break;
      default:
        break;
    }
    if (ok) mark_applied(r, m);
  }
  for (size_t t = 0; t < times && !r->rc; t++) {
    switch (st->kind) {
      case WSC_STEP_SEND:
        render_send(r, i, &k);
        break;
      case WSC_STEP_SEND_RAW:
        render_raw(r, i, &k);
        break;
      case WSC_STEP_FLUSH:
        if (r->pending) {
          /* the run's policy (with this flush's mutations) was set by its first send */
          budget_write(r, &r->pol, 1024);
          puts_(r, "  flush\n");
          r->pending = false;
        }
        break;
      case WSC_STEP_SLEEP: {
        uint64_t d = st->sleep_us;
        if (r->o->fuzz && d > r->o->max_sleep_us) d = r->o->max_sleep_us;
        puts_(r, "  sleep ");
        put_dur(r, d);
        puts_(r, "\n");
        r->budget_us += d;
        break;
      }
      case WSC_STEP_EXPECT:
        render_expect(r, i);
        break;
      case WSC_STEP_DROP:
        line_start(r, st->conn);
        puts_(r, "drop\n");
        break;
      case WSC_STEP_SHUTDOWN:
        line_start(r, st->conn);
        puts_(r, "shutdown\n");
        break;
      case WSC_STEP_STOMP:
        render_stomp(r, i, &k);
        break;
      case WSC_STEP_STOMP_FLUSH:
        render_stomp_flush(r, i, &k);
        break;
      case WSC_STEP_CAPTURE:
        render_capture(r, i);
        break;
    }
    /* in the parser, any step but a gathered frame sends what `stomp coalesce` gathered */
    if (!(st->kind == WSC_STEP_STOMP && st->coalesce) && st->kind != WSC_STEP_SEND &&
        st->kind != WSC_STEP_SEND_RAW)
      r->spack = false;
  }
  work_free(&k);
}

static void render_insert(rend *r, const struct wsc_mutation *m) {
  const struct wsc_case *c = r->c;
  size_t conn =
      m->step < c->nsteps ? c->steps[m->step].conn : (c->nsteps ? c->steps[c->nsteps - 1].conn : 0);
  if (m->kind == WSC_MUT_SLEEP) {
    uint64_t d = m->a;
    if (r->o->fuzz && d > r->o->max_sleep_us) d = r->o->max_sleep_us;
    puts_(r, "  sleep ");
    put_dur(r, d);
    puts_(r, "\n");
    r->budget_us += d;
    r->spack = false;
    mark_applied(r, m);
    return;
  }
  bool stomp_conn = conn < c->nconns && c->conns[conn].stomp;
  const char *t = NULL;
  if (m->a >= 1000) {
    if (!stomp_conn || m->a - 1000 >= NELEM(stomp_templates)) return;
    t = stomp_templates[m->a - 1000];
  } else if (m->a < NELEM(ws_templates)) {
    t = ws_templates[m->a];
  } else {
    return;
  }
  /* a frame of ours must not land inside a pack or a coalesced run: the pack goes out
   * first, and the insert is written whole */
  if (r->spack) {
    line_start(r, r->spack_conn);
    puts_(r, "stomp flush\n");
    r->spack = false;
  }
  static const struct wsc_write whole = {0, 0, NULL, 0, false};
  set_policy(r, &whole);
  line_start(r, conn);
  if (m->a == RAW_TEMPLATE) {
    uint64_t s = m->b;
    uint8_t b[16];
    size_t n = 1 + (size_t)rnd(&s, sizeof b);
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd(&s, 256);
    puts_(r, "send raw ");
    put_hex(r, b, n);
    puts_(r, "\n");
  } else {
    puts_(r, t);
    puts_(r, "\n");
  }
  r->spack = false;
  mark_applied(r, m);
}

/* ------------------------------------------------------------------------------------------
 * The handshake
 */

static void hs_line_value(rend *r, const char *verb, const char *name, const char *v, size_t vn) {
  r->request_len += strlen(name) + vn + 4;
  putf(r, "  handshake %s %s: ", verb, name);
  put_uq(r, v, vn, false);
  puts_(r, "\n");
}

static const struct wsc_mutation *last_hs(const rend *r, enum wsc_mut_kind k) {
  const struct wsc_mutation *found = NULL;
  for (size_t i = 0; i < r->nm; i++)
    if (r->m[i].kind == k) found = &r->m[i];
  return found;
}

static void render_handshake(rend *r) {
  const struct wsc_case *c = r->c;
  const struct wsc_handshake *h = &c->hs;
  bool hsfam = r->o->fuzz && r->o->family == WSC_MUT_HANDSHAKE;
  r->request_len = 300;
  uint64_t bl = 0;
  if (h->raw && payload_plain(h->raw, UINT64_MAX, &bl)) r->request_len = bl;
  if (h->body && payload_plain(h->body, UINT64_MAX, &bl)) r->request_len += bl;
  if (h->raw) {
    puts_(r, "  handshake raw ");
    put_payload(r, h->raw);
    puts_(r, "\n");
  } else {
    const struct wsc_mutation *mm = hsfam ? last_hs(r, WSC_MUT_HS_METHOD) : NULL;
    const struct wsc_mutation *mt = hsfam ? last_hs(r, WSC_MUT_HS_TARGET) : NULL;
    const struct wsc_mutation *mv = hsfam ? last_hs(r, WSC_MUT_HS_VERSION) : NULL;
    const struct {
      const char *verb;
      const char *base;
      const struct wsc_mutation *m;
      const char *const *table;
      size_t n;
    } lines[] = {{"method", h->method, mm, hs_methods, NELEM(hs_methods)},
                 {"target", h->target, mt, hs_targets, NELEM(hs_targets)},
                 {"version", h->version, mv, hs_versions, NELEM(hs_versions)}};
    for (size_t i = 0; i < NELEM(lines); i++) {
      if (lines[i].m) {
        const char *tv = lines[i].table[lines[i].m->a % lines[i].n];
        size_t vn;
        char *v = NULL;
        if (strncmp(tv, "/@", 2) == 0) {
          v = table_value(tv + 1, &vn);
          if (v) v[0] = '/';
        } else {
          v = table_value(tv, &vn);
        }
        if (!v) {
          fail(r, WSREF_E_NOMEM, "out of memory");
          return;
        }
        putf(r, "  handshake %s ", lines[i].verb);
        put_uq(r, v, vn, false);
        puts_(r, "\n");
        r->request_len += vn;
        free(v);
        for (size_t q = 0; q < r->nm; q++)
          if (&r->m[q] == lines[i].m) mark_applied(r, &r->m[q]);
      } else if (lines[i].base) {
        r->request_len += strlen(lines[i].base);
        putf(r, "  handshake %s ", lines[i].verb);
        put_uq(r, lines[i].base, strlen(lines[i].base), false);
        puts_(r, "\n");
      }
    }
    for (size_t i = 0; i < h->nedits; i++) {
      const struct wsc_hdr_edit *e = &h->edits[i];
      if (e->op == WSC_HDR_REMOVE)
        putf(r, "  handshake remove %s\n", e->name);
      else
        hs_line_value(r, e->op == WSC_HDR_SET ? "set" : "add", e->name, e->value, strlen(e->value));
    }
    /* header mutations go after the case's own edits, in their order */
    for (size_t q = 0; hsfam && q < r->nm; q++) {
      const struct wsc_mutation *m = &r->m[q];
      switch (m->kind) {
        case WSC_MUT_HS_REMOVE:
          putf(r, "  handshake remove %s\n", hs_names[m->a % NELEM(hs_names)]);
          break;
        case WSC_MUT_HS_SET:
        case WSC_MUT_HS_ADD: {
          size_t vn;
          char *v = table_value(hs_values[m->b % NELEM(hs_values)], &vn);
          if (!v) {
            fail(r, WSREF_E_NOMEM, "out of memory");
            return;
          }
          hs_line_value(r, m->kind == WSC_MUT_HS_SET ? "set" : "add",
                        hs_names[m->a % NELEM(hs_names)], v, vn);
          free(v);
          break;
        }
        case WSC_MUT_HS_CASE: {
          const char *nm = hs_case_table[m->a % NELEM(hs_case_table)].name;
          char mangled[64];
          size_t nl = strlen(nm);
          uint64_t s = m->b;
          for (size_t i = 0; i < nl && i + 1 < sizeof mangled; i++) {
            char ch = nm[i];
            if (ch >= 'a' && ch <= 'z' && rnd(&s, 2))
              ch = (char)(ch - 32);
            else if (ch >= 'A' && ch <= 'Z' && rnd(&s, 2))
              ch = (char)(ch + 32);
            mangled[i] = ch;
          }
          mangled[nl < sizeof mangled ? nl : sizeof mangled - 1] = 0;
          putf(r, "  handshake remove %s\n", nm);
          const char *v = hs_case_table[m->a % NELEM(hs_case_table)].value;
          hs_line_value(r, "add", mangled, v, strlen(v));
          break;
        }
        case WSC_MUT_HS_MANY: {
          uint64_t cnt = hs_many_counts[m->a % NELEM(hs_many_counts)];
          size_t sz = (size_t)hs_many_sizes[m->b % NELEM(hs_many_sizes)];
          /* a request of a few hundred KiB is large enough for any limit worth finding */
          if (cnt * sz > 256 * 1024) cnt = 256 * 1024 / sz;
          char *v = malloc(sz + 1);
          if (!v) {
            fail(r, WSREF_E_NOMEM, "out of memory");
            return;
          }
          memset(v, 'v', sz);
          v[sz] = 0;
          for (uint64_t i = 0; i < cnt; i++) {
            char nm[32];
            snprintf(nm, sizeof nm, "X-Fuzz-%llu", (unsigned long long)i);
            hs_line_value(r, "add", nm, v, sz);
          }
          free(v);
          break;
        }
        default:
          continue;
      }
      mark_applied(r, m);
    }
  }
  const struct wsc_mutation *mb = hsfam ? last_hs(r, WSC_MUT_HS_BODY) : NULL;
  if (mb) {
    uint64_t sz = hs_body_sizes[mb->a % NELEM(hs_body_sizes)];
    if (mb->b % 3) {
      char v[32];
      snprintf(v, sizeof v, "%llu", (unsigned long long)(mb->b % 3 == 1 ? sz : sz + 10));
      hs_line_value(r, "set", "Content-Length", v, strlen(v));
    }
    putf(r, "  handshake body repeat(\"b\", %llu)\n", (unsigned long long)sz);
    r->request_len += sz;
    for (size_t q = 0; q < r->nm; q++)
      if (&r->m[q] == mb) mark_applied(r, &r->m[q]);
  } else if (h->body) {
    puts_(r, "  handshake body ");
    put_payload(r, h->body);
    puts_(r, "\n");
  }
  const struct wsc_mutation *mw = hsfam ? last_hs(r, WSC_MUT_HS_WRITE) : NULL;
  struct wsc_write w = h->write;
  if (mw) {
    w.chop = hs_chops[mw->a % NELEM(hs_chops)];
    w.nsplits = 0;
    w.splits = NULL;
    w.delay_us = hs_delays[mw->b % NELEM(hs_delays)];
    for (size_t q = 0; q < r->nm; q++)
      if (&r->m[q] == mw) mark_applied(r, &r->m[q]);
  }
  if (w.chop || w.nsplits || w.delay_us) {
    budget_write(r, &w, r->request_len);
    puts_(r, "  handshake write");
    put_write_opts(r, &w, r->request_len);
    puts_(r, "\n");
  }
  if (h->pipeline) puts_(r, "  handshake pipeline\n");

  /* response expectations */
  if (hsfam) puts_(r, "  expect status 100..599\n");
  for (size_t i = 0; i < h->nexpects; i++) {
    const struct wsc_hs_expect *e = &h->expects[i];
    if (e->implicit) continue;
    puts_(r, "  expect ");
    switch (e->kind) {
      case WSC_HSX_OK:
        puts_(r, "handshake ok");
        break;
      case WSC_HSX_FAIL:
        puts_(r, "handshake fail");
        break;
      case WSC_HSX_STATUS:
        puts_(r, "status");
        put_ranges(r, e->statuses, e->nstatuses);
        break;
      case WSC_HSX_HEADER:
        putf(r, "header %s ", e->name);
        switch (e->op) {
          case WSC_HM_EQUALS:
            puts_(r, "= ");
            put_uq(r, e->value, strlen(e->value), false);
            break;
          case WSC_HM_CONTAINS:
            puts_(r, "contains ");
            put_uq(r, e->value, strlen(e->value), false);
            break;
          case WSC_HM_LACKS:
            puts_(r, "lacks ");
            put_uq(r, e->value, strlen(e->value), false);
            break;
          case WSC_HM_ABSENT:
            puts_(r, "absent");
            break;
          case WSC_HM_PRESENT:
            puts_(r, "present");
            break;
          case WSC_HM_ACCEPT:
            puts_(r, "= $accept");
            break;
        }
        break;
      case WSC_HSX_BODY:
        puts_(r, "body contains ");
        put_payload(r, e->body);
        break;
    }
    if (r->o->fuzz)
      puts_(r, " else=pass");
    else if (e->miss_grade != WSC_GRADE_FAIL)
      putf(r, " else=%s", grade_word(e->miss_grade));
    puts_(r, "\n");
  }
}

/* ------------------------------------------------------------------------------------------
 * The whole case
 */

void wsc_render_opts_default(struct wsc_render_opts *o) {
  memset(o, 0, sizeof *o);
  o->expect_timeout_us = WSC_MUT_EXPECT_TIMEOUT_DEFAULT_US;
  o->probe_timeout_us = WSC_MUT_PROBE_TIMEOUT_DEFAULT_US;
  o->max_sleep_us = WSC_MUT_MAX_SLEEP_DEFAULT_US;
  o->max_payload = WSC_MUT_MAX_PAYLOAD_DEFAULT;
}

static void put_conn(rend *r, size_t k) {
  const struct wsc_case *c = r->c;
  const struct wsc_conn_decl *d = &c->conns[k];
  putf(r, "  conn %s", r->cname[k]);
  if (d->nsubprotocols) {
    puts_(r, " subprotocol=");
    for (size_t i = 0; i < d->nsubprotocols; i++) putf(r, "%s%s", i ? "," : "", d->subprotocols[i]);
  }
  if (d->connect) {
    putf(r, " connect=%s", d->connect);
    /* heart-beat= lives in the generated CONNECT */
    for (size_t i = 0; i < c->nsteps; i++) {
      const struct wsc_step *st = &c->steps[i];
      if (st->kind != WSC_STEP_STOMP || st->conn != k || !is_generated(c, i)) continue;
      for (size_t h = 0; h < st->stomp.nheaders; h++)
        if (st->stomp.headers[h].name.n == 10 &&
            memcmp(st->stomp.headers[h].name.s, "heart-beat", 10) == 0)
          putf(r, " heart-beat=%.*s", (int)st->stomp.headers[h].value.n,
               st->stomp.headers[h].value.s);
      break;
    }
  }
  const struct {
    const char *key;
    const struct wsc_text *t;
  } texts[] = {{"login", d->login}, {"passcode", d->passcode}, {"host", d->host}};
  for (size_t i = 0; i < NELEM(texts); i++) {
    if (!texts[i].t) continue;
    putf(r, " %s=", texts[i].key);
    put_text(r, texts[i].t->s, texts[i].t->n, false);
  }
  if (d->eol != WSC_EOL_DEFAULT) putf(r, " eol=%s", d->eol == WSC_EOL_CRLF ? "crlf" : "lf");
  if (d->binary) puts_(r, " as=binary");
  if (d->stomp) puts_(r, " stomp");
  puts_(r, "\n");
}

int wsc_mut_render(const struct wsc_case *c, const struct wsc_mutation *m, size_t nm,
                   const struct wsc_render_opts *opts, char **text, size_t *len,
                   struct wsc_render_info *info, char *err, size_t err_len) {
  struct wsc_render_opts o;
  if (opts)
    o = *opts;
  else
    wsc_render_opts_default(&o);
  if (!o.expect_timeout_us) o.expect_timeout_us = WSC_MUT_EXPECT_TIMEOUT_DEFAULT_US;
  if (!o.probe_timeout_us) o.probe_timeout_us = WSC_MUT_PROBE_TIMEOUT_DEFAULT_US;
  if (!o.max_sleep_us) o.max_sleep_us = WSC_MUT_MAX_SLEEP_DEFAULT_US;
  if (!o.max_payload) o.max_payload = WSC_MUT_MAX_PAYLOAD_DEFAULT;
  if (info) memset(info, 0, sizeof *info);
  *text = NULL;
  if (len) *len = 0;
  if (err && err_len) err[0] = 0;

  rend r;
  memset(&r, 0, sizeof r);
  r.err = err;
  r.err_len = err_len;
  r.c = c;
  r.o = &o;
  r.m = m;
  r.nm = nm;
  r.applied = nm ? calloc(nm, sizeof *r.applied) : NULL;
  size_t ncn = c->nconns ? c->nconns : 1;
  r.cname = calloc(ncn, sizeof *r.cname);
  r.ncname = ncn;
  if ((nm && !r.applied) || !r.cname) {
    free(r.applied);
    free(r.cname);
    return WSREF_E_NOMEM;
  }
  if (c->role != WSC_ROLE_SERVER && o.fuzz) fail(&r, WSREF_E_INVALID_ARG, "not a server case");

  /* connection names: a probe needs every step to name its connection */
  bool probe = o.fuzz && o.family == WSC_MUT_STEPS && default_request(c) && expects_upgrade(c);
  size_t named = 0;
  for (size_t i = 0; i < c->nconns; i++) named += c->conns[i].name != NULL;
  for (size_t i = 0; i < c->nconns; i++) r.cname[i] = c->conns[i].name;
  if (probe && named == 0) {
    r.cname[0] = "fz";
    r.conn0_rename = "fz";
  }
  static const char *const probe_names[] = {"fzprobe", "fzprobe2", "fzprobe3"};
  if (probe) {
    for (size_t p = 0; p < NELEM(probe_names) && !r.probe; p++) {
      bool clash = false;
      for (size_t i = 0; i < c->nconns; i++)
        if (c->conns[i].name && strcmp(c->conns[i].name, probe_names[p]) == 0) clash = true;
      if (!clash) r.probe = probe_names[p];
    }
  }
  r.prefix = named > 0 || r.probe;
  if (o.fuzz) {
    /* A long script of expectations (round-trip loops) that the mutation silenced must not
     * wait --expect-timeout for each: they share a few seconds, 10 ms at least each. */
    uint64_t items = 0;
    for (size_t i = 0; i < c->nsteps; i++)
      if (c->steps[i].kind == WSC_STEP_EXPECT && !is_generated(c, i) && c->steps[i].expect.nalts)
        items += c->steps[i].expect.alts[0].nitems;
    r.item_us = o.expect_timeout_us;
    if (items && r.item_us * items > WSC_MUT_EXPECT_TOTAL_US) {
      r.item_us = WSC_MUT_EXPECT_TOTAL_US / items / 1000 * 1000;
      if (r.item_us < 10000) r.item_us = 10000;
    }
  }

  /* metadata */
  const char *id = o.id ? o.id : c->id;
  putf(&r, "case %s ", id);
  const char *title = o.title ? o.title : c->title ? c->title : id;
  put_uq(&r, title, strlen(title), true);
  puts_(&r, "\n");
  for (size_t i = 0; i < c->nclauses; i++) putf(&r, "  clause %s\n", c->clauses[i]);
  putf(&r, "  level %s\n", o.fuzz ? "MUST" : wsc_level_name(c->level));
  if (c->role != WSC_ROLE_SERVER) puts_(&r, "  role client\n");
  if (o.fuzz) {
    puts_(&r, "  tags fuzz\n");
  } else if (c->ntags) {
    puts_(&r, "  tags");
    for (size_t i = 0; i < c->ntags; i++) putf(&r, " %s", c->tags[i]);
    puts_(&r, "\n");
  }
  for (size_t i = 0; i < c->nrequires; i++) {
    if (c->requires[i].kind == WSC_REQ_SUBPROTOCOL) {
      putf(&r, "  requires subprotocol %s\n", c->requires[i].value);
    } else {
      puts_(&r, "  requires extension ");
      put_uq(&r, c->requires[i].value, strlen(c->requires[i].value), false);
      puts_(&r, "\n");
    }
  }
  size_t timeout_at = wsref_buf_len(&r.out);
  int timeout_line = r.lines;
  if (!o.fuzz && c->timeout_us) {
    puts_(&r, "  timeout ");
    put_dur(&r, c->timeout_us);
    puts_(&r, "\n");
  }
  for (size_t i = 0; i < o.nnotes; i++) {
    puts_(&r, "  note ");
    put_uq(&r, o.notes[i], strlen(o.notes[i]), true);
    puts_(&r, "\n");
  }
  for (size_t i = 0; i < c->nnotes; i++) {
    puts_(&r, "  note ");
    put_uq(&r, c->notes[i], strlen(c->notes[i]), true);
    puts_(&r, "\n");
  }

  /* connections */
  for (size_t i = 0; i < c->nconns; i++) {
    if (!r.cname[i]) continue; /* the implicit STOMP connection comes back by itself */
    put_conn(&r, i);
  }
  if (probe && c->nconns == 0) puts_(&r, "  conn fz\n");
  if (r.probe) putf(&r, "  conn %s\n", r.probe);
  r.budget_us += (ncn + (r.probe ? 1 : 0)) * 1000000ull;

  render_handshake(&r);

  /* steps */
  for (size_t i = 0; i <= c->nsteps && !r.rc; i++) {
    for (size_t q = 0; q < nm; q++)
      if (m[q].step == i && (m[q].kind == WSC_MUT_INSERT || m[q].kind == WSC_MUT_SLEEP) &&
          !(o.fuzz && o.family == WSC_MUT_HANDSHAKE))
        render_insert(&r, &m[q]);
    if (i == c->nsteps) break;
    if (is_generated(c, i)) continue;
    if (!(o.fuzz && o.family == WSC_MUT_HANDSHAKE) && step_has(&r, i, WSC_MUT_DROP_STEP)) {
      for (size_t q = 0; q < nm; q++)
        if (m[q].step == i && m[q].kind == WSC_MUT_DROP_STEP) mark_applied(&r, &m[q]);
      continue;
    }
    if (o.fuzz && o.family == WSC_MUT_HANDSHAKE) {
      /* the steps run as written; only the request is mutated */
      const struct wsc_mutation *saved = r.m;
      size_t savedn = r.nm;
      r.m = NULL;
      r.nm = 0;
      render_step(&r, i);
      r.m = saved;
      r.nm = savedn;
    } else {
      render_step(&r, i);
    }
  }

  /* the probe: a crashed or hung target cannot answer a ping on another connection */
  if (r.probe && !r.rc) {
    static const struct wsc_write whole = {0, 0, NULL, 0, false};
    set_policy(&r, &whole);
    putf(&r, "  %s send ping \"wsconform-fuzz-probe\"\n", r.probe);
    if (info) info->probe_line = r.lines + 1;
    putf(&r, "  %s expect pong \"wsconform-fuzz-probe\" timeout=", r.probe);
    put_dur(&r, o.probe_timeout_us);
    puts_(&r, "\n");
    r.budget_us += o.probe_timeout_us;
  }
  if (o.fuzz) r.budget_us += 2000000; /* handshakes, writes, the polite close */
  uint64_t case_timeout = 0;

  if (!r.rc && o.fuzz) {
    /* The deadline goes in the metadata, where it was reserved. A case that sets a short
     * deadline of its own waits for something that does not come (a handshake that cannot
     * complete): its deadline, plus the probe's wait, bounds the mutant too. */
    uint64_t t = r.budget_us;
    uint64_t own = c->timeout_us + (r.probe ? o.probe_timeout_us : 0) + 1000000;
    if (c->timeout_us && own < t) t = own;
    t = (t + 999) / 1000 * 1000;
    char line[48];
    int n = snprintf(line, sizeof line, "  timeout %llums\n", (unsigned long long)(t / 1000));
    size_t total = wsref_buf_len(&r.out);
    uint8_t *d = wsref_buf_reserve(&r.out, (size_t)n);
    if (!d) {
      fail(&r, WSREF_E_NOMEM, "out of memory");
    } else {
      uint8_t *base = wsref_buf_head(&r.out);
      memmove(base + timeout_at + (size_t)n, base + timeout_at, total - timeout_at);
      memcpy(base + timeout_at, line, (size_t)n);
      wsref_buf_commit(&r.out, (size_t)n);
      r.lines++;
      (void)timeout_line;
      case_timeout = t;
      if (info) {
        info->timeout_us = t;
        if (info->probe_line) info->probe_line++;
      }
    }
  }
  if (!r.rc && o.fuzz && o.probe_case && !r.probe) {
    /* The probe as a case of its own: connected at once, its request completed only after
     * the mutant's deadline, then a ping. A target that died or hung meanwhile fails it. */
    uint64_t d = case_timeout ? case_timeout : 5000000;
    putf(&r, "\ncase %s-probe ", id);
    char ptitle[160];
    snprintf(ptitle, sizeof ptitle, "The target still answers a connection opened with %s", id);
    put_uq(&r, ptitle, strlen(ptitle), true);
    puts_(&r, "\n  clause RFC6455 5.5.2\n  level MUST\n  tags fuzz\n  timeout ");
    put_dur(&r, d + o.probe_timeout_us + 2000000);
    puts_(&r, "\n");
    puts_(&r,
          "  note \"Its request is written in two pieces, the second after the first case's "
          "deadline: whatever order the cases run in, it is connected while the other one "
          "runs.\"\n");
    for (size_t i = 0; i < c->nrequires; i++) {
      if (c->requires[i].kind != WSC_REQ_SUBPROTOCOL) continue;
      putf(&r, "  requires subprotocol %s\n", c->requires[i].value);
    }
    const char *p = c->stomp ? "p " : "";
    if (c->stomp) puts_(&r, "  conn p stomp\n");
    puts_(&r, "  handshake write split=1 delay=");
    put_dur(&r, d);
    putf(&r, "\n  %ssend ping \"wsconform-fuzz-probe\"\n", p);
    putf(&r, "  %sexpect pong \"wsconform-fuzz-probe\" timeout=", p);
    put_dur(&r, o.probe_timeout_us);
    puts_(&r, "\n");
    if (info) info->probe_case = true;
  }
  free(r.pol.splits);
  free(r.cname);
  if (!r.rc) {
    size_t n = wsref_buf_len(&r.out);
    char *s = malloc(n + 1);
    if (!s) {
      r.rc = WSREF_E_NOMEM;
    } else {
      memcpy(s, wsref_buf_head(&r.out), n);
      s[n] = 0;
      *text = s;
      if (len) *len = n;
    }
  }
  if (info && r.applied)
    for (size_t q = 0; q < nm; q++) info->applied += r.applied[q];
  free(r.applied);
  wsref_buf_free(&r.out);
  return r.rc;
}
