/* Circuit breaker state machine: a ring buffer of recent outcomes decides when to open; time is
 * always passed in by the caller, so nothing here reads a clock. */
#include "vx/breaker.h"

#include "vx/alloc.h"

#include <pthread.h>
#include <string.h>

struct vx_breaker {
    pthread_mutex_t mu;
    char *name;
    vx_breaker_config cfg;
    vx_breaker_state state;
    /* Sliding window: outcomes[i] is 1 for a failure; `count` entries are valid, the next one
     * is written at `head`. */
    uint8_t *outcomes;
    uint32_t head;
    uint32_t count;
    uint32_t failures;
    int64_t opened_at_ms;
    /* Half-open bookkeeping: probe slots handed out, and how many of them succeeded. */
    uint32_t probes_issued;
    uint32_t probes_succeeded;
    uint64_t trips;
};

vx_breaker_config vx_breaker_defaults(void)
{
    return (vx_breaker_config){
        .window = 20,
        .min_calls = 5,
        .failure_ratio = 0.5,
        .open_ms = 5000,
        .half_open_probes = 2,
    };
}

/* Out-of-range values are clamped rather than refused, so a breaker always works: a window of
 * at least one call, min_calls within the window, a ratio in (0, 1], at least one probe. */
static vx_breaker_config normalize(const vx_breaker_config *in)
{
    vx_breaker_config c = *in;
    if (c.window < 1)
        c.window = 1;
    if (c.min_calls < 1)
        c.min_calls = 1;
    if (c.min_calls > c.window)
        c.min_calls = c.window;
    if (!(c.failure_ratio > 0.0))
        c.failure_ratio = 1e-9;
    if (c.failure_ratio > 1.0)
        c.failure_ratio = 1.0;
    if (c.open_ms < 0)
        c.open_ms = 0;
    if (c.half_open_probes < 1)
        c.half_open_probes = 1;
    return c;
}

vx_breaker *vx_breaker_create(const char *name, const vx_breaker_config *cfg)
{
    vx_breaker_config defaults = vx_breaker_defaults();
    vx_breaker *b = vx_xcalloc(1, sizeof *b);
    pthread_mutex_init(&b->mu, NULL);
    b->name = vx_xstrdup(name ? name : "");
    b->cfg = normalize(cfg ? cfg : &defaults);
    b->state = VX_BREAKER_CLOSED;
    b->outcomes = vx_xcalloc(b->cfg.window, 1);
    return b;
}

void vx_breaker_destroy(vx_breaker *b)
{
    if (!b)
        return;
    pthread_mutex_destroy(&b->mu);
    vx_free(b->outcomes);
    vx_free(b->name);
    vx_free(b);
}

static void window_reset(vx_breaker *b)
{
    memset(b->outcomes, 0, b->cfg.window);
    b->head = 0;
    b->count = 0;
    b->failures = 0;
}

static void window_push(vx_breaker *b, bool failure)
{
    if (b->count == b->cfg.window)
        b->failures -= b->outcomes[b->head];
    else
        b->count++;
    b->outcomes[b->head] = failure ? 1 : 0;
    b->failures += failure ? 1u : 0u;
    b->head = (b->head + 1) % b->cfg.window;
}

static void trip(vx_breaker *b, int64_t now_ms)
{
    b->state = VX_BREAKER_OPEN;
    b->opened_at_ms = now_ms;
    b->probes_issued = 0;
    b->probes_succeeded = 0;
    b->trips++;
}

/* Moves open to half-open once open_ms has passed. Called with the mutex held. */
static void advance(vx_breaker *b, int64_t now_ms)
{
    if (b->state == VX_BREAKER_OPEN && now_ms - b->opened_at_ms >= b->cfg.open_ms) {
        b->state = VX_BREAKER_HALF_OPEN;
        b->probes_issued = 0;
        b->probes_succeeded = 0;
    }
}

bool vx_breaker_allow(vx_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    advance(b, now_ms);
    bool ok = false;
    switch (b->state) {
    case VX_BREAKER_CLOSED:
        ok = true;
        break;
    case VX_BREAKER_OPEN:
        ok = false;
        break;
    case VX_BREAKER_HALF_OPEN:
        if (b->probes_issued < b->cfg.half_open_probes) {
            b->probes_issued++;
            ok = true;
        }
        break;
    }
    pthread_mutex_unlock(&b->mu);
    return ok;
}

void vx_breaker_record(vx_breaker *b, bool success, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    advance(b, now_ms);
    switch (b->state) {
    case VX_BREAKER_CLOSED:
        window_push(b, !success);
        if (b->count >= b->cfg.min_calls &&
            (double)b->failures >= b->cfg.failure_ratio * (double)b->count)
            trip(b, now_ms);
        break;
    case VX_BREAKER_OPEN:
        /* A call allowed before the breaker opened, settling late: it changes nothing. */
        break;
    case VX_BREAKER_HALF_OPEN:
        /* Outcomes beyond the probes handed out are late calls from the closed period. */
        if (b->probes_succeeded >= b->probes_issued)
            break;
        if (!success) {
            trip(b, now_ms);
        } else if (++b->probes_succeeded == b->cfg.half_open_probes) {
            b->state = VX_BREAKER_CLOSED;
            window_reset(b);
        }
        break;
    }
    pthread_mutex_unlock(&b->mu);
}

vx_breaker_state vx_breaker_state_at(vx_breaker *b, int64_t now_ms)
{
    pthread_mutex_lock(&b->mu);
    advance(b, now_ms);
    vx_breaker_state s = b->state;
    pthread_mutex_unlock(&b->mu);
    return s;
}

const char *vx_breaker_state_str(vx_breaker_state s)
{
    switch (s) {
    case VX_BREAKER_CLOSED:
        return "closed";
    case VX_BREAKER_OPEN:
        return "open";
    case VX_BREAKER_HALF_OPEN:
        return "half_open";
    }
    return "unknown";
}

const char *vx_breaker_name(const vx_breaker *b)
{
    return b->name;
}

uint64_t vx_breaker_trips(vx_breaker *b)
{
    pthread_mutex_lock(&b->mu);
    uint64_t n = b->trips;
    pthread_mutex_unlock(&b->mu);
    return n;
}
