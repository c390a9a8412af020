#include "peer.h"

#include <stdio.h>
#include <string.h>

const uint8_t peer_key[4] = {0x37, 0xfa, 0x21, 0x3d};

size_t peer_unhex(const char *hex, uint8_t *out, size_t cap) {
  size_t n = 0;
  int hi = -1;
  for (; *hex; hex++) {
    int v;
    char c = *hex;
    if (c == ' ' || c == '\n' || c == '\t') continue;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'f')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      v = c - 'A' + 10;
    else
      return (size_t)-1;
    if (hi < 0) {
      hi = v;
    } else {
      if (n == cap) return (size_t)-1;
      out[n++] = (uint8_t)(hi << 4 | v);
      hi = -1;
    }
  }
  return hi < 0 ? n : (size_t)-1;
}

void peer_hex(const uint8_t *p, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  size_t w = 0;
  for (size_t i = 0; i < n; i++) {
    if (i) out[w++] = ' ';
    out[w++] = digits[p[i] >> 4];
    out[w++] = digits[p[i] & 15];
  }
  out[w] = 0;
}

size_t peer_header_form(uint8_t *out, uint8_t b0, uint64_t len, int bits, const uint8_t *key) {
  size_t n = 2;
  uint8_t m = key ? 0x80 : 0;
  out[0] = b0;
  if (bits == 7) {
    out[1] = (uint8_t)(m | (len & 0x7f));
  } else if (bits == 16) {
    out[1] = (uint8_t)(m | 126);
    out[2] = (uint8_t)(len >> 8);
    out[3] = (uint8_t)len;
    n = 4;
  } else {
    out[1] = (uint8_t)(m | 127);
    for (int i = 0; i < 8; i++) out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    n = 10;
  }
  if (key) {
    memcpy(out + n, key, 4);
    n += 4;
  }
  return n;
}

size_t peer_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key) {
  int bits = len <= 125 ? 7 : len <= 0xffff ? 16 : 64;
  return peer_header_form(out, b0, len, bits, key);
}

size_t peer_frame(uint8_t *out, uint8_t b0, const uint8_t *key, const void *payload, size_t len) {
  size_t h = peer_header(out, b0, len, key);
  const uint8_t *p = payload;
  for (size_t i = 0; i < len; i++) out[h + i] = key ? (uint8_t)(p[i] ^ key[i & 3]) : p[i];
  return h + len;
}

size_t peer_close_payload(uint8_t *out, unsigned code, const char *reason) {
  size_t n = 0;
  if (code || reason) {
    out[n++] = (uint8_t)(code >> 8);
    out[n++] = (uint8_t)code;
  }
  if (reason) {
    size_t r = strlen(reason);
    memcpy(out + n, reason, r);
    n += r;
  }
  return n;
}

size_t peer_parse(const uint8_t *p, size_t n, peer_parsed *f, uint8_t *payload, size_t cap) {
  if (n < 2) return 0;
  memset(f, 0, sizeof *f);
  f->b0 = p[0];
  f->fin = (p[0] & 0x80) != 0;
  f->rsv = (p[0] >> 4) & 7;
  f->opcode = p[0] & 0x0f;
  f->masked = (p[1] & 0x80) != 0;
  unsigned l7 = p[1] & 0x7f;
  size_t h = 2;
  if (l7 == 126) {
    if (n < 4) return 0;
    f->len = (uint64_t)p[2] << 8 | p[3];
    f->minimal = f->len > 125;
    h = 4;
  } else if (l7 == 127) {
    if (n < 10) return 0;
    for (int i = 0; i < 8; i++) f->len = f->len << 8 | p[2 + i];
    f->minimal = f->len > 0xffff;
    h = 10;
  } else {
    f->len = l7;
    f->minimal = true;
  }
  if (f->masked) {
    if (n < h + 4) return 0;
    memcpy(f->key, p + h, 4);
    h += 4;
  }
  f->header_len = h;
  if (f->len > n - h) return 0;
  if (payload) {
    for (size_t i = 0; i < f->len && i < cap; i++)
      payload[i] = f->masked ? (uint8_t)(p[h + i] ^ f->key[i & 3]) : p[h + i];
  }
  return h + (size_t)f->len;
}

size_t peer_request(char *out, const char *path, const char *extra) {
  return (size_t)sprintf(out,
                         "GET %s HTTP/1.1\r\n"
                         "Host: server.example.com\r\n"
                         "Upgrade: websocket\r\n"
                         "Connection: Upgrade\r\n"
                         "Sec-WebSocket-Key: " PEER_SAMPLE_KEY
                         "\r\n"
                         "Sec-WebSocket-Version: 13\r\n"
                         "%s\r\n",
                         path, extra ? extra : "");
}
