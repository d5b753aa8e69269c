/* `valdrix publish` (FOCUS CSV → cost events) and `valdrix generate` (synthetic history), both
 * published to JetStream through the publisher. */
#include "args.h"
#include "cli.h"
#include "publisher.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/subjects.h"
#include "vx/uuid.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

vx_bus *cli_bus_connect(const char *cmd)
{
    const char *url = vx_env_str("VX_NATS_URL", VX_DEFAULT_NATS_URL);
    vx_bus_config bc = {.url = url,
                        .name = "valdrix-cli",
                        .timeout_ms = 10000,
                        .creds = vx_bus_credentials_from_env()};
    vx_bus *bus = NULL;
    vx_status st = vx_bus_connect(&bc, &bus);
    if (st != VX_OK) {
        char red[256];
        vx_redact_url(url, red, sizeof red);
        fprintf(stderr, "valdrix %s: cannot connect to NATS at %s (VX_NATS_URL): %s\n", cmd, red,
                st == VX_DENIED ? "the server refused the credentials (VX_NATS_USER, "
                                  "VX_NATS_PASSWORD or the URL's user:password@)"
                                : vx_status_str(st));
        return NULL;
    }
    return bus;
}

/* Connects with the operator's or a publisher's credential. The stream is ingest's to create
 * and configure (its retention and limits are ingest's settings): a publisher credential may
 * not touch the JetStream API at all. */
static vx_bus *connect_stream(const char *cmd, char *subject, size_t cap, const char *tenant)
{
    const char *prefix = vx_env_str("VX_INGEST_SUBJECT", VX_DEFAULT_EVENTS_SUBJECT);
    vx_bus *bus = cli_bus_connect(cmd);
    if (bus != NULL)
        snprintf(subject, cap, "%s.%s", prefix, tenant);
    return bus;
}

bool cli_tenant_arg(const char *cmd, const char *tenant, char *out)
{
    vx_uuid u;
    if (!tenant || !vx_uuid_parse(tenant, strlen(tenant), &u)) {
        fprintf(stderr, "valdrix %s: --tenant must be a tenant id (UUID)%s%s\n", cmd,
                tenant ? ", not " : "", tenant ? tenant : "");
        return false;
    }
    vx_uuid_format(&u, out);
    return true;
}

static int finish(const char *cmd, publisher *p, vx_bus *bus, uint64_t bad)
{
    uint64_t events, messages, failed;
    vx_status st = publisher_finish(p, &events, &messages, &failed);
    publisher_destroy(p);
    vx_bus_destroy(bus);
    if (st == VX_FULL) {
        fprintf(stderr,
                "valdrix %s: %llu message(s) were refused: the event stream is full (ingest has "
                "not caught up). Run the same command again later: nothing already stored is "
                "duplicated\n",
                cmd, (unsigned long long)failed);
        return 1;
    }
    if (st != VX_OK) {
        fprintf(stderr,
                "valdrix %s: %llu message(s) were not acknowledged (%s): is the stream "
                "there (ingest creates it), and may this credential publish for the tenant? "
                "Run the same command again: nothing already stored is duplicated\n",
                cmd, (unsigned long long)failed, vx_status_str(st));
        return 1;
    }
    if (bad) {
        fprintf(stderr,
                "valdrix %s: %llu row(s) rejected (see above); the other %llu events "
                "were published\n",
                cmd, (unsigned long long)bad, (unsigned long long)events);
        return 1;
    }
    return 0;
}

int cmd_publish(int argc, char **argv)
{
    cli_opt o[] = {{"tenant", true, NULL}, {"batch", true, NULL}, {"help", false, NULL}};
    const int no = 3;
    const char *pos[1];
    int np;
    if (!cli_parse("publish", argc, argv, o, no, pos, 1, &np))
        return 2;
    if (cli_get(o, no, "help")) {
        puts(
            "usage: valdrix publish --tenant TENANT_ID [--batch N] FILE.csv\n"
            "Reads a FOCUS CSV file (header line; ChargePeriodStart, ChargePeriodEnd, BilledCost,\n"
            "EffectiveCost, ListCost, BillingCurrency, ServiceName, ServiceCategory, RegionId,\n"
            "ResourceId, SubAccountId, ChargeCategory, ProviderName, Tags as JSON; other columns\n"
            "are ignored) and publishes its rows as cost events, N per message (500). A bad row\n"
            "is reported with its line and column and the rest is still published. Publishing\n"
            "the same file again stores nothing twice. FILE may be - for standard input.");
        return 0;
    }
    char tenant[37];
    int64_t batch;
    if (!cli_tenant_arg("publish", cli_get(o, no, "tenant"), tenant) ||
        !cli_int("publish", o, no, "batch", 500, 1, VX_COST_MAX_BATCH_EVENTS, &batch))
        return 2;
    if (np != 1) {
        fprintf(stderr, "valdrix publish: name one CSV file (see valdrix publish --help)\n");
        return 2;
    }
    const char *path = pos[0];
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "valdrix publish: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    char why[512];
    vx_focus_reader *r = NULL;
    if (vx_focus_open(f, tenant, &r, why, sizeof why) != VX_OK) {
        fprintf(stderr, "valdrix publish: %s: %s\n", path, why);
        if (f != stdin)
            fclose(f);
        return 1;
    }
    char subject[256];
    vx_bus *bus = connect_stream("publish", subject, sizeof subject, tenant);
    if (!bus) {
        vx_focus_close(r);
        if (f != stdin)
            fclose(f);
        return 1;
    }
    publisher *p = publisher_create(bus, "publish", subject, (size_t)batch, 0);
    uint64_t bad = 0;
    int rc = -1;
    for (;;) {
        vx_cost_event *ev = NULL;
        vx_status st = vx_focus_next(r, &ev, why, sizeof why);
        if (st == VX_NOT_FOUND)
            break;
        if (st == VX_INVALID) {
            fprintf(stderr, "valdrix publish: %s: %s\n", path, why);
            bad++;
            continue;
        }
        if (st != VX_OK) {
            fprintf(stderr, "valdrix publish: %s: %s\n", path, why);
            rc = 1;
            break;
        }
        st = publisher_add(p, ev);
        vx_cost_event_free(ev);
        if (st != VX_OK) {
            if (st != VX_FULL) /* finish says what to do about a full stream */
                fprintf(stderr, "valdrix publish: publishing failed: %s\n", vx_status_str(st));
            rc = 1;
            break;
        }
    }
    vx_focus_close(r);
    if (f != stdin)
        fclose(f);
    int frc = finish("publish", p, bus, bad);
    return rc >= 0 ? rc : frc;
}

int cmd_generate(int argc, char **argv)
{
    cli_opt o[] = {{"tenant", true, NULL}, {"days", true, NULL}, {"events-per-day", true, NULL},
                   {"seed", true, NULL},   {"end", true, NULL},  {"batch", true, NULL},
                   {"help", false, NULL}};
    const int no = 7;
    const char *pos[1];
    int np;
    if (!cli_parse("generate", argc, argv, o, no, pos, 0, &np))
        return 2;
    if (cli_get(o, no, "help")) {
        puts("usage: valdrix generate --tenant TENANT_ID --days D --events-per-day N\n"
             "         [--seed S] [--end YYYY-MM-DD] [--batch N]\n"
             "Publishes D days of synthetic cost history ending the day before --end (default\n"
             "today, UTC): several providers, accounts, services and regions, a weekly pattern,\n"
             "growth, noise and a few spikes. The same seed publishes the same events, so running\n"
             "it twice stores nothing twice.");
        return 0;
    }
    char tenant[37];
    int64_t days, per_day, seed, batch;
    if (!cli_tenant_arg("generate", cli_get(o, no, "tenant"), tenant) ||
        !cli_int("generate", o, no, "days", -1, 1, 36600, &days) ||
        !cli_int("generate", o, no, "events-per-day", -1, 1, 100000000, &per_day) ||
        !cli_int("generate", o, no, "seed", 1, 0, INT64_MAX, &seed) ||
        !cli_int("generate", o, no, "batch", 500, 1, VX_COST_MAX_BATCH_EVENTS, &batch))
        return 2;
    if (days < 0 || per_day < 0) {
        fprintf(stderr, "valdrix generate: --days and --events-per-day are required\n");
        return 2;
    }
    int64_t end = 0;
    const char *end_s = cli_get(o, no, "end");
    if (end_s && (!vx_parse_iso8601(end_s, strlen(end_s), &end) || end % 86400 != 0)) {
        fprintf(stderr, "valdrix generate: --end must be a date YYYY-MM-DD, not '%s'\n", end_s);
        return 2;
    }
    vx_gen_config gc = {.tenant_id = tenant,
                        .days = (int)days,
                        .events_per_day = (int)per_day,
                        .seed = (uint64_t)seed,
                        .end_unix_s = end};
    vx_gen *g = NULL;
    char why[256];
    if (vx_gen_create(&gc, &g, why, sizeof why) != VX_OK) {
        fprintf(stderr, "valdrix generate: %s\n", why);
        return 2;
    }
    char subject[256];
    vx_bus *bus = connect_stream("generate", subject, sizeof subject, tenant);
    if (!bus) {
        vx_gen_destroy(g);
        return 1;
    }
    publisher *p = publisher_create(bus, "generate", subject, (size_t)batch, vx_gen_total(g));
    vx_cost_event ev;
    int rc = -1;
    while (vx_gen_next(g, &ev)) {
        vx_status st = publisher_add(p, &ev);
        if (st != VX_OK) {
            if (st != VX_FULL) /* finish says what to do about a full stream */
                fprintf(stderr, "valdrix generate: publishing failed: %s\n", vx_status_str(st));
            rc = 1;
            break;
        }
    }
    vx_gen_destroy(g);
    int frc = finish("generate", p, bus, 0);
    return rc >= 0 ? rc : frc;
}
