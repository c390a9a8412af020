#include "codec/close.h"

#include <string.h>

#include "base/error.h"
#include "codec/frame.h"
#include "codec/utf8.h"

/* Room for the reason once the 2-octet code is in a 125-octet control payload. */
enum { REASON_MAX = WSREF_CONTROL_MAX - 2 };

bool wsref_close_code_valid(unsigned code) {
  /* 1004 is reserved, 1005/1006/1015 are for reporting only, 1016-2999 are unassigned or
   * reserved for future RFCs, 3000-3999 are IANA-registered, 4000-4999 are private use. */
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

/* On WSREF_E_CLOSE_CODE and WSREF_E_CLOSE_REASON_UTF8, *out is still filled with what was on
 * the wire: an observer (the harness) reports the offending code or reason, while an
 * endpoint just fails the connection. On the other errors *out is left untouched. out may be
 * NULL to validate only. The reason may hold NUL octets (U+0000 is valid UTF-8); reason_len
 * is authoritative. */
int wsref_close_parse(const uint8_t *payload, size_t len, wsref_close_status *out) {
  if (len > WSREF_CONTROL_MAX) return WSREF_E_FRAME_CONTROL_LEN;
  if (len == 1) return WSREF_E_CLOSE_PAYLOAD_LEN;
  wsref_close_status st;
  memset(&st, 0, sizeof st);
  int rc = 0;
  if (len >= 2) {
    st.code = (uint16_t)(payload[0] << 8 | payload[1]);
    st.reason_len = len - 2;
    memcpy(st.reason, payload + 2, st.reason_len);
    if (!wsref_close_code_valid(st.code))
      rc = WSREF_E_CLOSE_CODE;
    else if (!wsref_utf8_valid(payload + 2, st.reason_len))
      rc = WSREF_E_CLOSE_REASON_UTF8;
  }
  if (out) *out = st;
  return rc;
}

/* Longest prefix of reason that fits REASON_MAX octets without splitting a code point.
 * Only continuation octets (10xxxxxx) are stepped back over, at most 3 of them: for valid
 * UTF-8 that is exact, and the reason is not otherwise checked, so that the code and
 * reason are written as given (the harness sends invalid ones on purpose). */
static size_t reason_fit(const char *reason, size_t len) {
  if (len <= REASON_MAX) return len;
  const uint8_t *r = (const uint8_t *)reason;
  size_t k = REASON_MAX;
  for (int back = 0; back < 3 && k > 0 && (r[k] & 0xC0) == 0x80; back++) k--;
  return k;
}

size_t wsref_close_encode(uint8_t *out, unsigned code, const char *reason, size_t reason_len) {
  if (code == 0) return 0;
  out[0] = (uint8_t)(code >> 8);
  out[1] = (uint8_t)code;
  size_t n = reason ? reason_fit(reason, reason_len) : 0;
  if (n) memcpy(out + 2, reason, n);
  return 2 + n;
}

void wsref_close_status_set(wsref_close_status *st, unsigned code, const char *reason) {
  size_t len = reason ? strlen(reason) : 0;
  size_t n = reason ? reason_fit(reason, len) : 0;
  st->code = (uint16_t)code;
  if (n) memcpy(st->reason, reason, n);
  st->reason[n] = '\0';
  st->reason_len = n;
}
