/* `valdrix dlq list|replay`: what ingest dead-lettered (COST_DLQ), and putting it back.
 *
 * list prints one line per dead letter: its sequence, when it was stored, the tenant, the
 * reason code and the reason. replay publishes each chosen dead letter's message again to the
 * subject it first came on (Vx-Original-Subject, which must be an events subject) and, once
 * JetStream has stored it, deletes the dead letter. Ingest stores every event once whatever
 * is replayed (a replay of events already stored changes nothing), so replaying twice, or a
 * message of which only one event was refused, is safe; an event refused again is dead-lettered
 * again with its reason. A dead letter cut to its first 64 KiB (Vx-Truncated) cannot be
 * replayed and stays. */
#include "args.h"
#include "cli.h"
#include "vx/bus.h"
#include "vx/config.h"
#include "vx/subjects.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    const char *stream;     /* VX_DLQ_STREAM */
    const char *dlq_prefix; /* VX_DLQ_SUBJECT */
    const char *events;     /* VX_INGEST_SUBJECT */
    const char *tenant;     /* NULL: all */
    uint64_t only_seq;      /* 0: all */
    int64_t limit;
} dlq_opts;

static void usage(FILE *f)
{
    fputs("usage: valdrix dlq list [--tenant T] [--limit N]\n"
          "       valdrix dlq replay (--tenant T | --seq N | --all) [--limit N]\n"
          "Lists what ingest dead-lettered, or publishes it again to the subject it came on\n"
          "and then deletes it from the dead-letter stream (each event is still stored once).\n"
          "Settings: VX_NATS_URL (and VX_NATS_USER/PASSWORD) with a credential that may read\n"
          "and delete in the dead-letter stream and publish events (the operator's, in\n"
          ".run/env), VX_DLQ_STREAM (COST_DLQ), VX_DLQ_SUBJECT (cost.deadletter),\n"
          "VX_INGEST_SUBJECT (cost.events).\n",
          f);
}

/* The tenant a dead letter is for: the last token of its subject (<dlq prefix>.<tenant>). */
static const char *tenant_of(const dlq_opts *o, const char *subject)
{
    size_t n = strlen(o->dlq_prefix);
    if (subject == NULL || strncmp(subject, o->dlq_prefix, n) != 0 || subject[n] != '.')
        return "?";
    return subject + n + 1;
}

static bool chosen(const dlq_opts *o, const vx_bus_msg *m)
{
    return o->tenant == NULL || strcmp(tenant_of(o, vx_bus_msg_subject(m)), o->tenant) == 0;
}

static void when(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL)
        snprintf(out, 32, "-");
    else
        strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Replays one dead letter; prints what happened. 1 replayed, 0 skipped, -1 failed. */
static int replay_one(vx_bus *bus, const dlq_opts *o, vx_bus_msg *m)
{
    uint64_t seq = vx_bus_msg_stream_seq(m);
    const char *orig = vx_bus_msg_header(m, "Vx-Original-Subject");
    size_t n = strlen(o->events);
    if (vx_bus_msg_header(m, "Vx-Truncated") != NULL) {
        printf("%" PRIu64 "\tskipped: only its first bytes were kept (Vx-Truncated)\n", seq);
        return 0;
    }
    if (orig == NULL || strncmp(orig, o->events, n) != 0 || orig[n] != '.' ||
        strchr(orig + n + 1, '.') != NULL ||
        strcmp(orig + n + 1, tenant_of(o, vx_bus_msg_subject(m))) != 0) {
        printf("%" PRIu64 "\tskipped: its original subject %s is not %s.<its tenant>\n", seq,
               orig ? orig : "(none)", o->events);
        return 0;
    }
    char id[128];
    snprintf(id, sizeof id, "replay-%s-%" PRIu64, o->stream, seq);
    const char *tp = vx_bus_msg_header(m, "traceparent");
    vx_bus_header h[] = {{"Vx-Replayed-From", id}, {"traceparent", tp}};
    vx_status st =
        vx_bus_publish(bus, orig, vx_bus_msg_data(m), vx_bus_msg_len(m), id, h, tp ? 2 : 1, NULL);
    if (st != VX_OK) {
        printf("%" PRIu64 "\tfailed: publishing to %s: %s%s\n", seq, orig, vx_status_str(st),
               st == VX_FULL ? " (the event stream is full: let ingest catch up)" : "");
        return -1;
    }
    st = vx_bus_stream_delete_msg(bus, o->stream, seq);
    if (st != VX_OK && st != VX_NOT_FOUND) {
        /* published: a later replay of it again stores nothing twice */
        printf("%" PRIu64 "\treplayed, but not removed from %s: %s\n", seq, o->stream,
               vx_status_str(st));
        return 1;
    }
    printf("%" PRIu64 "\treplayed to %s\n", seq, orig);
    return 1;
}

static int run(bool replay, const dlq_opts *o)
{
    const char *cmd = replay ? "dlq replay" : "dlq list";
    vx_bus *bus = cli_bus_connect(cmd);
    if (bus == NULL)
        return 1;
    vx_stream_info info;
    vx_status st = vx_bus_stream_info(bus, o->stream, &info);
    if (st != VX_OK) {
        fprintf(stderr, "valdrix %s: stream %s: %s%s\n", cmd, o->stream, vx_status_str(st),
                st == VX_NOT_FOUND ? " (ingest creates it when it starts)" : "");
        vx_bus_destroy(bus);
        return 1;
    }
    if (!replay)
        printf("seq\tstored\ttenant\tcode\treason\n");
    uint64_t first = o->only_seq ? o->only_seq : info.first_seq;
    uint64_t last = o->only_seq ? o->only_seq : info.last_seq;
    int64_t seen = 0, done = 0, skipped = 0, failed = 0;
    for (uint64_t seq = first; seq != 0 && seq <= last && seen < o->limit; seq++) {
        vx_bus_msg *m = NULL;
        st = vx_bus_stream_get(bus, o->stream, seq, &m);
        if (st == VX_NOT_FOUND)
            continue; /* deleted (replayed) or aged out */
        if (st != VX_OK) {
            fprintf(stderr, "valdrix %s: reading %s #%" PRIu64 ": %s\n", cmd, o->stream, seq,
                    vx_status_str(st));
            failed++;
            break;
        }
        if (chosen(o, m)) {
            seen++;
            if (replay) {
                int r = replay_one(bus, o, m);
                done += r == 1;
                skipped += r == 0;
                failed += r < 0;
            } else {
                char t[32];
                when(vx_bus_msg_stored_ms(m), t);
                const char *code = vx_bus_msg_header(m, "Vx-Reason-Code");
                const char *why = vx_bus_msg_header(m, "Vx-Reason");
                printf("%" PRIu64 "\t%s\t%s\t%s\t%s\n", seq, t, tenant_of(o, vx_bus_msg_subject(m)),
                       code ? code : "-", why ? why : "-");
            }
        }
        vx_bus_msg_destroy(m);
        if (replay && seen > 0 && seen % 1000 == 0)
            fprintf(stderr, "valdrix %s: %" PRId64 " done so far\n", cmd, seen);
    }
    vx_bus_destroy(bus);
    if (replay)
        fprintf(stderr,
                "valdrix dlq replay: %" PRId64 " replayed, %" PRId64 " skipped, %" PRId64
                " failed\n",
                done, skipped, failed);
    else
        fprintf(stderr, "valdrix dlq list: %" PRId64 " dead letter(s)%s (%s holds %" PRIu64 ")\n",
                seen, seen >= o->limit ? ", limit reached" : "", o->stream, info.msgs);
    if (o->only_seq && seen == 0) {
        fprintf(stderr, "valdrix %s: %s holds no message #%" PRIu64 "\n", cmd, o->stream,
                o->only_seq);
        return 1;
    }
    return failed ? 1 : 0;
}

int cmd_dlq(int argc, char **argv)
{
    bool replay = argc >= 1 && strcmp(argv[0], "replay") == 0;
    if (argc < 1 || (!replay && strcmp(argv[0], "list") != 0)) {
        if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return 2;
    }
    const char *cmd = replay ? "dlq replay" : "dlq list";
    cli_opt o[] = {{"tenant", true, NULL},
                   {"seq", true, NULL},
                   {"all", false, NULL},
                   {"limit", true, NULL},
                   {"help", false, NULL}};
    const int no = (int)(sizeof o / sizeof o[0]);
    int np = 0;
    if (!cli_parse(cmd, argc - 1, argv + 1, o, no, NULL, 0, &np))
        return 2;
    if (cli_get(o, no, "help")) {
        usage(stdout);
        return 0;
    }
    dlq_opts d = {.stream = vx_env_str("VX_DLQ_STREAM", VX_DEFAULT_DLQ_STREAM),
                  .dlq_prefix = vx_env_str("VX_DLQ_SUBJECT", VX_DEFAULT_DLQ_SUBJECT),
                  .events = vx_env_str("VX_INGEST_SUBJECT", VX_DEFAULT_EVENTS_SUBJECT)};
    char tenant[37];
    if (cli_get(o, no, "tenant")) {
        if (!cli_tenant_arg(cmd, cli_get(o, no, "tenant"), tenant))
            return 2;
        d.tenant = tenant;
    }
    int64_t seq = 0;
    if (!cli_int(cmd, o, no, "seq", 0, 1, INT64_MAX, &seq) ||
        !cli_int(cmd, o, no, "limit", replay ? INT64_MAX : 100, 1, INT64_MAX, &d.limit))
        return 2;
    d.only_seq = (uint64_t)seq;
    if (replay && !d.tenant && !d.only_seq && !cli_get(o, no, "all")) {
        fprintf(stderr,
                "valdrix dlq replay: choose what to replay: --tenant T, --seq N or --all\n");
        return 2;
    }
    return run(replay, &d);
}
