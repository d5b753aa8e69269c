/* Integration tests of libs/bus against the real nats-server with JetStream (VX_NATS_URL). Each
 * test works in its own stream "T_BUS_<pid>_<n>" and subjects "tbus<pid>.<n>.>", and deletes
 * them, so that ctest -j is safe. */
/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"
#include "vx/log.h"
#include "vx/status.h"

#include "../../../tests/support/harness.h"
#include "../../../tests/support/vx_test_env.h"

#include <nats/nats.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct {
    vx_bus *bus;
    char stream[64];  /* T_BUS_<pid>_<n> */
    char prefix[64];  /* tbus<pid>.<n> */
    char pattern[72]; /* tbus<pid>.<n>.> */
} fixture;

static int next_id;

static vx_status connect_bus(vx_bus **out, bool send_asap)
{
    const char *url = getenv("VX_NATS_URL");
    vx_bus_config cfg = {
        .url = url, .name = "test_bus", .timeout_ms = 5000, .send_asap = send_asap};
    return vx_bus_connect(&cfg, out);
}

static vx_stream_config stream_cfg(const fixture *f)
{
    return (vx_stream_config){.name = f->stream, .subjects = f->pattern, .memory = true};
}

/* Connects and creates the test's stream. Without a server the test is skipped, or fails under
 * VX_TEST_REQUIRE_SERVERS=1. */
static int setup(void **state)
{
    fixture *f = vx_xcalloc(1, sizeof *f);
    *state = f;
    int n = ++next_id;
    snprintf(f->stream, sizeof f->stream, "T_BUS_%d_%d", (int)getpid(), n);
    snprintf(f->prefix, sizeof f->prefix, "tbus%d.%d", (int)getpid(), n);
    snprintf(f->pattern, sizeof f->pattern, "%s.>", f->prefix);
    if (!vx_test_env("VX_NATS_URL"))
        return 0;
    vx_status st = connect_bus(&f->bus, false);
    if (st != VX_OK) {
        f->bus = NULL;
        char why[128];
        snprintf(why, sizeof why, "NATS at VX_NATS_URL unreachable: %s", vx_status_str(st));
        vx_test_unreachable(why);
        return 0;
    }
    vx_stream_config sc = stream_cfg(f);
    char err[256];
    st = vx_bus_ensure_stream(f->bus, &sc, err, sizeof err);
    if (st != VX_OK) {
        fprintf(stderr, "ensure_stream %s: %s (%s)\n", f->stream, vx_status_str(st), err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = 0;
    if (f->bus != NULL) {
        vx_status st = vx_bus_delete_stream(f->bus, f->stream);
        if (st != VX_OK && st != VX_NOT_FOUND)
            rc = -1;
        vx_bus_destroy(f->bus);
    }
    vx_free(f);
    return rc;
}

static fixture *need(void **state)
{
    fixture *f = *state;
    if (f->bus == NULL)
        skip();
    return f;
}

static vx_bus_consumer *consumer(fixture *f, const char *durable, int64_t ack_wait_ms)
{
    vx_consumer_config cc = {.stream = f->stream, .durable = durable, .ack_wait_ms = ack_wait_ms};
    vx_bus_consumer *c = NULL;
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &c), VX_OK);
    assert_non_null(c);
    return c;
}

static void subject(const fixture *f, const char *leaf, char *out, size_t cap)
{
    snprintf(out, cap, "%s.%s", f->prefix, leaf);
}

/* A core subject outside the test's stream: JetStream itself answers requests sent to a
 * subject that a stream captures (with a publish ack). */
static void rpc_subject(const fixture *f, const char *leaf, char *out, size_t cap)
{
    snprintf(out, cap, "rpc.%s.%s", f->prefix, leaf);
}

/* Fetches until `want` messages came or 10 s passed. */
static int fetch_n(vx_bus_consumer *c, vx_bus_msg **msgs, int want)
{
    int got = 0;
    int64_t deadline = vx_mono_ms() + 10000;
    while (got < want && vx_mono_ms() < deadline) {
        int n = 0;
        assert_int_equal(vx_bus_fetch(c, msgs + got, want - got, 1000, &n), VX_OK);
        got += n;
    }
    return got;
}

static bool msg_is(const vx_bus_msg *m, const char *text)
{
    return vx_bus_msg_len(m) == strlen(text) && memcmp(vx_bus_msg_data(m), text, strlen(text)) == 0;
}

/* The consumer's counts become (pending, ack_pending) within 5 s. */
static void assert_pending(vx_bus_consumer *c, uint64_t pending, uint64_t ack_pending)
{
    uint64_t p = 99, a = 99;
    vx_status st = VX_OK;
    for (int i = 0; i < 100; i++) {
        /* a JetStream API call may time out on a loaded machine: asked again */
        st = vx_bus_consumer_pending(c, &p, &a);
        if (st == VX_OK && p == pending && a == ack_pending)
            break;
        vx_sleep_ms(50);
    }
    assert_int_equal(st, VX_OK);
    assert_int_equal(p, pending);
    assert_int_equal(a, ack_pending);
}

/* ---- connection ---- */

static void test_bus_connect_to_nothing_is_unavailable(void **state)
{
    (void)state;
    /* A port that was free a moment ago: nothing listens there. */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t alen = sizeof a;
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);

    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", (int)ntohs(a.sin_port));
    vx_bus_config cfg = {.url = url, .name = "test_bus_refused", .timeout_ms = 1000};
    vx_bus *b = (vx_bus *)&cfg; /* must stay untouched on failure */
    assert_int_equal(vx_bus_connect(&cfg, &b), VX_UNAVAILABLE);
    assert_ptr_equal(b, (vx_bus *)&cfg);
    vx_bus_destroy(NULL);
}

static void test_bus_connected_and_missing_things(void **state)
{
    fixture *f = need(state);
    assert_true(vx_bus_connected(f->bus));

    char missing[80];
    snprintf(missing, sizeof missing, "%s_MISSING", f->stream);
    assert_int_equal(vx_bus_delete_stream(f->bus, missing), VX_NOT_FOUND);

    vx_consumer_config cc = {.stream = missing, .durable = "d"};
    vx_bus_consumer *c = NULL;
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &c), VX_NOT_FOUND);
    assert_null(c);
}

/* ---- streams ---- */

static bool stream_info_contains(fixture *f, const char *needle)
{
    char api[128];
    snprintf(api, sizeof api, "$JS.API.STREAM.INFO.%s", f->stream);
    void *reply = NULL;
    size_t len = 0;
    assert_int_equal(vx_bus_request(f->bus, api, NULL, 0, NULL, 0, 5000, &reply, &len), VX_OK);
    bool found = strstr(reply, needle) != NULL;
    vx_free(reply);
    return found;
}

static void test_bus_ensure_stream_is_idempotent_and_updates(void **state)
{
    fixture *f = need(state);
    vx_stream_config sc = stream_cfg(f);
    char err[256];
    /* setup created it: the same configuration again changes nothing */
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_OK);
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_OK);
    assert_true(stream_info_contains(f, "\"duplicate_window\":120000000000"));

    sc.duplicate_window_ms = 1000;
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_OK);
    assert_true(stream_info_contains(f, "\"duplicate_window\":1000000000"));
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_OK);

    sc.max_age_ms = 3600 * 1000;
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_OK);
    assert_true(stream_info_contains(f, "\"max_age\":3600000000000"));

    /* a change the server cannot make is refused, with its reason */
    sc.memory = false;
    assert_int_equal(vx_bus_ensure_stream(f->bus, &sc, err, sizeof err), VX_CONFLICT);
    assert_true(strlen(err) > 0);
}

/* ---- publishing ---- */

static void test_bus_publish_with_msg_id_detects_duplicate(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "events", subj, sizeof subj);
    bool dup = true;
    assert_int_equal(vx_bus_publish(f->bus, subj, "one", 3, "evt-1", NULL, 0, &dup), VX_OK);
    assert_false(dup);
    assert_int_equal(vx_bus_publish(f->bus, subj, "one", 3, "evt-1", NULL, 0, &dup), VX_OK);
    assert_true(dup);
    assert_int_equal(vx_bus_publish(f->bus, subj, "two", 3, "evt-2", NULL, 0, &dup), VX_OK);
    assert_false(dup);
    assert_int_equal(vx_bus_publish(f->bus, subj, "three", 5, NULL, NULL, 0, NULL), VX_OK);

    vx_bus_consumer *c = consumer(f, "dedup", 0);
    vx_bus_msg *msgs[8];
    assert_int_equal(fetch_n(c, msgs, 3), 3);
    assert_true(msg_is(msgs[0], "one"));
    assert_true(msg_is(msgs[1], "two"));
    assert_true(msg_is(msgs[2], "three"));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
        vx_bus_msg_destroy(msgs[i]);
    }
    int n = -1;
    assert_int_equal(vx_bus_fetch(c, msgs, 8, 300, &n), VX_OK);
    assert_int_equal(n, 0);
    vx_bus_consumer_destroy(c);
}

static void test_bus_headers_round_trip_through_fetch(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "events.acme", subj, sizeof subj);
    const char *tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    vx_bus_header hdrs[] = {{"traceparent", tp}, {"X-Tenant", "acme"}};
    const char body[] = {'a', '\0', 'b'}; /* binary payloads keep their zero bytes */
    assert_int_equal(vx_bus_publish(f->bus, subj, body, sizeof body, "id-h1", hdrs, 2, NULL),
                     VX_OK);
    /* a line break in a value (or a ':' in a key) would forge headers: refused, nothing sent */
    vx_bus_header forged[] = {{"Vx-Reason", "bad\r\nVx-Reason-Code: ok"}};
    assert_int_equal(vx_bus_publish(f->bus, subj, body, sizeof body, "id-h2", forged, 1, NULL),
                     VX_INVALID);
    vx_bus_header bad_key[] = {{"Vx:Reason", "x"}};
    assert_int_equal(vx_bus_publish(f->bus, subj, body, sizeof body, "id-h3", bad_key, 1, NULL),
                     VX_INVALID);

    vx_bus_consumer *c = consumer(f, "headers", 0);
    vx_bus_msg *m = NULL;
    assert_int_equal(fetch_n(c, &m, 1), 1);
    assert_string_equal(vx_bus_msg_subject(m), subj);
    assert_int_equal(vx_bus_msg_len(m), sizeof body);
    assert_memory_equal(vx_bus_msg_data(m), body, sizeof body);
    assert_string_equal(vx_bus_msg_header(m, "traceparent"), tp);
    assert_string_equal(vx_bus_msg_header(m, "X-Tenant"), "acme");
    assert_string_equal(vx_bus_msg_header(m, "Nats-Msg-Id"), "id-h1");
    assert_null(vx_bus_msg_header(m, "X-Absent"));
    assert_int_equal(vx_bus_msg_stream_seq(m), 1);
    assert_int_equal(vx_bus_msg_deliveries(m), 1);
    assert_int_equal(vx_bus_msg_ack(m), VX_OK);
    vx_bus_msg_destroy(m);
    assert_pending(c, 0, 0);
    vx_bus_consumer_destroy(c);
}

#define ASYNC_N 5000

static void test_bus_async_publish_many_all_arrive(void **state)
{
    fixture *f = need(state);
    char subj[96], id[32], body[32];
    subject(f, "bulk", subj, sizeof subj);
    for (int i = 0; i < ASYNC_N; i++) {
        snprintf(id, sizeof id, "bulk-%d", i);
        int len = snprintf(body, sizeof body, "%d", i);
        assert_int_equal(vx_bus_publish_async(f->bus, subj, body, (size_t)len, id, NULL, 0), VX_OK);
    }
    uint64_t failed = 99;
    assert_int_equal(vx_bus_publish_async_complete(f->bus, 30000, &failed), VX_OK);
    assert_int_equal(failed, 0);

    vx_bus_consumer *c = consumer(f, "bulk", 0);
    assert_pending(c, ASYNC_N, 0);

    bool *seen = vx_xcalloc(ASYNC_N, sizeof *seen);
    vx_bus_msg *msgs[500];
    int total = 0;
    int64_t deadline = vx_mono_ms() + 60000;
    while (total < ASYNC_N && vx_mono_ms() < deadline) {
        int n = 0;
        assert_int_equal(vx_bus_fetch(c, msgs, 500, 2000, &n), VX_OK);
        for (int i = 0; i < n; i++) {
            char text[32];
            size_t len = vx_bus_msg_len(msgs[i]);
            assert_true(len > 0 && len < sizeof text);
            memcpy(text, vx_bus_msg_data(msgs[i]), len);
            text[len] = '\0';
            int k = atoi(text);
            assert_true(k >= 0 && k < ASYNC_N);
            assert_false(seen[k]);
            seen[k] = true;
            assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
            vx_bus_msg_destroy(msgs[i]);
        }
        total += n;
    }
    assert_int_equal(total, ASYNC_N);
    vx_free(seen);
    assert_pending(c, 0, 0);
    vx_bus_consumer_destroy(c);
}

static void test_bus_async_publish_counts_failures(void **state)
{
    fixture *f = need(state);
    char subj[96];
    snprintf(subj, sizeof subj, "tbusnostream%d.x", (int)getpid());
    for (int i = 0; i < 20; i++)
        assert_int_equal(vx_bus_publish_async(f->bus, subj, "x", 1, NULL, NULL, 0), VX_OK);
    uint64_t failed = 0;
    assert_int_equal(vx_bus_publish_async_complete(f->bus, 10000, &failed), VX_OK);
    assert_int_equal(failed, 20);
    /* failures are reported once */
    assert_int_equal(vx_bus_publish_async_complete(f->bus, 1000, &failed), VX_OK);
    assert_int_equal(failed, 0);
}

static void test_bus_publish_without_stream_is_unavailable(void **state)
{
    fixture *f = need(state);
    char subj[96];
    snprintf(subj, sizeof subj, "tbusnostream%d.y", (int)getpid());
    bool dup = true;
    assert_int_equal(vx_bus_publish(f->bus, subj, "x", 1, "id", NULL, 0, &dup), VX_UNAVAILABLE);
    assert_true(dup); /* untouched on failure */
}

/* ---- pull consumers ---- */

#define SHARED_N 200

static void take(vx_bus_consumer *c, bool *seen, int *count, int *total)
{
    vx_bus_msg *msgs[7];
    int n = 0;
    assert_int_equal(vx_bus_fetch(c, msgs, 7, 500, &n), VX_OK);
    for (int i = 0; i < n; i++) {
        char text[16] = {0};
        size_t len = vx_bus_msg_len(msgs[i]);
        assert_true(len > 0 && len < sizeof text);
        memcpy(text, vx_bus_msg_data(msgs[i]), len);
        int k = atoi(text);
        assert_true(k >= 0 && k < SHARED_N);
        assert_false(seen[k]); /* exactly once between both handles */
        seen[k] = true;
        assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
        vx_bus_msg_destroy(msgs[i]);
    }
    *count += n;
    *total += n;
}

static void test_bus_shared_durable_delivers_each_once(void **state)
{
    fixture *f = need(state);
    char subj[96], body[16];
    subject(f, "shared", subj, sizeof subj);
    for (int i = 0; i < SHARED_N; i++) {
        int len = snprintf(body, sizeof body, "%d", i);
        assert_int_equal(vx_bus_publish_async(f->bus, subj, body, (size_t)len, NULL, NULL, 0),
                         VX_OK);
    }
    uint64_t failed = 1;
    assert_int_equal(vx_bus_publish_async_complete(f->bus, 10000, &failed), VX_OK);
    assert_int_equal(failed, 0);

    vx_bus_consumer *a = consumer(f, "workers", 0);
    vx_bus_consumer *b = consumer(f, "workers", 0);
    bool seen[SHARED_N] = {false};
    int na = 0, nb = 0, total = 0;
    int64_t deadline = vx_mono_ms() + 30000;
    while (total < SHARED_N && vx_mono_ms() < deadline) {
        take(a, seen, &na, &total);
        take(b, seen, &nb, &total);
    }
    assert_int_equal(total, SHARED_N);
    assert_true(na > 0);
    assert_true(nb > 0);
    vx_bus_msg *m[4];
    int n = -1;
    assert_int_equal(vx_bus_fetch(a, m, 4, 300, &n), VX_OK);
    assert_int_equal(n, 0);
    assert_int_equal(vx_bus_fetch(b, m, 4, 300, &n), VX_OK);
    assert_int_equal(n, 0);
    vx_bus_consumer_destroy(a);
    vx_bus_consumer_destroy(b);
}

static void test_bus_nak_redelivers(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "nak", subj, sizeof subj);
    assert_int_equal(vx_bus_publish(f->bus, subj, "n", 1, NULL, NULL, 0, NULL), VX_OK);
    vx_bus_consumer *c = consumer(f, "nak", 0);

    vx_bus_msg *m = NULL;
    assert_int_equal(fetch_n(c, &m, 1), 1);
    uint64_t seq = vx_bus_msg_stream_seq(m);
    assert_int_equal(vx_bus_msg_deliveries(m), 1);
    assert_int_equal(vx_bus_msg_nak(m, 0), VX_OK);
    vx_bus_msg_destroy(m);

    assert_int_equal(fetch_n(c, &m, 1), 1);
    assert_int_equal(vx_bus_msg_stream_seq(m), seq);
    assert_int_equal(vx_bus_msg_deliveries(m), 2);
    /* with a delay, nothing comes back before it passes */
    assert_int_equal(vx_bus_msg_nak(m, 1500), VX_OK);
    vx_bus_msg_destroy(m);
    int n = -1;
    assert_int_equal(vx_bus_fetch(c, &m, 1, 300, &n), VX_OK);
    assert_int_equal(n, 0);

    assert_int_equal(fetch_n(c, &m, 1), 1);
    assert_int_equal(vx_bus_msg_stream_seq(m), seq);
    assert_int_equal(vx_bus_msg_deliveries(m), 3);
    assert_int_equal(vx_bus_msg_ack(m), VX_OK);
    vx_bus_msg_destroy(m);
    assert_pending(c, 0, 0);
    vx_bus_consumer_destroy(c);
}

static void test_bus_unacked_redelivered_after_ack_wait(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "lost", subj, sizeof subj);
    assert_int_equal(vx_bus_publish(f->bus, subj, "l", 1, NULL, NULL, 0, NULL), VX_OK);
    vx_bus_consumer *c = consumer(f, "lost", 500);

    vx_bus_msg *m = NULL;
    assert_int_equal(fetch_n(c, &m, 1), 1);
    uint64_t seq = vx_bus_msg_stream_seq(m);
    vx_bus_msg_destroy(m); /* the worker "crashed": never settled */

    assert_int_equal(fetch_n(c, &m, 1), 1);
    assert_int_equal(vx_bus_msg_stream_seq(m), seq);
    assert_int_equal(vx_bus_msg_deliveries(m), 2);
    assert_int_equal(vx_bus_msg_ack(m), VX_OK);
    vx_bus_msg_destroy(m);
    vx_bus_consumer_destroy(c);
}

static void test_bus_in_progress_holds_message(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "slow", subj, sizeof subj);
    assert_int_equal(vx_bus_publish(f->bus, subj, "s", 1, NULL, NULL, 0, NULL), VX_OK);
    vx_bus_consumer *c = consumer(f, "slow", 1000);

    vx_bus_msg *m = NULL;
    assert_int_equal(fetch_n(c, &m, 1), 1);
    /* about 2.5 s of work, over twice the ack wait, reported every ~500 ms */
    for (int i = 0; i < 5; i++) {
        vx_sleep_ms(400);
        assert_int_equal(vx_bus_msg_in_progress(m), VX_OK);
        vx_bus_msg *again = NULL;
        int n = -1;
        assert_int_equal(vx_bus_fetch(c, &again, 1, 100, &n), VX_OK);
        assert_int_equal(n, 0);
    }
    assert_int_equal(vx_bus_msg_deliveries(m), 1);
    assert_int_equal(vx_bus_msg_ack(m), VX_OK);
    vx_bus_msg_destroy(m);
    assert_pending(c, 0, 0);
    vx_bus_consumer_destroy(c);
}

static void test_bus_term_stops_redelivery(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "poison", subj, sizeof subj);
    assert_int_equal(vx_bus_publish(f->bus, subj, "p", 1, NULL, NULL, 0, NULL), VX_OK);
    vx_bus_consumer *c = consumer(f, "poison", 500);

    vx_bus_msg *m = NULL;
    assert_int_equal(fetch_n(c, &m, 1), 1);
    assert_int_equal(vx_bus_msg_term(m), VX_OK);
    vx_bus_msg_destroy(m);

    int n = -1;
    assert_int_equal(vx_bus_fetch(c, &m, 1, 2000, &n), VX_OK); /* four ack waits */
    assert_int_equal(n, 0);
    assert_pending(c, 0, 0);
    vx_bus_consumer_destroy(c);
}

static void test_bus_consumer_pending_counts(void **state)
{
    fixture *f = need(state);
    char subj[96];
    subject(f, "count", subj, sizeof subj);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vx_bus_publish(f->bus, subj, "c", 1, NULL, NULL, 0, NULL), VX_OK);
    vx_bus_consumer *c = consumer(f, "count", 0);
    assert_pending(c, 3, 0);

    vx_bus_msg *msgs[2];
    assert_int_equal(fetch_n(c, msgs, 2), 2);
    assert_pending(c, 1, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(vx_bus_msg_ack(msgs[i]), VX_OK);
        vx_bus_msg_destroy(msgs[i]);
    }
    assert_pending(c, 1, 0);
    vx_bus_consumer_destroy(c);
}

static bool consumer_info_contains(fixture *f, const char *durable, const char *needle)
{
    char api[160];
    snprintf(api, sizeof api, "$JS.API.CONSUMER.INFO.%s.%s", f->stream, durable);
    void *reply = NULL;
    size_t len = 0;
    assert_int_equal(vx_bus_request(f->bus, api, NULL, 0, NULL, 0, 5000, &reply, &len), VX_OK);
    bool found = strstr(reply, needle) != NULL;
    vx_free(reply);
    return found;
}

static void test_bus_consumer_create_updates_existing(void **state)
{
    fixture *f = need(state);
    vx_bus_consumer *a = consumer(f, "upd", 0);
    assert_true(consumer_info_contains(f, "upd", "\"ack_wait\":30000000000"));
    assert_true(consumer_info_contains(f, "upd", "\"ack_policy\":\"explicit\""));
    /* a replica started with a newer configuration brings the durable to it */
    vx_consumer_config cc = {
        .stream = f->stream, .durable = "upd", .ack_wait_ms = 2000, .max_ack_pending = 100};
    vx_bus_consumer *b = NULL;
    assert_int_equal(vx_bus_consumer_create(f->bus, &cc, &b), VX_OK);
    assert_true(consumer_info_contains(f, "upd", "\"ack_wait\":2000000000"));
    assert_true(consumer_info_contains(f, "upd", "\"max_ack_pending\":100"));
    vx_bus_consumer_destroy(a);
    vx_bus_consumer_destroy(b);
    /* destroying the handles keeps the durable consumer */
    assert_true(consumer_info_contains(f, "upd", "\"durable_name\":\"upd\""));

    vx_consumer_config bad = {.stream = f->stream, .durable = "has.dot"};
    assert_int_equal(vx_bus_consumer_create(f->bus, &bad, &b), VX_INVALID);
}

/* ---- request/reply ---- */

typedef struct {
    vx_bus *bus;
    atomic_int handled;
    atomic_int respond_status; /* of the last vx_bus_respond */
    atomic_bool started;
    atomic_bool finished;
    int delay_ms;
    bool silent; /* never answers */
} responder;

/* Answers "<request>|<traceparent header>". */
static void handle(void *ctx, vx_bus_msg *req)
{
    responder *r = ctx;
    atomic_store(&r->started, true);
    if (r->delay_ms > 0)
        vx_sleep_ms(r->delay_ms);
    atomic_fetch_add(&r->handled, 1);
    if (!r->silent) {
        char out[256];
        const char *tp = vx_bus_msg_header(req, "traceparent");
        int len = snprintf(out, sizeof out, "%.*s|%s", (int)vx_bus_msg_len(req),
                           (const char *)vx_bus_msg_data(req), tp != NULL ? tp : "-");
        vx_bus_header h = {"X-Replier", "test"};
        atomic_store(&r->respond_status, (int)vx_bus_respond(r->bus, req, out, (size_t)len, &h, 1));
    }
    vx_bus_msg_destroy(req); /* borrowed: a no-op, and harmless */
    atomic_store(&r->finished, true);
}

static void test_bus_request_reply_in_queue_group(void **state)
{
    fixture *f = need(state);
    vx_bus *other = NULL;
    assert_int_equal(connect_bus(&other, true), VX_OK);
    responder r1 = {.bus = f->bus}, r2 = {.bus = other};
    char subj[96];
    rpc_subject(f, "rpc", subj, sizeof subj);
    vx_bus_sub *s1 = NULL, *s2 = NULL;
    assert_int_equal(vx_bus_serve(f->bus, subj, "workers", handle, &r1, &s1), VX_OK);
    assert_int_equal(vx_bus_serve(other, subj, "workers", handle, &r2, &s2), VX_OK);

    const int n = 40;
    for (int i = 0; i < n; i++) {
        char body[32], tp[64], want[128];
        int len = snprintf(body, sizeof body, "req-%d", i);
        snprintf(tp, sizeof tp, "00-%032d-%016d-01", i + 1, i + 1);
        snprintf(want, sizeof want, "%s|%s", body, tp);
        vx_bus_header h = {"traceparent", tp};
        void *reply = NULL;
        size_t rlen = 0;
        assert_int_equal(
            vx_bus_request(f->bus, subj, body, (size_t)len, &h, 1, 5000, &reply, &rlen), VX_OK);
        assert_int_equal(rlen, strlen(want));
        assert_string_equal(reply, want);
        vx_free(reply);
    }
    vx_bus_sub_destroy(s1);
    vx_bus_sub_destroy(s2);
    /* every request was handled by exactly one member of the group */
    assert_int_equal(atomic_load(&r1.handled) + atomic_load(&r2.handled), n);
    assert_true(atomic_load(&r1.handled) > 0);
    assert_true(atomic_load(&r2.handled) > 0);
    assert_int_equal(atomic_load(&r1.respond_status), VX_OK);
    vx_bus_destroy(other);
}

static void test_bus_request_without_responder_or_answer(void **state)
{
    fixture *f = need(state);
    char subj[96];
    rpc_subject(f, "nobody", subj, sizeof subj);
    void *reply = (void *)f;
    size_t rlen = 7;
    assert_int_equal(vx_bus_request(f->bus, subj, "?", 1, NULL, 0, 2000, &reply, &rlen),
                     VX_UNAVAILABLE);
    assert_ptr_equal(reply, f);
    assert_int_equal(rlen, 7);

    /* a responder that never answers: the request times out */
    responder r = {.bus = f->bus, .silent = true};
    vx_bus_sub *s = NULL;
    rpc_subject(f, "mute", subj, sizeof subj);
    assert_int_equal(vx_bus_serve(f->bus, subj, "q", handle, &r, &s), VX_OK);
    assert_int_equal(vx_bus_request(f->bus, subj, "?", 1, NULL, 0, 300, &reply, &rlen), VX_TIMEOUT);
    vx_bus_sub_destroy(s);
    assert_int_equal(atomic_load(&r.handled), 1);
}

static void test_bus_publish_core_reaches_subscriber(void **state)
{
    fixture *f = need(state);
    char subj[96];
    rpc_subject(f, "announce", subj, sizeof subj);
    responder r = {.bus = f->bus};
    atomic_store(&r.respond_status, -1);
    vx_bus_sub *s = NULL;
    assert_int_equal(vx_bus_serve(f->bus, subj, NULL, handle, &r, &s), VX_OK);
    assert_int_equal(vx_bus_publish_core(f->bus, subj, "hello", 5), VX_OK);
    int64_t deadline = vx_mono_ms() + 5000;
    while (atomic_load(&r.handled) < 1 && vx_mono_ms() < deadline)
        vx_sleep_ms(10);
    vx_bus_sub_destroy(s);
    assert_int_equal(atomic_load(&r.handled), 1);
    /* no reply subject: there is nobody to answer */
    assert_int_equal(atomic_load(&r.respond_status), VX_INVALID);
}

typedef struct {
    vx_bus *bus;
    const char *subject;
    vx_status status;
    char reply[64];
} requester;

static void *request_thread(void *arg)
{
    requester *q = arg;
    void *reply = NULL;
    size_t len = 0;
    q->status = vx_bus_request(q->bus, q->subject, "slow", 4, NULL, 0, 5000, &reply, &len);
    if (q->status == VX_OK) {
        snprintf(q->reply, sizeof q->reply, "%s", (const char *)reply);
        vx_free(reply);
    }
    return NULL;
}

static void test_bus_sub_destroy_waits_for_handler(void **state)
{
    fixture *f = need(state);
    char subj[96];
    rpc_subject(f, "drain", subj, sizeof subj);
    responder r = {.bus = f->bus, .delay_ms = 500};
    vx_bus_sub *s = NULL;
    assert_int_equal(vx_bus_serve(f->bus, subj, "q", handle, &r, &s), VX_OK);

    requester q = {.bus = f->bus, .subject = subj, .status = VX_INTERNAL};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, request_thread, &q), 0);
    int64_t deadline = vx_mono_ms() + 5000;
    while (!atomic_load(&r.started) && vx_mono_ms() < deadline)
        vx_sleep_ms(5);
    assert_true(atomic_load(&r.started));
    vx_bus_sub_destroy(s); /* the handler is sleeping: this must wait for it */
    assert_true(atomic_load(&r.finished));
    pthread_join(t, NULL);
    assert_int_equal(q.status, VX_OK);
    assert_string_equal(q.reply, "slow|-");
}

/* A responder stopping while NATS is unreachable does not wait nats.c's 30 s drain timeout:
 * the server cannot confirm the drain, so it gets a short one. */
static void test_bus_sub_destroy_while_disconnected_is_prompt(void **state)
{
    fixture *f = need(state);
    const char *url = getenv("VX_NATS_URL");
    const char *at = strrchr(url, '@');
    const char *colon = strrchr(url, ':');
    assert_non_null(colon);
    h_proxy *p = h_proxy_start("127.0.0.1", atoi(colon + 1));
    char via[256];
    if (at)
        snprintf(via, sizeof via, "%.*s@127.0.0.1:%d", (int)(at - url), url, h_proxy_port(p));
    else
        snprintf(via, sizeof via, "nats://127.0.0.1:%d", h_proxy_port(p));
    vx_bus_config cfg = {.url = via, .name = "test_bus_cut", .timeout_ms = 2000};
    vx_bus *b = NULL;
    assert_int_equal(vx_bus_connect(&cfg, &b), VX_OK);
    char subj[96];
    rpc_subject(f, "cut", subj, sizeof subj);
    vx_bus_sub *s = NULL;
    assert_int_equal(vx_bus_serve(b, subj, "q", handle, &(responder){.bus = b}, &s), VX_OK);
    h_proxy_cut(p);
    for (int i = 0; i < 200 && vx_bus_connected(b); i++)
        vx_sleep_ms(25);
    assert_false(vx_bus_connected(b));
    int64_t t0 = vx_mono_ms();
    vx_bus_sub_destroy(s);
    assert_true(vx_mono_ms() - t0 < 15000); /* not nats.c's 30 s */
    vx_bus_destroy(b);
    h_proxy_stop(p);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    vx_log_init("test_bus", VX_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bus_connect_to_nothing_is_unavailable),
        T(test_bus_connected_and_missing_things),
        T(test_bus_ensure_stream_is_idempotent_and_updates),
        T(test_bus_publish_with_msg_id_detects_duplicate),
        T(test_bus_headers_round_trip_through_fetch),
        T(test_bus_async_publish_many_all_arrive),
        T(test_bus_async_publish_counts_failures),
        T(test_bus_publish_without_stream_is_unavailable),
        T(test_bus_shared_durable_delivers_each_once),
        T(test_bus_nak_redelivers),
        T(test_bus_unacked_redelivered_after_ack_wait),
        T(test_bus_in_progress_holds_message),
        T(test_bus_term_stops_redelivery),
        T(test_bus_consumer_pending_counts),
        T(test_bus_consumer_create_updates_existing),
        T(test_bus_request_reply_in_queue_group),
        T(test_bus_request_without_responder_or_answer),
        T(test_bus_publish_core_reaches_subscriber),
        T(test_bus_sub_destroy_waits_for_handler),
        T(test_bus_sub_destroy_while_disconnected_is_prompt),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* nats.c keeps library-wide threads and memory until nats_Close; the library itself must
     * never call it (a process may hold several connections), so the test's main does. */
    nats_Close();
    return failed;
}
