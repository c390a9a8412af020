/* The demo handlers served by wsref-server, reusable by any program that embeds a server
 * (the conformance harness uses them as its default target):
 *
 *   /echo          every text or binary message is sent back whole, same type, byte-exact
 *   /echo-partial  partial_messages = true: each received piece is sent back as it arrives,
 *                  non-final pieces as non-final fragments (is_last carried through), so
 *                  the peer sees how the server received fragments and chopped TCP writes
 *   /text          Spring's TextWebSocketHandler: text is echoed, binary closes with 1003
 *
 * Pongs are ignored; pings are answered by the session itself.
 */
#ifndef WSREF_APP_ECHO_H
#define WSREF_APP_ECHO_H

#include "handshake/registry.h"
#include "session/session.h"

/* Register the three paths above. The handlers are static: they outlive any registry.
 * Returns 0, WSREF_E_INVALID_ARG if one of the paths is already registered, or
 * WSREF_E_NOMEM. */
int wsref_echo_register(wsref_registry *reg);

/* The on_message callback shared by the three handlers: echoes text and binary messages
 * (whole or partial, as delivered) with wsref_session_send(). A send refused because the
 * session is closing is not a handler error. */
int wsref_echo_on_message(wsref_session *s, const wsref_message *m, void *ud);

const wsref_handler *wsref_echo_handler(void);
const wsref_handler *wsref_echo_partial_handler(void);
const wsref_handler *wsref_echo_text_handler(void);

#endif
