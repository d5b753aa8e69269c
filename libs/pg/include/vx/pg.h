/* PostgreSQL through libpq: a connection pool (fixed size plus overflow, pre-ping on checkout,
 * recycling of old connections, a statement_timeout on every connection), per-transaction
 * tenant scoping for row-level security, and the migration runner. */
#ifndef VX_PG_H
#define VX_PG_H

#include "vx/pg_config.h"
#include "vx/status.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int in_use;      /* checked out now */
    int idle;        /* open and waiting */
    int size;        /* configured size + overflow */
    uint64_t opened; /* connections opened since creation */
    uint64_t failed; /* connection attempts that failed */
} vx_pg_stats;

/* Creates the pool; connects lazily (no connection is made here). The config is copied.
 * application_name, connect_timeout and statement_timeout override what the DSN says; other
 * `options` of the DSN are kept. VX_INVALID for a DSN libpq cannot parse or negative sizes or
 * timeouts. Thread-safe afterwards. */
VX_MUST_CHECK vx_status vx_pg_pool_create(const vx_pg_config *cfg, vx_pg_pool **out);
/* Closes every idle connection and frees the pool; connections still checked out are a
 * programming error. NULL is fine. */
void vx_pg_pool_destroy(vx_pg_pool *p);

/* Checks out a healthy connection: reuses an idle one after a ping (replacing it if broken or
 * older than recycle_ms) or opens one. VX_TIMEOUT when all size+overflow are in use for
 * acquire_timeout_ms, VX_UNAVAILABLE when the server cannot be reached. The connection stays
 * owned by the pool; give it back with vx_pg_release. Thread-safe. */
VX_MUST_CHECK vx_status vx_pg_acquire(vx_pg_pool *p, PGconn **out);
/* Returns a connection. Pass broken=true after an error that may have left it unusable (it is
 * closed). A connection inside a transaction is rolled back first. Thread-safe. */
void vx_pg_release(vx_pg_pool *p, PGconn *conn, bool broken);
void vx_pg_stats_get(vx_pg_pool *p, vx_pg_stats *out);
/* Connections checked out now, for a metrics gauge callback (`pool` is a vx_pg_pool *). */
double vx_pg_gauge_in_use(void *pool);
/* Whether a connection can be made and answers now (for /readyz); writes the reason if not.
 * Does not wait for a slot: with every connection checked out the pool counts as ready. */
bool vx_pg_pool_ping(vx_pg_pool *p, char *why, size_t why_cap);
/* libpq's message for the last failed connection attempt ("" if none), e.g. to log why
 * vx_pg_acquire returned VX_UNAVAILABLE. Never contains the password. Thread-safe. */
void vx_pg_pool_last_error(vx_pg_pool *p, char *err, size_t err_cap);

/* BEGIN and SELECT set_config('vx.tenant_id', tenant, true): row-level security sees only that
 * tenant until COMMIT/ROLLBACK. VX_INVALID if a transaction is already open (or tenant_id is
 * NULL); on failure no transaction is left open. */
VX_MUST_CHECK vx_status vx_pg_begin_tenant(PGconn *c, const char *tenant_id);
/* Sets the tenant inside an already open transaction (for work spanning tenants); VX_INVALID
 * outside one, where the setting would not outlive the statement. */
VX_MUST_CHECK vx_status vx_pg_set_tenant(PGconn *c, const char *tenant_id);
/* Runs one command, discarding any rows (BEGIN, COMMIT, DDL...). On error writes the server's
 * message into err (if err_cap > 0) and returns VX_INVALID when the data was refused (class 22
 * data exception, class 23 integrity constraint), VX_INTERNAL for the program's own SQL being
 * wrong (class 42: syntax, undefined object, missing privilege), VX_TIMEOUT on statement
 * timeout, VX_CONFLICT when the transaction was aborted to be run again (class 40: deadlock,
 * serialization failure), and VX_UNAVAILABLE for a bad connection or any other condition of
 * the server (out of disk or memory, read-only, shutting down...), which callers retry. */
VX_MUST_CHECK vx_status vx_pg_exec(PGconn *c, const char *sql, char *err, size_t err_cap);
/* Maps a finished result to a status (the mapping above; a NULL result is VX_INTERNAL unless
 * the connection is bad) and writes the message on error, without
 * its trailing newline. Does not clear the result. */
VX_MUST_CHECK vx_status vx_pg_result_status(PGconn *c, const PGresult *r, char *err,
                                            size_t err_cap);

/* Applies every db/migrations/NNNN_name.sql in `dir` not yet recorded in schema_migrations, in
 * order, each in its own transaction, under an advisory lock so that replicas starting together
 * do not race. Files not named ^[0-9]{4}_[a-z0-9_]+\.sql$ are ignored. A recorded migration
 * whose file changed (SHA-256 checksum) is VX_CONFLICT; a failing one returns its status with
 * the file and the server's message in err, and leaves nothing of itself behind (migrations
 * before it stay applied). `applied` (may be NULL) gets how many ran, on success only. Logs
 * one line per migration applied. Thread-safe (its own connection). */
VX_MUST_CHECK vx_status vx_pg_migrate(const char *dsn, const char *dir, int *applied, char *err,
                                      size_t err_cap);

#endif
