/* Renders the registry in the Prometheus text exposition format 0.0.4: HELP and TYPE once per
 * family, families sorted by name, histograms as cumulative _bucket{le} series, _sum, _count. */
#include "metrics_internal.h"

#include "vx/alloc.h"
#include "vx/buf.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Shortest text that reads back as the same double; Prometheus spellings for the specials. */
static void format_double(double v, char *out, size_t cap)
{
    if (isnan(v)) {
        snprintf(out, cap, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* HELP text escapes only backslash and newline. */
static void put_help(vx_buf *b, const char *help)
{
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            vx_buf_puts(b, "\\\\");
        else if (*p == '\n')
            vx_buf_puts(b, "\\n");
        else
            vx_buf_putc(b, *p);
    }
}

/* name[suffix]{labels[,extra]} — braces only when there is a label. */
static void put_series_name(vx_buf *b, const char *name, const char *suffix, const char *labels,
                            const char *extra)
{
    vx_buf_puts(b, name);
    vx_buf_puts(b, suffix);
    bool has_labels = labels[0] != '\0';
    if (!has_labels && !extra)
        return;
    vx_buf_putc(b, '{');
    vx_buf_puts(b, labels);
    if (extra) {
        if (has_labels)
            vx_buf_putc(b, ',');
        vx_buf_puts(b, extra);
    }
    vx_buf_putc(b, '}');
}

static void put_double_line(vx_buf *b, double v)
{
    char num[64];
    format_double(v, num, sizeof num);
    vx_buf_putc(b, ' ');
    vx_buf_puts(b, num);
    vx_buf_putc(b, '\n');
}

static void put_histogram(vx_buf *b, const char *name, const char *labels, const vx_histogram *h)
{
    /* Buckets are read once each and summed here, so the rendering is cumulative and _count
     * equals +Inf even while other threads observe. */
    uint64_t cumulative = 0;
    char le[96];
    char num[64];
    for (size_t i = 0; i <= h->n_bounds; i++) {
        cumulative += atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        if (i < h->n_bounds) {
            format_double(h->bounds[i], num, sizeof num);
            snprintf(le, sizeof le, "le=\"%s\"", num);
        } else {
            snprintf(le, sizeof le, "le=\"+Inf\"");
        }
        put_series_name(b, name, "_bucket", labels, le);
        vx_buf_printf(b, " %" PRIu64 "\n", cumulative);
    }
    put_series_name(b, name, "_sum", labels, NULL);
    put_double_line(b, bits_to_double(atomic_load_explicit(&h->sum_bits, memory_order_relaxed)));
    put_series_name(b, name, "_count", labels, NULL);
    vx_buf_printf(b, " %" PRIu64 "\n", cumulative);
}

static const char *type_name(family_type t)
{
    switch (t) {
    case FAMILY_COUNTER:
        return "counter";
    case FAMILY_GAUGE:
        return "gauge";
    case FAMILY_HISTOGRAM:
        return "histogram";
    }
    return "untyped";
}

static void put_family(vx_buf *b, const metric_family *f)
{
    if (f->help) {
        vx_buf_printf(b, "# HELP %s ", f->name);
        put_help(b, f->help);
        vx_buf_putc(b, '\n');
    }
    vx_buf_printf(b, "# TYPE %s %s\n", f->name, type_name(f->type));
    for (size_t i = 0; i < f->n_series; i++) {
        const metric_series *s = &f->series[i];
        switch (s->kind) {
        case SERIES_COUNTER:
            put_series_name(b, f->name, "", s->labels, NULL);
            vx_buf_printf(b, " %" PRIu64 "\n", vx_counter_value(s->u.counter));
            break;
        case SERIES_GAUGE:
            put_series_name(b, f->name, "", s->labels, NULL);
            put_double_line(b, vx_gauge_value(s->u.gauge));
            break;
        case SERIES_GAUGE_FN:
            put_series_name(b, f->name, "", s->labels, NULL);
            put_double_line(b, s->u.fn.fn(s->u.fn.ctx));
            break;
        case SERIES_HISTOGRAM:
            put_histogram(b, f->name, s->labels, s->u.histogram);
            break;
        }
    }
}

char *vx_metrics_render(vx_metrics *m, size_t *len)
{
    vx_buf b;
    vx_buf_init(&b);
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_families; i++)
        put_family(&b, m->families[i]);
    pthread_mutex_unlock(&m->lock);
    return vx_buf_take(&b, len);
}
