/* Error codes shared by every libwsref layer.
 *
 * Functions return 0 (or a byte count) on success and a negative wsref_err on failure.
 * Codes are grouped by hundreds per layer so a log line tells where a failure came from.
 * WSREF_NEED_MORE is not a failure: an incremental parser wants more input.
 */
#ifndef WSREF_BASE_ERROR_H
#define WSREF_BASE_ERROR_H

enum wsref_err {
  WSREF_OK = 0,
  WSREF_NEED_MORE = -1,

  /* generic: -100.. */
  WSREF_E_NOMEM = -100,
  WSREF_E_INVALID_ARG = -101,
  WSREF_E_STATE = -102,       /* call not allowed in the current state */
  WSREF_E_LIMIT = -103,       /* a configured buffer limit was hit */
  WSREF_E_CLOSED = -104,      /* session/connection already closed */
  WSREF_E_TIMEOUT = -105,
  WSREF_E_IO = -106,
  WSREF_E_HANDLER = -107,     /* an application callback reported failure */

  /* framing: -200.. (all map to close 1002 unless noted) */
  WSREF_E_FRAME_LEN64_MSB = -200,   /* 64-bit length with the most significant bit set */
  WSREF_E_FRAME_NON_MINIMAL = -201, /* length not encoded in the minimal form */
  WSREF_E_FRAME_RSV = -202,         /* RSV bit set that no extension claims */
  WSREF_E_FRAME_OPCODE = -203,      /* reserved opcode 3-7 or 11-15 */
  WSREF_E_FRAME_CONTROL_LEN = -204, /* control frame payload > 125 */
  WSREF_E_FRAME_CONTROL_FRAG = -205,/* control frame with FIN = 0 */
  WSREF_E_FRAME_UNMASKED = -206,    /* client-to-server frame without mask */
  WSREF_E_FRAME_MASKED = -207,      /* server-to-client frame with mask */
  WSREF_E_FRAME_CONT = -208,        /* continuation without a started message */
  WSREF_E_FRAME_NOT_CONT = -209,    /* new data frame inside a fragmented message */
  WSREF_E_FRAME_TOO_BIG = -210,     /* frame over the configured limit (close 1009) */
  WSREF_E_MESSAGE_TOO_BIG = -211,   /* message over the configured limit (close 1009) */
  WSREF_E_AFTER_CLOSE = -212,       /* data frame after a close frame */

  /* payload: -300.. */
  WSREF_E_UTF8 = -300,              /* invalid UTF-8 (close 1007) */
  WSREF_E_CLOSE_PAYLOAD_LEN = -301, /* close payload of 1 byte (1002) */
  WSREF_E_CLOSE_CODE = -302,        /* close code that must not appear on the wire (1002) */
  WSREF_E_CLOSE_REASON_UTF8 = -303, /* close reason not UTF-8 (1007) */
  WSREF_E_MESSAGE_TYPE = -304,      /* handler does not accept this message type (1003) */

  /* HTTP / handshake: -400.. */
  WSREF_E_HTTP_SYNTAX = -400,       /* malformed request/status line or header (400) */
  WSREF_E_HTTP_TOO_LARGE = -401,    /* header section over the limit (431) */
  WSREF_E_HTTP_TOO_MANY_HEADERS = -402, /* header count over the limit (431) */
  WSREF_E_HTTP_METHOD = -403,       /* not GET (405) */
  WSREF_E_HTTP_VERSION = -404,      /* older than HTTP/1.1 (400 or 505) */
  WSREF_E_HS_UPGRADE = -405,        /* Upgrade lacks the websocket token (400) */
  WSREF_E_HS_CONNECTION = -406,     /* Connection lacks the upgrade token (400) */
  WSREF_E_HS_KEY = -407,            /* Sec-WebSocket-Key missing or not 16 bytes base64 (400) */
  WSREF_E_HS_VERSION = -408,        /* Sec-WebSocket-Version not 13 (426) */
  WSREF_E_HS_ORIGIN = -409,         /* origin not allowed (403) */
  WSREF_E_HS_PATH = -410,           /* no handler for the path (404) */
  WSREF_E_HS_REJECTED = -411,       /* an interceptor rejected the request */
  WSREF_E_HS_STATUS = -412,         /* client: response status not 101 */
  WSREF_E_HS_ACCEPT = -413,         /* client: wrong Sec-WebSocket-Accept */
  WSREF_E_HS_SUBPROTOCOL = -414,    /* client: server chose a subprotocol we did not offer */
  WSREF_E_HS_EXTENSION = -415,      /* client: server chose an extension we did not offer */
  WSREF_E_HS_HOST = -416,           /* missing Host (400) */
  WSREF_E_HS_BODY = -417,           /* the upgrade request has a body (400) */
  WSREF_E_HS_PROTOCOL_SYNTAX = -418,   /* Sec-WebSocket-Protocol not a token list (400) */
  WSREF_E_HS_EXTENSION_SYNTAX = -419,  /* Sec-WebSocket-Extensions malformed (400) */

  /* STOMP: -600.. (each answered with ERROR then close) */
  WSREF_E_STOMP_COMMAND = -600,      /* unknown or mis-cased command */
  WSREF_E_STOMP_HEADER = -601,       /* header line without ':' or with an empty name */
  WSREF_E_STOMP_ESCAPE = -602,       /* undefined escape sequence in a 1.1/1.2 header */
  WSREF_E_STOMP_EOL = -603,          /* CR not followed by LF (or CR where the version has none) */
  WSREF_E_STOMP_NULL = -604,         /* the octet after content-length bytes is not NUL */
  WSREF_E_STOMP_CONTENT_LENGTH = -605, /* content-length not a non-negative decimal */
  WSREF_E_STOMP_BODY_NOT_ALLOWED = -606, /* body on a frame other than SEND/MESSAGE/ERROR */
  WSREF_E_STOMP_TOO_MANY_HEADERS = -607,
  WSREF_E_STOMP_HEADER_TOO_LONG = -608,
  WSREF_E_STOMP_BODY_TOO_BIG = -609,
  WSREF_E_STOMP_BUFFER_LIMIT = -610,   /* a frame split across messages outgrew the buffer limit */
  WSREF_E_STOMP_UTF8 = -611,           /* command or header not valid UTF-8 */
  WSREF_E_STOMP_MISSING_HEADER = -612, /* a required header is absent */
  WSREF_E_STOMP_VERSION = -613,        /* no common protocol version */
  WSREF_E_STOMP_NOT_CONNECTED = -614,  /* a frame before CONNECT / after DISCONNECT */
  WSREF_E_STOMP_STATE = -615,          /* unknown subscription, transaction, ack id... */
  WSREF_E_STOMP_HEARTBEAT = -616,      /* heart-beat header malformed, or the peer went silent */

  /* io: -500.. */
  WSREF_E_TLS = -500,
  WSREF_E_CONNECT = -501,
  WSREF_E_URL = -502,
  WSREF_E_RESOLVE = -503,
};

/* Stable, printable name of an error code ("WSREF_E_UTF8"); never NULL. */
const char *wsref_err_name(int err);
/* One-line human description ("invalid UTF-8 in a text message"); never NULL. */
const char *wsref_strerror(int err);
/* The close code a WebSocket endpoint sends when it fails the connection for err
 * (1002, 1007, 1009, 1003, 1011), or 0 if err is not a protocol error. */
unsigned wsref_err_close_code(int err);

#endif
