/* Exact decimal money arithmetic on units + nanos, through 128-bit nanos. */
#include "vx/money.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

bool vx_money_valid(vx_money m)
{
    if (m.nanos <= -VX_NANOS_PER_UNIT || m.nanos >= VX_NANOS_PER_UNIT)
        return false;
    if ((m.units > 0 && m.nanos < 0) || (m.units < 0 && m.nanos > 0))
        return false;
    return true;
}

vx_int128 vx_money_to_nanos(vx_money m)
{
    return (vx_int128)m.units * VX_NANOS_PER_UNIT + m.nanos;
}

bool vx_money_from_nanos(vx_int128 n, vx_money *out)
{
    vx_int128 units = n / VX_NANOS_PER_UNIT;
    if (units > INT64_MAX || units < INT64_MIN)
        return false;
    out->units = (int64_t)units;
    out->nanos = (int32_t)(n % VX_NANOS_PER_UNIT);
    return true;
}

bool vx_money_add(vx_money a, vx_money b, vx_money *out)
{
    return vx_money_from_nanos(vx_money_to_nanos(a) + vx_money_to_nanos(b), out);
}

bool vx_money_parse(const char *s, size_t len, vx_money *out)
{
    size_t i = 0;
    bool neg = false;
    if (i < len && (s[i] == '+' || s[i] == '-')) {
        neg = s[i] == '-';
        i++;
    }
    vx_int128 units = 0;
    size_t int_digits = 0;
    while (i < len && isdigit((unsigned char)s[i])) {
        units = units * 10 + (s[i] - '0');
        if (units > (vx_int128)INT64_MAX + 1)
            return false;
        i++;
        int_digits++;
    }
    int64_t nanos = 0;
    size_t frac_digits = 0;
    bool round_up = false;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && isdigit((unsigned char)s[i])) {
            if (frac_digits < 9)
                nanos = nanos * 10 + (s[i] - '0');
            else if (frac_digits == 9)
                round_up = s[i] >= '5';
            frac_digits++;
            i++;
        }
    }
    if (i != len || int_digits + frac_digits == 0)
        return false;
    for (size_t k = frac_digits; k < 9; k++)
        nanos *= 10;
    vx_int128 total = units * VX_NANOS_PER_UNIT + nanos + (round_up ? 1 : 0);
    if (neg)
        total = -total;
    vx_money m;
    if (!vx_money_from_nanos(total, &m))
        return false;
    *out = m;
    return true;
}

size_t vx_money_format(vx_money m, char *out, size_t cap)
{
    vx_int128 n = vx_money_to_nanos(m);
    bool neg = n < 0;
    vx_uint128 a = neg ? (vx_uint128)(-n) : (vx_uint128)n;
    vx_uint128 units = a / VX_NANOS_PER_UNIT;
    unsigned frac = (unsigned)(a % VX_NANOS_PER_UNIT);
    char ibuf[48];
    size_t k = sizeof ibuf;
    ibuf[--k] = '\0';
    do {
        ibuf[--k] = (char)('0' + (int)(units % 10));
        units /= 10;
    } while (units);
    char fbuf[16] = "";
    if (frac) {
        snprintf(fbuf, sizeof fbuf, ".%09u", frac);
        size_t fl = strlen(fbuf);
        while (fl > 1 && fbuf[fl - 1] == '0')
            fbuf[--fl] = '\0';
    }
    int w = snprintf(out, cap, "%s%s%s", neg ? "-" : "", ibuf + k, fbuf);
    return w < 0 ? 0 : (size_t)w;
}
