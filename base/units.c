/* units.c - see units.h. */
#include "base/units.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "base/defs.h"

int vl_parse_size(const char *s, uint64_t *bytes)
{
    const char *p = s;
    if (!p || *p < '0' || *p > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    unsigned shift = 0;
    switch (*p | 0x20) {
    case 'k':
        shift = 10;
        break;
    case 'm':
        shift = 20;
        break;
    case 'g':
        shift = 30;
        break;
    case 't':
        shift = 40;
        break;
    case 'b':
        break;
    default:
        if (*p)
            return -EINVAL;
    }
    if (shift) {
        p++;
        if ((*p | 0x20) == 'i')
            p++;
    }
    if ((*p | 0x20) == 'b')
        p++;
    if (*p)
        return -EINVAL;
    if (shift && v > (UINT64_MAX >> shift))
        return -ERANGE;
    *bytes = v << shift;
    return 0;
}

const char *vl_fmt_bytes(uint64_t bytes, char *buf, size_t buflen)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, buflen, "%" PRIu64 " B", bytes);
        return buf;
    }
    double v = (double)bytes;
    unsigned u = 0;
    while (v >= 1024.0 && u + 1 < VL_ARRAY_LEN(unit)) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, buflen, "%.1f %s", v, unit[u]);
    return buf;
}

int vl_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -EINVAL;
    uint64_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return -EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return -ERANGE;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v > max)
        return -ERANGE;
    *out = v;
    return 0;
}
