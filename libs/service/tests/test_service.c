/* The service skeleton against a real NATS server: --help and bad arguments, settings, start-up
 * steps retried until they work, queue-group fan-out, and SIGTERM while requests are in hand
 * (every one answered, then teardown in reverse order of start). */
#include "vx/clock.h"
#include "vx/service.h"
#include "vx_test_env.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

typedef struct {
    vx_service_config svc;
    int workers;
    const char *subject;
} test_config;

#define T test_config
static const vx_setting settings[] = {
    VX_SERVICE_SET_NATS(T),
    VX_SET_INT("VX_TEST_SVC_WORKERS", T, workers, "3", 1, 16, "subscriptions"),
    VX_SET_STR_CHECKED("VX_TEST_SVC_SUBJECT", T, subject, "test.svc", vx_service_check_subject,
                       "subject"),
    VX_SERVICE_SET_OPS(T, "VX_TEST_SVC_OPS_PORT", "0"),
    VX_SERVICE_SET_LOG(T),
};
#undef T

static test_config cfg;

/* What happened, in order, across threads. */
static pthread_mutex_t ev_mu = PTHREAD_MUTEX_INITIALIZER;
static char events[64][32];
static int n_events;

static void event(const char *what)
{
    pthread_mutex_lock(&ev_mu);
    if (n_events < 64)
        snprintf(events[n_events++], sizeof events[0], "%s", what);
    pthread_mutex_unlock(&ev_mu);
}

static int event_index(const char *what)
{
    for (int i = 0; i < n_events; i++)
        if (strcmp(events[i], what) == 0)
            return i;
    return -1;
}

static int last_event_index(const char *what)
{
    for (int i = n_events - 1; i >= 0; i--)
        if (strcmp(events[i], what) == 0)
            return i;
    return -1;
}

static vx_bus *bus; /* the service's, through bus_slot */
static atomic_int in_handler, max_in_handler, answered;
static atomic_bool sigterm_sent;

static void handle(void *ctx, vx_bus_msg *req)
{
    (void)ctx;
    int now = atomic_fetch_add(&in_handler, 1) + 1;
    int seen = atomic_load(&max_in_handler);
    while (now > seen && !atomic_compare_exchange_weak(&max_in_handler, &seen, now)) {
    }
    /* held until SIGTERM has been sent (however slow the machine), so requests are in hand */
    for (int i = 0; i < 1000 && !atomic_load(&sigterm_sent); i++)
        vx_sleep_ms(10);
    vx_sleep_ms(50);
    atomic_fetch_sub(&in_handler, 1);
    assert_int_equal(vx_bus_respond(bus, req, "pong", 4, NULL, 0), VX_OK);
    atomic_fetch_add(&answered, 1);
    event("answered");
}

static int step_calls;
static vx_status flaky_step(void *ctx, char *err, size_t cap)
{
    (void)ctx;
    if (++step_calls < 3) {
        snprintf(err, cap, "not yet (call %d)", step_calls);
        return VX_UNAVAILABLE;
    }
    event("step done");
    return VX_OK;
}

static void piece_a(void *arg)
{
    (void)arg;
    event("destroy a");
}
static void piece_b(void *arg)
{
    (void)arg;
    event("destroy b");
}

static vx_service_def make_def(void)
{
    return (vx_service_def){.name = "svctest",
                            .about = "svctest: a test of the skeleton\n",
                            .settings = settings,
                            .n_settings = sizeof settings / sizeof settings[0],
                            .config = &cfg,
                            .svc = &cfg.svc,
                            .uses = VX_SERVICE_OPS,
                            .bus_slot = &bus,
                            .send_asap = true};
}

static void test_service_help_and_bad_arguments(void **state)
{
    (void)state;
    vx_service_def def = make_def();
    vx_service *s = (vx_service *)1;
    char prog[] = "x", help_arg[] = "--help", bogus[] = "--bogus";
    char *help[] = {prog, help_arg, NULL};
    fflush(stdout);
    assert_int_equal(vx_service_begin(&def, 2, help, &s), 0);
    assert_null(s);
    char *bad[] = {prog, bogus, NULL};
    assert_int_equal(vx_service_begin(&def, 2, bad, &s), 2);
    assert_null(s);
}

/* A bad setting exits 78 before anything starts. */
static void test_service_bad_setting_exits_78(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("VX_TEST_SVC_WORKERS", "0", 1);
        vx_service_def def = make_def();
        vx_service *s;
        char prog[] = "x";
        char *argv[] = {prog, NULL};
        if (!freopen("/dev/null", "w", stderr))
            _exit(98);
        _exit(vx_service_begin(&def, 1, argv, &s) == 0 ? 0 : 99);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 78);
}

typedef struct {
    const char *subject;
    int ok;
} client_arg;

static void *client(void *arg)
{
    client_arg *a = arg;
    vx_bus_config bc = {.url = getenv("VX_NATS_URL"), .name = "svctest-client", .timeout_ms = 5000};
    vx_bus *b;
    if (vx_bus_connect(&bc, &b) != VX_OK)
        return NULL;
    void *reply = NULL;
    size_t len = 0;
    if (vx_bus_request(b, a->subject, "ping", 4, NULL, 0, 10000, &reply, &len) == VX_OK &&
        len == 4 && memcmp(reply, "pong", 4) == 0)
        a->ok = 1;
    free(reply);
    vx_bus_destroy(b);
    return NULL;
}

#define N_REQUESTS 12

static void *send_sigterm(void *arg)
{
    (void)arg;
    /* once two workers hold a request (the queue group picks a member at random, so three at
     * once is not certain) */
    for (int i = 0; i < 500 && atomic_load(&in_handler) < 2; i++)
        vx_sleep_ms(10);
    event("sigterm");
    atomic_store(&sigterm_sent, true);
    kill(getpid(), SIGTERM);
    return NULL;
}

static void run_fn(void *ctx)
{
    vx_service *s = ctx;
    pthread_t clients[N_REQUESTS], killer;
    client_arg args[N_REQUESTS];
    char subject[96];
    snprintf(subject, sizeof subject, "%s", cfg.subject);
    for (int i = 0; i < N_REQUESTS; i++) {
        args[i] = (client_arg){subject, 0};
        assert_int_equal(pthread_create(&clients[i], NULL, client, &args[i]), 0);
    }
    assert_int_equal(pthread_create(&killer, NULL, send_sigterm, NULL), 0);
    while (!vx_service_wait(s, 1000)) {
    }
    event("run saw stop");
    for (int i = 0; i < N_REQUESTS; i++) {
        assert_int_equal(pthread_join(clients[i], NULL), 0);
        assert_int_equal(args[i].ok, 1); /* answered although SIGTERM came while in hand */
    }
    pthread_join(killer, NULL);
}

static void test_service_sigterm_drains_then_tears_down_in_reverse(void **state)
{
    (void)state;
    if (!vx_test_env("VX_NATS_URL"))
        skip();
    char subject[96];
    snprintf(subject, sizeof subject, "test.svc.%d", (int)getpid());
    setenv("VX_TEST_SVC_SUBJECT", subject, 1);
    setenv("VX_TEST_SVC_WORKERS", "3", 1);
    vx_service_def def = make_def();
    vx_service *s;
    char prog[] = "x";
    char *argv[] = {prog, NULL};
    assert_int_equal(vx_service_begin(&def, 1, argv, &s), 0);
    assert_non_null(s);
    assert_int_equal(cfg.workers, 3);
    assert_string_equal(cfg.subject, subject);
    assert_true(vx_service_ops_port(s) > 0);
    vx_service_defer(s, piece_a, NULL);
    vx_service_defer(s, piece_b, NULL);
    vx_service_step(s, "flaky step", flaky_step, NULL);
    vx_service_serve(s, cfg.subject, "svctest", handle, NULL, cfg.workers);
    assert_int_equal(vx_service_run(s, run_fn, s), 0);

    assert_int_equal(step_calls, 3); /* retried until it worked */
    assert_int_equal(atomic_load(&answered), N_REQUESTS);
    assert_true(atomic_load(&max_in_handler) >= 2); /* workers served at once */
    assert_true(atomic_load(&max_in_handler) <= 3); /* and no more than configured */
    int term = event_index("sigterm"), a = event_index("destroy a"), b = event_index("destroy b");
    assert_true(event_index("step done") < term);
    assert_true(term >= 0);
    /* every request in hand was answered after SIGTERM and before anything was torn down */
    assert_true(event_index("answered") > term);
    assert_true(last_event_index("answered") < b);
    assert_true(b < a); /* reverse order of registration */
}

static void failing_run(void *ctx)
{
    vx_service_fail(ctx, "test: cannot do its work");
    assert_true(vx_service_stopping(ctx));
}

/* A service that cannot do its work stops and exits 1, not 0 as after a stop signal. */
static void test_service_fail_exits_1(void **state)
{
    (void)state;
    if (!vx_test_env("VX_NATS_URL"))
        skip();
    unsetenv("VX_TEST_SVC_WORKERS");
    vx_service_def def = make_def();
    vx_service *s;
    char prog[] = "x";
    char *argv[] = {prog, NULL};
    assert_int_equal(vx_service_begin(&def, 1, argv, &s), 0);
    assert_int_equal(vx_service_run(s, failing_run, s), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_help_and_bad_arguments),
        cmocka_unit_test(test_service_bad_setting_exits_78),
        cmocka_unit_test(test_service_sigterm_drains_then_tears_down_in_reverse),
        cmocka_unit_test(test_service_fail_exits_1),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
