/* RFC 6455 section 4.2.2: Sec-WebSocket-Key and Sec-WebSocket-Accept. */
#ifndef WSREF_HANDSHAKE_ACCEPT_H
#define WSREF_HANDSHAKE_ACCEPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WSREF_ACCEPT_LEN 28 /* base64 of a 20-byte SHA-1 */
#define WSREF_KEY_LEN 24    /* base64 of 16 bytes */

/* out receives the 28-character accept value and a NUL. */
void wsref_accept_compute(const char *key, size_t key_len, char out[WSREF_ACCEPT_LEN + 1]);

/* True if key (as sent, surrounding whitespace already trimmed) is base64 that decodes to
 * exactly 16 bytes. */
bool wsref_key_valid(const char *key, size_t key_len);

/* Encode 16 random bytes (the caller supplies them) as a key; out gets 24 chars + NUL. */
void wsref_key_encode(const uint8_t nonce[16], char out[WSREF_KEY_LEN + 1]);

#endif
