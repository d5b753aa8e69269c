/* `date,value` CSV text into a regular series: parsing, the spacing inferred from the dates
 * (daily, weekly, monthly, quarterly, yearly), skipped periods as missing values. Works on a
 * buffer, so the command line and the fuzz target share it. */
#include "vx/forecast.h"

#include "vx/alloc.h"
#include "vx/clock.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct {
    int64_t *day; /* days since 1970-01-01 */
    double *val;
    size_t n, cap;
} rows;

/* vx_errf that reads as a refusal: `return why(...)` */
#define why(...) (vx_errf(__VA_ARGS__), false)

static void rows_push(rows *r, int64_t day, double v)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 1024;
        r->day = vx_xrealloc(r->day, r->cap * sizeof *r->day);
        r->val = vx_xrealloc(r->val, r->cap * sizeof *r->val);
    }
    r->day[r->n] = day;
    r->val[r->n] = v;
    r->n++;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t len = strlen(s);
    while (len && isspace((unsigned char)s[len - 1]))
        s[--len] = '\0';
    return s;
}

static bool parse_line(char *line, size_t lineno, int64_t *day, double *v, char *err, size_t cap)
{
    char *comma = strchr(line, ',');
    if (!comma || strchr(comma + 1, ','))
        return why(err, cap, "line %zu: expected two fields `date,value`", lineno);
    *comma = '\0';
    char *ds = trim(line), *vs = trim(comma + 1);
    int64_t unix_s;
    if (!vx_parse_iso8601(ds, strlen(ds), &unix_s))
        return why(err, cap, "line %zu: '%.40s' is not an ISO date (YYYY-MM-DD)", lineno, ds);
    *day = unix_s >= 0 ? unix_s / 86400 : -((-unix_s + 86399) / 86400);
    if (!*vs || !strcasecmp(vs, "nan") || !strcasecmp(vs, "na")) {
        *v = NAN;
        return true;
    }
    char *end;
    errno = 0;
    *v = strtod(vs, &end);
    if (errno || end == vs || *end || !isfinite(*v))
        return why(err, cap, "line %zu: '%.40s' is not a finite number", lineno, vs);
    return true;
}

static bool read_rows(const char *buf, size_t len, rows *r, char *err, size_t cap)
{
    char *line = vx_xmalloc(len + 1);
    size_t lineno = 0;
    bool header = false, ok = true;
    for (size_t i = 0; ok && i < len;) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - buf) : len;
        lineno++;
        if (memchr(buf + i, '\0', end - i)) {
            ok = why(err, cap, "line %zu: contains a NUL byte", lineno);
            break;
        }
        memcpy(line, buf + i, end - i);
        line[end - i] = '\0';
        i = end + 1;
        char *t = trim(line);
        if (!header) {
            header = true;
            if (strcasecmp(t, "date,value") != 0)
                ok = why(err, cap, "line 1: expected the header `date,value`");
            continue;
        }
        if (!*t)
            continue;
        int64_t day = 0;
        double v = 0;
        ok = parse_line(t, lineno, &day, &v, err, cap);
        if (ok && r->n > 0 && day <= r->day[r->n - 1])
            ok = why(err, cap, "line %zu: date is not after the previous line's", lineno);
        if (ok)
            rows_push(r, day, v);
    }
    vx_free(line);
    if (ok && !header)
        ok = why(err, cap, "the file is empty (expected the header `date,value`)");
    return ok;
}

static int64_t month_of(int64_t day, int *dom, bool *month_end)
{
    int y, m, d, y2, m2, d2;
    vx_unix_days_to_civil(day, &y, &m, &d);
    vx_unix_days_to_civil(day + 1, &y2, &m2, &d2);
    *dom = d;
    *month_end = d2 == 1;
    return (int64_t)y * 12 + (m - 1);
}

static int64_t month_to_day(int64_t month, int dom, bool month_end)
{
    int y = (int)(month / 12), m = (int)(month % 12) + 1;
    if (month_end) /* the day before the 1st of the next month */
        return vx_civil_to_unix(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1, 0, 0, 0) / 86400 - 1;
    return vx_civil_to_unix(y, m, dom, 0, 0, 0) / 86400;
}

/* Infers the spacing; every gap must be a whole number of periods. */
static bool infer_spacing(const rows *r, vx_forecast_csv *c, char *err, size_t cap)
{
    int dom0;
    bool end0;
    month_of(r->day[0], &dom0, &end0);
    bool same_dom = dom0 <= 28 || end0;
    int64_t min_days = INT64_MAX, min_months = INT64_MAX;
    for (size_t i = 1; i < r->n; i++) {
        int dom;
        bool end;
        int64_t mo = month_of(r->day[i], &dom, &end) - month_of(r->day[i - 1], &dom0, &end0);
        if (!((end && end0) || dom == dom0))
            same_dom = false;
        if (r->day[i] - r->day[i - 1] < min_days)
            min_days = r->day[i] - r->day[i - 1];
        if (mo < min_months)
            min_months = mo;
    }
    month_of(r->day[0], &c->dom, &c->month_end);
    if (same_dom && min_days >= 28) {
        c->by_month = true;
        c->step = min_months;
        if (min_months == 1)
            c->spacing = VX_FORECAST_MONTHLY;
        else if (min_months == 3)
            c->spacing = VX_FORECAST_QUARTERLY;
        else if (min_months == 12)
            c->spacing = VX_FORECAST_YEARLY;
        else
            return why(err, cap,
                       "dates are %lld months apart; expected 1 (monthly), 3 (quarterly) or 12 "
                       "(yearly)",
                       (long long)min_months);
    } else if (min_days == 1 || min_days == 7) {
        c->step = min_days;
        c->spacing = min_days == 1 ? VX_FORECAST_DAILY : VX_FORECAST_WEEKLY;
    } else {
        return why(err, cap,
                   "cannot infer the spacing: the closest dates are %lld days apart (expected "
                   "daily, weekly, monthly, quarterly or yearly)",
                   (long long)min_days);
    }
    for (size_t i = 1; i < r->n; i++) {
        int dom;
        bool end;
        int64_t gap = c->by_month
                          ? month_of(r->day[i], &dom, &end) - month_of(r->day[i - 1], &dom, &end)
                          : r->day[i] - r->day[i - 1];
        if (gap % c->step != 0)
            return why(err, cap, "data line %zu: date breaks the %s spacing of the file", i + 1,
                       vx_forecast_spacing_name(c->spacing));
    }
    return true;
}

vx_status vx_forecast_csv_parse(const char *buf, size_t len, vx_forecast_csv *out, char *err,
                                size_t err_cap)
{
    memset(out, 0, sizeof *out);
    rows r = {0};
    vx_status st = VX_INVALID;
    if (!read_rows(buf, len, &r, err, err_cap))
        goto done;
    if (r.n < 2) {
        vx_errf(err, err_cap, "%zu data line(s); need at least 2", r.n);
        goto done;
    }
    if (!infer_spacing(&r, out, err, err_cap))
        goto done;
    int dom;
    bool end;
    int64_t span = out->by_month
                       ? month_of(r.day[r.n - 1], &dom, &end) - month_of(r.day[0], &dom, &end)
                       : r.day[r.n - 1] - r.day[0];
    int64_t n = span / out->step + 1;
    if (n > VX_FORECAST_MAX_POINTS) {
        vx_errf(err, err_cap, "the dates span %lld periods; the limit is %d", (long long)n,
                VX_FORECAST_MAX_POINTS);
        goto done;
    }
    out->values = vx_xmalloc((size_t)n * sizeof *out->values);
    for (int64_t i = 0; i < n; i++)
        out->values[i] = NAN;
    for (size_t i = 0; i < r.n; i++) {
        int64_t off = out->by_month
                          ? month_of(r.day[i], &dom, &end) - month_of(r.day[0], &dom, &end)
                          : r.day[i] - r.day[0];
        out->values[off / out->step] = r.val[i];
    }
    out->n = (size_t)n;
    out->start_day = r.day[0];
    st = VX_OK;
done:
    vx_free(r.day);
    vx_free(r.val);
    if (st != VX_OK) {
        vx_free(out->values);
        memset(out, 0, sizeof *out);
    }
    return st;
}

void vx_forecast_csv_cleanup(vx_forecast_csv *c)
{
    vx_free(c->values);
    memset(c, 0, sizeof *c);
}

int64_t vx_forecast_csv_period_day(const vx_forecast_csv *c, int64_t k)
{
    if (!c->by_month)
        return c->start_day + k * c->step;
    int dom;
    bool end;
    int64_t m0 = month_of(c->start_day, &dom, &end);
    return month_to_day(m0 + k * c->step, c->dom, c->month_end);
}
