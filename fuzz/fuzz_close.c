/* Close payloads (reference/codec/close.h): parse against independent rules, then encode and
 * parse again.
 *
 * Input: [payload bytes]. The bytes are parsed as a close frame payload; the result must be
 * the one RFC 6455 5.5 and 7.4 give (length rules, code list in support/common.c, UTF-8 by
 * the slow checker). Then the first two bytes are used as a code and the rest as a reason
 * of any length for wsref_close_encode() and wsref_close_status_set(): the output fits a
 * control frame, keeps the code, truncates the reason only at a code point boundary, and
 * parses back to the same status when code and reason were valid.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/close.h"
#include "support/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t *p = fuzz_dup(data, size);

  /* ---- parse ---- */
  wsref_close_status st;
  memset(&st, 0xA5, sizeof st);
  int rc = wsref_close_parse(p, size, &st);
  int want;
  unsigned code = size >= 2 ? (unsigned)p[0] << 8 | p[1] : 0;
  if (size > 125)
    want = WSREF_E_FRAME_CONTROL_LEN;
  else if (size == 1)
    want = WSREF_E_CLOSE_PAYLOAD_LEN;
  else if (size == 0)
    want = 0;
  else if (!fuzz_close_code_ok(code))
    want = WSREF_E_CLOSE_CODE;
  else if (!fuzz_utf8_ok(p + 2, size - 2))
    want = WSREF_E_CLOSE_REASON_UTF8;
  else
    want = 0;
  FUZZ_CHECK(rc == want);
  FUZZ_CHECK(wsref_close_code_valid(code) == fuzz_close_code_ok(code));
  if (rc == 0 || rc == WSREF_E_CLOSE_CODE || rc == WSREF_E_CLOSE_REASON_UTF8) {
    /* Filled with what was on the wire, also on the two "observer" errors. */
    FUZZ_CHECK(st.code == code);
    size_t rl = size >= 2 ? size - 2 : 0;
    FUZZ_CHECK(st.reason_len == rl);
    FUZZ_CHECK(memcmp(st.reason, p + 2 * (size >= 2), rl) == 0);
    FUZZ_CHECK(st.reason[rl] == '\0');
  }
  FUZZ_CHECK(wsref_close_parse(p, size, NULL) == rc);

  /* ---- encode ---- */
  const char *reason = size > 2 ? (const char *)p + 2 : NULL;
  size_t rlen = size > 2 ? size - 2 : 0;
  uint8_t out[125 + 16];
  memset(out, 0xEE, sizeof out);
  size_t n = wsref_close_encode(out, code, reason, rlen);
  for (size_t i = 125; i < sizeof out; i++) FUZZ_CHECK(out[i] == 0xEE);
  if (code == 0) {
    FUZZ_CHECK(n == 0);
  } else {
    FUZZ_CHECK(n >= 2 && n <= 125);
    FUZZ_CHECK(((unsigned)out[0] << 8 | out[1]) == code);
    size_t kept = n - 2;
    FUZZ_CHECK(kept <= rlen);
    if (kept) FUZZ_CHECK(memcmp(out + 2, reason, kept) == 0);
    if (rlen <= 123) FUZZ_CHECK(kept == rlen);
    if (rlen > 123) FUZZ_CHECK(kept >= 120 && kept <= 123); /* backs up over <= 3 octets */
    bool reason_ok = fuzz_utf8_ok((const uint8_t *)reason, rlen);
    if (reason_ok) {
      /* Truncation of valid text stays valid. */
      FUZZ_CHECK(fuzz_utf8_ok(out + 2, kept));
      if (fuzz_close_code_ok(code)) {
        wsref_close_status back;
        FUZZ_CHECK(wsref_close_parse(out, n, &back) == 0);
        FUZZ_CHECK(back.code == code && back.reason_len == kept);
      }
    }
  }

  /* ---- status_set: a C string reason ---- */
  char *cstr = malloc(rlen + 1);
  if (!cstr) abort();
  if (rlen) memcpy(cstr, reason, rlen);
  cstr[rlen] = '\0';
  size_t clen = strlen(cstr);
  wsref_close_status ss;
  wsref_close_status_set(&ss, code, size & 1 ? cstr : NULL);
  FUZZ_CHECK(ss.code == (uint16_t)code);
  FUZZ_CHECK(ss.reason_len <= 123 && ss.reason[ss.reason_len] == '\0');
  if (size & 1) {
    FUZZ_CHECK(ss.reason_len <= clen);
    FUZZ_CHECK(memcmp(ss.reason, cstr, ss.reason_len) == 0);
    if (clen <= 123) FUZZ_CHECK(ss.reason_len == clen);
    if (fuzz_utf8_ok((const uint8_t *)cstr, clen))
      FUZZ_CHECK(fuzz_utf8_ok((const uint8_t *)ss.reason, ss.reason_len));
  } else {
    FUZZ_CHECK(ss.reason_len == 0);
  }
  free(cstr);
  free(p);
  return 0;
}
