/* Provider configuration from the environment (vx_llm_config_from_env): VX_LLM_PROVIDERS, base
 * URLs checked with libcurl's URL parser, keys, prices, timeouts and breakers. */
#include "llm_internal.h"
#include "vx/llm_router.h"

#include "vx/config.h"
#include "vx/log.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

static void upper(const char *in, char *out, size_t cap)
{
    size_t i = 0;
    for (; in[i] && i + 1 < cap; i++)
        out[i] = (in[i] >= 'a' && in[i] <= 'z') ? (char)(in[i] - 'a' + 'A') : in[i];
    out[i] = '\0';
}

static bool loopback_host(const char *host)
{
    return strcmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
           strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

/* https://, or http:// to a loopback host; no credentials, query or fragment. */
static bool check_url(const char *var, const char *url, char *out, size_t out_cap, char *err,
                      size_t cap)
{
    size_t len = strlen(url);
    if (len >= out_cap) {
        vx_errf(err, cap, "%s: longer than %zu characters", var, out_cap - 1);
        return false;
    }
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *query = NULL, *fragment = NULL;
    bool ok = false;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
        vx_errf(err, cap, "%s: not a URL", var);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_QUERY, &query, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &fragment, 0) == CURLUE_OK) {
        vx_errf(err, cap, "%s: must not carry credentials, a query or a fragment", var);
        goto done;
    }
    if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && loopback_host(host))) {
        vx_errf(err, cap, "%s: must be https:// (http:// only to a loopback host)", var);
        goto done;
    }
    memcpy(out, url, len + 1);
    while (len && out[len - 1] == '/')
        out[--len] = '\0';
    ok = true;
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(query);
    curl_free(fragment);
    curl_url_cleanup(u);
    return ok;
}

static bool env_duration(const char *name, int64_t min, int64_t max, int64_t *out, char *err,
                         size_t cap)
{
    const char *v = env(name);
    if (!v)
        return true;
    int64_t ms;
    if (!vx_parse_duration_ms(v, &ms) || ms < min || ms > max) {
        vx_errf(err, cap, "%s: must be a duration from %lld ms to %lld ms (e.g. 5s, 250ms)", name,
                (long long)min, (long long)max);
        return false;
    }
    *out = ms;
    return true;
}

static bool env_uint(const char *name, uint64_t min, uint64_t max, uint64_t *out, char *err,
                     size_t cap)
{
    const char *v = env(name);
    if (!v)
        return true;
    char *end = NULL;
    unsigned long long n = strtoull(v, &end, 10);
    if (*v < '0' || *v > '9' || *end || n < min || n > max) {
        vx_errf(err, cap, "%s: must be a whole number from %llu to %llu", name,
                (unsigned long long)min, (unsigned long long)max);
        return false;
    }
    *out = n;
    return true;
}

static bool env_bool(const char *name, bool *out, char *err, size_t cap)
{
    const char *v = env(name);
    if (!v)
        return true;
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcmp(v, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    vx_errf(err, cap, "%s: must be true or false", name);
    return false;
}

/* Keys go into an HTTP header: printable ASCII without spaces, so that none can inject a line. */
static bool key_ok(const char *key)
{
    for (const char *p = key; *p; p++)
        if (*p <= ' ' || *p >= 0x7f)
            return false;
    return true;
}

/* URL, key and price of one paid provider. false with err set on a bad value; *skip when it
 * has no key. */
static bool resolve(vx_llm_provider *p, bool *skip, char *err, size_t cap)
{
    const llm_known_provider *k = llm_known_find(p->name, strlen(p->name));
    char up[16], var[64], key_var[64];
    upper(p->name, up, sizeof up);
    *skip = false;

    snprintf(var, sizeof var, "VX_LLM_%s_URL", up);
    const char *url = env(var);
    if (!check_url(var, url ? url : k->url, p->base_url, sizeof p->base_url, err, cap))
        return false;

    snprintf(key_var, sizeof key_var, "VX_LLM_%s_KEY", up);
    const char *key = env(key_var);
    const char *from = key_var;
    if (!key) {
        key = env(k->vendor_key);
        from = k->vendor_key;
    }
    if (!key) {
        char set[128];
        snprintf(set, sizeof set, "%s or %s", key_var, k->vendor_key);
        vx_log(VX_LOG_WARN, "llm provider skipped: no API key", VX_STR("provider", p->name),
               VX_STR("model", p->model), VX_STR("set", set));
        *skip = true;
        return true;
    }
    if (strlen(key) >= sizeof p->key || !key_ok(key)) {
        vx_errf(err, cap, "%s: must be printable ASCII without spaces, under %zu characters", from,
                sizeof p->key);
        return false;
    }
    snprintf(p->key, sizeof p->key, "%s", key);

    snprintf(var, sizeof var, "VX_LLM_PRICE_%s", up);
    const char *price = env(var);
    if (price) {
        if (vx_llm_price_parse(price, &p->price_in, &p->price_out) != VX_OK) {
            vx_errf(err, cap,
                    "%s: must be \"in,out\" in USD per 1M tokens, e.g. 0.59,0.79 (at most 6 "
                    "decimals)",
                    var);
            return false;
        }
    } else if (!vx_llm_price_lookup(p->name, p->model, &p->price_in, &p->price_out)) {
        vx_errf(err, cap,
                "%s: no price known for %s model %s; set it as \"in,out\" in USD per 1M tokens",
                var, p->name, p->model);
        return false;
    }
    return true;
}

vx_status vx_llm_config_from_env(vx_llm_config *out, char *err, size_t err_cap)
{
    vx_llm_config cfg;
    vx_llm_config_defaults(&cfg);
    const char *spec = env("VX_LLM_PROVIDERS");
    char why[256];
    if (vx_llm_providers_parse(spec ? spec : "local", &cfg, why, sizeof why) != VX_OK) {
        vx_errf(err, err_cap, "VX_LLM_PROVIDERS: %s", why);
        return VX_INVALID;
    }
    uint64_t tokens = cfg.max_output_tokens, window = cfg.breaker.window,
             min_calls = cfg.breaker.min_calls;
    if (!env_duration("VX_LLM_TIMEOUT", 100, 600000, &cfg.timeout_ms, err, err_cap) ||
        !env_duration("VX_LLM_CONNECT_TIMEOUT", 50, 60000, &cfg.connect_timeout_ms, err, err_cap) ||
        !env_duration("VX_LLM_MAX_RETRY_AFTER", 0, 86400000, &cfg.max_retry_after_ms, err,
                      err_cap) ||
        !env_duration("VX_LLM_BREAKER_OPEN", 100, 3600000, &cfg.breaker.open_ms, err, err_cap) ||
        !env_uint("VX_LLM_MAX_OUTPUT_TOKENS", 16, 16384, &tokens, err, err_cap) ||
        !env_uint("VX_LLM_BREAKER_WINDOW", 1, 1000, &window, err, err_cap) ||
        !env_uint("VX_LLM_BREAKER_MIN_CALLS", 1, 1000, &min_calls, err, err_cap) ||
        !env_bool("VX_LLM_HTTP_DEBUG", &cfg.http_debug, err, err_cap))
        goto fail;
    if (min_calls > window) {
        vx_errf(err, err_cap, "VX_LLM_BREAKER_MIN_CALLS: must not exceed VX_LLM_BREAKER_WINDOW");
        goto fail;
    }
    cfg.max_output_tokens = (uint32_t)tokens;
    cfg.breaker.window = (uint32_t)window;
    cfg.breaker.min_calls = (uint32_t)min_calls;

    size_t kept = 0;
    for (size_t i = 0; i < cfg.n_providers; i++) {
        vx_llm_provider p = cfg.providers[i];
        bool skip = false;
        if (p.api != VX_LLM_API_LOCAL && !resolve(&p, &skip, err, err_cap)) {
            OPENSSL_cleanse(p.key, sizeof p.key);
            goto fail;
        }
        if (!skip)
            cfg.providers[kept++] = p;
        OPENSSL_cleanse(p.key, sizeof p.key);
    }
    for (size_t i = kept; i < cfg.n_providers; i++)
        memset(&cfg.providers[i], 0, sizeof cfg.providers[i]);
    cfg.n_providers = kept;
    if (kept == 0) {
        vx_logm(VX_LOG_INFO, "llm: no provider has a key; insights are written by local");
        snprintf(cfg.providers[0].name, sizeof cfg.providers[0].name, "local");
        cfg.providers[0].api = VX_LLM_API_LOCAL;
        cfg.n_providers = 1;
    }
    *out = cfg;
    OPENSSL_cleanse(&cfg, sizeof cfg);
    return VX_OK;
fail:
    vx_llm_config_wipe(&cfg);
    return VX_INVALID;
}
