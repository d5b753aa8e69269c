/* The process-wide part of the limiter: configuration and Redis URL, the breaker around Redis,
 * the fallback table, metrics, the once-per-switch logs, and the GCRA Lua script. */
#include "limiter_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/redis.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The same arithmetic as vx_rl_gcra, on Redis's clock. Numbers are formatted with %d because
 * Lua would print TATs (about 1.7e15 us) in exponent form. */
const char vx_rl_script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local interval = tonumber(ARGV[3 * i - 2])\n"
    "  local tolerance = interval * tonumber(ARGV[3 * i - 1])\n"
    "  local cost = tonumber(ARGV[3 * i])\n"
    "  local stored = tonumber(redis.call('GET', KEYS[i]) or '0') or 0\n"
    "  local tat = stored\n"
    "  if tat < now then tat = now end\n"
    "  if tat > now + tolerance then tat = now + tolerance end\n"
    "  local new_tat = tat + interval * cost\n"
    "  local n = #out\n"
    "  if new_tat - tolerance > now then\n"
    "    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 0, stored, now, tat\n"
    "  else\n"
    "    if cost > 0 then\n"
    "      redis.call('SET', KEYS[i], string.format('%d', new_tat), 'PX',\n"
    "                 string.format('%d', math.floor((new_tat - now) / 1000) + 1))\n"
    "    end\n"
    "    out[n + 1], out[n + 2], out[n + 3], out[n + 4] = 1, stored, now, new_tat\n"
    "  end\n"
    "end\n"
    "return out\n";

vx_ratelimit_config vx_ratelimit_defaults(void)
{
    return (vx_ratelimit_config){
        .redis_url = NULL,
        .key_prefix = "vx:rl:",
        .metrics_prefix = "valdrix_api",
        .command_timeout_ms = 50,
        .connect_timeout_ms = 500,
        .reconnect_min_ms = 50,
        .reconnect_max_ms = 2000,
        .breaker = vx_breaker_defaults(),
        .local_capacity = 100000,
    };
}

static bool name_ok(const char *s)
{
    if (s == NULL || s[0] == '\0' || strlen(s) > 64)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == ':'))
            return false;
    return true;
}

static void script_sha1(char out[41])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(vx_rl_script, strlen(vx_rl_script), md, &n, EVP_sha1(), NULL);
    for (unsigned i = 0; i < n && i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
    out[40] = '\0';
}

static void register_metrics(vx_ratelimit_shared *s, vx_metrics *m)
{
    char name[160], labels[128];
    snprintf(name, sizeof name, "%s_ratelimit_decisions_total", s->metrics_prefix);
    static const char *const outcome[2] = {"allowed", "denied"};
    static const char *const source[2] = {"redis", "local"};
    for (int c = 0; c < VX_PLAN_CAT_COUNT; c++)
        for (int o = 0; o < 2; o++)
            for (int src = 0; src < 2; src++) {
                snprintf(labels, sizeof labels, "category=\"%s\",outcome=\"%s\",source=\"%s\"",
                         vx_plan_category_str((vx_plan_category)c), outcome[o], source[src]);
                s->decisions[c][o][src] = vx_metrics_counter(
                    m, name, "Rate-limit decisions by category, outcome and source", labels);
            }
    snprintf(name, sizeof name, "%s_ratelimit_redis_errors_total", s->metrics_prefix);
    static const char *const reason[RL_ERR_COUNT] = {"timeout", "disconnected", "error",
                                                     "mismatch"};
    for (int r = 0; r < RL_ERR_COUNT; r++) {
        snprintf(labels, sizeof labels, "reason=\"%s\"", reason[r]);
        s->errors[r] = vx_metrics_counter(
            m, name, "Rate-limit checks Redis failed to decide (decided locally)", labels);
    }
    snprintf(name, sizeof name, "%s_ratelimit_breaker_state", s->metrics_prefix);
    s->breaker_gauge = vx_metrics_gauge(
        m, name, "Redis breaker of the rate limiter: 0 closed, 1 open, 2 half-open", NULL);
    snprintf(name, sizeof name, "%s_ratelimit_local_evictions_total", s->metrics_prefix);
    s->evictions = vx_metrics_counter(
        m, name, "Fallback table entries evicted while still holding state", NULL);
}

vx_status vx_ratelimit_shared_create(const vx_ratelimit_config *cfg, vx_metrics *m,
                                     vx_ratelimit_shared **out)
{
    if (cfg == NULL || out == NULL || cfg->redis_url == NULL || !name_ok(cfg->metrics_prefix) ||
        cfg->key_prefix == NULL || strlen(cfg->key_prefix) > RL_PREFIX_MAX ||
        cfg->command_timeout_ms <= 0 || cfg->connect_timeout_ms <= 0 ||
        cfg->reconnect_min_ms <= 0 || cfg->reconnect_max_ms < cfg->reconnect_min_ms)
        return VX_INVALID;
    vx_redis_url u;
    if (vx_redis_url_parse(cfg->redis_url, &u, NULL, 0) != VX_OK)
        return VX_INVALID;
    vx_ratelimit_shared *s = vx_xcalloc(1, sizeof *s);
    /* the parsed strings move into s (both are vx_free'd) */
    s->host = u.host;
    s->port = u.port;
    s->user = u.user;
    s->password = u.password;
    s->db = u.db;
    s->url = vx_xstrdup(cfg->redis_url);
    s->key_prefix = vx_xstrdup(cfg->key_prefix);
    s->metrics_prefix = vx_xstrdup(cfg->metrics_prefix);
    s->cfg = *cfg;
    s->cfg.redis_url = s->url;
    s->cfg.key_prefix = s->key_prefix;
    s->cfg.metrics_prefix = s->metrics_prefix;
    script_sha1(s->script_sha);
    s->breaker = vx_breaker_create("redis.ratelimit", &cfg->breaker);
    s->table = vx_rl_table_create(cfg->local_capacity);
    atomic_init(&s->fallback_logged, 0);
    if (m != NULL)
        register_metrics(s, m);
    *out = s;
    return VX_OK;
}

void vx_ratelimit_shared_destroy(vx_ratelimit_shared *s)
{
    if (s == NULL)
        return;
    vx_breaker_destroy(s->breaker);
    vx_rl_table_destroy(s->table);
    vx_free(s->url);
    vx_free(s->host);
    vx_free(s->user);
    vx_free(s->password);
    vx_free(s->key_prefix);
    vx_free(s->metrics_prefix);
    vx_free(s);
}

size_t vx_rl_make_key(const vx_ratelimit_shared *s, vx_plan_category cat, const char *tenant,
                      char *key)
{
    size_t tn = tenant ? strnlen(tenant, RL_TENANT_MAX + 1) : 0;
    if (tn == 0 || tn > RL_TENANT_MAX || (unsigned)cat >= VX_PLAN_CAT_COUNT)
        return 0;
    int n = snprintf(key, RL_KEY_MAX, "%s%s:%s", s->key_prefix, vx_plan_category_str(cat), tenant);
    return n > 0 && n < RL_KEY_MAX ? (size_t)n : 0;
}

void vx_rl_count_decision(vx_ratelimit_shared *s, const vx_rl_decision *d)
{
    vx_counter *c = s->decisions[d->category][d->allowed ? 0 : 1][d->source];
    if (c != NULL)
        vx_counter_inc(c);
}

void vx_rl_count_error(vx_ratelimit_shared *s, int reason)
{
    if (s->errors[reason] != NULL)
        vx_counter_inc(s->errors[reason]);
}

void vx_rl_decide_local(vx_ratelimit_shared *s, const char *key, size_t key_len,
                        vx_plan_category cat, const vx_plan_rate *lim, int64_t cost,
                        vx_rl_decision *out)
{
    vx_rl_gcra_result r = {0};
    bool evicted_live = false;
    /* The key and limit were validated by the caller, so this cannot fail. */
    vx_status_ignore(vx_rl_table_check(s->table, key, key_len, lim, cost, vx_mono_ns() / 1000, &r,
                                       &evicted_live));
    if (evicted_live && s->evictions != NULL)
        vx_counter_inc(s->evictions);
    *out = (vx_rl_decision){
        .status = VX_OK,
        .allowed = r.allowed,
        .source = VX_RL_SOURCE_LOCAL,
        .category = cat,
        .limit = *lim,
        .remaining = r.remaining,
        .reset_ms = r.reset_ms,
        .retry_after_ms = r.retry_after_ms,
    };
    vx_rl_count_decision(s, out);
}

vx_status vx_ratelimit_local_check(vx_ratelimit_shared *s, const char *tenant, vx_plan_category cat,
                                   const vx_plan_rate *lim, vx_rl_decision *out)
{
    char key[RL_KEY_MAX];
    size_t n = s ? vx_rl_make_key(s, cat, tenant, key) : 0;
    if (n == 0 || !vx_rl_limit_valid(lim) || out == NULL)
        return VX_INVALID;
    vx_rl_gcra_result r = {0};
    bool evicted_live = false;
    vx_status st =
        vx_rl_table_check(s->table, key, n, lim, 1, vx_mono_ns() / 1000, &r, &evicted_live);
    if (st != VX_OK)
        return st;
    *out = (vx_rl_decision){
        .status = VX_OK,
        .allowed = r.allowed,
        .source = VX_RL_SOURCE_LOCAL,
        .category = cat,
        .limit = *lim,
        .remaining = r.remaining,
        .reset_ms = r.reset_ms,
        .retry_after_ms = r.retry_after_ms,
    };
    return VX_OK;
}

vx_breaker_state vx_ratelimit_breaker_state(vx_ratelimit_shared *s)
{
    return vx_breaker_state_at(s->breaker, vx_mono_ms());
}

void vx_rl_note_breaker(vx_ratelimit_shared *s, int64_t now_ms)
{
    vx_breaker_state st = vx_breaker_state_at(s->breaker, now_ms);
    if (s->breaker_gauge != NULL)
        vx_gauge_set(s->breaker_gauge, st == VX_BREAKER_CLOSED ? 0 : st == VX_BREAKER_OPEN ? 1 : 2);
    int fallback = st != VX_BREAKER_CLOSED;
    if (atomic_exchange(&s->fallback_logged, fallback) == fallback)
        return;
    char url[256];
    vx_redact_url(s->url, url, sizeof url);
    if (fallback)
        vx_log(VX_LOG_WARN, "rate limiter: redis unavailable, deciding locally per replica",
               VX_STR("redis", url), VX_STR("breaker", vx_breaker_state_str(st)),
               VX_INT("trips", vx_breaker_trips(s->breaker)));
    else
        vx_log(VX_LOG_INFO, "rate limiter: redis is back, deciding in redis", VX_STR("redis", url));
}
