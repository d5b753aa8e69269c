/* Requests of services/forecast: decoding of ForecastRequest and AnomaliesRequest, defaults,
 * validation with a message for the caller, the canonical form that keys the cache, and the
 * reply Error helpers. Pure: no I/O, thread-safe. */
#ifndef VX_FORECAST_REQUEST_H
#define VX_FORECAST_REQUEST_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FC_MAX_REQUEST_BYTES 65536
#define FC_MAX_FILTER_VALUES 100 /* per list */
#define FC_MAX_NAME_BYTES 256
#define FC_MAX_WINDOW_DAYS 1096 /* three years, one of them leap */
#define FC_MIN_ANOMALY_DAYS 14
#define FC_DEFAULT_FORECAST_DAYS 365
#define FC_DEFAULT_ANOMALY_DAYS 90
#define FC_MAX_HORIZON_DAYS 366
#define FC_MAX_TOP_SERVICES 20
/* Hex SHA-256 of the canonical request, with NUL. */
#define FC_DIGEST_LEN 65
/* "vx:fc:v1:<tenant>:<version>:<digest>" with NUL. */
#define FC_CACHE_KEY_MAX 160

typedef enum { FC_KIND_RUN, FC_KIND_ANOMALIES } fc_kind;
typedef enum { FC_COST_EFFECTIVE, FC_COST_BILLED, FC_COST_LIST } fc_cost;
typedef enum { FC_F_SERVICE, FC_F_ACCOUNT, FC_F_PROVIDER, FC_F_REGION, FC_F_COUNT } fc_filter;

/* A request with every default applied. Strings are borrowed from the decoded message held in
 * `msg` (fc_request_cleanup frees it). */
typedef struct {
    fc_kind kind;
    char tenant_id[37];        /* lower-case canonical UUID */
    int64_t from_day;          /* first day of the window, days since 1970-01-01 */
    int64_t to_day;            /* the day after the last one */
    char **filter[FC_F_COUNT]; /* sorted, without repeats (strings borrowed); NULL when none */
    size_t n_filter[FC_F_COUNT];
    char currency[4]; /* upper case; "" = the currency with the most spend */
    fc_cost cost;
    uint32_t horizon_days; /* run */
    double level;          /* run */
    uint32_t top_services;
    double min_abs, min_rel; /* anomalies */
    void *msg;               /* the decoded ForecastRequest / AnomaliesRequest */
} fc_request;

/* "run" / "anomalies"; "effective" / "billed" / "list" (static strings). */
const char *fc_kind_name(fc_kind k);
const char *fc_cost_name(fc_cost c);
/* The cost_daily column of c (a constant, safe to put into SQL). */
const char *fc_cost_column(fc_cost c);

/* Decodes `data` as the request message of `kind`, applies the defaults (`today_day`, days
 * since 1970-01-01 in UTC, stands for an empty `to`) and checks every field against the
 * limits in forecast.proto. On VX_OK *out is filled (fc_request_cleanup); otherwise
 * VX_INVALID with a one-line reason for the caller in why, and *out holds nothing to free. */
vx_status fc_request_parse(fc_kind kind, const void *data, size_t len, int64_t today_day,
                           fc_request *out, char *why, size_t why_cap);
void fc_request_cleanup(fc_request *r);

/* Hex SHA-256 of the canonical request: the kind, then the request message re-encoded with
 * every default filled in and the filters sorted, so that requests that mean the same share
 * a digest. */
void fc_request_digest(const fc_request *r, char out[FC_DIGEST_LEN]);
/* The Redis key of a reply: vx:fc:v1:<tenant>:<data_version>:<digest>. */
void fc_cache_key(const fc_request *r, uint64_t data_version, char out[FC_CACHE_KEY_MAX]);

/* "YYYY-MM-DD" of a day number into out (at least 11 bytes). */
void fc_format_day(int64_t day, char *out);

/* Error replies: a packed ForecastReply / AnomaliesReply whose outcome is Error{code,
 * message}. `code` is one of the Error.Code values. The caller frees *out (vx_free). */
void fc_error_reply(fc_kind kind, int code, const char *message, void **out, size_t *len);

#endif
