/* The opening handshake (RFC 6455 section 4), both sides, and Spring's HandshakeHandler /
 * HandshakeInterceptor model.
 *
 * Server: wsref_handshake_server() validates a parsed request against a registry, runs the
 * registration's interceptor chain, negotiates subprotocol and extensions, and writes either
 * a 101 response or an error response (400/403/404/405/426/431 with a one-line body naming
 * the reason) into an output buffer.
 *
 * Client: wsref_handshake_client_request() writes the request; wsref_handshake_client_verify()
 * checks the response (status 101, Upgrade, Connection, Accept, and that the subprotocol and
 * extensions are ones we offered).
 */
#ifndef WSREF_HANDSHAKE_HANDSHAKE_H
#define WSREF_HANDSHAKE_HANDSHAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/attrs.h"
#include "base/buf.h"
#include "handshake/accept.h"
#include "handshake/http.h"
#include "handshake/registry.h"

#define WSREF_SUBPROTOCOL_MAX 128
#define WSREF_EXTENSIONS_MAX 256

typedef struct wsref_handshake_result {
  int status;                         /* 101 on success, else the HTTP status sent */
  int err;                            /* 0 or the wsref_err that decided the status */
  const wsref_registration *registration; /* matched path, or NULL (404) */
  const struct wsref_handler *handler;    /* registration's handler */
  char subprotocol[WSREF_SUBPROTOCOL_MAX];/* chosen one, "" if none */
  char extensions[WSREF_EXTENSIONS_MAX];  /* Sec-WebSocket-Extensions sent, "" if none */
  unsigned rsv_mask;                  /* RSV bits (0x4 = RSV1, 0x2 = RSV2, 0x1 = RSV3) claimed
                                         by negotiated extensions */
  const struct wsref_extension *extension; /* the accepting hook, NULL if none */
  void *extension_state;              /* from the extension hook; the session owns it and
                                         releases it with extension->free_state */
  wsref_attrs attrs;                  /* set by interceptors; caller frees */
} wsref_handshake_result;

/* Server side. remote_addr may be NULL. res is initialised by the call; free res->attrs
 * with wsref_attrs_free(). Returns 0 when a 101 was written, otherwise the negative error
 * that decided the error response (which is also written to out). */
int wsref_handshake_server(const wsref_registry *reg, const wsref_http_request *req,
                           const char *remote_addr, wsref_handshake_result *res,
                           wsref_buf *out);

/* Write an error response for a request that could not even be parsed (400 for syntax,
 * 431 for size) with Connection: close. */
void wsref_handshake_write_error(wsref_buf *out, int status, const char *body_line,
                                 const char *extra_headers);

/* Client side. */
typedef struct wsref_handshake_client {
  const char *host;            /* Host header value (with :port when not default) */
  const char *path;            /* request target, "/" if NULL */
  const char *origin;          /* NULL = no Origin header */
  const char *const *subprotocols; size_t nsubprotocols;
  const char *extensions;      /* Sec-WebSocket-Extensions offer, NULL = none */
  const char *const *headers;  /* extra "Name: value" lines */ size_t nheaders;
  uint8_t nonce[16];           /* caller supplies random bytes */
  char key[WSREF_KEY_LEN + 1]; /* filled by _request() */
} wsref_handshake_client;

int wsref_handshake_client_request(wsref_handshake_client *c, wsref_buf *out);

/* Returns 0 or WSREF_E_HS_STATUS / _UPGRADE / _CONNECTION / _ACCEPT / _SUBPROTOCOL /
 * _EXTENSION. subprotocol_out (may be NULL) gets the accepted subprotocol or "". */
int wsref_handshake_client_verify(const wsref_handshake_client *c,
                                  const wsref_http_response *res,
                                  char subprotocol_out[WSREF_SUBPROTOCOL_MAX]);

#endif
