/* The client: configuration, the pool of blocking hiredis connections (made lazily, AUTH and
 * SELECT on connect, closed after any failure), the breaker around every command, and the
 * metrics. The commands themselves are in commands.c. */
#include "redis_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define POOL_MAX 1024
#define TIMEOUT_MAX_MS (3600 * 1000)

void vx_redis_config_init(vx_redis_config *c)
{
    memset(c, 0, sizeof *c);
    c->pool_size = 4;
    c->connect_timeout_ms = 500;
    c->command_timeout_ms = 250;
    c->breaker = vx_breaker_defaults();
}

static bool metric_name_ok(const char *s)
{
    if (s[0] == '\0' || strlen(s) > 64 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || *p == ':'))
            return false;
    return true;
}

static void register_metrics(vx_redis *r, vx_metrics *m, const char *prefix)
{
    static const char *const names[REDIS_OUT_COUNT] = {"ok", "error", "timeout", "unavailable",
                                                       "refused"};
    char name[128], labels[64];
    snprintf(name, sizeof name, "%s_redis_commands_total", prefix);
    for (int i = 0; i < REDIS_OUT_COUNT; i++) {
        snprintf(labels, sizeof labels, "outcome=\"%s\"", names[i]);
        r->outcomes[i] = vx_metrics_counter(
            m, name, "Redis commands by outcome (refused: the breaker was open, nothing was sent)",
            labels);
    }
    snprintf(name, sizeof name, "%s_redis_breaker_open", prefix);
    r->breaker_open =
        vx_metrics_gauge(m, name, "1 while the Redis breaker is not closed, else 0", NULL);
}

vx_status vx_redis_create(const vx_redis_config *cfg, vx_redis **out, char *why, size_t why_cap)
{
    if (cfg == NULL || out == NULL) {
        vx_errf(why, why_cap, "no configuration");
        return VX_INVALID;
    }
    if (cfg->pool_size < 1 || cfg->pool_size > POOL_MAX) {
        vx_errf(why, why_cap, "pool_size must be from 1 to %d", POOL_MAX);
        return VX_INVALID;
    }
    if (cfg->connect_timeout_ms <= 0 || cfg->connect_timeout_ms > TIMEOUT_MAX_MS ||
        cfg->command_timeout_ms <= 0 || cfg->command_timeout_ms > TIMEOUT_MAX_MS) {
        vx_errf(why, why_cap, "timeouts must be from 1 ms to 1 h");
        return VX_INVALID;
    }
    if (cfg->metrics_prefix != NULL && !metric_name_ok(cfg->metrics_prefix)) {
        vx_errf(why, why_cap, "bad metrics prefix");
        return VX_INVALID;
    }
    vx_redis_url url;
    vx_status st = vx_redis_url_parse(cfg->url, &url, why, why_cap);
    if (st != VX_OK)
        return st;
    vx_redis *r = vx_xcalloc(1, sizeof *r);
    r->url = url;
    snprintf(r->where, sizeof r->where, "%s:%d/%d", url.host, url.port, url.db);
    r->pool_size = cfg->pool_size;
    r->connect_timeout_ms = cfg->connect_timeout_ms;
    r->command_timeout_ms = cfg->command_timeout_ms;
    r->slots = vx_xcalloc((size_t)cfg->pool_size, sizeof *r->slots);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cond, NULL);
    r->breaker = vx_breaker_create("redis", &cfg->breaker);
    atomic_init(&r->last_ok, true);
    atomic_init(&r->down, 0);
    if (cfg->metrics_prefix != NULL && cfg->metrics != NULL)
        register_metrics(r, cfg->metrics, cfg->metrics_prefix);
    *out = r;
    return VX_OK;
}

void vx_redis_destroy(vx_redis *r)
{
    if (r == NULL)
        return;
    for (int i = 0; i < r->pool_size; i++)
        if (r->slots[i].ctx != NULL)
            redisFree(r->slots[i].ctx);
    vx_free(r->slots);
    vx_breaker_destroy(r->breaker);
    vx_redis_url_cleanup(&r->url);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->mu);
    vx_free(r);
}

bool vx_redis_healthy(vx_redis *r)
{
    return r != NULL && atomic_load(&r->last_ok) &&
           vx_breaker_state_at(r->breaker, vx_mono_ms()) == VX_BREAKER_CLOSED;
}

void redis_count(vx_redis *r, int outcome)
{
    if (r->outcomes[outcome] != NULL)
        vx_counter_inc(r->outcomes[outcome]);
}

static struct timeval tv_of(int64_t ms)
{
    return (struct timeval){.tv_sec = (time_t)(ms / 1000),
                            .tv_usec = (suseconds_t)(ms % 1000) * 1000};
}

/* Logs once when Redis becomes unreachable and once when it answers again. */
static void note_state(vx_redis *r, bool ok, const char *why)
{
    int down = ok ? 0 : 1;
    if (atomic_exchange(&r->down, down) == down)
        return;
    if (down)
        vx_log(VX_LOG_WARN, "redis unreachable", VX_STR("redis", r->where), VX_STR("error", why));
    else
        vx_log(VX_LOG_INFO, "redis reachable again", VX_STR("redis", r->where));
}

/* A command at connect time (AUTH, SELECT); false with why unless Redis said OK. */
static bool setup_command(redisContext *c, int argc, const char **argv, char *why, size_t cap)
{
    redisReply *rep = redisCommandArgv(c, argc, argv, NULL);
    if (rep == NULL) {
        vx_errf(why, cap, "%s: %s", argv[0], c->errstr[0] ? c->errstr : "connection lost");
        return false;
    }
    bool ok = rep->type == REDIS_REPLY_STATUS;
    if (!ok)
        vx_errf(why, cap, "%s refused: %.*s", argv[0],
                rep->type == REDIS_REPLY_ERROR ? (int)rep->len : 0,
                rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    freeReplyObject(rep);
    return ok;
}

static redisContext *connect_one(vx_redis *r, char *why, size_t cap)
{
    redisContext *c =
        redisConnectWithTimeout(r->url.host, r->url.port, tv_of(r->connect_timeout_ms));
    if (c == NULL) {
        vx_errf(why, cap, "cannot allocate a connection");
        return NULL;
    }
    if (c->err) {
        vx_errf(why, cap, "connect: %s", c->errstr);
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv_of(r->command_timeout_ms)) != REDIS_OK) {
        vx_errf(why, cap, "cannot set the command timeout");
        redisFree(c);
        return NULL;
    }
    redisEnableKeepAlive(c);
    if (r->url.password != NULL) {
        const char *auth[3] = {"AUTH", r->url.user ? r->url.user : r->url.password,
                               r->url.password};
        if (!setup_command(c, r->url.user ? 3 : 2, auth, why, cap))
            goto fail;
    }
    if (r->url.db != 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", r->url.db);
        const char *sel[2] = {"SELECT", db};
        if (!setup_command(c, 2, sel, why, cap))
            goto fail;
    }
    return c;
fail:
    redisFree(c);
    return NULL;
}

/* Takes a free slot, waiting at most until deadline_ms (monotonic); NULL on timeout. Slots
 * with an open connection are preferred. */
static redis_slot *slot_take(vx_redis *r, int64_t deadline_ms)
{
    pthread_mutex_lock(&r->mu);
    redis_slot *got = NULL;
    for (;;) {
        for (int i = 0; i < r->pool_size; i++) {
            redis_slot *s = &r->slots[i];
            if (s->busy)
                continue;
            if (got == NULL || (got->ctx == NULL && s->ctx != NULL))
                got = s;
        }
        if (got != NULL)
            break;
        int64_t left = deadline_ms - vx_mono_ms();
        if (left <= 0)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += (time_t)(left / 1000);
        ts.tv_nsec += (long)(left % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&r->cond, &r->mu, &ts);
    }
    if (got != NULL)
        got->busy = true;
    pthread_mutex_unlock(&r->mu);
    return got;
}

static void slot_give(vx_redis *r, redis_slot *s)
{
    pthread_mutex_lock(&r->mu);
    s->busy = false;
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->mu);
}

static void note_breaker(vx_redis *r, int64_t now_ms)
{
    if (r->breaker_open != NULL)
        vx_gauge_set(r->breaker_open,
                     vx_breaker_state_at(r->breaker, now_ms) == VX_BREAKER_CLOSED ? 0 : 1);
}

vx_status redis_run(vx_redis *r, int argc, const char **argv, const size_t *lens, bool retry_stale,
                    const char *quiet_error, redisReply **reply, char *why, size_t why_cap)
{
    int64_t now = vx_mono_ms();
    /* An open breaker costs nothing: no slot, no connection attempt. */
    if (vx_breaker_state_at(r->breaker, now) == VX_BREAKER_OPEN) {
        redis_count(r, REDIS_OUT_REFUSED);
        note_breaker(r, now);
        vx_errf(why, why_cap, "redis breaker open (%s)", r->where);
        return VX_UNAVAILABLE;
    }
    redis_slot *s = slot_take(r, now + r->connect_timeout_ms + r->command_timeout_ms);
    if (s == NULL) {
        redis_count(r, REDIS_OUT_TIMEOUT);
        vx_errf(why, why_cap, "every redis connection stayed busy");
        return VX_TIMEOUT;
    }
    if (!vx_breaker_allow(r->breaker, vx_mono_ms())) {
        slot_give(r, s);
        redis_count(r, REDIS_OUT_REFUSED);
        vx_errf(why, why_cap, "redis breaker open (%s)", r->where);
        return VX_UNAVAILABLE;
    }
    char err[256] = "";
    vx_status st = VX_UNAVAILABLE;
    redisReply *rep = NULL;
    for (int attempt = 0; attempt < (retry_stale ? 2 : 1); attempt++) {
        bool fresh = false;
        if (s->ctx == NULL) {
            s->ctx = connect_one(r, err, sizeof err);
            if (s->ctx == NULL) {
                st = VX_UNAVAILABLE;
                break;
            }
            fresh = true;
        }
        errno = 0;
        rep = redisCommandArgv(s->ctx, argc, argv, lens);
        if (rep != NULL) {
            st = VX_OK;
            break;
        }
        int e = errno;
        bool timed_out = s->ctx->err == REDIS_ERR_IO && (e == EAGAIN || e == EWOULDBLOCK);
        snprintf(err, sizeof err, "%s",
                 timed_out           ? "command timed out"
                 : s->ctx->errstr[0] ? s->ctx->errstr
                                     : "connection lost");
        redisFree(s->ctx);
        s->ctx = NULL;
        st = timed_out ? VX_TIMEOUT : VX_UNAVAILABLE;
        /* A pooled connection Redis closed while it sat idle fails on first use; one more try
         * on a new connection tells that apart from Redis being down. */
        if (timed_out || fresh)
            break;
    }
    int64_t end = vx_mono_ms();
    vx_breaker_record(r->breaker, st == VX_OK, end);
    slot_give(r, s);
    atomic_store(&r->last_ok, st == VX_OK);
    note_state(r, st == VX_OK, err);
    note_breaker(r, end);
    if (st != VX_OK) {
        redis_count(r, st == VX_TIMEOUT ? REDIS_OUT_TIMEOUT : REDIS_OUT_UNAVAILABLE);
        vx_errf(why, why_cap, "redis %s: %s", r->where, err);
        return st;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        if (quiet_error == NULL || strncmp(rep->str, quiet_error, strlen(quiet_error)) != 0)
            redis_count(r, REDIS_OUT_ERROR);
    } else {
        redis_count(r, REDIS_OUT_OK);
    }
    *reply = rep;
    return VX_OK;
}
