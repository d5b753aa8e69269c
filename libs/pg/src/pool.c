/* The connection pool: `size` connections kept, up to `overflow` more opened under load and
 * closed on release, a ping before every reuse, recycling of old connections, and a wait on a
 * condition variable (bounded by acquire_timeout_ms) when every slot is taken. */
#include "vx/pg.h"

#include "pg_internal.h"
#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

typedef struct {
    PGconn *conn;
    int64_t opened_ms;
} pooled;

struct vx_pg_pool {
    pthread_mutex_t mu;
    pthread_cond_t freed; /* a connection came back or a slot was given up */
    vx_pg_config cfg;     /* dsn and application_name point at the copies below */
    char *dsn;
    char *app_name;
    char *options; /* the DSN's own options plus our statement_timeout */
    char connect_timeout_s[24];
    char tcp_user_timeout_ms[24]; /* statement_timeout + 10 s: a silent network fails in time */
    int cap;                      /* size + overflow */
    pooled *idle;
    int n_idle;
    pooled *busy; /* checked out, so release can find each connection's age */
    int n_busy;
    int reserved; /* slots taken by acquires still pinging or connecting */
    uint64_t opened;
    uint64_t failed;
    char last_err[256];
};

vx_pg_config vx_pg_defaults(void)
{
    return (vx_pg_config){
        .dsn = NULL,
        .application_name = NULL,
        .size = 10,
        .overflow = 20,
        .recycle_ms = 300000,
        .statement_timeout_ms = 5000,
        .acquire_timeout_ms = 5000,
        .connect_timeout_ms = 5000,
    };
}

void vx_pg_config_from_env(vx_pg_config *out)
{
    *out = vx_pg_defaults();
    out->dsn = vx_env_str("VX_PG_DSN", NULL);
    if (!out->dsn)
        vx_config_fail("VX_PG_DSN", "not set (the stack writes it to .run/env)");
    out->size = (int)vx_env_int("VX_PG_POOL_SIZE", out->size, 1, 1000);
    out->overflow = (int)vx_env_int("VX_PG_POOL_OVERFLOW", out->overflow, 0, 1000);
    out->recycle_ms = vx_env_duration_ms("VX_PG_RECYCLE", out->recycle_ms, 1000, 86400000);
    out->statement_timeout_ms =
        vx_env_duration_ms("VX_PG_STATEMENT_TIMEOUT", out->statement_timeout_ms, 10, 3600000);
    out->acquire_timeout_ms =
        vx_env_duration_ms("VX_PG_ACQUIRE_TIMEOUT", out->acquire_timeout_ms, 10, 3600000);
}

/* The `options` connection parameter of the DSN followed by our statement_timeout (the last -c
 * of a setting wins, so ours overrides one given in the DSN). NULL if the DSN does not parse. */
static char *merge_options(const char *dsn, int64_t statement_timeout_ms, const char *extra)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(dsn, &errmsg);
    if (!opts) {
        PQfreemem(errmsg);
        return NULL;
    }
    const char *existing = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (strcmp(o->keyword, "options") == 0 && o->val && *o->val)
            existing = o->val;
    }
    char *merged = vx_xasprintf("%s%s-c statement_timeout=%lld%s%s", existing ? existing : "",
                                existing ? " " : "", (long long)statement_timeout_ms,
                                extra ? " " : "", extra ? extra : "");
    PQconninfoFree(opts);
    return merged;
}

vx_status vx_pg_pool_create(const vx_pg_config *cfg, vx_pg_pool **out)
{
    if (!cfg || !cfg->dsn || cfg->size < 0 || cfg->overflow < 0 || cfg->size + cfg->overflow < 1 ||
        cfg->statement_timeout_ms < 0 || cfg->acquire_timeout_ms < 0 || cfg->connect_timeout_ms < 0)
        return VX_INVALID;
    char *options = merge_options(cfg->dsn, cfg->statement_timeout_ms, cfg->session_options);
    if (!options)
        return VX_INVALID;

    vx_pg_pool *p = vx_xcalloc(1, sizeof *p);
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->freed, &ca);
    pthread_condattr_destroy(&ca);
    p->cfg = *cfg;
    p->dsn = vx_xstrdup(cfg->dsn);
    p->app_name = cfg->application_name ? vx_xstrdup(cfg->application_name) : NULL;
    p->cfg.dsn = p->dsn;
    p->cfg.application_name = p->app_name;
    p->options = options;
    if (cfg->connect_timeout_ms > 0)
        snprintf(p->connect_timeout_s, sizeof p->connect_timeout_s, "%lld",
                 (long long)((cfg->connect_timeout_ms + 999) / 1000));
    snprintf(p->tcp_user_timeout_ms, sizeof p->tcp_user_timeout_ms, "%lld",
             (long long)(cfg->statement_timeout_ms + 10000));
    p->cap = cfg->size + cfg->overflow;
    p->idle = vx_xcalloc((size_t)p->cap, sizeof *p->idle);
    p->busy = vx_xcalloc((size_t)p->cap, sizeof *p->busy);
    *out = p;
    return VX_OK;
}

void vx_pg_pool_destroy(vx_pg_pool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    int outstanding = p->n_busy + p->reserved;
    for (int i = 0; i < p->n_idle; i++)
        PQfinish(p->idle[i].conn);
    p->n_idle = 0;
    pthread_mutex_unlock(&p->mu);
    if (outstanding > 0)
        vx_log(VX_LOG_ERROR, "postgres pool destroyed with connections checked out",
               VX_INT("checked_out", outstanding));
    pthread_cond_destroy(&p->freed);
    pthread_mutex_destroy(&p->mu);
    vx_free(p->idle);
    vx_free(p->busy);
    vx_free(p->options);
    vx_free(p->app_name);
    vx_free(p->dsn);
    vx_free(p);
}

/* Opens one connection. The DSN comes first so that the parameters after it override what it
 * says (expand_dbname=1 expands it in place); NULL values leave the DSN's own. statement_timeout
 * is the server's; if the network drops packets silently, TCP keepalives and a user timeout
 * make the client notice too, so no call hangs for the kernel's retransmission timeout. */
static vx_status open_conn(vx_pg_pool *p, pooled *out)
{
    const char *const keys[] = {"dbname",
                                "options",
                                "connect_timeout",
                                "application_name",
                                "keepalives",
                                "keepalives_idle",
                                "keepalives_interval",
                                "keepalives_count",
                                "tcp_user_timeout",
                                NULL};
    const char *const vals[] = {
        p->dsn,      p->options, p->connect_timeout_s[0] ? p->connect_timeout_s : NULL,
        p->app_name, "1",        "10",
        "5",         "3",        p->tcp_user_timeout_ms,
        NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    bool ok = c && PQstatus(c) == CONNECTION_OK;
    pthread_mutex_lock(&p->mu);
    if (ok) {
        p->opened++;
    } else {
        p->failed++;
        pg_copy_msg(p->last_err, sizeof p->last_err,
                    c ? PQerrorMessage(c) : "out of memory allocating a connection");
    }
    pthread_mutex_unlock(&p->mu);
    if (!ok) {
        PQfinish(c);
        return VX_UNAVAILABLE;
    }
    pg_route_notices(c);
    *out = (pooled){.conn = c, .opened_ms = vx_mono_ms()};
    return VX_OK;
}

/* The cheapest round trip there is: an empty query, answered with EmptyQueryResponse. */
static bool ping(PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE)
        return false;
    PGresult *r = PQexec(c, "");
    bool ok = r && PQresultStatus(r) == PGRES_EMPTY_QUERY && PQstatus(c) == CONNECTION_OK;
    PQclear(r);
    return ok;
}

/* Waits on `freed` until deadline_ms (monotonic); false once the deadline has passed. */
static bool wait_until(vx_pg_pool *p, int64_t deadline_ms)
{
    if (vx_mono_ms() >= deadline_ms)
        return false;
    struct timespec ts = {.tv_sec = (time_t)(deadline_ms / 1000),
                          .tv_nsec = (long)(deadline_ms % 1000) * 1000000L};
    int rc = pthread_cond_timedwait(&p->freed, &p->mu, &ts);
    return rc != ETIMEDOUT || vx_mono_ms() < deadline_ms;
}

/* vx_pg_acquire with an explicit wait (0: do not wait for a slot). */
static vx_status acquire_within(vx_pg_pool *p, int64_t wait_ms, PGconn **out)
{
    int64_t deadline = vx_mono_ms() + wait_ms;
    pooled e = {0};
    bool have = false;

    pthread_mutex_lock(&p->mu);
    for (;;) {
        if (p->n_idle > 0) {
            /* Last in, first out: the most recently used connection, whose ping is most
             * likely to succeed; rarely needed ones sink and get recycled. */
            e = p->idle[--p->n_idle];
            have = true;
            break;
        }
        if (p->n_idle + p->n_busy + p->reserved < p->cap)
            break;
        if (!wait_until(p, deadline)) {
            pthread_mutex_unlock(&p->mu);
            return VX_TIMEOUT;
        }
    }
    p->reserved++;
    pthread_mutex_unlock(&p->mu);

    /* The slot is ours; ping or connect without holding the lock. */
    if (have) {
        bool too_old = p->cfg.recycle_ms > 0 && vx_mono_ms() - e.opened_ms >= p->cfg.recycle_ms;
        if (too_old || !ping(e.conn)) {
            PQfinish(e.conn);
            have = false;
        }
    }
    vx_status st = have ? VX_OK : open_conn(p, &e);

    pthread_mutex_lock(&p->mu);
    p->reserved--;
    if (st == VX_OK)
        p->busy[p->n_busy++] = e;
    else
        pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (st == VX_OK)
        *out = e.conn;
    return st;
}

vx_status vx_pg_acquire(vx_pg_pool *p, PGconn **out)
{
    return acquire_within(p, p->cfg.acquire_timeout_ms, out);
}

/* Brings a returned connection back to a clean idle state; false if it should be closed. */
static bool reset_for_reuse(PGconn *c)
{
    if (PQstatus(c) != CONNECTION_OK)
        return false;
    switch (PQtransactionStatus(c)) {
    case PQTRANS_IDLE:
        return true;
    case PQTRANS_INTRANS:
    case PQTRANS_INERROR: {
        PGresult *r = PQexec(c, "ROLLBACK");
        bool ok =
            r && PQresultStatus(r) == PGRES_COMMAND_OK && PQtransactionStatus(c) == PQTRANS_IDLE;
        PQclear(r);
        return ok;
    }
    case PQTRANS_ACTIVE:  /* results still unread: draining could block for as long as the query */
    case PQTRANS_UNKNOWN: /* the connection is bad */
        return false;
    }
    return false;
}

void vx_pg_release(vx_pg_pool *p, PGconn *conn, bool broken)
{
    if (!conn)
        return;
    if (!broken)
        broken = !reset_for_reuse(conn);

    pthread_mutex_lock(&p->mu);
    int i = 0;
    while (i < p->n_busy && p->busy[i].conn != conn)
        i++;
    if (i == p->n_busy) {
        pthread_mutex_unlock(&p->mu);
        vx_logm(VX_LOG_ERROR, "postgres pool: released a connection it does not own");
        return;
    }
    pooled e = p->busy[i];
    p->busy[i] = p->busy[--p->n_busy];
    /* Keep it only while fewer than `size` remain open: anything beyond is overflow. */
    bool keep = !broken && p->n_idle + p->n_busy + p->reserved < p->cfg.size;
    if (keep)
        p->idle[p->n_idle++] = e;
    pthread_cond_signal(&p->freed);
    pthread_mutex_unlock(&p->mu);
    if (!keep)
        PQfinish(e.conn);
}

void vx_pg_stats_get(vx_pg_pool *p, vx_pg_stats *out)
{
    pthread_mutex_lock(&p->mu);
    *out = (vx_pg_stats){
        .in_use = p->n_busy + p->reserved,
        .idle = p->n_idle,
        .size = p->cap,
        .opened = p->opened,
        .failed = p->failed,
    };
    pthread_mutex_unlock(&p->mu);
}

void vx_pg_pool_last_error(vx_pg_pool *p, char *err, size_t err_cap)
{
    pthread_mutex_lock(&p->mu);
    pg_copy_msg(err, err_cap, p->last_err);
    pthread_mutex_unlock(&p->mu);
}

bool vx_pg_pool_ping(vx_pg_pool *p, char *why, size_t why_cap)
{
    PGconn *c = NULL;
    vx_status st = acquire_within(p, 0, &c);
    if (st == VX_OK) {
        vx_pg_release(p, c, false);
        return true;
    }
    /* Every slot checked out means the server was answering a moment ago: busy, not down. */
    if (st == VX_TIMEOUT)
        return true;
    vx_pg_pool_last_error(p, why, why_cap);
    return false;
}

double vx_pg_gauge_in_use(void *pool)
{
    vx_pg_stats s;
    vx_pg_stats_get(pool, &s);
    return s.in_use;
}
