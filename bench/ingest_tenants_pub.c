/* Publisher of bench/ingest_tenants.sh: N synthetic cost events as messages of B events, message
 * i on the subject of tenant i % T (tenant ids read one per line from a file), many in flight.
 * Like a billing export, a message is one day of one tenant's costs: message m holds day m % 60
 * (from 2025-10-01), its events spread over the day's hours and 4 services. The events are the
 * same whatever the number of tenants (only their tenant differs), so runs with 1 and with
 * 8 000 tenants write the same number of ledger and rollup rows per batch and compare the cost
 * of tenants alone.
 * usage: ingest_tenants_pub --tenants FILE --events N [--batch B]   (VX_NATS_URL, credentials
 * and VX_INGEST_SUBJECT from the environment). Prints one line: messages=M events=N */
#include "valdrix/v1/cost.pb-c.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/pb.h"
#include "vx/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const SERVICES[] = {"AmazonEC2", "AmazonS3", "AmazonRDS", "AWSLambda"};

static char **read_tenants(const char *path, size_t *n)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char **ids = NULL;
    size_t cap = 0;
    char line[128];
    *n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 1024;
            ids = vx_xrealloc(ids, cap * sizeof *ids);
        }
        ids[(*n)++] = vx_xstrdup(line);
    }
    fclose(f);
    return ids;
}

int main(int argc, char **argv)
{
    const char *tenants_path = NULL;
    long total = 0, per_msg = 50;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--tenants") == 0)
            tenants_path = argv[i + 1];
        else if (strcmp(argv[i], "--events") == 0)
            total = strtol(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0)
            per_msg = strtol(argv[i + 1], NULL, 10);
    }
    size_t n_tenants = 0;
    char **tenants = tenants_path ? read_tenants(tenants_path, &n_tenants) : NULL;
    if (!tenants || n_tenants == 0 || total <= 0 || per_msg <= 0 || per_msg > 10000) {
        fprintf(stderr, "usage: ingest_tenants_pub --tenants FILE --events N [--batch B]\n");
        return 2;
    }
    const char *prefix = vx_env_str("VX_INGEST_SUBJECT", "cost.events");
    vx_bus_config bc = {.url = vx_env_str("VX_NATS_URL", "nats://127.0.0.1:4222"),
                        .name = "ingest-tenants-pub",
                        .timeout_ms = 10000,
                        .creds = vx_bus_credentials_from_env()};
    vx_bus *bus = NULL;
    vx_status st = vx_bus_connect(&bc, &bus);
    if (st != VX_OK) {
        fprintf(stderr, "ingest_tenants_pub: cannot connect to NATS: %s\n", vx_status_str(st));
        return 1;
    }
    Valdrix__V1__CostEvent *evs = vx_xcalloc((size_t)per_msg, sizeof *evs);
    Valdrix__V1__CostEvent **ptrs = vx_xcalloc((size_t)per_msg, sizeof *ptrs);
    Valdrix__V1__Money *money = vx_xcalloc((size_t)per_msg, sizeof *money);
    char(*ids)[37] = vx_xcalloc((size_t)per_msg, sizeof *ids);
    int64_t base = vx_civil_to_unix(2025, 10, 1, 0, 0, 0);
    long sent = 0, messages = 0;
    int rc = 0;
    while (sent < total) {
        long k = total - sent < per_msg ? total - sent : per_msg;
        const char *tenant = tenants[(size_t)messages % n_tenants];
        for (long j = 0; j < k; j++) {
            long e = sent + j;
            Valdrix__V1__CostEvent *ev = &evs[j];
            valdrix__v1__cost_event__init(ev);
            valdrix__v1__money__init(&money[j]);
            vx_uuid u;
            vx_uuid_v4(&u);
            vx_uuid_format(&u, ids[j]);
            ev->event_id = ids[j];
            ev->tenant_id = vx_pb_str(tenant);
            ev->provider = vx_pb_str("AWS");
            ev->sub_account_id = vx_pb_str("123456789012");
            ev->service_name = vx_pb_str(SERVICES[j % 4]);
            ev->service_category = vx_pb_str("Compute");
            ev->region_id = vx_pb_str("us-east-1");
            ev->resource_id = vx_pb_str("i-0abc");
            ev->charge_category = vx_pb_str("Usage");
            ev->billing_currency = vx_pb_str("USD");
            ev->usage_unit = vx_pb_str("Hrs");
            ev->charge_period_start =
                base + (int64_t)(messages % 60) * 86400 + (int64_t)(j % 24) * 3600;
            ev->charge_period_end = ev->charge_period_start + 3600;
            money[j].units = e % 7;
            money[j].nanos = (int32_t)((e * 7919) % 1000000000);
            ev->billed_cost = &money[j];
            ptrs[j] = ev;
        }
        Valdrix__V1__CostEventBatch b = VALDRIX__V1__COST_EVENT_BATCH__INIT;
        b.n_events = (size_t)k;
        b.events = ptrs;
        size_t len = valdrix__v1__cost_event_batch__get_packed_size(&b);
        uint8_t *buf = vx_xmalloc(len + 1);
        valdrix__v1__cost_event_batch__pack(&b, buf);
        char subject[256];
        snprintf(subject, sizeof subject, "%s.%s", prefix, tenant);
        st = vx_bus_publish_async(bus, subject, buf, len, NULL, NULL, 0);
        vx_free(buf);
        if (st != VX_OK) {
            fprintf(stderr, "ingest_tenants_pub: publish failed: %s\n", vx_status_str(st));
            rc = 1;
            break;
        }
        sent += k;
        messages++;
    }
    uint64_t failed = 0;
    if (vx_bus_publish_async_complete(bus, 60000, &failed) != VX_OK || failed) {
        fprintf(stderr, "ingest_tenants_pub: %llu messages not acked\n",
                (unsigned long long)failed);
        rc = 1;
    }
    printf("messages=%ld events=%ld\n", messages, sent);
    vx_bus_destroy(bus);
    for (size_t i = 0; i < n_tenants; i++)
        vx_free(tenants[i]);
    vx_free(tenants);
    vx_free(evs);
    vx_free(ptrs);
    vx_free(money);
    vx_free(ids);
    return rc;
}
