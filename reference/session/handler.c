#include "session/session.h"

/* Spring's TextWebSocketHandler / BinaryWebSocketHandler: the type restriction lives in the
 * accept mask, so the session rejects the other type (close 1003) before the callback runs. */

wsref_handler wsref_text_handler(int (*on_message)(wsref_session *, const wsref_message *, void *),
                                 void *ud) {
  wsref_handler h = {0};
  h.on_message = on_message;
  h.accept = WSREF_ACCEPT_TEXT;
  h.ud = ud;
  return h;
}

wsref_handler wsref_binary_handler(int (*on_message)(wsref_session *, const wsref_message *,
                                                     void *),
                                   void *ud) {
  wsref_handler h = {0};
  h.on_message = on_message;
  h.accept = WSREF_ACCEPT_BINARY;
  h.ud = ud;
  return h;
}
