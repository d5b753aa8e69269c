/* Load driver for bench/llm.sh: insight requests over NATS (core request/reply) to valdrix-llm
 * from C threads at once, each waiting for its reply before sending the next. "uncached"
 * gives every request its own question (window and focus), so none can come from the cache;
 * "cached" asks one question over and over (after one warm-up request).
 * Prints one line: requests=N ok=K errors=E seconds=S rps=X p50_ms=Y p99_ms=Z
 * usage: llm_load --subject S --tenant T --concurrency C --requests N --mode uncached|cached
 *        [--offset K]   (question numbers start at K, so that runs do not repeat questions) */
#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/config.h"
#include "vx/pb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MS 30000

typedef struct {
    vx_bus *bus;
    const char *subject, *tenant;
    bool cached;
    long offset;
    long requests;
    atomic_long next;
    atomic_long ok, errors;
    double *latency_ms; /* one per request */
    char first_error[256];
    pthread_mutex_t mu;
} load;

/* Question i: a 30-day window starting i % 700 days after 2024-01-01, and (past the first
 * 700) a focus, so that every i is a different cache key. */
static uint8_t *question(const load *l, long i, size_t *len)
{
    char from[11], to[11], focus[32] = "";
    long q = l->cached ? 0 : l->offset + i;
    int64_t d0 = vx_civil_to_unix(2024, 1, 1, 0, 0, 0) + (int64_t)(q % 700) * 86400;
    vx_format_date(d0, from, sizeof from);
    vx_format_date(d0 + 30 * 86400, to, sizeof to);
    if (q >= 700)
        snprintf(focus, sizeof focus, "svc-%ld", q / 700);
    Valdrix__V1__CostScope s;
    valdrix__v1__cost_scope__init(&s);
    s.tenant_id = vx_pb_str(l->tenant);
    s.from = from;
    s.to = to;
    Valdrix__V1__InsightRequest r;
    valdrix__v1__insight_request__init(&r);
    r.scope = &s;
    r.kind = VALDRIX__V1__INSIGHT_REQUEST__KIND__KIND_SUMMARY;
    if (focus[0])
        r.focus_service = focus;
    *len = valdrix__v1__insight_request__get_packed_size(&r);
    uint8_t *buf = vx_xmalloc(*len + 1);
    valdrix__v1__insight_request__pack(&r, buf);
    return buf;
}

/* Sends question i; true if an InsightResult came back. */
static bool ask(load *l, long i, double *ms)
{
    size_t len;
    uint8_t *body = question(l, i, &len);
    char deadline[24];
    snprintf(deadline, sizeof deadline, "%d", TIMEOUT_MS);
    vx_bus_header h[] = {{"Vx-Deadline-Ms", deadline}};
    void *reply = NULL;
    size_t reply_len = 0;
    int64_t t0 = vx_mono_ns();
    vx_status st =
        vx_bus_request(l->bus, l->subject, body, len, h, 1, TIMEOUT_MS, &reply, &reply_len);
    *ms = (double)(vx_mono_ns() - t0) / 1e6;
    vx_free(body);
    char why[256] = "";
    bool ok = false;
    if (st != VX_OK) {
        snprintf(why, sizeof why, "request: %s", vx_status_str(st));
    } else {
        Valdrix__V1__InsightReply *r = valdrix__v1__insight_reply__unpack(NULL, reply_len, reply);
        if (r == NULL)
            snprintf(why, sizeof why, "not an InsightReply");
        else if (r->outcome_case == VALDRIX__V1__INSIGHT_REPLY__OUTCOME_RESULT)
            ok = true;
        else if (r->error)
            snprintf(why, sizeof why, "error %d: %s", (int)r->error->code, r->error->message);
        valdrix__v1__insight_reply__free_unpacked(r, NULL);
    }
    vx_free(reply);
    if (!ok) {
        pthread_mutex_lock(&l->mu);
        if (l->first_error[0] == '\0')
            snprintf(l->first_error, sizeof l->first_error, "%s", why);
        pthread_mutex_unlock(&l->mu);
    }
    return ok;
}

static void *worker(void *arg)
{
    load *l = arg;
    for (;;) {
        long i = atomic_fetch_add(&l->next, 1);
        if (i >= l->requests)
            return NULL;
        double ms;
        if (ask(l, i, &ms))
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->errors, 1);
        l->latency_ms[i] = ms;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *arg(int argc, char **argv, const char *name, const char *def)
{
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return def;
}

int main(int argc, char **argv)
{
    load l;
    memset(&l, 0, sizeof l);
    pthread_mutex_init(&l.mu, NULL);
    l.subject = arg(argc, argv, "--subject", "svc.llm.insight");
    l.tenant = arg(argc, argv, "--tenant", NULL);
    long conc = atol(arg(argc, argv, "--concurrency", "16"));
    l.requests = atol(arg(argc, argv, "--requests", "1000"));
    l.offset = atol(arg(argc, argv, "--offset", "0"));
    const char *mode = arg(argc, argv, "--mode", "uncached");
    l.cached = strcmp(mode, "cached") == 0;
    if (l.tenant == NULL || conc < 1 || conc > 1024 || l.requests < 1 ||
        (!l.cached && strcmp(mode, "uncached") != 0)) {
        fprintf(stderr, "usage: llm_load --tenant T [--subject S] [--concurrency C] "
                        "[--requests N] [--mode uncached|cached] [--offset K]\n");
        return 2;
    }
    vx_bus_config bc = {.url = vx_env_str("VX_NATS_URL", "nats://127.0.0.1:14222"),
                        .name = "llm-load",
                        .timeout_ms = 5000,
                        .send_asap = true,
                        .creds = vx_bus_credentials_from_env()};
    if (vx_bus_connect(&bc, &l.bus) != VX_OK) {
        fprintf(stderr, "llm_load: cannot reach NATS at %s\n", bc.url);
        return 1;
    }
    l.latency_ms = vx_xcalloc((size_t)l.requests, sizeof *l.latency_ms);
    if (l.cached) { /* the one question, answered once so that the rest are hits */
        double ms;
        if (!ask(&l, 0, &ms)) {
            fprintf(stderr, "llm_load: warm-up failed: %s\n", l.first_error);
            return 1;
        }
    }
    pthread_t *t = vx_xcalloc((size_t)conc, sizeof *t);
    int64_t t0 = vx_mono_ns();
    for (long i = 0; i < conc; i++)
        pthread_create(&t[i], NULL, worker, &l);
    for (long i = 0; i < conc; i++)
        pthread_join(t[i], NULL);
    double seconds = (double)(vx_mono_ns() - t0) / 1e9;
    qsort(l.latency_ms, (size_t)l.requests, sizeof *l.latency_ms, cmp_double);
    double p50 = l.latency_ms[(size_t)((double)l.requests * 0.50)];
    size_t k99 = (size_t)((double)l.requests * 0.99);
    double p99 = l.latency_ms[k99 < (size_t)l.requests ? k99 : (size_t)l.requests - 1];
    if (atomic_load(&l.errors) > 0)
        fprintf(stderr, "llm_load: %ld errors; the first: %s\n", atomic_load(&l.errors),
                l.first_error);
    printf("requests=%ld ok=%ld errors=%ld seconds=%.3f rps=%.1f p50_ms=%.2f p99_ms=%.2f\n",
           l.requests, atomic_load(&l.ok), atomic_load(&l.errors), seconds,
           (double)atomic_load(&l.ok) / seconds, p50, p99);
    vx_free(t);
    vx_free(l.latency_ms);
    vx_bus_destroy(l.bus);
    return atomic_load(&l.errors) > 0 ? 1 : 0;
}
