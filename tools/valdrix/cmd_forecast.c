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

/* The whole file in memory (forecast inputs are small: at most VX_FORECAST_MAX_POINTS lines). */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "r") : stdin;
    if (!f) {
        fprintf(stderr, "valdrix forecast: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    size_t cap = 65536, n = 0;
    char *buf = vx_xmalloc(cap);
    size_t got;
    while ((got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            if (cap >= (size_t)64 << 20) {
                fprintf(stderr, "valdrix forecast: %s is larger than 64 MiB\n", path);
                vx_free(buf);
                buf = NULL;
                break;
            }
            cap *= 2;
            buf = vx_xrealloc(buf, cap);
        }
    }
    if (buf && ferror(f)) {
        fprintf(stderr, "valdrix forecast: reading %s: %s\n", path, strerror(errno));
        vx_free(buf);
        buf = NULL;
    }
    if (f != stdin)
        fclose(f);
    *len = n;
    return buf;
}

static int run(const char *path, int64_t horizon, double level, bool allow_negative)
{
    int rc = 1;
    vx_forecast_result *res = NULL;
    vx_forecast_csv csv = {0};
    size_t len = 0;
    char *buf = slurp(path, &len);
    char err[256];
    if (!buf)
        goto fail;
    if (vx_forecast_csv_parse(buf, len, &csv, err, sizeof err) != VX_OK) {
        fprintf(stderr, "valdrix forecast: %s: %s\n", path, err);
        goto fail;
    }
    int64_t n = (int64_t)csv.n;
    vx_forecast_series s = {
        .values = csv.values, .n = csv.n, .spacing = csv.spacing, .start_day = csv.start_day};
    vx_forecast_opts o;
    vx_forecast_opts_init(&o);
    o.horizon = (size_t)horizon;
    o.level = level;
    o.allow_negative = allow_negative;
    vx_status st = vx_forecast_run(&s, &o, &res, err, sizeof err);
    if (st != VX_OK) {
        fprintf(stderr, "valdrix forecast: %s: %s\n", path, err);
        goto fail;
    }
    fprintf(stderr, "valdrix forecast: model=%s%s%s\n", vx_forecast_model_name(res->model),
            res->log_scale ? " (log scale)" : "", res->fallback ? " [fallback]" : "");
    for (const char *p = res->reason; *p;) {
        const char *nl = strchr(p, '\n');
        int line_len = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "valdrix forecast:   %.*s\n", line_len, p);
        p += line_len + (nl != NULL);
    }
    printf("date,yhat,lo,hi\n");
    for (size_t h = 0; h < res->horizon; h++) {
        char date[16];
        vx_format_date(vx_forecast_csv_period_day(&csv, n + (int64_t)h) * 86400, date, sizeof date);
        printf("%s,%.6f,%.6f,%.6f\n", date, res->yhat[h], res->lo[h], res->hi[h]);
    }
    if (fflush(stdout) != 0) {
        fprintf(stderr, "valdrix forecast: writing the forecast: %s\n", strerror(errno));
        goto fail;
    }
    rc = 0;
fail:
    vx_forecast_result_destroy(res);
    vx_forecast_csv_cleanup(&csv);
    vx_free(buf);
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
