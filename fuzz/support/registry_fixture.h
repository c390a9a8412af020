/* A handshake registry for the fuzz targets, configured by one option byte:
 *   bits 0-1  origins allowed on /echo, /chat and /stomp: none configured, a list of two
 *             (http://example.com, https://example.org), "*", "null"
 *   bits 2-3  the x-fuzz extension hook: accept (RSV1), decline, fail, answer with a CTL
 *   bit 4     interceptors on every path (an after-only one, then a before+after one that
 *             rejects when the request has X-Reject: <status> and sets the attribute
 *             "user" from X-User)
 *   bit 5     also register "/"
 * Paths: /echo, /chat (subprotocols chat, superchat, v12.stomp, v11.stomp), /stomp
 * (v12.stomp, v10.stomp). A permessage-deflate hook that always declines is registered too,
 * so that offers of it reach a hook. */
#ifndef WSREF_FUZZ_REGISTRY_FIXTURE_H
#define WSREF_FUZZ_REGISTRY_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>

#include "handshake/registry.h"

typedef struct fuzz_reg_ctx {
  unsigned ext_mode;
  int live_states; /* states the x-fuzz hook allocated and free_state() did not free */
  unsigned before_calls, after_calls, negotiate_calls;
  int after_status[2];
  unsigned after_order; /* interceptor indexes of the after() calls, 2 bits each */
  void *last_state;
} fuzz_reg_ctx;

wsref_registry *fuzz_registry_new(uint8_t o, const struct wsref_handler *h, fuzz_reg_ctx *ctx);

/* The x-fuzz extension's free_state(), for callers of wsref_handshake_server() that own a
 * successful result's extension_state. */
void fuzz_registry_free_state(void *state, void *ud);

#endif
