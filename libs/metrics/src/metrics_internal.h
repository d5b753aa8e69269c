/* Layout of the metrics registry, shared by registry.c (registration and lock-free updates) and
 * render.c (the text exposition format). */
#ifndef VX_METRICS_INTERNAL_H
#define VX_METRICS_INTERNAL_H

#include "vx/metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct vx_counter {
    _Atomic uint64_t value;
};

/* The IEEE-754 bits of the value, so that updates are a plain store or a compare-and-swap. */
struct vx_gauge {
    _Atomic uint64_t bits;
};

struct vx_histogram {
    double *bounds; /* n_bounds upper bounds, increasing; +Inf is implied */
    size_t n_bounds;
    /* n_bounds + 1 counts, one per bucket (not cumulative; the last is +Inf). The total count is
     * their sum, so _count always equals the +Inf bucket in a rendering. */
    _Atomic uint64_t *buckets;
    _Atomic uint64_t sum_bits; /* double bits */
};

typedef enum { FAMILY_COUNTER, FAMILY_GAUGE, FAMILY_HISTOGRAM } family_type;

typedef enum { SERIES_COUNTER, SERIES_GAUGE, SERIES_GAUGE_FN, SERIES_HISTOGRAM } series_kind;

typedef struct {
    char *labels; /* the inside of the braces; "" for none */
    series_kind kind;
    union {
        vx_counter *counter;
        vx_gauge *gauge;
        vx_histogram *histogram;
        struct {
            vx_gauge_fn fn;
            void *ctx;
        } fn;
    } u;
} metric_series;

typedef struct {
    char *name;
    char *help; /* NULL: no HELP line */
    family_type type;
    metric_series *series; /* in registration order */
    size_t n_series;
    size_t cap_series;
} metric_family;

struct vx_metrics {
    pthread_mutex_t lock;
    metric_family **families; /* sorted by name */
    size_t n_families;
    size_t cap_families;
};

static inline uint64_t double_to_bits(double v)
{
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b;
}

static inline double bits_to_double(uint64_t b)
{
    double v;
    memcpy(&v, &b, sizeof v);
    return v;
}

#endif
