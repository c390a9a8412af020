/* Client side of the opening handshake: wsref_http_parse_response(),
 * wsref_handshake_client_verify() and wsref_handshake_client_request()
 * (reference/handshake/).
 *
 * Input: [options][chunk plan][bytes]
 *   options bit 7 clear: the bytes are a server's response. Bits 0-2 pick the parser limits,
 *     bits 3-4 the client's offers (subprotocols, extensions). Checked: documented result
 *     codes, the head grammar, split invariance over prefixes, and that a response
 *     the client accepts is a 101 with the right accept value and with a subprotocol it
 *     offered (reported back exactly).
 *   options bit 7 set: the bytes are the client's own configuration, NUL-separated fields
 *     host, path, origin, extensions, subprotocols (comma-separated), extra header lines;
 *     the first 16 bytes are the nonce. A request that wsref_handshake_client_request()
 *     accepts to write must parse, carry what was asked, be answered with 101 by
 *     wsref_handshake_server() for a registry holding its path (when it has no extra header
 *     lines), and that answer must pass wsref_handshake_client_verify(). A rejected
 *     configuration must leave the output buffer untouched.
 * In response mode the same bytes also go through wsref_accept_compute(), wsref_key_valid()
 * and wsref_key_encode(), checked against OpenSSL's SHA1()/base64 called directly and the
 * RFC 6455 4.2.1 key rule.
 */
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "handshake/accept.h"
#include "handshake/handshake.h"
#include "handshake/http.h"
#include "handshake/registry.h"
#include "session/session.h"
#include "support/common.h"
#include "support/http_check.h"

static const wsref_http_limits k_limits[8] = {
    {0, 0}, {8192, 64}, {64, 4}, {200, 2}, {1000, 300}, {100000, 256}, {30, 1}, {4096, 16},
};

/* The RFC 6455 section 1.3 sample nonce: its accept value is in the dictionary. */
static const uint8_t k_nonce[16] = "the sample nonce";

static void response_mode(uint8_t o, fuzz_chunks *plan, const uint8_t *p, size_t n) {
  const wsref_http_limits *lim = (o & 7) ? &k_limits[o & 7] : NULL;
  char *buf = (char *)fuzz_dup(p, n);
  wsref_http_response *res = malloc(sizeof *res), *res2 = malloc(sizeof *res2);
  if (!res || !res2) abort();
  ssize_t rw = wsref_http_parse_response(buf, n, lim, res);
  FUZZ_CHECK(fuzz_http_result_ok(rw));
  wsref_buf dw = WSREF_BUF_INIT, dp = WSREF_BUF_INIT;
  if (rw > 0) {
    FUZZ_CHECK((size_t)rw <= n && buf[rw - 1] == '\n');
    fuzz_check_response(res, buf, (size_t)rw);
    fuzz_check_tokens(res->headers, res->nheaders);
    fuzz_describe_response(res, buf, &dw);
  }
  ssize_t settled = WSREF_NEED_MORE;
  size_t cut = 0;
  for (int k = 0; k < 16 && plan->progress; k++) {
    cut += fuzz_chunks_next(plan, n - cut);
    if (cut >= n) break;
    char *pb = (char *)fuzz_dup(buf, cut);
    ssize_t rp = wsref_http_parse_response(pb, cut, lim, res2);
    FUZZ_CHECK(fuzz_http_result_ok(rp));
    if (settled != WSREF_NEED_MORE) FUZZ_CHECK(rp == settled);
    if (rp != WSREF_NEED_MORE) {
      FUZZ_CHECK(rp == rw);
      settled = rp;
    }
    if (rw > 0 && cut >= (size_t)rw) FUZZ_CHECK(rp == rw);
    if (rp > 0) {
      wsref_buf_reset(&dp);
      fuzz_describe_response(res2, pb, &dp);
      FUZZ_CHECK(wsref_buf_len(&dp) == wsref_buf_len(&dw));
      FUZZ_CHECK(memcmp(fuzz_buf_head(&dp), fuzz_buf_head(&dw), wsref_buf_len(&dw)) == 0);
    }
    free(pb);
  }

  if (rw > 0) {
    static const char *const protos[] = {"chat", "superchat", "v12.stomp"};
    static const char *const exts[4] = {NULL, "permessage-deflate; client_max_window_bits",
                                        "x-fuzz, permessage-deflate", "x-fuzz; v=1"};
    wsref_handshake_client c;
    memset(&c, 0, sizeof c);
    memcpy(c.nonce, k_nonce, 16);
    c.subprotocols = protos;
    c.nsubprotocols = (o & 8) ? 3 : 0;
    c.extensions = exts[(o >> 4) & 3];
    if (o & 0x40) wsref_key_encode(c.nonce, c.key); /* else verify derives it from the nonce */
    char sp[WSREF_SUBPROTOCOL_MAX];
    memset(sp, 'x', sizeof sp);
    int vr = wsref_handshake_client_verify(&c, res, sp);
    FUZZ_CHECK(vr == 0 || vr == WSREF_E_HS_STATUS || vr == WSREF_E_HS_UPGRADE ||
               vr == WSREF_E_HS_CONNECTION || vr == WSREF_E_HS_ACCEPT ||
               vr == WSREF_E_HS_SUBPROTOCOL || vr == WSREF_E_HS_EXTENSION);
    if (res->status != 101) FUZZ_CHECK(vr == WSREF_E_HS_STATUS);
    if (vr == 0) {
      FUZZ_CHECK(res->status == 101);
      char key[WSREF_KEY_LEN + 1], acc[WSREF_ACCEPT_LEN + 1];
      wsref_key_encode(k_nonce, key);
      wsref_accept_compute(key, WSREF_KEY_LEN, acc);
      const wsref_http_header *a =
          wsref_http_find(res->headers, res->nheaders, "Sec-WebSocket-Accept");
      FUZZ_CHECK(a && wsref_str_eq(a->value, acc));
      const wsref_http_header *pr =
          wsref_http_find(res->headers, res->nheaders, "Sec-WebSocket-Protocol");
      if (pr) {
        FUZZ_CHECK(wsref_str_eq(pr->value, sp));
        bool offered = false;
        for (size_t i = 0; i < c.nsubprotocols; i++) offered |= strcmp(sp, protos[i]) == 0;
        FUZZ_CHECK(offered);
      } else {
        FUZZ_CHECK(sp[0] == '\0');
      }
      if (!c.extensions) {
        /* Nothing offered, so nothing may have been accepted. */
        size_t pos = 0;
        wsref_str el;
        FUZZ_CHECK(!wsref_http_next_token(res->headers, res->nheaders, "Sec-WebSocket-Extensions",
                                          &pos, &el));
      }
    } else {
      FUZZ_CHECK(sp[0] == '\0');
    }
  }
  wsref_buf_free(&dw);
  wsref_buf_free(&dp);
  free(res);
  free(res2);
  free(buf);
}

/* ---- Sec-WebSocket-Key / -Accept helpers against OpenSSL used directly ---- */

static void accept_oracle(const uint8_t *p, size_t n) {
  static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  size_t kn = n < 300 ? n : 300; /* both the stack path and the long-key path */
  uint8_t *cat = malloc(kn + 36);
  if (!cat) abort();
  if (kn) memcpy(cat, p, kn);
  memcpy(cat + kn, guid, 36);
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(cat, kn + 36, md);
  free(cat);
  char want[WSREF_ACCEPT_LEN + 1], got[WSREF_ACCEPT_LEN + 1];
  EVP_EncodeBlock((unsigned char *)want, md, SHA_DIGEST_LENGTH);
  wsref_accept_compute((const char *)p, kn, got);
  FUZZ_CHECK(strcmp(got, want) == 0);

  /* RFC 6455 4.2.1: base64 of exactly 16 octets is 22 alphabet characters and "==". */
  bool valid = n == WSREF_KEY_LEN && p[22] == '=' && p[23] == '=';
  for (size_t i = 0; valid && i < 22; i++)
    valid = (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') ||
            (p[i] >= '0' && p[i] <= '9') || p[i] == '+' || p[i] == '/';
  FUZZ_CHECK(wsref_key_valid((const char *)p, n) == valid);

  if (n >= 16) {
    char key[WSREF_KEY_LEN + 1];
    wsref_key_encode(p, key);
    FUZZ_CHECK(strlen(key) == WSREF_KEY_LEN && wsref_key_valid(key, WSREF_KEY_LEN));
    unsigned char back[18];
    FUZZ_CHECK(EVP_DecodeBlock(back, (const unsigned char *)key, WSREF_KEY_LEN) == 18);
    FUZZ_CHECK(memcmp(back, p, 16) == 0);
  }
}

/* ---- request writer mode ---- */

static int dummy_msg(wsref_session *s, const wsref_message *m, void *ud) {
  return 0;
}

static void request_mode(const uint8_t *p, size_t n) {
  wsref_handshake_client c;
  memset(&c, 0, sizeof c);
  memcpy(c.nonce, k_nonce, 16);
  if (n >= 16) memcpy(c.nonce, p, 16);
  const uint8_t *q = n >= 16 ? p + 16 : p;
  size_t qn = n >= 16 ? n - 16 : n;
  /* NUL-terminated fields. */
  char *text = malloc(qn + 1);
  if (!text) abort();
  if (qn) memcpy(text, q, qn);
  text[qn] = '\0';
  char *field[10] = {0};
  size_t nf = 0;
  for (size_t i = 0; nf < 10;) {
    field[nf++] = text + i;
    size_t l = strlen(text + i);
    if (i + l >= qn) break;
    i += l + 1;
  }
  c.host = field[0];
  c.path = field[1] && *field[1] ? field[1] : NULL;
  c.origin = field[2] && *field[2] ? field[2] : NULL;
  c.extensions = field[3] && *field[3] ? field[3] : NULL;
  char *protos[8];
  size_t np = 0;
  if (field[4] && *field[4]) {
    for (char *s = field[4], *e; np < 8; s = e + 1) {
      e = strchr(s, ',');
      protos[np++] = s;
      if (!e) break;
      *e = '\0';
    }
  }
  c.subprotocols = (const char *const *)protos;
  c.nsubprotocols = np;
  const char *extra[5];
  size_t nx = 0;
  for (size_t i = 5; i < nf && nx < 5; i++) extra[nx++] = field[i];
  c.headers = extra;
  c.nheaders = nx;

  wsref_buf out = WSREF_BUF_INIT;
  FUZZ_CHECK(wsref_buf_append(&out, "pre", 3) == 0);
  int rc = wsref_handshake_client_request(&c, &out);
  if (rc < 0) {
    FUZZ_CHECK(rc == WSREF_E_INVALID_ARG || rc == WSREF_E_NOMEM);
    FUZZ_CHECK(wsref_buf_len(&out) == 3); /* all or nothing */
    goto done;
  }
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(wsref_key_valid(c.key, strlen(c.key)));
  const char *rb = (const char *)wsref_buf_head(&out) + 3;
  size_t rl = wsref_buf_len(&out) - 3;
  wsref_http_limits big = {1 << 20, WSREF_HTTP_HEADERS_CAP};
  wsref_http_request *req = malloc(sizeof *req);
  if (!req) abort();
  ssize_t r = wsref_http_parse_request(rb, rl, &big, req);
  if (r == WSREF_E_HTTP_TOO_MANY_HEADERS) {
    free(req);
    goto done;
  }
  FUZZ_CHECK(r > 0 && (size_t)r == rl);
  fuzz_check_request(req, rb, rl);
  FUZZ_CHECK(wsref_str_eq(req->method, "GET"));
  FUZZ_CHECK(wsref_str_eq(req->target, c.path ? c.path : "/"));
  const wsref_http_header *host = wsref_http_find(req->headers, req->nheaders, "Host");
  FUZZ_CHECK(host != NULL);
  /* The writer refuses whitespace in the host, so the parsed value is the host as given. */
  FUZZ_CHECK(wsref_str_eq(host->value, c.host));

  /* Round trip through the server side. */
  const char *path = c.path ? c.path : "/";
  size_t plen = strcspn(path, "?");
  char *rpath = malloc(plen + 1);
  if (!rpath) abort();
  memcpy(rpath, path, plen);
  rpath[plen] = '\0';
  wsref_handler h = wsref_text_handler(dummy_msg, NULL);
  wsref_registry *reg = wsref_registry_new();
  FUZZ_CHECK(reg != NULL);
  wsref_registration *reg_r = wsref_registry_add(reg, rpath, &h);
  bool listed = false;
  if (reg_r && np) {
    /* The server lists them backwards: the client's order must still decide. Names over
     * 127 octets are refused by the registry (they would not fit the result). */
    const char *rev[8];
    bool long_name = false;
    for (size_t i = 0; i < np; i++) {
      rev[i] = protos[np - 1 - i];
      long_name |= strlen(rev[i]) > 127;
    }
    int sr = wsref_registration_subprotocols(reg_r, rev, np);
    FUZZ_CHECK(sr == (long_name ? WSREF_E_INVALID_ARG : 0));
    listed = sr == 0;
  }
  wsref_handshake_result hres;
  wsref_buf sout = WSREF_BUF_INIT;
  int hr = wsref_handshake_server(reg, req, NULL, &hres, &sout);
  /* The writer sends the extension offer verbatim (it checks only for CTLs), while the
   * server refuses one that is not RFC 6455 9.1 syntax: that refusal is the one allowed. */
  bool ext_refused = hr == WSREF_E_HS_EXTENSION_SYNTAX && c.extensions;
  if (reg_r && nx == 0 && !ext_refused) {
    FUZZ_CHECK(hr == 0);
    FUZZ_CHECK(strcmp(hres.subprotocol, listed ? protos[0] : "") == 0);
  }
  if (hr == 0) {
    wsref_http_response *res = malloc(sizeof *res);
    if (!res) abort();
    ssize_t sr = wsref_http_parse_response((const char *)wsref_buf_head(&sout),
                                           wsref_buf_len(&sout), NULL, res);
    FUZZ_CHECK(sr > 0);
    char sp[WSREF_SUBPROTOCOL_MAX];
    FUZZ_CHECK(wsref_handshake_client_verify(&c, res, sp) == 0);
    FUZZ_CHECK(strcmp(sp, hres.subprotocol) == 0);
    free(res);
  }
  wsref_attrs_free(&hres.attrs);
  wsref_buf_free(&sout);
  wsref_registry_free(reg);
  free(rpath);
  free(req);
done:
  wsref_buf_free(&out);
  free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_in in = {data, size, 0};
  uint8_t o = fuzz_u8(&in);
  fuzz_chunks plan;
  fuzz_chunks_read(&plan, &in);
  if (o & 0x80) {
    request_mode(fuzz_rest(&in), fuzz_left(&in));
  } else {
    response_mode(o, &plan, fuzz_rest(&in), fuzz_left(&in));
    accept_oracle(fuzz_rest(&in), fuzz_left(&in));
  }
  return 0;
}
