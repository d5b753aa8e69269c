/* Budget hooks over Redis and the Postgres ledger. The month hash vx:llm:budget:<tenant>:<YYYY-MM>
 * holds `spent` (micro-USD settled this month), one `r:<ticket>` = "<amount>:<expiry ms>" per
 * call in flight, and `late` (costs settled while `spent` was missing, added when it is seeded).
 * Seeding and settling are ordered so that the count can err high (a call counted twice around
 * a re-seed) but never low. */
#include "budget.h"

#include "handlers/budget_rules.h"
#include "store.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/uuid.h"

#include <stdio.h>
#include <string.h>

/* A month hash outlives its month by this much (then it is seeded again if ever needed). */
#define KEY_GRACE_MS (7LL * 86400000)

/* KEYS[1] the month hash; ARGV ticket, amount, limit, reservation ttl ms, key ttl ms.
 * Returns {1, spent, reserved} when reserved, {0, spent, reserved} when the budget refuses,
 * {-1, 0, reserved} when `spent` must be seeded from the ledger first. Reservations past their
 * expiry are dropped; dropping one means a call was never settled here (its replica died, or
 * Redis was unreachable when it settled), so `spent` is recounted from the ledger. */
static const char reserve_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local h = redis.call('HGETALL', KEYS[1])\n"
    "local spent = nil\n"
    "local reserved = 0\n"
    "local expired = false\n"
    "for i = 1, #h, 2 do\n"
    "  local f = h[i]\n"
    "  if f == 'spent' then\n"
    "    spent = tonumber(h[i + 1])\n"
    "  elseif string.sub(f, 1, 2) == 'r:' then\n"
    "    local v = h[i + 1]\n"
    "    local sep = string.find(v, ':', 1, true)\n"
    "    local amount = sep and tonumber(string.sub(v, 1, sep - 1))\n"
    "    local expiry = sep and tonumber(string.sub(v, sep + 1))\n"
    "    if not amount or not expiry or expiry <= now then\n"
    "      redis.call('HDEL', KEYS[1], f)\n"
    "      expired = true\n"
    "    else\n"
    "      reserved = reserved + amount\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if expired and spent then\n"
    "  redis.call('HDEL', KEYS[1], 'spent', 'late')\n"
    "  spent = nil\n"
    "end\n"
    "if not spent then return {-1, 0, reserved} end\n"
    "local amount = tonumber(ARGV[2])\n"
    "if spent + reserved + amount > tonumber(ARGV[3]) then return {0, spent, reserved} end\n"
    "redis.call('HSET', KEYS[1], 'r:' .. ARGV[1], ARGV[2] .. ':' .. (now + tonumber(ARGV[4])))\n"
    "redis.call('PEXPIRE', KEYS[1], ARGV[5])\n"
    "return {1, spent, reserved}\n";

/* KEYS[1] the month hash; ARGV the ledger's sum, key ttl ms. Only the first seeder sets it. */
static const char seed_lua[] = "if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then\n"
                               "  local late = redis.call('HGET', KEYS[1], 'late')\n"
                               "  if late then\n"
                               "    redis.call('HINCRBY', KEYS[1], 'spent', late)\n"
                               "    redis.call('HDEL', KEYS[1], 'late')\n"
                               "  end\n"
                               "  redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
                               "  return 1\n"
                               "end\n"
                               "return 0\n";

/* KEYS[1] the month hash; ARGV ticket, cost, key ttl ms. The ledger row is written before this
 * runs, so a seed that reads the ledger afterwards counts it; a cost settled while `spent` is
 * missing waits in `late` for the seed (and the hash, if this made it anew, still expires). */
static const char settle_lua[] =
    "redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])\n"
    "if redis.call('HEXISTS', KEYS[1], 'spent') == 1 then\n"
    "  return redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])\n"
    "end\n"
    "redis.call('HINCRBY', KEYS[1], 'late', ARGV[2])\n"
    "if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end\n"
    "return -1\n";

/* KEYS[1] the month hash; ARGV ticket. */
static const char release_lua[] = "return redis.call('HDEL', KEYS[1], 'r:' .. ARGV[1])\n";

struct llm_budget {
    vx_redis *redis;
    vx_pg_pool *pool;
    int64_t reservation_ttl_ms;
    llm_budget_metrics m;
    vx_redis_script *reserve, *seed, *settle, *release;
};

typedef struct {
    char key[128];
    char id[37];
    char month[8];
    uint64_t amount;
    int64_t reserved_at_ms;
    int64_t started_mono_ms;
} ticket;

static void inc(vx_counter *c)
{
    if (c)
        vx_counter_inc(c);
}

llm_budget *llm_budget_create(vx_redis *redis, vx_pg_pool *pool, int64_t reservation_ttl_ms,
                              const llm_budget_metrics *metrics)
{
    llm_budget *b = vx_xcalloc(1, sizeof *b);
    b->redis = redis;
    b->pool = pool;
    b->reservation_ttl_ms = reservation_ttl_ms;
    if (metrics)
        b->m = *metrics;
    b->reserve = vx_redis_script_create(reserve_lua);
    b->seed = vx_redis_script_create(seed_lua);
    b->settle = vx_redis_script_create(settle_lua);
    b->release = vx_redis_script_create(release_lua);
    return b;
}

void llm_budget_destroy(llm_budget *b)
{
    if (b == NULL)
        return;
    vx_redis_script_destroy(b->reserve);
    vx_redis_script_destroy(b->seed);
    vx_redis_script_destroy(b->settle);
    vx_redis_script_destroy(b->release);
    vx_free(b);
}

/* Records why the budget could not be checked: `what` is unavailable, with the status. */
static void unavailable(llm_budget_req *r, const char *what, vx_status st)
{
    r->unavailable = true;
    snprintf(r->unavailable_why, sizeof r->unavailable_why, "%s is unavailable (%s)", what,
             vx_status_str(st));
    inc(r->budget->m.errors);
}

/* Loads the month's total from the ledger into the hash (if no one else has meanwhile). */
static vx_status seed(llm_budget_req *r, const ticket *t, int64_t key_ttl_ms)
{
    llm_budget *b = r->budget;
    uint64_t spent = 0;
    char err[256] = "";
    vx_status st = llm_store_month_spent(b->pool, r->tenant_id, t->month, &spent, err, sizeof err);
    if (st != VX_OK) {
        vx_log(VX_LOG_WARN, "llm budget: cannot read the ledger", VX_STR("tenant_id", r->tenant_id),
               VX_STR("error", err));
        unavailable(r, "the usage ledger (Postgres)", st);
        return st;
    }
    char spent_s[24], ttl_s[24];
    snprintf(spent_s, sizeof spent_s, "%llu", (unsigned long long)spent);
    snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)key_ttl_ms);
    const char *keys[1] = {t->key};
    const char *args[2] = {spent_s, ttl_s};
    int64_t out[1];
    size_t n = 0;
    st = vx_redis_eval_ints(b->redis, b->seed, keys, 1, args, 2, out, 1, &n, err, sizeof err);
    if (st != VX_OK) {
        unavailable(r, "the budget store (Redis)", st);
        return st;
    }
    inc(b->m.seeds);
    vx_log(VX_LOG_INFO, "llm budget: month seeded from the ledger",
           VX_STR("tenant_id", r->tenant_id), VX_STR("month", t->month),
           VX_INT("spent_micro_usd", spent), VX_BOOL("set", n && out[0]));
    return VX_OK;
}

static vx_status reserve(void *ctx, const vx_llm_estimate *est, void **out)
{
    llm_budget_req *r = ctx;
    llm_budget *b = r->budget;
    ticket *t = vx_xcalloc(1, sizeof *t);
    t->reserved_at_ms = vx_wall_ms();
    t->started_mono_ms = vx_mono_ms();
    llm_budget_month(t->reserved_at_ms, t->month);
    llm_budget_key(r->tenant_id, t->month, t->key, sizeof t->key);
    vx_uuid u;
    vx_uuid_v4(&u);
    vx_uuid_format(&u, t->id);
    /* Above the largest budget means never: keep Lua's numbers exact. */
    t->amount = est->cost_micro_usd > VX_PLAN_LLM_BUDGET_MAX_MICRO
                    ? VX_PLAN_LLM_BUDGET_MAX_MICRO + 1
                    : est->cost_micro_usd;
    int64_t key_ttl_ms = llm_budget_month_left_ms(t->reserved_at_ms) + KEY_GRACE_MS;
    char amount_s[24], limit_s[24], ttl_s[24], key_ttl_s[24];
    snprintf(amount_s, sizeof amount_s, "%llu", (unsigned long long)t->amount);
    snprintf(limit_s, sizeof limit_s, "%llu", (unsigned long long)r->limit_micro);
    snprintf(ttl_s, sizeof ttl_s, "%lld", (long long)b->reservation_ttl_ms);
    snprintf(key_ttl_s, sizeof key_ttl_s, "%lld", (long long)key_ttl_ms);
    const char *keys[1] = {t->key};
    const char *args[5] = {t->id, amount_s, limit_s, ttl_s, key_ttl_s};

    for (int attempt = 0; attempt < 3; attempt++) {
        int64_t res[3] = {0, 0, 0};
        size_t n = 0;
        char why[256] = "";
        vx_status st =
            vx_redis_eval_ints(b->redis, b->reserve, keys, 1, args, 5, res, 3, &n, why, sizeof why);
        if (st != VX_OK || n != 3) {
            if (st == VX_OK)
                st = VX_INTERNAL;
            vx_log(VX_LOG_WARN, "llm budget: cannot reserve; no paid call (fail closed)",
                   VX_STR("tenant_id", r->tenant_id), VX_STR("status", vx_status_str(st)),
                   VX_STR("error", why));
            unavailable(r, "the budget store (Redis)", st);
            vx_free(t);
            return st == VX_LIMIT ? VX_UNAVAILABLE : st;
        }
        if (res[0] == 1) {
            *out = t;
            return VX_OK;
        }
        if (res[0] == 0) {
            r->denied = true;
            r->spent_micro = res[1] > 0 ? (uint64_t)res[1] : 0;
            r->reserved_micro = res[2] > 0 ? (uint64_t)res[2] : 0;
            r->need_micro = t->amount;
            inc(b->m.denials);
            vx_log(VX_LOG_INFO, "llm budget: reservation refused",
                   VX_STR("tenant_id", r->tenant_id), VX_STR("provider", est->provider),
                   VX_INT("need_micro_usd", t->amount), VX_INT("spent_micro_usd", r->spent_micro),
                   VX_INT("reserved_micro_usd", r->reserved_micro),
                   VX_INT("limit_micro_usd", r->limit_micro));
            vx_free(t);
            return VX_LIMIT;
        }
        st = seed(r, t, key_ttl_ms);
        if (st != VX_OK) {
            vx_free(t);
            return st;
        }
    }
    unavailable(r, "the budget total", VX_CONFLICT);
    vx_free(t);
    return VX_UNAVAILABLE;
}

static void ledger(llm_budget_req *r, const ticket *t, const vx_llm_estimate *est,
                   uint64_t in_tokens, uint64_t out_tokens, uint64_t cost, int64_t latency_ms,
                   const char *outcome)
{
    llm_usage_row row = {.tenant_id = r->tenant_id,
                         .reserved_at_ms = t->reserved_at_ms,
                         .provider = est->provider,
                         .model = est->model,
                         .input_tokens = in_tokens,
                         .output_tokens = out_tokens,
                         .cost_micro_usd = cost,
                         .latency_ms = latency_ms,
                         .outcome = outcome,
                         .request_id = r->request_id,
                         .trace_id = r->trace_id};
    char err[256] = "";
    vx_status st = llm_store_usage(r->budget->pool, &row, err, sizeof err);
    if (st != VX_OK) {
        inc(r->budget->m.ledger_errors);
        vx_log(VX_LOG_ERROR, "llm budget: usage ledger row not written",
               VX_STR("tenant_id", r->tenant_id), VX_STR("provider", est->provider),
               VX_INT("cost_micro_usd", cost), VX_STR("outcome", outcome), VX_STR("error", err));
    }
}

static void settle(void *ctx, void *tk, const vx_llm_estimate *est, const vx_llm_usage *usage)
{
    llm_budget_req *r = ctx;
    ticket *t = tk;
    if (usage->unknown) {
        inc(r->budget->m.settled_unknown);
        vx_log(VX_LOG_WARN, "llm budget: call sent but unanswered; charged at the reserved maximum",
               VX_STR("tenant_id", r->tenant_id), VX_STR("provider", est->provider),
               VX_STR("outcome", vx_llm_outcome_str(usage->outcome)),
               VX_INT("cost_micro_usd", usage->cost_micro_usd), VX_STR("trace_id", r->trace_id));
    }
    /* The ledger first: it is the source of truth a later seed reads. */
    ledger(r, t, est, usage->input_tokens, usage->output_tokens, usage->cost_micro_usd,
           usage->latency_ms, vx_llm_outcome_str(usage->outcome));
    char cost_s[24];
    uint64_t cost = usage->cost_micro_usd > VX_PLAN_LLM_BUDGET_MAX_MICRO
                        ? VX_PLAN_LLM_BUDGET_MAX_MICRO + 1
                        : usage->cost_micro_usd;
    snprintf(cost_s, sizeof cost_s, "%llu", (unsigned long long)cost);
    char key_ttl_s[24];
    snprintf(key_ttl_s, sizeof key_ttl_s, "%lld",
             (long long)(llm_budget_month_left_ms(t->reserved_at_ms) + KEY_GRACE_MS));
    const char *keys[1] = {t->key};
    const char *args[3] = {t->id, cost_s, key_ttl_s};
    int64_t res[1];
    size_t n = 0;
    char why[256] = "";
    vx_status st = vx_redis_eval_ints(r->budget->redis, r->budget->settle, keys, 1, args, 3, res, 1,
                                      &n, why, sizeof why);
    if (st != VX_OK) {
        /* The reservation stays until it expires; then the month is recounted from the
         * ledger, which has this call. */
        inc(r->budget->m.settle_errors);
        vx_log(VX_LOG_WARN, "llm budget: settle not recorded in Redis; the ledger has it",
               VX_STR("tenant_id", r->tenant_id), VX_STR("status", vx_status_str(st)),
               VX_STR("error", why));
    }
    vx_free(t);
}

static void release(void *ctx, void *tk, const vx_llm_estimate *est, vx_llm_outcome why_out)
{
    llm_budget_req *r = ctx;
    ticket *t = tk;
    const char *keys[1] = {t->key};
    const char *args[1] = {t->id};
    int64_t res[1];
    size_t n = 0;
    char why[256] = "";
    vx_status st = vx_redis_eval_ints(r->budget->redis, r->budget->release, keys, 1, args, 1, res,
                                      1, &n, why, sizeof why);
    if (st != VX_OK) {
        inc(r->budget->m.settle_errors);
        vx_log(VX_LOG_WARN, "llm budget: release not recorded in Redis; it expires by itself",
               VX_STR("tenant_id", r->tenant_id), VX_STR("status", vx_status_str(st)),
               VX_STR("error", why));
    }
    ledger(r, t, est, 0, 0, 0, vx_mono_ms() - t->started_mono_ms, vx_llm_outcome_str(why_out));
    vx_free(t);
}

vx_llm_budget llm_budget_hooks(llm_budget_req *r)
{
    return (vx_llm_budget){.reserve = reserve, .settle = settle, .release = release, .ctx = r};
}
