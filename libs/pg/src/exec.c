/* Running commands on a checked-out connection: status mapping of results (timeouts,
 * unavailable server, SQL errors) and per-transaction tenant scoping for row-level security. */
#include "vx/pg.h"

#include "pg_internal.h"
#include "vx/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void pg_copy_msg(char *err, size_t cap, const char *msg)
{
    if (!err || cap == 0)
        return;
    size_t n = msg ? strlen(msg) : 0;
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        n--;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(err, msg, n);
    err[n] = '\0';
}

static void notice_receiver(void *arg, const PGresult *r)
{
    (void)arg;
    const char *severity = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    vx_log_level level = severity && strcmp(severity, "WARNING") == 0 ? VX_LOG_WARN : VX_LOG_DEBUG;
    vx_log(level, "postgres notice", VX_STR("severity", severity), VX_STR("notice", msg));
}

void pg_route_notices(PGconn *c)
{
    PQsetNoticeReceiver(c, notice_receiver, NULL);
}

/* SQLSTATEs after which the connection or the server is gone: class 08 (connection exception)
 * and 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now). */
static bool sqlstate_unavailable(const char *state)
{
    if (!state)
        return false;
    if (strncmp(state, "08", 2) == 0)
        return true;
    return strcmp(state, "57P01") == 0 || strcmp(state, "57P02") == 0 ||
           strcmp(state, "57P03") == 0;
}

vx_status vx_pg_result_status(PGconn *c, const PGresult *r, char *err, size_t err_cap)
{
    if (!r) {
        /* libpq returns no result when it could not send the command or ran out of memory. */
        pg_copy_msg(err, err_cap, PQerrorMessage(c));
        return PQstatus(c) != CONNECTION_OK ? VX_UNAVAILABLE : VX_INTERNAL;
    }
    switch (PQresultStatus(r)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
    case PGRES_EMPTY_QUERY:
    case PGRES_COPY_OUT:
    case PGRES_COPY_IN:
    case PGRES_COPY_BOTH:
    case PGRES_SINGLE_TUPLE:
    case PGRES_PIPELINE_SYNC:
        return VX_OK;
    case PGRES_BAD_RESPONSE:
    case PGRES_NONFATAL_ERROR:
    case PGRES_FATAL_ERROR:
    case PGRES_PIPELINE_ABORTED:
        break;
    }
    const char *msg = PQresultErrorMessage(r);
    pg_copy_msg(err, err_cap, msg && *msg ? msg : PQerrorMessage(c));
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && strcmp(state, "57014") == 0)
        return VX_TIMEOUT;
    /* class 40 (serialization failure, deadlock): the transaction may simply be run again */
    if (state && strncmp(state, "40", 2) == 0)
        return VX_CONFLICT;
    if (PQstatus(c) != CONNECTION_OK || sqlstate_unavailable(state))
        return VX_UNAVAILABLE;
    /* Only the data itself being refused is VX_INVALID: class 22 (data exception) and 23
     * (integrity constraint). Class 42 (syntax, undefined object, missing privilege) is the
     * program's own SQL. Everything else — out of disk or memory (53), a read-only server (25),
     * lock or object state (55), system errors (58), internal errors (XX) — is the server's
     * condition, which passes: callers retry. */
    if (state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
        return VX_INVALID;
    if (state && strncmp(state, "42", 2) == 0)
        return VX_INTERNAL;
    return VX_UNAVAILABLE;
}

vx_status vx_pg_exec(PGconn *c, const char *sql, char *err, size_t err_cap)
{
    PGresult *r = PQexec(c, sql);
    vx_status st = vx_pg_result_status(c, r, err, err_cap);
    PQclear(r);
    return st;
}

vx_status vx_pg_set_tenant(PGconn *c, const char *tenant_id)
{
    if (!tenant_id)
        return VX_INVALID;
    /* Outside a transaction set_config(..., true) would last one implicit statement and then
     * vanish; refusing makes that mistake visible instead of silently scoping nothing. */
    if (PQtransactionStatus(c) != PQTRANS_INTRANS)
        return PQstatus(c) != CONNECTION_OK ? VX_UNAVAILABLE : VX_INVALID;
    const char *params[1] = {tenant_id};
    PGresult *r = PQexecParams(c, "SELECT set_config('vx.tenant_id', $1, true)", 1, NULL, params,
                               NULL, NULL, 0);
    vx_status st = vx_pg_result_status(c, r, NULL, 0);
    PQclear(r);
    return st;
}

vx_status vx_pg_begin_tenant(PGconn *c, const char *tenant_id)
{
    if (!tenant_id)
        return VX_INVALID;
    /* BEGIN inside a transaction is only a warning; the caller's transaction would then be the
     * one scoped (and rolled back on failure), so refuse instead. */
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        return PQstatus(c) != CONNECTION_OK ? VX_UNAVAILABLE : VX_INVALID;
    vx_status st = vx_pg_exec(c, "BEGIN", NULL, 0);
    if (st != VX_OK)
        return st;
    st = vx_pg_set_tenant(c, tenant_id);
    if (st != VX_OK)
        PQclear(PQexec(c, "ROLLBACK"));
    return st;
}
