/* Unit tests of libs/metrics: registration, exposition text, histogram buckets, thread safety of
 * updates, and aborts on programming errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "vx/alloc.h"
#include "vx/metrics.h"

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static void assert_render(vx_metrics *m, const char *want)
{
    size_t len = 0;
    char *got = vx_metrics_render(m, &len);
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    vx_free(got);
}

static void test_metrics_empty_registry_renders_nothing(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    assert_render(m, "");
    vx_metrics_destroy(m);
    vx_metrics_destroy(NULL);
}

static void test_metrics_counter_renders_help_type_and_value(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_counter *c = vx_metrics_counter(m, "valdrix_ingest_events_total", "Events ingested.", NULL);
    vx_counter_inc(c);
    vx_counter_add(c, 41);
    assert_int_equal(vx_counter_value(c), 42);
    assert_render(m, "# HELP valdrix_ingest_events_total Events ingested.\n"
                     "# TYPE valdrix_ingest_events_total counter\n"
                     "valdrix_ingest_events_total 42\n");
    vx_metrics_destroy(m);
}

static void test_metrics_same_series_is_returned_again(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_counter *a = vx_metrics_counter(m, "x_total", "X.", "reason=\"decode\"");
    vx_counter *b = vx_metrics_counter(m, "x_total", "ignored", "reason=\"decode\"");
    vx_counter *c = vx_metrics_counter(m, "x_total", "X.", "reason=\"db\"");
    vx_counter *d = vx_metrics_counter(m, "x_total", "X.", NULL);
    vx_counter *e = vx_metrics_counter(m, "x_total", "X.", "");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    assert_ptr_equal(d, e);
    vx_counter_inc(a);
    vx_counter_inc(b);
    vx_counter_add(c, 5);
    assert_render(m, "# HELP x_total X.\n"
                     "# TYPE x_total counter\n"
                     "x_total{reason=\"decode\"} 2\n"
                     "x_total{reason=\"db\"} 5\n"
                     "x_total 0\n");
    vx_metrics_destroy(m);
}

static double pool_in_use(void *ctx)
{
    return (double)*(const int *)ctx;
}

static void test_metrics_families_sorted_with_one_help_each(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_gauge *g = vx_metrics_gauge(m, "zeta_bytes", "Zeta.", NULL);
    vx_counter *c1 = vx_metrics_counter(m, "beta_total", "Beta.", "a=\"1\"");
    vx_counter *c2 = vx_metrics_counter(m, "beta_total", "Beta.", "a=\"2\",b=\"x\\\"y\"");
    int in_use = 3;
    vx_metrics_gauge_fn(m, "alpha_connections", "Pool.", "pool=\"main\"", pool_in_use, &in_use);
    vx_gauge_set(g, 1.5);
    vx_counter_inc(c1);
    vx_counter_add(c2, 2);
    in_use = 7; /* read at render time */
    assert_render(m, "# HELP alpha_connections Pool.\n"
                     "# TYPE alpha_connections gauge\n"
                     "alpha_connections{pool=\"main\"} 7\n"
                     "# HELP beta_total Beta.\n"
                     "# TYPE beta_total counter\n"
                     "beta_total{a=\"1\"} 1\n"
                     "beta_total{a=\"2\",b=\"x\\\"y\"} 2\n"
                     "# HELP zeta_bytes Zeta.\n"
                     "# TYPE zeta_bytes gauge\n"
                     "zeta_bytes 1.5\n");
    vx_metrics_destroy(m);
}

static void test_metrics_gauge_set_add_and_special_values(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_gauge *g = vx_metrics_gauge(m, "g", NULL, NULL);
    assert_true(vx_gauge_value(g) == 0.0);
    vx_gauge_set(g, 10.0);
    vx_gauge_add(g, -2.5);
    assert_true(vx_gauge_value(g) == 7.5);
    vx_gauge_set(g, 0.1);
    assert_render(m, "# TYPE g gauge\ng 0.1\n");
    vx_gauge_set(g, -1e-9);
    assert_render(m, "# TYPE g gauge\ng -1e-09\n");
    vx_gauge_set(g, INFINITY);
    assert_render(m, "# TYPE g gauge\ng +Inf\n");
    vx_gauge_set(g, -INFINITY);
    assert_render(m, "# TYPE g gauge\ng -Inf\n");
    vx_gauge_set(g, NAN);
    assert_render(m, "# TYPE g gauge\ng NaN\n");
    vx_metrics_destroy(m);
}

static void test_metrics_help_is_escaped(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    vx_metrics_counter(m, "c_total", "line one\nback\\slash \"quoted\"", NULL);
    assert_render(m, "# HELP c_total line one\\nback\\\\slash \"quoted\"\n"
                     "# TYPE c_total counter\n"
                     "c_total 0\n");
    vx_metrics_destroy(m);
}

static void test_metrics_histogram_buckets_are_cumulative(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    const double bounds[] = {0.125, 1, 2.5};
    vx_histogram *h =
        vx_metrics_histogram(m, "req_seconds", "Latency.", "route=\"/v1\"", bounds, 3);
    vx_histogram *plain = vx_metrics_histogram(m, "req_seconds", "Latency.", NULL, bounds, 3);
    vx_histogram_observe(h, 0.0625);
    vx_histogram_observe(h, 0.125); /* le is inclusive */
    vx_histogram_observe(h, 0.5);
    vx_histogram_observe(h, 1.0);
    vx_histogram_observe(h, 4.0); /* only +Inf */
    vx_histogram_observe(plain, 3.0);
    assert_int_equal(vx_histogram_count(h), 5);
    assert_int_equal(vx_histogram_count(plain), 1);
    assert_render(m, "# HELP req_seconds Latency.\n"
                     "# TYPE req_seconds histogram\n"
                     "req_seconds_bucket{route=\"/v1\",le=\"0.125\"} 2\n"
                     "req_seconds_bucket{route=\"/v1\",le=\"1\"} 4\n"
                     "req_seconds_bucket{route=\"/v1\",le=\"2.5\"} 4\n"
                     "req_seconds_bucket{route=\"/v1\",le=\"+Inf\"} 5\n"
                     "req_seconds_sum{route=\"/v1\"} 5.6875\n"
                     "req_seconds_count{route=\"/v1\"} 5\n"
                     "req_seconds_bucket{le=\"0.125\"} 0\n"
                     "req_seconds_bucket{le=\"1\"} 0\n"
                     "req_seconds_bucket{le=\"2.5\"} 0\n"
                     "req_seconds_bucket{le=\"+Inf\"} 1\n"
                     "req_seconds_sum 3\n"
                     "req_seconds_count 1\n");
    vx_metrics_destroy(m);
}

static void test_metrics_latency_bounds_cover_half_ms_to_ten_s(void **state)
{
    (void)state;
    assert_true(vx_metrics_latency_bounds_len >= 10);
    assert_true(vx_metrics_latency_bounds[0] == 0.0005);
    assert_true(vx_metrics_latency_bounds[vx_metrics_latency_bounds_len - 1] == 10.0);
    for (size_t i = 1; i < vx_metrics_latency_bounds_len; i++)
        assert_true(vx_metrics_latency_bounds[i] > vx_metrics_latency_bounds[i - 1]);

    vx_metrics *m = vx_metrics_create();
    vx_histogram *h = vx_metrics_histogram(m, "lat_seconds", "L.", NULL, vx_metrics_latency_bounds,
                                           vx_metrics_latency_bounds_len);
    vx_histogram_observe(h, 0.003);
    char *text = vx_metrics_render(m, NULL);
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.0005\"} 0\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.0025\"} 0\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"0.005\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"10\"} 1\n"));
    assert_non_null(strstr(text, "lat_seconds_bucket{le=\"+Inf\"} 1\n"));
    vx_free(text);
    vx_metrics_destroy(m);
}

#define N_THREADS 8
#define N_PER_THREAD 200000

typedef struct {
    vx_counter *counter;
    vx_gauge *gauge;
    vx_histogram *histogram;
} shared_metrics;

static void *hammer(void *arg)
{
    const shared_metrics *s = arg;
    for (int i = 0; i < N_PER_THREAD; i++) {
        vx_counter_inc(s->counter);
        vx_gauge_add(s->gauge, 1.0);
        vx_histogram_observe(s->histogram, (i % 2) ? 0.5 : 2.0);
    }
    return NULL;
}

/* The value after `prefix` in text, as an unsigned integer. */
static unsigned long long value_after(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    assert_non_null(p);
    return strtoull(p + strlen(prefix), NULL, 10);
}

static void test_metrics_concurrent_updates_lose_nothing(void **state)
{
    (void)state;
    vx_metrics *m = vx_metrics_create();
    const double bounds[] = {1.0};
    shared_metrics s = {
        .counter = vx_metrics_counter(m, "hits_total", "Hits.", NULL),
        .gauge = vx_metrics_gauge(m, "level", "Level.", NULL),
        .histogram = vx_metrics_histogram(m, "obs_seconds", "Obs.", NULL, bounds, 1),
    };
    pthread_t threads[N_THREADS];
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_create(&threads[i], NULL, hammer, &s), 0);
    /* Renders taken while the threads run must stay self-consistent. */
    for (int r = 0; r < 20; r++) {
        char *text = vx_metrics_render(m, NULL);
        unsigned long long inf = value_after(text, "obs_seconds_bucket{le=\"+Inf\"} ");
        unsigned long long le1 = value_after(text, "obs_seconds_bucket{le=\"1\"} ");
        assert_int_equal(value_after(text, "obs_seconds_count "), inf);
        assert_true(le1 <= inf);
        vx_free(text);
    }
    for (int i = 0; i < N_THREADS; i++)
        assert_int_equal(pthread_join(threads[i], NULL), 0);

    const uint64_t total = (uint64_t)N_THREADS * N_PER_THREAD;
    assert_int_equal(vx_counter_value(s.counter), total);
    assert_true(vx_gauge_value(s.gauge) == (double)total);
    assert_int_equal(vx_histogram_count(s.histogram), total);
    char *text = vx_metrics_render(m, NULL);
    assert_int_equal(value_after(text, "\nhits_total "), total);
    assert_int_equal(value_after(text, "obs_seconds_bucket{le=\"1\"} "), total / 2);
    assert_int_equal(value_after(text, "obs_seconds_bucket{le=\"+Inf\"} "), total);
    assert_int_equal(value_after(text, "obs_seconds_count "), total);
    /* half at 0.5, half at 2.0: every partial sum is exact in binary */
    assert_int_equal(value_after(text, "obs_seconds_sum "), total / 2 * 5 / 2);
    vx_free(text);
    vx_metrics_destroy(m);
}

/* Runs fn in a child process and asserts that it aborted. */
static void assert_aborts(void (*fn)(void))
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* silence the expected error line */
        if (!freopen("/dev/null", "w", stderr))
            _exit(3);
        fn();
        _exit(0);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGABRT);
}

static void type_clash(void)
{
    vx_metrics *m = vx_metrics_create();
    vx_metrics_counter(m, "dup", "D.", NULL);
    vx_metrics_gauge(m, "dup", "D.", NULL);
}

static void bad_name(void)
{
    vx_metrics *m = vx_metrics_create();
    vx_metrics_counter(m, "9lives", "D.", NULL);
}

static void bad_labels(void)
{
    vx_metrics *m = vx_metrics_create();
    vx_metrics_counter(m, "ok_total", "D.", "reason=decode");
}

static void histogram_with_le_label(void)
{
    vx_metrics *m = vx_metrics_create();
    const double b[] = {1.0};
    vx_metrics_histogram(m, "h", "H.", "le=\"1\"", b, 1);
}

static void unsorted_bounds(void)
{
    vx_metrics *m = vx_metrics_create();
    const double b[] = {1.0, 0.5};
    vx_metrics_histogram(m, "h", "H.", NULL, b, 2);
}

static void fine_registration(void)
{
    vx_metrics *m = vx_metrics_create();
    vx_metrics_counter(m, "ns:sub_total", "ok", "a=\"\",_b=\"\\\\\\n\"");
    vx_metrics_destroy(m);
    abort(); /* reached only when nothing above aborted */
}

static void test_metrics_programming_errors_abort(void **state)
{
    (void)state;
    assert_aborts(type_clash);
    assert_aborts(bad_name);
    assert_aborts(bad_labels);
    assert_aborts(histogram_with_le_label);
    assert_aborts(unsorted_bounds);
    assert_aborts(fine_registration);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_empty_registry_renders_nothing),
        cmocka_unit_test(test_metrics_counter_renders_help_type_and_value),
        cmocka_unit_test(test_metrics_same_series_is_returned_again),
        cmocka_unit_test(test_metrics_families_sorted_with_one_help_each),
        cmocka_unit_test(test_metrics_gauge_set_add_and_special_values),
        cmocka_unit_test(test_metrics_help_is_escaped),
        cmocka_unit_test(test_metrics_histogram_buckets_are_cumulative),
        cmocka_unit_test(test_metrics_latency_bounds_cover_half_ms_to_ten_s),
        cmocka_unit_test(test_metrics_concurrent_updates_lose_nothing),
        cmocka_unit_test(test_metrics_programming_errors_abort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
