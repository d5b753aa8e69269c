/* The life cycle every Valdrix service shares, written once: arguments and --help from the
 * settings table, VX_* configuration, JSON logs, one signal scheme, the metrics registry, the
 * Postgres pool and Redis client with their gauges, the ops listener (/metrics, /healthz,
 * /readyz), NATS connect with retry and redacted errors, start-up steps retried until they
 * work, queue-group subscriptions fanned out over worker threads, and on SIGTERM/SIGINT: stop
 * taking work, drain every subscription at once, then tear down in reverse order of start.
 *
 * A service's main.c is its settings table, a vx_service_def, its own objects and handlers:
 *
 *     vx_service *s;
 *     int rc = vx_service_begin(&def, argc, argv, &s);   // --help, config, logs, pool, ops
 *     if (!s) return rc;
 *     ...create objects, vx_service_defer() their destroy...
 *     vx_service_serve(s, "svc.x.run", "x", handle_run, app, workers);
 *     return vx_service_run(s, NULL, NULL);               // connect, serve until SIGTERM, drain
 *
 * Signals: SIGTERM and SIGINT are blocked in every thread (so that no library call is ever
 * interrupted by them) and taken by one thread of the skeleton, which marks the service as
 * stopping (/readyz answers 503 "draining" from then on) and wakes vx_service_wait. SIGPIPE is
 * ignored (sockets the peer closed show up as write errors). A second signal while stopping is
 * logged and otherwise ignored: the drain finishes what it holds. A third exits at once with
 * status 1, for an operator who will not wait. */
#ifndef VX_SERVICE_H
#define VX_SERVICE_H

#include "vx/bus.h"
#include "vx/config.h"
#include "vx/log.h"
#include "vx/metrics.h"
#include "vx/ops.h"
#include "vx/pg_config.h"
#include "vx/redis.h"
#include "vx/settings.h"
#include "vx/status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The settings every service shares; embed it in the service's config struct as `svc` and
 * list its rows with the VX_SERVICE_SET_* macros below. */
typedef struct {
    const char *nats_url;
    vx_bus_credentials nats; /* VX_NATS_USER, VX_NATS_PASSWORD, VX_NATS_TLS_* */
    vx_pg_config pg;         /* VX_PG_* (vx_pg_config_from_env), when the service uses Postgres */
    const char *redis_url;   /* with VX_REDIS_USER and VX_REDIS_PASSWORD put in, once begun */
    const char *redis_user;
    const char *redis_password;
    int redis_pool_size;      /* connections of the blocking client (4 when left 0) */
    int64_t redis_timeout_ms; /* per command (250 unless set) */
    const char *ops_host;
    int ops_port;
    vx_log_level log_level;
} vx_service_config;

#define VX_SERVICE_SET_NATS(T)                                                                     \
    VX_SET_STR("VX_NATS_URL", T, svc.nats_url, VX_DEFAULT_NATS_URL,                                \
               "NATS server(s), ','-separated; may carry user:password@"),                         \
        VX_SET_STR_OPTIONAL("VX_NATS_USER", T, svc.nats.user,                                      \
                            "this service's NATS user (wins over the URL's)"),                     \
        VX_SET_STR_OPTIONAL("VX_NATS_PASSWORD", T, svc.nats.password, "its password"),             \
        VX_SET_STR_OPTIONAL("VX_NATS_TLS_CA", T, svc.nats.tls_ca,                                  \
                            "CA file for the NATS server's certificate (turns TLS on)"),           \
        VX_SET_STR_OPTIONAL("VX_NATS_TLS_CERT", T, svc.nats.tls_cert,                              \
                            "client certificate chain file for NATS (with VX_NATS_TLS_KEY)"),      \
        VX_SET_STR_OPTIONAL("VX_NATS_TLS_KEY", T, svc.nats.tls_key, "its private key file")
#define VX_SERVICE_SET_REDIS(T, help)                                                              \
    VX_SET_STR_CHECKED("VX_REDIS_URL", T, svc.redis_url, VX_DEFAULT_REDIS_URL,                     \
                       vx_service_check_redis_url, help),                                          \
        VX_SET_STR_OPTIONAL("VX_REDIS_USER", T, svc.redis_user,                                    \
                            "this service's Redis ACL user (wins over the URL's)"),                \
        VX_SET_STR_OPTIONAL("VX_REDIS_PASSWORD", T, svc.redis_password, "its password")
#define VX_SERVICE_SET_PG VX_SET_NOTE(VX_PG_ENV_USAGE)
#define VX_SERVICE_SET_OPS(T, port_env, port_def)                                                  \
    VX_SET_STR("VX_OPS_HOST", T, svc.ops_host, "127.0.0.1",                                        \
               "/metrics /healthz /readyz listener host"),                                         \
        VX_SET_INT(port_env, T, svc.ops_port, port_def, 0, 65535, "its port (0: any free port)")
#define VX_SERVICE_SET_LOG(T)                                                                      \
    VX_SET_LOG_LEVEL("VX_LOG_LEVEL", T, svc.log_level, "info", "debug, info, warn, error, off")

/* What the service uses; the skeleton creates (and later destroys) exactly these. */
enum {
    VX_SERVICE_PG = 1u << 0,    /* a Postgres pool from VX_PG_* (gauge <prefix>_pool_in_use) */
    VX_SERVICE_REDIS = 1u << 1, /* a blocking Redis client from VX_REDIS_URL */
    VX_SERVICE_OPS = 1u << 2,   /* its own ops listener on svc.ops_host:svc.ops_port */
};

typedef struct {
    const char *name;  /* "forecast": program valdrix-forecast, log "service", metric prefix
                          valdrix_forecast, Postgres application_name, NATS client name */
    const char *about; /* --help text before the settings: what it does, the usage line */
    const vx_setting *settings; /* the service's rows, shared ones included (VX_SERVICE_SET_*) */
    size_t n_settings;
    void *config;           /* the struct the rows fill (static storage in main.c) */
    vx_service_config *svc; /* its shared part, inside *config */
    unsigned uses;          /* VX_SERVICE_* */
    /* Optional, after the settings are read and before anything starts: computed defaults and
     * checks across settings (exit through vx_config_fail). */
    void (*check)(void *config);
    /* Optional: the service's own "the last Postgres operation succeeded" flag; while it is
     * false /readyz answers "postgres: last operation failed". */
    atomic_bool *pg_ok;
    /* Optional readiness beyond "NATS connected, start-up done, subscribed" and pg_ok (see
     * vx_ready_fn); called on the ops thread with ready_ctx. */
    vx_ready_fn ready;
    void *ready_ctx;
    bool send_asap; /* NATS: flush each publish at once (responders: lower latency) */
    /* Optional: receives the NATS connection once it is up, before the first step runs (for
     * handlers that answer through it); it stays valid until teardown destroys it. */
    vx_bus **bus_slot;
} vx_service_def;

typedef struct vx_service vx_service;

/* Handles argv (--help or -h prints about, the settings and exits 0; any other argument is an
 * error, exit 2), reads the settings (a bad value exits 78 naming it), starts logging, takes
 * the signals, and creates the metrics registry, then the Postgres pool and Redis client when
 * used (no connection is made yet), then the ops listener when used. On success *out is the
 * service and the return value 0; otherwise *out is NULL and the return value is the exit
 * code. `def` and everything it points to must outlive the service. Call once per process. */
int vx_service_begin(const vx_service_def *def, int argc, char **argv, vx_service **out);

/* A start-up step, run after NATS connects and before subscribing: called again and again
 * (200 ms doubling to 5 s) until it returns VX_OK or the service is asked to stop; each failure
 * is logged as "<what> failed, retrying" with its status and the reason written into err.
 * Steps run in the order they were added, on the main thread. */
typedef vx_status (*vx_service_step_fn)(void *ctx, char *err, size_t err_cap);
void vx_service_step(vx_service *s, const char *what, vx_service_step_fn fn, void *ctx);

/* A ready-made step for services whose readiness follows Postgres (def->pg_ok set): pings the
 * service's pool and stores in *def->pg_ok whether it answered. ctx is the vx_service. */
VX_MUST_CHECK vx_status vx_service_check_pg(void *service, char *err, size_t err_cap);

/* Serves `subject` in queue group `queue` with `workers` subscriptions (each has its own
 * delivery thread in nats.c, so one replica answers up to `workers` requests at once; the
 * queue group spreads them over replicas). Made after the steps, retried like them. On stop
 * every subscription of the service drains at once: none takes new requests, each answers
 * what it holds, and only then does teardown begin. */
void vx_service_serve(vx_service *s, const char *subject, const char *queue, vx_bus_handler fn,
                      void *ctx, int workers);

/* Registers fn(arg) for teardown. Teardown runs every registered piece in reverse order of
 * registration, the skeleton's own included: subscriptions (drained), then what was registered
 * after NATS connected (steps' objects), the NATS connection, what main registered after
 * vx_service_begin, the ops listener, Redis, the pool, the metrics registry. The ops listener
 * still answers /metrics while main's objects go: a gauge callback (vx_metrics_gauge_fn) may
 * read only what outlives it (the skeleton's pool and Redis), not an object of main's. */
void vx_service_defer(vx_service *s, void (*fn)(void *arg), void *arg);

/* Connects to NATS (retrying, with the URL's secrets masked in every log line), runs the
 * steps, subscribes, logs "ready", then calls run(ctx) on this thread (it must return soon
 * after vx_service_stopping turns true) or, when run is NULL, waits for a stop signal. Then it
 * drains and tears down (see vx_service_defer), frees the service and returns the exit code:
 * 1 after vx_service_fail, otherwise 0 (a stop signal, also one that came before NATS was
 * ever reached: the retries only end by a stop). */
int vx_service_run(vx_service *s, void (*run)(void *ctx), void *ctx);

/* Gives up before vx_service_run (e.g. a bad setting only main can check): tears down what
 * exists, frees the service and returns `exit_code` for main to return. */
int vx_service_abort(vx_service *s, int exit_code);

/* Accessors. NULL for what the service does not use. The pool, Redis and metrics are set by
 * vx_service_begin and may be read from any thread; the bus is set on the main thread when it
 * connects: read it from the steps, the run function and handlers (or take it through
 * bus_slot), not from a thread of your own started earlier. */
vx_metrics *vx_service_metrics(vx_service *s);
vx_pg_pool *vx_service_pool(vx_service *s);
vx_redis *vx_service_redis(vx_service *s);
vx_bus *vx_service_bus(vx_service *s);
/* The ops listener's port (0 when it has none). */
int vx_service_ops_port(vx_service *s);

/* Whether a stop signal has arrived. */
bool vx_service_stopping(vx_service *s);
/* Waits up to ms for a stop signal; true once one has arrived (at once if it already has). */
bool vx_service_wait(vx_service *s, int64_t ms);
/* Asks the service to stop as a signal would; vx_service_run then returns 0. */
void vx_service_request_stop(vx_service *s);
/* Stops the service because it cannot do its work (the API cannot listen, ingest has no writer
 * thread): logs `why` as an error, stops as a signal would, and vx_service_run returns 1, so a
 * supervisor sees the failure. Thread-safe. */
void vx_service_fail(vx_service *s, const char *why);

/* Checks for setting rows (vx_setting_check). redis_url parses the URL as the Redis client
 * will; subject takes dot-separated tokens without wildcards or blanks (a subject or subject
 * prefix to serve); queue takes one such token (a queue group name). */
bool vx_service_check_redis_url(const char *value, char *why, size_t cap);
bool vx_service_check_subject(const char *value, char *why, size_t cap);
bool vx_service_check_queue(const char *value, char *why, size_t cap);

#endif
