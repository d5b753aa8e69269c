/* A circuit breaker: closed until the failure ratio over a sliding window of recent calls
 * passes a threshold, then open (calls refused) for a while, then half-open (a few probe calls
 * allowed; all succeeding closes it, any failing reopens it). Time is passed in, so the state
 * machine is pure and testable. Thread-safe (one mutex per breaker). */
#ifndef VX_BREAKER_H
#define VX_BREAKER_H

#include <stdbool.h>
#include <stdint.h>

typedef enum { VX_BREAKER_CLOSED, VX_BREAKER_OPEN, VX_BREAKER_HALF_OPEN } vx_breaker_state;

typedef struct {
    uint32_t window;           /* calls remembered (ring buffer), e.g. 20 */
    uint32_t min_calls;        /* no tripping before this many calls in the window, e.g. 5 */
    double failure_ratio;      /* trips when failures / calls >= this, e.g. 0.5 */
    int64_t open_ms;           /* how long it stays open before probing, e.g. 5000 */
    uint32_t half_open_probes; /* probes that must all succeed to close, e.g. 2 */
} vx_breaker_config;

typedef struct vx_breaker vx_breaker;

/* Sensible defaults: window 20, min_calls 5, ratio 0.5, open 5 s, 2 probes. */
vx_breaker_config vx_breaker_defaults(void);

/* `name` is copied (for logs and metrics); `cfg` is copied, NULL means the defaults. Values out
 * of range are clamped (window >= 1, 1 <= min_calls <= window, 0 < ratio <= 1, probes >= 1).
 * Never returns NULL (out of memory aborts). Destroy accepts NULL. */
vx_breaker *vx_breaker_create(const char *name, const vx_breaker_config *cfg);
void vx_breaker_destroy(vx_breaker *b);

/* Whether a call may go ahead now. In half-open, each true takes one probe slot, which the
 * caller must settle with vx_breaker_record. */
bool vx_breaker_allow(vx_breaker *b, int64_t now_ms);
/* Reports the outcome of an allowed call. */
void vx_breaker_record(vx_breaker *b, bool success, int64_t now_ms);
/* Current state (open turns half-open once open_ms has passed). */
vx_breaker_state vx_breaker_state_at(vx_breaker *b, int64_t now_ms);
const char *vx_breaker_state_str(vx_breaker_state s);
const char *vx_breaker_name(const vx_breaker *b);
/* Times the breaker has opened since creation. */
uint64_t vx_breaker_trips(vx_breaker *b);

#endif
