/* Internals of libs/llm shared between its files, its tests, its adapter (libs/llm/adapter)
 * and its fuzz targets: text helpers and the table of known providers. */
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

/* ---- known providers (config.c) ---- */

typedef struct {
    const char *name;
    vx_llm_api api;
    const char *model;      /* default model */
    const char *url;        /* default base URL; NULL for local */
    const char *vendor_key; /* the vendor's usual key variable; NULL for local */
} llm_known_provider;

/* The known provider named by the len bytes at name; NULL when there is none. */
const llm_known_provider *llm_known_find(const char *name, size_t len);

#endif
