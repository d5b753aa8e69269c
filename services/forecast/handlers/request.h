/* Requests of services/forecast: decoding of ForecastRequest and AnomaliesRequest, defaults,
 * validation with a message for the caller (the CostScope through vx::contract), and the
 * canonical form that keys the cache. Pure: no I/O, thread-safe. */
#ifndef VX_FORECAST_REQUEST_H
#define VX_FORECAST_REQUEST_H

#include "vx/contract.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

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
/* A request with every default applied (fc_request_cleanup). */
typedef struct {
    fc_kind kind;
    vx_contract_scope scope; /* tenant, window [from_day, to_day), filters, currency, cost */
    uint32_t horizon_days;   /* run */
    double level;            /* run */
    uint32_t top_services;
    double min_abs, min_rel; /* anomalies */
} fc_request;

/* "run" / "anomalies" (static strings). */
const char *fc_kind_name(fc_kind k);
/* The protobuf descriptor of the reply to `kind` (ForecastReply / AnomaliesReply), for the
 * reply envelope helpers of vx/contract.h. */
const ProtobufCMessageDescriptor *fc_reply_descriptor(fc_kind k);

/* Decodes `data` (at most VX_CONTRACT_MAX_REQUEST_BYTES) as the request message of `kind`,
 * applies the defaults (`today_day`, days since 1970-01-01 in UTC, stands for an empty `to`)
 * and checks every field against the limits in forecast.proto. On VX_OK *out is filled
 * (fc_request_cleanup); otherwise VX_INVALID with a one-line reason for the caller in why, and
 * *out holds nothing to free. */
vx_status fc_request_parse(fc_kind kind, const void *data, size_t len, int64_t today_day,
                           fc_request *out, char *why, size_t why_cap);
void fc_request_cleanup(fc_request *r);

/* Hex SHA-256 of the canonical request: the kind, then the request message re-encoded with
 * every default filled in and the filters sorted, so that requests that mean the same share
 * a digest. */
void fc_request_digest(const fc_request *r, char out[FC_DIGEST_LEN]);
/* The Redis key of a reply: vx:fc:v1:<tenant>:<data_version>:<digest>. */
void fc_cache_key(const fc_request *r, uint64_t data_version, char out[FC_CACHE_KEY_MAX]);

#endif
