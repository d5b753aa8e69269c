/* The service skeleton: begin (args, settings, logs, signals, metrics, pool, Redis, ops), run
 * (NATS, steps, subscriptions, wait), and the stop path (drain in parallel, teardown LIFO). */
#include "vx/service.h"

#include "vx/alloc.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/pg.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    void (*fn)(void *);
    void *arg;
} piece;

typedef struct {
    const char *what;
    vx_service_step_fn fn;
    void *ctx;
} step;

typedef struct {
    char *subject;
    char *queue;
    vx_bus_handler fn;
    void *ctx;
    int workers;
} serving;

struct vx_service {
    const vx_service_def *def;
    char program[64];       /* valdrix-<name> */
    char metric_prefix[64]; /* valdrix_<name> */
    vx_metrics *metrics;
    vx_pg_pool *pool;
    vx_redis *redis;
    vx_ops_server *ops;
    vx_bus *bus;

    piece *pieces; /* teardown stack */
    size_t n_pieces, cap_pieces;
    step *steps;
    size_t n_steps, cap_steps;
    serving *servings;
    size_t n_servings, cap_servings;
    vx_bus_sub **subs;
    size_t n_subs;
    atomic_bool subscribed;
    atomic_bool started; /* steps done */

    sigset_t signals;
    pthread_t signal_thread;
    bool signal_thread_started;
    atomic_bool quit_signal_thread;
    atomic_int stop_flag;
    atomic_bool failed; /* vx_service_fail: exit 1 */
    int extra_signals;  /* signals after the first (signal thread only) */
    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop_flag turned 1 */
    /* Readiness runs on the ops thread: it reads the connection and the service's state under
     * ready_mu, and never once teardown has begun (closing), so nothing it reads is freed under
     * it. */
    pthread_mutex_t ready_mu;
    bool closing;
    vx_bus *ready_bus;
};

#define GROW(arr, n, cap)                                                                          \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 8;                                                         \
            (arr) = vx_xrealloc((arr), (cap) * sizeof *(arr));                                     \
        }                                                                                          \
    } while (0)

void vx_service_defer(vx_service *s, void (*fn)(void *arg), void *arg)
{
    GROW(s->pieces, s->n_pieces, s->cap_pieces);
    s->pieces[s->n_pieces++] = (piece){fn, arg};
}

void vx_service_step(vx_service *s, const char *what, vx_service_step_fn fn, void *ctx)
{
    GROW(s->steps, s->n_steps, s->cap_steps);
    s->steps[s->n_steps++] = (step){what, fn, ctx};
}

void vx_service_serve(vx_service *s, const char *subject, const char *queue, vx_bus_handler fn,
                      void *ctx, int workers)
{
    GROW(s->servings, s->n_servings, s->cap_servings);
    s->servings[s->n_servings++] = (serving){vx_xstrdup(subject), queue ? vx_xstrdup(queue) : NULL,
                                             fn, ctx, workers < 1 ? 1 : workers};
}

bool vx_service_check_redis_url(const char *value, char *why, size_t cap)
{
    vx_redis_url u;
    if (vx_redis_url_parse(value, &u, why, cap) != VX_OK)
        return false;
    vx_redis_url_cleanup(&u);
    return true;
}

static bool subject_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.' || s[n - 1] == '.' || strstr(s, "..") != NULL)
        return false;
    for (const char *p = s; *p; p++)
        if (*p <= ' ' || *p == '*' || *p == '>' || *p == 0x7f)
            return false;
    return true;
}

bool vx_service_check_subject(const char *value, char *why, size_t cap)
{
    if (subject_ok(value))
        return true;
    snprintf(why, cap, "not a NATS subject (tokens, no wildcards)");
    return false;
}

bool vx_service_check_queue(const char *value, char *why, size_t cap)
{
    if (subject_ok(value) && strchr(value, '.') == NULL)
        return true;
    snprintf(why, cap, "not a queue group name (one token)");
    return false;
}

vx_status vx_service_check_pg(void *service, char *err, size_t err_cap)
{
    vx_service *s = service;
    bool ok = vx_pg_pool_ping(s->pool, err, err_cap);
    if (s->def->pg_ok)
        atomic_store(s->def->pg_ok, ok);
    return ok ? VX_OK : VX_UNAVAILABLE;
}

/* ---- signals ---- */

static void mark_stopping(vx_service *s)
{
    /* Only the flag and the wake-up: /readyz reads the flag (see ready_locked), and the main
     * thread does the rest, so this thread never touches what teardown frees. */
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->stop_flag, 1);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void *signal_main(void *arg)
{
    vx_service *s = arg;
    struct timespec poll = {.tv_sec = 0, .tv_nsec = 100 * 1000000L};
    while (!atomic_load(&s->quit_signal_thread)) {
        int sig = sigtimedwait(&s->signals, NULL, &poll);
        if (sig <= 0)
            continue;
        if (atomic_load(&s->stop_flag) && ++s->extra_signals >= 2) {
            /* a third signal: the operator wants it gone now, whatever is still in hand */
            vx_log(VX_LOG_ERROR, "third stop signal: exiting without finishing the work in hand",
                   VX_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
            _exit(1);
        }
        if (atomic_load(&s->stop_flag)) {
            vx_log(VX_LOG_INFO, "signal while stopping: still finishing the work in hand",
                   VX_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
            continue;
        }
        vx_log(VX_LOG_INFO, "stop requested",
               VX_STR("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"));
        mark_stopping(s);
    }
    return NULL;
}

void vx_service_request_stop(vx_service *s)
{
    mark_stopping(s);
}

void vx_service_fail(vx_service *s, const char *why)
{
    vx_log(VX_LOG_ERROR, "cannot go on: stopping", VX_STR("error", why));
    atomic_store(&s->failed, true);
    mark_stopping(s);
}

bool vx_service_stopping(vx_service *s)
{
    return atomic_load(&s->stop_flag) != 0;
}

bool vx_service_wait(vx_service *s, int64_t ms)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += (time_t)(ms / 1000);
    until.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (!atomic_load(&s->stop_flag))
        if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT)
            break;
    bool stop = atomic_load(&s->stop_flag) != 0;
    pthread_mutex_unlock(&s->mu);
    return stop;
}

/* ---- accessors ---- */

vx_metrics *vx_service_metrics(vx_service *s)
{
    return s->metrics;
}
vx_pg_pool *vx_service_pool(vx_service *s)
{
    return s->pool;
}
vx_redis *vx_service_redis(vx_service *s)
{
    return s->redis;
}
vx_bus *vx_service_bus(vx_service *s)
{
    return s->bus;
}
int vx_service_ops_port(vx_service *s)
{
    return s->ops ? vx_ops_port(s->ops) : 0;
}

/* ---- begin ---- */

static void usage(const vx_service_def *def)
{
    fputs(def->about, stdout);
    fputs("\nConfiguration (environment):\n", stdout);
    vx_settings_usage(stdout, def->settings, def->n_settings);
}

/* NATS connected, steps done, subscribed; then the service's own check. */
static bool ready_locked(vx_service *s, char *why, size_t cap)
{
    if (s->closing || atomic_load(&s->stop_flag)) {
        snprintf(why, cap, "draining");
        return false;
    }
    if (!s->ready_bus || !vx_bus_connected(s->ready_bus)) {
        snprintf(why, cap, "nats: not connected");
        return false;
    }
    if (!atomic_load(&s->started)) {
        snprintf(why, cap, "starting");
        return false;
    }
    if (!atomic_load(&s->subscribed)) {
        snprintf(why, cap, "nats: not subscribed yet");
        return false;
    }
    if (s->def->pg_ok && !atomic_load(s->def->pg_ok)) {
        snprintf(why, cap, "postgres: last operation failed");
        return false;
    }
    return s->def->ready ? s->def->ready(s->def->ready_ctx, why, cap) : true;
}

static bool ready(void *arg, char *why, size_t cap)
{
    vx_service *s = arg;
    pthread_mutex_lock(&s->ready_mu);
    bool ok = ready_locked(s, why, cap);
    pthread_mutex_unlock(&s->ready_mu);
    return ok;
}

static void destroy_metrics(void *m)
{
    vx_metrics_destroy(m);
}
static void destroy_pool(void *p)
{
    vx_pg_pool_destroy(p);
}
static void destroy_redis(void *r)
{
    vx_redis_destroy(r);
}
static void stop_ops(void *o)
{
    vx_ops_stop(o);
}

static double redis_up(void *r)
{
    return vx_redis_healthy(r) ? 1.0 : 0.0;
}

int vx_service_begin(const vx_service_def *def, int argc, char **argv, vx_service **out)
{
    *out = NULL;
    char program[64];
    snprintf(program, sizeof program, "valdrix-%s", def->name);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(def);
            return 0;
        }
        fprintf(stderr, "%s: unknown argument %s (try --help)\n", program, argv[i]);
        return 2;
    }
    vx_service_config *c = def->svc;
    vx_settings_load(def->settings, def->n_settings, def->config);
    if (def->uses & VX_SERVICE_PG)
        vx_pg_config_from_env(&c->pg);
    if (def->check)
        def->check(def->config);
    if (c->redis_user != NULL || c->redis_password != NULL) {
        char *url = NULL, why[256] = "";
        if (vx_redis_url_with_credentials(c->redis_url, c->redis_user, c->redis_password, &url, why,
                                          sizeof why) != VX_OK) {
            fprintf(stderr, "%s: VX_REDIS_URL: %s\n", program, why);
            return VX_EXIT_CONFIG;
        }
        c->redis_url = url; /* lives as long as the process */
    }
    c->redis_pool_size = c->redis_pool_size ? c->redis_pool_size : 4;
    c->redis_timeout_ms = c->redis_timeout_ms ? c->redis_timeout_ms : 250;
    vx_log_init(def->name, c->log_level);

    vx_service *s = vx_xcalloc(1, sizeof *s);
    s->def = def;
    snprintf(s->program, sizeof s->program, "%s", program);
    snprintf(s->metric_prefix, sizeof s->metric_prefix, "valdrix_%s", def->name);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->ready_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);

    /* Before any thread exists, so that every thread inherits the mask. */
    sigemptyset(&s->signals);
    sigaddset(&s->signals, SIGTERM);
    sigaddset(&s->signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &s->signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    s->signal_thread_started = pthread_create(&s->signal_thread, NULL, signal_main, s) == 0;
    if (!s->signal_thread_started) {
        /* nobody would take SIGTERM: refuse to run rather than be stoppable only by SIGKILL */
        pthread_sigmask(SIG_UNBLOCK, &s->signals, NULL);
        fprintf(stderr, "%s: cannot start the signal thread\n", program);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->ready_mu);
        vx_free(s);
        return 1;
    }

    s->metrics = vx_metrics_create();
    vx_service_defer(s, destroy_metrics, s->metrics);
    int rc = 1;
    char why[256] = "";
    if (def->uses & VX_SERVICE_PG) {
        vx_pg_config pc = c->pg;
        pc.application_name = s->program;
        if (vx_pg_pool_create(&pc, &s->pool) != VX_OK) {
            vx_logm(VX_LOG_ERROR, "bad Postgres configuration (VX_PG_DSN)");
            rc = VX_EXIT_CONFIG;
            goto fail;
        }
        vx_service_defer(s, destroy_pool, s->pool);
        char name[96];
        snprintf(name, sizeof name, "%s_pool_in_use", s->metric_prefix);
        vx_metrics_gauge_fn(s->metrics, name, "Postgres connections checked out", NULL,
                            vx_pg_gauge_in_use, s->pool);
    }
    if (def->uses & VX_SERVICE_REDIS) {
        vx_redis_config rcfg;
        vx_redis_config_init(&rcfg);
        rcfg.url = c->redis_url;
        rcfg.pool_size = c->redis_pool_size;
        rcfg.command_timeout_ms = c->redis_timeout_ms;
        rcfg.metrics_prefix = s->metric_prefix;
        rcfg.metrics = s->metrics;
        if (vx_redis_create(&rcfg, &s->redis, why, sizeof why) != VX_OK) {
            vx_log(VX_LOG_ERROR, "bad Redis configuration (VX_REDIS_URL)", VX_STR("error", why));
            rc = VX_EXIT_CONFIG;
            goto fail;
        }
        vx_service_defer(s, destroy_redis, s->redis);
        char name[96];
        snprintf(name, sizeof name, "%s_redis_up", s->metric_prefix);
        vx_metrics_gauge_fn(s->metrics, name, "Whether Redis answered the last command", NULL,
                            redis_up, s->redis);
    }
    /* After the pool and Redis: teardown stops it before them, as its gauges read them. */
    if (def->uses & VX_SERVICE_OPS) {
        vx_ops_config oc = {.host = c->ops_host,
                            .port = c->ops_port,
                            .metrics = s->metrics,
                            .ready = ready,
                            .ready_ctx = s};
        if (vx_ops_start(&oc, &s->ops) != VX_OK) {
            vx_log(VX_LOG_ERROR, "cannot listen for /metrics", VX_STR("host", c->ops_host),
                   VX_INT("port", c->ops_port));
            goto fail;
        }
        vx_service_defer(s, stop_ops, s->ops);
    }
    *out = s;
    return 0;
fail:
    return vx_service_abort(s, rc);
}

int vx_service_abort(vx_service *s, int exit_code)
{
    atomic_store(&s->stop_flag, 1); /* nothing to drain: tear down what exists */
    (void)vx_service_run(s, NULL, NULL);
    return exit_code;
}

/* ---- run ---- */

/* Calls fn until VX_OK, with backoff; false once the service is asked to stop. */
static bool retry(vx_service *s, const char *what, vx_service_step_fn fn, void *ctx)
{
    int64_t delay = 200;
    char err[512];
    for (;;) {
        if (atomic_load(&s->stop_flag))
            return false;
        err[0] = '\0';
        vx_status st = fn(ctx, err, sizeof err);
        if (st == VX_OK)
            return true;
        char msg[160];
        snprintf(msg, sizeof msg, "%s failed, retrying", what);
        vx_log(VX_LOG_WARN, msg, VX_STR("status", vx_status_str(st)), VX_STR("error", err),
               VX_INT("retry_in_ms", delay));
        if (vx_service_wait(s, delay))
            return false;
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

static void destroy_bus(void *b)
{
    vx_bus_destroy(b);
}

static vx_status connect_bus(void *arg, char *err, size_t cap)
{
    vx_service *s = arg;
    vx_bus_config bc = {.url = s->def->svc->nats_url,
                        .name = s->program,
                        .timeout_ms = 5000,
                        .send_asap = s->def->send_asap,
                        .creds = s->def->svc->nats};
    vx_bus *b = NULL;
    vx_status st = vx_bus_connect(&bc, &b);
    if (st == VX_OK) {
        s->bus = b;
        pthread_mutex_lock(&s->ready_mu);
        s->ready_bus = b;
        pthread_mutex_unlock(&s->ready_mu);
    } else {
        char red[256];
        vx_redact_url(s->def->svc->nats_url, red, sizeof red);
        snprintf(err, cap, "cannot connect to %s%s", red,
                 st == VX_DENIED    ? ": the server refused the credentials"
                 : st == VX_INVALID ? ": bad credentials or TLS settings (see the log)"
                                    : "");
    }
    return st;
}

static vx_status subscribe(void *arg, char *err, size_t cap)
{
    vx_service *s = arg;
    size_t want = 0;
    for (size_t i = 0; i < s->n_servings; i++)
        want += (size_t)s->servings[i].workers;
    if (!s->subs)
        s->subs = vx_xcalloc(want, sizeof *s->subs);
    /* one subscription of each subject in turn, so that a failure half-way leaves every
     * subject served by some */
    size_t k = 0;
    for (int w = 0; k < want; w++)
        for (size_t i = 0; i < s->n_servings; i++) {
            serving *v = &s->servings[i];
            if (w >= v->workers)
                continue;
            if (k >= s->n_subs) {
                vx_status st =
                    vx_bus_serve(s->bus, v->subject, v->queue, v->fn, v->ctx, &s->subs[k]);
                if (st != VX_OK) {
                    snprintf(err, cap, "cannot subscribe to %s", v->subject);
                    return st;
                }
                s->n_subs = k + 1;
            }
            k++;
        }
    return VX_OK;
}

static void *drain_one(void *sub)
{
    vx_bus_sub_destroy(sub);
    return NULL;
}

/* Drains every subscription at once: none keeps taking requests while another finishes the
 * ones in hand. */
static void drain_subs(void *arg)
{
    vx_service *s = arg;
    pthread_t *t = vx_xcalloc(s->n_subs ? s->n_subs : 1, sizeof *t);
    bool *started = vx_xcalloc(s->n_subs ? s->n_subs : 1, sizeof *started);
    for (size_t i = 0; i < s->n_subs; i++)
        started[i] = pthread_create(&t[i], NULL, drain_one, s->subs[i]) == 0;
    for (size_t i = 0; i < s->n_subs; i++) {
        if (started[i])
            pthread_join(t[i], NULL);
        else
            vx_bus_sub_destroy(s->subs[i]);
    }
    vx_free(started);
    vx_free(t);
    s->n_subs = 0;
}

int vx_service_run(vx_service *s, void (*run)(void *ctx), void *ctx)
{
    bool ok = false;
    if (!atomic_load(&s->stop_flag)) {
        char red[256];
        vx_redact_url(s->def->svc->nats_url, red, sizeof red);
        vx_log(VX_LOG_INFO, "starting", VX_STR("nats", red),
               VX_INT("ops_port", vx_service_ops_port(s)));
        if (!retry(s, "nats connect", connect_bus, s))
            goto stop;
        vx_service_defer(s, destroy_bus, s->bus);
        if (s->def->bus_slot)
            *s->def->bus_slot = s->bus;
        for (size_t i = 0; i < s->n_steps; i++)
            if (!retry(s, s->steps[i].what, s->steps[i].fn, s->steps[i].ctx))
                goto stop;
        atomic_store(&s->started, true);
        if (s->n_servings) {
            vx_service_defer(s, drain_subs, s);
            if (!retry(s, "subscribe", subscribe, s))
                goto stop;
            atomic_store(&s->subscribed, true);
        }
        atomic_store(&s->subscribed, true); /* also when there is nothing to subscribe to */
        vx_log(VX_LOG_INFO, "ready", VX_INT("subscriptions", (int64_t)s->n_subs));
        ok = true;
        if (run)
            run(ctx);
        else
            while (!vx_service_wait(s, 60000)) {
            }
    }
stop:
    vx_logm(VX_LOG_INFO, "shutting down: finishing the work in hand");
    if (s->ops)
        vx_ops_set_draining(s->ops);
    /* From here on readiness says "draining" without looking at anything teardown frees; a
     * check already running finishes first (it holds ready_mu). */
    pthread_mutex_lock(&s->ready_mu);
    s->closing = true;
    pthread_mutex_unlock(&s->ready_mu);
    while (s->n_pieces > 0) {
        piece p = s->pieces[--s->n_pieces];
        p.fn(p.arg);
    }
    bool stopped = atomic_load(&s->stop_flag) != 0;
    bool failed = atomic_load(&s->failed);
    atomic_store(&s->quit_signal_thread, true);
    if (s->signal_thread_started)
        pthread_join(s->signal_thread, NULL);
    for (size_t i = 0; i < s->n_servings; i++) {
        vx_free(s->servings[i].subject);
        vx_free(s->servings[i].queue);
    }
    vx_free(s->servings);
    vx_free(s->subs);
    vx_free(s->steps);
    vx_free(s->pieces);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->ready_mu);
    vx_free(s);
    vx_logm(VX_LOG_INFO, "stopped");
    return !failed && (stopped || ok) ? 0 : 1;
}
