/* Input format of fuzz_stomp_server (the STOMP protocol handler plus broker driven by
 * several scripted client connections), shared by the target and the seed emitter.
 *
 * Input: [cfg0][cfg1][cfg2][chunk plan][L hi][L lo][L script bytes][pool]
 *
 * cfg0 (server and driver configuration):
 *   bit 0 spring profile (else spec)
 *   bit 1 small decoder limits: 8 headers, 256-octet lines, 512-octet bodies and buffer
 *   bit 2 small broker: 4 waiting messages per queue, 4 KiB of queues, flow control above
 *         2, 2 unacknowledged, 4 subscriptions, 2 transactions of 1 KiB, a 2 KiB send
 *         buffer, 500 ms send time limit; heap growth is checked against a bound
 *   bit 3 a pass-through outbound interceptor (the broker then encodes per subscriber;
 *         with bit 4 it drops heart-beats)
 *   bit 4 the inbound interceptor refuses frames with an x-reject header (ERROR) and
 *         drops frames with an x-drop header
 *   bit 5 application handlers: /app/echo (to /queue/echo and /topic/echo), /app/fail
 *         (refused), /app/reply (to the sender's user, /queue/reply)
 *   bits 6-7 connections: 2 + (value % 3), i.e. 2, 3 or 4
 * cfg1: the subprotocol each connection asks for, 2 bits per connection from bit 0:
 *   0 none, 1 v10.stomp, 2 v11.stomp, 3 v12.stomp
 * cfg2 (timers): bits 0-1 server heart-beat send ms, bits 2-3 receive ms (0, 50, 1000,
 *   10000 each); bits 4-5 connect timeout (60000, off, 100, 5000 ms); bit 6 heart-beat
 *   flood limit 64 octets/s (else the profile's default); bit 7 read factor 1 (else the
 *   profile's)
 * chunk plan (support/common.h): how every client write is cut into transport reads.
 *
 * Script: one byte per operation, high nibble = operation, low nibble = argument k; the
 * operations act on the current connection (initially 0) and take bytes from the pool:
 *   0  select connection k % n
 *   1  text message of pool bytes; size selector k (below)
 *   2  binary message, size selector k
 *   3  text message up to and including the next NUL (and the EOLs after it), in
 *      2 + (k & 7) fragments (bit 3: a ping between the first two)
 *   4  advance the clock by k_dt[k] ms, then run what is due
 *   5  jump the clock to the earliest deadline of any connection, + k - 1 ms
 *   6  writer: 0 stop reading the server's output, 1 read it all again, >= 2 read only
 *      k_part[k] octets once (then stay stopped)
 *   7  client control: 0 ping, 1 pong, 2 close 1000, 3 close without code, 4 close 1002,
 *      5 a text message "\n" (heart-beat), 6 "\r\n", 7 an empty text message, 8 EOF,
 *      9 transport error, 10 heart-beat as a binary message, 11 ping + "\n" in one
 *      write, 12-15 k - 11 heart-beat messages in one write
 *   8  reconnect the slot (its transport closed first) asking for subprotocol k & 3
 *   9  the messaging template: k < 8 wsref_template_send to k_tdest[k], else
 *      wsref_template_send_to_user(k_tuser[k & 1], k_tudest[(k >> 1) & 3])
 *   A  accessors and broker statistics, with sanity checks
 *   B  the client reacts to a MESSAGE it received (the driver writes the frame, with the
 *      headers the negotiated version needs): bit 0 NACK (else ACK), bit 1 with a
 *      receipt, bit 2 in transaction "tx1", bit 3 the oldest MESSAGE not yet reacted to
 *      (else the latest)
 *   C  raw client bytes: k_sizes[k] pool octets fed as they are (the client's own frames)
 *   D  wsref_stomp_conn_error() on the connection (an administrative kick), k selects the
 *      error and whether a receipt-id is given
 *   E  a message of exactly (next two script bytes, big endian) pool octets: k bit 0
 *      binary
 *   F  advance the clock by (k + 1) * 250 ms without running the timers (they run at
 *      the next operation, late)
 * Size selector k: 0 through the next NUL (plus the EOLs after it), 1 through the second
 * NUL, 2 through the fourth, 3 through the next LF, 4-14 k_sizes[k], 15 all the rest.
 * When the script ends, the rest of the pool goes to the current connection as one text
 * message, every writer reads again, the clock runs through the deadlines (a bounded
 * number of times), and every transport is closed.
 */
#ifndef WSREF_FUZZ_STOMP_SCRIPT_H
#define WSREF_FUZZ_STOMP_SCRIPT_H

#define SS_SPRING 0x01
#define SS_SMALL_LIMITS 0x02
#define SS_SMALL_BROKER 0x04
#define SS_OUT_IC 0x08
#define SS_REJECT 0x10
#define SS_HANDLERS 0x20
#define SS_NCONN(n) ((uint8_t)((((n)-2) % 3) << 6)) /* cfg0 bits for n connections */

#define SS_PROTO(conn, p) ((uint8_t)((p) << (2 * (conn)))) /* cfg1 */

/* cfg2 */
#define SS_HB_SEND(i) ((uint8_t)(i))        /* 0, 50, 1000, 10000 ms */
#define SS_HB_RECV(i) ((uint8_t)((i) << 2)) /* same values */
#define SS_CT_OFF 0x10
#define SS_CT_100 0x20
#define SS_CT_5000 0x30
#define SS_FLOOD_64 0x40
#define SS_FACTOR_1 0x80

enum {
  SS_OP_SELECT = 0x00,
  SS_OP_TEXT = 0x10,
  SS_OP_BINARY = 0x20,
  SS_OP_FRAGMENTS = 0x30,
  SS_OP_ADVANCE = 0x40,
  SS_OP_DEADLINE = 0x50,
  SS_OP_WRITER = 0x60,
  SS_OP_CONTROL = 0x70,
  SS_OP_RECONNECT = 0x80,
  SS_OP_TEMPLATE = 0x90,
  SS_OP_CHECK = 0xA0,
  SS_OP_REACT = 0xB0,
  SS_OP_RAW = 0xC0,
  SS_OP_KICK = 0xD0,
  SS_OP_EXACT = 0xE0,
  SS_OP_LATE = 0xF0,
};

/* Size selectors of SS_OP_TEXT / SS_OP_BINARY. */
#define SS_SZ_FRAME 0
#define SS_SZ_2FRAMES 1
#define SS_SZ_4FRAMES 2
#define SS_SZ_LINE 3
#define SS_SZ_REST 15

/* SS_OP_ADVANCE arguments: k_dt = {0, 1, 10, 49, 50, 51, 99, 100, 500, 999, 1000, 1001,
 * 2000, 5000, 10000, 60000} */
#define SS_DT_50 4
#define SS_DT_100 7
#define SS_DT_1000 10
#define SS_DT_2000 12
#define SS_DT_10000 14
#define SS_DT_60000 15

/* SS_OP_REACT bits */
#define SS_REACT_NACK 0x01
#define SS_REACT_RECEIPT 0x02
#define SS_REACT_TX 0x04
#define SS_REACT_OLDEST 0x08

#endif
