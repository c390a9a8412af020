/* RFC 6455 sections 5.5.1 and 7.4: close frame payloads and status codes. */
#ifndef WSREF_CODEC_CLOSE_H
#define WSREF_CODEC_CLOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum wsref_close_code {
  WSREF_CLOSE_NORMAL = 1000,
  WSREF_CLOSE_GOING_AWAY = 1001,
  WSREF_CLOSE_PROTOCOL_ERROR = 1002,
  WSREF_CLOSE_NOT_ACCEPTABLE = 1003,
  WSREF_CLOSE_NO_STATUS = 1005,        /* never on the wire */
  WSREF_CLOSE_ABNORMAL = 1006,         /* never on the wire */
  WSREF_CLOSE_BAD_DATA = 1007,
  WSREF_CLOSE_POLICY_VIOLATION = 1008,
  WSREF_CLOSE_TOO_BIG = 1009,
  WSREF_CLOSE_REQUIRED_EXTENSION = 1010,
  WSREF_CLOSE_SERVER_ERROR = 1011,
  WSREF_CLOSE_SERVICE_RESTARTED = 1012,
  WSREF_CLOSE_SERVICE_OVERLOAD = 1013,
  WSREF_CLOSE_BAD_GATEWAY = 1014,
  WSREF_CLOSE_TLS_HANDSHAKE = 1015,    /* never on the wire */
  WSREF_CLOSE_SESSION_NOT_RELIABLE = 4500, /* Spring's SESSION_NOT_RELIABLE */
};

/* Close status: a code and a reason (UTF-8, at most 123 octets on the wire). */
typedef struct wsref_close_status {
  uint16_t code;          /* 0 = no status code was present (1005 reported to handlers) */
  char reason[124];       /* NUL-terminated copy of the reason */
  size_t reason_len;
} wsref_close_status;

/* May this code appear in a close frame? 1000-1003, 1007-1014, 3000-4999. */
bool wsref_close_code_valid(unsigned code);

/* Parse a close frame payload: empty (no code), or 2-byte code + UTF-8 reason.
 * Returns 0 or WSREF_E_CLOSE_PAYLOAD_LEN (1 byte), WSREF_E_CLOSE_CODE, WSREF_E_CLOSE_REASON_UTF8,
 * WSREF_E_FRAME_CONTROL_LEN (> 125). */
int wsref_close_parse(const uint8_t *payload, size_t len, wsref_close_status *out);

/* Encode code + reason (truncated at a code point boundary to fit 123 octets) into out
 * (at least 125 bytes). code 0 gives an empty payload. Returns the payload length. */
size_t wsref_close_encode(uint8_t *out, unsigned code, const char *reason, size_t reason_len);

/* Fill a status struct (reason truncated as above). */
void wsref_close_status_set(wsref_close_status *st, unsigned code, const char *reason);

#endif
