/* The metrics registry: registering series under a lock, and the lock-free updates of counters
 * (atomic add), gauges (atomic double bits, CAS for add) and histograms (atomic buckets). */
#include "metrics_internal.h"

#include "vx/alloc.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

const double vx_metrics_latency_bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1.0,   2.5,  5.0,   10.0};
const size_t vx_metrics_latency_bounds_len =
    sizeof vx_metrics_latency_bounds / sizeof vx_metrics_latency_bounds[0];

static _Noreturn void misuse(const char *name, const char *why)
{
    fprintf(stderr,
            "{\"level\":\"error\",\"msg\":\"metrics registration\",\"metric\":\"%s\","
            "\"error\":\"%s\"}\n",
            name ? name : "(null)", why);
    abort();
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static bool valid_metric_name(const char *name)
{
    if (!name || !(is_name_start(name[0]) || name[0] == ':'))
        return false;
    for (const char *p = name + 1; *p; p++)
        if (!is_name_char(*p) && *p != ':')
            return false;
    return true;
}

/* Checks `name="value"(,name="value")*` with only \\, \" and \n escapes in values, so that a
 * typo cannot corrupt the whole exposition. Histograms may not use "le" themselves. */
static bool valid_labels(const char *labels, bool is_histogram)
{
    const char *p = labels;
    while (*p) {
        const char *start = p;
        if (!is_name_start(*p))
            return false;
        while (is_name_char(*p))
            p++;
        if (is_histogram && p - start == 2 && start[0] == 'l' && start[1] == 'e')
            return false;
        if (*p++ != '=' || *p++ != '"')
            return false;
        for (;;) {
            if (*p == '\0' || *p == '\n')
                return false;
            if (*p == '"')
                break;
            if (*p == '\\') {
                p++;
                if (*p != '\\' && *p != '"' && *p != 'n')
                    return false;
            }
            p++;
        }
        p++; /* closing quote */
        if (*p == ',') {
            p++;
            if (*p == '\0')
                return false;
        } else if (*p != '\0') {
            return false;
        }
    }
    return true;
}

vx_metrics *vx_metrics_create(void)
{
    vx_metrics *m = vx_xcalloc(1, sizeof *m);
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

static void series_cleanup(metric_series *s)
{
    switch (s->kind) {
    case SERIES_COUNTER:
        vx_free(s->u.counter);
        break;
    case SERIES_GAUGE:
        vx_free(s->u.gauge);
        break;
    case SERIES_GAUGE_FN:
        break;
    case SERIES_HISTOGRAM:
        vx_free(s->u.histogram->bounds);
        vx_free(s->u.histogram->buckets);
        vx_free(s->u.histogram);
        break;
    }
    vx_free(s->labels);
}

void vx_metrics_destroy(vx_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_families; i++) {
        metric_family *f = m->families[i];
        for (size_t j = 0; j < f->n_series; j++)
            series_cleanup(&f->series[j]);
        vx_free(f->series);
        vx_free(f->name);
        vx_free(f->help);
        vx_free(f);
    }
    vx_free(m->families);
    pthread_mutex_destroy(&m->lock);
    vx_free(m);
}

/* Index of the family called `name`, or where it would be inserted (*found false). */
static size_t find_family(const vx_metrics *m, const char *name, bool *found)
{
    size_t lo = 0, hi = m->n_families;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(m->families[mid]->name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* The family `name` of `type`, created if new; aborts on a type clash. Lock held. */
static metric_family *get_family(vx_metrics *m, const char *name, const char *help,
                                 family_type type)
{
    bool found;
    size_t at = find_family(m, name, &found);
    if (found) {
        metric_family *f = m->families[at];
        if (f->type != type)
            misuse(name, "registered before with another type");
        return f;
    }
    if (m->n_families == m->cap_families) {
        m->cap_families = m->cap_families ? m->cap_families * 2 : 16;
        m->families = vx_xrealloc(m->families, m->cap_families * sizeof *m->families);
    }
    memmove(&m->families[at + 1], &m->families[at], (m->n_families - at) * sizeof *m->families);
    metric_family *f = vx_xcalloc(1, sizeof *f);
    f->name = vx_xstrdup(name);
    f->help = help ? vx_xstrdup(help) : NULL;
    f->type = type;
    m->families[at] = f;
    m->n_families++;
    return f;
}

static metric_series *find_series(metric_family *f, const char *labels)
{
    for (size_t i = 0; i < f->n_series; i++)
        if (strcmp(f->series[i].labels, labels) == 0)
            return &f->series[i];
    return NULL;
}

static metric_series *add_series(metric_family *f, const char *labels, series_kind kind)
{
    if (f->n_series == f->cap_series) {
        f->cap_series = f->cap_series ? f->cap_series * 2 : 4;
        f->series = vx_xrealloc(f->series, f->cap_series * sizeof *f->series);
    }
    metric_series *s = &f->series[f->n_series++];
    memset(s, 0, sizeof *s);
    s->labels = vx_xstrdup(labels);
    s->kind = kind;
    return s;
}

/* Validates and locks; returns the family with the lock held and *labels normalised. */
static metric_family *begin_register(vx_metrics *m, const char *name, const char *help,
                                     const char **labels, family_type type)
{
    if (!m)
        misuse(name, "NULL registry");
    if (!valid_metric_name(name))
        misuse(name, "invalid metric name");
    if (!*labels)
        *labels = "";
    if (!valid_labels(*labels, type == FAMILY_HISTOGRAM))
        misuse(name, "invalid labels");
    pthread_mutex_lock(&m->lock);
    return get_family(m, name, help, type);
}

vx_counter *vx_metrics_counter(vx_metrics *m, const char *name, const char *help,
                               const char *labels)
{
    metric_family *f = begin_register(m, name, help, &labels, FAMILY_COUNTER);
    metric_series *s = find_series(f, labels);
    if (!s) {
        s = add_series(f, labels, SERIES_COUNTER);
        s->u.counter = vx_xcalloc(1, sizeof *s->u.counter);
        atomic_init(&s->u.counter->value, 0);
    }
    vx_counter *c = s->u.counter;
    pthread_mutex_unlock(&m->lock);
    return c;
}

vx_gauge *vx_metrics_gauge(vx_metrics *m, const char *name, const char *help, const char *labels)
{
    metric_family *f = begin_register(m, name, help, &labels, FAMILY_GAUGE);
    metric_series *s = find_series(f, labels);
    if (s && s->kind != SERIES_GAUGE)
        misuse(name, "series registered before as a gauge function");
    if (!s) {
        s = add_series(f, labels, SERIES_GAUGE);
        s->u.gauge = vx_xcalloc(1, sizeof *s->u.gauge);
        atomic_init(&s->u.gauge->bits, double_to_bits(0.0));
    }
    vx_gauge *g = s->u.gauge;
    pthread_mutex_unlock(&m->lock);
    return g;
}

void vx_metrics_gauge_fn(vx_metrics *m, const char *name, const char *help, const char *labels,
                         vx_gauge_fn fn, void *ctx)
{
    if (!fn)
        misuse(name, "NULL gauge function");
    metric_family *f = begin_register(m, name, help, &labels, FAMILY_GAUGE);
    metric_series *s = find_series(f, labels);
    if (s && s->kind != SERIES_GAUGE_FN)
        misuse(name, "series registered before as a plain gauge");
    if (!s)
        s = add_series(f, labels, SERIES_GAUGE_FN);
    /* Registering again rebinds the series, e.g. to a pool that was recreated. */
    s->u.fn.fn = fn;
    s->u.fn.ctx = ctx;
    pthread_mutex_unlock(&m->lock);
}

static bool same_bounds(const vx_histogram *h, const double *bounds, size_t n)
{
    if (h->n_bounds != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (h->bounds[i] != bounds[i])
            return false;
    return true;
}

vx_histogram *vx_metrics_histogram(vx_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t n_bounds)
{
    if (n_bounds && !bounds)
        misuse(name, "NULL bounds");
    for (size_t i = 0; i < n_bounds; i++) {
        /* NaN fails every comparison, so it is rejected here too. */
        if (!(bounds[i] < INFINITY) || !(bounds[i] > -INFINITY))
            misuse(name, "histogram bounds must be finite (+Inf is added)");
        if (i > 0 && !(bounds[i] > bounds[i - 1]))
            misuse(name, "histogram bounds must increase");
    }
    metric_family *f = begin_register(m, name, help, &labels, FAMILY_HISTOGRAM);
    metric_series *s = find_series(f, labels);
    if (s) {
        if (!same_bounds(s->u.histogram, bounds, n_bounds))
            misuse(name, "series registered before with other bounds");
    } else {
        s = add_series(f, labels, SERIES_HISTOGRAM);
        vx_histogram *h = vx_xcalloc(1, sizeof *h);
        h->n_bounds = n_bounds;
        h->bounds = vx_xmalloc(n_bounds * sizeof *h->bounds);
        if (n_bounds)
            memcpy(h->bounds, bounds, n_bounds * sizeof *h->bounds);
        h->buckets = vx_xmalloc((n_bounds + 1) * sizeof *h->buckets);
        for (size_t i = 0; i <= n_bounds; i++)
            atomic_init(&h->buckets[i], 0);
        atomic_init(&h->sum_bits, double_to_bits(0.0));
        s->u.histogram = h;
    }
    vx_histogram *h = s->u.histogram;
    pthread_mutex_unlock(&m->lock);
    return h;
}

void vx_counter_add(vx_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void vx_counter_inc(vx_counter *c)
{
    atomic_fetch_add_explicit(&c->value, 1, memory_order_relaxed);
}

uint64_t vx_counter_value(const vx_counter *c)
{
    return atomic_load_explicit(&c->value, memory_order_relaxed);
}

void vx_gauge_set(vx_gauge *g, double v)
{
    atomic_store_explicit(&g->bits, double_to_bits(v), memory_order_relaxed);
}

/* Adds to a double stored as bits; retries when another thread changed it in between. */
static void add_double_bits(_Atomic uint64_t *bits, double delta)
{
    uint64_t old = atomic_load_explicit(bits, memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(bits, &old,
                                                  double_to_bits(bits_to_double(old) + delta),
                                                  memory_order_relaxed, memory_order_relaxed)) {
    }
}

void vx_gauge_add(vx_gauge *g, double delta)
{
    add_double_bits(&g->bits, delta);
}

double vx_gauge_value(const vx_gauge *g)
{
    return bits_to_double(atomic_load_explicit(&g->bits, memory_order_relaxed));
}

void vx_histogram_observe(vx_histogram *h, double v)
{
    /* First bucket whose bound is >= v; NaN and values above every bound land in +Inf. */
    size_t lo = 0, hi = h->n_bounds;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v <= h->bounds[mid])
            hi = mid;
        else
            lo = mid + 1;
    }
    atomic_fetch_add_explicit(&h->buckets[lo], 1, memory_order_relaxed);
    add_double_bits(&h->sum_bits, v);
}

uint64_t vx_histogram_count(const vx_histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= h->n_bounds; i++)
        n += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
    return n;
}
