/* The caller's deadline on the bus: Vx-Deadline-At (absolute, unix epoch milliseconds) and the
 * older Vx-Deadline-Ms (a budget relative to receipt), written and read here so that every
 * side agrees on the format and on what a malformed value means. */
#include "vx/contract.h"

#include "vx/status.h"

#include <stdio.h>
#include <string.h>

void vx_deadline_format(int64_t at_ms, char out[VX_DEADLINE_TEXT_MAX])
{
    if (at_ms < 1)
        at_ms = 1;
    if (at_ms > VX_DEADLINE_AT_MAX)
        at_ms = VX_DEADLINE_AT_MAX;
    snprintf(out, VX_DEADLINE_TEXT_MAX, "%lld", (long long)at_ms);
}

/* Strict decimal: 1..max_digits digits, no sign, no space, no leading zero, at most `max`.
 * max_digits keeps the arithmetic far from overflow. */
static bool read_decimal(const char *s, size_t max_digits, int64_t max, int64_t *out)
{
    size_t n = strlen(s);
    if (n == 0 || n > max_digits || (s[0] == '0' && n > 1))
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

vx_status vx_deadline_read(const char *value, int64_t *at_ms, char *why, size_t why_cap)
{
    int64_t v = 0;
    if (value == NULL || !read_decimal(value, 15, VX_DEADLINE_AT_MAX, &v) || v < 1) {
        if (why && why_cap)
            snprintf(why, why_cap,
                     "%s must be unix epoch milliseconds (1 to %lld, decimal digits only)",
                     VX_DEADLINE_AT_HEADER, (long long)VX_DEADLINE_AT_MAX);
        return VX_INVALID;
    }
    *at_ms = v;
    return VX_OK;
}

vx_status vx_deadline_left(const char *at_value, const char *ms_value, int64_t now_wall_ms,
                           int64_t default_ms, int64_t *left_ms, char *why, size_t why_cap)
{
    int64_t left = default_ms;
    if (ms_value != NULL) {
        int64_t v = 0;
        if (!read_decimal(ms_value, 7, VX_DEADLINE_MS_MAX, &v) || v < 1) {
            if (why && why_cap)
                snprintf(why, why_cap, "%s must be milliseconds from 1 to %lld",
                         VX_DEADLINE_MS_HEADER, (long long)VX_DEADLINE_MS_MAX);
            return VX_INVALID;
        }
        left = v;
    }
    if (at_value != NULL) {
        int64_t at = 0;
        vx_status st = vx_deadline_read(at_value, &at, why, why_cap);
        if (st != VX_OK)
            return st;
        int64_t until = at - now_wall_ms;
        /* the absolute deadline also counts the time spent queued before pickup; a relative
         * budget alongside it can only shorten it */
        if (ms_value == NULL || until < left)
            left = until;
        if (left > VX_DEADLINE_MS_MAX)
            left = VX_DEADLINE_MS_MAX;
    }
    *left_ms = left;
    return VX_OK;
}
