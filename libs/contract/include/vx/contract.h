/* The rules every side of the protobuf contracts (the .proto files of proto/valdrix/v1)
 * shares: UTF-8 text, days, the CostScope with its validation, the caller's deadline headers, the
 * one Error.Code <-> vx_status <-> HTTP table, and the reply envelope (a result or an Error{code,
 * message}). Pure C, no I/O; every function is thread-safe. */
#ifndef VX_CONTRACT_H
#define VX_CONTRACT_H

#include "valdrix/v1/cost.pb-c.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VX_CONTRACT_MAX_REQUEST_BYTES 65536 /* an encoded request longer than this is refused */
#define VX_CONTRACT_MAX_FILTER_VALUES 100   /* values in one CostScope filter */
#define VX_CONTRACT_MAX_NAME_BYTES 256      /* bytes of one filter value (or name-like field) */
#define VX_CONTRACT_MAX_MESSAGE_BYTES                                                              \
    1023                       /* an Error.message is cut (at a character) past this               \
                                */
#define VX_CONTRACT_DAY_LEN 11 /* "YYYY-MM-DD" and NUL */

/* ---- text ---- */

/* Length of the well-formed UTF-8 sequence at s (n >= 1 bytes left), or 0 if there is none:
 * overlong forms, surrogates, code points past U+10FFFF and cut sequences are refused (as
 * PostgreSQL and jansson refuse them). */
size_t vx_contract_utf8_seq(const char *s, size_t n);
/* Whether s[0..len) is well-formed UTF-8 (NUL bytes count as characters). */
bool vx_contract_utf8_valid(const char *s, size_t len);
/* Whether the NUL-terminated s is text a tenant may send: well-formed UTF-8 without control
 * characters (C0, DEL, C1). Such strings end up in SQL parameters, logs and prompts. */
bool vx_contract_text_ok(const char *s);
/* Checks a name-like field: not empty, at most max_bytes, vx_contract_text_ok. VX_INVALID with
 * "<field> is empty" / "... is longer than N bytes" / "... is not UTF-8 text without control
 * characters" in why (optional) otherwise. */
VX_MUST_CHECK vx_status vx_contract_check_name(const char *field, const char *s, size_t max_bytes,
                                               char *why, size_t why_cap);

/* ---- days (days since 1970-01-01, UTC) ---- */

/* A strict "YYYY-MM-DD" (exactly 10 bytes, a real calendar day) into *day; false otherwise
 * (*day untouched). */
VX_MUST_CHECK bool vx_contract_day_parse(const char *s, size_t len, int64_t *day);
/* "YYYY-MM-DD" of day into out. */
void vx_contract_day_format(int64_t day, char out[VX_CONTRACT_DAY_LEN]);

/* ---- the CostScope ---- */

/* The filters of a CostScope, in proto field order. */
typedef enum {
    VX_CONTRACT_FILTER_SERVICE,
    VX_CONTRACT_FILTER_ACCOUNT,
    VX_CONTRACT_FILTER_PROVIDER,
    VX_CONTRACT_FILTER_REGION,
    VX_CONTRACT_FILTER_COUNT
} vx_contract_filter;

/* "service_names", "sub_account_ids", "providers", "region_ids" (the proto fields); and the
 * cost_daily column each filters ("service_name", ...). Static strings; "?" out of range. */
const char *vx_contract_filter_field(vx_contract_filter f);
const char *vx_contract_filter_column(vx_contract_filter f);

/* CostScope.cost. */
typedef enum {
    VX_CONTRACT_COST_EFFECTIVE,
    VX_CONTRACT_COST_BILLED,
    VX_CONTRACT_COST_LIST
} vx_contract_cost;

/* "effective", "billed", "list"; and the cost_daily column ("effective_cost", ...), a constant
 * safe to put into SQL. Static strings. */
const char *vx_contract_cost_name(vx_contract_cost c);
const char *vx_contract_cost_column(vx_contract_cost c);
/* One of the three names (not "") into *out; false otherwise. */
VX_MUST_CHECK bool vx_contract_cost_parse(const char *s, vx_contract_cost *out);
/* An ISO 4217 code: three letters A-Z (a-z too when any_case) into out, upper case; false
 * otherwise. */
VX_MUST_CHECK bool vx_contract_currency_parse(const char *s, bool any_case, char out[4]);

/* What a service accepts as a window. Days are days since 1970-01-01. */
typedef struct {
    int64_t default_days;   /* window when `from` is "": that many days before `to` */
    int64_t min_days;       /* shortest window (1: any) */
    int64_t max_days;       /* longest window */
    int64_t first_day;      /* `from` may not be earlier */
    int64_t end_day;        /* `to` may not be later (INT64_MAX: no bound) */
    int64_t max_ahead_days; /* `to` may be at most today + this (INT64_MAX: no bound) */
    bool currency_any_case; /* "eur" reads as EUR rather than being refused */
} vx_contract_scope_rules;

/* A checked CostScope with its defaults resolved. Owns its filter strings
 * (vx_contract_scope_cleanup). */
typedef struct {
    char tenant_id[37];             /* canonical lower-case UUID */
    int64_t from_day;               /* first day, inclusive */
    int64_t to_day;                 /* end day, exclusive */
    char from[VX_CONTRACT_DAY_LEN]; /* the same as YYYY-MM-DD */
    char to[VX_CONTRACT_DAY_LEN];
    char currency[4]; /* upper case; "" = the currency with the most spend */
    vx_contract_cost cost;
    char **filter[VX_CONTRACT_FILTER_COUNT]; /* sorted, without repeats; NULL when none */
    size_t n_filter[VX_CONTRACT_FILTER_COUNT];
} vx_contract_scope;

/* Checks the borrowed scope `sc` (NULL: missing) against `rules` and resolves it: `to` ""
 * is today_day, `from` "" is rules->default_days before `to`, cost "" is effective. Refuses
 * (VX_INVALID, a one-line reason for the caller naming the field in why) a missing scope or
 * tenant, a tenant that is not a UUID, malformed dates, from >= to, a window outside
 * rules, more than VX_CONTRACT_MAX_FILTER_VALUES values in a filter or a value that fails
 * vx_contract_check_name, a malformed currency and an unknown cost. *out is written only on
 * VX_OK and must then be cleaned up. */
VX_MUST_CHECK vx_status vx_contract_scope_decode(const Valdrix__V1__CostScope *sc,
                                                 const vx_contract_scope_rules *rules,
                                                 int64_t today_day, vx_contract_scope *out,
                                                 char *why, size_t why_cap);
void vx_contract_scope_cleanup(vx_contract_scope *s); /* NULL and a zeroed struct are fine */

/* A CostScope to be packed, from borrowed strings (NULL reads as ""). */
typedef struct {
    const char *tenant_id, *from, *to, *currency, *cost;
    const char *const *filter[VX_CONTRACT_FILTER_COUNT];
    size_t n_filter[VX_CONTRACT_FILTER_COUNT];
} vx_contract_scope_view;

/* Initialises *out from v. *out borrows every string of v: pack it, never free it. */
void vx_contract_scope_view_fill(const vx_contract_scope_view *v, Valdrix__V1__CostScope *out);
/* A resolved scope as a CostScope with every default spelled out (the canonical form); *out
 * borrows from s. */
void vx_contract_scope_fill(const vx_contract_scope *s, Valdrix__V1__CostScope *out);

/* ---- requests ---- */

/* Unpacks data[0..len) as a `desc` message. Refuses (VX_INVALID, why: "request of N bytes is
 * larger than allowed (at most M)" or "not a valdrix.v1.X (protobuf)") more than max_bytes or
 * bytes that are not such a message. On VX_OK *out is the message (free with
 * protobuf_c_message_free_unpacked(*out, NULL)). data may be NULL when len is 0. */
VX_MUST_CHECK vx_status vx_contract_unpack(const ProtobufCMessageDescriptor *desc, const void *data,
                                           size_t len, size_t max_bytes, ProtobufCMessage **out,
                                           char *why, size_t why_cap);

/* ---- the caller's deadline (NATS headers of svc.* requests) ---- */

#define VX_DEADLINE_AT_HEADER "Vx-Deadline-At" /* absolute: unix epoch milliseconds */
#define VX_DEADLINE_MS_HEADER "Vx-Deadline-Ms" /* relative to receipt (kept for older peers) */
#define VX_DEADLINE_AT_MAX 253402300799999LL   /* 9999-12-31T23:59:59.999Z */
#define VX_DEADLINE_MS_MAX 600000              /* a relative budget is at most 10 minutes */
#define VX_DEADLINE_TEXT_MAX 21                /* an int64 in decimal and NUL */

/* Writes the Vx-Deadline-At value for at_ms (clamped to 1..VX_DEADLINE_AT_MAX) into out. */
void vx_deadline_format(int64_t at_ms, char out[VX_DEADLINE_TEXT_MAX]);

/* Reads a Vx-Deadline-At value: decimal digits only (no sign, spaces, fraction or leading
 * zero), 1..VX_DEADLINE_AT_MAX. On VX_OK *at_ms is the deadline; otherwise VX_INVALID, *at_ms
 * untouched and why (optional) says what the value must be. NULL is VX_INVALID. */
VX_MUST_CHECK vx_status vx_deadline_read(const char *value, int64_t *at_ms, char *why,
                                         size_t why_cap);

/* The time a request picked up at now_wall_ms (unix epoch ms) has left, from its header
 * values (either may be NULL when absent): Vx-Deadline-At minus now, shortened by
 * Vx-Deadline-Ms when both are present; Vx-Deadline-Ms alone; default_ms with neither. At most
 * VX_DEADLINE_MS_MAX when from Vx-Deadline-At. *left_ms <= 0 means the deadline has passed (the
 * caller has given up: do no work). VX_INVALID with why for a malformed value of either
 * (Vx-Deadline-Ms: decimal 1..VX_DEADLINE_MS_MAX); *left_ms is written only on VX_OK.
 * Absolute deadlines assume the hosts' clocks are synchronised (NTP). */
VX_MUST_CHECK vx_status vx_deadline_left(const char *at_value, const char *ms_value,
                                         int64_t now_wall_ms, int64_t default_ms, int64_t *left_ms,
                                         char *why, size_t why_cap);

/* ---- errors: one table for Error.Code, vx_status and HTTP ---- */

/* X(CODE, name, status, http, problem type, problem title): each Error.Code a reply may carry,
 * the vx_status it stands for, and the HTTP status and problem the edge answers with. */
#define VX_CONTRACT_ERROR_MAP(X)                                                                   \
    X(INVALID, "invalid", VX_INVALID, 400, "invalid-request", "Invalid request")                   \
    X(BUDGET, "budget", VX_LIMIT, 402, "budget-exceeded", "Budget exceeded")                       \
    X(TOO_LARGE, "too_large", VX_LIMIT, 413, "too-large", "Too large")                             \
    X(LIMITED, "limited", VX_LIMIT, 429, "rate-limited", "Too many requests")                      \
    X(UNAVAILABLE, "unavailable", VX_UNAVAILABLE, 503, "unavailable", "Service unavailable")       \
    X(DEADLINE, "deadline", VX_TIMEOUT, 504, "deadline", "Deadline exceeded")                      \
    X(INTERNAL, "internal", VX_INTERNAL, 500, "internal", "Internal error")

/* One row of the table. */
typedef struct {
    Valdrix__V1__Error__Code code;
    const char *name; /* for metrics and logs */
    vx_status status;
    int http_status;
    const char *problem_type, *problem_title;
} vx_contract_error_info;

/* The row of `code`; a code not in the table (UNSPECIFIED, or one from a newer peer) reads as
 * INTERNAL. Never NULL; static. */
const vx_contract_error_info *vx_contract_error_of_code(int code);
/* The Error.Code to answer a failure `st` of a call with: TIMEOUT deadline; UNAVAILABLE, IO,
 * CLOSED, CONFLICT (a lost connection or serialisation) and FULL unavailable; INVALID and NOT_FOUND
 * invalid; LIMIT limited; anything else internal. */
Valdrix__V1__Error__Code vx_contract_code_of_status(vx_status st);

/* ---- replies: a result or an Error ---- */

/* Packs a `desc` reply (ForecastReply, AnomaliesReply, InsightReply: a oneof of `result` and
 * `error`) whose outcome is `result`, a message of the result type, borrowed. Caller frees
 * the bytes with vx_free. */
uint8_t *vx_contract_reply_result(const ProtobufCMessageDescriptor *desc,
                                  const ProtobufCMessage *result, size_t *len);
/* Packs a `desc` reply whose outcome is Error{code, message} (NULL message: ""; cut at a
 * character to VX_CONTRACT_MAX_MESSAGE_BYTES). Caller frees with vx_free. */
uint8_t *vx_contract_reply_error(const ProtobufCMessageDescriptor *desc, int code,
                                 const char *message, size_t *len);

/* A decoded reply: exactly one of result and error is set; both borrow from msg. */
typedef struct {
    ProtobufCMessage *msg;           /* owned (vx_contract_reply_cleanup) */
    const ProtobufCMessage *result;  /* the result message, or NULL */
    const Valdrix__V1__Error *error; /* or the error */
} vx_contract_reply;

/* Unpacks untrusted bytes as a `desc` reply. VX_INVALID with why ("a reply that is not a X" or
 * "neither a result nor an error") when they are not one with an outcome; *out is written only
 * on VX_OK. */
VX_MUST_CHECK vx_status vx_contract_reply_unpack(const ProtobufCMessageDescriptor *desc,
                                                 const uint8_t *data, size_t len,
                                                 vx_contract_reply *out, char *why, size_t why_cap);
void vx_contract_reply_cleanup(vx_contract_reply *r); /* NULL and a zeroed struct are fine */

#endif
