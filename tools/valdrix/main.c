/* valdrix: the command line. Dispatches to admin (migrate, tenant, key) and to publishing
 * (publish a FOCUS CSV, generate synthetic history). */
#include "cli.h"
#include "vx/log.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fputs(
        "valdrix: the Valdrix command line\n"
        "\n"
        "usage: valdrix <command> [options]\n"
        "\n"
        "commands:\n"
        "  migrate [--dir DIR]                      apply database migrations (db/migrations)\n"
        "  tenant create --name N --plan P          create a tenant; prints its id\n"
        "  tenant list                              list tenants\n"
        "  key create --tenant T                    create an API key; prints it once\n"
        "  key revoke --key KEY_ID                  revoke an API key\n"
        "  publish --tenant T FILE.csv              publish a FOCUS CSV file's rows as cost "
        "events\n"
        "  generate --tenant T --days D --events-per-day N [--seed S]\n"
        "                                           publish synthetic cost history\n"
        "  publisher create --tenant T              issue a NATS credential that may publish for "
        "T\n"
        "  publisher revoke --user U | list | sync  revoke one, list them, re-render nats' users\n"
        "  stream delete NAME [--yes]               delete a JetStream stream and its messages\n"
        "  dlq list [--tenant T]                    list what ingest dead-lettered, and why\n"
        "  dlq replay --tenant T | --seq N | --all  publish dead letters again (stored once)\n"
        "  forecast --csv FILE --horizon H [--interval 0.8] [--allow-negative]\n"
        "                                           forecast a date,value CSV (offline)\n"
        "\n"
        "Each command has --help. Settings come from the environment: VX_NATS_URL (may carry\n"
        "user:password@), VX_NATS_USER, VX_NATS_PASSWORD, VX_NATS_TLS_CA|CERT|KEY,\n"
        "VX_PG_ADMIN_DSN (owner role, for migrate, tenant, key and publisher), and for\n"
        "publisher: VX_NATS_AUTH_FILE, VX_NATS_SERVICE_USERS, VX_NATS_PID_FILE; `make run`\n"
        "and scripts/stack.sh write them to .run/env.\n",
        f);
}

int main(int argc, char **argv)
{
    vx_log_init("cli", VX_LOG_WARN);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"migrate", cmd_migrate},   {"tenant", cmd_tenant},       {"key", cmd_key},
        {"publish", cmd_publish},   {"generate", cmd_generate},   {"stream", cmd_stream},
        {"forecast", cmd_forecast}, {"publisher", cmd_publisher}, {"dlq", cmd_dlq},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        if (!strcmp(cmd, cmds[i].name))
            return cmds[i].fn(argc - 2, argv + 2);
    fprintf(stderr, "valdrix: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}
