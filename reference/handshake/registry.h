/* Spring's WebSocketHandlerRegistry: paths mapped to handlers, each registration with its
 * allowed origins, supported subprotocols, handshake interceptors and an extension hook.
 * The registry only stores the handler pointer (a struct wsref_handler from the session
 * layer); it never calls it. */
#ifndef WSREF_HANDSHAKE_REGISTRY_H
#define WSREF_HANDSHAKE_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/attrs.h"
#include "base/buf.h"
#include "handshake/http.h"

struct wsref_handler;

typedef struct wsref_reject {
  int status;         /* HTTP status to answer with; 403 if left 0 */
  char body[160];     /* one line of text for the response body; a default if empty */
} wsref_reject;

/* Spring's HandshakeInterceptor. before() runs in registration order; returning non-zero
 * rejects the handshake (fill *reject). It may set session attributes. after() runs for
 * every interceptor whose before() ran, in reverse order, with the final status. */
typedef struct wsref_interceptor {
  int (*before)(const wsref_http_request *req, const char *remote_addr, wsref_attrs *attrs,
                wsref_reject *reject, void *ud);
  void (*after)(const wsref_http_request *req, int status, void *ud);
  void *ud;
} wsref_interceptor;

/* Extension negotiation hook (permessage-deflate plugs in here). offers is the client's
 * Sec-WebSocket-Extensions list. On acceptance write the response value to `response`,
 * set *rsv_mask to the RSV bits the extension claims and *state to per-session state;
 * return 1. Return 0 to decline, negative to fail the handshake with 400. */
typedef struct wsref_extension {
  const char *name;
  int (*negotiate)(const wsref_http_request *req, wsref_buf *response, unsigned *rsv_mask,
                   void **state, void *ud);
  /* Releases a state negotiate() returned: called by the session when it is freed, or by
   * the handshake handler when the handshake fails after negotiate() accepted. May be NULL
   * when the state needs no release. */
  void (*free_state)(void *state, void *ud);
  void *ud;
} wsref_extension;

typedef struct wsref_registry wsref_registry;
typedef struct wsref_registration wsref_registration;

wsref_registry *wsref_registry_new(void);
void wsref_registry_free(wsref_registry *reg);

/* Map an exact path (no query) to a handler. The handler must outlive the registry.
 * Returns the registration to configure, or NULL on allocation failure or a duplicate path. */
wsref_registration *wsref_registry_add(wsref_registry *reg, const char *path,
                                       const struct wsref_handler *handler);

/* Allowed Origin values (exact, case-insensitive; "*" = any). With none configured every
 * origin (and no origin) is accepted. A disallowed origin gets 403. */
int wsref_registration_allow_origins(wsref_registration *r, const char *const *origins, size_t n);
/* Supported subprotocols, in the server's list; the first one *the client* offered that is
 * in this list is chosen. */
int wsref_registration_subprotocols(wsref_registration *r, const char *const *protos, size_t n);
int wsref_registration_add_interceptor(wsref_registration *r, const wsref_interceptor *ic);
int wsref_registration_add_extension(wsref_registration *r, const wsref_extension *ext);

/* Lookups used by the handshake handler. */
const wsref_registration *wsref_registry_find(const wsref_registry *reg, const char *path,
                                              size_t path_len);
const struct wsref_handler *wsref_registration_handler(const wsref_registration *r);
const char *wsref_registration_path(const wsref_registration *r);
bool wsref_registration_origin_allowed(const wsref_registration *r, const char *origin,
                                       size_t n); /* origin NULL = header absent */
size_t wsref_registration_nsubprotocols(const wsref_registration *r);
const char *wsref_registration_subprotocol(const wsref_registration *r, size_t i);
size_t wsref_registration_ninterceptors(const wsref_registration *r);
const wsref_interceptor *wsref_registration_interceptor(const wsref_registration *r, size_t i);
size_t wsref_registration_nextensions(const wsref_registration *r);
const wsref_extension *wsref_registration_extension(const wsref_registration *r, size_t i);

#endif
