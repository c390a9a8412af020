#include "app/stomp_broker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/utf8.h"

/* Design notes (what stomp_broker.h does not show):
 *
 * Maps. Destinations, users and application handlers live in chained string hash maps;
 * unacknowledged deliveries of a connection in an open-addressing map from delivery id.
 * A destination exists while it has subscribers or waiting messages (a user destination
 * while its connection lives), so unique per-run destination names do not accumulate.
 *
 * Messages. A published message is copied once (headers filtered for MESSAGE, body) into a
 * qmsg. A topic message is freed after the fan-out; a queue message is owned by its queue
 * (waiting), then by one delivery record (client modes) until ACK, or freed once sent (auto).
 *
 * Re-entrancy. A send can end a connection (the send-limit decorator terminates a slow
 * client), which calls on_disconnect while the broker is iterating a subscriber list; a
 * handler or interceptor may publish from inside the broker. So every entry point counts
 * its depth, a connection that leaves while depth > 0 is only marked gone (skipped from
 * then on) and cleaned up (subscriptions removed, unacknowledged messages requeued,
 * transactions dropped) when the outermost call returns. Empty destinations are freed at
 * the same point.
 *
 * Encode once. A MESSAGE is [per-subscriber lines] + [shared part]; the shared part is
 * encoded once per STOMP version per publish (spring: a shared head and tail around the
 * per-subscriber lines), and the frame assembled in one buffer, which the session copies. */

/* ---- string hash map ---- */

typedef struct sentry {
  struct sentry *next;
  uint64_t hash;
  const char *key;
  size_t klen;
} sentry;

typedef struct smap {
  sentry **b;
  size_t nb, n;
} smap;

static uint64_t fnv(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= (unsigned char)p[i];
    h *= 1099511628211ull;
  }
  return h;
}

static sentry *smap_get(const smap *m, const char *k, size_t n, uint64_t h) {
  if (!m->nb) return NULL;
  for (sentry *e = m->b[h & (m->nb - 1)]; e; e = e->next)
    if (e->hash == h && e->klen == n && memcmp(e->key, k, n) == 0) return e;
  return NULL;
}

static int smap_put(smap *m, sentry *e) {
  if (m->n + 1 > m->nb) {
    size_t nb = m->nb ? m->nb * 2 : 64;
    sentry **nbk = calloc(nb, sizeof *nbk);
    if (!nbk) return WSREF_E_NOMEM;
    for (size_t i = 0; i < m->nb; i++) {
      sentry *x = m->b[i];
      while (x) {
        sentry *next = x->next;
        x->next = nbk[x->hash & (nb - 1)];
        nbk[x->hash & (nb - 1)] = x;
        x = next;
      }
    }
    free(m->b);
    m->b = nbk;
    m->nb = nb;
  }
  sentry **slot = &m->b[e->hash & (m->nb - 1)];
  e->next = *slot;
  *slot = e;
  m->n++;
  return 0;
}

static void smap_del(smap *m, sentry *e) {
  sentry **pp = &m->b[e->hash & (m->nb - 1)];
  while (*pp && *pp != e) pp = &(*pp)->next;
  if (*pp) {
    *pp = e->next;
    m->n--;
  }
}

/* ---- delivery id map (open addressing, backward-shift deletion) ---- */

typedef struct u64map {
  uint64_t *k;
  void **v;
  size_t cap, n;
} u64map;

static size_t u64mix(uint64_t k) {
  k ^= k >> 33;
  k *= 0xff51afd7ed558ccdull;
  k ^= k >> 33;
  return (size_t)k;
}

static void *u64_get(const u64map *m, uint64_t key) {
  if (!m->cap || !key) return NULL;
  size_t mask = m->cap - 1;
  for (size_t i = u64mix(key) & mask; m->k[i]; i = (i + 1) & mask)
    if (m->k[i] == key) return m->v[i];
  return NULL;
}

static int u64_put(u64map *m, uint64_t key, void *val) {
  if ((m->n + 1) * 4 > m->cap * 3) {
    size_t nc = m->cap ? m->cap * 2 : 16;
    uint64_t *nk = calloc(nc, sizeof *nk);
    void **nv = calloc(nc, sizeof *nv);
    if (!nk || !nv) {
      free(nk);
      free(nv);
      return WSREF_E_NOMEM;
    }
    for (size_t i = 0; i < m->cap; i++) {
      if (!m->k[i]) continue;
      size_t j = u64mix(m->k[i]) & (nc - 1);
      while (nk[j]) j = (j + 1) & (nc - 1);
      nk[j] = m->k[i];
      nv[j] = m->v[i];
    }
    free(m->k);
    free(m->v);
    m->k = nk;
    m->v = nv;
    m->cap = nc;
  }
  size_t mask = m->cap - 1, i = u64mix(key) & mask;
  while (m->k[i]) i = (i + 1) & mask;
  m->k[i] = key;
  m->v[i] = val;
  m->n++;
  return 0;
}

static void u64_del(u64map *m, uint64_t key) {
  if (!m->cap) return;
  size_t mask = m->cap - 1, i = u64mix(key) & mask;
  while (m->k[i] && m->k[i] != key) i = (i + 1) & mask;
  if (!m->k[i]) return;
  m->n--;
  for (size_t j = i;;) {
    m->k[i] = 0;
    for (;;) {
      j = (j + 1) & mask;
      if (!m->k[j]) return;
      size_t h = u64mix(m->k[j]) & mask;
      /* Move k[j] into the hole at i unless its home lies cyclically in (i, j]. */
      bool stay = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stay) break;
    }
    m->k[i] = m->k[j];
    m->v[i] = m->v[j];
    i = j;
  }
}

static void u64_free(u64map *m) {
  free(m->k);
  free(m->v);
  memset(m, 0, sizeof *m);
}

/* ---- types ---- */

typedef struct bconn bconn;
typedef struct dest dest;
typedef struct sub sub;

typedef struct qmsg {
  size_t nh;
  wsref_stomp_header *h; /* the headers MESSAGE passes on (spring: destination included) */
  const char *display;   /* spec: the MESSAGE destination */
  size_t display_len;
  const uint8_t *body;
  size_t body_len;
  size_t bytes; /* allocation size, for queue accounting */
  bool utf8;    /* every header and the body are UTF-8: a text WebSocket message */
  bool octet;   /* spring: application/octet-stream body goes out binary */
  bool redelivered;
} qmsg;

/* A publisher held back by a congested queue (its RECEIPTs wait). */
typedef struct throttle {
  struct bconn *c;
  struct dest *d;
  struct throttle *dnext, *dprev, *cnext, *cprev;
} throttle;

typedef struct delivery {
  uint64_t id;
  sub *s;
  qmsg *m;
  struct delivery *prev, *next;
} delivery;

enum ack_mode { ACK_AUTO = 0, ACK_CLIENT, ACK_INDIVIDUAL };

struct sub {
  bconn *c;
  dest *d;
  char *id; /* NULL: a 1.0 subscription without id */
  size_t id_len;
  char *id_esc; /* escaped for the connection (spring: 1.2 rules) */
  size_t id_esc_len;
  bool id_utf8;
  enum ack_mode mode;
  uint32_t prefetch; /* 0 = unlimited */
  size_t nunacked;
  delivery *ua_head, *ua_tail;
  size_t idx; /* in d->subs */
  sub *cprev, *cnext;
};

struct dest {
  sentry e; /* key = name */
  char *name;
  char *display; /* the MESSAGE destination: name, or /user/... for user destinations */
  size_t display_len;
  bool queue;
  bool dispatching;
  bconn *owner; /* user destination of one connection */
  sub **subs;
  size_t nsubs, capsubs, rr;
  qmsg **ring; /* waiting messages */
  size_t head, count, cap;
  size_t owned_idx;
  throttle *thr; /* publishers held back until the queue drains to half */
};

typedef struct txframe {
  struct txframe *next;
  wsref_stomp_frame f;
  size_t bytes;
  wsref_stomp_header h[];
} txframe;

typedef struct txn {
  struct txn *next;
  char *id;
  size_t id_len;
  txframe *head, *tail;
  size_t bytes;
} txn;

typedef struct user {
  sentry e;
  char *name;
  bconn *conns;
} user;

struct bconn {
  wsref_stomp_broker *b;
  wsref_stomp_conn *sc; /* NULL once gone */
  char *id;
  char *id_esc; /* spring message-id prefix (1.2 escaping) */
  size_t id_esc_len;
  enum wsref_stomp_version v;
  user *u;
  bconn *unext, *uprev;
  sub *subs;
  size_t nsubs;
  u64map unacked;
  txn *txs;
  size_t ntx;
  dest **owned;
  size_t nowned, capowned;
  bconn *znext;
  throttle *thr; /* queues holding back its RECEIPTs */
  bool send_failed;
};

typedef struct app_handler {
  sentry e;
  char *dest;
  wsref_stomp_app_handler fn;
  void *ud;
} app_handler;

typedef struct prefix {
  char *s;
  size_t n;
} prefix;

struct wsref_stomp_broker {
  wsref_stomp_broker_options o;
  bool spring;
  wsref_stomp_server *srv;
  prefix bp[WSREF_STOMP_BROKER_MAX_PREFIXES], qp[WSREF_STOMP_BROKER_MAX_PREFIXES],
      ap[WSREF_STOMP_BROKER_MAX_PREFIXES];
  size_t nbp, nqp, nap;
  prefix up; /* user prefix; n == 0: off */
  smap dests, users, handlers;
  app_handler *any_handler;
  int depth;
  bconn *zombies;
  dest **gc; /* destinations to free if still empty */
  size_t ngc, capgc;
  wsref_buf asm_buf;
  bool asm_busy;
  uint64_t seq;        /* delivery ids */
  uint64_t spring_seq; /* Spring's message-id counter */
  size_t queued_bytes;
  wsref_stomp_broker_stats st;
};

static char *dup_n(const char *p, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

static const wsref_stomp_header *hget(const wsref_stomp_frame *f, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (h->name_len == n && memcmp(h->name, name, n) == 0) return h;
  }
  return NULL;
}

static bool heq(const wsref_stomp_header *h, const char *name) {
  size_t n = strlen(name);
  return h->name_len == n && memcmp(h->name, name, n) == 0;
}

/* ---- options ---- */

void wsref_stomp_broker_options_default(wsref_stomp_broker_options *o,
                                        enum wsref_stomp_profile profile) {
  memset(o, 0, sizeof *o);
  wsref_stomp_server_options_default(&o->server, profile);
  o->broker_prefixes[0] = "/topic";
  o->broker_prefixes[1] = "/queue";
  if (profile == WSREF_STOMP_PROFILE_SPEC) o->queue_prefixes[0] = "/queue";
  o->app_prefixes[0] = "/app";
  o->user_prefix = "/user";
  o->max_queue_messages = 1000000;
  o->max_queued_bytes = (size_t)256 << 20;
  o->queue_flow_high = 10000;
  o->max_unacked = 65536;
  o->max_subscriptions = 1024;
  o->max_transactions = 64;
  o->max_transaction_bytes = 16u << 20;
}

/* ---- destinations ---- */

/* spec: prefix, then '/', then at least one octet (a prefix ending in '/' needs one octet
 * after it). spring: Spring's plain startsWith. */
static bool prefix_match(const wsref_stomp_broker *b, const prefix *p, const char *d, size_t n) {
  if (n < p->n || memcmp(d, p->s, p->n) != 0) return false;
  if (b->spring) return true;
  if (p->s[p->n - 1] == '/') return n > p->n;
  return n > p->n + 1 && d[p->n] == '/';
}

static bool any_prefix(const wsref_stomp_broker *b, const prefix *ps, size_t np, const char *d,
                       size_t n) {
  for (size_t i = 0; i < np; i++)
    if (prefix_match(b, &ps[i], d, n)) return true;
  return false;
}

static dest *dest_find(wsref_stomp_broker *b, const char *name, size_t n) {
  return (dest *)smap_get(&b->dests, name, n, fnv(name, n));
}

static dest *dest_get(wsref_stomp_broker *b, const char *name, size_t n, const char *display,
                      size_t dn, bconn *owner) {
  dest *d = dest_find(b, name, n);
  if (d) return d;
  d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->name = dup_n(name, n);
  d->display = dup_n(display, dn);
  if (!d->name || !d->display) goto fail;
  d->display_len = dn;
  d->queue = any_prefix(b, b->qp, b->nqp, name, n);
  d->e.key = d->name;
  d->e.klen = n;
  d->e.hash = fnv(name, n);
  if (owner) {
    if (owner->nowned == owner->capowned) {
      size_t nc = owner->capowned ? 2 * owner->capowned : 4;
      dest **no = realloc(owner->owned, nc * sizeof *no);
      if (!no) goto fail;
      owner->owned = no;
      owner->capowned = nc;
    }
  }
  if (smap_put(&b->dests, &d->e) < 0) goto fail;
  if (owner) {
    d->owner = owner;
    d->owned_idx = owner->nowned;
    owner->owned[owner->nowned++] = d;
  }
  b->st.destinations++;
  return d;
fail:
  free(d->name);
  free(d->display);
  free(d);
  return NULL;
}

static void qmsg_free(wsref_stomp_broker *b, qmsg *m, bool queued) {
  if (!m) return;
  if (queued) b->queued_bytes -= m->bytes;
  free(m);
}

static void throttle_remove(throttle *t) {
  dest *d = t->d;
  bconn *c = t->c;
  if (t->dprev)
    t->dprev->dnext = t->dnext;
  else
    d->thr = t->dnext;
  if (t->dnext) t->dnext->dprev = t->dprev;
  if (t->cprev)
    t->cprev->cnext = t->cnext;
  else
    c->thr = t->cnext;
  if (t->cnext) t->cnext->cprev = t->cprev;
  free(t);
  if (!c->thr && c->sc) wsref_stomp_conn_release_receipts(c->sc);
}

static void throttle_add(bconn *c, dest *d) {
  for (throttle *t = c->thr; t; t = t->cnext)
    if (t->d == d) return;
  throttle *t = calloc(1, sizeof *t);
  if (!t) return; /* not throttled: the queue limits still hold */
  bool first = !c->thr;
  t->c = c;
  t->d = d;
  t->dnext = d->thr;
  if (d->thr) d->thr->dprev = t;
  d->thr = t;
  t->cnext = c->thr;
  if (c->thr) c->thr->cprev = t;
  c->thr = t;
  if (first) wsref_stomp_conn_hold_receipts(c->sc);
}

static void dest_free(wsref_stomp_broker *b, dest *d) {
  while (d->thr) throttle_remove(d->thr);
  smap_del(&b->dests, &d->e);
  for (size_t i = 0; i < b->ngc; i++)
    if (b->gc[i] == d) b->gc[i--] = b->gc[--b->ngc];
  for (size_t i = 0; i < d->count; i++) qmsg_free(b, d->ring[(d->head + i) % d->cap], true);
  b->st.queued -= d->count;
  if (d->owner) {
    bconn *o = d->owner;
    o->owned[d->owned_idx] = o->owned[--o->nowned];
    o->owned[d->owned_idx]->owned_idx = d->owned_idx;
  }
  b->st.destinations--;
  free(d->subs);
  free(d->ring);
  free(d->name);
  free(d->display);
  free(d);
}

/* Free it now (depth 0) or once the outermost call returns. */
static void dest_maybe_free(wsref_stomp_broker *b, dest *d) {
  if (d->nsubs || d->count) return;
  if (b->depth == 0) {
    dest_free(b, d);
    return;
  }
  for (size_t i = 0; i < b->ngc; i++)
    if (b->gc[i] == d) return;
  if (b->ngc == b->capgc) {
    size_t nc = b->capgc ? 2 * b->capgc : 16;
    dest **ng = realloc(b->gc, nc * sizeof *ng);
    if (!ng) return; /* kept: freed with the broker */
    b->gc = ng;
    b->capgc = nc;
  }
  b->gc[b->ngc++] = d;
}

static int ring_reserve(dest *d) {
  if (d->count < d->cap) return 0;
  size_t nc = d->cap ? 2 * d->cap : 16;
  qmsg **nr = malloc(nc * sizeof *nr);
  if (!nr) return WSREF_E_NOMEM;
  for (size_t i = 0; i < d->count; i++) nr[i] = d->ring[(d->head + i) % d->cap];
  free(d->ring);
  d->ring = nr;
  d->cap = nc;
  d->head = 0;
  return 0;
}

static int ring_push(wsref_stomp_broker *b, dest *d, qmsg *m, bool front) {
  if (ring_reserve(d) < 0) return WSREF_E_NOMEM;
  if (front) {
    d->head = (d->head + d->cap - 1) % d->cap;
    d->ring[d->head] = m;
  } else {
    d->ring[(d->head + d->count) % d->cap] = m;
  }
  d->count++;
  b->st.queued++;
  b->queued_bytes += m->bytes;
  return 0;
}

static qmsg *ring_pop(wsref_stomp_broker *b, dest *d) {
  qmsg *m = d->ring[d->head];
  d->head = (d->head + 1) % d->cap;
  d->count--;
  b->st.queued--;
  b->queued_bytes -= m->bytes;
  return m;
}

/* ---- messages ---- */

static bool ascii_ws(char c) {
  return c == ' ' || c == '\t';
}

/* Spring's MimeType.toString() of a parsed content-type: type and subtype lower-cased,
 * parameters as ";name=value" without blanks. */
static size_t spring_mime(const char *v, size_t n, char *out) {
  size_t o = 0, i = 0;
  bool first = true;
  while (i <= n) {
    size_t j = i;
    bool q = false;
    while (j < n && (q || v[j] != ';')) {
      if (v[j] == '"') q = !q;
      j++;
    }
    size_t a = i, e = j;
    while (a < e && ascii_ws(v[a])) a++;
    while (e > a && ascii_ws(v[e - 1])) e--;
    if (first) {
      for (size_t k = a; k < e; k++) {
        char c = v[k];
        out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
      }
      first = false;
    } else if (e > a) {
      const char *eq = memchr(v + a, '=', e - a);
      size_t ke = eq ? (size_t)(eq - v) : e, vs = eq ? ke + 1 : e;
      while (ke > a && ascii_ws(v[ke - 1])) ke--;
      while (vs < e && ascii_ws(v[vs])) vs++;
      out[o++] = ';';
      memcpy(out + o, v + a, ke - a);
      o += ke - a;
      if (eq) {
        out[o++] = '=';
        memcpy(out + o, v + vs, e - vs);
        o += e - vs;
      }
    }
    i = j + 1;
  }
  return o;
}

static bool spring_octet(const char *v, size_t n) {
  size_t e = 0;
  while (e < n && v[e] != ';') e++;
  while (e && ascii_ws(v[e - 1])) e--;
  static const char *const ok[] = {"application/octet-stream", "application/*", "*/*", "*"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strlen(ok[i]) == e && strncasecmp(v, ok[i], e) == 0) return true;
  return false;
}

/* Headers SEND carries that MESSAGE does not pass on (spec profile). */
static bool spec_skip(const wsref_stomp_header *h) {
  static const char *const skip[] = {"destination", "content-length", "transaction",
                                     "receipt",     "subscription",   "message-id",
                                     "ack",         "redelivered"};
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
    if (heq(h, skip[i])) return true;
  return false;
}

static bool spring_skip(const wsref_stomp_header *h) {
  return heq(h, "content-length") || heq(h, "subscription") || heq(h, "message-id");
}

/* Copy what a MESSAGE needs from a SEND (or template) frame. display: the MESSAGE's
 * destination. */
static qmsg *qmsg_new(wsref_stomp_broker *b, const wsref_stomp_frame *f, const char *display,
                      size_t dn) {
  size_t nh = 0, strings = dn + 1;
  bool have_dest = false;
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (b->spring ? spring_skip(h) : spec_skip(h)) continue;
    nh++;
    strings += h->name_len + h->value_len + 2;
    if (b->spring && heq(h, "content-type")) strings += h->value_len; /* room to normalise */
  }
  if (b->spring) {
    nh++;
    strings += sizeof "destination" + dn + 1;
  }
  size_t bytes = sizeof(qmsg) + nh * sizeof(wsref_stomp_header) + strings + f->body_len + 1;
  qmsg *m = malloc(bytes);
  if (!m) return NULL;
  memset(m, 0, sizeof *m);
  m->bytes = bytes;
  m->h = (wsref_stomp_header *)(m + 1);
  char *p = (char *)(m->h + nh);
  memcpy(p, display, dn);
  p[dn] = 0;
  m->display = p;
  m->display_len = dn;
  p += dn + 1;
  bool utf8 = wsref_utf8_valid((const uint8_t *)display, dn);
  size_t k = 0;
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (b->spring ? spring_skip(h) : spec_skip(h)) continue;
    if (b->spring) {
      /* Spring keeps repeated headers grouped under the first occurrence's position. */
      bool seen = false;
      for (size_t j = 0; j < k && !seen; j++)
        seen = m->h[j].name_len == h->name_len && memcmp(m->h[j].name, h->name, h->name_len) == 0;
      if (seen) continue;
      for (size_t j = i; j < f->nheaders; j++) {
        const wsref_stomp_header *x = &f->headers[j];
        if (x->name_len != h->name_len || memcmp(x->name, h->name, h->name_len) != 0) continue;
        wsref_stomp_header *y = &m->h[k++];
        memcpy(p, x->name, x->name_len);
        p[x->name_len] = 0;
        y->name = p;
        y->name_len = x->name_len;
        p += x->name_len + 1;
        const char *val = x->value;
        size_t vl = x->value_len;
        if (heq(x, "destination")) {
          /* The first destination is the MESSAGE's (user destinations rewritten); Spring
           * keeps repeated ones as they came. */
          if (!have_dest) {
            val = display;
            vl = dn;
            have_dest = true;
          }
        }
        if (heq(x, "content-type")) {
          if (!m->octet) m->octet = spring_octet(val, vl);
          vl = spring_mime(val, vl, p);
        } else if (vl) {
          memcpy(p, val, vl);
        }
        p[vl] = 0;
        y->value = p;
        y->value_len = vl;
        p += vl + 1;
        utf8 = utf8 && wsref_utf8_valid((const uint8_t *)y->name, y->name_len) &&
               wsref_utf8_valid((const uint8_t *)y->value, y->value_len);
      }
      continue;
    }
    wsref_stomp_header *y = &m->h[k++];
    memcpy(p, h->name, h->name_len);
    p[h->name_len] = 0;
    y->name = p;
    y->name_len = h->name_len;
    p += h->name_len + 1;
    if (h->value_len) memcpy(p, h->value, h->value_len);
    p[h->value_len] = 0;
    y->value = p;
    y->value_len = h->value_len;
    p += h->value_len + 1;
    utf8 = utf8 && wsref_utf8_valid((const uint8_t *)y->name, y->name_len) &&
           wsref_utf8_valid((const uint8_t *)y->value, y->value_len);
  }
  if (b->spring && !have_dest) {
    /* A template send: Spring sets the destination header first. */
    memmove(m->h + 1, m->h, k * sizeof *m->h);
    m->h[0] = (wsref_stomp_header){"destination", 11, m->display, dn};
    k++;
  }
  m->nh = k;
  if (f->body_len) memcpy(p, f->body, f->body_len);
  m->body = (const uint8_t *)p;
  m->body_len = f->body_len;
  if (!f->body_len) m->octet = false;
  m->utf8 = utf8 && wsref_utf8_valid(m->body, m->body_len);
  return m;
}

/* ---- encoding ---- */

typedef struct enc_cache {
  wsref_buf part[3]; /* spec: shared tail per version 1.0/1.1/1.2; spring: [0] head, [1] tail */
  bool have[3];
} enc_cache;

static void cache_free(enc_cache *ec) {
  for (int i = 0; i < 3; i++) wsref_buf_free(&ec->part[i]);
}

static bool v10_ok(const char *s, size_t n, bool name) {
  return !memchr(s, '\n', n) && !(name && memchr(s, ':', n));
}

static int put_hdr(wsref_buf *o, enum wsref_stomp_version v, const char *n, size_t nl,
                   const char *val, size_t vl) {
  int rc = wsref_stomp_escape(o, v, n, nl);
  if (!rc) rc = wsref_buf_append(o, ":", 1);
  if (!rc) rc = wsref_stomp_escape(o, v, val, vl);
  if (!rc) rc = wsref_buf_append(o, "\n", 1);
  return rc;
}

static int put_u64(wsref_buf *o, uint64_t x) {
  char t[24];
  size_t i = sizeof t;
  do {
    t[--i] = (char)('0' + x % 10);
    x /= 10;
  } while (x);
  return wsref_buf_append(o, t + i, sizeof t - i);
}

static int put_body(wsref_buf *o, const qmsg *m, bool always_cl) {
  int rc = 0;
  if (always_cl || m->body_len) {
    rc = wsref_buf_append(o, "content-length:", 15);
    if (!rc) rc = put_u64(o, m->body_len);
    if (!rc) rc = wsref_buf_append(o, "\n", 1);
  }
  if (!rc) rc = wsref_buf_append(o, "\n", 1);
  if (!rc) rc = wsref_buf_append(o, m->body, m->body_len);
  if (!rc) rc = wsref_buf_append(o, "", 1);
  return rc;
}

/* Is h writable in a 1.0 frame (no escaping there)? */
static bool fits_v10(const wsref_stomp_header *h) {
  return h->name_len && v10_ok(h->name, h->name_len, true) && v10_ok(h->value, h->value_len, false);
}

static int shared_parts(wsref_stomp_broker *b, const qmsg *m, enum wsref_stomp_version v,
                        enc_cache *ec) {
  int slot = b->spring ? 0 : (int)v - WSREF_STOMP_V10;
  if (ec->have[slot]) return 0;
  int rc = 0;
  if (b->spring) {
    wsref_buf *head = &ec->part[0], *tail = &ec->part[1];
    for (size_t i = 0; i < m->nh && !rc; i++)
      rc = put_hdr(head, WSREF_STOMP_V12, m->h[i].name, m->h[i].name_len, m->h[i].value,
                   m->h[i].value_len);
    if (!rc) rc = put_body(tail, m, true);
  } else {
    wsref_buf *t = &ec->part[slot];
    wsref_stomp_header dh = {"destination", 11, m->display, m->display_len};
    if (v != WSREF_STOMP_V10 || fits_v10(&dh))
      rc = put_hdr(t, v, "destination", 11, m->display, m->display_len);
    for (size_t i = 0; i < m->nh && !rc; i++) {
      if (v == WSREF_STOMP_V10 && !fits_v10(&m->h[i])) continue;
      rc = put_hdr(t, v, m->h[i].name, m->h[i].name_len, m->h[i].value, m->h[i].value_len);
    }
    if (!rc) rc = put_body(t, m, false);
  }
  if (rc) return rc;
  ec->have[slot] = true;
  return 0;
}

/* Slow path (outbound interceptors installed): the MESSAGE as a frame. */
static int send_frame_msg(wsref_stomp_broker *b, sub *s, const qmsg *m, uint64_t id) {
  bconn *c = s->c;
  size_t cap = m->nh + 6;
  wsref_stomp_header *h = malloc(cap * sizeof *h);
  if (!h) return WSREF_E_NOMEM;
  char idbuf[48], mid[24];
  size_t k = 0;
  snprintf(mid, sizeof mid, "%llu", (unsigned long long)id);
  if (b->spring) {
    for (size_t i = 0; i < m->nh; i++) h[k++] = m->h[i];
    if (s->id) h[k++] = (wsref_stomp_header){"subscription", 12, s->id, s->id_len};
    int n = snprintf(idbuf, sizeof idbuf, "%s-%llu", c->id, (unsigned long long)id);
    h[k++] = (wsref_stomp_header){"message-id", 10, idbuf, (size_t)n};
  } else {
    if (s->id) h[k++] = (wsref_stomp_header){"subscription", 12, s->id, s->id_len};
    h[k++] = (wsref_stomp_header){"message-id", 10, mid, strlen(mid)};
    if (c->v == WSREF_STOMP_V12 && s->mode != ACK_AUTO)
      h[k++] = (wsref_stomp_header){"ack", 3, mid, strlen(mid)};
    if (m->redelivered) h[k++] = (wsref_stomp_header){"redelivered", 11, "true", 4};
    wsref_stomp_header dh = {"destination", 11, m->display, m->display_len};
    if (c->v != WSREF_STOMP_V10 || fits_v10(&dh)) h[k++] = dh;
    for (size_t i = 0; i < m->nh; i++)
      if (c->v != WSREF_STOMP_V10 || fits_v10(&m->h[i])) h[k++] = m->h[i];
  }
  wsref_stomp_frame f = {WSREF_STOMP_MESSAGE, h, k, m->body, m->body_len};
  int rc = wsref_stomp_conn_send(c->sc, &f);
  free(h);
  return rc;
}

/* Send one MESSAGE. id: the delivery id (spec message-id and ack) or Spring's counter. */
static int send_msg(wsref_stomp_broker *b, sub *s, const qmsg *m, uint64_t id, enc_cache *ec) {
  bconn *c = s->c;
  if (!c->sc) return WSREF_E_STATE;
  b->st.delivered++;
  if (m->redelivered) b->st.redelivered++;
  if (wsref_stomp_server_ninterceptors(b->srv, WSREF_STOMP_OUTBOUND))
    return send_frame_msg(b, s, m, id);
  int rc = shared_parts(b, m, c->v, ec);
  if (rc) return rc;
  wsref_buf local = WSREF_BUF_INIT;
  wsref_buf *o = b->asm_busy ? &local : &b->asm_buf;
  bool mine = !b->asm_busy;
  b->asm_busy = true;
  wsref_buf_reset(o);
  rc = wsref_buf_append(o, "MESSAGE\n", 8);
  if (b->spring) {
    const wsref_buf *head = &ec->part[0], *tail = &ec->part[1];
    if (!rc) rc = wsref_buf_append(o, wsref_buf_head(head), wsref_buf_len(head));
    if (!rc && s->id) {
      rc = wsref_buf_append(o, "subscription:", 13);
      if (!rc) rc = wsref_buf_append(o, s->id_esc, s->id_esc_len);
      if (!rc) rc = wsref_buf_append(o, "\n", 1);
    }
    if (!rc) rc = wsref_buf_append(o, "message-id:", 11);
    if (!rc) rc = wsref_buf_append(o, c->id_esc, c->id_esc_len);
    if (!rc) rc = wsref_buf_append(o, "-", 1);
    if (!rc) rc = put_u64(o, id);
    if (!rc) rc = wsref_buf_append(o, "\n", 1);
    if (!rc) rc = wsref_buf_append(o, wsref_buf_head(tail), wsref_buf_len(tail));
  } else {
    const wsref_buf *t = &ec->part[c->v - WSREF_STOMP_V10];
    if (!rc && s->id) {
      rc = wsref_buf_append(o, "subscription:", 13);
      if (!rc) rc = wsref_buf_append(o, s->id_esc, s->id_esc_len);
      if (!rc) rc = wsref_buf_append(o, "\n", 1);
    }
    if (!rc) rc = wsref_buf_append(o, "message-id:", 11);
    if (!rc) rc = put_u64(o, id);
    if (!rc) rc = wsref_buf_append(o, "\n", 1);
    if (!rc && c->v == WSREF_STOMP_V12 && s->mode != ACK_AUTO) {
      rc = wsref_buf_append(o, "ack:", 4);
      if (!rc) rc = put_u64(o, id);
      if (!rc) rc = wsref_buf_append(o, "\n", 1);
    }
    if (!rc && m->redelivered) rc = wsref_buf_append(o, "redelivered:true\n", 17);
    if (!rc) rc = wsref_buf_append(o, wsref_buf_head(t), wsref_buf_len(t));
  }
  if (!rc) {
    bool binary = !(m->utf8 && s->id_utf8) || (b->spring && m->octet);
    rc = wsref_stomp_conn_send_encoded(c->sc, wsref_buf_head(o), wsref_buf_len(o), binary);
  }
  if (mine) {
    b->asm_busy = false;
    if (b->asm_buf.cap > 1u << 20) wsref_buf_free(&b->asm_buf);
  } else {
    wsref_buf_free(&local);
  }
  return rc;
}

/* ---- depth and deferred cleanup ---- */

static void conn_cleanup(wsref_stomp_broker *b, bconn *c);

static void enter(wsref_stomp_broker *b) {
  b->depth++;
}

static void leave(wsref_stomp_broker *b) {
  if (b->depth > 1) {
    b->depth--;
    return;
  }
  /* Outermost: what was deferred runs now, still at depth 1 so that it defers in turn. */
  while (b->zombies || b->ngc) {
    if (b->zombies) {
      bconn *c = b->zombies;
      b->zombies = c->znext;
      conn_cleanup(b, c);
      continue;
    }
    dest *d = b->gc[--b->ngc];
    if (!d->nsubs && !d->count) dest_free(b, d);
  }
  b->depth--;
}

/* May s take a waiting queue message now? A consumer whose unsent output is at the
 * high-water mark waits for its output to drain (on_writable) instead of being handed a
 * backlog the send-limit decorator would end it for. */
static bool sub_ready(const wsref_stomp_broker *b, const sub *s) {
  const bconn *c = s->c;
  if (!c->sc || c->send_failed || !wsref_stomp_conn_is_connected(c->sc)) return false;
  if (s->mode != ACK_AUTO) {
    uint32_t lim = s->prefetch ? s->prefetch : b->o.max_unacked;
    if (lim && s->nunacked >= lim) return false;
  }
  if (wsref_stomp_conn_unsent(c->sc) >= wsref_stomp_conn_high_water(c->sc)) {
    wsref_stomp_conn_notify_writable(c->sc);
    return false;
  }
  return true;
}

/* ---- queues ---- */

static void deliver_queued(wsref_stomp_broker *b, sub *s, qmsg *m) {
  uint64_t id = ++b->seq;
  enc_cache ec;
  memset(&ec, 0, sizeof ec);
  if (s->mode == ACK_AUTO) {
    int rc = send_msg(b, s, m, id, &ec);
    cache_free(&ec);
    if (rc) {
      /* It never left (a failed send queues nothing, and a terminated slow client's queue
       * is dropped): back to the head, and this consumer is skipped from now on. */
      s->c->send_failed = true;
      if (ring_push(b, s->d, m, true) == 0) return;
    }
    qmsg_free(b, m, false);
    return;
  }
  delivery *r = malloc(sizeof *r);
  if (!r || u64_put(&s->c->unacked, id, r) < 0) {
    free(r);
    if (ring_push(b, s->d, m, true) < 0) qmsg_free(b, m, false);
    s->c->send_failed = true; /* out of memory for this one: stop feeding it */
    return;
  }
  r->id = id;
  r->s = s;
  r->m = m;
  r->next = NULL;
  r->prev = s->ua_tail;
  if (s->ua_tail)
    s->ua_tail->next = r;
  else
    s->ua_head = r;
  s->ua_tail = r;
  s->nunacked++;
  b->st.unacked++;
  /* A failed send leaves the record: the message is requeued when the connection goes. */
  if (send_msg(b, s, m, id, &ec) != 0) s->c->send_failed = true;
  cache_free(&ec);
}

static sub *pick(wsref_stomp_broker *b, dest *d) {
  for (size_t k = 0; k < d->nsubs; k++) {
    size_t i = (d->rr + k) % d->nsubs;
    sub *s = d->subs[i];
    if (sub_ready(b, s)) {
      d->rr = (i + 1) % d->nsubs;
      return s;
    }
  }
  return NULL;
}

static void dispatch(wsref_stomp_broker *b, dest *d) {
  if (!d->queue || d->dispatching) return;
  d->dispatching = true;
  while (d->count) {
    sub *s = pick(b, d);
    if (!s) break;
    deliver_queued(b, s, ring_pop(b, d));
  }
  d->dispatching = false;
  if (d->thr && d->count <= b->o.queue_flow_high / 2)
    while (d->thr) throttle_remove(d->thr);
}

/* Unlink a delivery record; the caller owns r->m afterwards. */
static void delivery_unlink(wsref_stomp_broker *b, delivery *r) {
  sub *s = r->s;
  if (r->prev)
    r->prev->next = r->next;
  else
    s->ua_head = r->next;
  if (r->next)
    r->next->prev = r->prev;
  else
    s->ua_tail = r->prev;
  s->nunacked--;
  b->st.unacked--;
  u64_del(&s->c->unacked, r->id);
}

/* Requeue the records from first to last (inclusive, in delivery order) at the head of
 * the queue, keeping their order. */
static void requeue_range(wsref_stomp_broker *b, delivery *first, delivery *last) {
  dest *d = first->s->d;
  delivery *r = last;
  for (;;) {
    delivery *prev = r == first ? NULL : r->prev;
    qmsg *m = r->m;
    delivery_unlink(b, r);
    free(r);
    m->redelivered = true;
    if (ring_push(b, d, m, true) < 0) qmsg_free(b, m, false);
    if (!prev) break;
    r = prev;
  }
}

static void ack_range(wsref_stomp_broker *b, delivery *first, delivery *last) {
  delivery *r = first;
  for (;;) {
    delivery *next = r == last ? NULL : r->next;
    qmsg *m = r->m;
    delivery_unlink(b, r);
    free(r);
    qmsg_free(b, m, false);
    b->st.acked++;
    if (!next) break;
    r = next;
  }
}

/* ---- subscriptions ---- */

static void sub_remove(wsref_stomp_broker *b, sub *s) {
  dest *d = s->d;
  bconn *c = s->c;
  if (s->ua_head) requeue_range(b, s->ua_head, s->ua_tail);
  d->subs[s->idx] = d->subs[--d->nsubs];
  d->subs[s->idx]->idx = s->idx;
  if (d->rr >= d->nsubs) d->rr = 0;
  if (s->cprev)
    s->cprev->cnext = s->cnext;
  else
    c->subs = s->cnext;
  if (s->cnext) s->cnext->cprev = s->cprev;
  c->nsubs--;
  b->st.subscriptions--;
  free(s->id);
  free(s->id_esc);
  free(s);
  dispatch(b, d);
  if (!d->nsubs)
    while (d->thr) throttle_remove(d->thr);
  dest_maybe_free(b, d);
}

static sub *sub_find(bconn *c, const char *id, size_t n) {
  for (sub *s = c->subs; s; s = s->cnext)
    if (s->id && s->id_len == n && memcmp(s->id, id, n) == 0) return s;
  return NULL;
}

/* ---- connections ---- */

static void txn_free(txn *t) {
  txframe *f = t->head;
  while (f) {
    txframe *next = f->next;
    free(f);
    f = next;
  }
  free(t->id);
  free(t);
}

static void conn_cleanup(wsref_stomp_broker *b, bconn *c) {
  while (c->txs) {
    txn *t = c->txs;
    c->txs = t->next;
    txn_free(t);
  }
  while (c->subs) sub_remove(b, c->subs);
  while (c->thr) throttle_remove(c->thr);
  /* Its user destinations go with it (waiting messages included), unless someone else
   * subscribed to one by its resolved name. */
  while (c->nowned) {
    dest *d = c->owned[--c->nowned];
    d->owner = NULL;
    if (d->nsubs) continue;
    dest_free(b, d);
  }
  u64_free(&c->unacked);
  free(c->owned);
  free(c->id);
  free(c->id_esc);
  free(c);
}

static void user_unlink(wsref_stomp_broker *b, bconn *c) {
  user *u = c->u;
  if (!u) return;
  if (c->uprev)
    c->uprev->unext = c->unext;
  else
    u->conns = c->unext;
  if (c->unext) c->unext->uprev = c->uprev;
  c->u = NULL;
  if (!u->conns) {
    smap_del(&b->users, &u->e);
    free(u->name);
    free(u);
  }
}

static int user_link(wsref_stomp_broker *b, bconn *c, const char *name) {
  size_t n = strlen(name);
  uint64_t h = fnv(name, n);
  user *u = (user *)smap_get(&b->users, name, n, h);
  if (!u) {
    u = calloc(1, sizeof *u);
    if (!u || !(u->name = dup_n(name, n))) {
      free(u);
      return WSREF_E_NOMEM;
    }
    u->e.key = u->name;
    u->e.klen = n;
    u->e.hash = h;
    if (smap_put(&b->users, &u->e) < 0) {
      free(u->name);
      free(u);
      return WSREF_E_NOMEM;
    }
  }
  c->u = u;
  c->unext = u->conns;
  if (u->conns) u->conns->uprev = c;
  u->conns = c;
  return 0;
}

static int escape_dup(wsref_stomp_broker *b, enum wsref_stomp_version v, const char *s, size_t n,
                      char **out, size_t *outn) {
  wsref_buf t = WSREF_BUF_INIT;
  int rc = wsref_stomp_escape(&t, b->spring ? WSREF_STOMP_V12 : v, s, n);
  if (rc == 0) {
    *out = dup_n(n ? (const char *)wsref_buf_head(&t) : "", wsref_buf_len(&t));
    *outn = wsref_buf_len(&t);
    if (!*out) rc = WSREF_E_NOMEM;
  }
  wsref_buf_free(&t);
  return rc;
}

static int on_connect(wsref_stomp_conn *sc, const wsref_stomp_frame *f, void *ud) {
  (void)f;
  wsref_stomp_broker *b = ud;
  bconn *c = calloc(1, sizeof *c);
  if (!c) return WSREF_E_NOMEM;
  c->b = b;
  c->sc = sc;
  c->v = wsref_stomp_conn_version(sc);
  const char *id = wsref_stomp_conn_id(sc);
  c->id = dup_n(id, strlen(id));
  if (!c->id || escape_dup(b, WSREF_STOMP_V12, id, strlen(id), &c->id_esc, &c->id_esc_len) < 0) {
    free(c->id);
    free(c);
    return WSREF_E_NOMEM;
  }
  const char *uname = wsref_stomp_conn_user(sc);
  if (uname && *uname && user_link(b, c, uname) < 0) {
    free(c->id);
    free(c->id_esc);
    free(c);
    return WSREF_E_NOMEM;
  }
  wsref_stomp_conn_set_data(sc, c);
  b->st.connections++;
  return 0;
}

static void on_writable(wsref_stomp_conn *sc, void *ud) {
  wsref_stomp_broker *b = ud;
  bconn *c = wsref_stomp_conn_data(sc);
  if (!c) return;
  enter(b);
  for (sub *s = c->subs; s && c->sc; s = s->cnext)
    if (s->d->queue && s->d->count) dispatch(b, s->d);
  leave(b);
}

static void on_disconnect(wsref_stomp_conn *sc, void *ud) {
  wsref_stomp_broker *b = ud;
  bconn *c = wsref_stomp_conn_data(sc);
  if (!c) return;
  wsref_stomp_conn_set_data(sc, NULL);
  c->sc = NULL;
  user_unlink(b, c);
  b->st.connections--;
  c->znext = b->zombies;
  b->zombies = c;
  enter(b);
  leave(b);
}

/* ---- publishing ---- */

/* Classify a destination. */
enum dkind { D_NONE = 0, D_BROKER, D_APP, D_USER };

/* The user prefix always needs its '/' (Spring normalises "/user" to "/user/"). */
static bool user_match(const wsref_stomp_broker *b, const char *d, size_t n) {
  const prefix *p = &b->up;
  if (!p->n || n < p->n || memcmp(d, p->s, p->n) != 0) return false;
  if (p->s[p->n - 1] == '/') return n > p->n;
  return n > p->n + 1 && d[p->n] == '/';
}

static enum dkind classify(const wsref_stomp_broker *b, const char *d, size_t n) {
  if (user_match(b, d, n)) return D_USER;
  if (any_prefix(b, b->ap, b->nap, d, n)) return D_APP;
  if (any_prefix(b, b->bp, b->nbp, d, n)) return D_BROKER;
  return D_NONE;
}

/* "/user/{name}/rest" -> name and "/rest". */
static bool split_user_dest(const wsref_stomp_broker *b, const char *d, size_t n, const char **name,
                            size_t *nn, const char **rest, size_t *rn) {
  size_t i = b->up.n;
  if (b->up.s[i - 1] != '/') i++; /* skip the '/' after the prefix */
  if (i >= n) return false;
  const char *slash = memchr(d + i, '/', n - i);
  if (!slash || slash == d + i || slash + 1 == d + n) return false;
  *name = d + i;
  *nn = (size_t)(slash - (d + i));
  *rest = slash;
  *rn = n - (size_t)(slash - d);
  return true;
}

/* "/queue/x" + "-user" + session id: Spring's DefaultUserDestinationResolver. */
static int user_target(const char *rest, size_t rn, const char *sid, wsref_buf *out) {
  wsref_buf_reset(out);
  int rc = wsref_buf_append(out, rest, rn);
  if (!rc) rc = wsref_buf_append(out, "-user", 5);
  if (!rc) rc = wsref_buf_append(out, sid, strlen(sid));
  return rc;
}

static void set_err(wsref_stomp_conn *from, const char *fmt, const char *a, size_t an) {
  if (from) wsref_stomp_conn_set_error(from, fmt, (int)(an > 120 ? 120 : an), a);
}

static int deliver_to(wsref_stomp_broker *b, dest *d, qmsg *m, wsref_stomp_conn *from) {
  if (d->queue) {
    if (d->count >= b->o.max_queue_messages) {
      set_err(from, "Queue '%.*s' is full", d->name, strlen(d->name));
      qmsg_free(b, m, false);
      return WSREF_E_LIMIT;
    }
    if (ring_push(b, d, m, false) < 0) {
      qmsg_free(b, m, false);
      return WSREF_E_NOMEM;
    }
    dispatch(b, d);
    /* Consumers slower than producers: the sender's RECEIPTs wait until the queue drained
     * to half. (A queue nobody consumes just fills up to its limits.) */
    bconn *pc = from ? wsref_stomp_conn_data(from) : NULL;
    if (pc && d->nsubs && b->o.queue_flow_high && d->count > b->o.queue_flow_high)
      throttle_add(pc, d);
    return 0;
  }
  if (d->nsubs) {
    enc_cache ec;
    memset(&ec, 0, sizeof ec);
    /* A spring message-id counter per message delivery, as Spring's per-subscriber copy. */
    for (size_t i = 0; i < d->nsubs; i++) {
      sub *s = d->subs[i];
      if (!s->c->sc || !wsref_stomp_conn_is_connected(s->c->sc)) continue;
      uint64_t id = b->spring ? b->spring_seq++ : ++b->seq;
      (void)send_msg(b, s, m, id, &ec);
    }
    cache_free(&ec);
  }
  qmsg_free(b, m, false);
  return 0;
}

/* Publish f (a SEND or template message) to destination dest. from: the sending
 * connection, or NULL. */
static int publish(wsref_stomp_broker *b, wsref_stomp_conn *from, const char *dname, size_t dn,
                   const wsref_stomp_frame *f) {
  enum dkind k = classify(b, dname, dn);
  switch (k) {
    case D_APP: {
      const prefix *p = NULL;
      for (size_t i = 0; i < b->nap && !p; i++)
        if (prefix_match(b, &b->ap[i], dname, dn)) p = &b->ap[i];
      size_t off = p->s[p->n - 1] == '/' ? p->n - 1 : p->n;
      const char *rest = dname + off;
      size_t rn = dn - off;
      app_handler *h = (app_handler *)smap_get(&b->handlers, rest, rn, fnv(rest, rn));
      if (!h) h = b->any_handler;
      if (!h) {
        if (b->spring) return 0; /* no @MessageMapping: Spring logs and drops it */
        set_err(from, "No handler for destination '%.*s'", dname, dn);
        return WSREF_E_INVALID_ARG;
      }
      char *r = dup_n(rest, rn);
      if (!r) return WSREF_E_NOMEM;
      int rc = h->fn(b, from, r, f, h->ud);
      free(r);
      return rc < 0 ? rc : 0;
    }
    case D_BROKER: {
      b->st.published++;
      dest *d = dest_find(b, dname, dn);
      bool queue = any_prefix(b, b->qp, b->nqp, dname, dn);
      if (!d && !queue) return 0; /* a topic nobody listens to */
      if (queue && b->queued_bytes + dn + f->body_len > b->o.max_queued_bytes) {
        set_err(from, "Queue '%.*s' is full (broker queue memory limit)", dname, dn);
        return WSREF_E_LIMIT;
      }
      if (queue && !d) {
        d = dest_get(b, dname, dn, dname, dn, NULL);
        if (!d) return WSREF_E_NOMEM;
      }
      qmsg *m = qmsg_new(b, f, d->display, d->display_len);
      if (!m) {
        dest_maybe_free(b, d);
        return WSREF_E_NOMEM;
      }
      int rc = deliver_to(b, d, m, from);
      dest_maybe_free(b, d);
      return rc;
    }
    case D_USER: {
      const char *name, *rest;
      size_t nn, rn;
      if (!split_user_dest(b, dname, dn, &name, &nn, &rest, &rn)) {
        if (b->spring) return 0;
        set_err(from, "Invalid user destination '%.*s'", dname, dn);
        return WSREF_E_INVALID_ARG;
      }
      if (!any_prefix(b, b->bp, b->nbp, rest, rn)) {
        if (b->spring) return 0;
        set_err(from, "Unknown destination '%.*s'", dname, dn);
        return WSREF_E_INVALID_ARG;
      }
      b->st.published++;
      /* Spring decodes "%2F" in user names. */
      char *uname = malloc(nn + 1);
      if (!uname) return WSREF_E_NOMEM;
      size_t un = 0;
      for (size_t i = 0; i < nn; i++) {
        if (i + 2 < nn && name[i] == '%' && name[i + 1] == '2' &&
            (name[i + 2] == 'F' || name[i + 2] == 'f')) {
          uname[un++] = '/';
          i += 2;
        } else {
          uname[un++] = name[i];
        }
      }
      uname[un] = 0;
      user *u = (user *)smap_get(&b->users, uname, un, fnv(uname, un));
      free(uname);
      if (!u) return 0;
      /* The MESSAGE shows the subscription form (/user/queue/x): the destination's
       * display name, set when the user subscribed. */
      wsref_buf target = WSREF_BUF_INIT;
      int rc = 0;
      for (bconn *c = u->conns; c && !rc; c = c->unext) {
        if (!c->sc) continue;
        rc = user_target(rest, rn, c->id, &target);
        if (rc) break;
        dest *d = dest_find(b, (const char *)wsref_buf_head(&target), wsref_buf_len(&target));
        if (!d) continue;
        qmsg *m = qmsg_new(b, f, d->display, d->display_len);
        if (!m) {
          rc = WSREF_E_NOMEM;
          break;
        }
        rc = deliver_to(b, d, m, from);
        dest_maybe_free(b, d);
      }
      wsref_buf_free(&target);
      return rc;
    }
    default:
      if (b->spring) return 0;
      set_err(from, "Unknown destination '%.*s'", dname, dn);
      return WSREF_E_INVALID_ARG;
  }
}

/* ---- frames ---- */

static int do_subscribe(wsref_stomp_broker *b, bconn *c, const wsref_stomp_frame *f) {
  wsref_stomp_conn *sc = c->sc;
  const wsref_stomp_header *dh = hget(f, "destination");
  const wsref_stomp_header *ih = hget(f, "id");
  if (b->spring && (!dh || !ih)) return 0; /* D2: logged and ignored */
  if (!dh) return 0;                       /* spec: checked by the protocol handler */
  if (ih && sub_find(c, ih->value, ih->value_len)) {
    if (b->spring) return 0; /* D11: the first one stays */
    set_err(sc, "Duplicate subscription id '%.*s'", ih->value, ih->value_len);
    return WSREF_E_STOMP_STATE;
  }
  if (c->nsubs >= b->o.max_subscriptions) {
    if (b->spring) return 0;
    wsref_stomp_conn_set_error(sc, "Too many subscriptions (limit %zu)", b->o.max_subscriptions);
    return WSREF_E_LIMIT;
  }
  const char *dname = dh->value;
  size_t dn = dh->value_len;
  wsref_buf target = WSREF_BUF_INIT;
  const char *name = dname, *display = dname;
  size_t nn = dn, disn = dn;
  bconn *owner = NULL;
  switch (classify(b, dname, dn)) {
    case D_USER: {
      /* /user/queue/x -> /queue/x-user<session> */
      size_t off = b->up.s[b->up.n - 1] == '/' ? b->up.n - 1 : b->up.n;
      const char *rest = dname + off;
      size_t rn = dn - off;
      if (!any_prefix(b, b->bp, b->nbp, rest, rn)) {
        if (b->spring) return 0;
        set_err(sc, "Unknown destination '%.*s'", dname, dn);
        return WSREF_E_INVALID_ARG;
      }
      if (user_target(rest, rn, c->id, &target) < 0) {
        wsref_buf_free(&target);
        return WSREF_E_NOMEM;
      }
      name = (const char *)wsref_buf_head(&target);
      nn = wsref_buf_len(&target);
      owner = c;
      break;
    }
    case D_BROKER:
      break;
    case D_APP:
      if (b->spring) return 0; /* @SubscribeMapping is not modelled; the broker ignores it */
      set_err(sc, "Cannot subscribe to application destination '%.*s'", dname, dn);
      return WSREF_E_INVALID_ARG;
    default:
      if (b->spring) return 0;
      set_err(sc, "Unknown destination '%.*s'", dname, dn);
      return WSREF_E_INVALID_ARG;
  }
  int rc = WSREF_E_NOMEM;
  sub *s = calloc(1, sizeof *s);
  dest *d = s ? dest_get(b, name, nn, display, disn, owner) : NULL;
  wsref_buf_free(&target);
  if (!d) goto fail;
  if (d->nsubs == d->capsubs) {
    size_t ncap = d->capsubs ? 2 * d->capsubs : 4;
    sub **ns = realloc(d->subs, ncap * sizeof *ns);
    if (!ns) goto fail;
    d->subs = ns;
    d->capsubs = ncap;
  }
  if (ih) {
    s->id = dup_n(ih->value, ih->value_len);
    s->id_len = ih->value_len;
    if (!s->id) goto fail;
    /* (A 1.0 id has no line feed to refuse: 1.0 has no escapes to carry one.) */
    rc = escape_dup(b, c->v, ih->value, ih->value_len, &s->id_esc, &s->id_esc_len);
    if (rc) goto fail;
    s->id_utf8 = wsref_utf8_valid((const uint8_t *)s->id_esc, s->id_esc_len);
  } else {
    s->id_utf8 = true;
  }
  s->mode = ACK_AUTO;
  const wsref_stomp_header *ah = hget(f, "ack");
  if (ah && !b->spring) {
    if (ah->value_len == 6 && memcmp(ah->value, "client", 6) == 0) s->mode = ACK_CLIENT;
    if (ah->value_len == 17 && memcmp(ah->value, "client-individual", 17) == 0)
      s->mode = ACK_INDIVIDUAL;
  }
  const wsref_stomp_header *ph = hget(f, "prefetch-count");
  if (ph && !b->spring) {
    uint64_t v = 0;
    bool ok = ph->value_len > 0 && ph->value_len < 10;
    for (size_t i = 0; ok && i < ph->value_len; i++) {
      ok = ph->value[i] >= '0' && ph->value[i] <= '9';
      v = v * 10 + (uint64_t)(ph->value[i] - '0');
    }
    if (ok)
      s->prefetch = (uint32_t)(b->o.max_unacked && v > b->o.max_unacked ? b->o.max_unacked : v);
  }
  s->c = c;
  s->d = d;
  s->idx = d->nsubs;
  d->subs[d->nsubs++] = s;
  s->cnext = c->subs;
  if (c->subs) c->subs->cprev = s;
  c->subs = s;
  c->nsubs++;
  b->st.subscriptions++;
  dispatch(b, d);
  return 0;
fail:
  if (s) {
    free(s->id);
    free(s->id_esc);
    free(s);
  }
  if (d) dest_maybe_free(b, d);
  return WSREF_E_NOMEM;
}

static int do_unsubscribe(wsref_stomp_broker *b, bconn *c, const wsref_stomp_frame *f) {
  const wsref_stomp_header *ih = hget(f, "id");
  if (!ih) {
    /* 1.0: by destination (every subscription of this connection to it). */
    const wsref_stomp_header *dh = hget(f, "destination");
    if (!dh || b->spring) return 0;
    sub *s = c->subs;
    while (s) {
      sub *next = s->cnext;
      if (strlen(s->d->display) == dh->value_len &&
          memcmp(s->d->display, dh->value, dh->value_len) == 0)
        sub_remove(b, s);
      s = next;
    }
    return 0;
  }
  sub *s = sub_find(c, ih->value, ih->value_len);
  if (!s) {
    if (b->spring) return 0;
    set_err(c->sc, "No subscription with id '%.*s'", ih->value, ih->value_len);
    return WSREF_E_STOMP_STATE;
  }
  sub_remove(b, s);
  return 0;
}

static bool parse_id(const char *p, size_t n, uint64_t *out) {
  if (!n || n > 20) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    uint64_t nv = v * 10 + (uint64_t)(p[i] - '0');
    if (nv < v) return false;
    v = nv;
  }
  *out = v;
  return true;
}

static int do_ack(wsref_stomp_broker *b, bconn *c, const wsref_stomp_frame *f, bool nack) {
  const wsref_stomp_header *ih = hget(f, c->v == WSREF_STOMP_V12 ? "id" : "message-id");
  uint64_t id;
  if (!ih || !parse_id(ih->value, ih->value_len, &id)) return 0; /* not one of ours */
  delivery *r = u64_get(&c->unacked, id);
  if (!r) return 0;
  sub *s = r->s;
  const wsref_stomp_header *sh = c->v == WSREF_STOMP_V12 ? NULL : hget(f, "subscription");
  if (sh && (!s->id || s->id_len != sh->value_len || memcmp(s->id, sh->value, sh->value_len) != 0))
    return 0;
  dest *d = s->d;
  delivery *first = s->mode == ACK_CLIENT ? s->ua_head : r;
  if (nack)
    requeue_range(b, first, r);
  else
    ack_range(b, first, r);
  dispatch(b, d);
  return 0;
}

static txn *txn_find(bconn *c, const char *id, size_t n, txn ***pp) {
  txn **p = &c->txs;
  for (; *p; p = &(*p)->next)
    if ((*p)->id_len == n && memcmp((*p)->id, id, n) == 0) break;
  if (pp) *pp = p;
  return *p;
}

static txframe *frame_copy(const wsref_stomp_frame *f) {
  size_t bytes = sizeof(txframe) + f->nheaders * sizeof(wsref_stomp_header) + f->body_len + 1;
  for (size_t i = 0; i < f->nheaders; i++)
    bytes += f->headers[i].name_len + f->headers[i].value_len + 2;
  txframe *t = malloc(bytes);
  if (!t) return NULL;
  t->next = NULL;
  t->bytes = bytes;
  char *p = (char *)(t->h + f->nheaders);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    memcpy(p, h->name, h->name_len);
    p[h->name_len] = 0;
    t->h[i].name = p;
    t->h[i].name_len = h->name_len;
    p += h->name_len + 1;
    if (h->value_len) memcpy(p, h->value, h->value_len);
    p[h->value_len] = 0;
    t->h[i].value = p;
    t->h[i].value_len = h->value_len;
    p += h->value_len + 1;
  }
  if (f->body_len) memcpy(p, f->body, f->body_len);
  t->f.command = f->command;
  t->f.headers = t->h;
  t->f.nheaders = f->nheaders;
  t->f.body = (const uint8_t *)p;
  t->f.body_len = f->body_len;
  return t;
}

static int apply(wsref_stomp_broker *b, bconn *c, const wsref_stomp_frame *f) {
  switch (f->command) {
    case WSREF_STOMP_SEND:
    case WSREF_STOMP_MESSAGE: {
      const wsref_stomp_header *dh = hget(f, "destination");
      if (!dh) return 0; /* spring D2; spec: checked by the protocol handler */
      return publish(b, c->sc, dh->value, dh->value_len, f);
    }
    case WSREF_STOMP_ACK:
      return b->spring ? 0 : do_ack(b, c, f, false);
    case WSREF_STOMP_NACK:
      return b->spring ? 0 : do_ack(b, c, f, true);
    default:
      return 0;
  }
}

static int do_transaction(wsref_stomp_broker *b, bconn *c, const wsref_stomp_frame *f) {
  const wsref_stomp_header *th = hget(f, "transaction");
  if (!th) return 0;
  txn **pp;
  txn *t = txn_find(c, th->value, th->value_len, &pp);
  switch (f->command) {
    case WSREF_STOMP_BEGIN:
      if (t) {
        set_err(c->sc, "Transaction '%.*s' already exists", th->value, th->value_len);
        return WSREF_E_STOMP_STATE;
      }
      if (c->ntx >= b->o.max_transactions) {
        wsref_stomp_conn_set_error(c->sc, "Too many open transactions (limit %zu)",
                                   b->o.max_transactions);
        return WSREF_E_LIMIT;
      }
      t = calloc(1, sizeof *t);
      if (!t || !(t->id = dup_n(th->value, th->value_len))) {
        free(t);
        return WSREF_E_NOMEM;
      }
      t->id_len = th->value_len;
      *pp = t;
      c->ntx++;
      return 0;
    case WSREF_STOMP_COMMIT:
    case WSREF_STOMP_ABORT: {
      if (!t) {
        set_err(c->sc, "Unknown transaction '%.*s'", th->value, th->value_len);
        return WSREF_E_STOMP_STATE;
      }
      *pp = t->next;
      c->ntx--;
      int rc = 0;
      if (f->command == WSREF_STOMP_COMMIT)
        for (txframe *x = t->head; x && rc == 0 && c->sc; x = x->next) rc = apply(b, c, &x->f);
      txn_free(t);
      return rc;
    }
    default: {
      /* SEND, ACK or NACK inside a transaction: kept for COMMIT. */
      if (!t) {
        set_err(c->sc, "Unknown transaction '%.*s'", th->value, th->value_len);
        return WSREF_E_STOMP_STATE;
      }
      if (f->command == WSREF_STOMP_SEND) {
        const wsref_stomp_header *dh = hget(f, "destination");
        enum dkind k = dh ? classify(b, dh->value, dh->value_len) : D_NONE;
        if (k == D_NONE) {
          set_err(c->sc, "Unknown destination '%.*s'", dh ? dh->value : "", dh ? dh->value_len : 0);
          return WSREF_E_INVALID_ARG;
        }
      }
      txframe *x = frame_copy(f);
      if (!x) return WSREF_E_NOMEM;
      if (t->bytes + x->bytes > b->o.max_transaction_bytes) {
        free(x);
        set_err(c->sc, "Transaction '%.*s' is too large", th->value, th->value_len);
        return WSREF_E_LIMIT;
      }
      t->bytes += x->bytes;
      if (t->tail)
        t->tail->next = x;
      else
        t->head = x;
      t->tail = x;
      return 0;
    }
  }
}

static int on_frame(wsref_stomp_conn *sc, const wsref_stomp_frame *f, void *ud) {
  wsref_stomp_broker *b = ud;
  bconn *c = wsref_stomp_conn_data(sc);
  if (!c) return 0;
  enter(b);
  int rc = 0;
  switch (f->command) {
    case WSREF_STOMP_SUBSCRIBE:
      rc = do_subscribe(b, c, f);
      break;
    case WSREF_STOMP_UNSUBSCRIBE:
      rc = do_unsubscribe(b, c, f);
      break;
    case WSREF_STOMP_BEGIN:
    case WSREF_STOMP_COMMIT:
    case WSREF_STOMP_ABORT:
      if (!b->spring) rc = do_transaction(b, c, f);
      break;
    case WSREF_STOMP_SEND:
    case WSREF_STOMP_MESSAGE:
    case WSREF_STOMP_ACK:
    case WSREF_STOMP_NACK:
      if (!b->spring && f->command != WSREF_STOMP_MESSAGE && hget(f, "transaction"))
        rc = do_transaction(b, c, f);
      else
        rc = apply(b, c, f);
      break;
    default:
      break;
  }
  leave(b);
  return rc;
}

/* ---- public API ---- */

static int copy_prefixes(const char *const *in, prefix *out, size_t *n) {
  *n = 0;
  for (size_t i = 0; i < WSREF_STOMP_BROKER_MAX_PREFIXES && in[i]; i++) {
    size_t len = strlen(in[i]);
    if (len == 0 || in[i][0] != '/') return WSREF_E_INVALID_ARG;
    out[i].s = dup_n(in[i], len);
    if (!out[i].s) return WSREF_E_NOMEM;
    out[i].n = len;
    *n = i + 1;
  }
  return 0;
}

wsref_stomp_broker *wsref_stomp_broker_new(const wsref_stomp_broker_options *o) {
  wsref_stomp_broker *b = calloc(1, sizeof *b);
  if (!b) return NULL;
  if (o)
    b->o = *o;
  else
    wsref_stomp_broker_options_default(&b->o, WSREF_STOMP_PROFILE_SPEC);
  b->spring = b->o.server.profile == WSREF_STOMP_PROFILE_SPRING;
  if (copy_prefixes(b->o.broker_prefixes, b->bp, &b->nbp) < 0 ||
      copy_prefixes(b->o.queue_prefixes, b->qp, &b->nqp) < 0 ||
      copy_prefixes(b->o.app_prefixes, b->ap, &b->nap) < 0)
    goto fail;
  memset(b->o.broker_prefixes, 0, sizeof b->o.broker_prefixes);
  memset(b->o.queue_prefixes, 0, sizeof b->o.queue_prefixes);
  memset(b->o.app_prefixes, 0, sizeof b->o.app_prefixes);
  for (size_t i = 0; i < b->nbp; i++) b->o.broker_prefixes[i] = b->bp[i].s;
  for (size_t i = 0; i < b->nqp; i++) b->o.queue_prefixes[i] = b->qp[i].s;
  for (size_t i = 0; i < b->nap; i++) b->o.app_prefixes[i] = b->ap[i].s;
  if (b->o.user_prefix && *b->o.user_prefix) {
    if (b->o.user_prefix[0] != '/') goto fail;
    b->up.n = strlen(b->o.user_prefix);
    b->up.s = dup_n(b->o.user_prefix, b->up.n);
    if (!b->up.s) goto fail;
  }
  b->o.user_prefix = b->up.s;
  if (!b->o.max_queue_messages) b->o.max_queue_messages = 1000000;
  if (!b->o.max_queued_bytes) b->o.max_queued_bytes = (size_t)256 << 20;
  if (!b->o.max_subscriptions) b->o.max_subscriptions = 1024;
  if (!b->o.max_transactions) b->o.max_transactions = 64;
  if (!b->o.max_transaction_bytes) b->o.max_transaction_bytes = 16u << 20;
  wsref_stomp_backend be = {on_connect, on_frame, on_disconnect, on_writable, b};
  b->srv = wsref_stomp_server_new(&b->o.server, &be);
  if (!b->srv) goto fail;
  b->o.server = *wsref_stomp_server_options_of(b->srv);
  return b;
fail:
  wsref_stomp_broker_free(b);
  return NULL;
}

void wsref_stomp_broker_free(wsref_stomp_broker *b) {
  if (!b) return;
  /* Sessions are gone, so are connections; what remains are queues and handlers. */
  while (b->zombies) {
    bconn *c = b->zombies;
    b->zombies = c->znext;
    conn_cleanup(b, c);
  }
  for (size_t i = 0; i < b->dests.nb; i++) {
    sentry *e = b->dests.b[i];
    while (e) {
      sentry *next = e->next;
      dest *d = (dest *)e;
      for (size_t k = 0; k < d->count; k++) free(d->ring[(d->head + k) % d->cap]);
      free(d->subs);
      free(d->ring);
      free(d->name);
      free(d->display);
      free(d);
      e = next;
    }
  }
  free(b->dests.b);
  for (size_t i = 0; i < b->handlers.nb; i++) {
    sentry *e = b->handlers.b[i];
    while (e) {
      sentry *next = e->next;
      app_handler *h = (app_handler *)e;
      free(h->dest);
      free(h);
      e = next;
    }
  }
  free(b->handlers.b);
  if (b->any_handler) {
    free(b->any_handler->dest);
    free(b->any_handler);
  }
  for (size_t i = 0; i < b->users.nb; i++) {
    sentry *e = b->users.b[i];
    while (e) {
      sentry *next = e->next;
      user *u = (user *)e;
      free(u->name);
      free(u);
      e = next;
    }
  }
  free(b->users.b);
  for (size_t i = 0; i < b->nbp; i++) free(b->bp[i].s);
  for (size_t i = 0; i < b->nqp; i++) free(b->qp[i].s);
  for (size_t i = 0; i < b->nap; i++) free(b->ap[i].s);
  free(b->up.s);
  free(b->gc);
  wsref_buf_free(&b->asm_buf);
  wsref_stomp_server_free(b->srv);
  free(b);
}

wsref_stomp_server *wsref_stomp_broker_server(wsref_stomp_broker *b) {
  return b->srv;
}

wsref_registration *wsref_stomp_broker_register(wsref_stomp_broker *b, wsref_registry *reg,
                                                const char *path) {
  return wsref_stomp_server_register(b->srv, reg, path);
}

int wsref_stomp_broker_add_interceptor(wsref_stomp_broker *b, enum wsref_stomp_channel ch,
                                       const wsref_stomp_interceptor *ic) {
  return wsref_stomp_server_add_interceptor(b->srv, ch, ic);
}

int wsref_stomp_broker_add_handler(wsref_stomp_broker *b, const char *dname,
                                   wsref_stomp_app_handler fn, void *ud) {
  if (!dname || !fn) return WSREF_E_INVALID_ARG;
  size_t n = strlen(dname);
  bool any = n == 1 && dname[0] == '*';
  if (any ? b->any_handler != NULL : smap_get(&b->handlers, dname, n, fnv(dname, n)) != NULL)
    return WSREF_E_INVALID_ARG;
  app_handler *h = calloc(1, sizeof *h);
  if (!h || !(h->dest = dup_n(dname, n))) {
    free(h);
    return WSREF_E_NOMEM;
  }
  h->fn = fn;
  h->ud = ud;
  if (any) {
    b->any_handler = h;
    return 0;
  }
  h->e.key = h->dest;
  h->e.klen = n;
  h->e.hash = fnv(dname, n);
  if (smap_put(&b->handlers, &h->e) < 0) {
    free(h->dest);
    free(h);
    return WSREF_E_NOMEM;
  }
  return 0;
}

int wsref_template_send(wsref_stomp_broker *b, const char *dname, const wsref_stomp_header *headers,
                        size_t nheaders, const void *body, size_t body_len) {
  if (!b || !dname || (nheaders && !headers) || (body_len && !body)) return WSREF_E_INVALID_ARG;
  /* The template's own headers never carry these (as if a client had sent SEND). */
  wsref_stomp_header *h = malloc((nheaders + 1) * sizeof *h);
  if (!h) return WSREF_E_NOMEM;
  size_t k = 0;
  for (size_t i = 0; i < nheaders; i++) {
    const wsref_stomp_header *x = &headers[i];
    if (heq(x, "destination") || heq(x, "content-length") || heq(x, "receipt") ||
        heq(x, "transaction"))
      continue;
    h[k++] = *x;
  }
  wsref_stomp_frame f = {WSREF_STOMP_SEND, h, k, body, body_len};
  size_t dn = strlen(dname);
  enter(b);
  int rc = classify(b, dname, dn) == D_NONE ? WSREF_E_INVALID_ARG : publish(b, NULL, dname, dn, &f);
  leave(b);
  free(h);
  return rc;
}

int wsref_template_send_to_user(wsref_stomp_broker *b, const char *uname, const char *dname,
                                const wsref_stomp_header *headers, size_t nheaders,
                                const void *body, size_t body_len) {
  if (!b || !uname || !*uname || !dname || dname[0] != '/' || !b->up.n) return WSREF_E_INVALID_ARG;
  wsref_buf d = WSREF_BUF_INIT;
  /* Spring encodes a '/' in the uname name as %2F. */
  int rc = wsref_buf_append(&d, b->up.s, b->up.n);
  if (!rc && b->up.s[b->up.n - 1] != '/') rc = wsref_buf_append(&d, "/", 1);
  for (const char *p = uname; *p && !rc; p++)
    rc = *p == '/' ? wsref_buf_append(&d, "%2F", 3) : wsref_buf_append(&d, p, 1);
  if (!rc) rc = wsref_buf_append(&d, dname, strlen(dname));
  if (!rc) rc = wsref_buf_append(&d, "", 1);
  if (!rc)
    rc =
        wsref_template_send(b, (const char *)wsref_buf_head(&d), headers, nheaders, body, body_len);
  wsref_buf_free(&d);
  return rc;
}

void wsref_stomp_broker_get_stats(const wsref_stomp_broker *b, wsref_stomp_broker_stats *st) {
  *st = b->st;
}
