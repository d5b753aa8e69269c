/* The migration runner: applies numbered SQL files in order, each in its own transaction,
 * under an advisory lock, and refuses to go on when an applied file has changed since. */
#include "vx/pg.h"

#include "pg_internal.h"
#include "vx/alloc.h"
#include "vx/buf.h"
#include "vx/clock.h"
#include "vx/log.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* pg_advisory_lock key shared by every runner of every replica: "vxmigrat" as a big-endian
 * int64. */
#define LOCK_KEY "8536693393155318132"

typedef struct {
    int version;
    char *name;
} mig_file;

typedef struct {
    mig_file *v;
    size_t n;
    size_t cap;
} mig_list;

static void list_cleanup(mig_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        vx_free(l->v[i].name);
    vx_free(l->v);
}

/* ^[0-9]{4}_[a-z0-9_]+\.sql$ */
static bool migration_name(const char *s)
{
    size_t n = strlen(s);
    if (n < 10 || strcmp(s + n - 4, ".sql") != 0 || s[4] != '_')
        return false;
    for (size_t i = 0; i < 4; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    for (size_t i = 5; i < n - 4; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const mig_file *)a)->name, ((const mig_file *)b)->name);
}

/* The migration files of `dir`, sorted (the fixed-width number makes name order version
 * order). Two files with one number are an error. */
static vx_status list_migrations(const char *dir, mig_list *out, char *err, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) {
        int e = errno;
        char why[128];
        if (strerror_r(e, why, sizeof why) != 0)
            snprintf(why, sizeof why, "errno %d", e);
        vx_errf(err, cap, "migrations directory %s: %s", dir, why);
        return e == ENOENT ? VX_NOT_FOUND : VX_IO;
    }
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!migration_name(ent->d_name))
            continue;
        if (out->n == out->cap) {
            out->cap = out->cap ? out->cap * 2 : 16;
            out->v = vx_xrealloc(out->v, out->cap * sizeof *out->v);
        }
        out->v[out->n++] =
            (mig_file){.version = atoi(ent->d_name), .name = vx_xstrdup(ent->d_name)};
    }
    closedir(d);
    if (out->n > 0)
        qsort(out->v, out->n, sizeof *out->v, by_name);
    for (size_t i = 1; i < out->n; i++) {
        if (out->v[i].version == out->v[i - 1].version) {
            vx_errf(err, cap, "migrations %s and %s share version %d", out->v[i - 1].name,
                    out->v[i].name, out->v[i].version);
            return VX_INVALID;
        }
    }
    return VX_OK;
}

/* Reads dir/name whole into sql (NUL-terminated) and its SHA-256 as lower-case hex. */
static vx_status read_migration(const char *dir, const char *name, vx_buf *sql, char hex[65],
                                char *err, size_t cap)
{
    char *path = vx_xasprintf("%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    vx_free(path);
    if (!f) {
        vx_errf(err, cap, "%s: cannot open: errno %d", name, errno);
        return VX_IO;
    }
    vx_buf_reset(sql);
    vx_buf_puts(sql, ""); /* data is never NULL, even for an empty file */
    char chunk[8192];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        vx_buf_append(sql, chunk, got);
    bool failed = ferror(f) != 0;
    fclose(f);
    if (failed) {
        vx_errf(err, cap, "%s: read error", name);
        return VX_IO;
    }
    if (memchr(sql->data, '\0', sql->len)) {
        vx_errf(err, cap, "%s: contains a NUL byte", name);
        return VX_INVALID;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (!EVP_Digest(sql->data, sql->len, md, &md_len, EVP_sha256(), NULL) || md_len != 32) {
        vx_errf(err, cap, "%s: SHA-256 failed", name);
        return VX_INTERNAL;
    }
    static const char digits[] = "0123456789abcdef";
    for (unsigned int i = 0; i < md_len; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = '\0';
    return VX_OK;
}

/* Runs sql; on error writes "<what>: <server message>" into err. */
static vx_status run(PGconn *c, const char *what, const char *sql, char *err, size_t cap)
{
    char msg[512];
    vx_status st = vx_pg_exec(c, sql, msg, sizeof msg);
    if (st != VX_OK)
        vx_errf(err, cap, "%s: %s", what, msg);
    return st;
}

/* Runs one pending migration in its own transaction and records it there. */
static vx_status apply(PGconn *c, const mig_file *m, const char *sql, const char *checksum,
                       char *err, size_t cap)
{
    int64_t start = vx_mono_ms();
    vx_status st = run(c, m->name, "BEGIN", err, cap);
    if (st != VX_OK)
        return st;
    st = run(c, m->name, sql, err, cap);
    if (st != VX_OK)
        goto fail;
    if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
        vx_errf(err, cap,
                "%s: ends the runner's transaction (no COMMIT or ROLLBACK inside a "
                "migration)",
                m->name);
        st = VX_INVALID;
        goto fail;
    }
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[3] = {version, m->name, checksum};
    PGresult *r = PQexecParams(c,
                               "INSERT INTO schema_migrations (version, name, checksum) "
                               "VALUES ($1::int, $2, $3)",
                               3, NULL, params, NULL, NULL, 0);
    char msg[512];
    st = vx_pg_result_status(c, r, msg, sizeof msg);
    PQclear(r);
    if (st != VX_OK) {
        vx_errf(err, cap, "%s: recording it: %s", m->name, msg);
        goto fail;
    }
    st = run(c, m->name, "COMMIT", err, cap);
    if (st != VX_OK)
        return st;
    vx_log(VX_LOG_INFO, "migration applied", VX_STR("file", m->name), VX_INT("version", m->version),
           VX_STR("checksum", checksum), VX_INT("duration_ms", vx_mono_ms() - start));
    return VX_OK;

fail:
    if (PQtransactionStatus(c) != PQTRANS_IDLE)
        PQclear(PQexec(c, "ROLLBACK"));
    return st;
}

/* The recorded row of `version` in the schema_migrations result, or -1. */
static int find_row(const PGresult *rows, int version)
{
    for (int i = 0; i < PQntuples(rows); i++) {
        if (atoi(PQgetvalue(rows, i, 0)) == version)
            return i;
    }
    return -1;
}

vx_status vx_pg_migrate(const char *dsn, const char *dir, int *applied, char *err, size_t err_cap)
{
    mig_list files = {0};
    PGconn *c = NULL;
    PGresult *rows = NULL;
    vx_buf sql;
    vx_buf_init(&sql);
    char checksum[65];
    int count = 0;

    if (!dsn || !dir) {
        vx_errf(err, err_cap, "migrate: dsn and dir are required");
        return VX_INVALID;
    }
    vx_status st = list_migrations(dir, &files, err, err_cap);
    if (st != VX_OK)
        goto fail;

    /* application_name comes first so that one given in the DSN wins. */
    const char *const keys[] = {"application_name", "dbname", NULL};
    const char *const vals[] = {"valdrix-migrate", dsn, NULL};
    c = PQconnectdbParams(keys, vals, 1);
    if (!c || PQstatus(c) != CONNECTION_OK) {
        char msg[512];
        pg_copy_msg(msg, sizeof msg, c ? PQerrorMessage(c) : "out of memory");
        vx_errf(err, err_cap, "migrate: connecting: %s", msg);
        st = VX_UNAVAILABLE;
        goto fail;
    }
    pg_route_notices(c);

    /* Held for the whole run; closing the connection on any failure releases it too. */
    st = run(c, "migrate: advisory lock", "SELECT pg_advisory_lock(" LOCK_KEY ")", err, err_cap);
    if (st != VX_OK)
        goto fail;
    st = run(c, "migrate: schema_migrations",
             "CREATE TABLE IF NOT EXISTS schema_migrations ("
             "version int PRIMARY KEY, name text NOT NULL, checksum text NOT NULL, "
             "applied_at timestamptz NOT NULL DEFAULT now())",
             err, err_cap);
    if (st != VX_OK)
        goto fail;
    /* Read only once the lock is held, so a runner that waited sees what the other applied. */
    rows = PQexec(c, "SELECT version, name, checksum FROM schema_migrations ORDER BY version");
    char msg[512];
    st = vx_pg_result_status(c, rows, msg, sizeof msg);
    if (st != VX_OK) {
        vx_errf(err, err_cap, "migrate: reading schema_migrations: %s", msg);
        goto fail;
    }

    /* Every applied file is checked before anything new runs on top of it. */
    for (size_t i = 0; i < files.n; i++) {
        int row = find_row(rows, files.v[i].version);
        if (row < 0)
            continue;
        st = read_migration(dir, files.v[i].name, &sql, checksum, err, err_cap);
        if (st != VX_OK)
            goto fail;
        if (strcmp(PQgetvalue(rows, row, 1), files.v[i].name) != 0) {
            vx_errf(err, err_cap, "%s: version %d was applied as %s", files.v[i].name,
                    files.v[i].version, PQgetvalue(rows, row, 1));
            st = VX_CONFLICT;
            goto fail;
        }
        if (strcmp(PQgetvalue(rows, row, 2), checksum) != 0) {
            vx_errf(err, err_cap, "%s: changed after it was applied (checksum %s, recorded %s)",
                    files.v[i].name, checksum, PQgetvalue(rows, row, 2));
            st = VX_CONFLICT;
            goto fail;
        }
    }
    for (size_t i = 0; i < files.n; i++) {
        if (find_row(rows, files.v[i].version) >= 0)
            continue;
        st = read_migration(dir, files.v[i].name, &sql, checksum, err, err_cap);
        if (st != VX_OK)
            goto fail;
        st = apply(c, &files.v[i], sql.data, checksum, err, err_cap);
        if (st != VX_OK)
            goto fail;
        count++;
    }
    st =
        run(c, "migrate: advisory unlock", "SELECT pg_advisory_unlock(" LOCK_KEY ")", err, err_cap);
    if (st != VX_OK)
        goto fail;
    if (applied)
        *applied = count;

fail:
    PQclear(rows);
    PQfinish(c);
    vx_buf_cleanup(&sql);
    list_cleanup(&files);
    return st;
}
