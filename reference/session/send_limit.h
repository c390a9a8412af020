/* Spring's ConcurrentWebSocketSessionDecorator: bounds how long a send may wait on a slow
 * peer and how much may be buffered for it.
 *
 * While the session has unsent output, further messages queue in the decorator (the session
 * output holds at most one "in-flight" batch). When the queue would exceed buffer_limit
 * bytes, or output has been pending longer than send_time_limit_ms, the overflow strategy
 * applies: TERMINATE closes the session with 4500 (SESSION_NOT_RELIABLE) and returns
 * WSREF_E_LIMIT / WSREF_E_TIMEOUT; DROP discards the oldest queued messages until the new
 * one fits (the time limit always terminates, as in Spring). */
#ifndef WSREF_SESSION_SEND_LIMIT_H
#define WSREF_SESSION_SEND_LIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

enum wsref_overflow { WSREF_OVERFLOW_TERMINATE = 0, WSREF_OVERFLOW_DROP = 1 };

typedef struct wsref_send_limit wsref_send_limit;

/* Installs the session's drain hook. Free the decorator before the session. */
wsref_send_limit *wsref_send_limit_new(wsref_session *s, uint32_t send_time_limit_ms,
                                       size_t buffer_limit, enum wsref_overflow overflow);
void wsref_send_limit_free(wsref_send_limit *d);
int wsref_send_limit_send(wsref_send_limit *d, const wsref_message *m);
/* Hands everything queued to the session now, in order, whatever it has buffered: for a last
 * message that goes to the session directly and must still come after them (the STOMP ERROR
 * before the close). Returns 0 or the first error a send gave. */
int wsref_send_limit_flush(wsref_send_limit *d);
size_t wsref_send_limit_queued_bytes(const wsref_send_limit *d);
size_t wsref_send_limit_dropped(const wsref_send_limit *d);   /* messages dropped so far */
wsref_session *wsref_send_limit_session(wsref_send_limit *d);

#endif
