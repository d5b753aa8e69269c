/* PostgreSQL through libpq: a connection pool (fixed size plus overflow, pre-ping on checkout,
 * recycling of old connections, a statement_timeout on every connection), per-transaction
 * tenant scoping for row-level security, and the migration runner. */
#ifndef VX_PG_H
#define VX_PG_H

#include "vx/status.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *dsn;              /* libpq URI or key=value string; copied */
    const char *application_name; /* shown in pg_stat_activity; copied; may be NULL */
    int size;                     /* connections kept (10) */
    int overflow;                 /* extra connections allowed under load, closed on release (20) */
    int64_t recycle_ms;           /* a connection older than this is replaced on checkout (300 s) */
    int64_t statement_timeout_ms; /* set on every connection (5 s) */
    int64_t acquire_timeout_ms;   /* how long vx_pg_acquire waits for a free slot (5 s) */
    int64_t connect_timeout_ms;   /* per connection attempt (5 s) */
} vx_pg_config;

/* The defaults above, with dsn NULL. */
vx_pg_config vx_pg_defaults(void);

typedef struct vx_pg_pool vx_pg_pool;

typedef struct {
    int in_use;     /* checked out now */
    int idle;       /* open and waiting */
    int size;       /* configured size + overflow */
    uint64_t opened;  /* connections opened since creation */
    uint64_t failed;  /* connection attempts that failed */
} vx_pg_stats;

/* Creates the pool; connects lazily (no connection is made here). Thread-safe afterwards. */
vx_status vx_pg_pool_create(const vx_pg_config *cfg, vx_pg_pool **out);
/* Closes every idle connection and frees the pool; connections still checked out are a
 * programming error. NULL is fine. */
void vx_pg_pool_destroy(vx_pg_pool *p);

/* Checks out a healthy connection: reuses an idle one after a ping (replacing it if broken or
 * older than recycle_ms) or opens one. VX_TIMEOUT when all size+overflow are in use for
 * acquire_timeout_ms, VX_UNAVAILABLE when the server cannot be reached. The connection stays
 * owned by the pool; give it back with vx_pg_release. Thread-safe. */
vx_status vx_pg_acquire(vx_pg_pool *p, PGconn **out);
/* Returns a connection. Pass broken=true after an error that may have left it unusable (it is
 * closed). A connection inside a transaction is rolled back first. Thread-safe. */
void vx_pg_release(vx_pg_pool *p, PGconn *conn, bool broken);
void vx_pg_stats_get(vx_pg_pool *p, vx_pg_stats *out);
/* Whether a connection can be made and answers now (for /readyz); writes the reason if not. */
bool vx_pg_pool_ping(vx_pg_pool *p, char *why, size_t why_cap);

/* BEGIN and SELECT set_config('vx.tenant_id', tenant, true): row-level security sees only that
 * tenant until COMMIT/ROLLBACK. */
vx_status vx_pg_begin_tenant(PGconn *c, const char *tenant_id);
/* Sets the tenant inside an already open transaction (for work spanning tenants). */
vx_status vx_pg_set_tenant(PGconn *c, const char *tenant_id);
/* Runs one command without results (BEGIN, COMMIT, DDL...). On error writes the server's
 * message into err (if err_cap > 0) and returns VX_INVALID for SQL errors, VX_UNAVAILABLE when
 * the connection is bad, VX_TIMEOUT on statement timeout. */
vx_status vx_pg_exec(PGconn *c, const char *sql, char *err, size_t err_cap);
/* Maps a finished result to a status (same mapping as above) and writes the message. Does not
 * clear the result. */
vx_status vx_pg_result_status(PGconn *c, const PGresult *r, char *err, size_t err_cap);

/* Applies every db/migrations/NNNN_name.sql in `dir` not yet recorded in schema_migrations, in
 * order, each in its own transaction, under an advisory lock so that replicas starting together
 * do not race. A recorded migration whose file changed (checksum) is an error. `applied` (may
 * be NULL) gets how many ran. Logs one line per migration. */
vx_status vx_pg_migrate(const char *dsn, const char *dir, int *applied, char *err, size_t err_cap);

#endif
