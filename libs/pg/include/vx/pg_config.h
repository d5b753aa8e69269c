/* The Postgres pool's settings, apart from libpq: what a service's configuration holds (and
 * libs/service embeds) without bringing libpq-fe.h into every file that reads its config. */
#ifndef VX_PG_CONFIG_H
#define VX_PG_CONFIG_H

#include <stdint.h>

typedef struct {
    const char *dsn;              /* libpq URI or key=value string; copied */
    const char *application_name; /* shown in pg_stat_activity; copied; may be NULL */
    int size;                     /* connections kept (10) */
    int overflow;                 /* extra connections allowed under load, closed on release (20) */
    int64_t recycle_ms;           /* a connection older than this is replaced on checkout (300 s);
                                     0 never recycles */
    int64_t statement_timeout_ms; /* set on every connection (5 s) */
    int64_t acquire_timeout_ms;   /* how long vx_pg_acquire waits for a free slot (5 s) */
    int64_t connect_timeout_ms;   /* per connection attempt, rounded up to whole seconds (libpq's
                                     connect_timeout; 0 waits as long as the OS does) (5 s) */
    const char *session_options;  /* more "-c name=value" settings for every connection; copied
                                     into the connection options (NULL) */
} vx_pg_config;

/* The defaults above, with dsn NULL. */
vx_pg_config vx_pg_defaults(void);

/* The pool settings every service reads from the environment, into *out (the defaults above
 * otherwise): VX_PG_DSN (required), VX_PG_POOL_SIZE, VX_PG_POOL_OVERFLOW, VX_PG_RECYCLE,
 * VX_PG_STATEMENT_TIMEOUT, VX_PG_ACQUIRE_TIMEOUT. Exits 78 naming the variable on a bad or
 * missing value (vx_config_fail). VX_PG_ENV_USAGE describes them for a --help text. */
void vx_pg_config_from_env(vx_pg_config *out);

#define VX_PG_ENV_USAGE                                                                            \
    "  VX_PG_DSN                Postgres DSN of the service role (required; see .run/env)\n"       \
    "  VX_PG_POOL_SIZE / VX_PG_POOL_OVERFLOW  pool size (10) and overflow (20)\n"                  \
    "  VX_PG_RECYCLE            connection lifetime (300s)\n"                                      \
    "  VX_PG_STATEMENT_TIMEOUT  per statement (5s)\n"                                              \
    "  VX_PG_ACQUIRE_TIMEOUT    longest wait for a pooled connection (5s)\n"

/* The pool, opaque (vx/pg.h has its functions). */
typedef struct vx_pg_pool vx_pg_pool;

#endif
