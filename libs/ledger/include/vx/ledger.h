/* The cost ledger in PostgreSQL: writes validated cost events exactly once into the
 * month-partitioned cost_records and keeps the daily rollup equal to its sums, in one
 * transaction per batch. A new event is inserted, a higher revision replaces the stored row, an
 * equal or lower revision changes nothing. New rows are written by any number of writers at
 * once; restatements of one tenant are serialized by an advisory lock, so replicas never lose a
 * rollup update. */
#ifndef VX_LEDGER_H
#define VX_LEDGER_H

#include "vx/cost.h"
#include "vx/status.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint64_t inserted;  /* new rows */
    uint64_t restated;  /* rows replaced by a higher revision */
    uint64_t duplicate; /* events that changed nothing (seen before, or repeated in the batch) */
} vx_ledger_counts;

typedef struct vx_ledger vx_ledger;

/* The tenant cache's bound when none is given. */
#define VX_LEDGER_DEFAULT_TENANT_CACHE 100000

typedef struct {
    size_t tenant_cache_max; /* tenants remembered as existing (0: the default) */
} vx_ledger_config;

/* Creates the ledger writer: a cache of the month partitions known to exist and a bounded LRU
 * cache of tenants known to exist (it always admits, evicting the least recently used). cfg is
 * borrowed (NULL: defaults). Thread-safe afterwards. */
vx_ledger *vx_ledger_create_with(const vx_ledger_config *cfg);
/* vx_ledger_create_with(NULL). */
vx_ledger *vx_ledger_create(void);
void vx_ledger_destroy(vx_ledger *l);

/* For each of the n tenant ids (borrowed), whether it exists (tenants table), into exists[n]:
 * cached ids are answered at once, all the others by one query. Positive answers are cached.
 * An id that is not a UUID is a non-existent tenant. On error (err, may be NULL, says why)
 * exists is partly written and must not be used. Thread-safe. */
VX_MUST_CHECK vx_status vx_ledger_tenants_exist(vx_ledger *l, PGconn *c,
                                                const char *const *tenant_ids, size_t n,
                                                bool *exists, char *err, size_t err_cap);

/* Whether one tenant exists (vx_ledger_tenants_exist of one id). */
VX_MUST_CHECK vx_status vx_ledger_tenant_exists(vx_ledger *l, PGconn *c, const char *tenant_id,
                                                bool *exists);

/* Creates the partitions of the month holding `unix_s` and the next `months_ahead` months. */
VX_MUST_CHECK vx_status vx_ledger_ensure_months_ahead(vx_ledger *l, PGconn *c, int64_t unix_s,
                                                      int months_ahead, char *err, size_t err_cap);

/* A batch made ready for writing: its COPY rows formatted, its tenants and months listed. Pure
 * CPU work with no connection, so a pipeline can prepare the next batch while the previous one
 * is written. It copies what it needs: the events may be freed afterwards. */
typedef struct vx_ledger_batch vx_ledger_batch;

vx_ledger_batch *vx_ledger_batch_create(vx_cost_event *const *events, size_t n);
size_t vx_ledger_batch_size(const vx_ledger_batch *b);
void vx_ledger_batch_destroy(vx_ledger_batch *b);

/* Writes a prepared batch; the same contract as vx_ledger_write, except that `changed` receives
 * pointers to tenant ids owned by the batch. */
VX_MUST_CHECK vx_status vx_ledger_write_batch(vx_ledger *l, PGconn *c, const vx_ledger_batch *b,
                                              vx_ledger_counts *counts, const char **changed,
                                              size_t *n_changed, char *err, size_t err_cap);

/* Writes validated, normalized events (any tenants) in one transaction on `c`, which must be
 * idle (not in a transaction). On success the transaction has committed and *counts holds what
 * happened; `changed` (may be NULL) receives, for each tenant whose data changed, a pointer to
 * its tenant_id string inside `events` (at most n entries; *n_changed their number). On error
 * the transaction is rolled back, nothing is written, and the status says why: VX_UNAVAILABLE or
 * VX_TIMEOUT (retry later), VX_CONFLICT (a concurrent writer of the same events deadlocked with
 * this one and Postgres chose this one to abort: run it again), VX_INVALID (the data was
 * refused; err has the server's message). */
VX_MUST_CHECK vx_status vx_ledger_write(vx_ledger *l, PGconn *c, vx_cost_event *const *events,
                                        size_t n, vx_ledger_counts *counts, const char **changed,
                                        size_t *n_changed, char *err, size_t err_cap);

#endif
