/* Integration tests of libs/pg against the real Postgres (VX_PG_DSN, VX_PG_ADMIN_DSN): the pool,
 * status mapping, tenant scoping and the migration runner. Each run works in schemas of its own
 * (vx_test_pg_<pid>...), dropped at the end, so it can run beside other tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/pg.h"

#include "../../../tests/support/vx_test_env.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct {
    const char *app_base;   /* VX_PG_DSN */
    const char *admin_base; /* VX_PG_ADMIN_DSN */
    char *app_role;         /* quoted identifier of the app role */
    char schema[64];        /* the pool tests' schema */
    char *app_dsn;          /* app role, search_path = schema, key=value form */
    PGconn *admin;          /* owner connection for set-up and checks */
    PGconn *app;            /* app connection for checks (pg_terminate_backend) */
    int next_schema;
} g;

/* ---- helpers ----------------------------------------------------------------------------- */

static void append_quoted(vx_buf *b, const char *v)
{
    vx_buf_putc(b, '\'');
    for (const char *p = v; *p; p++) {
        if (*p == '\'' || *p == '\\')
            vx_buf_putc(b, '\\');
        vx_buf_putc(b, *p);
    }
    vx_buf_putc(b, '\'');
}

/* `base` (URI or key=value) rewritten as key=value with search_path set through `options`. */
static char *dsn_with_schema(const char *base, const char *schema)
{
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(base, &errmsg);
    assert_non_null(opts);
    vx_buf b;
    vx_buf_init(&b);
    const char *existing = NULL;
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val || !*o->val)
            continue;
        if (strcmp(o->keyword, "options") == 0) {
            existing = o->val;
            continue;
        }
        vx_buf_printf(&b, "%s=", o->keyword);
        append_quoted(&b, o->val);
        vx_buf_putc(&b, ' ');
    }
    char *options =
        vx_xasprintf("%s%s-csearch_path=%s", existing ? existing : "", existing ? " " : "", schema);
    vx_buf_puts(&b, "options=");
    append_quoted(&b, options);
    vx_free(options);
    PQconninfoFree(opts);
    return vx_buf_take(&b, NULL);
}

static void must_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
}

/* The single value of a one-row query, copied (NULL for SQL NULL); free with vx_free. */
static char *scalar(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    char *v = PQgetisnull(r, 0, 0) ? NULL : vx_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long long scalar_ll(PGconn *c, const char *sql)
{
    char *v = scalar(c, sql);
    assert_non_null(v);
    long long n = atoll(v);
    vx_free(v);
    return n;
}

static void assert_scalar(PGconn *c, const char *sql, const char *want)
{
    char *v = scalar(c, sql);
    if (!want)
        assert_null(v);
    else {
        assert_non_null(v);
        assert_string_equal(v, want);
    }
    vx_free(v);
}

static vx_pg_config base_config(void)
{
    vx_pg_config cfg = vx_pg_defaults();
    cfg.dsn = g.app_dsn;
    cfg.application_name = "vx-test-pg";
    cfg.size = 2;
    cfg.overflow = 0;
    cfg.acquire_timeout_ms = 5000;
    return cfg;
}

static vx_pg_pool *make_pool(const vx_pg_config *cfg)
{
    vx_pg_pool *p = NULL;
    assert_int_equal(vx_pg_pool_create(cfg, &p), VX_OK);
    assert_non_null(p);
    return p;
}

/* Ends backend `pid` from another session and waits until it has exited. */
static void terminate_backend(int pid)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d, 10000)", pid);
    assert_scalar(g.app, sql, "t");
}

/* A TCP port on 127.0.0.1 with nothing listening on it. */
static int dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* ---- pool ----------------------------------------------------------------------------------- */

static void test_pg_acquire_release_reuses_connection(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.statement_timeout_ms = 1234;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c1 = NULL;
    assert_int_equal(vx_pg_acquire(p, &c1), VX_OK);
    int pid = PQbackendPID(c1);
    /* the pool's settings and the DSN's own options all reached the server */
    assert_scalar(c1, "SHOW statement_timeout", "1234ms");
    assert_scalar(c1, "SHOW application_name", "vx-test-pg");
    assert_scalar(c1, "SELECT current_schema()", g.schema);
    vx_pg_release(p, c1, false);

    PGconn *c2 = NULL;
    assert_int_equal(vx_pg_acquire(p, &c2), VX_OK);
    assert_ptr_equal(c2, c1);
    assert_int_equal(PQbackendPID(c2), pid);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.in_use, 1);
    assert_int_equal(st.idle, 0);
    assert_int_equal(st.size, 2);
    assert_int_equal(st.opened, 1);
    assert_int_equal(st.failed, 0);
    vx_pg_release(p, c2, false);
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 1);
    char why[128] = "";
    assert_true(vx_pg_pool_ping(p, why, sizeof why));
    vx_pg_pool_destroy(p);
    vx_pg_pool_destroy(NULL);
}

static void test_pg_uri_dsn_keeps_its_options(void **state)
{
    (void)state;
    if (strncmp(g.app_base, "postgres", 8) != 0)
        skip();
    char *uri = vx_xasprintf("%s%coptions=-csearch_path%%3D%s", g.app_base,
                             strchr(g.app_base, '?') ? '&' : '?', g.schema);
    vx_pg_config cfg = base_config();
    cfg.dsn = uri;
    cfg.application_name = NULL;
    vx_pg_pool *p = make_pool(&cfg);
    vx_free(uri); /* the pool keeps its own copy */
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    assert_scalar(c, "SELECT current_schema()", g.schema);
    assert_scalar(c, "SHOW statement_timeout", "5s");
    vx_pg_release(p, c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_create_rejects_bad_config(void **state)
{
    (void)state;
    vx_pg_pool *p = NULL;
    vx_pg_config cfg = base_config();
    cfg.dsn = "this is not a dsn";
    assert_int_equal(vx_pg_pool_create(&cfg, &p), VX_INVALID);
    cfg = base_config();
    cfg.dsn = NULL;
    assert_int_equal(vx_pg_pool_create(&cfg, &p), VX_INVALID);
    cfg = base_config();
    cfg.size = 0;
    cfg.overflow = 0;
    assert_int_equal(vx_pg_pool_create(&cfg, &p), VX_INVALID);
    assert_null(p);
}

struct waiter {
    vx_pg_pool *p;
    vx_status st;
    PGconn *c;
};

static void *wait_for_conn(void *arg)
{
    struct waiter *w = arg;
    w->st = vx_pg_acquire(w->p, &w->c);
    return NULL;
}

static void test_pg_exhaustion_times_out(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    cfg.acquire_timeout_ms = 300;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    PGconn *other = NULL;
    int64_t t0 = vx_mono_ms();
    assert_int_equal(vx_pg_acquire(p, &other), VX_TIMEOUT);
    int64_t waited = vx_mono_ms() - t0;
    assert_true(waited >= 290);
    assert_true(waited < 5000);
    assert_null(other);
    /* a full pool is busy, not down */
    assert_true(vx_pg_pool_ping(p, NULL, 0));

    /* a waiter gets the connection as soon as it comes back */
    struct waiter w = {.p = p, .st = VX_INTERNAL};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, wait_for_conn, &w), 0);
    vx_sleep_ms(50);
    vx_pg_release(p, c, false);
    pthread_join(th, NULL);
    assert_int_equal(w.st, VX_OK);
    assert_int_equal(PQbackendPID(w.c), pid);
    vx_pg_release(p, w.c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_overflow_closed_on_release(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    cfg.overflow = 2;
    cfg.acquire_timeout_ms = 100;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c[3] = {NULL, NULL, NULL};
    for (int i = 0; i < 3; i++)
        assert_int_equal(vx_pg_acquire(p, &c[i]), VX_OK);
    PGconn *extra = NULL;
    assert_int_equal(vx_pg_acquire(p, &extra), VX_TIMEOUT);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.in_use, 3);
    assert_int_equal(st.size, 3);
    assert_int_equal(st.opened, 3);
    int kept_pid = PQbackendPID(c[2]);
    int closed_pid = PQbackendPID(c[0]);
    for (int i = 0; i < 3; i++)
        vx_pg_release(p, c[i], false);
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(st.idle, 1);
    /* the connections beyond `size` were closed server-side too */
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", closed_pid);
    int64_t deadline = vx_mono_ms() + 5000;
    while (scalar_ll(g.app, sql) != 0 && vx_mono_ms() < deadline)
        vx_sleep_ms(20);
    assert_int_equal(scalar_ll(g.app, sql), 0);
    PGconn *again = NULL;
    assert_int_equal(vx_pg_acquire(p, &again), VX_OK);
    assert_int_equal(PQbackendPID(again), kept_pid);
    vx_pg_release(p, again, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_statement_timeout_maps_to_timeout(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    cfg.statement_timeout_ms = 200;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    char err[256] = "";
    assert_int_equal(vx_pg_exec(c, "SELECT pg_sleep(3)", err, sizeof err), VX_TIMEOUT);
    assert_non_null(strstr(err, "statement timeout"));
    assert_true(strlen(err) > 0 && err[strlen(err) - 1] != '\n');
    vx_pg_release(p, c, false);

    PGconn *c2 = NULL;
    assert_int_equal(vx_pg_acquire(p, &c2), VX_OK);
    assert_ptr_equal(c2, c);
    assert_int_equal(PQbackendPID(c2), pid);
    assert_scalar(c2, "SELECT 41 + 1", "42");
    /* inside a transaction too: the aborted transaction is rolled back on release */
    assert_int_equal(vx_pg_exec(c2, "BEGIN", NULL, 0), VX_OK);
    assert_int_equal(vx_pg_exec(c2, "SELECT pg_sleep(3)", NULL, 0), VX_TIMEOUT);
    assert_int_equal(PQtransactionStatus(c2), PQTRANS_INERROR);
    vx_pg_release(p, c2, false);
    assert_int_equal(vx_pg_acquire(p, &c2), VX_OK);
    assert_int_equal(PQbackendPID(c2), pid);
    assert_int_equal(PQtransactionStatus(c2), PQTRANS_IDLE);
    assert_scalar(c2, "SELECT 1", "1");
    vx_pg_release(p, c2, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_sql_errors_map_to_invalid(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    char err[256] = "";
    /* the program's own SQL being wrong is internal, not the data */
    assert_int_equal(vx_pg_exec(c, "SELEC 1", err, sizeof err), VX_INTERNAL);
    assert_non_null(strstr(err, "syntax error"));
    assert_int_not_equal(err[strlen(err) - 1], '\n');
    char small[8];
    assert_int_equal(vx_pg_exec(c, "SELECT * FROM no_such_table_vx", small, sizeof small),
                     VX_INTERNAL);
    assert_int_equal(strlen(small), 7);
    PGresult *r = PQexec(c, "SELECT 1");
    memset(err, 'x', sizeof err);
    err[sizeof err - 1] = '\0';
    assert_int_equal(vx_pg_result_status(c, r, err, sizeof err), VX_OK);
    PQclear(r);
    assert_int_equal(vx_pg_exec(c, "", NULL, 0), VX_OK);
    vx_pg_release(p, c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_errors_map_by_sqlstate_class(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    char err[256] = "";
    assert_int_equal(vx_pg_exec(c,
                                "DO $$ BEGIN RAISE EXCEPTION 'd' USING ERRCODE = '40P01'; END $$",
                                err, sizeof err),
                     VX_CONFLICT);
    assert_int_equal(vx_pg_exec(c,
                                "DO $$ BEGIN RAISE EXCEPTION 's' USING ERRCODE = '40001'; END $$",
                                err, sizeof err),
                     VX_CONFLICT);
    /* a unique violation, a value out of range: the data is refused */
    assert_int_equal(vx_pg_exec(c,
                                "DO $$ BEGIN RAISE EXCEPTION 'u' USING ERRCODE = '23505'; END $$",
                                err, sizeof err),
                     VX_INVALID);
    assert_int_equal(vx_pg_exec(c, "SELECT 1e40::numeric(38, 9)", err, sizeof err), VX_INVALID);
    /* the server's condition passes: read-only, disk full, out of memory, internal error */
    static const char *const passing[] = {"25006", "53100", "53200", "58030", "XX000", "55P03"};
    for (size_t i = 0; i < sizeof passing / sizeof passing[0]; i++) {
        char sql[128];
        snprintf(sql, sizeof sql, "DO $$ BEGIN RAISE EXCEPTION 'x' USING ERRCODE = '%s'; END $$",
                 passing[i]);
        assert_int_equal(vx_pg_exec(c, sql, err, sizeof err), VX_UNAVAILABLE);
    }
    vx_pg_release(p, c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_killed_idle_connection_is_replaced(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    vx_pg_release(p, c, false);
    terminate_backend(pid);

    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    assert_int_not_equal(PQbackendPID(c), pid);
    assert_scalar(c, "SELECT 2 * 21", "42");
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.failed, 0);
    vx_pg_release(p, c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_killed_checked_out_connection_is_unavailable(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    terminate_backend(pid);
    char err[256] = "";
    assert_int_equal(vx_pg_exec(c, "SELECT 1", err, sizeof err), VX_UNAVAILABLE);
    assert_true(strlen(err) > 0);
    /* released without saying broken: the pool notices and closes it */
    vx_pg_release(p, c, false);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.idle, 0);
    assert_int_equal(st.in_use, 0);
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    assert_int_not_equal(PQbackendPID(c), pid);
    vx_pg_release(p, c, true); /* broken: closed even though healthy */
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.idle, 0);
    assert_int_equal(st.opened, 2);
    vx_pg_pool_destroy(p);
}

static void test_pg_old_connection_is_recycled(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    cfg.recycle_ms = 300;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    vx_pg_release(p, c, false);
    vx_sleep_ms(400);
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid2 = PQbackendPID(c);
    assert_int_not_equal(pid2, pid);
    vx_pg_release(p, c, false);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.opened, 2);
    assert_int_equal(st.idle, 1);
    vx_pg_pool_destroy(p);
}

static void test_pg_unreachable_server_is_unavailable(void **state)
{
    (void)state;
    int port = dead_port();
    char *dsn = vx_xasprintf("postgresql://valdrix_app@127.0.0.1:%d/valdrix", port);
    vx_pg_config cfg = base_config();
    cfg.dsn = dsn;
    cfg.connect_timeout_ms = 2000;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    int64_t t0 = vx_mono_ms();
    assert_int_equal(vx_pg_acquire(p, &c), VX_UNAVAILABLE);
    assert_true(vx_mono_ms() - t0 < 2000);
    assert_null(c);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.failed, 1);
    assert_int_equal(st.opened, 0);
    assert_int_equal(st.in_use, 0);
    char why[256] = "";
    vx_pg_pool_last_error(p, why, sizeof why);
    char port_s[16];
    snprintf(port_s, sizeof port_s, "%d", port);
    assert_non_null(strstr(why, port_s));
    why[0] = '\0';
    assert_false(vx_pg_pool_ping(p, why, sizeof why));
    assert_true(strlen(why) > 0);
    vx_pg_pool_destroy(p);
    vx_free(dsn);
}

static void test_pg_begin_tenant_scopes_transaction(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    const char *t1 = "4b0c3e6a-8a55-4f5e-9a53-0d7a2f1e9c11";
    const char *t2 = "0f6f2a1d-3b7e-4c2a-8d59-6e1f0b9a7c22";
    const char *q = "SELECT current_setting('vx.tenant_id', true)";
    /* outside a transaction the setting would not last: refused */
    assert_int_equal(vx_pg_set_tenant(c, t1), VX_INVALID);
    assert_int_equal(vx_pg_begin_tenant(c, t1), VX_OK);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
    assert_scalar(c, q, t1);
    assert_int_equal(vx_pg_begin_tenant(c, t2), VX_INVALID);
    assert_scalar(c, q, t1);
    assert_int_equal(vx_pg_set_tenant(c, t2), VX_OK);
    assert_scalar(c, q, t2);
    /* the value is a parameter, never SQL text */
    assert_int_equal(vx_pg_set_tenant(c, "x'); SELECT ('"), VX_OK);
    assert_scalar(c, q, "x'); SELECT ('");
    assert_int_equal(vx_pg_exec(c, "COMMIT", NULL, 0), VX_OK);
    char *after = scalar(c, q);
    assert_true(after == NULL || after[0] == '\0');
    vx_free(after);
    assert_int_equal(vx_pg_set_tenant(c, NULL), VX_INVALID);
    assert_int_equal(vx_pg_begin_tenant(c, NULL), VX_INVALID);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    vx_pg_release(p, c, false);
    vx_pg_pool_destroy(p);
}

static void test_pg_release_in_transaction_rolls_back(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 1;
    vx_pg_pool *p = make_pool(&cfg);
    PGconn *c = NULL;
    assert_int_equal(vx_pg_acquire(p, &c), VX_OK);
    int pid = PQbackendPID(c);
    assert_int_equal(vx_pg_exec(c, "CREATE TABLE rollback_probe (n int)", NULL, 0), VX_OK);
    assert_int_equal(vx_pg_begin_tenant(c, "a0000000-0000-4000-8000-000000000001"), VX_OK);
    assert_int_equal(vx_pg_exec(c, "INSERT INTO rollback_probe VALUES (1)", NULL, 0), VX_OK);
    vx_pg_release(p, c, false);

    PGconn *c2 = NULL;
    assert_int_equal(vx_pg_acquire(p, &c2), VX_OK);
    assert_int_equal(PQbackendPID(c2), pid);
    assert_int_equal(PQtransactionStatus(c2), PQTRANS_IDLE);
    assert_scalar(c2, "SELECT count(*) FROM rollback_probe", "0");
    char *tenant = scalar(c2, "SELECT current_setting('vx.tenant_id', true)");
    assert_true(tenant == NULL || tenant[0] == '\0');
    vx_free(tenant);
    assert_int_equal(vx_pg_exec(c2, "DROP TABLE rollback_probe", NULL, 0), VX_OK);
    vx_pg_release(p, c2, false);
    vx_pg_pool_destroy(p);
}

enum { HAMMER_THREADS = 4, HAMMER_ROUNDS = 25 };

struct hammer {
    vx_pg_pool *p;
    int ok;
};

static void *hammer_thread(void *arg)
{
    struct hammer *h = arg;
    for (int i = 0; i < HAMMER_ROUNDS; i++) {
        PGconn *c = NULL;
        if (vx_pg_acquire(h->p, &c) != VX_OK)
            continue;
        if (vx_pg_exec(c, "SELECT 1", NULL, 0) == VX_OK)
            h->ok++;
        vx_pg_release(h->p, c, false);
    }
    return NULL;
}

static void test_pg_concurrent_checkouts_share_the_pool(void **state)
{
    (void)state;
    vx_pg_config cfg = base_config();
    cfg.size = 2;
    cfg.overflow = 1;
    cfg.acquire_timeout_ms = 20000;
    vx_pg_pool *p = make_pool(&cfg);
    pthread_t th[HAMMER_THREADS];
    struct hammer h[HAMMER_THREADS];
    for (int i = 0; i < HAMMER_THREADS; i++) {
        h[i] = (struct hammer){.p = p};
        assert_int_equal(pthread_create(&th[i], NULL, hammer_thread, &h[i]), 0);
    }
    int ok = 0;
    for (int i = 0; i < HAMMER_THREADS; i++) {
        pthread_join(th[i], NULL);
        ok += h[i].ok;
    }
    assert_int_equal(ok, HAMMER_THREADS * HAMMER_ROUNDS);
    vx_pg_stats st;
    vx_pg_stats_get(p, &st);
    assert_int_equal(st.in_use, 0);
    assert_true(st.idle >= 1 && st.idle <= 2);
    assert_int_equal(st.failed, 0);
    vx_pg_pool_destroy(p);
}

/* ---- migrations ------------------------------------------------------------------------------ */

struct mig_env {
    char schema[80];
    char dir[64];
    char *dsn; /* owner role, search_path = schema */
};

static int mig_setup(void **state)
{
    struct mig_env *e = vx_xcalloc(1, sizeof *e);
    snprintf(e->schema, sizeof e->schema, "%s_m%d", g.schema, ++g.next_schema);
    char sql[160];
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", e->schema);
    must_exec(g.admin, sql);
    /* checks below name tables without a schema: they resolve in the test's own */
    snprintf(sql, sizeof sql, "SET search_path = %s", e->schema);
    must_exec(g.admin, sql);
    snprintf(e->dir, sizeof e->dir, "/tmp/vx_test_pg_XXXXXX");
    if (!mkdtemp(e->dir))
        return -1;
    e->dsn = dsn_with_schema(g.admin_base, e->schema);
    *state = e;
    return 0;
}

static int mig_teardown(void **state)
{
    struct mig_env *e = *state;
    char sql[160];
    must_exec(g.admin, "RESET search_path");
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", e->schema);
    must_exec(g.admin, sql);
    DIR *d = opendir(e->dir);
    if (d) {
        struct dirent *ent;
        while ((ent = readdir(d)) != NULL) {
            if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0)
                continue;
            char *path = vx_xasprintf("%s/%s", e->dir, ent->d_name);
            unlink(path);
            vx_free(path);
        }
        closedir(d);
    }
    rmdir(e->dir);
    vx_free(e->dsn);
    vx_free(e);
    return 0;
}

static void write_file(const struct mig_env *e, const char *name, const char *text)
{
    char *path = vx_xasprintf("%s/%s", e->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    vx_free(path);
}

static long long admin_count(const char *sql)
{
    return scalar_ll(g.admin, sql);
}

static bool table_exists(const char *table)
{
    const char *params[1] = {table};
    PGresult *r =
        PQexecParams(g.admin, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    bool yes = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return yes;
}

static const char *const A_SQL = "-- first\nCREATE TABLE widgets (id int PRIMARY KEY, name text);\n"
                                 "INSERT INTO widgets VALUES (1, 'one');\n";
static const char *const B_SQL = "ALTER TABLE widgets ADD COLUMN size int;\n"
                                 "UPDATE widgets SET size = 7;\n"
                                 "CREATE INDEX widgets_size ON widgets (size);\n";

static void test_pg_migrate_applies_once(void **state)
{
    struct mig_env *e = *state;
    write_file(e, "0001_widgets.sql", A_SQL);
    write_file(e, "0002_widget_size.sql", B_SQL);
    /* none of these is a migration; running any of them would fail */
    write_file(e, "README.md", "not sql");
    write_file(e, "0003-dashes.sql", "not sql");
    write_file(e, "12_short.sql", "not sql");
    write_file(e, "0004_Upper.sql", "not sql");
    write_file(e, "0005_x.sql.bak", "not sql");

    /* one log line per migration applied */
    FILE *log = tmpfile();
    assert_non_null(log);
    vx_log_set_fd(fileno(log));
    int applied = -1;
    char err[512] = "";
    vx_status st = vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err);
    vx_log_set_fd(2);
    if (st != VX_OK)
        fail_msg("migrate: %s", err);
    assert_int_equal(applied, 2);
    rewind(log);
    char line[1024];
    int lines = 0;
    while (fgets(line, sizeof line, log)) {
        if (strstr(line, "\"msg\":\"migration applied\"") && strstr(line, "\"file\":\"000"))
            lines++;
    }
    fclose(log);
    assert_int_equal(lines, 2);

    assert_int_equal(admin_count("SELECT count(*) FROM widgets WHERE size = 7"), 1);
    assert_int_equal(admin_count("SELECT count(*) FROM schema_migrations"), 2);
    assert_scalar(g.admin,
                  "SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                  "FROM schema_migrations",
                  "1:0001_widgets.sql,2:0002_widget_size.sql");
    /* the checksum is the SHA-256 of the file, as the server computes it too */
    const char *params[1] = {A_SQL};
    PGresult *r = PQexecParams(g.admin,
                               "SELECT checksum = encode(sha256(convert_to($1, 'UTF8')), 'hex') "
                               "FROM schema_migrations WHERE version = 1",
                               1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    PQclear(r);

    applied = -1;
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err), VX_OK);
    assert_int_equal(applied, 0);
    /* a new file is picked up on the next run */
    write_file(e, "0003_gadgets.sql", "CREATE TABLE gadgets (id int);");
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err), VX_OK);
    assert_int_equal(applied, 1);
    assert_true(table_exists("gadgets"));
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, NULL, NULL, 0), VX_OK);
}

static void test_pg_migrate_changed_file_is_refused(void **state)
{
    struct mig_env *e = *state;
    write_file(e, "0001_widgets.sql", A_SQL);
    write_file(e, "0002_widget_size.sql", B_SQL);
    char err[512] = "";
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, NULL, err, sizeof err), VX_OK);
    write_file(e, "0001_widgets.sql", "-- edited after release\nCREATE TABLE widgets (id int);");
    write_file(e, "0003_gadgets.sql", "CREATE TABLE gadgets (id int);");
    int applied = -1;
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err), VX_CONFLICT);
    assert_non_null(strstr(err, "0001_widgets.sql"));
    assert_non_null(strstr(err, "changed"));
    assert_int_equal(applied, -1);
    /* nothing newer ran on top of the changed file */
    assert_false(table_exists("gadgets"));
    assert_int_equal(admin_count("SELECT count(*) FROM schema_migrations"), 2);
}

static void test_pg_migrate_failure_records_nothing(void **state)
{
    struct mig_env *e = *state;
    write_file(e, "0001_ok.sql", "CREATE TABLE ok_first (n int);");
    write_file(e, "0002_bad.sql",
               "CREATE TABLE half_done (n int);\n"
               "INSERT INTO half_done VALUES (1);\n"
               "SELECT no_such_function_vx();\n");
    write_file(e, "0003_after.sql", "CREATE TABLE after_bad (n int);");
    char err[512] = "";
    int applied = -1;
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err), VX_INTERNAL);
    assert_non_null(strstr(err, "0002_bad.sql"));
    assert_non_null(strstr(err, "no_such_function_vx"));
    assert_true(table_exists("ok_first"));
    assert_false(table_exists("half_done"));
    assert_false(table_exists("after_bad"));
    assert_scalar(g.admin, "SELECT string_agg(version::text, ',') FROM schema_migrations", "1");

    /* fixed, it goes through with the rest */
    write_file(e, "0002_bad.sql", "CREATE TABLE half_done (n int);");
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, &applied, err, sizeof err), VX_OK);
    assert_int_equal(applied, 2);
    assert_true(table_exists("after_bad"));
}

static void test_pg_migrate_refuses_own_commit(void **state)
{
    struct mig_env *e = *state;
    write_file(e, "0001_commits.sql", "CREATE TABLE early (n int); COMMIT;");
    char err[512] = "";
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, NULL, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "0001_commits.sql"));
    assert_int_equal(admin_count("SELECT count(*) FROM schema_migrations"), 0);
}

static void test_pg_migrate_bad_inputs(void **state)
{
    struct mig_env *e = *state;
    char err[512] = "";
    char *missing = vx_xasprintf("%s/nope", e->dir);
    assert_int_equal(vx_pg_migrate(e->dsn, missing, NULL, err, sizeof err), VX_NOT_FOUND);
    assert_non_null(strstr(err, missing));
    vx_free(missing);

    write_file(e, "0001_a.sql", "SELECT 1;");
    write_file(e, "0001_b.sql", "SELECT 1;");
    assert_int_equal(vx_pg_migrate(e->dsn, e->dir, NULL, err, sizeof err), VX_INVALID);
    assert_non_null(strstr(err, "0001_a.sql"));
    assert_non_null(strstr(err, "0001_b.sql"));
    char *dup = vx_xasprintf("%s/0001_b.sql", e->dir);
    unlink(dup);
    vx_free(dup);

    char *dead = vx_xasprintf("postgresql://valdrix_owner@127.0.0.1:%d/valdrix?connect_timeout=2",
                              dead_port());
    int64_t t0 = vx_mono_ms();
    assert_int_equal(vx_pg_migrate(dead, e->dir, NULL, err, sizeof err), VX_UNAVAILABLE);
    assert_true(vx_mono_ms() - t0 < 2000);
    assert_non_null(strstr(err, "connect"));
    vx_free(dead);
}

struct migrator {
    const char *dsn;
    const char *dir;
    pthread_barrier_t *start;
    vx_status st;
    int applied;
    char err[512];
};

static void *migrate_thread(void *arg)
{
    struct migrator *m = arg;
    pthread_barrier_wait(m->start);
    m->st = vx_pg_migrate(m->dsn, m->dir, &m->applied, m->err, sizeof m->err);
    return NULL;
}

static void test_pg_migrate_concurrent_runners_apply_once(void **state)
{
    struct mig_env *e = *state;
    write_file(e, "0001_hits.sql", "CREATE TABLE hits (n int);");
    write_file(e, "0002_first.sql", "INSERT INTO hits VALUES (2); SELECT pg_sleep(0.2);");
    write_file(e, "0003_second.sql", "INSERT INTO hits VALUES (3);");
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2);
    struct migrator m[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        m[i] = (struct migrator){.dsn = e->dsn, .dir = e->dir, .start = &start, .applied = -1};
        assert_int_equal(pthread_create(&th[i], NULL, migrate_thread, &m[i]), 0);
    }
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < 2; i++) {
        if (m[i].st != VX_OK)
            fail_msg("runner %d: %s", i, m[i].err);
    }
    assert_int_equal(m[0].applied + m[1].applied, 3);
    assert_int_equal(admin_count("SELECT count(*) FROM hits"), 2);
    assert_int_equal(admin_count("SELECT count(*) FROM schema_migrations"), 3);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static int group_setup(void **state)
{
    (void)state;
    snprintf(g.schema, sizeof g.schema, "vx_test_pg_%ld", (long)getpid());
    char sql[256];
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", g.schema);
    must_exec(g.admin, sql);
    snprintf(sql, sizeof sql, "CREATE SCHEMA %s", g.schema);
    must_exec(g.admin, sql);
    snprintf(sql, sizeof sql, "GRANT USAGE, CREATE ON SCHEMA %s TO %s", g.schema, g.app_role);
    must_exec(g.admin, sql);
    g.app_dsn = dsn_with_schema(g.app_base, g.schema);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char sql[256];
    /* the migration tests' schemas are dropped by their own teardown; these catch leftovers */
    for (int i = 1; i <= g.next_schema; i++) {
        snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s_m%d CASCADE", g.schema, i);
        must_exec(g.admin, sql);
    }
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", g.schema);
    must_exec(g.admin, sql);
    vx_free(g.app_dsn);
    return 0;
}

/* Notices of the set-up connections (DROP ... CASCADE) would only clutter the output. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* A server named but not answering: skipped, or a failure under make test. */
static int unavailable(const char *why)
{
    char what[160];
    snprintf(what, sizeof what, "test_pg: %s", why);
    vx_test_unreachable(what);
    return VX_TEST_SKIP;
}

int main(void)
{
    g.app_base = vx_test_env("VX_PG_DSN");
    g.admin_base = vx_test_env("VX_PG_ADMIN_DSN");
    if (!g.app_base || !g.admin_base)
        return VX_TEST_SKIP;
    g.admin = PQconnectdb(g.admin_base);
    g.app = PQconnectdb(g.app_base);
    PQsetNoticeProcessor(g.admin, quiet, NULL);
    PQsetNoticeProcessor(g.app, quiet, NULL);
    if (PQstatus(g.admin) != CONNECTION_OK || PQstatus(g.app) != CONNECTION_OK) {
        fprintf(stderr, "test_pg: %s%s", PQerrorMessage(g.admin), PQerrorMessage(g.app));
        PQfinish(g.admin);
        PQfinish(g.app);
        return unavailable("cannot connect to Postgres");
    }
    PGresult *r = PQexec(g.app, "SELECT quote_ident(current_user)");
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        return unavailable("cannot query Postgres");
    g.app_role = vx_xstrdup(PQgetvalue(r, 0, 0));
    PQclear(r);

    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pg_acquire_release_reuses_connection),
        cmocka_unit_test(test_pg_uri_dsn_keeps_its_options),
        cmocka_unit_test(test_pg_create_rejects_bad_config),
        cmocka_unit_test(test_pg_exhaustion_times_out),
        cmocka_unit_test(test_pg_overflow_closed_on_release),
        cmocka_unit_test(test_pg_statement_timeout_maps_to_timeout),
        cmocka_unit_test(test_pg_sql_errors_map_to_invalid),
        cmocka_unit_test(test_pg_errors_map_by_sqlstate_class),
        cmocka_unit_test(test_pg_killed_idle_connection_is_replaced),
        cmocka_unit_test(test_pg_killed_checked_out_connection_is_unavailable),
        cmocka_unit_test(test_pg_old_connection_is_recycled),
        cmocka_unit_test(test_pg_unreachable_server_is_unavailable),
        cmocka_unit_test(test_pg_begin_tenant_scopes_transaction),
        cmocka_unit_test(test_pg_release_in_transaction_rolls_back),
        cmocka_unit_test(test_pg_concurrent_checkouts_share_the_pool),
        cmocka_unit_test_setup_teardown(test_pg_migrate_applies_once, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_changed_file_is_refused, mig_setup,
                                        mig_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_failure_records_nothing, mig_setup,
                                        mig_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_refuses_own_commit, mig_setup,
                                        mig_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_bad_inputs, mig_setup, mig_teardown),
        cmocka_unit_test_setup_teardown(test_pg_migrate_concurrent_runners_apply_once, mig_setup,
                                        mig_teardown),
    };
    int failed = cmocka_run_group_tests(tests, group_setup, group_teardown);
    PQfinish(g.app);
    PQfinish(g.admin);
    vx_free(g.app_role);
    return failed == 0 ? 0 : 1;
}
