/* Clocks and ISO-8601 dates (UTC, proleptic Gregorian; civil-from-days after H. Hinnant). */
#include "vx/clock.h"
#include "vx/retry.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <time.h>

int64_t vx_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t vx_mono_ms(void)
{
    return vx_mono_ns() / 1000000;
}

int64_t vx_wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void vx_sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

void vx_unix_days_to_civil(int64_t z, int *year, int *month, int *day)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t y = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int d = (int)(doy - (153 * mp + 2) / 5 + 1);
    int m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (m <= 2));
    *month = m;
    *day = d;
}

int64_t vx_civil_to_unix(int year, int month, int day, int hour, int min, int sec)
{
    return days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
}

static int days_in_month(int y, int m)
{
    static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dm[m - 1];
}

static bool digits(const char *s, size_t len, size_t at, int n, int *out)
{
    if (at + (size_t)n > len)
        return false;
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[at + (size_t)i]))
            return false;
        v = v * 10 + (s[at + (size_t)i] - '0');
    }
    *out = v;
    return true;
}

bool vx_parse_iso8601(const char *s, size_t len, int64_t *out_unix_s)
{
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (!digits(s, len, 0, 4, &y) || len < 10 || s[4] != '-' || !digits(s, len, 5, 2, &mo) ||
        s[7] != '-' || !digits(s, len, 8, 2, &d))
        return false;
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
        return false;
    size_t i = 10;
    int offset_s = 0;
    if (i < len) {
        if (s[i] != 'T' && s[i] != 't' && s[i] != ' ')
            return false;
        if (!digits(s, len, i + 1, 2, &h) || i + 3 >= len || s[i + 3] != ':' ||
            !digits(s, len, i + 4, 2, &mi))
            return false;
        i += 6;
        if (i < len && s[i] == ':') {
            if (!digits(s, len, i + 1, 2, &se))
                return false;
            i += 3;
            if (i < len && (s[i] == '.' || s[i] == ',')) {
                i++;
                size_t start = i;
                while (i < len && isdigit((unsigned char)s[i]))
                    i++;
                if (i == start)
                    return false;
            }
        }
        if (h > 23 || mi > 59 || se > 60)
            return false;
        if (i < len) {
            if ((s[i] == 'Z' || s[i] == 'z') && i + 1 == len) {
                i++;
            } else if (s[i] == '+' || s[i] == '-') {
                int oh, om;
                int sign = s[i] == '-' ? -1 : 1;
                if (!digits(s, len, i + 1, 2, &oh))
                    return false;
                size_t j = i + 3;
                if (j < len && s[j] == ':')
                    j++;
                if (!digits(s, len, j, 2, &om) || j + 2 != len || oh > 23 || om > 59)
                    return false;
                offset_s = sign * (oh * 3600 + om * 60);
                i = len;
            } else {
                return false;
            }
        }
    }
    if (i != len)
        return false;
    *out_unix_s = vx_civil_to_unix(y, mo, d, h, mi, se) - offset_s;
    return true;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void vx_format_iso8601(int64_t unix_s, char *out, size_t cap)
{
    int64_t days = floor_div(unix_s, 86400);
    int64_t rem = unix_s - days * 86400;
    int y, m, d;
    vx_unix_days_to_civil(days, &y, &m, &d);
    snprintf(out, cap, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(rem / 3600),
             (int)(rem / 60 % 60), (int)(rem % 60));
}

void vx_format_date(int64_t unix_s, char *out, size_t cap)
{
    int y, m, d;
    vx_unix_days_to_civil(floor_div(unix_s, 86400), &y, &m, &d);
    snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
}

bool vx_sleep_unless(int64_t ms, const atomic_int *flag)
{
    for (int64_t waited = 0; waited < ms && !atomic_load(flag); waited += 50)
        vx_sleep_ms(ms - waited < 50 ? ms - waited : 50);
    return atomic_load(flag) != 0;
}
