/* err.c - see err.h. */
#include "base/err.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vl_err_set(struct vl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int vl_err_sys(struct vl_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        if (n >= 0 && (size_t)n < sizeof err->msg)
            snprintf(err->msg + n, sizeof err->msg - (size_t)n, ": %s", vl_strerror(code));
        err->code = code;
    }
    return code;
}

void vl_warnf(const struct vl_warn *w, const char *fmt, ...)
{
    if (!w || !w->fn)
        return;
    char msg[VL_ERR_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    w->fn(w->ctx, msg);
}

const char *vl_strerror(int code)
{
    switch (code) {
    case 0:
        return "success";
    case VL_ECORRUPT:
        return "data is corrupt";
    case VL_EVERSION:
        return "written by an unknown version of volley";
    case VL_ESPEC:
        return "the workflow file has errors";
    case VL_EUSAGE:
        return "bad usage";
    case VL_ENOTRUN:
        return "not a volley run directory";
    case VL_ELOCKED:
        return "locked by a running volley";
    case VL_ETOOBIG:
        return "too big for this machine";
    case VL_EMISMATCH:
        return "belongs to another run";
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

int vl_exit_for(int code)
{
    if (code == VL_ESPEC || code == VL_EUSAGE)
        return VL_EXIT_USAGE;
    return code == 0 ? VL_EXIT_OK : VL_EXIT_ENV;
}
