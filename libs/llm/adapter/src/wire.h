/* Internals of the LLM router (libs/llm/adapter), shared with its tests and fuzz targets: the
 * provider wire format (request bodies, response and error parsers, Retry-After) and secret
 * redaction. */
#ifndef VX_LLM_WIRE_H
#define VX_LLM_WIRE_H

#include "llm_internal.h"
#include "vx/llm_router.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- wire format (wire.c) ---- */

/* A provider's answer envelope. */
typedef struct {
    char *text; /* the model's text (concatenated text blocks for Anthropic) */
    uint64_t input_tokens;
    uint64_t output_tokens;
    bool has_usage; /* both token counts were present and sane */
    bool truncated; /* the model stopped at the token limit */
} llm_reply;

/* Parses a 2xx body of the given api. VX_INVALID (err says why) when it is not the expected
 * shape or has no text; usage may still have been found, so *out is always written (and must
 * be cleaned up) — text is NULL on failure. */
vx_status llm_reply_parse(vx_llm_api api, const char *body, size_t len, llm_reply *out, char *err,
                          size_t err_cap);
void llm_reply_cleanup(llm_reply *r);

/* The type and message of a provider error body, either shape ({"error":{"type","message"}}),
 * as "type: message" cut to cap; false when the body is not such an error. The message is not
 * redacted here. */
bool llm_error_parse(const char *body, size_t len, char *out, size_t cap);

/* A Retry-After value: delay-seconds or an HTTP date (compared with now_wall_ms). The delay in
 * ms (0 for dates in the past) into *delay_ms; false on anything else. */
bool llm_retry_after_parse(const char *v, size_t len, int64_t now_wall_ms, int64_t *delay_ms);

/* The JSON request body for api (caller frees with vx_free). */
char *llm_request_body(vx_llm_api api, const char *model, const vx_llm_prompt *p,
                       uint32_t max_output_tokens, size_t *len);

/* Replaces in s (in place) every occurrence of each non-empty key, and every run that looks like
 * an API key or bearer token ("sk-...", "gsk_...", "Bearer ..."), with "***". */
void llm_redact(char *s, const char *const *keys, size_t n_keys);

#endif
