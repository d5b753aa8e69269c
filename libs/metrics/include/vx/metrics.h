/* A Prometheus metrics registry: counters, gauges and histograms, each series named once with
 * a fixed label set, rendered in the text exposition format (version 0.0.4).
 * Updating a metric is lock-free and thread-safe; registering and rendering take a lock. */
#ifndef VX_METRICS_H
#define VX_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct vx_metrics vx_metrics;
typedef struct vx_counter vx_counter;
typedef struct vx_gauge vx_gauge;
typedef struct vx_histogram vx_histogram;

/* Reads a value at render time (e.g. pool connections in use). Called with the registry lock
 * held, from the rendering thread: it must not call back into the registry. */
typedef double (*vx_gauge_fn)(void *ctx);

vx_metrics *vx_metrics_create(void);
/* Frees the registry and every metric in it; NULL is fine. */
void vx_metrics_destroy(vx_metrics *m);

/* Registers (or returns the existing) series `name{labels}`. `labels` is the inside of the
 * braces, e.g. "reason=\"decode\"", or NULL for none; values must already be escaped. Series of
 * one name share HELP and TYPE. The registry owns the result; it lives until destroy. Names must
 * match [a-zA-Z_:][a-zA-Z0-9_:]*; a bad name or a type clash with an existing name aborts
 * (programming error). */
vx_counter *vx_metrics_counter(vx_metrics *m, const char *name, const char *help,
                               const char *labels);
vx_gauge *vx_metrics_gauge(vx_metrics *m, const char *name, const char *help, const char *labels);
void vx_metrics_gauge_fn(vx_metrics *m, const char *name, const char *help, const char *labels,
                         vx_gauge_fn fn, void *ctx);
/* `bounds` are the upper bounds of the buckets, increasing, without +Inf (added); copied. */
vx_histogram *vx_metrics_histogram(vx_metrics *m, const char *name, const char *help,
                                   const char *labels, const double *bounds, size_t n_bounds);

/* Latency buckets in seconds, 0.5 ms .. 10 s. */
extern const double vx_metrics_latency_bounds[];
extern const size_t vx_metrics_latency_bounds_len;

void vx_counter_add(vx_counter *c, uint64_t n);
void vx_counter_inc(vx_counter *c);
uint64_t vx_counter_value(const vx_counter *c);
void vx_gauge_set(vx_gauge *g, double v);
void vx_gauge_add(vx_gauge *g, double delta);
double vx_gauge_value(const vx_gauge *g);
void vx_histogram_observe(vx_histogram *h, double v);
uint64_t vx_histogram_count(const vx_histogram *h);

/* The whole registry in text format, families sorted by name. Returns a NUL-terminated string
 * the caller frees with vx_free; *len (if not NULL) gets its length. */
char *vx_metrics_render(vx_metrics *m, size_t *len);

#endif
