/* Whole server session (reference/session/session.h): opening handshake, frames and the
 * closing handshake, driven by scripted chunks of client bytes, application calls and a
 * virtual clock. Input layout, script operations and invariants: support/session_driver.h. */
#include <stddef.h>
#include <stdint.h>

#include "support/session_driver.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_session_run(data, size, false);
  return 0;
}
