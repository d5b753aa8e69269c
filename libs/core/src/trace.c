/* W3C traceparent parsing and generation. */
#include "vx/trace.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static void random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    for (;;) {
        ssize_t n = getrandom(b, nbytes, 0);
        if (n == (ssize_t)nbytes)
            break;
        if (n < 0 && errno != EINTR)
            abort();
    }
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[2 * nbytes] = '\0';
}

static bool lower_hex(const char *s, size_t n, bool *all_zero)
{
    *all_zero = true;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (c != '0')
            *all_zero = false;
    }
    return true;
}

bool vx_trace_parse(const char *s, size_t len, vx_trace *out)
{
    bool zero;
    if (len != VX_TRACEPARENT_LEN || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return false;
    if (!lower_hex(s, 2, &zero) || (s[0] == 'f' && s[1] == 'f'))
        return false;
    if (!lower_hex(s + 3, 32, &zero) || zero)
        return false;
    if (!lower_hex(s + 36, 16, &zero) || zero)
        return false;
    if (!lower_hex(s + 53, 2, &zero))
        return false;
    memcpy(out->trace_id, s + 3, 32);
    out->trace_id[32] = '\0';
    memcpy(out->span_id, s + 36, 16);
    out->span_id[16] = '\0';
    out->flags = (unsigned char)strtoul((char[3]){s[53], s[54], '\0'}, NULL, 16);
    return true;
}

void vx_trace_new(vx_trace *out)
{
    random_hex(out->trace_id, 16);
    random_hex(out->span_id, 8);
    out->flags = 1;
}

void vx_trace_child(const vx_trace *parent, vx_trace *out)
{
    memcpy(out->trace_id, parent->trace_id, sizeof out->trace_id);
    random_hex(out->span_id, 8);
    out->flags = parent->flags;
}

void vx_trace_format(const vx_trace *t, char *out)
{
    snprintf(out, VX_TRACEPARENT_LEN + 1, "00-%s-%s-%02x", t->trace_id, t->span_id, t->flags);
}
