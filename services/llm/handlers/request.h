/* The insight request as services/llm understands it: decoded from an InsightRequest, checked,
 * with every default resolved (window, cost column, kind), and the cache key derived from that
 * resolved form. Pure: no I/O, no clock (today is passed in). */
#ifndef VX_LLM_SVC_REQUEST_H
#define VX_LLM_SVC_REQUEST_H

#include "vx/contract.h"
#include "vx/llm.h"
#include "vx/status.h"

#include <stddef.h>
#include <stdint.h>

#define LLM_REQ_DEFAULT_DAYS 30 /* window when `from` is not given */
#define LLM_REQ_MAX_DAYS 366    /* longest window ("at most 1 year", a leap year included) */

/* A checked request with its defaults resolved. Owns its strings (llm_req_cleanup). */
typedef struct {
    vx_contract_scope scope; /* tenant, window (after from, at most LLM_REQ_MAX_DAYS), filters,
                                currency, cost */
    vx_llm_kind kind;
    char *focus_service; /* "" when not given */
    char *focus_account;
} llm_req;

/* Decodes an InsightRequest and resolves it: `to` defaults to today (days since 1970-01-01,
 * UTC), `from` to LLM_REQ_DEFAULT_DAYS before `to`; cost defaults to effective; kind
 * unspecified is summary. Refuses (VX_INVALID, with a message for the caller in err) anything
 * that is not a well-formed request: bad protobuf, more than VX_CONTRACT_MAX_REQUEST_BYTES, a
 * missing or malformed tenant id, impossible dates, from >= to, a window longer than
 * LLM_REQ_MAX_DAYS, dates outside 1971..2199, an unknown kind or cost, a malformed currency, and
 * filter or focus strings that are empty, too long, not UTF-8 or hold control characters. *out is
 * written (and must then be cleaned up) only on VX_OK. Thread-safe. */
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

#endif
