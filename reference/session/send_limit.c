#include "session/send_limit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/close.h"
#include "codec/frame.h"

typedef struct queued {
  struct queued *next;
  enum wsref_message_type type;
  bool is_last;
  size_t len;
  uint8_t data[];
} queued;

struct wsref_send_limit {
  wsref_session *s;
  uint32_t time_limit_ms;
  size_t buffer_limit;
  enum wsref_overflow overflow;
  queued *head, *tail;
  size_t queued_bytes;
  size_t dropped;
  bool limit_exceeded; /* Spring's limitExceeded: nothing is sent any more */
  bool flushing;
};

static void clear_queue(wsref_send_limit *d) {
  queued *q = d->head;
  while (q) {
    queued *next = q->next;
    free(q);
    q = next;
  }
  d->head = d->tail = NULL;
  d->queued_bytes = 0;
}

static queued *pop(wsref_send_limit *d) {
  queued *q = d->head;
  if (!q) return NULL;
  d->head = q->next;
  if (!d->head) d->tail = NULL;
  d->queued_bytes -= q->len;
  return q;
}

/* Hands everything queued to the session, in order. Returns 0 or the first send error. */
static int hand_over(wsref_send_limit *d) {
  if (d->flushing) return 0;
  d->flushing = true;
  int err = 0;
  queued *q;
  while ((q = pop(d))) {
    wsref_message m = {q->type, q->data, q->len, q->is_last};
    int rc = wsref_session_send(d->s, &m);
    free(q);
    if (rc && !err) err = rc;
    if (rc == WSREF_E_STATE) {
      clear_queue(d);
      break;
    }
  }
  d->flushing = false;
  return err;
}

/* The session output emptied: hand it everything queued meanwhile as the next batch. */
static void on_drain(wsref_session *s, void *ud) {
  (void)s;
  hand_over(ud);
}

int wsref_send_limit_flush(wsref_send_limit *d) {
  if (!d) return WSREF_E_INVALID_ARG;
  return hand_over(d);
}

wsref_send_limit *wsref_send_limit_new(wsref_session *s, uint32_t send_time_limit_ms,
                                       size_t buffer_limit, enum wsref_overflow overflow) {
  if (!s) return NULL;
  wsref_send_limit *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->s = s;
  d->time_limit_ms = send_time_limit_ms;
  d->buffer_limit = buffer_limit;
  d->overflow = overflow;
  wsref_session_set_drain_hook(s, on_drain, d);
  return d;
}

void wsref_send_limit_free(wsref_send_limit *d) {
  if (!d) return;
  wsref_session_set_drain_hook(d->s, NULL, NULL);
  clear_queue(d);
  free(d);
}

static int limit_exceeded(wsref_send_limit *d, int err) {
  d->limit_exceeded = true;
  clear_queue(d);
  /* The peer is not reading, so waiting for its close reply is pointless: queue the close
   * frame and drop the connection (Spring closes with SESSION_NOT_RELIABLE, no reason). */
  wsref_session_terminate(d->s, WSREF_CLOSE_SESSION_NOT_RELIABLE, NULL);
  return err;
}

int wsref_send_limit_send(wsref_send_limit *d, const wsref_message *m) {
  if (!d || !m || (m->len && !m->data)) return WSREF_E_INVALID_ARG;
  if (d->limit_exceeded) return WSREF_E_CLOSED;
  wsref_session *s = d->s;
  if (!wsref_session_is_open(s)) return WSREF_E_STATE;
  if (!d->head && !d->flushing && wsref_session_buffered(s) == 0) return wsref_session_send(s, m);

  /* Reject what the session would reject later, while the caller can still hear it. */
  switch (m->type) {
    case WSREF_MSG_PING:
    case WSREF_MSG_PONG:
      if (m->len > WSREF_CONTROL_MAX || !m->is_last) return WSREF_E_INVALID_ARG;
      break;
    case WSREF_MSG_TEXT:
    case WSREF_MSG_BINARY:
      break;
    default:
      return WSREF_E_INVALID_ARG;
  }
  if (m->len > SIZE_MAX - sizeof(queued)) return WSREF_E_LIMIT;
  queued *q = malloc(sizeof *q + m->len);
  if (!q) return WSREF_E_NOMEM;
  q->next = NULL;
  q->type = m->type;
  q->is_last = m->is_last;
  q->len = m->len;
  if (m->len) memcpy(q->data, m->data, m->len);
  if (d->tail)
    d->tail->next = q;
  else
    d->head = q;
  d->tail = q;
  d->queued_bytes += m->len;

  /* Spring's checkSessionLimits: the time limit first (it always terminates), then size. */
  uint64_t now = wsref_session_now(s), since = wsref_session_output_since(s);
  if (wsref_session_buffered(s) > 0 && now > since && now - since > d->time_limit_ms)
    return limit_exceeded(d, WSREF_E_TIMEOUT);
  if (d->queued_bytes > d->buffer_limit) {
    if (d->overflow == WSREF_OVERFLOW_TERMINATE) return limit_exceeded(d, WSREF_E_LIMIT);
    /* Oldest first, possibly down to the new message itself, as Spring does. */
    while (d->queued_bytes > d->buffer_limit && d->head) {
      free(pop(d));
      d->dropped++;
    }
  }
  return 0;
}

size_t wsref_send_limit_queued_bytes(const wsref_send_limit *d) {
  return d->queued_bytes;
}
size_t wsref_send_limit_dropped(const wsref_send_limit *d) {
  return d->dropped;
}
wsref_session *wsref_send_limit_session(wsref_send_limit *d) {
  return d->s;
}
