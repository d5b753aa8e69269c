/* The stream watcher: stream state into gauges and the /readyz note (see streams.h). */
#include "streams.h"

#include "vx/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define WATCH_INTERVAL_MS 5000

static void gauges(ingest_stream_gauges *g, vx_metrics *reg, const char *stream)
{
    char label[160];
    snprintf(label, sizeof label, "stream=\"%s\"", stream);
    g->bytes =
        vx_metrics_gauge(reg, "valdrix_ingest_stream_bytes", "Bytes the stream holds", label);
    g->max_bytes = vx_metrics_gauge(reg, "valdrix_ingest_stream_max_bytes",
                                    "The stream's size bound (0: none)", label);
    g->msgs =
        vx_metrics_gauge(reg, "valdrix_ingest_stream_messages", "Messages the stream holds", label);
    g->fullness =
        vx_metrics_gauge(reg, "valdrix_ingest_stream_fullness",
                         "Bytes held over the size bound (0 to 1; 0 without bound)", label);
}

void ingest_streams_init(ingest_streams *s, const ingest_config *cfg, vx_metrics *reg)
{
    memset(s, 0, sizeof *s);
    s->cfg = cfg;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    gauges(&s->g[0], reg, cfg->stream);
    gauges(&s->g[1], reg, cfg->dlq_stream);
}

void ingest_stream_note(const char *name, const vx_stream_info *info, char *out, size_t cap)
{
    out[0] = '\0';
    if (info->max_bytes <= 0)
        return;
    double full = (double)info->bytes / (double)info->max_bytes;
    if (full <= INGEST_STREAM_WARN)
        return;
    snprintf(out, cap, "stream %s is %.0f%% full (%llu of %lld bytes)%s", name, full * 100,
             (unsigned long long)info->bytes, (long long)info->max_bytes,
             info->discard_new ? ": new events are refused when it is full"
                               : ": the oldest messages go when it is full");
}

static void watch_once(ingest_streams *s)
{
    const char *names[2] = {s->cfg->stream, s->cfg->dlq_stream};
    char note[256] = "";
    for (int i = 0; i < 2; i++) {
        vx_stream_info info;
        if (vx_bus_stream_info(s->bus, names[i], &info) != VX_OK)
            continue;
        vx_gauge_set(s->g[i].bytes, (double)info.bytes);
        vx_gauge_set(s->g[i].max_bytes, (double)info.max_bytes);
        vx_gauge_set(s->g[i].msgs, (double)info.msgs);
        vx_gauge_set(s->g[i].fullness,
                     info.max_bytes > 0 ? (double)info.bytes / (double)info.max_bytes : 0);
        char one[200];
        ingest_stream_note(names[i], &info, one, sizeof one);
        if (one[0] != '\0') {
            size_t used = strlen(note);
            snprintf(note + used, sizeof note - used, "%s%s", used ? "; " : "", one);
        }
    }
    pthread_mutex_lock(&s->mu);
    bool changed = strcmp(s->note, note) != 0;
    snprintf(s->note, sizeof s->note, "%s", note);
    pthread_mutex_unlock(&s->mu);
    if (changed)
        vx_log(note[0] ? VX_LOG_WARN : VX_LOG_INFO,
               note[0] ? "stream filling up" : "streams below their fullness mark",
               VX_STR("note", note));
}

static void *watch(void *arg)
{
    ingest_streams *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        pthread_mutex_unlock(&s->mu);
        watch_once(s);
        pthread_mutex_lock(&s->mu);
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += WATCH_INTERVAL_MS / 1000;
        while (!s->stop && pthread_cond_timedwait(&s->cv, &s->mu, &until) == 0) {
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

void ingest_streams_start(ingest_streams *s, vx_bus *bus)
{
    if (s->started)
        return;
    s->bus = bus;
    if (pthread_create(&s->thread, NULL, watch, s) != 0) {
        vx_log(VX_LOG_WARN, "stream watcher did not start: no fullness metrics",
               VX_STR("stream", s->cfg->stream));
        return;
    }
    s->started = true;
}

void ingest_streams_stop(void *arg)
{
    ingest_streams *s = arg;
    if (!s->started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    s->started = false;
}

bool ingest_streams_ready(void *arg, char *why, size_t cap)
{
    ingest_streams *s = arg;
    pthread_mutex_lock(&s->mu);
    snprintf(why, cap, "%s", s->note);
    pthread_mutex_unlock(&s->mu);
    return true;
}
