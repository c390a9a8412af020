/* Shared pieces of the report writers: format names, output folder, escaping, hexdump. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"
#include "json.h"
#include "report.h"

static const struct {
  const char *name;
  enum wsc_format f;
  const char *file;
} formats[] = {
    {"json", WSC_FMT_JSON, "report.json"}, {"html", WSC_FMT_HTML, "report.html"},
    {"tap", WSC_FMT_TAP, "report.tap"},    {"junit", WSC_FMT_JUNIT, "report.junit.xml"},
    {"md", WSC_FMT_MD, "report.md"},
};
#define NFORMATS (sizeof formats / sizeof formats[0])

int wsc_format_parse(const char *list, unsigned *mask, const char **bad) {
  *mask = 0;
  if (bad) *bad = NULL;
  const char *p = list;
  while (p && *p) {
    const char *e = strchr(p, ',');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    bool ok = false;
    if (n == 3 && strncmp(p, "all", 3) == 0) {
      *mask |= WSC_FMT_ALL;
      ok = true;
    }
    if (n == 8 && strncmp(p, "markdown", 8) == 0) {
      *mask |= WSC_FMT_MD;
      ok = true;
    }
    if (n == 3 && strncmp(p, "xml", 3) == 0) {
      *mask |= WSC_FMT_JUNIT;
      ok = true;
    }
    for (size_t i = 0; i < NFORMATS && !ok; i++) {
      if (strlen(formats[i].name) == n && strncmp(p, formats[i].name, n) == 0) {
        *mask |= formats[i].f;
        ok = true;
      }
    }
    if (!ok) {
      if (bad) *bad = p;
      return WSREF_E_INVALID_ARG;
    }
    p = e ? e + 1 : NULL;
  }
  return *mask ? 0 : WSREF_E_INVALID_ARG;
}

const char *wsc_format_file(enum wsc_format f) {
  for (size_t i = 0; i < NFORMATS; i++)
    if (formats[i].f == f) return formats[i].file;
  return "report";
}

int wsc_report_format(enum wsc_format f, const wsc_run *run, wsref_buf *out) {
  switch (f) {
    case WSC_FMT_JSON:
      return wsc_report_json(run, out);
    case WSC_FMT_HTML:
      return wsc_report_html(run, out);
    case WSC_FMT_TAP:
      return wsc_report_tap(run, out);
    case WSC_FMT_JUNIT:
      return wsc_report_junit(run, out);
    case WSC_FMT_MD:
      return wsc_report_md(run, out);
    default:
      return WSREF_E_INVALID_ARG;
  }
}

static int mkdirs(const char *dir) {
  char *p = strdup(dir);
  if (!p) return -1;
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = 0;
    if (mkdir(p, 0777) != 0 && errno != EEXIST) {
      free(p);
      return -1;
    }
    *s = '/';
  }
  int rc = mkdir(p, 0777);
  free(p);
  return rc != 0 && errno != EEXIST ? -1 : 0;
}

int wsc_report_write_dir(const wsc_run *run, const char *dir, unsigned mask, char *err,
                         size_t err_len) {
  if (mkdirs(dir) != 0) {
    snprintf(err, err_len, "%s: %s", dir, strerror(errno));
    return WSREF_E_IO;
  }
  for (size_t i = 0; i < NFORMATS; i++) {
    if (!(mask & formats[i].f)) continue;
    wsref_buf b = WSREF_BUF_INIT;
    int rc = wsc_report_format(formats[i].f, run, &b);
    if (rc) {
      snprintf(err, err_len, "%s report: %s", formats[i].name, wsref_strerror(rc));
      wsref_buf_free(&b);
      return rc;
    }
    size_t plen = strlen(dir) + strlen(formats[i].file) + 2;
    char *path = malloc(plen);
    if (!path) {
      wsref_buf_free(&b);
      return WSREF_E_NOMEM;
    }
    snprintf(path, plen, "%s/%s", dir, formats[i].file);
    /* write then rename: a reader never sees half a report */
    size_t tlen = plen + 8;
    char *tmp = malloc(tlen);
    FILE *f = NULL;
    if (tmp) {
      snprintf(tmp, tlen, "%s.tmp", path);
      f = fopen(tmp, "wb");
    }
    bool ok = f && fwrite(wsref_buf_head(&b), 1, wsref_buf_len(&b), f) == wsref_buf_len(&b);
    if (f && fclose(f) != 0) ok = false;
    if (ok && rename(tmp, path) != 0) ok = false;
    if (!ok) {
      snprintf(err, err_len, "%s: %s", path, strerror(errno));
      if (tmp) remove(tmp);
    }
    free(tmp);
    free(path);
    wsref_buf_free(&b);
    if (!ok) return WSREF_E_IO;
  }
  return 0;
}

static size_t utf8_len(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  size_t len;
  uint32_t min, cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF)
    len = 2, min = 0x80, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF)
    len = 3, min = 0x800, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4)
    len = 4, min = 0x10000, cp = c & 0x07;
  else
    return 0;
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = cp << 6 | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  /* XML 1.0 excludes U+FFFE/U+FFFF */
  if (cp == 0xFFFE || cp == 0xFFFF) return 0;
  return len;
}

int wsc_xml_escape(wsref_buf *out, const void *s, size_t n) {
  const uint8_t *p = s;
  size_t i = 0;
  int rc = 0;
  while (i < n && rc == 0) {
    uint8_t c = p[i];
    const char *e = NULL;
    switch (c) {
      case '&':
        e = "&amp;";
        break;
      case '<':
        e = "&lt;";
        break;
      case '>':
        e = "&gt;";
        break;
      case '"':
        e = "&quot;";
        break;
      case '\'':
        e = "&#39;";
        break;
      default:
        break;
    }
    if (e) {
      rc = wsref_buf_append(out, e, strlen(e));
      i++;
      continue;
    }
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
      rc = wsref_buf_append(out, "\xEF\xBF\xBD", 3);
      i++;
      continue;
    }
    size_t k = utf8_len(p + i, n - i);
    if (!k) {
      rc = wsref_buf_append(out, "\xEF\xBF\xBD", 3);
      i++;
    } else {
      rc = wsref_buf_append(out, p + i, k);
      i += k;
    }
  }
  return rc;
}

int wsc_hexdump(wsref_buf *out, const uint8_t *p, size_t n, uint64_t base) {
  static const char dg[] = "0123456789abcdef";
  for (size_t off = 0; off < n; off += 16) {
    char line[96];
    size_t k = (size_t)snprintf(line, sizeof line, "%08llx ", (unsigned long long)(base + off));
    for (size_t i = 0; i < 16; i++) {
      if (i == 8) line[k++] = ' ';
      if (off + i < n) {
        line[k++] = ' ';
        line[k++] = dg[p[off + i] >> 4];
        line[k++] = dg[p[off + i] & 15];
      } else {
        line[k++] = ' ';
        line[k++] = ' ';
        line[k++] = ' ';
      }
    }
    line[k++] = ' ';
    line[k++] = ' ';
    line[k++] = '|';
    for (size_t i = 0; i < 16 && off + i < n; i++) {
      uint8_t c = p[off + i];
      line[k++] = (c >= 0x20 && c < 0x7F) ? (char)c : '.';
    }
    line[k++] = '|';
    line[k++] = '\n';
    int rc = wsref_buf_append(out, line, k);
    if (rc) return rc;
  }
  return 0;
}

void wsc_out_put(wsc_out *o, const void *p, size_t n) {
  if (o->err || !n) return;
  int rc = wsref_buf_append(o->b, p, n);
  if (rc) o->err = rc;
}

void wsc_out_str(wsc_out *o, const char *s) {
  if (s) wsc_out_put(o, s, strlen(s));
}

void wsc_out_printf(wsc_out *o, const char *fmt, ...) {
  if (o->err) return;
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0) {
    o->err = WSREF_E_INVALID_ARG;
    return;
  }
  if ((size_t)n < sizeof tmp) {
    wsc_out_put(o, tmp, (size_t)n);
    return;
  }
  char *big = NULL;
  va_start(ap, fmt);
  n = vasprintf(&big, fmt, ap);
  va_end(ap);
  if (n < 0) {
    o->err = WSREF_E_NOMEM;
    return;
  }
  wsc_out_put(o, big, (size_t)n);
  free(big);
}

void wsc_out_xmln(wsc_out *o, const void *s, size_t n) {
  if (o->err || !s) return;
  int rc = wsc_xml_escape(o->b, s, n);
  if (rc) o->err = rc;
}

void wsc_out_xml(wsc_out *o, const char *s) {
  if (s) wsc_out_xmln(o, s, strlen(s));
}

void wsc_out_json(wsc_out *o, const void *s, size_t n) {
  if (o->err || !s) return;
  int rc = wsc_json_escape(o->b, s, n);
  if (rc) o->err = rc;
}

void wsc_out_hexdump(wsc_out *o, const uint8_t *p, size_t n, uint64_t base) {
  if (o->err || !n) return;
  wsref_buf tmp = WSREF_BUF_INIT;
  int rc = wsc_hexdump(&tmp, p, n, base);
  if (!rc) rc = wsc_xml_escape(o->b, wsref_buf_head(&tmp), wsref_buf_len(&tmp));
  if (rc) o->err = rc;
  wsref_buf_free(&tmp);
}
