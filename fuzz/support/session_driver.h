/* A scripted io layer and application around one wsref_session, for the session targets.
 *
 * Input: [handler byte][options byte][config byte][script length L][L script bytes][stream]
 *
 * handler byte (what the application does):
 *   bit 0 partial_messages      bits 1-2 accept mask (both, text, binary, text|binary)
 *   bit 3 echo every message    bit 4 close(1000) from on_message when it starts with 'c'
 *   bit 5 on_message fails when the message starts with '!'
 *   bit 6 on_open fails         bit 7 send through the send-limit decorator
 * options byte (wsref_session_options):
 *   bits 0-1 max_message (default 64 MiB, 16, 125, 70000)   bit 2 max_frame 32
 *   bit 3 idle timeout 5 s      bit 4 allow_non_minimal     bit 5 max_output 256
 *   bit 6 decorator overflow DROP (else TERMINATE)          bit 7 1 ms handshake/close timeouts
 * config byte: server: bits 0-5 the registry (support/registry_fixture.h); client: bits 0-1
 *   the subprotocols offered, bits 2-3 the extension offer, bit 4 an Origin, bit 5 path
 *   /chat. Both: bit 6 no io callbacks (NULL io), bit 7 free the session without closing
 *   the transport first. An options byte of 0 passes NULL options (the defaults).
 *
 * Script bytes, high nibble = operation, low nibble = argument:
 *   0, E, F  feed the next k_feed[arg] stream bytes (15: all that remain)
 *   1        feed (next script byte + 1) stream bytes
 *   2        advance the clock by k_dt[arg] ms, then tick while a deadline is due
 *   3        jump the clock to the deadline (+ arg - 1 ms), then tick
 *   4        application sends a text message (k_text[arg])
 *   5        application sends a binary message of k_bin[arg] bytes
 *   6        application sends a fragment: bit 0 binary, bit 1 last, bits 2-3 the piece
 *   7        application sends a ping (arg even) or pong, k_ctl[arg >> 1] bytes
 *   8        application close(k_codes[arg]) with reason k_reasons[arg & 3]
 *   9        application terminate(k_codes[arg]) with reason k_reasons[arg & 3]
 *   A        writer: 0 block, 1 unblock, >= 2 write only k_feed[arg] bytes once
 *   B        transport closed: err 0, WSREF_E_IO or WSREF_E_TLS (arg % 3)
 *   C        recv of zero bytes
 *   D        the accessors of session.h (with sanity checks)
 * When the script ends, the rest of the stream is fed in one call, the writer unblocks,
 * the clock runs through the remaining deadlines, and the transport closes (EOF).
 *
 * Invariants (trap on violation): the output is one well-formed head (a 101 exactly when
 * on_open ran; an error response otherwise) followed only by frames that obey the
 * sender's rules (support/common.h fuzz_wire_check); handler callbacks in a legal order
 * (on_open at most once, on_message and on_transport_error only before on_close, on_close
 * exactly once iff on_open ran, in state CLOSED, with a code that may appear in a close
 * frame or 1005/1006 or the terminate code); delivered messages are whole valid UTF-8 text
 * (or valid prefixes in partial mode) within max_message; no output after the transport
 * closed; tick() never leaves a deadline in the past; entry points return documented codes.
 */
#ifndef WSREF_FUZZ_SESSION_DRIVER_H
#define WSREF_FUZZ_SESSION_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake/handshake.h"

/* Runs one input; client selects wsref_session_new_client(). */
void fuzz_session_run(const uint8_t *data, size_t size, bool client);

/* The client's handshake configuration for a config byte (static strings; nonce set). The
 * seed emitter uses it too, so recorded responses match what the target's client offers. */
void fuzz_session_client_config(uint8_t cb, wsref_handshake_client *hs);

/* Session options for an options byte, as the targets use them. */
struct wsref_session_options;
void fuzz_session_options(uint8_t ob, struct wsref_session_options *opt);

#endif
