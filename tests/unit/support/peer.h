/* A scripted fake WebSocket peer for session tests: builds frames the way a client (masked)
 * or a server (unmasked) puts them on the wire, including malformed ones, and parses what
 * the endpoint under test sent back.
 *
 * Deliberately independent of reference/codec: the bytes a test expects must not come from
 * the code under test. */
#ifndef WSREF_TEST_PEER_H
#define WSREF_TEST_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* First-octet helpers: FIN bit and opcodes. */
#define PEER_FIN 0x80u
#define PEER_RSV1 0x40u
#define PEER_RSV2 0x20u
#define PEER_RSV3 0x10u

/* The RFC 6455 section 5.7 sample masking key 37 fa 21 3d. */
extern const uint8_t peer_key[4];

/* "81 85 37fa" -> bytes (whitespace ignored, letters any case). Returns the count, or
 * (size_t)-1 on an odd number of digits or a stray character. */
size_t peer_unhex(const char *hex, uint8_t *out, size_t cap);

/* Lower-case hex with a space between octets ("81 05 48"); out must hold 3 * n + 1. */
void peer_hex(const uint8_t *p, size_t n, char *out);

/* Frame header with first octet b0 (FIN | RSV | opcode), declared payload length len in the
 * minimal form, masked with key when key != NULL. Returns the header size (2..14). */
size_t peer_header(uint8_t *out, uint8_t b0, uint64_t len, const uint8_t *key);

/* Same, with the length in the given form: 7 (len <= 127 stored as is), 16 or 64 bits,
 * minimal or not. */
size_t peer_header_form(uint8_t *out, uint8_t b0, uint64_t len, int bits, const uint8_t *key);

/* A whole frame: header + payload (masked with key when key != NULL). Returns its size. */
size_t peer_frame(uint8_t *out, uint8_t b0, const uint8_t *key, const void *payload, size_t len);

/* A close frame payload: code (0 = none) then reason bytes. Returns its length. */
size_t peer_close_payload(uint8_t *out, unsigned code, const char *reason);

/* One frame parsed from what an endpoint sent. */
typedef struct peer_parsed {
  uint8_t b0; /* first octet as sent */
  bool fin;
  unsigned rsv; /* 0..7, RSV1 = 4 */
  unsigned opcode;
  bool masked;
  uint8_t key[4];
  uint64_t len; /* declared payload length */
  size_t header_len;
  bool minimal; /* the length used its minimal form */
} peer_parsed;

/* Parse the frame at p. The payload, unmasked, is copied to payload (up to cap bytes) when
 * payload != NULL. Returns the frame's total size, or 0 if p[0..n) does not hold it all. */
size_t peer_parse(const uint8_t *p, size_t n, peer_parsed *f, uint8_t *payload, size_t cap);

/* An opening handshake request for path with the RFC 6455 sample key, Host
 * server.example.com and version 13, plus extra header lines (each ending in \r\n, may be
 * NULL). Returns the length written (out must hold 512 + strlen(extra) bytes). */
size_t peer_request(char *out, const char *path, const char *extra);

/* The Sec-WebSocket-Key / -Accept pair of the RFC 6455 section 1.3 example. */
#define PEER_SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define PEER_SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#endif
