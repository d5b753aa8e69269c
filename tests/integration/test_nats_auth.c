/* NATS authorization against the real nats-server that scripts/stack.sh configured: a client
 * without a credential (or with a wrong one) is refused; a publisher credential from `valdrix
 * publisher create` publishes its tenant's cost events and gets their acks, and nothing else (no
 * other tenant's subject, no svc.* request, no stream deletion, no reading of others' replies),
 * and is dropped when revoked; the ingest credential cannot request svc.*, the api's can. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/harness.h"
#include "../support/vx_test_env.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool have_stack(void)
{
    return vx_test_env("VX_NATS_URL") && vx_test_env("VX_NATS_SERVICE_URL") &&
           vx_test_env("VX_PG_ADMIN_DSN") && vx_test_env("VX_NATS_AUTH_FILE");
}

/* The URL without credentials (services and publishers bring their own). */
static const char *plain_url(void)
{
    return getenv("VX_NATS_SERVICE_URL");
}

static vx_status connect_as(const char *user, const char *password, vx_bus **out)
{
    vx_bus_config bc = {.url = plain_url(),
                        .name = "test-nats-auth",
                        .timeout_ms = 1500,
                        .creds = {.user = user, .password = password}};
    *out = NULL;
    return vx_bus_connect(&bc, out);
}

static vx_bus *admin(void)
{
    vx_bus_config bc = {
        .url = getenv("VX_NATS_URL"), .name = "test-nats-auth-admin", .timeout_ms = 5000};
    vx_bus *b = NULL;
    assert_int_equal(vx_bus_connect(&bc, &b), VX_OK);
    return b;
}

static void test_no_or_wrong_credential_is_refused(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    vx_bus *b = NULL;
    vx_bus_config anon = {.url = plain_url(), .name = "test-anonymous", .timeout_ms = 1500};
    assert_int_equal(vx_bus_connect(&anon, &b), VX_DENIED);
    assert_null(b);
    assert_int_equal(connect_as("ingest", "not-the-password", &b), VX_DENIED);
    assert_int_equal(connect_as("nobody", "x", &b), VX_DENIED);
    /* a user that cannot prefix reply subjects is refused before connecting */
    assert_int_equal(connect_as("a.b", "x", &b), VX_INVALID);
}

/* Counts what a subscription receives. */
static atomic_int received;
static void count(void *ctx, vx_bus_msg *m)
{
    (void)ctx;
    (void)m;
    atomic_fetch_add(&received, 1);
}

static void responder(void *ctx, vx_bus_msg *m)
{
    vx_bus *b = ctx;
    atomic_fetch_add(&received, 1);
    vx_status_ignore(vx_bus_respond(b, m, "ok", 2, NULL, 0)); /* the requester may be gone */
}

typedef struct {
    const char *user, *password;
} creds;

static bool publisher_connects(void *arg)
{
    creds *c = arg;
    vx_bus *b = NULL;
    if (connect_as(c->user, c->password, &b) != VX_OK)
        return false;
    vx_bus_destroy(b);
    return true;
}

static bool publisher_refused(void *arg)
{
    return !publisher_connects(arg);
}

static void test_publisher_credential_is_confined_to_its_tenant(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    PGconn *pg = h_admin();
    char a[37], other[37];
    h_create_tenant(pg, a, "growth");
    h_create_tenant(pg, other, "growth");
    char out[1024];
    const char *create[] = {"valdrix", "publisher", "create", "--tenant",
                            a,         "--note",    "test",   NULL};
    assert_int_equal(h_run("valdrix", create, NULL, out, sizeof out), 0);
    char user[64] = "", pw[128] = "";
    const char *u = strstr(out, "VX_NATS_USER="), *p = strstr(out, "VX_NATS_PASSWORD=");
    assert_non_null(u);
    assert_non_null(p);
    assert_int_equal(sscanf(u, "VX_NATS_USER=%63s", user), 1);
    assert_int_equal(sscanf(p, "VX_NATS_PASSWORD=%127s", pw), 1);
    /* only the bcrypt hash is kept */
    assert_int_equal(h_query_int(pg,
                                 "SELECT count(*) FROM nats_publishers WHERE user_name = $1 AND "
                                 "tenant_id = $2 AND password_bcrypt LIKE '$2b$%'",
                                 user, a),
                     1);
    assert_int_equal(
        h_query_int(
            pg, "SELECT count(*) FROM nats_publishers WHERE password_bcrypt LIKE '%' || $1 || '%'",
            pw, NULL),
        0);
    creds cr = {user, pw};
    assert_true(h_wait_until(publisher_connects, &cr, 10000)); /* the server has reloaded */

    /* streams for both tenants' subjects, made by the operator */
    vx_bus *op = admin();
    char id[48], sa[96], sb[96], subj_a[96], subj_b[96];
    h_unique(id, sizeof id, "auth");
    snprintf(sa, sizeof sa, "T_AUTH_A_%s", id);
    snprintf(sb, sizeof sb, "T_AUTH_B_%s", id);
    snprintf(subj_a, sizeof subj_a, "cost.events.%s", a);
    snprintf(subj_b, sizeof subj_b, "cost.events.%s", other);
    vx_stream_config ca = {.name = sa, .subjects = subj_a, .memory = true};
    vx_stream_config cb = {.name = sb, .subjects = subj_b, .memory = true};
    char err[256];
    /* right after the reload JetStream may not answer for a moment (no responders) */
    vx_status st = VX_UNAVAILABLE;
    for (int i = 0; i < 50 && st == VX_UNAVAILABLE; i++) {
        if (i > 0)
            vx_sleep_ms(100);
        st = vx_bus_ensure_stream(op, &ca, err, sizeof err);
        if (st == VX_OK)
            st = vx_bus_ensure_stream(op, &cb, err, sizeof err);
    }
    if (st != VX_OK)
        fail_msg("stream for the tenants' subjects: %s: %s", vx_status_str(st), err);

    vx_bus *pub = NULL;
    assert_int_equal(connect_as(user, pw, &pub), VX_OK);
    bool dup = true;
    /* its own tenant: stored, and the ack comes back on its own reply subjects */
    assert_int_equal(vx_bus_publish(pub, subj_a, "x", 1, "auth-1", NULL, 0, &dup), VX_OK);
    assert_false(dup);
    /* another tenant's subject: refused by the server, nothing stored */
    assert_int_not_equal(vx_bus_publish(pub, subj_b, "x", 1, "auth-2", NULL, 0, &dup), VX_OK);

    /* svc.* and the JetStream API are not its to call */
    char svc_subject[128];
    snprintf(svc_subject, sizeof svc_subject, "t%s.forecast.run", id);
    atomic_store(&received, 0);
    vx_bus_sub *sub = NULL;
    assert_int_equal(vx_bus_serve(op, svc_subject, NULL, responder, op, &sub), VX_OK);
    void *reply = NULL;
    size_t reply_len = 0;
    assert_int_not_equal(
        vx_bus_request(pub, svc_subject, "{}", 2, NULL, 0, 500, &reply, &reply_len), VX_OK);
    assert_int_not_equal(
        vx_bus_request(pub, "svc.llm.insight", "{}", 2, NULL, 0, 500, &reply, &reply_len), VX_OK);
    assert_int_not_equal(vx_bus_delete_stream(pub, sa), VX_OK);

    /* it cannot read other clients' replies or other tenants' events either */
    vx_bus_sub *spy = NULL, *spy2 = NULL;
    st = vx_bus_serve(pub, "_INBOX.api.>", NULL, count, NULL, &spy);
    vx_status st2 = vx_bus_serve(pub, "cost.events.>", NULL, count, NULL, &spy2);
    vx_sleep_ms(200);
    int before = atomic_load(&received);
    assert_int_equal(vx_bus_publish_core(op, "_INBOX.api.secret", "s", 1), VX_OK);
    bool dup2 = false;
    assert_int_equal(vx_bus_publish(op, subj_b, "y", 1, "auth-3", NULL, 0, &dup2), VX_OK);
    vx_sleep_ms(300);
    assert_int_equal(atomic_load(&received), before); /* the responder got nothing either */
    if (st == VX_OK)
        vx_bus_sub_destroy(spy);
    if (st2 == VX_OK)
        vx_bus_sub_destroy(spy2);

    /* what the operator sees: one message for A (the test's), one for B (the operator's),
     * both streams still there */
    vx_bus_consumer *c = NULL;
    vx_consumer_config cc = {.stream = sa, .durable = "check", .ack_wait_ms = 30000};
    assert_int_equal(vx_bus_consumer_create(op, &cc, &c), VX_OK);
    uint64_t pending = 0, ack_pending = 0;
    assert_int_equal(vx_bus_consumer_pending(c, &pending, &ack_pending), VX_OK);
    assert_int_equal(pending, 1);
    vx_bus_consumer_destroy(c);
    cc.stream = sb;
    assert_int_equal(vx_bus_consumer_create(op, &cc, &c), VX_OK);
    assert_int_equal(vx_bus_consumer_pending(c, &pending, &ack_pending), VX_OK);
    assert_int_equal(pending, 1);
    vx_bus_consumer_destroy(c);

    /* revoked: the server drops the connection and refuses new ones */
    const char *revoke[] = {"valdrix", "publisher", "revoke", "--user", user, NULL};
    assert_int_equal(h_run("valdrix", revoke, NULL, out, sizeof out), 0);
    assert_true(h_wait_until(publisher_refused, &cr, 10000));
    int64_t until = vx_mono_ms() + 10000;
    while (vx_bus_connected(pub) && vx_mono_ms() < until)
        vx_sleep_ms(50);
    assert_false(vx_bus_connected(pub));
    assert_int_equal(h_run("valdrix", revoke, NULL, out, sizeof out), 1); /* not twice */

    vx_bus_sub_destroy(sub);
    vx_bus_destroy(pub);
    assert_int_equal(vx_bus_delete_stream(op, sa), VX_OK);
    assert_int_equal(vx_bus_delete_stream(op, sb), VX_OK);
    vx_bus_destroy(op);
    PQfinish(pg);
}

/* The services' credentials: only the api's may request svc.*; ingest's may not, nor may it
 * publish cost events as if it were a publisher. */
static void test_only_the_edge_may_request_services(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    const char *ingest_pw = vx_test_env("VX_NATS_PASSWORD_INGEST");
    const char *api_pw = vx_test_env("VX_NATS_PASSWORD_API");
    const char *forecast_pw = vx_test_env("VX_NATS_PASSWORD_FORECAST");
    if (!ingest_pw || !api_pw || !forecast_pw)
        skip();
    vx_bus *op = admin();
    char id[48], subject[128];
    h_unique(id, sizeof id, "edge");
    snprintf(subject, sizeof subject, "t%s.forecast.run", id);
    atomic_store(&received, 0);
    vx_bus *fc = NULL;
    assert_int_equal(connect_as("forecast", forecast_pw, &fc), VX_OK);
    vx_bus_sub *sub = NULL;
    assert_int_equal(vx_bus_serve(fc, subject, "q", responder, fc, &sub), VX_OK);

    vx_bus *api = NULL, *ing = NULL;
    assert_int_equal(connect_as("api", api_pw, &api), VX_OK);
    assert_int_equal(connect_as("ingest", ingest_pw, &ing), VX_OK);
    void *reply = NULL;
    size_t reply_len = 0;
    assert_int_equal(vx_bus_request(api, subject, "{}", 2, NULL, 0, 3000, &reply, &reply_len),
                     VX_OK);
    assert_memory_equal(reply, "ok", 2);
    vx_free(reply);
    reply = NULL;
    assert_int_equal(atomic_load(&received), 1);
    assert_int_not_equal(vx_bus_request(ing, subject, "{}", 2, NULL, 0, 500, &reply, &reply_len),
                         VX_OK);
    /* the forecast service answers requests but publishes nothing of its own */
    assert_int_not_equal(vx_bus_request(fc, subject, "{}", 2, NULL, 0, 500, &reply, &reply_len),
                         VX_OK);
    vx_sleep_ms(100);
    assert_int_equal(atomic_load(&received), 1);
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(fc);
    vx_bus_destroy(api);
    vx_bus_destroy(ing);
    vx_bus_destroy(op);
}

/* A request in hand while nats-server rereads its configuration (as every `valdrix publisher
 * create|revoke` makes it do) is still answered: the services' reply permissions do not depend
 * on what the server tracked before the reload. */
static atomic_bool reloaded;
static void slow_responder(void *ctx, vx_bus_msg *m)
{
    for (int i = 0; i < 500 && !atomic_load(&reloaded); i++)
        vx_sleep_ms(10);
    vx_sleep_ms(200); /* the reload has been applied */
    responder(ctx, m);
}

typedef struct {
    vx_bus *api;
    const char *subject;
    vx_status st;
    char reply[8];
} ask_arg;

static void *ask(void *p)
{
    ask_arg *a = p;
    void *reply = NULL;
    size_t len = 0;
    a->st = vx_bus_request(a->api, a->subject, "{}", 2, NULL, 0, 10000, &reply, &len);
    if (a->st == VX_OK)
        snprintf(a->reply, sizeof a->reply, "%.*s", (int)len, (const char *)reply);
    vx_free(reply);
    return NULL;
}

static void test_replies_survive_a_configuration_reload(void **state)
{
    (void)state;
    if (!have_stack())
        skip();
    const char *api_pw = vx_test_env("VX_NATS_PASSWORD_API");
    const char *forecast_pw = vx_test_env("VX_NATS_PASSWORD_FORECAST");
    if (!api_pw || !forecast_pw)
        skip();
    char id[48], subject[128];
    h_unique(id, sizeof id, "reload");
    snprintf(subject, sizeof subject, "t%s.forecast.run", id);
    vx_bus *fc = NULL, *api = NULL;
    assert_int_equal(connect_as("forecast", forecast_pw, &fc), VX_OK);
    assert_int_equal(connect_as("api", api_pw, &api), VX_OK);
    vx_bus_sub *sub = NULL;
    assert_int_equal(vx_bus_serve(fc, subject, "q", slow_responder, fc, &sub), VX_OK);
    atomic_store(&reloaded, false);
    int before = atomic_load(&received);
    ask_arg a = {.api = api, .subject = subject};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, ask, &a), 0);
    vx_sleep_ms(300); /* the request is in the handler, waiting */
    assert_int_equal(atomic_load(&received), before);
    char out[512];
    const char *sync[] = {"valdrix", "publisher", "sync", NULL};
    assert_int_equal(h_run("valdrix", sync, NULL, out, sizeof out), 0);
    atomic_store(&reloaded, true);
    pthread_join(t, NULL);
    if (a.st != VX_OK)
        fail_msg("the request in hand during the reload got no answer: %s", vx_status_str(a.st));
    assert_string_equal(a.reply, "ok");
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(fc);
    vx_bus_destroy(api);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_or_wrong_credential_is_refused),
        cmocka_unit_test(test_publisher_credential_is_confined_to_its_tenant),
        cmocka_unit_test(test_only_the_edge_may_request_services),
        cmocka_unit_test(test_replies_survive_a_configuration_reload),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
