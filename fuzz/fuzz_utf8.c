/* UTF-8 validator (reference/codec/utf8.h), differential against the slow checker in
 * support/common.c.
 *
 * Input: [chunk plan][bytes]. The bytes are fed to wsref_utf8_feed() in pieces from the plan;
 * the verdict, the offset of the first bad octet and the "ends on a boundary" flag must
 * equal the slow checker's for the whole input, and the one-shot wsref_utf8_valid() must
 * agree too. After a failure the validator must stay failed.
 */
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/utf8.h"
#include "support/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size, 0};
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  const uint8_t *p = fuzz_rest(&in);
  size_t n = fuzz_left(&in);

  bool slow_complete;
  size_t slow_bad = fuzz_utf8_first_bad(p, n, &slow_complete);
  bool slow_valid = slow_bad == n && slow_complete;

  wsref_utf8 u;
  wsref_utf8_init(&u);
  FUZZ_CHECK(wsref_utf8_complete(&u));
  size_t pos = 0, fast_bad = n;
  bool failed = false;
  do {
    size_t len = fuzz_chunks_next(&plan, n - pos);
    uint8_t *piece = fuzz_dup(p + pos, len);
    size_t off = (size_t)-1;
    int rc = wsref_utf8_feed(&u, piece, len, &off);
    free(piece);
    if (rc < 0) {
      FUZZ_CHECK(rc == WSREF_E_UTF8);
      FUZZ_CHECK(off < len);
      fast_bad = pos + off;
      failed = true;
      break;
    }
    FUZZ_CHECK(rc == 0);
    pos += len;
  } while (pos < n);

  FUZZ_CHECK(fast_bad == slow_bad);
  if (failed) {
    /* Sticky, and no offset can be named in a later piece. */
    size_t off = 123;
    FUZZ_CHECK(wsref_utf8_feed(&u, (const uint8_t *)"a", 1, &off) == WSREF_E_UTF8);
    FUZZ_CHECK(off == 0);
    FUZZ_CHECK(!wsref_utf8_complete(&u));
  } else {
    FUZZ_CHECK(wsref_utf8_complete(&u) == slow_complete);
  }
  FUZZ_CHECK(wsref_utf8_valid(p, n) == slow_valid);
  return 0;
}
