/* Exactly-once batch writes into cost_records and cost_daily: COPY into temporary staging tables,
 * then insert every tenant's new rows and add the batch's own rollup in one statement (the fast
 * path, lock-free, so writers run in parallel). When some event was stored before, undo that and
 * go tenant by tenant: the same fast path per tenant, and for a tenant with rows stored before,
 * the exact path under the tenant's advisory lock: insert what is new, replace lower revisions,
 * and move the rollup by the difference. All in one transaction. */
#include "vx/ledger.h"

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/pg.h"
#include "vx/uuid.h"

#include "tenant_cache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KNOWN_MAX 4096

struct vx_ledger {
    pthread_mutex_t mu;
    int months[KNOWN_MAX]; /* year * 12 + month - 1 of partitions known to exist, sorted */
    size_t n_months;
    tenant_cache *tenants; /* tenant ids known to exist, least recently used evicted */
};

vx_ledger *vx_ledger_create_with(const vx_ledger_config *cfg)
{
    vx_ledger *l = vx_xcalloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    size_t max =
        cfg && cfg->tenant_cache_max ? cfg->tenant_cache_max : VX_LEDGER_DEFAULT_TENANT_CACHE;
    l->tenants = tenant_cache_create(max);
    return l;
}

vx_ledger *vx_ledger_create(void)
{
    return vx_ledger_create_with(NULL);
}

void vx_ledger_destroy(vx_ledger *l)
{
    if (!l)
        return;
    tenant_cache_destroy(l->tenants);
    pthread_mutex_destroy(&l->mu);
    vx_free(l);
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The server's notices (e.g. "relation already exists, skipping") are not ours to print. */
static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static bool month_known(vx_ledger *l, int key)
{
    pthread_mutex_lock(&l->mu);
    bool found = bsearch(&key, l->months, l->n_months, sizeof key, cmp_int) != NULL;
    pthread_mutex_unlock(&l->mu);
    return found;
}

static void month_remember(vx_ledger *l, int key)
{
    pthread_mutex_lock(&l->mu);
    if (!bsearch(&key, l->months, l->n_months, sizeof key, cmp_int) && l->n_months < KNOWN_MAX) {
        l->months[l->n_months++] = key;
        qsort(l->months, l->n_months, sizeof key, cmp_int);
    }
    pthread_mutex_unlock(&l->mu);
}

static int month_key(int64_t unix_s)
{
    int y, m, d;
    int64_t days = unix_s >= 0 ? unix_s / 86400 : -((-unix_s + 86399) / 86400);
    vx_unix_days_to_civil(days, &y, &m, &d);
    return y * 12 + (m - 1);
}

static vx_status ensure_month(vx_ledger *l, PGconn *c, int key, char *err, size_t err_cap)
{
    if (month_known(l, key))
        return VX_OK;
    char ts[32];
    snprintf(ts, sizeof ts, "%04d-%02d-01T00:00:00Z", key / 12, key % 12 + 1);
    const char *params[1] = {ts};
    PGresult *r = PQexecParams(c, "SELECT vx_ensure_month_partition($1::timestamptz)", 1, NULL,
                               params, NULL, NULL, 0);
    vx_status st = vx_pg_result_status(c, r, err, err_cap);
    if (st == VX_OK) {
        month_remember(l, key);
        vx_log(VX_LOG_DEBUG, "partition ready", VX_STR("partition", PQgetvalue(r, 0, 0)));
    }
    PQclear(r);
    return st;
}

vx_status vx_ledger_ensure_months_ahead(vx_ledger *l, PGconn *c, int64_t unix_s, int months_ahead,
                                        char *err, size_t err_cap)
{
    int key = month_key(unix_s);
    for (int i = 0; i <= months_ahead; i++) {
        vx_status st = ensure_month(l, c, key + i, err, err_cap);
        if (st != VX_OK)
            return st;
    }
    return VX_OK;
}

vx_status vx_ledger_tenants_exist(vx_ledger *l, PGconn *c, const char *const *tenant_ids, size_t n,
                                  bool *exists, char *err, size_t err_cap)
{
    /* Answer what the cache knows; ask Postgres once about the rest. */
    size_t *ask = vx_xmalloc((n ? n : 1) * sizeof *ask);
    size_t n_ask = 0;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < n; i++) {
        vx_uuid u;
        exists[i] = tenant_cache_get(l->tenants, tenant_ids[i]);
        if (!exists[i] && vx_uuid_parse(tenant_ids[i], strlen(tenant_ids[i]), &u))
            ask[n_ask++] = i;
    }
    pthread_mutex_unlock(&l->mu);
    vx_status st = VX_OK;
    if (n_ask == 0)
        goto out;
    vx_buf arr;
    vx_buf_init(&arr);
    vx_buf_putc(&arr, '{');
    for (size_t k = 0; k < n_ask; k++) {
        vx_uuid u;
        char canon[37];
        if (!vx_uuid_parse(tenant_ids[ask[k]], strlen(tenant_ids[ask[k]]), &u))
            continue; /* cannot happen: only parsed ids are asked */
        vx_uuid_format(&u, canon);
        vx_buf_printf(&arr, "%s%s", k ? "," : "", canon);
    }
    vx_buf_putc(&arr, '}');
    vx_buf_putc(&arr, '\0');
    const char *params[1] = {arr.data};
    PGresult *r = PQexecParams(c,
                               "SELECT i FROM unnest($1::uuid[]) WITH ORDINALITY AS u(t, i) "
                               "WHERE vx_tenant_exists(t)",
                               1, NULL, params, NULL, NULL, 0);
    vx_buf_cleanup(&arr);
    st = vx_pg_result_status(c, r, err, err_cap);
    if (st == VX_OK) {
        pthread_mutex_lock(&l->mu);
        for (int row = 0; row < PQntuples(r); row++) {
            long i = strtol(PQgetvalue(r, row, 0), NULL, 10);
            if (i < 1 || (size_t)i > n_ask)
                continue;
            size_t at = ask[i - 1];
            exists[at] = true;
            tenant_cache_put(l->tenants, tenant_ids[at]);
        }
        pthread_mutex_unlock(&l->mu);
    }
    PQclear(r);
out:
    vx_free(ask);
    return st;
}

vx_status vx_ledger_tenant_exists(vx_ledger *l, PGconn *c, const char *tenant_id, bool *exists)
{
    bool e = false;
    vx_status st = vx_ledger_tenants_exist(l, c, &tenant_id, 1, &e, NULL, 0);
    if (st == VX_OK)
        *exists = e;
    return st;
}

/* ---- the batch write ---- */

#define STAGE_SQL                                                                                  \
    "CREATE TEMP TABLE IF NOT EXISTS vx_stage (LIKE cost_records INCLUDING DEFAULTS) "             \
    "ON COMMIT DELETE ROWS; "                                                                      \
    "CREATE TEMP TABLE IF NOT EXISTS vx_roll_stage (LIKE cost_daily) ON COMMIT DELETE ROWS"

#define ROLL_COLUMNS                                                                               \
    "tenant_id, day, service_name, sub_account_id, region_id, provider, billing_currency, "        \
    "billed_cost, effective_cost, list_cost, record_count"

#define DEDUP_CTE                                                                                  \
    "s AS (SELECT DISTINCT ON (recorded_at, event_id) * FROM vx_stage WHERE tenant_id = $1::uuid " \
    "ORDER BY recorded_at, event_id, revision DESC)"

#define GROUP_COLS "service_name, sub_account_id, region_id, provider, billing_currency"

#define ROLLUP_UPSERT(src)                                                                         \
    "INSERT INTO cost_daily AS d (tenant_id, day, " GROUP_COLS                                     \
    ", billed_cost, effective_cost, list_cost, record_count) "                                     \
    "SELECT $1::uuid, (recorded_at AT TIME ZONE 'UTC')::date, " GROUP_COLS                         \
    ", sum(billed_cost), sum(effective_cost), sum(list_cost), sum(n) FROM " src                    \
    " GROUP BY 2, 3, 4, 5, 6, 7 ORDER BY 2, 3, 4, 5, 6, 7 "                                        \
    "ON CONFLICT (tenant_id, day, " GROUP_COLS ") DO UPDATE SET "                                  \
    "billed_cost = d.billed_cost + EXCLUDED.billed_cost, "                                         \
    "effective_cost = d.effective_cost + EXCLUDED.effective_cost, "                                \
    "list_cost = d.list_cost + EXCLUDED.list_cost, "                                               \
    "record_count = d.record_count + EXCLUDED.record_count RETURNING 1"

#define RETURN_COLS "recorded_at, " GROUP_COLS ", billed_cost, effective_cost, list_cost"

/* New events: insert, then add them to the rollup. An event repeated within the batch conflicts
 * with its own first copy and is left to the restatement pass, so no sort is needed here. */
static const char INSERT_SQL[] =
    "WITH ins AS (INSERT INTO cost_records (" VX_COST_COPY_COLUMNS ") SELECT " VX_COST_COPY_COLUMNS
    " FROM vx_stage WHERE tenant_id = $1::uuid ON CONFLICT (tenant_id, recorded_at, event_id) DO "
    "NOTHING RETURNING " RETURN_COLS ", 1 AS n), "
    "roll AS (" ROLLUP_UPSERT(
        "ins") ") "
               "SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM roll)";

/* The fast path: every staged row is new (the common case), so the rollup grows by exactly the
 * batch's own sums, computed by the writer. Run inside a savepoint; if any row conflicted, the
 * savepoint is rolled back and the exact path below runs instead. */
#define FAST_INSERT_TEXT                                                                           \
    "INSERT INTO cost_records (" VX_COST_COPY_COLUMNS ") SELECT " VX_COST_COPY_COLUMNS             \
    " FROM vx_stage WHERE tenant_id = $1::uuid"

#define FAST_ROLLUP_TEXT                                                                           \
    "INSERT INTO cost_daily AS d (" ROLL_COLUMNS ") SELECT " ROLL_COLUMNS                          \
    " FROM vx_roll_stage WHERE tenant_id = $1::uuid ORDER BY day, " GROUP_COLS " "                 \
    "ON CONFLICT (tenant_id, day, " GROUP_COLS ") DO UPDATE SET "                                  \
    "billed_cost = d.billed_cost + EXCLUDED.billed_cost, "                                         \
    "effective_cost = d.effective_cost + EXCLUDED.effective_cost, "                                \
    "list_cost = d.list_cost + EXCLUDED.list_cost, "                                               \
    "record_count = d.record_count + EXCLUDED.record_count"

/* Restatements (and repeats within the batch): rows stored with a lower revision take the
 * highest revision staged; the rollup loses the old amounts and gains the new ones (each in its
 * own day and dimensions). The tenant's advisory lock makes the `old` snapshot the truth. */
static const char RESTATE_SQL[] =
    "WITH " DEDUP_CTE ", "
    "old AS (SELECT c.recorded_at, c.service_name, c.sub_account_id, c.region_id, c.provider, "
    "c.billing_currency, c.billed_cost, c.effective_cost, c.list_cost FROM s JOIN cost_records c "
    "ON c.tenant_id = $1::uuid AND c.recorded_at = s.recorded_at AND c.event_id = s.event_id "
    "WHERE c.revision < s.revision), "
    "upd AS (UPDATE cost_records c SET revision = s.revision, charge_period_end = "
    "s.charge_period_end, provider = s.provider, sub_account_id = s.sub_account_id, service_name = "
    "s.service_name, service_category = s.service_category, region_id = s.region_id, resource_id = "
    "s.resource_id, charge_category = s.charge_category, billed_cost = s.billed_cost, "
    "effective_cost = s.effective_cost, list_cost = s.list_cost, billing_currency = "
    "s.billing_currency, usage_quantity = s.usage_quantity, usage_unit = s.usage_unit, tags = "
    "s.tags, ingested_at = now() FROM s WHERE c.tenant_id = $1::uuid AND c.recorded_at = "
    "s.recorded_at AND c.event_id = s.event_id AND c.revision < s.revision RETURNING "
    "c.recorded_at, "
    "c.service_name, c.sub_account_id, c.region_id, c.provider, c.billing_currency, c.billed_cost, "
    "c.effective_cost, c.list_cost), "
    "delta AS (SELECT " RETURN_COLS ", 1 AS n FROM upd UNION ALL SELECT recorded_at, " GROUP_COLS
    ", -billed_cost, -effective_cost, -list_cost, -1 FROM old), "
    "roll AS (" ROLLUP_UPSERT(
        "delta") ") "
                 "SELECT (SELECT count(*) FROM upd), (SELECT count(*) FROM roll)";

static const char TENANT_SQL[] = "SELECT set_config('vx.tenant_id', $1, true)";

/* Serializes the exact path per tenant (see write_tenant). */
static const char LOCK_SQL[] = "SELECT pg_advisory_xact_lock(hashtextextended($1, 7261))";

#define VERSION_TEXT                                                                               \
    "INSERT INTO tenant_data_versions AS v (tenant_id, version) VALUES ($1::uuid, 1) "             \
    "ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1, updated_at = now()"

static const char VERSION_SQL[] = VERSION_TEXT;

/* The fast path as one statement: new rows, the batch's own rollup and the data version. */
static const char FAST_SQL[] =
    "WITH i AS (" FAST_INSERT_TEXT "), r AS (" FAST_ROLLUP_TEXT ") " VERSION_TEXT;

static vx_status exec_params(PGconn *c, const char *sql, const char *tenant, PGresult **out,
                             char *err, size_t err_cap)
{
    const char *params[1] = {tenant};
    PGresult *r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
    vx_status st = vx_pg_result_status(c, r, err, err_cap);
    if (st != VX_OK || !out) {
        PQclear(r);
        return st;
    }
    *out = r;
    return VX_OK;
}

static uint64_t u64(PGresult *r, int col)
{
    return strtoull(PQgetvalue(r, 0, col), NULL, 10);
}

/* ---- prepared batches ---- */

struct vx_ledger_batch {
    vx_buf copy;         /* COPY text of every row */
    vx_buf roll;         /* COPY text of the batch's rollup rows (vx_roll_stage) */
    char (*tenants)[37]; /* distinct tenants, sorted */
    size_t *staged;      /* rows per tenant */
    size_t n_tenants;
    int *months; /* distinct charge months (year * 12 + month - 1), sorted */
    size_t n_months;
    size_t n;
};

/* ---- the batch's own rollup, summed exactly (128-bit nanos) ---- */

typedef struct {
    const vx_cost_event *ev; /* a member of the group, for its strings; NULL if the slot is free */
    int64_t day;
    vx_int128 billed, effective, list;
    uint64_t count;
} roll_group;

static int64_t day_of(int64_t unix_s)
{
    return unix_s >= 0 ? unix_s / 86400 : -((-unix_s + 86399) / 86400);
}

static uint64_t hash_str(uint64_t h, const char *s)
{
    for (s = s ? s : ""; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (h ^ 0x1f) * 1099511628211ULL;
}

static bool str_eq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool same_group(const vx_cost_event *a, const vx_cost_event *b)
{
    return str_eq(a->tenant_id, b->tenant_id) && str_eq(a->service_name, b->service_name) &&
           str_eq(a->sub_account_id, b->sub_account_id) && str_eq(a->region_id, b->region_id) &&
           str_eq(a->provider, b->provider) && str_eq(a->billing_currency, b->billing_currency);
}

static void put_field(vx_buf *out, const char *s)
{
    vx_cost_copy_escape(out, s);
    vx_buf_putc(out, '\t');
}

/* An exact decimal of any 128-bit count of nanos (a batch's sum may pass int64 units; Postgres
 * then stores it or refuses it as out of numeric(38,9) range, never an approximation). */
static void put_nanos(vx_buf *out, vx_int128 nanos, char sep)
{
    bool neg = nanos < 0;
    vx_uint128 a = neg ? (vx_uint128)0 - (vx_uint128)nanos : (vx_uint128)nanos;
    char digits[64];
    int n = 0;
    do {
        digits[n++] = (char)('0' + (int)(a % 10));
        a /= 10;
    } while (a || n < 10); /* at least one digit before the nine after the point */
    if (neg)
        vx_buf_putc(out, '-');
    for (int i = n - 1; i >= 0; i--) {
        vx_buf_putc(out, digits[i]);
        if (i == 9)
            vx_buf_putc(out, '.');
    }
    vx_buf_putc(out, sep);
}

static void build_rollup(vx_buf *out, vx_cost_event *const *events, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    roll_group *t = vx_xcalloc(cap, sizeof *t);
    for (size_t i = 0; i < n; i++) {
        const vx_cost_event *e = events[i];
        int64_t day = day_of(e->charge_period_start);
        uint64_t h = 1469598103934665603ULL ^ (uint64_t)day;
        h = hash_str(hash_str(hash_str(h, e->tenant_id), e->service_name), e->sub_account_id);
        h = hash_str(hash_str(hash_str(h, e->region_id), e->provider), e->billing_currency);
        size_t k = (size_t)h & (cap - 1);
        while (t[k].ev && !(t[k].day == day && same_group(t[k].ev, e)))
            k = (k + 1) & (cap - 1);
        vx_money b, ef, l;
        vx_cost_event_amounts(e, &b, &ef, &l);
        t[k].ev = e;
        t[k].day = day;
        t[k].billed += vx_money_to_nanos(b);
        t[k].effective += vx_money_to_nanos(ef);
        t[k].list += vx_money_to_nanos(l);
        t[k].count++;
    }
    for (size_t k = 0; k < cap; k++) {
        const vx_cost_event *e = t[k].ev;
        if (!e)
            continue;
        char date[16];
        vx_format_date(t[k].day * 86400, date, sizeof date);
        put_field(out, e->tenant_id);
        put_field(out, date);
        put_field(out, e->service_name);
        put_field(out, e->sub_account_id);
        put_field(out, e->region_id);
        put_field(out, e->provider);
        put_field(out, e->billing_currency);
        put_nanos(out, t[k].billed, '\t');
        put_nanos(out, t[k].effective, '\t');
        put_nanos(out, t[k].list, '\t');
        vx_buf_printf(out, "%llu\n", (unsigned long long)t[k].count);
    }
    vx_free(t);
}

static int cmp_tenant_ptr(const void *a, const void *b)
{
    return strcmp((*(vx_cost_event *const *)a)->tenant_id, (*(vx_cost_event *const *)b)->tenant_id);
}

vx_ledger_batch *vx_ledger_batch_create(vx_cost_event *const *events, size_t n)
{
    vx_ledger_batch *b = vx_xcalloc(1, sizeof *b);
    b->n = n;
    vx_buf_init(&b->copy);
    vx_buf_reserve(&b->copy, n * 320);
    for (size_t i = 0; i < n; i++)
        vx_cost_copy_row(&b->copy, events[i]);
    vx_buf_init(&b->roll);
    build_rollup(&b->roll, events, n);
    vx_cost_event **sorted = vx_xmalloc((n ? n : 1) * sizeof *sorted);
    if (n)
        memcpy(sorted, events, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_tenant_ptr);
    b->tenants = vx_xmalloc((n ? n : 1) * sizeof *b->tenants);
    b->staged = vx_xcalloc(n ? n : 1, sizeof *b->staged);
    for (size_t i = 0; i < n; i++) {
        if (b->n_tenants == 0 || strcmp(b->tenants[b->n_tenants - 1], sorted[i]->tenant_id) != 0)
            snprintf(b->tenants[b->n_tenants++], 37, "%s", sorted[i]->tenant_id);
        b->staged[b->n_tenants - 1]++;
    }
    vx_free(sorted);
    b->months = vx_xmalloc((n ? n : 1) * sizeof *b->months);
    for (size_t i = 0; i < n; i++)
        b->months[i] = month_key(events[i]->charge_period_start);
    qsort(b->months, n, sizeof *b->months, cmp_int);
    for (size_t i = 0; i < n; i++)
        if (b->n_months == 0 || b->months[b->n_months - 1] != b->months[i])
            b->months[b->n_months++] = b->months[i];
    return b;
}

size_t vx_ledger_batch_size(const vx_ledger_batch *b)
{
    return b->n;
}

void vx_ledger_batch_destroy(vx_ledger_batch *b)
{
    if (!b)
        return;
    vx_buf_cleanup(&b->copy);
    vx_buf_cleanup(&b->roll);
    vx_free(b->tenants);
    vx_free(b->staged);
    vx_free(b->months);
    vx_free(b);
}

static vx_status copy_rows(PGconn *c, const char *sql, const vx_buf *rows, char *err,
                           size_t err_cap)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN) {
        vx_status st = vx_pg_result_status(c, r, err, err_cap);
        PQclear(r);
        return st == VX_OK ? VX_INTERNAL : st;
    }
    PQclear(r);
    bool ok = true;
    for (size_t off = 0; off < rows->len && ok;) {
        size_t chunk = rows->len - off < 1024 * 1024 ? rows->len - off : 1024 * 1024;
        ok = PQputCopyData(c, rows->data + off, (int)chunk) == 1;
        off += chunk;
    }
    if (PQputCopyEnd(c, ok ? NULL : "client failed to send rows") != 1)
        ok = false;
    vx_status st = VX_OK;
    while ((r = PQgetResult(c)) != NULL) {
        vx_status s2 = vx_pg_result_status(c, r, err, err_cap);
        if (st == VX_OK)
            st = s2;
        PQclear(r);
    }
    if (st == VX_OK && !ok) {
        snprintf(err, err_cap, "%s", PQerrorMessage(c));
        st = VX_UNAVAILABLE;
    }
    return st;
}

/* The exact path for one tenant: under the tenant's advisory lock, so that the stored
 * revisions it reads stay the truth until it commits, insert what is new, replace lower
 * revisions and move the rollup by the difference. */
static vx_status write_tenant_exact(PGconn *c, const char *tenant, uint64_t staged,
                                    vx_ledger_counts *counts, bool *changed, char *err,
                                    size_t err_cap)
{
    PGresult *r;
    vx_status st = exec_params(c, TENANT_SQL, tenant, NULL, err, err_cap);
    if (st == VX_OK)
        st = exec_params(c, LOCK_SQL, tenant, NULL, err, err_cap);
    if (st == VX_OK)
        st = exec_params(c, INSERT_SQL, tenant, &r, err, err_cap);
    if (st != VX_OK)
        return st;
    uint64_t inserted = u64(r, 0), restated = 0;
    PQclear(r);
    if (inserted < staged) {
        st = exec_params(c, RESTATE_SQL, tenant, &r, err, err_cap);
        if (st != VX_OK)
            return st;
        restated = u64(r, 0);
        PQclear(r);
    }
    if (inserted + restated > 0) {
        st = exec_params(c, VERSION_SQL, tenant, NULL, err, err_cap);
        if (st != VX_OK)
            return st;
    }
    counts->inserted += inserted;
    counts->restated += restated;
    counts->duplicate += staged - inserted - restated;
    *changed = inserted + restated > 0;
    return VX_OK;
}

/* ---- the fast path of a whole batch in one statement ---- */

/* Every tenant's new rows, rollup and data version at once, allowed by row-level security for the
 * tenants named in vx.batch_tenants (migration 0007), which the ledger sets, inside a savepoint, to
 * the batch's tenants (all verified by the caller) and clears again before the savepoint is
 * released. Rollup keys and versions are written in key order, so concurrent writers lock them in
 * the same order. A unique violation (an event stored before) rolls back to the savepoint and the
 * per-tenant paths below take over. */
static const char ALL_SQL[] =
    "WITH i AS (INSERT INTO cost_records (" VX_COST_COPY_COLUMNS ") SELECT " VX_COST_COPY_COLUMNS
    " FROM vx_stage), "
    "r AS (INSERT INTO cost_daily AS d (" ROLL_COLUMNS ") SELECT " ROLL_COLUMNS
    " FROM vx_roll_stage ORDER BY tenant_id, day, " GROUP_COLS " "
    "ON CONFLICT (tenant_id, day, " GROUP_COLS ") DO UPDATE SET "
    "billed_cost = d.billed_cost + EXCLUDED.billed_cost, "
    "effective_cost = d.effective_cost + EXCLUDED.effective_cost, "
    "list_cost = d.list_cost + EXCLUDED.list_cost, "
    "record_count = d.record_count + EXCLUDED.record_count) "
    "INSERT INTO tenant_data_versions AS v (tenant_id, version) "
    "SELECT DISTINCT tenant_id, 1 FROM vx_roll_stage ORDER BY 1 "
    "ON CONFLICT (tenant_id) DO UPDATE SET version = v.version + 1, updated_at = now()";

/* Statements of the whole-batch path, in one round trip; the array literal goes between. */
#define ALL_STEP_INSERT 2
#define ALL_STEPS 5

static bool literal_safe(const char *tenant);

/* Runs the whole batch as one statement. *stored is set when it did; when some event was stored
 * before, the transaction is back at its savepoint (usable) and *stored stays false. */
static vx_status write_all(PGconn *c, const vx_ledger_batch *b, bool *stored, char *err,
                           size_t err_cap)
{
    *stored = false;
    for (size_t i = 0; i < b->n_tenants; i++)
        if (!literal_safe(b->tenants[i]))
            return VX_OK; /* cannot happen for validated ids; the per-tenant paths take them */
    vx_buf sql;
    vx_buf_init(&sql);
    vx_buf_puts(&sql, "SAVEPOINT vx_all;SELECT set_config('vx.batch_tenants', '{");
    for (size_t i = 0; i < b->n_tenants; i++)
        vx_buf_printf(&sql, "%s%s", i ? "," : "", b->tenants[i]);
    vx_buf_puts(&sql, "}', true);");
    vx_buf_puts(&sql, ALL_SQL);
    vx_buf_puts(&sql, ";SELECT set_config('vx.batch_tenants', '', true);RELEASE SAVEPOINT vx_all");
    vx_buf_putc(&sql, '\0');
    bool sent = PQsendQuery(c, sql.data) == 1;
    vx_buf_cleanup(&sql);
    if (!sent) {
        snprintf(err, err_cap, "%s", PQerrorMessage(c));
        return VX_UNAVAILABLE;
    }
    size_t ok = 0;
    bool seen_before = false;
    vx_status st = VX_OK;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        if (st == VX_OK) {
            ExecStatusType rs = PQresultStatus(r);
            if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
                ok++;
            } else {
                const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                seen_before = ok == ALL_STEP_INSERT && state && strcmp(state, "23505") == 0;
                st = vx_pg_result_status(c, r, err, err_cap);
                if (st == VX_OK)
                    st = VX_INTERNAL;
            }
        }
        PQclear(r);
    }
    if (seen_before)
        return vx_pg_exec(c, "ROLLBACK TO SAVEPOINT vx_all", err, err_cap);
    if (st == VX_OK && ok == ALL_STEPS)
        *stored = true;
    else if (st == VX_OK)
        st = VX_INTERNAL;
    return st;
}

/* ---- the fast path of many tenants in one round trip ---- */

/* Statements of one tenant's fast path, in order; each "$1" becomes the tenant as a quoted
 * literal. A plain insert (no ON CONFLICT: cheaper per row) inside a savepoint: a unique
 * violation means some event was stored before, and the exact path takes that tenant over. */
static const char *const FAST_STEPS[] = {
    TENANT_SQL,
    "SAVEPOINT vx_fast",
    FAST_SQL,
    "RELEASE SAVEPOINT vx_fast",
};
#define N_FAST_STEPS (sizeof FAST_STEPS / sizeof FAST_STEPS[0])
#define FAST_INSERT_STEP 2
/* tenants per round trip: bounds the statement text */
#define FAST_TENANTS_MAX 256

/* Whether a tenant id can be written as a literal: only hex digits and dashes (the form of
 * every validated id). Any other goes the parameterized exact path. */
static bool literal_safe(const char *tenant)
{
    return tenant[0] && strspn(tenant, "0123456789abcdefABCDEF-") == strlen(tenant);
}

static void put_with_tenant(vx_buf *out, const char *sql, const char *tenant)
{
    for (const char *p = sql; *p; p++) {
        if (p[0] == '$' && p[1] == '1') {
            vx_buf_printf(out, "'%s'", tenant);
            p++;
        } else {
            vx_buf_putc(out, *p);
        }
    }
    vx_buf_putc(out, ';');
}

/* Runs the fast path of tenants [from, to) of b in one multi-statement query (one round trip):
 * tenant ids are canonical UUIDs, so they can be literals. *done gets how many tenants
 * completed; when the one after them found rows stored before, *seen_before is set and the
 * transaction is back at its savepoint (usable), otherwise a failure is returned. */
static vx_status fast_tenants(PGconn *c, const vx_ledger_batch *b, size_t from, size_t to,
                              size_t *done, bool *seen_before, char *err, size_t err_cap)
{
    vx_buf sql;
    vx_buf_init(&sql);
    for (size_t i = from; i < to; i++)
        for (size_t k = 0; k < N_FAST_STEPS; k++)
            put_with_tenant(&sql, FAST_STEPS[k], b->tenants[i]);
    vx_buf_putc(&sql, '\0');
    *done = 0;
    *seen_before = false;
    if (!PQsendQuery(c, sql.data)) {
        vx_buf_cleanup(&sql);
        snprintf(err, err_cap, "%s", PQerrorMessage(c));
        return VX_UNAVAILABLE;
    }
    vx_buf_cleanup(&sql);
    size_t ok = 0;
    vx_status st = VX_OK;
    PGresult *r;
    while ((r = PQgetResult(c)) != NULL) {
        if (st == VX_OK) {
            ExecStatusType rs = PQresultStatus(r);
            if (rs == PGRES_COMMAND_OK || rs == PGRES_TUPLES_OK) {
                ok++;
            } else {
                const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
                if (ok % N_FAST_STEPS == FAST_INSERT_STEP && state && strcmp(state, "23505") == 0)
                    *seen_before = true;
                st = vx_pg_result_status(c, r, err, err_cap);
                if (st == VX_OK)
                    st = VX_INTERNAL;
            }
        }
        PQclear(r);
    }
    *done = ok / N_FAST_STEPS;
    if (*seen_before)
        st = vx_pg_exec(c, "ROLLBACK TO SAVEPOINT vx_fast", err, err_cap);
    return st;
}

vx_status vx_ledger_write_batch(vx_ledger *l, PGconn *c, const vx_ledger_batch *b,
                                vx_ledger_counts *counts, const char **changed, size_t *n_changed,
                                char *err, size_t err_cap)
{
    vx_ledger_counts total = {0};
    size_t nch = 0;
    vx_status st = VX_OK;
    if (b->n == 0)
        goto done;
    PQsetNoticeProcessor(c, quiet_notices, NULL);
    for (size_t i = 0; i < b->n_months && st == VX_OK; i++)
        st = ensure_month(l, c, b->months[i], err, err_cap);
    if (st == VX_OK)
        st = vx_pg_exec(c, STAGE_SQL, err, err_cap);
    if (st == VX_OK)
        st = vx_pg_exec(c, "BEGIN", err, err_cap);
    if (st == VX_OK)
        st = vx_pg_exec(c, "SET LOCAL work_mem = '64MB'; SET LOCAL jit = off", err, err_cap);
    if (st == VX_OK)
        st = copy_rows(c, "COPY vx_stage (" VX_COST_COPY_COLUMNS ") FROM STDIN", &b->copy, err,
                       err_cap);
    if (st == VX_OK)
        st = copy_rows(c, "COPY vx_roll_stage (" ROLL_COLUMNS ") FROM STDIN", &b->roll, err,
                       err_cap);
    bool all_stored = false;
    if (st == VX_OK)
        st = write_all(c, b, &all_stored, err, err_cap);
    if (all_stored) {
        total.inserted = b->n;
        for (size_t k = 0; changed && k < b->n_tenants; k++)
            changed[nch++] = b->tenants[k];
    }
    for (size_t i = 0; i < b->n_tenants && st == VX_OK && !all_stored;) {
        size_t to = i;
        while (to < b->n_tenants && to - i < FAST_TENANTS_MAX && literal_safe(b->tenants[to]))
            to++;
        size_t done = 0;
        bool seen_before = to == i; /* not literal-safe: the exact path takes it */
        if (to > i)
            st = fast_tenants(c, b, i, to, &done, &seen_before, err, err_cap);
        for (size_t k = i; k < i + done; k++) {
            total.inserted += b->staged[k];
            if (changed)
                changed[nch++] = b->tenants[k];
        }
        i += done;
        if (st == VX_OK && seen_before) {
            bool ch = false;
            st = write_tenant_exact(c, b->tenants[i], b->staged[i], &total, &ch, err, err_cap);
            if (st == VX_OK && ch && changed)
                changed[nch++] = b->tenants[i];
            i++;
        }
    }
    if (st == VX_OK)
        st = vx_pg_exec(c, "COMMIT", err, err_cap);
    if (st != VX_OK) {
        /* The write has failed with st already; if ROLLBACK fails too, vx_pg_release rolls back
         * again or the caller drops the connection as broken. */
        if (PQtransactionStatus(c) != PQTRANS_IDLE)
            vx_status_ignore(vx_pg_exec(c, "ROLLBACK", NULL, 0));
        /* A partition may have gone (archived, dropped): look again next time. */
        pthread_mutex_lock(&l->mu);
        l->n_months = 0;
        pthread_mutex_unlock(&l->mu);
        return st;
    }
done:
    *counts = total;
    if (n_changed)
        *n_changed = nch;
    return VX_OK;
}

vx_status vx_ledger_write(vx_ledger *l, PGconn *c, vx_cost_event *const *events, size_t n,
                          vx_ledger_counts *counts, const char **changed, size_t *n_changed,
                          char *err, size_t err_cap)
{
    vx_ledger_batch *b = vx_ledger_batch_create(events, n);
    size_t nch = 0;
    vx_status st = vx_ledger_write_batch(l, c, b, counts, changed, &nch, err, err_cap);
    /* the batch's tenant strings go with it: point at the events' own instead */
    for (size_t k = 0; st == VX_OK && changed && k < nch; k++) {
        for (size_t i = 0; i < n; i++) {
            if (strcmp(events[i]->tenant_id, changed[k]) == 0) {
                changed[k] = events[i]->tenant_id;
                break;
            }
        }
    }
    vx_ledger_batch_destroy(b);
    if (n_changed)
        *n_changed = st == VX_OK ? nch : 0;
    return st;
}
