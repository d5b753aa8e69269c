/* vx_status names and descriptions, generated from VX_STATUS_MAP. */
#include "vx/status.h"

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
