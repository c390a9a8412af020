/* Codec throughput: a masked TEXT frame through wsref_frame_parse (which unmasks in place)
 * and wsref_utf8_feed, against memcpy of the same bytes in the same run.
 *
 * How unmasking stays real work on every iteration without an extra pass in the timed loop
 * (ASCII rows): the masking key has no octet >= 0x80, so ASCII XOR key is ASCII. Parsing the
 * buffer in place turns the masked payload into clear text; the next iteration parses the
 * same frame again, and its "unmasking" turns the clear text back into the masked form, which
 * is again pure ASCII and validates the same way. Every iteration XORs every payload octet
 * and validates the result.
 * Mixed UTF-8 rows cannot use that (a masked multibyte text is not valid UTF-8), so each
 * iteration first re-masks the payload with wsref_mask_apply: those rows include one extra
 * pass over the payload, and say so.
 *
 * Each row runs about 0.2 s (calibrated), timed with CLOCK_MONOTONIC. Throughput counts the
 * frame's octets (header + payload) for both columns. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/error.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "codec/utf8.h"

enum { ASCII, MIXED };

static const uint8_t ascii_key[4] = {0x37, 0x7a, 0x21, 0x3d}; /* no octet >= 0x80 */
static const uint8_t mixed_key[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7 */

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keeps the compiler from dropping or merging work whose result is not otherwise used. */
static inline void clobber(void *p) {
  __asm__ volatile("" : : "r"(p) : "memory");
}

static void die(const char *what) {
  fprintf(stderr, "codec_bench: %s\n", what);
  exit(1);
}

/* Fills p with n octets of text; MIXED cycles through 1-, 2-, 3- and 4-octet characters and
 * pads with ASCII so the text ends on a code point boundary. */
static void make_text(uint8_t *p, size_t n, int kind) {
  static const char ascii[] = "The quick brown fox jumps over the lazy dog 0123456789. ";
  static const char *const mixed[] = {
      "Gr\xc3\xbc\xc3\x9f"
      "e, ",
      "\xce\xba\xcf\x8c\xcf\x83\xce\xbc\xce\xb5 ",
      "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 ",
      "\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96\xe7\x95\x8c ",
      "\xf0\x9f\x98\x80\xf0\x9f\x8e\x89 ",
      "\xe2\x82\xac"
      "42 "};
  size_t at = 0;
  if (kind == ASCII) {
    for (; at < n; at++) p[at] = (uint8_t)ascii[at % (sizeof ascii - 1)];
    return;
  }
  for (size_t i = 0;; i++) {
    const char *s = mixed[i % (sizeof mixed / sizeof mixed[0])];
    size_t len = strlen(s);
    if (at + len > n) break;
    memcpy(p + at, s, len);
    at += len;
  }
  for (; at < n; at++) p[at] = 'x';
}

typedef struct row {
  int kind;
  size_t size;
  uint8_t *frame; /* header + masked payload, parsed in place */
  size_t frame_len, header_len;
  uint8_t *copy_dst;
  wsref_frame_parser parser; /* one per row, as one per connection: frames follow frames */
} row;

/* One parse of the whole frame, as a session would drive it: HEADER, one PAYLOAD (unmasked
 * in place), UTF-8 on the payload, END. The parser persists across iterations like a
 * connection's parser across frames. */
static void parse_once(row *r) {
  wsref_frame_parser *p = &r->parser;
  wsref_utf8 u;
  wsref_utf8_init(&u);
  uint8_t *buf = r->frame;
  size_t len = r->frame_len, off = 0;
  for (;;) {
    wsref_frame_event ev;
    ssize_t n = wsref_frame_parse(p, buf + off, len - off, &ev);
    if (n < 0) die("parse error");
    off += (size_t)n;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
    if (ev.type == WSREF_FRAME_EV_PAYLOAD && wsref_utf8_feed(&u, ev.data, ev.len, NULL) != 0)
      die("payload is not valid UTF-8");
  }
  if (!wsref_utf8_complete(&u) || off != len) die("frame not consumed whole");
  clobber(buf);
}

static void run_parse(row *r, long iters) {
  for (long i = 0; i < iters; i++) {
    if (r->kind == MIXED) wsref_mask_apply(r->frame + r->header_len, r->size, mixed_key, 0);
    parse_once(r);
  }
}

static void run_memcpy(row *r, long iters) {
  for (long i = 0; i < iters; i++) {
    memcpy(r->copy_dst, r->frame, r->frame_len);
    clobber(r->copy_dst);
  }
}

/* Octets per second over about `target` seconds, after calibrating the iteration count. */
static double measure(void (*fn)(row *, long), row *r, double target) {
  long iters = 1;
  double t;
  for (;;) {
    double t0 = now();
    fn(r, iters);
    t = now() - t0;
    if (t >= target / 8 || iters > (1L << 40)) break;
    iters *= 2;
  }
  iters = (long)((double)iters * target / (t > 0 ? t : 1e-9)) + 1;
  double t0 = now();
  fn(r, iters);
  t = now() - t0;
  return (double)r->frame_len * (double)iters / t;
}

static void size_label(size_t n, char *out, size_t cap) {
  if (n >= (1u << 20))
    snprintf(out, cap, "%zu MiB", n >> 20);
  else if (n >= 1024)
    snprintf(out, cap, "%zu KiB", n >> 10);
  else
    snprintf(out, cap, "%zu B", n);
}

int main(void) {
  static const size_t sizes[] = {16, 1024, 64 * 1024, 1024 * 1024};
  const double target = 0.2;
  printf(
      "codec_bench: masked TEXT frame, wsref_frame_parse (unmask in place) + "
      "wsref_utf8_feed, vs memcpy of the frame\n\n");
  printf("%-22s %8s %24s %12s %7s\n", "payload", "size", "parse+unmask+utf8 GB/s", "memcpy GB/s",
         "ratio");
  for (int kind = ASCII; kind <= MIXED; kind++) {
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
      row r = {.kind = kind, .size = sizes[si]};
      r.frame = malloc(sizes[si] + WSREF_FRAME_HEADER_MAX);
      r.copy_dst = malloc(sizes[si] + WSREF_FRAME_HEADER_MAX);
      if (!r.frame || !r.copy_dst) die("out of memory");
      wsref_frame_header h = {
          .fin = true, .opcode = WSREF_OP_TEXT, .masked = true, .length = sizes[si]};
      memcpy(h.mask, kind == ASCII ? ascii_key : mixed_key, 4);
      r.header_len = wsref_frame_header_encode(r.frame, &h);
      r.frame_len = r.header_len + sizes[si];
      make_text(r.frame + r.header_len, sizes[si], kind);
      if (!wsref_utf8_valid(r.frame + r.header_len, sizes[si])) die("bad test text");
      /* ASCII rows start masked; mixed rows start clear because run_parse masks first. */
      if (kind == ASCII) wsref_mask_apply(r.frame + r.header_len, sizes[si], h.mask, 0);
      memset(r.copy_dst, 0, r.frame_len);
      wsref_frame_parser_options o = {.role = WSREF_ROLE_SERVER};
      wsref_frame_parser_init(&r.parser, &o);

      double ours = measure(run_parse, &r, target);
      double mc = measure(run_memcpy, &r, target);
      char label[32];
      size_label(sizes[si], label, sizeof label);
      printf("%-22s %8s %24.2f %12.2f %7.2f\n", kind == ASCII ? "ascii" : "mixed UTF-8 (+remask)",
             label, ours / 1e9, mc / 1e9, ours / mc);
      fflush(stdout);
      free(r.frame);
      free(r.copy_dst);
    }
  }
  printf(
      "\nascii rows: the key has no octet >= 0x80, so each parse unmasks the previous clear "
      "text back to ASCII; every iteration XORs and validates every octet.\n"
      "mixed rows: each iteration re-masks the payload first (one extra pass, counted).\n");
  return 0;
}
