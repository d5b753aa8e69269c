/* `valdrix publisher`: NATS credentials for outside publishers, each allowed to publish cost
 * events for one tenant (cost.events.<tenant>) and to receive JetStream's acks on its own reply
 * subjects (_INBOX.<user>.>), nothing else. Postgres (nats_publishers) holds who they are;
 * `sync` renders nats-server's users file from it and the services' users, then has the
 * running server reread its configuration (SIGHUP), which also disconnects revoked users. */
#define _DEFAULT_SOURCE /* explicit_bzero in <string.h> */
#include "args.h"
#include "cli.h"
#include "vx/config.h"
#include "vx/subjects.h"

#include <crypt.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* bcrypt's cost: the passwords are 128 random bits, so the hash guards a leaked file against
 * nothing a higher cost would add, while every connect pays for it in nats-server. */
#define BCRYPT_COST 10

/* The bcrypt hash of pw into out (CRYPT_OUTPUT_SIZE); false if libcrypt cannot. */
static bool bcrypt_hash(const char *pw, char *out, size_t cap)
{
    char salt[CRYPT_GENSALT_OUTPUT_SIZE];
    if (crypt_gensalt_rn("$2b$", BCRYPT_COST, NULL, 0, salt, sizeof salt) == NULL)
        return false;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (cd == NULL)
        return false;
    const char *h = crypt_r(pw, salt, cd);
    bool ok = h != NULL && h[0] == '$' && strlen(h) < cap;
    if (ok)
        snprintf(out, cap, "%s", h);
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return ok;
}

/* `publisher hash`: a password on stdin, its bcrypt hash on stdout (scripts/stack.sh). */
static int publisher_hash(void)
{
    char pw[1024];
    size_t n = fread(pw, 1, sizeof pw - 1, stdin);
    pw[n] = '\0';
    pw[strcspn(pw, "\r\n")] = '\0';
    char h[CRYPT_OUTPUT_SIZE];
    if (pw[0] == '\0' || !bcrypt_hash(pw, h, sizeof h)) {
        fprintf(stderr, "valdrix publisher hash: %s\n",
                pw[0] == '\0' ? "no password on stdin" : "libcrypt cannot make a bcrypt hash");
        return 1;
    }
    explicit_bzero(pw, sizeof pw);
    printf("%s\n", h);
    return 0;
}

/* Appends the whole file at path to out; false after saying why. */
static bool copy_file(FILE *out, const char *path)
{
    FILE *in = fopen(path, "r");
    if (in == NULL) {
        fprintf(stderr, "valdrix publisher sync: cannot read %s (VX_NATS_SERVICE_USERS): %s\n",
                path, strerror(errno));
        return false;
    }
    char buf[8192];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    bool ok = !ferror(in);
    fclose(in);
    return ok;
}

/* Has the nats-server whose pid is in VX_NATS_PID_FILE reread its configuration. */
static void reload_nats(void)
{
    const char *pid_file = getenv("VX_NATS_PID_FILE");
    if (pid_file == NULL || pid_file[0] == '\0') {
        fprintf(stderr, "valdrix publisher: VX_NATS_PID_FILE is not set: reload nats-server "
                        "yourself (nats-server --signal reload) for the change to take effect\n");
        return;
    }
    FILE *f = fopen(pid_file, "r");
    long pid = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &pid) != 1)
            pid = 0;
        fclose(f);
    }
    /* only a pid that is a nats-server now: after a reboot it may be any other program */
    char comm_path[64], comm[64] = "";
    snprintf(comm_path, sizeof comm_path, "/proc/%ld/comm", pid);
    FILE *c = pid > 0 ? fopen(comm_path, "r") : NULL;
    if (c != NULL) {
        if (fgets(comm, sizeof comm, c) == NULL)
            comm[0] = '\0';
        fclose(c);
    }
    comm[strcspn(comm, "\n")] = '\0';
    if (strcmp(comm, "nats-server") != 0) {
        fprintf(stderr,
                "valdrix publisher: nats-server is not running (%s); it reads the users "
                "file when it starts\n",
                pid_file);
        return;
    }
    if (kill((pid_t)pid, SIGHUP) != 0)
        fprintf(stderr, "valdrix publisher: cannot signal nats-server (pid %ld): %s\n", pid,
                strerror(errno));
}

/* Writes VX_NATS_AUTH_FILE: the services' users, then every publisher not revoked. */
static int sync_users(PGconn *c, const char *cmd)
{
    const char *auth = getenv("VX_NATS_AUTH_FILE");
    const char *services = getenv("VX_NATS_SERVICE_USERS");
    if (auth == NULL || auth[0] == '\0' || services == NULL || services[0] == '\0') {
        fprintf(stderr,
                "valdrix %s: VX_NATS_AUTH_FILE and VX_NATS_SERVICE_USERS must be set (the users "
                "file nats-server includes, and the services' users in it; .run/env has both) "
                "to change who may connect; nothing was written\n",
                cmd);
        return 1;
    }
    PGresult *r = cli_run(c, cmd,
                          "SELECT user_name, tenant_id, password_bcrypt FROM nats_publishers "
                          "WHERE revoked_at IS NULL ORDER BY created_at, user_name",
                          0, NULL);
    if (r == NULL)
        return 1;
    const char *prefix = vx_env_str("VX_INGEST_SUBJECT", VX_DEFAULT_EVENTS_SUBJECT);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", auth);
    mode_t old = umask(077);
    FILE *out = fopen(tmp, "w");
    umask(old);
    if (out == NULL) {
        fprintf(stderr, "valdrix %s: cannot write %s: %s\n", cmd, tmp, strerror(errno));
        PQclear(r);
        return 1;
    }
    fprintf(out,
            "# Written by `valdrix publisher sync`: the services' users (%s) and the\n"
            "# publishers of nats_publishers in Postgres. Edits here are lost.\n"
            "users = [\n",
            services);
    bool ok = copy_file(out, services);
    for (int i = 0; ok && i < PQntuples(r); i++) {
        const char *user = PQgetvalue(r, i, 0);
        fprintf(out,
                "  {user: \"%s\", password: \"%s\", permissions: {publish: {allow: [\"%s.%s\"]}, "
                "subscribe: {allow: [\"_INBOX.%s.>\"]}}}\n",
                user, PQgetvalue(r, i, 2), prefix, PQgetvalue(r, i, 1), user);
    }
    fprintf(out, "]\n");
    int n = PQntuples(r);
    PQclear(r);
    if (fclose(out) != 0 || !ok || rename(tmp, auth) != 0) {
        fprintf(stderr, "valdrix %s: cannot write %s: %s\n", cmd, auth, strerror(errno));
        unlink(tmp);
        return 1;
    }
    fprintf(stderr, "valdrix %s: %s has the services and %d publisher(s)\n", cmd, auth, n);
    reload_nats();
    return 0;
}

static int publisher_create(int argc, char **argv)
{
    cli_opt o[] = {{"tenant", true, NULL}, {"note", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("publisher create", argc, argv, o, 3, pos, 0, &np))
        return 2;
    if (cli_get(o, 3, "help")) {
        puts("usage: valdrix publisher create --tenant TENANT_ID [--note TEXT]\n"
             "Issues a NATS credential that may publish cost events for this tenant only\n"
             "(on cost.events.TENANT_ID) and receive their JetStream acks, and has nats-server\n"
             "take it at once. Prints it once, as settings for `valdrix publish`:\n"
             "  VX_NATS_USER=pub_...  VX_NATS_PASSWORD=...\n"
             "Other NATS clients use the same user and password, with the reply (inbox)\n"
             "prefix _INBOX.<user>. Only a bcrypt hash of the password is kept.");
        return 0;
    }
    const char *tenant = cli_get(o, 3, "tenant");
    const char *note = cli_get(o, 3, "note");
    char id[37];
    if (!cli_tenant_arg("publisher create", tenant, id))
        return 2;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char rnd[12 + 16];
    cli_random_bytes(rnd, sizeof rnd);
    char user[4 + 12 + 1] = "pub_";
    for (int i = 0; i < 12; i++)
        user[4 + i] = alnum[rnd[i] % 36];
    user[16] = '\0';
    char pw[33];
    for (int i = 0; i < 16; i++)
        snprintf(pw + 2 * i, 3, "%02x", rnd[12 + i]);
    char hash[CRYPT_OUTPUT_SIZE];
    if (!bcrypt_hash(pw, hash, sizeof hash)) {
        fprintf(stderr, "valdrix publisher create: libcrypt cannot make a bcrypt hash\n");
        return 1;
    }
    PGconn *c = cli_admin_connect("publisher create");
    if (!c)
        return 1;
    const char *params[4] = {user, id, hash, note ? note : ""};
    PGresult *r = cli_run(c, "publisher create",
                          "INSERT INTO nats_publishers (user_name, tenant_id, password_bcrypt, "
                          "note) SELECT $1, id, $3, $4 FROM tenants WHERE id = $2",
                          4, params);
    int rc = 1;
    if (r != NULL && strcmp(PQcmdTuples(r), "1") != 0)
        fprintf(stderr, "valdrix publisher create: no tenant %s\n", id);
    else if (r != NULL)
        rc = sync_users(c, "publisher create");
    PQclear(r);
    PQfinish(c);
    if (rc == 0)
        printf("VX_NATS_USER=%s\nVX_NATS_PASSWORD=%s\n", user, pw);
    explicit_bzero(pw, sizeof pw);
    return rc;
}

static int publisher_revoke(int argc, char **argv)
{
    cli_opt o[] = {{"user", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("publisher revoke", argc, argv, o, 2, pos, 0, &np))
        return 2;
    const char *user = cli_get(o, 2, "user");
    if (cli_get(o, 2, "help") || !user) {
        puts("usage: valdrix publisher revoke --user pub_...\n"
             "Revokes a publisher's NATS credential; nats-server drops its connections.");
        return user ? 0 : 2;
    }
    PGconn *c = cli_admin_connect("publisher revoke");
    if (!c)
        return 1;
    const char *params[1] = {user};
    PGresult *r = cli_run(c, "publisher revoke",
                          "UPDATE nats_publishers SET revoked_at = now() "
                          "WHERE user_name = $1 AND revoked_at IS NULL",
                          1, params);
    int rc = 1;
    if (r != NULL && strcmp(PQcmdTuples(r), "1") != 0)
        fprintf(stderr, "valdrix publisher revoke: no active publisher '%s'\n", user);
    else if (r != NULL)
        rc = sync_users(c, "publisher revoke");
    PQclear(r);
    PQfinish(c);
    return rc;
}

static int publisher_list(int argc, char **argv)
{
    cli_opt o[] = {{"tenant", true, NULL}, {"help", false, NULL}};
    const char *pos[1];
    int np;
    if (!cli_parse("publisher list", argc, argv, o, 2, pos, 0, &np))
        return 2;
    if (cli_get(o, 2, "help")) {
        puts("usage: valdrix publisher list [--tenant TENANT_ID]\n"
             "Lists publisher credentials (revoked ones too, with when).");
        return 0;
    }
    const char *tenant = cli_get(o, 2, "tenant");
    char id[37];
    if (tenant && !cli_tenant_arg("publisher list", tenant, id))
        return 2;
    PGconn *c = cli_admin_connect("publisher list");
    if (!c)
        return 1;
    const char *params[1] = {tenant ? id : NULL};
    PGresult *r = cli_run(c, "publisher list",
                          "SELECT user_name, tenant_id, to_char(created_at AT TIME ZONE 'UTC', "
                          "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), coalesce(to_char(revoked_at AT TIME "
                          "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), '-'), note "
                          "FROM nats_publishers WHERE $1::uuid IS NULL OR tenant_id = $1 "
                          "ORDER BY created_at, user_name",
                          1, params);
    if (r == NULL) {
        PQfinish(c);
        return 1;
    }
    printf("%-16s  %-36s  %-20s  %-20s  %s\n", "USER", "TENANT", "CREATED", "REVOKED", "NOTE");
    for (int i = 0; i < PQntuples(r); i++)
        printf("%-16s  %-36s  %-20s  %-20s  %s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
               PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
    PQclear(r);
    PQfinish(c);
    return 0;
}

static int publisher_sync(int argc, char **argv)
{
    (void)argv;
    if (argc > 0) {
        puts("usage: valdrix publisher sync\n"
             "Renders nats-server's users file (VX_NATS_AUTH_FILE) from the services' users\n"
             "(VX_NATS_SERVICE_USERS) and the publishers in Postgres, then has the server\n"
             "(VX_NATS_PID_FILE) reread it.");
        return strcmp(argv[0], "--help") == 0 ? 0 : 2;
    }
    PGconn *c = cli_admin_connect("publisher sync");
    if (!c)
        return 1;
    int rc = sync_users(c, "publisher sync");
    PQfinish(c);
    return rc;
}

int cmd_publisher(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"create", publisher_create},
                {"revoke", publisher_revoke},
                {"list", publisher_list},
                {"sync", publisher_sync}};
    if (argc >= 1 && strcmp(argv[0], "hash") == 0)
        return publisher_hash();
    for (size_t i = 0; argc >= 1 && i < sizeof subs / sizeof subs[0]; i++)
        if (strcmp(argv[0], subs[i].name) == 0)
            return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "usage: valdrix publisher create --tenant T | revoke --user U | list "
                    "[--tenant T] | sync\n");
    return 2;
}
