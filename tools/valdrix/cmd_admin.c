/* Admin commands over the owner role: migrations, tenants and API keys. */
#include "args.h"
#include "cli.h"
#include "vx/config.h"
#include "vx/pg.h"
#include "vx/plans.h"
#include "vx/uuid.h"

#include <errno.h>
#include <libpq-fe.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

PGconn *cli_admin_connect(const char *cmd)
{
    const char *dsn = getenv("VX_PG_ADMIN_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr,
                "valdrix %s: VX_PG_ADMIN_DSN is not set (the owner role's DSN; "
                "`set -a; . .run/env; set +a` after scripts/stack.sh up)\n",
                cmd);
        return NULL;
    }
    PGconn *c = PQconnectdb(dsn);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "valdrix %s: cannot connect to Postgres: %s", cmd, PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

/* Runs a parameterized statement; prints the server's error and returns NULL on failure. */
PGresult *cli_run(PGconn *c, const char *cmd, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType s = PQresultStatus(r);
    if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
        fprintf(stderr, "valdrix %s: %s", cmd, PQresultErrorMessage(r));
        PQclear(r);
        return NULL;
    }
    return r;
}

int cmd_migrate(int argc, char **argv)
{
    cli_opt o[] = {{"dir", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("migrate", argc, argv, o, 2, pos, 0, &np))
        return 2;
    if (cli_get(o, 2, "help")) {
        puts("usage: valdrix migrate [--dir DIR]\n"
             "Applies the numbered SQL migrations in DIR (default db/migrations) that the\n"
             "database (VX_PG_ADMIN_DSN) has not recorded yet, in order, each once.");
        return 0;
    }
    const char *dsn = getenv("VX_PG_ADMIN_DSN");
    if (!dsn || !*dsn) {
        fprintf(stderr, "valdrix migrate: VX_PG_ADMIN_DSN is not set\n");
        return 78;
    }
    const char *dir = cli_get(o, 2, "dir");
    int applied = 0;
    char err[1024] = "";
    vx_status st = vx_pg_migrate(dsn, dir ? dir : "db/migrations", &applied, err, sizeof err);
    if (st != VX_OK) {
        fprintf(stderr, "valdrix migrate: %s\n", err[0] ? err : vx_status_str(st));
        return 1;
    }
    fprintf(stderr, "valdrix migrate: %d migration(s) applied\n", applied);
    return 0;
}

static int tenant_create(int argc, char **argv)
{
    cli_opt o[] = {{"name", true, NULL},        {"plan", true, NULL},
                   {"id", true, NULL},          {"api-per-min", true, NULL},
                   {"llm-per-day", true, NULL}, {"remediation-per-hour", true, NULL},
                   {"help", false, NULL}};
    const int no = 7;
    const char *pos[1];
    int np;
    if (!cli_parse("tenant create", argc, argv, o, no, pos, 0, &np))
        return 2;
    if (cli_get(o, no, "help")) {
        puts("usage: valdrix tenant create --name NAME --plan starter|growth|pro|enterprise\n"
             "         [--id UUID] [--api-per-min N] [--llm-per-day N] [--remediation-per-hour N]\n"
             "Creates a tenant and prints its id. Limits not given follow the plan.");
        return 0;
    }
    const char *name = cli_get(o, no, "name"), *plan = cli_get(o, no, "plan");
    if (!name || !plan) {
        fprintf(stderr, "valdrix tenant create: --name and --plan are required\n");
        return 2;
    }
    vx_plan parsed;
    if (!vx_plan_parse(plan, &parsed)) {
        fprintf(
            stderr,
            "valdrix tenant create: --plan must be starter, growth, pro or enterprise, not '%s'\n",
            plan);
        return 2;
    }
    char id[37];
    const char *given = cli_get(o, no, "id");
    if (given) {
        vx_uuid u;
        if (!vx_uuid_parse(given, strlen(given), &u)) {
            fprintf(stderr, "valdrix tenant create: --id must be a UUID, not '%s'\n", given);
            return 2;
        }
        vx_uuid_format(&u, id);
    } else {
        vx_uuid u;
        vx_uuid_v4(&u);
        vx_uuid_format(&u, id);
    }
    int64_t lim[3];
    const char *names[3] = {"api-per-min", "llm-per-day", "remediation-per-hour"};
    char lims[3][24];
    const char *params[6] = {id, name, plan, NULL, NULL, NULL};
    for (int i = 0; i < 3; i++) {
        if (!cli_int("tenant create", o, no, names[i], 0, 1, 1000000000, &lim[i]))
            return 2;
        if (lim[i] > 0) {
            snprintf(lims[i], sizeof lims[i], "%lld", (long long)lim[i]);
            params[3 + i] = lims[i];
        }
    }
    PGconn *c = cli_admin_connect("tenant create");
    if (!c)
        return 1;
    PGresult *r = cli_run(c, "tenant create",
                          "INSERT INTO tenants (id, name, plan, api_per_min, llm_per_day, "
                          "remediation_per_hour) VALUES ($1, $2, $3, $4, $5, $6)",
                          6, params);
    int rc = r ? 0 : 1;
    if (r)
        printf("%s\n", id);
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int tenant_list(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    PGconn *c = cli_admin_connect("tenant list");
    if (!c)
        return 1;
    PGresult *r =
        cli_run(c, "tenant list",
                "SELECT id, plan, name, coalesce(api_per_min::text, '-'), "
                "coalesce(llm_per_day::text, '-'), coalesce(remediation_per_hour::text, '-') "
                "FROM tenants ORDER BY created_at, id",
                0, NULL);
    if (!r) {
        PQfinish(c);
        return 1;
    }
    printf("%-36s  %-10s  %-8s %-8s %-8s  %s\n", "ID", "PLAN", "API/MIN", "LLM/DAY", "REM/HOUR",
           "NAME");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-36s  %-10s  %-8s %-8s %-8s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5), PQgetvalue(r, i, 2));
    PQclear(r);
    PQfinish(c);
    return 0;
}

int cmd_tenant(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "create"))
        return tenant_create(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "list"))
        return tenant_list(argc - 1, argv + 1);
    fprintf(stderr, "usage: valdrix tenant create --name N --plan P | valdrix tenant list\n");
    return 2;
}

void cli_random_bytes(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = getrandom(b + got, n - got, 0);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            abort();
        got += (size_t)k;
    }
}

static int key_create(int argc, char **argv)
{
    cli_opt o[] = {{"tenant", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("key create", argc, argv, o, 2, pos, 0, &np))
        return 2;
    if (cli_get(o, 2, "help")) {
        puts("usage: valdrix key create --tenant TENANT_ID\n"
             "Creates an API key for the tenant and prints it once; only its SHA-256 is stored.");
        return 0;
    }
    const char *tenant = cli_get(o, 2, "tenant");
    vx_uuid u;
    if (!tenant || !vx_uuid_parse(tenant, strlen(tenant), &u)) {
        fprintf(stderr, "valdrix key create: --tenant must be a tenant id (UUID)\n");
        return 2;
    }
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[12 + 32];
    cli_random_bytes(rnd, sizeof rnd);
    char key_id[4 + 12 + 1] = "vxk_";
    for (int i = 0; i < 12; i++)
        key_id[4 + i] = alnum[rnd[i] % 36];
    key_id[16] = '\0';
    char secret[65];
    for (int i = 0; i < 32; i++)
        snprintf(secret + 2 * i, 3, "%02x", rnd[12 + i]);
    unsigned char digest[32];
    unsigned int dlen = 0;
    EVP_Digest(secret, 64, digest, &dlen, EVP_sha256(), NULL);
    char hex[2 + 64 + 1] = "\\x";
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 + 2 * i, 3, "%02x", digest[i]);
    PGconn *c = cli_admin_connect("key create");
    if (!c)
        return 1;
    const char *params[3] = {key_id, tenant, hex};
    PGresult *r = cli_run(
        c, "key create",
        "INSERT INTO api_keys (key_id, tenant_id, secret_sha256) VALUES ($1, $2, $3::bytea)", 3,
        params);
    int rc = r ? 0 : 1;
    if (r)
        printf("%s.%s\n", key_id, secret);
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int key_revoke(int argc, char **argv)
{
    cli_opt o[] = {{"key", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("key revoke", argc, argv, o, 2, pos, 0, &np))
        return 2;
    const char *key = cli_get(o, 2, "key");
    if (cli_get(o, 2, "help") || !key) {
        puts("usage: valdrix key revoke --key KEY_ID   (the vxk_... part before the dot)");
        return key ? 0 : 2;
    }
    char id[17];
    snprintf(id, sizeof id, "%s", key); /* a full key is cut at its id */
    PGconn *c = cli_admin_connect("key revoke");
    if (!c)
        return 1;
    const char *params[1] = {id};
    PGresult *r =
        cli_run(c, "key revoke",
                "UPDATE api_keys SET revoked_at = now() WHERE key_id = $1 AND revoked_at IS NULL",
                1, params);
    int rc = 1;
    if (r && strcmp(PQcmdTuples(r), "1") == 0) {
        fprintf(stderr, "valdrix key revoke: %s revoked\n", id);
        rc = 0;
    } else if (r) {
        fprintf(stderr, "valdrix key revoke: no active key %s\n", id);
    }
    PQclear(r);
    PQfinish(c);
    return rc;
}

int cmd_key(int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "create"))
        return key_create(argc - 1, argv + 1);
    if (argc >= 1 && !strcmp(argv[0], "revoke"))
        return key_revoke(argc - 1, argv + 1);
    fprintf(stderr, "usage: valdrix key create --tenant T | valdrix key revoke --key KEY_ID\n");
    return 2;
}
