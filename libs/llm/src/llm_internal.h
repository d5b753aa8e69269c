/* Internals of libs/llm shared between its files, its tests and its fuzz targets: text helpers,
 * the provider wire format (request bodies, response and error parsers, Retry-After) and secret
 * redaction. */
#ifndef VX_LLM_INTERNAL_H
#define VX_LLM_INTERNAL_H

#include "vx/llm.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- text (context.c) ---- */

/* A copy of `s` (NULL gives "") with invalid UTF-8 sequences replaced by U+FFFD and cut to at
 * most max_bytes at a character boundary. Caller frees with vx_free. */
char *llm_clean_str(const char *s, size_t max_bytes);
/* Cuts s in place to at most max_bytes without splitting a UTF-8 character, and drops a
 * character already split at its end (as snprintf leaves one). */
void llm_clip_utf8(char *s, size_t max_bytes);
/* Whether s is absent or empty. */
bool llm_empty(const char *s);
/* Strict YYYY-MM-DD into Unix seconds. */
bool llm_parse_date(const char *s, int64_t *unix_s);
/* Days from ctx->from to ctx->to (the context must have been checked). */
int64_t llm_window_days(const vx_llm_context *ctx);
/* Money rounded half away from zero to cents, as "-1234.56". */
void llm_format_money(vx_money m, char *out, size_t cap);
/* Cents of m, rounded half away from zero. */
int64_t llm_money_cents(vx_money m);
/* (cur - prev) / prev * 100; false when prev is not positive. */
bool llm_pct_change(vx_money cur, vx_money prev, double *pct);

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
