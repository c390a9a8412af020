#include "app/echo.h"

#include "base/error.h"

#include <string.h>

int wsref_echo_on_message(wsref_session *s, const wsref_message *m, void *ud) {
  (void)ud;
  if (m->type != WSREF_MSG_TEXT && m->type != WSREF_MSG_BINARY) return 0;
  int r = wsref_session_send(s, m);
  /* After our own close frame (e.g. server shutdown) the peer may still be sending: there
   * is nothing to echo into, and that is no reason to fail with 1011. */
  return r == WSREF_E_STATE ? 0 : r;
}

/* Static storage, so initialised field by field: these are exactly the handlers
 * wsref_text_handler() and a plain handler would build (test_echo checks it). */
static const wsref_handler echo_handler = {
    .on_message = wsref_echo_on_message,
};
static const wsref_handler partial_handler = {
    .on_message = wsref_echo_on_message,
    .partial_messages = true,
};
static const wsref_handler text_handler = {
    .on_message = wsref_echo_on_message,
    .accept = WSREF_ACCEPT_TEXT,
};

const wsref_handler *wsref_echo_handler(void) {
  return &echo_handler;
}
const wsref_handler *wsref_echo_partial_handler(void) {
  return &partial_handler;
}
const wsref_handler *wsref_echo_text_handler(void) {
  return &text_handler;
}

int wsref_echo_register(wsref_registry *reg) {
  static const struct {
    const char *path;
    const wsref_handler *h;
  } routes[] = {
      {"/echo", &echo_handler},
      {"/echo-partial", &partial_handler},
      {"/text", &text_handler},
  };
  for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
    if (wsref_registry_find(reg, routes[i].path, strlen(routes[i].path)))
      return WSREF_E_INVALID_ARG;
    if (!wsref_registry_add(reg, routes[i].path, routes[i].h)) return WSREF_E_NOMEM;
  }
  return 0;
}
