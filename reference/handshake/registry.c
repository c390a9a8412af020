#include "handshake/registry.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"

struct wsref_registration {
  char *path;
  const struct wsref_handler *handler;
  char **origins;
  size_t norigins;
  char **protos;
  size_t nprotos;
  wsref_interceptor *ics;
  size_t nics;
  wsref_extension *exts; /* names are owned copies */
  size_t nexts;
};

struct wsref_registry {
  wsref_registration **regs;
  size_t n, cap;
};

static void registration_free(wsref_registration *r) {
  if (!r) return;
  for (size_t i = 0; i < r->norigins; i++) free(r->origins[i]);
  for (size_t i = 0; i < r->nprotos; i++) free(r->protos[i]);
  for (size_t i = 0; i < r->nexts; i++) free((char *)r->exts[i].name);
  free(r->origins);
  free(r->protos);
  free(r->ics);
  free(r->exts);
  free(r->path);
  free(r);
}

wsref_registry *wsref_registry_new(void) {
  return calloc(1, sizeof(wsref_registry));
}

void wsref_registry_free(wsref_registry *reg) {
  if (!reg) return;
  for (size_t i = 0; i < reg->n; i++) registration_free(reg->regs[i]);
  free(reg->regs);
  free(reg);
}

static bool printable(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++)
    if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f) return false;
  return true;
}

/* RFC 9110 token, the grammar of subprotocol and extension names (RFC 6455 4.1, 9.1). */
static bool is_token(const char *s) {
  if (!s || !*s) return false;
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')) continue;
    if (!strchr("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

wsref_registration *wsref_registry_add(wsref_registry *reg, const char *path,
                                       const struct wsref_handler *handler) {
  /* A path is matched against the request target before its query, so '?' and '#' could
   * never match. */
  if (!reg || !printable(path) || path[0] != '/' || strpbrk(path, "?#")) return NULL;
  if (wsref_registry_find(reg, path, strlen(path))) return NULL;
  if (reg->n == reg->cap) {
    size_t cap = reg->cap ? reg->cap * 2 : 4;
    wsref_registration **regs = realloc(reg->regs, cap * sizeof *regs);
    if (!regs) return NULL;
    reg->regs = regs;
    reg->cap = cap;
  }
  wsref_registration *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->path = strdup(path);
  if (!r->path) {
    free(r);
    return NULL;
  }
  r->handler = handler;
  reg->regs[reg->n++] = r;
  return r;
}

/* Appends copies of list[0..n) to *dst after checking that none is invalid or a duplicate
 * (of the existing entries or of each other); all or nothing. */
static int append_strings(char ***dst, size_t *ndst, const char *const *list, size_t n,
                          bool (*valid)(const char *), bool icase, size_t max_len) {
  if (n && !list) return WSREF_E_INVALID_ARG;
  for (size_t i = 0; i < n; i++) {
    if (!valid(list[i]) || strlen(list[i]) > max_len) return WSREF_E_INVALID_ARG;
    for (size_t j = 0; j < *ndst + i; j++) {
      const char *other = j < *ndst ? (*dst)[j] : list[j - *ndst];
      if (icase ? strcasecmp(other, list[i]) == 0 : strcmp(other, list[i]) == 0)
        return WSREF_E_INVALID_ARG;
    }
  }
  if (n == 0) return 0;
  char **grown = realloc(*dst, (*ndst + n) * sizeof *grown);
  if (!grown) return WSREF_E_NOMEM;
  *dst = grown;
  for (size_t i = 0; i < n; i++) {
    grown[*ndst + i] = strdup(list[i]);
    if (!grown[*ndst + i]) {
      while (i--) free(grown[*ndst + i]);
      return WSREF_E_NOMEM;
    }
  }
  *ndst += n;
  return 0;
}

int wsref_registration_allow_origins(wsref_registration *r, const char *const *origins, size_t n) {
  if (!r) return WSREF_E_INVALID_ARG;
  return append_strings(&r->origins, &r->norigins, origins, n, printable, true, (size_t)-1);
}

int wsref_registration_subprotocols(wsref_registration *r, const char *const *protos, size_t n) {
  if (!r) return WSREF_E_INVALID_ARG;
  /* 127: the chosen name must fit wsref_handshake_result.subprotocol (128 with the NUL). */
  return append_strings(&r->protos, &r->nprotos, protos, n, is_token, false, 127);
}

int wsref_registration_add_interceptor(wsref_registration *r, const wsref_interceptor *ic) {
  if (!r || !ic || (!ic->before && !ic->after)) return WSREF_E_INVALID_ARG;
  wsref_interceptor *ics = realloc(r->ics, (r->nics + 1) * sizeof *ics);
  if (!ics) return WSREF_E_NOMEM;
  r->ics = ics;
  ics[r->nics++] = *ic;
  return 0;
}

int wsref_registration_add_extension(wsref_registration *r, const wsref_extension *ext) {
  if (!r || !ext || !ext->negotiate || !is_token(ext->name)) return WSREF_E_INVALID_ARG;
  for (size_t i = 0; i < r->nexts; i++)
    if (strcasecmp(r->exts[i].name, ext->name) == 0) return WSREF_E_INVALID_ARG;
  wsref_extension *exts = realloc(r->exts, (r->nexts + 1) * sizeof *exts);
  if (!exts) return WSREF_E_NOMEM;
  r->exts = exts;
  char *name = strdup(ext->name);
  if (!name) return WSREF_E_NOMEM;
  exts[r->nexts] = *ext;
  exts[r->nexts].name = name;
  r->nexts++;
  return 0;
}

const wsref_registration *wsref_registry_find(const wsref_registry *reg, const char *path,
                                              size_t path_len) {
  if (!reg || !path) return NULL;
  for (size_t i = 0; i < reg->n; i++) {
    const char *p = reg->regs[i]->path;
    if (strlen(p) == path_len && memcmp(p, path, path_len) == 0) return reg->regs[i];
  }
  return NULL;
}

const struct wsref_handler *wsref_registration_handler(const wsref_registration *r) {
  return r->handler;
}

const char *wsref_registration_path(const wsref_registration *r) {
  return r->path;
}

bool wsref_registration_origin_allowed(const wsref_registration *r, const char *origin, size_t n) {
  /* No Origin header means a non-browser client; like Spring's OriginHandshakeInterceptor
   * the allow-list only constrains browsers, which always send one (RFC 6454). */
  if (r->norigins == 0 || origin == NULL) return true;
  for (size_t i = 0; i < r->norigins; i++) {
    const char *o = r->origins[i];
    if (strcmp(o, "*") == 0) return true;
    if (strlen(o) == n && strncasecmp(o, origin, n) == 0) return true;
  }
  return false;
}

size_t wsref_registration_nsubprotocols(const wsref_registration *r) {
  return r->nprotos;
}

const char *wsref_registration_subprotocol(const wsref_registration *r, size_t i) {
  return i < r->nprotos ? r->protos[i] : NULL;
}

size_t wsref_registration_ninterceptors(const wsref_registration *r) {
  return r->nics;
}

const wsref_interceptor *wsref_registration_interceptor(const wsref_registration *r, size_t i) {
  return i < r->nics ? &r->ics[i] : NULL;
}

size_t wsref_registration_nextensions(const wsref_registration *r) {
  return r->nexts;
}

const wsref_extension *wsref_registration_extension(const wsref_registration *r, size_t i) {
  return i < r->nexts ? &r->exts[i] : NULL;
}
