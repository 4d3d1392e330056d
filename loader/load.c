/*
 * load.c - spec_load_file / spec_load_buffer: read the file, choose its
 * format, check that it is UTF-8 (libyaml's own message names a byte
 * offset; ours names line and column), parse (parse.c), expand (expand.c),
 * and sort the diagnostics.
 *
 * The format is the file name's: .yaml and .yml are YAML, .json JSON (read
 * by libyaml, JSON being YAML's flow style), .json5 JSON5 (json5.c). Any
 * other name is sniffed: a file whose first character that is not a blank
 * is '{' or '/' (a comment) is read as JSON5, which also reads plain JSON;
 * anything else as YAML. KDL (.kdl), torc's fourth format, is refused with
 * the alternatives named.
 *
 * The whole file is read into memory: libyaml wants a buffer or a stream,
 * and excerpts for messages need the source. A 10M-job sweep is a few KB; a
 * file listing 1M jobs explicitly is ~100 MB, read at disk speed.
 */
#include "load_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Offset of the first byte that is not valid UTF-8, or len. */
static size_t utf8_check(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        unsigned min;
        if (c >= 0xc2 && c <= 0xdf) {
            n = 2;
            min = 0x80;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 3;
            min = 0x800;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 4;
            min = 0x10000;
        } else {
            return i;
        }
        if (i + n > len)
            return i;
        unsigned cp = c & (0xffu >> (n + 1));
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return i;
        i += n;
    }
    return len;
}

static bool ends_with(const char *s, const char *sfx)
{
    size_t n = strlen(s), m = strlen(sfx);
    return n >= m && !strcasecmp(s + n - m, sfx);
}

/* The format of the file called name holding buf; false for KDL. */
static bool choose_format(const char *name, const char *buf, size_t len, enum wf_format *fmt)
{
    if (ends_with(name, ".yaml") || ends_with(name, ".yml")) {
        *fmt = WF_YAML;
        return true;
    }
    if (ends_with(name, ".json")) {
        *fmt = WF_JSON;
        return true;
    }
    if (ends_with(name, ".json5")) {
        *fmt = WF_JSON5;
        return true;
    }
    if (ends_with(name, ".kdl"))
        return false;
    size_t i = 0;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
        i++;
    *fmt = i < len && (buf[i] == '{' || buf[i] == '/') ? WF_JSON5 : WF_YAML;
    return true;
}

int spec_load_buffer(const char *buf, size_t len, const char *name, struct spec *out,
                     struct spec_diags *d)
{
    memset(out, 0, sizeof *out);
    if (!d->path)
        d->path = vl_xstrdup(name);
    if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3)) {
        /* a UTF-8 byte order mark: not content (libyaml, told the
         * encoding, would read it as a character of the first line) */
        buf += 3;
        len -= 3;
    }
    struct ldiag g = {.d = d, .buf = buf, .len = len};
    int rc = 0;
    enum wf_format fmt;
    if (!choose_format(name, buf, len, &fmt)) {
        lerr(&g, LOC_NONE,
             "KDL workflow files are not supported: volley reads YAML (.yaml, .yml), JSON "
             "(.json) and JSON5 (.json5), as torc does; write the workflow in one of those");
        rc = VL_ESPEC;
        goto out;
    }
    size_t bad = utf8_check((const unsigned char *)buf, len);
    if (bad < len) {
        lerr(&g, loc_of_byte(buf, len, bad),
             "the file is not UTF-8: byte 0x%02x cannot start or "
             "continue a character here",
             (unsigned char)buf[bad]);
        rc = VL_ESPEC;
        goto out;
    }
    struct raw R;
    bool ok = raw_parse(&R, buf, len, fmt, &g);
    if (ok && d->nerrors == 0) {
        rc = spec_expand(&R, &g, name, out);
    } else if (ok) {
        /* structural errors: expansion would only add noise about what
         * the broken entries would have defined; still run it for the rest */
        struct spec tmp;
        memset(&tmp, 0, sizeof tmp);
        rc = spec_expand(&R, &g, name, &tmp);
        spec_free(&tmp);
    }
    raw_free(&R);
    if (!rc && d->nerrors)
        rc = VL_ESPEC;
out:
    if (rc)
        spec_free(out);
    ldiag_finish(&g);
    ldiag_fini(&g);
    return rc;
}

int spec_load_file(const char *path, struct spec *out, struct spec_diags *d)
{
    memset(out, 0, sizeof *out);
    if (!d->path)
        d->path = vl_xstrdup(path);
    struct ldiag g = {.d = d};
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc;
    if (fd < 0 || fstat(fd, &st) != 0) {
        rc = -errno;
        lerr(&g, LOC_NONE, "cannot read the file: %s", strerror(-rc));
        goto fail;
    }
    if (S_ISDIR(st.st_mode)) {
        rc = -EISDIR;
        lerr(&g, LOC_NONE, "cannot read the file: it is a directory");
        goto fail;
    }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size + 1 : 65536, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        rc = VL_ETOOBIG;
        lerr(&g, LOC_NONE, "cannot read the file: it does not fit in memory");
        goto fail;
    }
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = vl_xrealloc(buf, cap);
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            free(buf);
            lerr(&g, LOC_NONE, "cannot read the file: %s", strerror(-rc));
            goto fail;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    ldiag_fini(&g);
    rc = spec_load_buffer(buf, len, path, out, d);
    free(buf);
    return rc;
fail:
    if (fd >= 0)
        close(fd);
    ldiag_finish(&g);
    ldiag_fini(&g);
    return rc;
}
