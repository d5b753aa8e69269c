/* vx_status names and descriptions, generated from VX_STATUS_MAP. */
#include "vx/status.h"

#include <stdarg.h>
#include <stdio.h>

const char *vx_status_str(vx_status s)
{
    switch (s) {
#define VX_STATUS_CASE(name, desc)                                                                 \
    case VX_##name:                                                                                \
        return desc;
        VX_STATUS_MAP(VX_STATUS_CASE)
#undef VX_STATUS_CASE
    }
    return "unknown status";
}

const char *vx_status_name(vx_status s)
{
    switch (s) {
#define VX_STATUS_CASE(name, desc)                                                                 \
    case VX_##name:                                                                                \
        return #name;
        VX_STATUS_MAP(VX_STATUS_CASE)
#undef VX_STATUS_CASE
    }
    return "UNKNOWN";
}

void vx_errf(char *err, size_t err_cap, const char *fmt, ...)
{
    if (!err || err_cap == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_cap, fmt, ap);
    va_end(ap);
}

vx_status vx_refusef(char *err, size_t err_cap, const char *fmt, ...)
{
    if (err && err_cap > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_cap, fmt, ap);
        va_end(ap);
    }
    return VX_INVALID;
}
