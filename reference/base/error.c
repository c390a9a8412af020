#include "base/error.h"

#include <stddef.h>

static const struct { int code; const char *name, *text; unsigned close; } table[] = {
  {WSREF_OK, "WSREF_OK", "success", 0},
  {WSREF_NEED_MORE, "WSREF_NEED_MORE", "more input needed", 0},
  {WSREF_E_INVALID_ARG, "WSREF_E_INVALID_ARG", "invalid argument", 0},
  {WSREF_E_IO, "WSREF_E_IO", "transport I/O error", 0},
  {WSREF_E_NOMEM, "WSREF_E_NOMEM", "out of memory", 0},
  {WSREF_E_STATE, "WSREF_E_STATE", "call not allowed in the current state", 0},
  {WSREF_E_LIMIT, "WSREF_E_LIMIT", "a configured buffer limit was hit", 0},
  {WSREF_E_CLOSED, "WSREF_E_CLOSED", "already closed", 0},
  {WSREF_E_TIMEOUT, "WSREF_E_TIMEOUT", "timed out", 0},
  {WSREF_E_HANDLER, "WSREF_E_HANDLER", "an application handler reported failure", 1011},
  {WSREF_E_FRAME_LEN64_MSB, "WSREF_E_FRAME_LEN64_MSB", "64-bit length with the most significant bit set", 1002},
  {WSREF_E_FRAME_NON_MINIMAL, "WSREF_E_FRAME_NON_MINIMAL", "length not encoded in the minimal form", 1002},
  {WSREF_E_FRAME_RSV, "WSREF_E_FRAME_RSV", "RSV bit set that no extension claims", 1002},
  {WSREF_E_FRAME_OPCODE, "WSREF_E_FRAME_OPCODE", "reserved opcode 3-7 or 11-15", 1002},
  {WSREF_E_FRAME_CONTROL_LEN, "WSREF_E_FRAME_CONTROL_LEN", "control frame payload > 125", 1002},
  {WSREF_E_FRAME_CONTROL_FRAG, "WSREF_E_FRAME_CONTROL_FRAG", "control frame with FIN = 0", 1002},
  {WSREF_E_FRAME_UNMASKED, "WSREF_E_FRAME_UNMASKED", "client-to-server frame without mask", 1002},
  {WSREF_E_FRAME_MASKED, "WSREF_E_FRAME_MASKED", "server-to-client frame with mask", 1002},
  {WSREF_E_FRAME_CONT, "WSREF_E_FRAME_CONT", "continuation without a started message", 1002},
  {WSREF_E_FRAME_NOT_CONT, "WSREF_E_FRAME_NOT_CONT", "new data frame inside a fragmented message", 1002},
  {WSREF_E_FRAME_TOO_BIG, "WSREF_E_FRAME_TOO_BIG", "frame over the configured limit", 1009},
  {WSREF_E_MESSAGE_TOO_BIG, "WSREF_E_MESSAGE_TOO_BIG", "message over the configured limit", 1009},
  {WSREF_E_AFTER_CLOSE, "WSREF_E_AFTER_CLOSE", "data frame after a close frame", 1002},
  {WSREF_E_UTF8, "WSREF_E_UTF8", "invalid UTF-8 in a text message", 1007},
  {WSREF_E_CLOSE_PAYLOAD_LEN, "WSREF_E_CLOSE_PAYLOAD_LEN", "close frame payload of 1 octet", 1002},
  {WSREF_E_CLOSE_CODE, "WSREF_E_CLOSE_CODE", "close code that must not appear on the wire", 1002},
  {WSREF_E_CLOSE_REASON_UTF8, "WSREF_E_CLOSE_REASON_UTF8", "close reason not UTF-8", 1007},
  {WSREF_E_MESSAGE_TYPE, "WSREF_E_MESSAGE_TYPE", "handler does not accept this message type", 1003},
  {WSREF_E_HTTP_SYNTAX, "WSREF_E_HTTP_SYNTAX", "malformed HTTP request/status line or header", 0},
  {WSREF_E_HTTP_TOO_LARGE, "WSREF_E_HTTP_TOO_LARGE", "header section over the limit", 0},
  {WSREF_E_HTTP_TOO_MANY_HEADERS, "WSREF_E_HTTP_TOO_MANY_HEADERS", "header count over the limit", 0},
  {WSREF_E_HTTP_METHOD, "WSREF_E_HTTP_METHOD", "method is not GET", 0},
  {WSREF_E_HTTP_VERSION, "WSREF_E_HTTP_VERSION", "older than HTTP/1.1", 0},
  {WSREF_E_HS_UPGRADE, "WSREF_E_HS_UPGRADE", "Upgrade lacks the websocket token", 0},
  {WSREF_E_HS_CONNECTION, "WSREF_E_HS_CONNECTION", "Connection lacks the upgrade token", 0},
  {WSREF_E_HS_KEY, "WSREF_E_HS_KEY", "Sec-WebSocket-Key missing or not 16 bytes base64", 0},
  {WSREF_E_HS_VERSION, "WSREF_E_HS_VERSION", "Sec-WebSocket-Version not 13", 0},
  {WSREF_E_HS_ORIGIN, "WSREF_E_HS_ORIGIN", "origin not allowed", 0},
  {WSREF_E_HS_PATH, "WSREF_E_HS_PATH", "no handler for the path", 0},
  {WSREF_E_HS_REJECTED, "WSREF_E_HS_REJECTED", "an interceptor rejected the request", 0},
  {WSREF_E_HS_STATUS, "WSREF_E_HS_STATUS", "client: response status not 101", 0},
  {WSREF_E_HS_ACCEPT, "WSREF_E_HS_ACCEPT", "client: wrong Sec-WebSocket-Accept", 0},
  {WSREF_E_HS_SUBPROTOCOL, "WSREF_E_HS_SUBPROTOCOL", "client: server chose a subprotocol we did not offer", 0},
  {WSREF_E_HS_EXTENSION, "WSREF_E_HS_EXTENSION", "client: server chose an extension we did not offer", 0},
  {WSREF_E_HS_HOST, "WSREF_E_HS_HOST", "missing Host", 0},
  {WSREF_E_HS_BODY, "WSREF_E_HS_BODY", "the upgrade request has a body", 0},
  {WSREF_E_HS_PROTOCOL_SYNTAX, "WSREF_E_HS_PROTOCOL_SYNTAX", "Sec-WebSocket-Protocol is not a list of tokens", 0},
  {WSREF_E_HS_EXTENSION_SYNTAX, "WSREF_E_HS_EXTENSION_SYNTAX", "Sec-WebSocket-Extensions is malformed", 0},
  {WSREF_E_STOMP_COMMAND, "WSREF_E_STOMP_COMMAND", "unknown STOMP command", 0},
  {WSREF_E_STOMP_HEADER, "WSREF_E_STOMP_HEADER", "STOMP header line without a colon or with an empty name", 0},
  {WSREF_E_STOMP_ESCAPE, "WSREF_E_STOMP_ESCAPE", "undefined escape sequence in a STOMP header", 0},
  {WSREF_E_STOMP_EOL, "WSREF_E_STOMP_EOL", "CR not followed by LF in a STOMP frame", 0},
  {WSREF_E_STOMP_NULL, "WSREF_E_STOMP_NULL", "STOMP frame not terminated by NUL after content-length octets", 0},
  {WSREF_E_STOMP_CONTENT_LENGTH, "WSREF_E_STOMP_CONTENT_LENGTH", "invalid STOMP content-length", 0},
  {WSREF_E_STOMP_BODY_NOT_ALLOWED, "WSREF_E_STOMP_BODY_NOT_ALLOWED", "body on a STOMP frame that must not have one", 0},
  {WSREF_E_STOMP_TOO_MANY_HEADERS, "WSREF_E_STOMP_TOO_MANY_HEADERS", "too many STOMP headers", 0},
  {WSREF_E_STOMP_HEADER_TOO_LONG, "WSREF_E_STOMP_HEADER_TOO_LONG", "STOMP header line too long", 0},
  {WSREF_E_STOMP_BODY_TOO_BIG, "WSREF_E_STOMP_BODY_TOO_BIG", "STOMP body over the limit", 0},
  {WSREF_E_STOMP_BUFFER_LIMIT, "WSREF_E_STOMP_BUFFER_LIMIT", "partial STOMP frame over the buffer limit", 0},
  {WSREF_E_STOMP_UTF8, "WSREF_E_STOMP_UTF8", "STOMP command or header not valid UTF-8", 0},
  {WSREF_E_STOMP_MISSING_HEADER, "WSREF_E_STOMP_MISSING_HEADER", "required STOMP header missing", 0},
  {WSREF_E_STOMP_VERSION, "WSREF_E_STOMP_VERSION", "no common STOMP version", 0},
  {WSREF_E_STOMP_NOT_CONNECTED, "WSREF_E_STOMP_NOT_CONNECTED", "STOMP frame outside a connected session", 0},
  {WSREF_E_STOMP_STATE, "WSREF_E_STOMP_STATE", "STOMP frame names an unknown subscription, transaction or message", 0},
  {WSREF_E_STOMP_HEARTBEAT, "WSREF_E_STOMP_HEARTBEAT", "invalid STOMP heart-beat or silent peer", 0},
  {WSREF_E_TLS, "WSREF_E_TLS", "TLS failure", 0},
  {WSREF_E_CONNECT, "WSREF_E_CONNECT", "could not connect", 0},
  {WSREF_E_URL, "WSREF_E_URL", "malformed or unsupported URL", 0},
  {WSREF_E_RESOLVE, "WSREF_E_RESOLVE", "could not resolve the host name", 0},
};

static int find(int err) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
    if (table[i].code == err) return (int)i;
  return -1;
}

const char *wsref_err_name(int err) {
  int i = find(err);
  return i < 0 ? "WSREF_E_UNKNOWN" : table[i].name;
}

const char *wsref_strerror(int err) {
  int i = find(err);
  return i < 0 ? "unknown error" : table[i].text;
}

unsigned wsref_err_close_code(int err) {
  int i = find(err);
  return i < 0 ? 0 : table[i].close;
}
