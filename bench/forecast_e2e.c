/* End-to-end request timing of valdrix-forecast over NATS (bench/forecast.sh): one warm-up
 * request, then RUNS requests that miss the cache (each with another horizon, so each is read
 * from Postgres, fitted and cached anew), then RUNS repeats of one of them (cache hits).
 * Usage: forecast_e2e SUBJECT TENANT FROM TO [RUNS]   (NATS from VX_NATS_URL)
 * Last line: e2e_ms=X cached_ms=Y cold_ms=Z records=N services=S runs=R */
#include "valdrix/v1/forecast.pb-c.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *x, int n)
{
    qsort(x, (size_t)n, sizeof *x, cmp_double);
    return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* One request; its time in ms, or a negative number on failure (reason on stderr). */
static double request(vx_bus *b, const char *subject, char *tenant, char *from, char *to,
                      uint32_t horizon, uint64_t *records, size_t *services, int *cached)
{
    Valdrix__V1__CostScope sc = VALDRIX__V1__COST_SCOPE__INIT;
    sc.tenant_id = tenant;
    sc.from = from;
    sc.to = to;
    Valdrix__V1__ForecastRequest m = VALDRIX__V1__FORECAST_REQUEST__INIT;
    m.scope = &sc;
    m.horizon_days = horizon;
    uint8_t buf[1024];
    size_t len = valdrix__v1__forecast_request__pack(&m, buf);
    void *reply = NULL;
    size_t rlen = 0;
    int64_t t0 = vx_mono_ns();
    vx_status st = vx_bus_request(b, subject, buf, len, NULL, 0, 60000, &reply, &rlen);
    double ms = (double)(vx_mono_ns() - t0) / 1e6;
    if (st != VX_OK) {
        fprintf(stderr, "forecast_e2e: request failed: %s\n", vx_status_str(st));
        return -1;
    }
    Valdrix__V1__ForecastReply *rep = valdrix__v1__forecast_reply__unpack(NULL, rlen, reply);
    vx_free(reply);
    if (rep == NULL || rep->outcome_case != VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT) {
        fprintf(stderr, "forecast_e2e: %s\n", rep ? rep->error->message : "undecodable reply");
        if (rep)
            valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
        return -1;
    }
    *records = rep->result->records;
    *services = rep->result->n_services;
    *cached = rep->result->cached;
    valdrix__v1__forecast_reply__free_unpacked(rep, NULL);
    return ms;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: forecast_e2e SUBJECT TENANT FROM TO [RUNS]\n");
        return 2;
    }
    int runs = argc > 5 ? atoi(argv[5]) : 7;
    if (runs < 1 || runs > 100)
        runs = 7;
    const char *url = getenv("VX_NATS_URL");
    vx_bus_config bc = {
        .url = url ? url : "nats://127.0.0.1:14222", .name = "forecast-e2e", .timeout_ms = 5000};
    vx_bus *b = NULL;
    if (vx_bus_connect(&bc, &b) != VX_OK) {
        fprintf(stderr, "forecast_e2e: cannot connect to NATS\n");
        return 1;
    }
    char subject[256];
    snprintf(subject, sizeof subject, "%s.run", argv[1]);
    uint64_t records = 0;
    size_t services = 0;
    int cached = 0;
    double cold = request(b, subject, argv[2], argv[3], argv[4], 1, &records, &services, &cached);
    if (cold < 0)
        return 1;
    double *miss = calloc((size_t)runs, sizeof *miss), *hit = calloc((size_t)runs, sizeof *hit);
    for (int i = 0; i < runs; i++) {
        /* a horizon not asked before: a cache miss, the whole path */
        miss[i] = request(b, subject, argv[2], argv[3], argv[4], (uint32_t)(30 + i), &records,
                          &services, &cached);
        if (miss[i] < 0 || cached) {
            fprintf(stderr, "forecast_e2e: request %d was %s\n", i, cached ? "cached" : "refused");
            return 1;
        }
        fprintf(stderr, "forecast_e2e: uncached request %d: %.1f ms\n", i, miss[i]);
    }
    for (int i = 0; i < runs; i++) {
        hit[i] = request(b, subject, argv[2], argv[3], argv[4], 30, &records, &services, &cached);
        if (hit[i] < 0 || !cached) {
            fprintf(stderr, "forecast_e2e: repeat %d was not cached\n", i);
            return 1;
        }
    }
    printf("e2e_ms=%.1f cached_ms=%.2f cold_ms=%.1f records=%llu services=%zu runs=%d\n",
           median(miss, runs), median(hit, runs), cold, (unsigned long long)records, services,
           runs);
    free(miss);
    free(hit);
    vx_bus_destroy(b);
    return 0;
}
