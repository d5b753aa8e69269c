/* What the API's tests share: query parameters given as a list (an api_param_fn source) and,
 * for the tests against Postgres, a pool of the service role with a ledger to write events. */
#ifndef VX_API_TEST_FIXTURE_H
#define VX_API_TEST_FIXTURE_H

#include <string.h>

/* Query parameters as name, value, name, value, ..., NULL. */
typedef struct {
    const char *kv[16];
} params;

/* An api_param_fn over a params. */
static inline const char *get(void *ctx, const char *name)
{
    params *p = ctx;
    for (int i = 0; p->kv[i]; i += 2)
        if (strcmp(p->kv[i], name) == 0)
            return p->kv[i + 1];
    return NULL;
}

#ifdef VX_API_TEST_PG
#include "../../../tests/support/events.h"
#include "../../../tests/support/vx_test_env.h"
#include "vx/ledger.h"
#include "vx/pg.h"

#include <stdlib.h>

static vx_pg_pool *pool; /* the service role's; NULL when the stack is missing (skip) */
static vx_ledger *ledger;

/* Writes evs[0..n) through the ledger, as ingest would. */
static inline void write_events(vx_test_event *evs, size_t n)
{
    vx_cost_event **ptrs = calloc(n, sizeof *ptrs);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &evs[i].ev;
    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    vx_ledger_counts k;
    char err[256];
    assert_int_equal(vx_ledger_write(ledger, c, ptrs, n, &k, NULL, NULL, err, sizeof err), VX_OK);
    vx_pg_release(pool, c, false);
    free(ptrs);
}

static inline int setup(void **state)
{
    (void)state;
    if (!vx_test_env("VX_PG_DSN") || !vx_test_env("VX_PG_ADMIN_DSN"))
        return 0;
    vx_pg_config cfg = vx_pg_defaults();
    cfg.dsn = getenv("VX_PG_DSN");
    assert_int_equal(vx_pg_pool_create(&cfg, &pool), VX_OK);
    ledger = vx_ledger_create();
    return 0;
}

static inline int teardown(void **state)
{
    (void)state;
    vx_ledger_destroy(ledger);
    vx_pg_pool_destroy(pool);
    return 0;
}
#endif

#endif
