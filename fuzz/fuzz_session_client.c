/* Whole client session (reference/session/session.h): the request it writes, the server's
 * response head and frames as scripted chunks, application calls and a virtual clock.
 * Input layout, script operations and invariants: support/session_driver.h. The client
 * nonce is the RFC 6455 sample one, so a response carrying s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
 * (in the dictionary) gets through. */
#include <stddef.h>
#include <stdint.h>

#include "support/session_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_session_run(data, size, true);
  return 0;
}
