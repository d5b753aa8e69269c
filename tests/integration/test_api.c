/* Integration tests of valdrix-api with a real HTTP client (libcurl) against the real stack:
 * authentication, tenant isolation, paging, rate limits and plans, bad input, the path from
 * POST /v1/cost-events to the ledger, and NATS or Redis going away. Each test runs its own API
 * (and, where needed, ingest) on its own ports, streams and tenants. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/events.h"
#include "../support/harness.h"
#include "../support/vx_test_env.h"
#include "valdrix/v1/forecast.pb-c.h"
#include "valdrix/v1/insight.pb-c.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/contract.h"
#include "vx/ledger.h"
#include "vx/pg.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* ---- a tiny HTTP client ---- */

typedef struct {
    long status;
    char *body;
    size_t len;
    char headers[4096];
    size_t hlen;
} resp;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    r->body = realloc(r->body, r->len + size * n + 1);
    memcpy(r->body + r->len, p, size * n);
    r->len += size * n;
    r->body[r->len] = '\0';
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    resp *r = ud;
    size_t k = size * n;
    if (r->hlen + k < sizeof r->headers) {
        memcpy(r->headers + r->hlen, p, k);
        r->hlen += k;
        r->headers[r->hlen] = '\0';
    }
    return k;
}

/* Appends one answer to VX_TEST_RESPONSES (if set), for test_api_openapi to check against
 * docs/openapi.yaml. Bodies that are not UTF-8 are recorded empty. */
static void record(const char *method, const char *path, long status, const char *ctype,
                   const char *body)
{
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    const char *file = getenv("VX_TEST_RESPONSES");
    if (!file)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "method", json_string(method));
    json_t *p = json_string(path);
    json_object_set_new(o, "path", p ? p : json_string("(not UTF-8)"));
    json_object_set_new(o, "status", json_integer(status));
    json_object_set_new(o, "content_type", json_string(ctype ? ctype : ""));
    json_t *b = json_string(body);
    json_object_set_new(o, "body", b ? b : json_string(""));
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    pthread_mutex_lock(&mu);
    FILE *f = fopen(file, "a");
    if (f) {
        fprintf(f, "%s\n", line);
        fclose(f);
    }
    pthread_mutex_unlock(&mu);
    free(line);
}

/* method, URL path on 127.0.0.1:port, optional bearer key and body; extra header may be NULL */
static resp http(int port, const char *method, const char *path, const char *key, const char *body,
                 size_t body_len, const char *extra)
{
    resp r = {0};
    CURL *c = curl_easy_init();
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    struct curl_slist *h = NULL;
    char auth[256];
    if (key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    if (extra)
        h = curl_slist_append(h, extra);
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    char *ctype = NULL;
    curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ctype);
    if (!r.body)
        r.body = calloc(1, 1);
    if (r.status != 0)
        record(method, path, r.status, ctype, r.body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return r;
}

static const char *header(const resp *r, const char *name)
{
    static char v[256];
    size_t n = strlen(name);
    for (const char *p = r->headers; (p = strchr(p, '\n')) != NULL;) {
        p++;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            snprintf(v, sizeof v, "%.*s", (int)strcspn(p + n + 2, "\r\n"), p + n + 2);
            return v;
        }
    }
    return NULL;
}

/* ---- fixture: tenants, keys, an API process ---- */

typedef struct {
    PGconn *pg;
    char id[48];
    int port;
    h_service api;
    h_service
        children[4]; /* ingest, forecast, llm started by a test; stopped by teardown if left */
    int n_children;
    char env[8][300];
    const char *envp[9];
    int n_env;
    char idem_keys[4][48]; /* tenant + Idempotency-Key pairs a test used, for teardown */
    char idem_tenants[4][40];
    int n_idem;
} fixture;

static void add_env(fixture *f, const char *k, const char *v)
{
    char kv[300];
    snprintf(kv, sizeof kv, "%s=%s", k, v);
    memcpy(f->env[f->n_env], kv, sizeof kv);
    f->envp[f->n_env] = f->env[f->n_env];
    f->envp[++f->n_env] = NULL;
}

/* Remembers an Idempotency-Key used for tenant, whose Redis key teardown deletes. */
static void used_idem_key(fixture *f, const char *tenant, const char *key)
{
    assert_true(f->n_idem < 4);
    snprintf(f->idem_tenants[f->n_idem], sizeof f->idem_tenants[0], "%s", tenant);
    snprintf(f->idem_keys[f->n_idem], sizeof f->idem_keys[0], "%s", key);
    f->n_idem++;
}

/* The API's Redis key of an Idempotency-Key: vx:idem:<hex sha256(tenant || key)>. */
static void idem_redis_key(const char *tenant, const char *key, char *out, size_t cap)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, tenant, strlen(tenant));
    EVP_DigestUpdate(ctx, key, strlen(key));
    EVP_DigestFinal_ex(ctx, d, &n);
    EVP_MD_CTX_free(ctx);
    size_t len = (size_t)snprintf(out, cap, "vx:idem:");
    for (unsigned i = 0; i < n && len + 3 <= cap; i++, len += 2)
        snprintf(out + len, 3, "%02x", d[i]);
}

static int setup(void **state)
{
    if (!vx_test_env("VX_NATS_URL") || !vx_test_env("VX_PG_DSN") || !vx_test_env("VX_REDIS_URL")) {
        *state = NULL;
        return 0;
    }
    fixture *f = calloc(1, sizeof *f);
    f->pg = h_admin();
    h_unique(f->id, sizeof f->id, "ta");
    char v[128];
    snprintf(v, sizeof v, "T_EV_%s", f->id);
    add_env(f, "VX_INGEST_STREAM", v);
    snprintf(v, sizeof v, "%s.events", f->id);
    add_env(f, "VX_INGEST_SUBJECT", v);
    snprintf(v, sizeof v, "T_DLQ_%s", f->id);
    add_env(f, "VX_DLQ_STREAM", v);
    snprintf(v, sizeof v, "%s.deadletter", f->id);
    add_env(f, "VX_DLQ_SUBJECT", v);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (!f)
        return 0;
    h_service_stop(&f->api);
    /* a test that failed half-way leaves its processes to be stopped here */
    for (int i = 0; i < f->n_children; i++)
        h_service_stop(&f->children[i]);
    h_delete_test_streams(f->id);
    h_forget_tenants();
    for (int i = 0; i < f->n_idem; i++) {
        char key[96];
        idem_redis_key(f->idem_tenants[i], f->idem_keys[i], key, sizeof key);
        h_redis_delete_matching(key);
    }
    PQfinish(f->pg);
    free(f);
    return 0;
}

#define FIXTURE(f)                                                                                 \
    fixture *f = *state;                                                                           \
    if (!f)                                                                                        \
        skip();

/* Starts the API with the fixture's settings plus up to two more; waits until it is ready. */
static void start_api(fixture *f, const char *extra1, const char *extra2)
{
    const char *env[16];
    int n = 0;
    for (int i = 0; i < f->n_env; i++)
        env[n++] = f->envp[i];
    if (extra1)
        env[n++] = extra1;
    if (extra2)
        env[n++] = extra2;
    env[n] = NULL;
    h_service_start("valdrix-api", env, &f->api);
    f->port = f->api.port;
}

/* Starts a service binary with the fixture's environment plus `extra` (NULL-terminated) and waits
 * until it is ready; teardown stops it if the test does not. */
static h_service *start_service(fixture *f, const char *prog, const char *const *extra)
{
    assert_true(f->n_children < 4);
    const char *env[24];
    int n = 0;
    for (int i = 0; i < f->n_env; i++)
        env[n++] = f->envp[i];
    for (int i = 0; extra && extra[i]; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    h_service *s = &f->children[f->n_children++];
    h_service_start(prog, env, s);
    return s;
}

/* Starts an ingest on the fixture's streams and waits until it is ready. */
static h_service *start_ingest(fixture *f)
{
    return start_service(f, "valdrix-ingest", NULL);
}

static void new_tenant(fixture *f, char *tenant, char *key, const char *plan,
                       const char *api_per_min)
{
    char out[256], name[64];
    snprintf(name, sizeof name, "api-%s-%d", f->id, rand());
    const char *args[] = {"valdrix", "tenant", "create",        "--name",    name,
                          "--plan",  plan,     "--api-per-min", api_per_min, NULL};
    if (!api_per_min)
        args[7] = NULL;
    assert_int_equal(h_run("valdrix", args, NULL, out, sizeof out), 0);
    sscanf(out, "%36s", tenant);
    h_track_tenant(tenant);
    const char *kargs[] = {"valdrix", "key", "create", "--tenant", tenant, NULL};
    assert_int_equal(h_run("valdrix", kargs, NULL, out, sizeof out), 0);
    sscanf(out, "%120s", key);
}

/* Writes n events for tenant directly through the ledger (fast seeding for reads). */
static void seed(const char *tenant, int n, int64_t t0, const char *service)
{
    vx_pg_config cfg = vx_pg_defaults();
    cfg.dsn = getenv("VX_PG_DSN");
    vx_pg_pool *pool;
    assert_int_equal(vx_pg_pool_create(&cfg, &pool), VX_OK);
    vx_ledger *l = vx_ledger_create();
    vx_test_event *evs = calloc((size_t)n, sizeof *evs);
    vx_cost_event **ptrs = calloc((size_t)n, sizeof *ptrs);
    for (int i = 0; i < n; i++) {
        char id[37];
        vx_test_uuid(id);
        vx_test_event_fill(&evs[i], tenant, id, t0 + (i / 2) * 60, 1 + i % 7, 0, 0, service);
        ptrs[i] = &evs[i].ev;
    }
    PGconn *c;
    assert_int_equal(vx_pg_acquire(pool, &c), VX_OK);
    vx_ledger_counts k;
    char err[256];
    assert_int_equal(vx_ledger_write(l, c, ptrs, (size_t)n, &k, NULL, NULL, err, sizeof err),
                     VX_OK);
    vx_pg_release(pool, c, false);
    vx_ledger_destroy(l);
    vx_pg_pool_destroy(pool);
    free(ptrs);
    free(evs);
}

static void test_api_auth_failures_all_look_alike(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    char tenant[40], key[128];
    new_tenant(f, tenant, key, "starter", NULL);
    const char *path = "/v1/costs?from=2025-01-01&to=2025-01-02";
    resp ok = http(f->port, "GET", path, key, NULL, 0, NULL);
    assert_int_equal(ok.status, 200);
    char wrong[128];
    snprintf(wrong, sizeof wrong, "%s", key);
    wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'a' ? 'b' : 'a';
    const char *bad_keys[] = {
        NULL, "nonsense",
        "vxk_zzzzzzzzzzzz.0000000000000000000000000000000000000000000000000000000000000000", wrong};
    for (size_t i = 0; i < sizeof bad_keys / sizeof bad_keys[0]; i++) {
        resp r = http(f->port, "GET", path, bad_keys[i], NULL, 0, NULL);
        assert_int_equal(r.status, 401);
        assert_string_equal(header(&r, "Content-Type"), "application/problem+json");
        /* the same detail whatever was wrong */
        assert_non_null(
            strstr(r.body, "send Authorization: Bearer <key> with a valid, unrevoked API key"));
        free(r.body);
    }
    /* a client's request id with JSON in it stays inside its string in the problem body */
    resp hostile =
        http(f->port, "GET", path, NULL, NULL, 0, "x-request-id: a\"},\"status\":200,\"x\":{\"");
    assert_int_equal(hostile.status, 401);
    json_t *pj = json_loads(hostile.body, 0, NULL);
    assert_non_null(pj);
    assert_int_equal(json_integer_value(json_object_get(pj, "status")), 401);
    assert_string_equal(json_string_value(json_object_get(pj, "request_id")),
                        "a\"},\"status\":200,\"x\":{\"");
    json_decref(pj);
    free(hostile.body);
    const char *revoke[] = {"valdrix", "key", "revoke", "--key", key, NULL};
    char out[256];
    assert_int_equal(h_run("valdrix", revoke, NULL, out, sizeof out), 0);
    /* the API trusts a cached lookup for VX_API_KEY_CACHE_TTL; this API runs with the default
     * 10 s, so a revoked key is refused within that */
    long status = 0;
    for (int i = 0; i < 130 && status != 401; i++) {
        resp r = http(f->port, "GET", path, key, NULL, 0, NULL);
        status = r.status;
        free(r.body);
        if (status != 401)
            vx_sleep_ms(100);
    }
    assert_int_equal(status, 401);
    free(ok.body);
}

static void test_api_paging_and_isolation(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    char a[40], ka[128], b[40], kb[128];
    new_tenant(f, a, ka, "enterprise", NULL);
    new_tenant(f, b, kb, "enterprise", NULL);
    int64_t t0 = vx_civil_to_unix(2025, 4, 1, 0, 0, 0);
    seed(a, 2100, t0, "Compute");
    seed(b, 10, t0, "Secret-Of-B");
    char path[1024];
    char cursor[400] = "";
    int rows = 0, pages = 0;
    do {
        snprintf(path, sizeof path, "/v1/costs?from=2025-04-01&to=2025-05-01&limit=1000%s%s",
                 cursor[0] ? "&cursor=" : "", cursor);
        resp r = http(f->port, "GET", path, ka, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        json_t *j = json_loads(r.body, 0, NULL);
        assert_non_null(j);
        rows += (int)json_array_size(json_object_get(j, "data"));
        json_t *next = json_object_get(j, "next_cursor");
        cursor[0] = '\0';
        if (json_is_string(next))
            snprintf(cursor, sizeof cursor, "%s", json_string_value(next));
        json_decref(j);
        free(r.body);
        pages++;
    } while (cursor[0]);
    assert_int_equal(rows, 2100);
    assert_int_equal(pages, 3);
    /* tenant A asking for B's service, even with SQL in the filter, sees nothing of B */
    const char *probes[] = {"service=Secret-Of-B", "service=x%27%20OR%20%271%27%3D%271",
                            "account=%27%3B%20DROP%20TABLE%20cost_records%3B--"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "/v1/costs?from=2025-04-01&to=2025-05-01&%s", probes[i]);
        resp r = http(f->port, "GET", path, ka, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"data\":[]"));
        free(r.body);
    }
    resp s =
        http(f->port, "GET", "/v1/costs/summary?from=2025-04-01&to=2025-05-01&group_by=service", ka,
             NULL, 0, NULL);
    assert_int_equal(s.status, 200);
    assert_null(strstr(s.body, "Secret-Of-B"));
    assert_non_null(strstr(s.body, "\"RecordCount\":2100"));
    free(s.body);
    /* a cursor of A's query does not work for B */
    resp r =
        http(f->port, "GET", "/v1/costs?from=2025-04-01&to=2025-05-01&limit=1", ka, NULL, 0, NULL);
    json_t *j = json_loads(r.body, 0, NULL);
    snprintf(path, sizeof path, "/v1/costs?from=2025-04-01&to=2025-05-01&limit=1&cursor=%s",
             json_string_value(json_object_get(j, "next_cursor")));
    json_decref(j);
    free(r.body);
    r = http(f->port, "GET", path, kb, NULL, 0, NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "cursor"));
    free(r.body);
}

static void test_api_limits_headers_and_plans(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "starter", "3");
    const char *path = "/v1/costs?from=2025-01-01&to=2025-01-02";
    for (int i = 0; i < 3; i++) {
        resp r = http(f->port, "GET", path, k, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        assert_string_equal(header(&r, "RateLimit-Limit"), "3");
        char want[8];
        snprintf(want, sizeof want, "%d", 2 - i);
        assert_string_equal(header(&r, "RateLimit-Remaining"), want);
        free(r.body);
    }
    resp r = http(f->port, "GET", path, k, NULL, 0, NULL);
    assert_int_equal(r.status, 429);
    assert_non_null(header(&r, "Retry-After"));
    assert_true(atoi(header(&r, "Retry-After")) >= 1);
    assert_string_equal(header(&r, "RateLimit-Remaining"), "0");
    assert_non_null(strstr(r.body, "rate-limited"));
    free(r.body);
    /* plans scale the base limits: growth 3x, enterprise 10x */
    static const char *const plans[] = {"growth", "enterprise"};
    for (size_t i = 0; i < 2; i++) {
        char pt[40], pk[128];
        new_tenant(f, pt, pk, plans[i], NULL);
        resp u = http(f->port, "GET", "/v1/usage", pk, NULL, 0, NULL);
        assert_int_equal(u.status, 200);
        json_t *j = json_loads(u.body, 0, NULL);
        json_t *api = json_object_get(json_object_get(j, "limits"), "api");
        json_t *rem = json_object_get(json_object_get(j, "limits"), "remediation");
        assert_int_equal(json_integer_value(json_object_get(api, "limit")), i == 0 ? 300 : 1000);
        assert_int_equal(json_integer_value(json_object_get(api, "period_seconds")), 60);
        assert_int_equal(json_integer_value(json_object_get(rem, "limit")), i == 0 ? 150 : 500);
        json_decref(j);
        free(u.body);
    }
}

static void test_api_bad_input_gets_4xx_and_service_keeps_running(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    static const struct {
        const char *method, *path, *body;
        long status;
        const char *mention;
    } cases[] = {
        {"GET", "/v1/costs?to=2025-01-02", NULL, 400, "from"},
        {"GET", "/v1/costs?from=yesterday&to=2025-01-02", NULL, 400, "from"},
        {"GET", "/v1/costs?from=2024-01-01&to=2025-06-01", NULL, 400, "366 days"},
        {"GET", "/v1/costs?from=2025-01-01&to=2025-01-02&limit=999999", NULL, 400, "limit"},
        {"GET", "/v1/costs?from=2025-01-01&to=2025-01-02&service=%ZZ", NULL, 400, "service"},
        {"GET", "/v1/costs/summary?from=2025-01-01&to=2025-01-02&group_by=tenant_id", NULL, 400,
         "group_by"},
        {"POST", "/v1/cost-events", "{not json", 400, "not JSON"},
        {"POST", "/v1/cost-events", "[{\"EventId\":5}]", 400, "EventId: must be a string"},
        {"POST", "/v1/cost-events", "", 400, "empty"},
        {"DELETE", "/v1/costs", NULL, 405, "this path takes GET, HEAD"},
        {"GET", "/v2/nothing", NULL, 404, "not-found"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        resp r = http(f->port, cases[i].method, cases[i].path, k, cases[i].body,
                      cases[i].body ? strlen(cases[i].body) : 0, NULL);
        if (r.status != cases[i].status || !strstr(r.body, cases[i].mention))
            fail_msg("case %zu %s %s: %ld %s", i, cases[i].method, cases[i].path, r.status, r.body);
        free(r.body);
    }
    /* a body over 8 MiB is refused as too large */
    size_t big = 9 * 1024 * 1024;
    char *huge = malloc(big);
    memset(huge, ' ', big);
    huge[0] = '[';
    huge[big - 1] = ']';
    resp r = http(f->port, "POST", "/v1/cost-events", k, huge, big, NULL);
    assert_int_equal(r.status, 413);
    free(r.body);
    free(huge);
    assert_int_equal(h_http_get(f->port, "/healthz", NULL, 0), 200);
}

static const char EVENT[] =
    "{\"EventId\":\"%s\",\"ChargePeriodStart\":\"2025-09-01T00:00:00Z\","
    "\"ChargePeriodEnd\":\"2025-09-01T01:00:00Z\",\"BilledCost\":\"%s\",\"BillingCurrency\":"
    "\"USD\","
    "\"ProviderName\":\"AWS\",\"SubAccountId\":\"1\",\"ServiceName\":\"AmazonEC2\","
    "\"ChargeCategory\":\"Usage\"}";

static void test_api_posted_events_reach_the_ledger(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    h_service *ing = start_ingest(f);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    char id1[37], id2[37], body[2048], e1[600], e2[600];
    vx_test_uuid(id1);
    vx_test_uuid(id2);
    snprintf(e1, sizeof e1, EVENT, id1, "0.000000001");
    snprintf(e2, sizeof e2, EVENT, id2, "123456789.123456789");
    snprintf(body, sizeof body, "%s\n%s\n{\"EventId\":\"broken\"}\n", e1, e2);
    used_idem_key(f, t, "t-1");
    resp r =
        http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), "Idempotency-Key: t-1");
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.body, "\"accepted\":2"));
    assert_non_null(strstr(r.body, "\"index\":2"));
    free(r.body);
    /* the same request again is a duplicate and stores nothing more */
    r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), "Idempotency-Key: t-1");
    assert_int_equal(r.status, 202);
    assert_non_null(strstr(r.body, "\"duplicate_request\":true"));
    free(r.body);
    /* the key reused for other events is refused, and publishes nothing */
    char id3[37], other[700];
    vx_test_uuid(id3);
    snprintf(e1, sizeof e1, EVENT, id3, "5");
    snprintf(other, sizeof other, "[%s]", e1);
    r = http(f->port, "POST", "/v1/cost-events", k, other, strlen(other), "Idempotency-Key: t-1");
    assert_int_equal(r.status, 422);
    assert_non_null(strstr(r.body, "idempotency-key-reused"));
    free(r.body);
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  t, NULL, 2, 20000),
                     2);
    r = http(f->port, "GET", "/v1/costs?from=2025-09-01&to=2025-09-02", k, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "\"BilledCost\":\"123456789.123456789\""));
    assert_non_null(strstr(r.body, "\"BilledCost\":\"0.000000001\""));
    free(r.body);
    assert_int_equal(h_service_stop(ing), 0);
}

/* RecordCount of the one-group summary answer, or -1. */
static long summary_count(fixture *f, const char *key)
{
    resp r =
        http(f->port, "GET", "/v1/costs/summary?from=2025-09-01&to=2025-09-02&group_by=service",
             key, NULL, 0, NULL);
    long n = -1;
    const char *p = strstr(r.body, "\"RecordCount\":");
    if (r.status == 200 && p)
        n = atol(p + 14);
    else if (r.status == 200 && strstr(r.body, "\"data\":[]"))
        n = 0;
    free(r.body);
    return n;
}

static void test_api_cached_summary_follows_new_commits(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    h_service *ing = start_ingest(f);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    for (int round = 1; round <= 3; round++) {
        char id[37], ev[600], body[700];
        vx_test_uuid(id);
        snprintf(ev, sizeof ev, EVENT, id, "1");
        snprintf(body, sizeof body, "[%s]", ev);
        resp r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), NULL);
        assert_int_equal(r.status, 202);
        free(r.body);
        assert_int_equal(h_wait_query(f->pg,
                                      "SELECT count(*) FROM cost_records WHERE tenant_id = $1", t,
                                      NULL, round, 20000),
                         round);
        /* the announcement follows the commit within moments; the cached answer must follow it */
        long got = -1;
        for (int i = 0; i < 100 && got != round; i++) {
            got = summary_count(f, k);
            if (got != round)
                vx_sleep_ms(20);
        }
        assert_int_equal(got, round);
        /* and then it is served from the cache, still right */
        assert_int_equal(summary_count(f, k), round);
    }
    char metrics[65536];
    assert_int_equal(h_http_get(f->port, "/metrics", metrics, sizeof metrics), 200);
    const char *hits = strstr(metrics, "valdrix_api_cache_requests_total{result=\"hit\"} ");
    assert_non_null(hits);
    assert_true(atol(hits + strlen("valdrix_api_cache_requests_total{result=\"hit\"} ")) >= 3);
    assert_int_equal(h_service_stop(ing), 0);
}

/* A full event stream (at its size bound, refusing new messages) is a 503 with Retry-After and
 * the reason, nothing stored; once drained, the same request is accepted. */
static void test_api_full_stream_answers_503_and_recovers(void **state)
{
    FIXTURE(f);
    start_api(f, NULL, NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-api-full", .timeout_ms = 5000};
    vx_bus *b = NULL;
    assert_int_equal(vx_bus_connect(&bc, &b), VX_OK);
    char name[96], subjects[96], subject[160], err[256] = "";
    snprintf(name, sizeof name, "T_EV_%s", f->id);
    snprintf(subjects, sizeof subjects, "%s.events.>", f->id);
    snprintf(subject, sizeof subject, "%s.events.%s", f->id, t);
    vx_stream_config sc = {.name = name,
                           .subjects = subjects,
                           .max_bytes = 64 * 1024,
                           .work_queue = true,
                           .discard_new = true};
    assert_int_equal(vx_bus_ensure_stream(b, &sc, err, sizeof err), VX_OK);
    /* fill it to the last byte: 8 KiB at a time until JetStream refuses, then smaller */
    static char filler[8192];
    int stored = 0;
    for (size_t size = sizeof filler; size >= 1; size /= 8) {
        vx_status st = VX_OK;
        for (int i = 0; i < 5000 && (st = vx_bus_publish(b, subject, filler, size, NULL, NULL, 0,
                                                         NULL)) == VX_OK;
             i++)
            stored++;
        assert_int_equal(st, VX_FULL);
    }
    assert_true(stored > 8);
    vx_stream_info info;
    assert_int_equal(vx_bus_stream_info(b, name, &info), VX_OK);
    assert_int_equal(info.max_bytes, 64 * 1024);
    uint64_t held = info.msgs;
    char id[37], ev[600], body[700];
    vx_test_uuid(id);
    snprintf(ev, sizeof ev, EVENT, id, "5");
    snprintf(body, sizeof body, "[%s]", ev);
    resp r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), NULL);
    if (r.status != 503 || !strstr(r.body, "stream is full") ||
        !strstr(r.body, "nothing was stored"))
        fail_msg("%ld %s", r.status, r.body);
    const char *ra = header(&r, "Retry-After");
    assert_non_null(ra);
    assert_int_equal(atoi(ra), 30);
    free(r.body);
    assert_int_equal(vx_bus_stream_info(b, name, &info), VX_OK);
    assert_int_equal(info.msgs, held); /* nothing went in */
    /* drained (as ingest would, here by deleting), the same request goes through */
    for (uint64_t seq = info.first_seq; seq <= info.last_seq; seq++) {
        vx_status st = vx_bus_stream_delete_msg(b, name, seq);
        assert_true(st == VX_OK || st == VX_NOT_FOUND);
    }
    r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), NULL);
    if (r.status != 202)
        fail_msg("%ld %s", r.status, r.body);
    free(r.body);
    assert_int_equal(vx_bus_stream_info(b, name, &info), VX_OK);
    assert_int_equal(info.msgs, 1);
    vx_bus_destroy(b);
}

/* /readyz is on the public port: with Postgres gone it says so, and nothing of libpq's text
 * (host, port, role, database) reaches the client. */
static void test_api_readyz_names_no_hosts_or_roles(void **state)
{
    FIXTURE(f);
    char dsn[512], host[128], dsn_env[600];
    int pg_port = 0;
    assert_true(h_dsn_via(getenv("VX_PG_DSN"), "127.0.0.1", 1, dsn, sizeof dsn, host, sizeof host,
                          &pg_port));
    h_proxy *proxy = h_proxy_start(host, pg_port);
    assert_true(h_dsn_via(getenv("VX_PG_DSN"), "127.0.0.1", h_proxy_port(proxy), dsn, sizeof dsn,
                          host, sizeof host, &pg_port));
    snprintf(dsn_env, sizeof dsn_env, "VX_PG_DSN=%s", dsn);
    start_api(f, dsn_env, NULL);
    h_proxy_cut(proxy);
    char body[1024] = "";
    int status = 0;
    for (int i = 0; i < 100 && (status = h_http_get(f->port, "/readyz", body, sizeof body)) != 503;
         i++)
        vx_sleep_ms(100);
    if (status != 503 || !strstr(body, "postgres: not answering"))
        fail_msg("%d %s", status, body);
    char port_text[16];
    snprintf(port_text, sizeof port_text, "%d", h_proxy_port(proxy));
    const char *secret[] = {"127.0.0.1", "localhost",  "valdrix_app", "valdrix_owner",
                            port_text,   "connection", "server",      "password"};
    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        if (strstr(body, secret[i]))
            fail_msg("/readyz tells \"%s\": %s", secret[i], body);
    h_proxy_restore(proxy);
    for (int i = 0; i < 100 && h_http_get(f->port, "/readyz", NULL, 0) != 200; i++)
        vx_sleep_ms(100);
    assert_int_equal(h_http_get(f->port, "/readyz", NULL, 0), 200);
    h_service_stop(&f->api);
    h_proxy_stop(proxy);
}

static void test_api_nats_down_answers_503_and_writes_nothing(void **state)
{
    FIXTURE(f);
    /* the API reaches NATS through a proxy the test cuts */
    const char *url = getenv("VX_NATS_URL");
    int nats_port = atoi(strrchr(url, ':') + 1);
    h_proxy *proxy = h_proxy_start("127.0.0.1", nats_port);
    char nats_env[64];
    snprintf(nats_env, sizeof nats_env, "VX_NATS_URL=nats://127.0.0.1:%d", h_proxy_port(proxy));
    start_api(f, nats_env, "VX_LOG_LEVEL=warn");
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    /* make sure the stream exists, as ingest would have made it in production */
    {
        vx_bus_config bc = {.url = url, .name = "test-api-stream", .timeout_ms = 5000};
        vx_bus *b = NULL;
        assert_int_equal(vx_bus_connect(&bc, &b), VX_OK);
        char name[96], subjects[96], err[256] = "";
        snprintf(name, sizeof name, "T_EV_%s", f->id);
        snprintf(subjects, sizeof subjects, "%s.events.>", f->id);
        vx_stream_config sc = {.name = name, .subjects = subjects};
        assert_int_equal(vx_bus_ensure_stream(b, &sc, err, sizeof err), VX_OK);
        vx_bus_destroy(b);
    }
    const char *gen[] = {"valdrix", "generate",         "--tenant", t,       "--days",
                         "1",       "--events-per-day", "1",        "--end", "2020-01-02",
                         NULL};
    char out[512];
    assert_int_equal(h_run("valdrix", gen, f->envp, out, sizeof out), 0);
    h_proxy_cut(proxy);
    /* once the API knows NATS is gone (its readiness says so), a publish fails at once */
    for (int i = 0; i < 200 && h_http_get(f->port, "/readyz", NULL, 0) != 503; i++)
        vx_sleep_ms(50);
    assert_int_equal(h_http_get(f->port, "/readyz", NULL, 0), 503);
    char id[37], body[700];
    vx_test_uuid(id);
    snprintf(body, sizeof body,
             "["
             "%s"
             "]",
             "");
    char ev[600];
    snprintf(ev, sizeof ev, EVENT, id, "5");
    snprintf(body, sizeof body, "[%s]", ev);
    resp r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), NULL);
    if (r.status != 503 || !strstr(r.body, "nothing was published"))
        fail_msg("%ld %s", r.status, r.body);
    assert_non_null(header(&r, "Retry-After"));
    free(r.body);
    /* reads do not need NATS */
    r = http(f->port, "GET", "/v1/costs?from=2025-09-01&to=2025-09-02", k, NULL, 0, NULL);
    assert_int_equal(r.status, 200);
    free(r.body);
    h_proxy_restore(proxy);
    /* after NATS returns, the refused event is not in the stream: an ingest finds only the
     * generated one */
    h_service *ing = start_ingest(f);
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  t, NULL, 1, 20000),
                     1);
    /* an event posted now goes into the stream after anything published before: once it is
     * stored, the refused one would be too if it had been published */
    assert_true(h_wait_ready(f->port, 20000)); /* the API has NATS again */
    char sentinel[37];
    vx_test_uuid(sentinel);
    snprintf(ev, sizeof ev, EVENT, sentinel, "6");
    snprintf(body, sizeof body, "[%s]", ev);
    r = http(f->port, "POST", "/v1/cost-events", k, body, strlen(body), NULL);
    assert_int_equal(r.status, 202);
    free(r.body);
    assert_int_equal(h_wait_query(f->pg, "SELECT count(*) FROM cost_records WHERE tenant_id = $1",
                                  t, NULL, 2, 20000),
                     2);
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT count(*) FROM cost_records WHERE tenant_id = $1 AND "
                                 "event_id::text <> $2",
                                 t, sentinel),
                     1);
    assert_int_equal(h_query_int(f->pg,
                                 "SELECT count(*) FROM cost_records WHERE tenant_id = $1 AND "
                                 "event_id::text = $2",
                                 t, id),
                     0);
    assert_int_equal(h_service_stop(ing), 0);
    h_proxy_stop(proxy);
}

typedef struct {
    int port;
    const char *key;
    long status;
    char body[512];
} forecast_call;

static void *call_forecast(void *arg)
{
    forecast_call *fc = arg;
    resp r = http(fc->port, "POST", "/v1/forecasts", fc->key, "{\"horizon_days\":7}", 18, NULL);
    fc->status = r.status;
    snprintf(fc->body, sizeof fc->body, "%s", r.body);
    free(r.body);
    return NULL;
}

/* A stand-in forecast service: answers, after 700 ms, a forecast for the tenant the request
 * carried. */
static void slow_forecaster(void *ctx, vx_bus_msg *req)
{
    vx_sleep_ms(700);
    Valdrix__V1__ForecastRequest *in =
        valdrix__v1__forecast_request__unpack(NULL, vx_bus_msg_len(req), vx_bus_msg_data(req));
    char tenant[64] = "(undecodable)";
    if (in && in->scope)
        snprintf(tenant, sizeof tenant, "%s", in->scope->tenant_id);
    valdrix__v1__forecast_request__free_unpacked(in, NULL);
    Valdrix__V1__SeriesForecast total = VALDRIX__V1__SERIES_FORECAST__INIT;
    char model[] = "sum";
    total.model = model;
    Valdrix__V1__ForecastResult res = VALDRIX__V1__FORECAST_RESULT__INIT;
    res.total = &total;
    res.records = 42;
    res.tenant_id = tenant;
    Valdrix__V1__ForecastReply r = VALDRIX__V1__FORECAST_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__FORECAST_REPLY__OUTCOME_RESULT;
    r.result = &res;
    uint8_t buf[256];
    size_t n = valdrix__v1__forecast_reply__pack(&r, buf);
    /* On NATS's thread, where cmocka cannot fail the test: a lost reply fails it as a timeout. */
    vx_status_ignore(vx_bus_respond(ctx, req, buf, n, NULL, 0));
}

/* A stand-in llm service that is out of budget. */
static void broke_llm(void *ctx, vx_bus_msg *req)
{
    Valdrix__V1__Error e = VALDRIX__V1__ERROR__INIT;
    e.code = VALDRIX__V1__ERROR__CODE__CODE_BUDGET;
    char msg[] = "monthly LLM budget of 5.00 USD used up";
    e.message = msg;
    Valdrix__V1__InsightReply r = VALDRIX__V1__INSIGHT_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__INSIGHT_REPLY__OUTCOME_ERROR;
    r.error = &e;
    uint8_t buf[256];
    size_t n = valdrix__v1__insight_reply__pack(&r, buf);
    /* On NATS's thread, where cmocka cannot fail the test: a lost reply fails it as a timeout. */
    vx_status_ignore(vx_bus_respond(ctx, req, buf, n, NULL, 0));
}

static void test_api_service_requests_pass_through_and_are_bounded(void **state)
{
    FIXTURE(f);
    /* a stand-in forecast service answering slowly, one request at a time */
    vx_bus *bus;
    vx_bus_config bc = {
        .url = getenv("VX_NATS_URL"), .name = "test-forecaster", .timeout_ms = 5000};
    assert_int_equal(vx_bus_connect(&bc, &bus), VX_OK);
    vx_bus_sub *sub;
    /* subjects of this test's own, so that no other test's service answers */
    char fsub[96], lsub[96], run[112];
    snprintf(fsub, sizeof fsub, "t%s.forecast", f->id);
    snprintf(lsub, sizeof lsub, "t%s.llm.insight", f->id);
    snprintf(run, sizeof run, "%s.run", fsub);
    add_env(f, "VX_FORECAST_SUBJECT", fsub);
    add_env(f, "VX_LLM_SUBJECT", lsub);
    assert_int_equal(vx_bus_serve(bus, run, "test-forecasters", slow_forecaster, bus, &sub), VX_OK);
    /* a pool of 2: at most 2 requests to other services at once */
    start_api(f, "VX_PG_POOL_SIZE=2", "VX_API_SERVICE_TIMEOUT=5s");
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    forecast_call calls[3];
    pthread_t th[3];
    for (int i = 0; i < 3; i++) {
        calls[i] = (forecast_call){.port = f->port, .key = k};
        pthread_create(&th[i], NULL, call_forecast, &calls[i]);
    }
    char own[80];
    snprintf(own, sizeof own, "\"tenant_id\":\"%s\"", t);
    int ok = 0, busy = 0;
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        /* the reply rendered as JSON; the request carried the key's tenant */
        if (calls[i].status == 200 && strstr(calls[i].body, "\"records\":42") &&
            strstr(calls[i].body, own) && strstr(calls[i].body, "\"model\":\"sum\""))
            ok++;
        if (calls[i].status == 503 && strstr(calls[i].body, "too many forecast and insight"))
            busy++;
    }
    assert_int_equal(ok, 2);
    assert_int_equal(busy, 1);
    /* bad bodies never reach the service */
    resp bad = http(f->port, "POST", "/v1/forecasts", k, "{\"horizon\":7}", 13, NULL);
    assert_int_equal(bad.status, 400);
    assert_non_null(strstr(bad.body, "unknown field \\\"horizon\\\""));
    free(bad.body);
    /* a service's Error reply becomes the status its code maps to */
    vx_bus_sub *llm;
    assert_int_equal(vx_bus_serve(bus, lsub, "test-llm", broke_llm, bus, &llm), VX_OK);
    resp r = http(f->port, "POST", "/v1/insights", k, "{\"kind\":\"summary\"}", 18, NULL);
    assert_int_equal(r.status, 402);
    assert_non_null(strstr(r.body, "budget-exceeded"));
    assert_non_null(strstr(r.body, "used up"));
    free(r.body);
    vx_bus_sub_destroy(llm);
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(bus);
}

/* The tenant of a request's scope into out ("" when undecodable). */
static void request_tenant(const ProtobufCMessageDescriptor *desc, vx_bus_msg *req, char *out,
                           size_t cap)
{
    out[0] = '\0';
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, NULL, vx_bus_msg_len(req), vx_bus_msg_data(req));
    if (!m)
        return;
    const Valdrix__V1__CostScope *sc = NULL;
    if (desc == &valdrix__v1__anomalies_request__descriptor)
        sc = ((Valdrix__V1__AnomaliesRequest *)m)->scope;
    else if (desc == &valdrix__v1__insight_request__descriptor)
        sc = ((Valdrix__V1__InsightRequest *)m)->scope;
    if (sc && sc->tenant_id)
        snprintf(out, cap, "%s", sc->tenant_id);
    protobuf_c_message_free_unpacked(m, NULL);
}

static void quiet_anomalies(void *ctx, vx_bus_msg *req)
{
    char tenant[64];
    request_tenant(&valdrix__v1__anomalies_request__descriptor, req, tenant, sizeof tenant);
    Valdrix__V1__AnomaliesResult res = VALDRIX__V1__ANOMALIES_RESULT__INIT;
    res.tenant_id = tenant;
    Valdrix__V1__AnomaliesReply r = VALDRIX__V1__ANOMALIES_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__ANOMALIES_REPLY__OUTCOME_RESULT;
    r.result = &res;
    uint8_t buf[128];
    size_t n = valdrix__v1__anomalies_reply__pack(&r, buf);
    /* On NATS's thread, where cmocka cannot fail the test: a lost reply fails it as a timeout. */
    vx_status_ignore(vx_bus_respond(ctx, req, buf, n, NULL, 0));
}

static void test_api_service_breaker_opens_and_recovers(void **state)
{
    FIXTURE(f);
    char fsub[96], anomalies[112];
    snprintf(fsub, sizeof fsub, "t%s.forecast", f->id);
    snprintf(anomalies, sizeof anomalies, "%s.anomalies", fsub);
    add_env(f, "VX_FORECAST_SUBJECT", fsub);
    start_api(f, NULL, NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    const char *path = "/v1/costs/anomalies?min_rel=0.5";
    /* nobody answers: each request is a failure, and after five the edge stops asking */
    for (int i = 0; i < 5; i++) {
        resp r = http(f->port, "GET", path, k, NULL, 0, NULL);
        assert_int_equal(r.status, 503);
        assert_non_null(strstr(r.body, "is not running"));
        free(r.body);
    }
    resp r = http(f->port, "GET", path, k, NULL, 0, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body, "failed repeatedly"));
    free(r.body);
    assert_true(h_metric(f->port, "valdrix_api_service_breaker_open{service=\"forecast\"}") == 1);
    assert_true(h_metric(f->port, "valdrix_api_service_breaker_open{service=\"llm\"}") == 0);
    /* the service comes; after the open period, probes reach it and the breaker closes */
    vx_bus *bus;
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-anomalies", .timeout_ms = 5000};
    assert_int_equal(vx_bus_connect(&bc, &bus), VX_OK);
    vx_bus_sub *sub;
    assert_int_equal(vx_bus_serve(bus, anomalies, "test-anomalies", quiet_anomalies, bus, &sub),
                     VX_OK);
    /* the open period is 5 s: ask until a probe gets through (at most 15 s) */
    int64_t until = vx_mono_ms() + 15000;
    for (;;) {
        r = http(f->port, "GET", path, k, NULL, 0, NULL);
        long st = r.status;
        free(r.body);
        if (st == 200 || vx_mono_ms() >= until)
            break;
        vx_sleep_ms(100);
    }
    for (int i = 0; i < 3; i++) {
        r = http(f->port, "GET", path, k, NULL, 0, NULL);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"anomalies\":[]"));
        free(r.body);
    }
    assert_true(h_metric(f->port, "valdrix_api_service_breaker_open{service=\"forecast\"}") == 0);
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(bus);
}

/* The happy path through the real forecast and llm services: the edge turns the bodies into
 * protobuf requests for the key's tenant and the replies into JSON. */
static void test_api_forecasts_anomalies_and_insights_from_the_services(void **state)
{
    FIXTURE(f);
    char fsub[96], lsub[96], fenv[128], lenv[128], lfenv[128];
    snprintf(fsub, sizeof fsub, "t%s.forecast", f->id);
    snprintf(lsub, sizeof lsub, "t%s.llm.insight", f->id);
    snprintf(fenv, sizeof fenv, "VX_FORECAST_SUBJECT=%s", fsub);
    snprintf(lenv, sizeof lenv, "VX_LLM_SUBJECT=%s", lsub);
    snprintf(lfenv, sizeof lfenv, "VX_LLM_FORECAST_SUBJECT=%s", fsub);
    const char *fextra[] = {fenv, NULL};
    const char *lextra[] = {lenv, lfenv, "VX_LLM_PROVIDERS=local", NULL};
    h_service *fc = start_service(f, "valdrix-forecast", fextra);
    h_service *llm = start_service(f, "valdrix-llm", lextra);
    start_api(f, fenv, lenv);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    /* 120 days of three services with a weekly rhythm and some noise, and one spike of EC2
     * twenty days ago */
    PGresult *pr = PQexec(f->pg, "SELECT setseed(0.42)");
    PQclear(pr);
    pr = PQexecParams(
        f->pg,
        "INSERT INTO cost_daily (tenant_id, day, service_name, sub_account_id, region_id, "
        "provider, "
        "billing_currency, billed_cost, effective_cost, list_cost, record_count) "
        "SELECT $1::uuid, d::date, s, '111111111111', 'us-east-1', 'AWS', 'USD', a, a, a, 24 FROM "
        "generate_series(current_date - 120, current_date - 1, interval '1 day') d, "
        "unnest(ARRAY['AmazonEC2', 'AmazonS3', 'AWSLambda']) s, "
        "LATERAL (SELECT round((CASE WHEN s = 'AmazonEC2' AND d::date = current_date - 20 THEN "
        "2500 "
        "ELSE (CASE s WHEN 'AmazonEC2' THEN 300 WHEN 'AmazonS3' THEN 80 ELSE 20 END) * "
        "(1 + 0.2 * (extract(isodow FROM d) < 6)::int) * (0.9 + 0.2 * random()) END)::numeric, 2) "
        "AS a) x",
        1, NULL, (const char *[]){t}, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(pr), PGRES_COMMAND_OK);
    PQclear(pr);

    const char *body = "{\"horizon_days\":14,\"top_services\":2}";
    resp r = http(f->port, "POST", "/v1/forecasts", k, body, strlen(body), NULL);
    if (r.status != 200)
        fail_msg("forecast: %ld %s", r.status, r.body);
    json_t *j = json_loads(r.body, 0, NULL);
    free(r.body);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "tenant_id")), t);
    assert_int_equal(json_integer_value(json_object_get(j, "records")), 3 * 120 * 24);
    json_t *svcs = json_object_get(j, "services");
    assert_int_equal(json_array_size(svcs), 3); /* the top 2 and "(other)" */
    assert_string_equal(json_string_value(json_object_get(json_array_get(svcs, 0), "service")),
                        "AmazonEC2");
    json_t *pts = json_object_get(json_object_get(j, "total"), "points");
    assert_int_equal(json_array_size(pts), 14);
    for (size_t i = 0; i < 14; i++) {
        json_t *p = json_array_get(pts, i);
        double lo = json_number_value(json_object_get(p, "lo")),
               y = json_number_value(json_object_get(p, "yhat")),
               hi = json_number_value(json_object_get(p, "hi"));
        if (!(lo < y && y < hi && y > 300 && y < 600))
            fail_msg("point %zu: lo %g yhat %g hi %g", i, lo, y, hi);
    }
    json_decref(j);

    char path[128];
    char from[11];
    vx_format_date(vx_wall_ms() / 1000 - 60 * 86400, from, sizeof from);
    snprintf(path, sizeof path, "/v1/costs/anomalies?from=%s", from);
    r = http(f->port, "GET", path, k, NULL, 0, NULL);
    if (r.status != 200)
        fail_msg("anomalies: %ld %s", r.status, r.body);
    char spike[11];
    vx_format_date(vx_wall_ms() / 1000 - 20 * 86400, spike, sizeof spike);
    j = json_loads(r.body, 0, NULL);
    free(r.body);
    json_t *list = json_object_get(j, "anomalies");
    bool found = false;
    for (size_t i = 0; i < json_array_size(list); i++) {
        json_t *a = json_array_get(list, i);
        found |= strcmp(json_string_value(json_object_get(a, "date")), spike) == 0 &&
                 strcmp(json_string_value(json_object_get(a, "kind")), "spike") == 0;
    }
    json_decref(j);
    assert_true(found);

    body = "{\"kind\":\"anomaly\"}";
    r = http(f->port, "POST", "/v1/insights", k, body, strlen(body), NULL);
    if (r.status != 200)
        fail_msg("insight: %ld %s", r.status, r.body);
    j = json_loads(r.body, 0, NULL);
    free(r.body);
    assert_string_equal(json_string_value(json_object_get(j, "provider")), "local");
    assert_true(strlen(json_string_value(json_object_get(j, "summary"))) > 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "usage"), "cost_usd")),
                        "0");
    json_decref(j);

    /* a request the service refuses is the caller's fault: 400 with its reason */
    body = "{\"from\":\"2019-01-01\",\"to\":\"2024-01-01\"}";
    r = http(f->port, "POST", "/v1/forecasts", k, body, strlen(body), NULL);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "invalid-request"));
    free(r.body);

    /* both stop cleanly on SIGTERM */
    assert_int_equal(h_service_stop(llm), 0);
    assert_int_equal(h_service_stop(fc), 0);
}

static void test_api_redis_down_still_serves_and_limits(void **state)
{
    FIXTURE(f);
    const char *url = getenv("VX_REDIS_URL");
    int redis_port = atoi(strrchr(url, ':') + 1);
    h_proxy *proxy = h_proxy_start("127.0.0.1", redis_port);
    char redis_env[64];
    snprintf(redis_env, sizeof redis_env, "VX_REDIS_URL=redis://127.0.0.1:%d/0",
             h_proxy_port(proxy));
    start_api(f, redis_env, NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "starter", "4");
    h_proxy_cut(proxy);
    const char *path = "/v1/costs?from=2025-01-01&to=2025-01-02";
    int ok = 0, limited = 0;
    for (int i = 0; i < 8; i++) {
        resp r = http(f->port, "GET", path, k, NULL, 0, NULL);
        ok += r.status == 200;
        limited += r.status == 429;
        free(r.body);
    }
    /* served while Redis is away, and the limit still holds (per replica) */
    assert_int_equal(ok, 4);
    assert_int_equal(limited, 4);
    char body[256];
    assert_int_equal(h_http_get(f->port, "/readyz", body, sizeof body), 200);
    assert_non_null(strstr(body, "local-fallback"));
    h_proxy_restore(proxy);
    h_proxy_stop(proxy);
}

#define OTHER_TENANT "7d2f0c1e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"

/* What the stand-in below saw of the last request's deadline headers. */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_at[32], seen_ms[32];

/* A stand-in llm service gone wrong: it answers for another tenant (or, while `ctx` of the
 * request says so, for the one asked) and remembers the deadline headers. */
typedef struct {
    vx_bus *bus;
    atomic_bool honest;
} liar;

static void lying_llm(void *ctx, vx_bus_msg *req)
{
    liar *l = ctx;
    const char *at = vx_bus_msg_header(req, "Vx-Deadline-At");
    const char *ms = vx_bus_msg_header(req, "Vx-Deadline-Ms");
    pthread_mutex_lock(&seen_mu);
    snprintf(seen_at, sizeof seen_at, "%s", at ? at : "");
    snprintf(seen_ms, sizeof seen_ms, "%s", ms ? ms : "");
    pthread_mutex_unlock(&seen_mu);
    char tenant[64] = OTHER_TENANT;
    if (atomic_load(&l->honest))
        request_tenant(&valdrix__v1__insight_request__descriptor, req, tenant, sizeof tenant);
    Valdrix__V1__Insight in = VALDRIX__V1__INSIGHT__INIT;
    char summary[] = "Another tenant's spend rose.";
    in.summary = summary;
    Valdrix__V1__InsightResult res = VALDRIX__V1__INSIGHT_RESULT__INIT;
    char from[] = "2025-12-01", to[] = "2026-01-01", kind[] = "summary", provider[] = "local",
         currency[] = "USD";
    res.tenant_id = tenant;
    res.from = from;
    res.to = to;
    res.kind = kind;
    res.provider = provider;
    res.currency = currency;
    res.insight = &in;
    Valdrix__V1__InsightReply r = VALDRIX__V1__INSIGHT_REPLY__INIT;
    r.outcome_case = VALDRIX__V1__INSIGHT_REPLY__OUTCOME_RESULT;
    r.result = &res;
    uint8_t buf[512];
    size_t n = valdrix__v1__insight_reply__pack(&r, buf);
    /* On NATS's thread, where cmocka cannot fail the test: a lost reply fails it as a timeout. */
    vx_status_ignore(vx_bus_respond(l->bus, req, buf, n, NULL, 0));
}

/* A result for another tenant is never passed on: 502, counted; and the edge sends both
 * deadline headers. */
static void test_api_reply_for_another_tenant_is_refused(void **state)
{
    FIXTURE(f);
    char lsub[96];
    snprintf(lsub, sizeof lsub, "t%s.llm.insight", f->id);
    add_env(f, "VX_LLM_SUBJECT", lsub);
    start_api(f, "VX_API_SERVICE_TIMEOUT=5s", NULL);
    char t[40], k[128];
    new_tenant(f, t, k, "enterprise", NULL);
    liar l = {.honest = false};
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "test-liar", .timeout_ms = 5000};
    assert_int_equal(vx_bus_connect(&bc, &l.bus), VX_OK);
    vx_bus_sub *sub;
    assert_int_equal(vx_bus_serve(l.bus, lsub, "test-liar", lying_llm, &l, &sub), VX_OK);

    int64_t sent_at = vx_wall_ms();
    resp r = http(f->port, "POST", "/v1/insights", k, "{\"kind\":\"summary\"}", 18, NULL);
    if (r.status != 502 || !strstr(r.body, "bad-reply") ||
        !strstr(r.body, "a result for another tenant"))
        fail_msg("%ld %s", r.status, r.body);
    assert_null(strstr(r.body, OTHER_TENANT));
    assert_null(strstr(r.body, "Another tenant's spend"));
    free(r.body);
    assert_true(h_metric(f->port, "valdrix_api_service_wrong_tenant_total{service=\"llm\"}") == 1);
    assert_true(h_metric(f->port, "valdrix_api_service_wrong_tenant_total{service=\"forecast\"}") ==
                0);
    /* the deadline went along, absolute and relative */
    pthread_mutex_lock(&seen_mu);
    int64_t at = 0;
    assert_int_equal(vx_deadline_read(seen_at, &at, NULL, 0), VX_OK);
    assert_string_equal(seen_ms, "5000");
    pthread_mutex_unlock(&seen_mu);
    assert_true(at >= sent_at + 5000);

    /* the same stand-in answering for the caller's tenant is passed through */
    atomic_store(&l.honest, true);
    r = http(f->port, "POST", "/v1/insights", k, "{\"kind\":\"summary\"}", 18, NULL);
    if (r.status != 200 || !strstr(r.body, t))
        fail_msg("%ld %s", r.status, r.body);
    free(r.body);
    assert_true(h_metric(f->port, "valdrix_api_service_wrong_tenant_total{service=\"llm\"}") == 1);
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(l.bus);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const char *responses = getenv("VX_TEST_RESPONSES");
    if (responses) {
        FILE *f = fopen(responses, "w"); /* this run's answers only */
        if (f)
            fclose(f);
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api_auth_failures_all_look_alike, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_paging_and_isolation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_limits_headers_and_plans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_bad_input_gets_4xx_and_service_keeps_running,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_posted_events_reach_the_ledger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_cached_summary_follows_new_commits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_readyz_names_no_hosts_or_roles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_full_stream_answers_503_and_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_nats_down_answers_503_and_writes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_redis_down_still_serves_and_limits, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_service_requests_pass_through_and_are_bounded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_reply_for_another_tenant_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_service_breaker_opens_and_recovers, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_api_forecasts_anomalies_and_insights_from_the_services,
                                        setup, teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
