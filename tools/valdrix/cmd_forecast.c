/* valdrix forecast: offline forecast of a `date,value` CSV file with vx::forecast; CSV
 * `date,yhat,lo,hi` on stdout, the chosen model and the reasons for it on stderr. */
#include "args.h"
#include "cli.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/forecast.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char help_text[] =
    "usage: valdrix forecast --csv FILE --horizon H [--interval 0.8] [--allow-negative]\n"
    "\n"
    "Reads FILE: a header line `date,value`, then one `YYYY-MM-DD,number` per line, dates\n"
    "strictly increasing. The spacing (daily, weekly, monthly, quarterly or yearly) is inferred\n"
    "from the dates; skipped periods, and values written as empty, NA or NaN, count as missing.\n"
    "A line that is not a date and a number is reported with its line number and nothing is\n"
    "forecast.\n"
    "\n"
    "Prints `date,yhat,lo,hi` for the H periods after the last date: the point forecast and the\n"
    "bounds of a prediction interval that should hold the actual value with probability\n"
    "--interval (default 0.8). The model (trend + seasonality with changepoints, damped\n"
    "exponential smoothing, seasonal naive, or the mean of the first two) is chosen by\n"
    "rolling-origin backtests on the file's own history, scored by MASE; the choice, each\n"
    "candidate's score and any fallback are written to stderr. Forecasts and bounds are never\n"
    "below 0 unless --allow-negative is given.\n"
    "\n"
    "  --csv FILE          input file ('-' reads stdin)\n"
    "  --horizon H         periods to forecast, 1 to 10000\n"
    "  --interval L        interval coverage, strictly between 0 and 1 (default 0.8)\n"
    "  --allow-negative    do not clip forecasts at 0 (series that are not costs)\n"
    "\n"
    "Exit status: 0 on success, 1 when the file cannot be read or forecast, 2 on bad usage.\n";

typedef struct {
    int64_t *day; /* days since 1970-01-01 */
    double *val;
    size_t n, cap;
} rows;

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

/* Parses one data line; false after printing what is wrong with it. */
static bool parse_line(char *line, size_t lineno, const char *path, int64_t *day, double *v)
{
    char *comma = strchr(line, ',');
    if (!comma || strchr(comma + 1, ',')) {
        fprintf(stderr, "valdrix forecast: %s:%zu: expected two fields `date,value`\n", path,
                lineno);
        return false;
    }
    *comma = '\0';
    char *ds = trim(line), *vs = trim(comma + 1);
    int64_t unix_s;
    if (!vx_parse_iso8601(ds, strlen(ds), &unix_s)) {
        fprintf(stderr, "valdrix forecast: %s:%zu: '%s' is not an ISO date (YYYY-MM-DD)\n", path,
                lineno, ds);
        return false;
    }
    *day = unix_s >= 0 ? unix_s / 86400 : -((-unix_s + 86399) / 86400);
    if (!*vs || !strcasecmp(vs, "nan") || !strcasecmp(vs, "na")) {
        *v = NAN;
        return true;
    }
    char *end;
    errno = 0;
    *v = strtod(vs, &end);
    if (errno || end == vs || *end || !isfinite(*v)) {
        fprintf(stderr, "valdrix forecast: %s:%zu: '%s' is not a finite number\n", path, lineno,
                vs);
        return false;
    }
    return true;
}

static bool read_csv(const char *path, rows *r)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fprintf(stderr, "valdrix forecast: cannot open %s: %s\n", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    bool ok = true, header = false;
    while (ok && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *t = trim(line);
        if (!header) {
            header = true;
            if (strcasecmp(t, "date,value") != 0) {
                fprintf(stderr, "valdrix forecast: %s:1: expected the header `date,value`\n", path);
                ok = false;
            }
            continue;
        }
        if (!*t)
            continue;
        int64_t day;
        double v;
        ok = parse_line(t, lineno, path, &day, &v);
        if (ok && r->n > 0 && day <= r->day[r->n - 1]) {
            fprintf(stderr, "valdrix forecast: %s:%zu: date is not after the previous line's\n",
                    path, lineno);
            ok = false;
        }
        if (ok)
            rows_push(r, day, v);
    }
    if (ok && ferror(f)) {
        fprintf(stderr, "valdrix forecast: reading %s: %s\n", path, strerror(errno));
        ok = false;
    }
    if (ok && !header) {
        fprintf(stderr, "valdrix forecast: %s is empty (expected the header `date,value`)\n", path);
        ok = false;
    }
    free(line);
    if (f != stdin)
        fclose(f);
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

typedef struct {
    vx_forecast_spacing spacing;
    bool by_month; /* steps counted in months (monthly and coarser) */
    int64_t step;  /* days or months per period */
    int dom;
    bool month_end;
} calendar;

/* Infers the spacing; every gap must be a whole number of periods. Returns false after
 * printing the first line (1-based, counting the header) that breaks the pattern. */
static bool infer_spacing(const rows *r, const char *path, calendar *cal)
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
    memset(cal, 0, sizeof *cal);
    month_of(r->day[0], &cal->dom, &cal->month_end);
    if (same_dom && min_days >= 28) {
        cal->by_month = true;
        cal->step = min_months;
        if (min_months == 1)
            cal->spacing = VX_FORECAST_MONTHLY;
        else if (min_months == 3)
            cal->spacing = VX_FORECAST_QUARTERLY;
        else if (min_months == 12)
            cal->spacing = VX_FORECAST_YEARLY;
        else {
            fprintf(stderr,
                    "valdrix forecast: %s: dates are %lld months apart; expected 1 "
                    "(monthly), 3 (quarterly) or 12 (yearly)\n",
                    path, (long long)min_months);
            return false;
        }
    } else if (min_days == 1 || min_days == 7) {
        cal->step = min_days;
        cal->spacing = min_days == 1 ? VX_FORECAST_DAILY : VX_FORECAST_WEEKLY;
    } else {
        fprintf(stderr,
                "valdrix forecast: %s: cannot infer the spacing: the closest dates are "
                "%lld days apart (expected daily, weekly, monthly, quarterly or yearly)\n",
                path, (long long)min_days);
        return false;
    }
    for (size_t i = 1; i < r->n; i++) {
        int dom;
        bool end;
        int64_t gap = cal->by_month
                          ? month_of(r->day[i], &dom, &end) - month_of(r->day[i - 1], &dom, &end)
                          : r->day[i] - r->day[i - 1];
        if (gap % cal->step != 0) {
            fprintf(stderr, "valdrix forecast: %s:%zu: date breaks the %s spacing of the file\n",
                    path, i + 2, vx_forecast_spacing_name(cal->spacing));
            return false;
        }
    }
    return true;
}

static int64_t period_day(const calendar *cal, int64_t first_day, int64_t k)
{
    if (!cal->by_month)
        return first_day + k * cal->step;
    int dom;
    bool end;
    int64_t m0 = month_of(first_day, &dom, &end);
    return month_to_day(m0 + k * cal->step, cal->dom, cal->month_end);
}

static int run(const char *path, int64_t horizon, double level, bool allow_negative)
{
    rows r = {0};
    int rc = 1;
    double *series = NULL;
    vx_forecast_result *res = NULL;
    if (!read_csv(path, &r))
        goto fail;
    if (r.n < 2) {
        fprintf(stderr, "valdrix forecast: %s has %zu data line(s); need at least 2\n", path, r.n);
        goto fail;
    }
    calendar cal;
    if (!infer_spacing(&r, path, &cal))
        goto fail;
    int dom;
    bool end;
    int64_t span = cal.by_month
                       ? month_of(r.day[r.n - 1], &dom, &end) - month_of(r.day[0], &dom, &end)
                       : r.day[r.n - 1] - r.day[0];
    int64_t n = span / cal.step + 1;
    if (n > VX_FORECAST_MAX_POINTS) {
        fprintf(stderr, "valdrix forecast: %s spans %lld periods; the limit is %d\n", path,
                (long long)n, VX_FORECAST_MAX_POINTS);
        goto fail;
    }
    series = vx_xmalloc((size_t)n * sizeof *series);
    for (int64_t i = 0; i < n; i++)
        series[i] = NAN;
    for (size_t i = 0; i < r.n; i++) {
        int64_t off = cal.by_month ? month_of(r.day[i], &dom, &end) - month_of(r.day[0], &dom, &end)
                                   : r.day[i] - r.day[0];
        series[off / cal.step] = r.val[i];
    }
    vx_forecast_series s = {
        .values = series, .n = (size_t)n, .spacing = cal.spacing, .start_day = r.day[0]};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = (size_t)horizon;
    o.level = level;
    o.allow_negative = allow_negative;
    char err[256];
    vx_status st = vx_forecast_run(&s, &o, &res, err, sizeof err);
    if (st != VX_OK) {
        fprintf(stderr, "valdrix forecast: %s: %s\n", path, err);
        goto fail;
    }
    fprintf(stderr, "valdrix forecast: model=%s%s%s\n", vx_forecast_model_name(res->model),
            res->log_scale ? " (log scale)" : "", res->fallback ? " [fallback]" : "");
    for (const char *p = res->reason; *p;) {
        const char *nl = strchr(p, '\n');
        int len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "valdrix forecast:   %.*s\n", len, p);
        p += len + (nl != NULL);
    }
    printf("date,yhat,lo,hi\n");
    for (size_t h = 0; h < res->horizon; h++) {
        char date[16];
        vx_format_date(period_day(&cal, r.day[0], n + (int64_t)h) * 86400, date, sizeof date);
        printf("%s,%.6f,%.6f,%.6f\n", date, res->yhat[h], res->lo[h], res->hi[h]);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "valdrix forecast: writing the forecast: %s\n", strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    vx_forecast_result_destroy(res);
    vx_free(series);
    vx_free(r.day);
    vx_free(r.val);
    return rc;
}

int cmd_forecast(int argc, char **argv)
{
    cli_opt o[] = {{"csv", true, NULL},
                   {"horizon", true, NULL},
                   {"interval", true, NULL},
                   {"allow-negative", false, NULL},
                   {"help", false, NULL}};
    const int no = (int)(sizeof o / sizeof o[0]);
    const char *pos[1];
    int np;
    if (!cli_parse("forecast", argc, argv, o, no, pos, 0, &np))
        return 2;
    if (cli_get(o, no, "help")) {
        fputs(help_text, stdout);
        return 0;
    }
    const char *path = cli_get(o, no, "csv");
    if (!path || !cli_get(o, no, "horizon")) {
        fprintf(stderr, "valdrix forecast: --csv FILE and --horizon H are required (see "
                        "valdrix forecast --help)\n");
        return 2;
    }
    int64_t horizon;
    if (!cli_int("forecast", o, no, "horizon", 0, 1, VX_FORECAST_MAX_HORIZON, &horizon))
        return 2;
    double level = 0.8;
    const char *lv = cli_get(o, no, "interval");
    if (lv) {
        char *end;
        errno = 0;
        level = strtod(lv, &end);
        if (errno || end == lv || *end || !(level > 0 && level < 1)) {
            fprintf(stderr,
                    "valdrix forecast: --interval must be a number strictly between 0 "
                    "and 1, not '%s'\n",
                    lv);
            return 2;
        }
    }
    return run(path, horizon, level, cli_get(o, no, "allow-negative") != NULL);
}
