/* Text and days as the contracts carry them: the one UTF-8 validator, the tenant-text check,
 * and YYYY-MM-DD days. */
#include "vx/clock.h"
#include "vx/contract.h"

#include <stdio.h>
#include <string.h>

size_t vx_contract_utf8_seq(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t len;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0; /* a continuation byte, an overlong lead (c0, c1) or past U+10FFFF */
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

bool vx_contract_utf8_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len;) {
        size_t n = vx_contract_utf8_seq(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

bool vx_contract_text_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return false;
        /* C1 controls, U+0080..U+009F, are c2 80 .. c2 9f */
        if (p[i] == 0xc2 && i + 1 < len && p[i + 1] < 0xa0)
            return false;
        size_t n = vx_contract_utf8_seq(s + i, len - i);
        if (n == 0)
            return false;
        i += n;
    }
    return true;
}

vx_status vx_contract_check_name(const char *field, const char *s, size_t max_bytes, char *why,
                                 size_t why_cap)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0) {
        vx_errf(why, why_cap, "%s is empty", field);
        return VX_INVALID;
    }
    if (n > max_bytes) {
        vx_errf(why, why_cap, "%s is longer than %zu bytes", field, max_bytes);
        return VX_INVALID;
    }
    if (!vx_contract_text_ok(s)) {
        vx_errf(why, why_cap, "%s is not UTF-8 text without control characters", field);
        return VX_INVALID;
    }
    return VX_OK;
}

bool vx_contract_day_parse(const char *s, size_t len, int64_t *day)
{
    int64_t unix_s;
    /* vx_parse_iso8601 also takes times and offsets; a day is the date alone */
    if (s == NULL || len != 10 || !vx_parse_iso8601(s, 10, &unix_s))
        return false;
    *day = unix_s / 86400; /* midnight: exact, negative days included */
    return true;
}

void vx_contract_day_format(int64_t day, char out[VX_CONTRACT_DAY_LEN])
{
    int y, m, d;
    vx_unix_days_to_civil(day, &y, &m, &d);
    snprintf(out, VX_CONTRACT_DAY_LEN, "%04u-%02u-%02u", (unsigned)y % 10000u, (unsigned)m % 100u,
             (unsigned)d % 100u);
}
