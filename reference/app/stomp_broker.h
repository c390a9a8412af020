/* The simple STOMP message broker (Spring's SimpleBrokerMessageHandler, plus what the STOMP
 * specification asks of a server that Spring's broker leaves out), the application
 * destination handlers (Spring's @MessageMapping methods), user destinations (Spring's
 * UserDestinationMessageHandler) and the messaging template (SimpMessagingTemplate).
 *
 * The broker owns a protocol handler (session/stomp_server.h) and is its backend:
 *
 *   wsref_stomp_broker *b = wsref_stomp_broker_new(&opt);
 *   wsref_stomp_broker_add_handler(b, "/hello", on_hello, ud);  // SEND /app/hello
 *   wsref_stomp_broker_register(b, registry, "/stomp");
 *
 * Destinations (spec profile):
 *   broker prefixes (default /topic, /queue): a destination is the prefix followed by "/"
 *     and at least one octet. Under a queue prefix (default /queue) each message goes to
 *     exactly one subscriber, round robin, and waits in the queue while there is none (up to
 *     max_queue_messages and max_queued_bytes; a SEND to a full queue gets ERROR); under the
 *     others (/topic) every current subscriber gets it. Queue delivery is flow controlled:
 *     a consumer whose unsent output reached half the send-limit buffer gets no more until
 *     it drained (wsref_stomp_conn_notify_writable), so a backlog never ends a consumer;
 *     topic messages go out at once and a client that cannot keep up is closed with 4500.
 *     Producers are flow controlled too: while a queue holds more than queue_flow_high
 *     waiting messages, the RECEIPTs of its senders wait (wsref_stomp_conn_hold_receipts),
 *     so a publisher that paces itself on receipts slows to what the consumers take.
 *   application prefixes (default /app): SEND goes to the handler registered for the rest of
 *     the destination ("/app/hello" -> "/hello"); none registered: ERROR.
 *   user prefix (default /user): SUBSCRIBE /user/queue/x subscribes to the per-connection
 *     destination /queue/x-user<session id>; SEND (or wsref_template_send_to_user) to
 *     /user/<name>/queue/x goes to that destination of every connection of user <name>
 *     (dropped if none subscribed), with destination:/user/queue/x on the MESSAGE.
 *   anything else: ERROR (SD-02, SB-05).
 *
 * Acknowledgement (spec profile; SUBSCRIBE ack:auto|client|client-individual): a MESSAGE
 * carries message-id (a per-delivery number, unique for the broker's life) and, on 1.2
 * client-mode subscriptions, ack:<same number>. ACK/NACK name it by id (1.2), message-id +
 * subscription (1.1) or message-id (1.0); client mode is cumulative, client-individual not.
 * Unknown ids are ignored. Queue messages stay owned by the broker until acknowledged: on
 * NACK, UNSUBSCRIBE, DISCONNECT or connection loss the unacknowledged ones go back to the
 * head of their queue (in order, with redelivered:true) and to the next subscriber. A
 * subscription holds at most max_unacked (or its prefetch-count header) unacknowledged
 * messages. Topic messages are not redelivered.
 *
 * Transactions (spec): BEGIN/COMMIT/ABORT; SEND, ACK and NACK with a transaction header are
 * kept until COMMIT (applied in order) or dropped at ABORT, DISCONNECT or connection loss.
 *
 * spring profile (Spring's simple broker): every broker prefix fans out (no queues), no ack
 * handling, no transactions (SEND applies at once), no RECEIPT but for DISCONNECT,
 * destinations outside the prefixes and invalid frames are ignored silently, a duplicate
 * subscription id keeps the first, MESSAGE headers are the SEND's (in order, destination
 * rewritten for user destinations) then subscription, message-id:<session>-<n> and
 * content-length; content-type is normalised as Spring's MimeType prints it; a body whose
 * content-type is application/octet-stream goes out as a binary WebSocket message.
 *
 * Cost: a SEND costs one hash lookup plus the subscriber list of its destination; the part
 * of MESSAGE shared by all subscribers (destination, headers, body) is encoded once per
 * STOMP version and only the per-subscriber lines (subscription, message-id, ack) are
 * written per subscriber. Outbound interceptors need the frame per subscriber, so with any
 * installed each MESSAGE is encoded separately.
 */
#ifndef WSREF_APP_STOMP_BROKER_H
#define WSREF_APP_STOMP_BROKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/stomp.h"
#include "handshake/registry.h"
#include "session/stomp_server.h"

typedef struct wsref_stomp_broker wsref_stomp_broker;

#define WSREF_STOMP_BROKER_MAX_PREFIXES 8

typedef struct wsref_stomp_broker_options {
  wsref_stomp_server_options server; /* protocol handler: profile, limits, heart-beats */
  /* Prefixes, NULL-terminated lists (at most WSREF_STOMP_BROKER_MAX_PREFIXES each); the
   * strings are copied. */
  const char *broker_prefixes[WSREF_STOMP_BROKER_MAX_PREFIXES + 1]; /* {"/topic","/queue"} */
  const char *queue_prefixes[WSREF_STOMP_BROKER_MAX_PREFIXES + 1];  /* spec {"/queue"},
                                                                       spring {} */
  const char *app_prefixes[WSREF_STOMP_BROKER_MAX_PREFIXES + 1];    /* {"/app"} */
  const char *user_prefix;      /* "/user"; NULL or "" disables user destinations */
  size_t max_queue_messages;    /* waiting messages per queue; default 1000000 */
  size_t max_queued_bytes;      /* waiting messages in all queues; default 256 MiB */
  size_t queue_flow_high;       /* producer flow control: beyond this many waiting
                                   messages in a queue, the RECEIPTs of those who send to
                                   it wait until it drained to half; default 10000,
                                   0 = off */
  uint32_t max_unacked;         /* per client-mode queue subscription; default 65536 */
  size_t max_subscriptions;     /* per connection; default 1024 */
  size_t max_transactions;      /* open per connection; default 64 */
  size_t max_transaction_bytes; /* frames kept by one transaction; default 16 MiB */
} wsref_stomp_broker_options;

/* Defaults for every field, for a profile (server options included). */
void wsref_stomp_broker_options_default(wsref_stomp_broker_options *o,
                                        enum wsref_stomp_profile profile);

/* o may be NULL (spec defaults). Returns NULL on allocation failure or WSREF_E_INVALID_ARG
 * conditions (a prefix that is empty or does not start with '/'). */
wsref_stomp_broker *wsref_stomp_broker_new(const wsref_stomp_broker_options *o);
/* Every session served by the broker must be gone (freed) first. */
void wsref_stomp_broker_free(wsref_stomp_broker *b);
wsref_stomp_server *wsref_stomp_broker_server(wsref_stomp_broker *b);
/* wsref_stomp_server_register() of the broker's protocol handler. */
wsref_registration *wsref_stomp_broker_register(wsref_stomp_broker *b, wsref_registry *reg,
                                                const char *path);
/* Channel interceptors (wsref_stomp_server_add_interceptor). */
int wsref_stomp_broker_add_interceptor(wsref_stomp_broker *b, enum wsref_stomp_channel ch,
                                       const wsref_stomp_interceptor *ic);

/* An application destination handler. dest is the destination without the application
 * prefix; c is the sending connection (NULL for a wsref_template_send to an application
 * destination). Return 0, or a negative error to answer the SEND with ERROR (text via
 * wsref_stomp_conn_set_error). Handlers may send with the template. */
typedef int (*wsref_stomp_app_handler)(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                                       const wsref_stomp_frame *f, void *ud);

/* Map dest (e.g. "/hello", matched exactly against the SEND destination minus the
 * application prefix; "*" = every destination without a handler of its own). 0,
 * WSREF_E_INVALID_ARG (dest taken) or WSREF_E_NOMEM. */
int wsref_stomp_broker_add_handler(wsref_stomp_broker *b, const char *dest,
                                   wsref_stomp_app_handler fn, void *ud);

/* ---- messaging template (SimpMessagingTemplate) ---- */

/* Send a message to a broker destination (or an application one: its handler runs) as if
 * a client had sent SEND with these headers (destination, content-length, receipt and
 * transaction headers among them are ignored) and body. 0, WSREF_E_INVALID_ARG (not a
 * broker or application destination), WSREF_E_LIMIT (queue full) or WSREF_E_NOMEM. */
int wsref_template_send(wsref_stomp_broker *b, const char *dest, const wsref_stomp_header *headers,
                        size_t nheaders, const void *body, size_t body_len);
/* convertAndSendToUser: to dest (e.g. "/queue/reply") of every connection of user. 0 also
 * when the user has no connection (the message is dropped, as in Spring). */
int wsref_template_send_to_user(wsref_stomp_broker *b, const char *user, const char *dest,
                                const wsref_stomp_header *headers, size_t nheaders,
                                const void *body, size_t body_len);

/* ---- introspection (tests, benchmarks) ---- */

typedef struct wsref_stomp_broker_stats {
  size_t connections;  /* connected STOMP sessions */
  size_t destinations; /* live destinations (with subscribers or waiting messages) */
  size_t subscriptions;
  size_t queued;        /* messages waiting in queues */
  size_t unacked;       /* delivered, not yet acknowledged */
  uint64_t published;   /* messages accepted (SEND, template) */
  uint64_t delivered;   /* MESSAGE frames sent */
  uint64_t redelivered; /* of which redeliveries */
  uint64_t acked;
} wsref_stomp_broker_stats;

void wsref_stomp_broker_get_stats(const wsref_stomp_broker *b, wsref_stomp_broker_stats *st);

#endif
