/* Start-up retries of the services: connect to NATS, check Postgres, subscribe, ... again and
 * again with backoff until it works or the process is asked to stop. */
#ifndef VX_RETRY_H
#define VX_RETRY_H

#include "vx/log.h"
#include "vx/status.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

/* Sleeps up to ms in 50 ms steps; returns true at once (early) when *flag is set. The flag is
 * an atomic_int (lock-free, so a signal handler may set it) rather than a volatile
 * sig_atomic_t, which is safe only within one thread: the handler may run on any thread, and
 * other threads read the flag. */
bool vx_sleep_unless(int64_t ms, const atomic_int *flag);

/* Evaluates `call` (an expression giving a vx_status, which writes its reason into the char
 * array `err`) until it gives VX_OK, logging each failure as "<what> failed, retrying" with the
 * status, err and the wait, and waiting 200 ms, doubling up to 5 s, in between with
 * wait(ms) — a function that returns true once the process has been asked to stop. Then it
 * jumps to the caller's `shutdown` label. */
#define VX_RETRY_UNTIL_OK(what, call, err, wait)                                                   \
    do {                                                                                           \
        int64_t vx_delay_ = 200;                                                                   \
        vx_status vx_st_;                                                                          \
        while ((vx_st_ = (call)) != VX_OK) {                                                       \
            vx_log(VX_LOG_WARN, what " failed, retrying", VX_STR("status", vx_status_str(vx_st_)), \
                   VX_STR("error", err), VX_INT("retry_in_ms", vx_delay_));                        \
            if (wait(vx_delay_))                                                                   \
                goto shutdown;                                                                     \
            vx_delay_ = vx_delay_ * 2 > 5000 ? 5000 : vx_delay_ * 2;                               \
        }                                                                                          \
    } while (0)

#endif
