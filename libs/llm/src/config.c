/* Provider configuration without I/O: the known providers, the VX_LLM_PROVIDERS list syntax,
 * and pricing (a built-in table per model, overridable) with exact micro-USD arithmetic. */
#include "llm_internal.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const llm_known_provider known[] = {
    {"groq", VX_LLM_API_OPENAI, "llama-3.3-70b-versatile", "https://api.groq.com/openai/v1",
     "GROQ_API_KEY"},
    {"openai", VX_LLM_API_OPENAI, "gpt-4o-mini", "https://api.openai.com/v1", "OPENAI_API_KEY"},
    {"anthropic", VX_LLM_API_ANTHROPIC, "claude-3-5-haiku-latest", "https://api.anthropic.com/v1",
     "ANTHROPIC_API_KEY"},
    {"local", VX_LLM_API_LOCAL, "", NULL, NULL},
};
#define N_KNOWN (sizeof known / sizeof known[0])

/* List prices in micro-USD per 1M tokens (input, output), as published by the providers when
 * this table was written; VX_LLM_PRICE_<NAME> overrides them. */
static const struct price {
    const char *provider, *model;
    uint64_t in, out;
} prices[] = {
    {"groq", "llama-3.3-70b-versatile", 590000, 790000},
    {"groq", "llama-3.1-8b-instant", 50000, 80000},
    {"openai", "gpt-4o-mini", 150000, 600000},
    {"openai", "gpt-4o", 2500000, 10000000},
    {"openai", "gpt-4.1", 2000000, 8000000},
    {"openai", "gpt-4.1-mini", 400000, 1600000},
    {"openai", "gpt-4.1-nano", 100000, 400000},
    {"anthropic", "claude-3-5-haiku-latest", 800000, 4000000},
    {"anthropic", "claude-3-5-haiku-20241022", 800000, 4000000},
    {"anthropic", "claude-3-5-sonnet-latest", 3000000, 15000000},
    {"anthropic", "claude-3-7-sonnet-latest", 3000000, 15000000},
    {"anthropic", "claude-3-haiku-20240307", 250000, 1250000},
};

const llm_known_provider *llm_known_find(const char *name, size_t len)
{
    for (size_t i = 0; i < N_KNOWN; i++)
        if (strlen(known[i].name) == len && strncmp(known[i].name, name, len) == 0)
            return &known[i];
    return NULL;
}

void vx_llm_config_defaults(vx_llm_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->connect_timeout_ms = 2000;
    cfg->timeout_ms = 30000;
    cfg->max_output_tokens = 1024;
    cfg->max_retry_after_ms = 600000;
    cfg->breaker = vx_breaker_defaults();
    cfg->http_debug = false;
}

static bool model_char(char c)
{
    return c > ' ' && c < 0x7f && c != '"' && c != '\\' && c != ',';
}

vx_status vx_llm_providers_parse(const char *spec, vx_llm_config *cfg, char *err, size_t err_cap)
{
    vx_llm_provider list[VX_LLM_MAX_PROVIDERS];
    size_t n = 0;
    memset(list, 0, sizeof list);
    const char *p = spec ? spec : "";
    size_t item = 0;
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *s = p;
        while (len && (*s == ' ' || *s == '\t')) {
            s++;
            len--;
        }
        while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
            len--;
        item++;
        if (len == 0) {
            vx_errf(err, err_cap, "item %zu is empty", item);
            return VX_INVALID;
        }
        const char *colon = memchr(s, ':', len);
        size_t name_len = colon ? (size_t)(colon - s) : len;
        const llm_known_provider *k = llm_known_find(s, name_len);
        if (!k) {
            vx_errf(err, err_cap,
                    "unknown provider \"%.*s\" in item %zu (known: groq, openai, anthropic, "
                    "local)",
                    (int)(name_len > 32 ? 32 : name_len), s, item);
            return VX_INVALID;
        }
        if (n && list[n - 1].api == VX_LLM_API_LOCAL) {
            vx_errf(err, err_cap, "local must be the last provider (nothing after it is tried)");
            return VX_INVALID;
        }
        for (size_t i = 0; i < n; i++) {
            if (strcmp(list[i].name, k->name) == 0) {
                vx_errf(err, err_cap, "provider \"%s\" is listed twice", k->name);
                return VX_INVALID;
            }
        }
        if (n == VX_LLM_MAX_PROVIDERS) {
            vx_errf(err, err_cap, "more than %d providers", VX_LLM_MAX_PROVIDERS);
            return VX_INVALID;
        }
        vx_llm_provider *pr = &list[n];
        snprintf(pr->name, sizeof pr->name, "%s", k->name);
        pr->api = k->api;
        if (colon) {
            const char *model = colon + 1;
            size_t mlen = len - name_len - 1;
            if (k->api == VX_LLM_API_LOCAL) {
                vx_errf(err, err_cap, "local takes no model (item %zu)", item);
                return VX_INVALID;
            }
            if (mlen == 0 || mlen >= sizeof pr->model) {
                vx_errf(err, err_cap, "model of %s must be 1..%zu characters", k->name,
                        sizeof pr->model - 1);
                return VX_INVALID;
            }
            for (size_t i = 0; i < mlen; i++) {
                if (!model_char(model[i])) {
                    vx_errf(err, err_cap, "model of %s has a character that is not allowed",
                            k->name);
                    return VX_INVALID;
                }
            }
            memcpy(pr->model, model, mlen);
            pr->model[mlen] = '\0';
        } else {
            snprintf(pr->model, sizeof pr->model, "%s", k->model);
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    memcpy(cfg->providers, list, sizeof list);
    cfg->n_providers = n;
    return VX_OK;
}

bool vx_llm_price_lookup(const char *provider, const char *model, uint64_t *price_in,
                         uint64_t *price_out)
{
    for (size_t i = 0; i < sizeof prices / sizeof prices[0]; i++) {
        if (strcmp(prices[i].provider, provider) == 0 && strcmp(prices[i].model, model) == 0) {
            *price_in = prices[i].in;
            *price_out = prices[i].out;
            return true;
        }
    }
    return false;
}

/* One price in USD per 1M tokens ("0.59") into micro-USD, exactly. */
static bool parse_usd(const char *s, size_t len, uint64_t *micro)
{
    while (len && *s == ' ') {
        s++;
        len--;
    }
    while (len && s[len - 1] == ' ')
        len--;
    if (len == 0 || len > 20)
        return false;
    uint64_t units = 0, frac = 0;
    size_t i = 0, digits = 0, frac_digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++)
        units = units * 10 + (uint64_t)(s[i] - '0');
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, frac_digits++)
            if (frac_digits < 6)
                frac = frac * 10 + (uint64_t)(s[i] - '0');
    }
    if (i != len || digits + frac_digits == 0 || frac_digits > 6 || digits > 7)
        return false;
    for (size_t k = frac_digits; k < 6; k++)
        frac *= 10;
    if (units > 1000000 || (units == 1000000 && frac))
        return false;
    *micro = units * 1000000 + frac;
    return true;
}

vx_status vx_llm_price_parse(const char *s, uint64_t *price_in, uint64_t *price_out)
{
    if (!s)
        return VX_INVALID;
    const char *comma = strchr(s, ',');
    if (!comma || strchr(comma + 1, ','))
        return VX_INVALID;
    uint64_t in, out;
    if (!parse_usd(s, (size_t)(comma - s), &in) || !parse_usd(comma + 1, strlen(comma + 1), &out))
        return VX_INVALID;
    *price_in = in;
    *price_out = out;
    return VX_OK;
}

uint64_t vx_llm_cost_micro_usd(uint64_t price_in, uint64_t price_out, uint64_t in_tokens,
                               uint64_t out_tokens)
{
    vx_uint128 total = (vx_uint128)in_tokens * price_in + (vx_uint128)out_tokens * price_out;
    vx_uint128 micro = (total + 999999) / 1000000;
    return micro > UINT64_MAX ? UINT64_MAX : (uint64_t)micro;
}

vx_money vx_llm_micro_usd_to_money(uint64_t micro_usd)
{
    vx_money m = {(int64_t)(micro_usd / 1000000), (int32_t)(micro_usd % 1000000) * 1000};
    return m;
}

void vx_llm_config_wipe(vx_llm_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < VX_LLM_MAX_PROVIDERS; i++)
        OPENSSL_cleanse(cfg->providers[i].key, sizeof cfg->providers[i].key);
}
