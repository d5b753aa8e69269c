/* One limiter per libuv loop: an async hiredis connection that reconnects with backoff, the GCRA
 * script by EVALSHA (EVAL on NOSCRIPT) under one deadline timer for all checks in flight, and
 * the breaker-guarded switch to the process's fallback table. Checks started during one turn
 * of the loop are sent together, as one script call over all their keys (in order, so checks
 * of one tenant see each other), right after the loop's poll phase: still one atomic round
 * trip per request, but one script run per batch instead of per request. */
#include "limiter_internal.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <hiredis/adapters/libuv.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct pending pending;
typedef struct batch batch;

#define RL_BATCH_MAX 128 /* checks per script call */

/* A check waiting for Redis. hiredis owns it as a command's privdata: every command sent gets
 * exactly one reply callback (a reply, or NULL when the connection is freed), which ends it. */
struct pending {
    pending *prev, *next; /* in the limiter's in-flight list, oldest first */
    vx_ratelimit *rl;
    vx_rl_cb cb;
    void *ctx;
    vx_plan_category cat;
    vx_plan_rate lim;
    int64_t cost;
    uint64_t deadline_ms; /* loop time */
    size_t key_len;
    char key[RL_KEY_MAX];
};

struct vx_ratelimit {
    uv_loop_t *loop;
    vx_ratelimit_shared *s;
    redisAsyncContext *ac; /* NULL while waiting to reconnect */
    bool connected;
    bool closing;
    bool error_logged; /* one warning per connection for unexpected replies */
    int drop_reason;   /* what NULL replies count as while a connection is being freed */
    int64_t backoff_ms;
    int open_handles;
    uv_timer_t cmd_timer, connect_timer, reconnect_timer;
    uv_check_t flush;             /* sends the queued checks after each poll phase */
    uv_idle_t wake;               /* active while checks are queued, so that poll does not block */
    pending *head, *tail;         /* sent, waiting for Redis, oldest first */
    pending *queue[RL_BATCH_MAX]; /* started this turn, not sent yet */
    int n_queued;
};

/* Checks sent in one script call. hiredis owns it as the command's privdata: every command
 * sent gets exactly one reply callback (a reply, or NULL when the connection is freed). */
struct batch {
    vx_ratelimit *rl;
    bool retried; /* already re-sent as EVAL after NOSCRIPT */
    int n;
    pending *items[];
};

static void connect_redis(vx_ratelimit *rl);
static void on_cmd_timer(uv_timer_t *t);

static void on_reconnect_timer(uv_timer_t *t)
{
    connect_redis(t->data);
}

static void list_append(vx_ratelimit *rl, pending *p)
{
    p->next = NULL;
    p->prev = rl->tail;
    if (rl->tail)
        rl->tail->next = p;
    else
        rl->head = p;
    rl->tail = p;
}

static void list_remove(vx_ratelimit *rl, pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        rl->head = p->next;
    if (p->next)
        p->next->prev = p->prev;
    else
        rl->tail = p->prev;
    p->prev = p->next = NULL;
}

static void schedule_reconnect(vx_ratelimit *rl)
{
    if (rl->closing)
        return;
    uv_timer_start(&rl->reconnect_timer, on_reconnect_timer, (uint64_t)rl->backoff_ms, 0);
    rl->backoff_ms *= 2;
    if (rl->backoff_ms > rl->s->cfg.reconnect_max_ms)
        rl->backoff_ms = rl->s->cfg.reconnect_max_ms;
}

/* Frees the connection; every command in flight gets its NULL reply (counted as `reason`)
 * before this returns, unless called from inside a hiredis callback, where hiredis defers it. */
static void drop_connection(vx_ratelimit *rl, int reason)
{
    redisAsyncContext *ac = rl->ac;
    if (ac == NULL)
        return;
    rl->ac = NULL;
    rl->connected = false;
    uv_timer_stop(&rl->connect_timer);
    rl->drop_reason = reason;
    redisAsyncFree(ac);
    rl->drop_reason = RL_ERR_DISCONNECTED;
    schedule_reconnect(rl);
}

/* hiredis is freeing `ac` on its own (error, EOF, failed connect). */
static void connection_lost(vx_ratelimit *rl, const redisAsyncContext *ac)
{
    if (rl->ac != ac)
        return;
    rl->ac = NULL;
    rl->connected = false;
    uv_timer_stop(&rl->connect_timer);
    schedule_reconnect(rl);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    vx_ratelimit *rl = ac->data;
    if (rl->ac != ac)
        return;
    if (status != REDIS_OK) {
        vx_log(VX_LOG_DEBUG, "rate limiter: redis connect failed", VX_STR("error", ac->errstr));
        connection_lost(rl, ac);
        return;
    }
    rl->connected = true;
    rl->error_logged = false;
    rl->backoff_ms = rl->s->cfg.reconnect_min_ms;
    uv_timer_stop(&rl->connect_timer);
    vx_logm(VX_LOG_DEBUG, "rate limiter: redis connected");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    vx_ratelimit *rl = ac->data;
    vx_log(VX_LOG_DEBUG, "rate limiter: redis disconnected", VX_STR("error", ac->errstr));
    connection_lost(rl, ac);
}

/* Replies to AUTH, SELECT and SCRIPT LOAD. */
static void on_setup_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    vx_ratelimit *rl = priv;
    const redisReply *r = reply;
    if (r == NULL) {
        connection_lost(rl, ac);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        vx_log(VX_LOG_WARN, "rate limiter: redis refused connection setup",
               VX_STR("error", r->str));
        if (rl->ac == ac)
            drop_connection(rl, RL_ERR_ERROR);
    } else if (r->type == REDIS_REPLY_STRING && r->len == 40 &&
               memcmp(r->str, rl->s->script_sha, 40) != 0) {
        vx_log(VX_LOG_ERROR, "rate limiter: redis script digest differs",
               VX_STR("expected", rl->s->script_sha));
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    vx_ratelimit *rl = t->data;
    if (rl->ac != NULL && !rl->connected) {
        vx_logm(VX_LOG_DEBUG, "rate limiter: redis connect timed out");
        drop_connection(rl, RL_ERR_TIMEOUT);
    }
}

static void connect_redis(vx_ratelimit *rl)
{
    const vx_ratelimit_shared *s = rl->s;
    redisAsyncContext *ac = redisAsyncConnect(s->host, s->port);
    if (ac == NULL || ac->err) {
        vx_log(VX_LOG_DEBUG, "rate limiter: redis connect failed",
               VX_STR("error", ac ? ac->errstr : "out of memory"));
        if (ac)
            redisAsyncFree(ac);
        schedule_reconnect(rl);
        return;
    }
    ac->data = rl;
    if (redisLibuvAttach(ac, rl->loop) != REDIS_OK) {
        redisAsyncFree(ac);
        schedule_reconnect(rl);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rl->ac = ac;
    rl->connected = false;
    /* Sent ahead of any check on this connection; Redis answers in order. */
    if (s->password != NULL && s->user != NULL)
        redisAsyncCommand(ac, on_setup_reply, rl, "AUTH %s %s", s->user, s->password);
    else if (s->password != NULL)
        redisAsyncCommand(ac, on_setup_reply, rl, "AUTH %s", s->password);
    if (s->db != 0)
        redisAsyncCommand(ac, on_setup_reply, rl, "SELECT %d", s->db);
    redisAsyncCommand(ac, on_setup_reply, rl, "SCRIPT LOAD %s", vx_rl_script);
    uv_timer_start(&rl->connect_timer, on_connect_timeout, (uint64_t)s->cfg.connect_timeout_ms, 0);
}

/* Delivers a decision and ends the check. */
static void finish(pending *p, const vx_rl_decision *d)
{
    p->cb(p->ctx, d);
    vx_free(p);
}

static void note_failure(vx_ratelimit_shared *s, int reason)
{
    int64_t now = vx_mono_ms();
    vx_breaker_record(s->breaker, false, now);
    vx_rl_count_error(s, reason);
    vx_rl_note_breaker(s, now);
}

/* Redis did not decide: the fallback table does (or, while destroying, nobody does). */
static void fail(pending *p, int reason)
{
    vx_ratelimit *rl = p->rl;
    vx_rl_decision d = {.status = VX_CLOSED, .category = p->cat};
    if (!rl->closing) {
        note_failure(rl->s, reason);
        vx_rl_decide_local(rl->s, p->key, p->key_len, p->cat, &p->lim, p->cost, &d);
    }
    finish(p, &d);
}

static bool send_batch(redisAsyncContext *ac, batch *b, bool full);

/* Turns element i of the script's reply, {allowed, stored, now, tat_after} per check, into a
 * decision. The pure GCRA re-derives it from stored and now; a disagreement would mean the two
 * copies of the arithmetic differ. */
static bool parse_reply(vx_ratelimit *rl, const redisReply *r, int i, pending *p, vx_rl_decision *d)
{
    const redisReply *const *e = (const redisReply *const *)r->element + 4 * i;
    for (size_t k = 0; k < 4; k++)
        if (e[k]->type != REDIS_REPLY_INTEGER)
            return false;
    bool allowed = e[0]->integer == 1;
    vx_rl_gcra_result g;
    if (vx_rl_gcra(e[1]->integer, e[2]->integer, &p->lim, p->cost, &g) != VX_OK)
        return false;
    if (g.allowed != allowed || g.tat_us != e[3]->integer) {
        vx_rl_count_error(rl->s, RL_ERR_MISMATCH);
        vx_log(VX_LOG_ERROR, "rate limiter: redis script and local arithmetic disagree",
               VX_INT("stored_tat_us", e[1]->integer), VX_INT("now_us", e[2]->integer),
               VX_BOOL("redis_allowed", allowed));
        g.allowed = allowed; /* Redis stored what it decided */
    }
    *d = (vx_rl_decision){
        .status = VX_OK,
        .allowed = g.allowed,
        .source = VX_RL_SOURCE_REDIS,
        .category = p->cat,
        .limit = p->lim,
        .remaining = g.remaining,
        .reset_ms = g.reset_ms,
        .retry_after_ms = g.retry_after_ms,
    };
    return true;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    batch *b = priv;
    vx_ratelimit *rl = b->rl;
    const redisReply *r = reply;
    if (r == NULL) {
        connection_lost(rl, ac);
        for (int i = 0; i < b->n; i++) {
            list_remove(rl, b->items[i]);
            fail(b->items[i], rl->drop_reason);
        }
        vx_free(b);
        return;
    }
    /* The script cache was flushed (or this is a new server): send the text, which loads it. */
    if (r->type == REDIS_REPLY_ERROR && !b->retried && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        rl->ac == ac) {
        b->retried = true;
        if (send_batch(ac, b, true))
            return;
    }
    bool shape_ok = r->type == REDIS_REPLY_ARRAY && r->elements == 4 * (size_t)b->n;
    vx_ratelimit_shared *s = rl->s;
    for (int i = 0; i < b->n; i++) {
        pending *p = b->items[i];
        list_remove(rl, p);
        vx_rl_decision d;
        if (!shape_ok || !parse_reply(rl, r, i, p, &d)) {
            if (!rl->error_logged) {
                rl->error_logged = true;
                vx_log(VX_LOG_WARN, "rate limiter: unexpected redis reply",
                       VX_STR("error", r->type == REDIS_REPLY_ERROR ? r->str : "bad reply shape"));
            }
            fail(p, RL_ERR_ERROR);
            continue;
        }
        int64_t now = vx_mono_ms();
        vx_breaker_record(s->breaker, true, now);
        if (atomic_load_explicit(&s->fallback_logged, memory_order_relaxed))
            vx_rl_note_breaker(s, now);
        vx_rl_count_decision(s, &d);
        finish(p, &d);
    }
    vx_free(b);
}

/* EVALSHA sha|EVAL script, n keys, then interval, limit, cost per check. */
static bool send_batch(redisAsyncContext *ac, batch *b, bool full)
{
    int argc = 3 + 4 * b->n;
    const char *argv[3 + 4 * RL_BATCH_MAX];
    size_t lens[3 + 4 * RL_BATCH_MAX];
    char nums[3 * RL_BATCH_MAX][24], nkeys[16];
    snprintf(nkeys, sizeof nkeys, "%d", b->n);
    argv[0] = full ? "EVAL" : "EVALSHA";
    argv[1] = full ? vx_rl_script : b->rl->s->script_sha;
    argv[2] = nkeys;
    for (int i = 0; i < b->n; i++) {
        const pending *p = b->items[i];
        argv[3 + i] = p->key;
        snprintf(nums[3 * i], sizeof nums[0], "%" PRId64, vx_rl_interval_us(&p->lim));
        snprintf(nums[3 * i + 1], sizeof nums[0], "%" PRId64, p->lim.limit);
        snprintf(nums[3 * i + 2], sizeof nums[0], "%" PRId64, p->cost);
        for (int k = 0; k < 3; k++)
            argv[3 + b->n + 3 * i + k] = nums[3 * i + k];
    }
    for (int i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    return redisAsyncCommandArgv(ac, on_reply, b, argc, argv, lens) == REDIS_OK;
}

/* Sends the queued checks as one batch; if there is no connection, or sending fails, the
 * fallback table decides them now. */
static void flush_queue(vx_ratelimit *rl)
{
    int n = rl->n_queued;
    if (n == 0)
        return;
    rl->n_queued = 0;
    uv_idle_stop(&rl->wake);
    batch *b = vx_xmalloc(sizeof *b + (size_t)n * sizeof b->items[0]);
    b->rl = rl;
    b->retried = false;
    b->n = n;
    memcpy(b->items, rl->queue, (size_t)n * sizeof b->items[0]);
    if (rl->ac == NULL || !send_batch(rl->ac, b, false)) {
        int reason = rl->ac == NULL ? RL_ERR_DISCONNECTED : RL_ERR_ERROR;
        for (int i = 0; i < n; i++)
            fail(b->items[i], reason);
        vx_free(b);
        return;
    }
    uint64_t deadline = uv_now(rl->loop) + (uint64_t)rl->s->cfg.command_timeout_ms;
    for (int i = 0; i < n; i++) {
        b->items[i]->deadline_ms = deadline;
        list_append(rl, b->items[i]);
    }
    if (!uv_is_active((uv_handle_t *)&rl->cmd_timer))
        uv_timer_start(&rl->cmd_timer, on_cmd_timer, (uint64_t)rl->s->cfg.command_timeout_ms, 0);
}

static void on_flush(uv_check_t *h)
{
    flush_queue(h->data);
}

static void on_wake(uv_idle_t *h)
{
    (void)h; /* its being active is what matters: poll does not wait */
}

/* The oldest check in flight decides when this fires; past its deadline, the connection is
 * presumed stuck (hiredis 0.14 has no timeouts) and renewed, deciding every waiting check
 * locally. */
static void on_cmd_timer(uv_timer_t *t)
{
    vx_ratelimit *rl = t->data;
    if (rl->head == NULL)
        return;
    uint64_t now = uv_now(rl->loop);
    if (rl->head->deadline_ms <= now) {
        vx_log(VX_LOG_DEBUG, "rate limiter: redis timed out, reconnecting",
               VX_INT("timeout_ms", rl->s->cfg.command_timeout_ms));
        drop_connection(rl, RL_ERR_TIMEOUT);
        return;
    }
    uv_timer_start(t, on_cmd_timer, rl->head->deadline_ms - now, 0);
}

static vx_status start_check(vx_ratelimit *rl, const char *tenant, vx_plan_category cat,
                             const vx_plan_rate *lim, int64_t cost, vx_rl_cb cb, void *ctx)
{
    if (rl == NULL || cb == NULL || !vx_rl_limit_valid(lim))
        return VX_INVALID;
    if (rl->closing)
        return VX_CLOSED;
    char key[RL_KEY_MAX];
    size_t key_len = vx_rl_make_key(rl->s, cat, tenant, key);
    if (key_len == 0)
        return VX_INVALID;
    vx_ratelimit_shared *s = rl->s;
    vx_rl_decision d;
    if (!vx_breaker_allow(s->breaker, vx_mono_ms())) {
        vx_rl_note_breaker(s, vx_mono_ms());
        vx_rl_decide_local(s, key, key_len, cat, lim, cost, &d);
        cb(ctx, &d);
        return VX_OK;
    }
    if (rl->ac == NULL) {
        note_failure(s, RL_ERR_DISCONNECTED);
        vx_rl_decide_local(s, key, key_len, cat, lim, cost, &d);
        cb(ctx, &d);
        return VX_OK;
    }
    pending *p = vx_xmalloc(sizeof *p);
    *p = (pending){
        .rl = rl, .cb = cb, .ctx = ctx, .cat = cat, .lim = *lim, .cost = cost, .key_len = key_len};
    memcpy(p->key, key, key_len + 1);
    if (rl->n_queued == 0)
        uv_idle_start(&rl->wake, on_wake);
    rl->queue[rl->n_queued++] = p;
    if (rl->n_queued == RL_BATCH_MAX)
        flush_queue(rl);
    return VX_OK;
}

vx_status vx_ratelimit_check(vx_ratelimit *rl, const char *tenant, vx_plan_category cat,
                             const vx_plan_rate *lim, vx_rl_cb cb, void *ctx)
{
    return start_check(rl, tenant, cat, lim, 1, cb, ctx);
}

vx_status vx_ratelimit_peek(vx_ratelimit *rl, const char *tenant, vx_plan_category cat,
                            const vx_plan_rate *lim, vx_rl_cb cb, void *ctx)
{
    return start_check(rl, tenant, cat, lim, 0, cb, ctx);
}

vx_status vx_ratelimit_create(uv_loop_t *loop, vx_ratelimit_shared *shared, vx_ratelimit **out)
{
    if (loop == NULL || shared == NULL || out == NULL)
        return VX_INVALID;
    vx_ratelimit *rl = vx_xcalloc(1, sizeof *rl);
    rl->loop = loop;
    rl->s = shared;
    rl->backoff_ms = shared->cfg.reconnect_min_ms;
    rl->drop_reason = RL_ERR_DISCONNECTED;
    uv_timer_t *timers[3] = {&rl->cmd_timer, &rl->connect_timer, &rl->reconnect_timer};
    for (int i = 0; i < 3; i++) {
        uv_timer_init(loop, timers[i]);
        timers[i]->data = rl;
    }
    uv_check_init(loop, &rl->flush);
    rl->flush.data = rl;
    uv_check_start(&rl->flush, on_flush);
    /* the check handle alone must not keep the loop running */
    uv_unref((uv_handle_t *)&rl->flush);
    uv_idle_init(loop, &rl->wake);
    rl->wake.data = rl;
    rl->open_handles = 5;
    connect_redis(rl);
    *out = rl;
    return VX_OK;
}

static void on_handle_closed(uv_handle_t *h)
{
    vx_ratelimit *rl = h->data;
    if (--rl->open_handles == 0)
        vx_free(rl);
}

void vx_ratelimit_destroy(vx_ratelimit *rl)
{
    if (rl == NULL)
        return;
    rl->closing = true;
    /* checks not sent yet end now, with VX_CLOSED, like those waiting for Redis */
    for (int i = 0; i < rl->n_queued; i++)
        fail(rl->queue[i], RL_ERR_DISCONNECTED);
    rl->n_queued = 0;
    redisAsyncContext *ac = rl->ac;
    rl->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* each waiting check's callback runs now, with VX_CLOSED */
    uv_close((uv_handle_t *)&rl->cmd_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rl->connect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rl->reconnect_timer, on_handle_closed);
    uv_close((uv_handle_t *)&rl->flush, on_handle_closed);
    uv_close((uv_handle_t *)&rl->wake, on_handle_closed);
}
