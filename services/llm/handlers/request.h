/* The insight request as services/llm understands it: decoded from an InsightRequest, checked,
 * with every default resolved (window, cost column, kind), and the cache key derived from that
 * resolved form. Pure: no I/O, no clock (today is passed in). */
#ifndef VX_LLM_SVC_REQUEST_H
#define VX_LLM_SVC_REQUEST_H

#include "vx/llm.h"
#include "vx/status.h"

#include <stddef.h>
#include <stdint.h>

#define LLM_REQ_MAX_BYTES 65536 /* an encoded request longer than this is refused */
#define LLM_REQ_MAX_VALUES 100  /* values in one filter */
#define LLM_REQ_MAX_VALUE 256   /* bytes of one filter value or focus string */
#define LLM_REQ_DEFAULT_DAYS 30 /* window when `from` is not given */
#define LLM_REQ_MAX_DAYS 366    /* longest window ("at most 1 year", a leap year included) */

/* The CostScope filters, in proto field order. */
typedef enum {
    LLM_FILTER_SERVICE,
    LLM_FILTER_ACCOUNT,
    LLM_FILTER_PROVIDER,
    LLM_FILTER_REGION,
    LLM_FILTER_COUNT
} llm_filter;

/* The cost_daily column of each filter ("service_name", ...). */
const char *llm_filter_column(llm_filter f);

typedef enum { LLM_COST_EFFECTIVE, LLM_COST_BILLED, LLM_COST_LIST } llm_cost;

/* "effective", "billed", "list"; and the cost_daily column ("effective_cost", ...). */
const char *llm_cost_str(llm_cost c);
const char *llm_cost_column(llm_cost c);

/* A checked request with its defaults resolved. Owns its strings (llm_req_cleanup). */
typedef struct {
    char tenant_id[37]; /* canonical lower-case UUID */
    vx_llm_kind kind;
    char from[11];    /* YYYY-MM-DD, inclusive */
    char to[11];      /* YYYY-MM-DD, exclusive; after from, at most LLM_REQ_MAX_DAYS later */
    int64_t from_day; /* days since 1970-01-01 */
    int64_t to_day;
    char currency[4]; /* ISO 4217, or "" for the currency with the most spend */
    llm_cost cost;
    char **filter[LLM_FILTER_COUNT]; /* sorted, without duplicates */
    size_t n_filter[LLM_FILTER_COUNT];
    char *focus_service; /* "" when not given */
    char *focus_account;
} llm_req;

/* Decodes an InsightRequest and resolves it: `to` defaults to today (days since 1970-01-01,
 * UTC), `from` to LLM_REQ_DEFAULT_DAYS before `to`; cost defaults to effective; kind
 * unspecified is summary. Refuses (VX_INVALID, with a message for the caller in err) anything
 * that is not a well-formed request: bad protobuf, more than LLM_REQ_MAX_BYTES, a missing or
 * malformed tenant id, impossible dates, from >= to, a window longer than LLM_REQ_MAX_DAYS,
 * dates outside 1971..2199, an unknown kind or cost, a malformed currency, and filter or focus
 * strings that are empty, too long, not UTF-8 or hold control characters. *out is written
 * (and must then be cleaned up) only on VX_OK. Thread-safe. */
vx_status llm_req_decode(const uint8_t *data, size_t len, int64_t today_day, llm_req *out,
                         char *err, size_t err_cap);
void llm_req_cleanup(llm_req *r); /* NULL and a zeroed struct are fine */

/* SHA-256 (64 hex digits and NUL into out) of the resolved request: kind, from, to, the sorted
 * filters, currency, cost and focus, each length-prefixed so no two requests share a text.
 * The tenant is not part of it (it is part of the key). */
void llm_req_hash(const llm_req *r, char out[65]);

/* The cache key vx:llm:v1:<tenant>:<data_version>:<prompt_version>:<hash> into out; false if
 * it does not fit (cap >= 200 always suffices for a prompt version up to 32 bytes). */
bool llm_cache_key(const llm_req *r, uint64_t data_version, const char *prompt_version, char *out,
                   size_t cap);

/* Days since 1970-01-01 of a strict YYYY-MM-DD; false on anything else. */
bool llm_parse_day(const char *s, size_t len, int64_t *day);
/* YYYY-MM-DD of a day number into out (11 bytes). */
void llm_format_day(int64_t day, char out[11]);

#endif
