/* Status codes returned by every fallible Valdrix function, and their names. */
#ifndef VX_STATUS_H
#define VX_STATUS_H

#include <stddef.h>

/* X(NAME, description): one list makes both the enum and vx_status_str(). */
#define VX_STATUS_MAP(X)                                                                           \
    X(OK, "ok")                                                                                    \
    X(INVALID, "invalid input")                                                                    \
    X(NOT_FOUND, "not found")                                                                      \
    X(CONFLICT, "conflict")                                                                        \
    X(LIMIT, "limit exceeded")                                                                     \
    X(TIMEOUT, "timed out")                                                                        \
    X(UNAVAILABLE, "unavailable")                                                                  \
    X(IO, "i/o error")                                                                             \
    X(CLOSED, "closed")                                                                            \
    X(DENIED, "permission denied")                                                                 \
    X(FULL, "storage full")                                                                        \
    X(INTERNAL, "internal error")

/* On a function whose result must not be dropped: a vx_status, or a bool saying whether an
 * out-parameter was written. The compiler warns (an error under -Werror) at every call that
 * ignores the result. A (void) cast does not silence GCC here; where ignoring is right, pass
 * the result to vx_status_ignore() and say why next to it. */
#define VX_MUST_CHECK __attribute__((warn_unused_result))

typedef enum {
#define VX_STATUS_ENUM(name, desc) VX_##name,
    VX_STATUS_MAP(VX_STATUS_ENUM)
#undef VX_STATUS_ENUM
} vx_status;

/* Drops a status on purpose, where the caller has nothing to do about a failure (e.g. a reply
 * to a requester that has gone, a best-effort cleanup); the call site says why. */
static inline void vx_status_ignore(vx_status s)
{
    (void)s;
}

/* A static, human-readable description of `s` ("unknown status" for values outside the list).
 * Thread-safe. */
const char *vx_status_str(vx_status s);

/* The enumerator's name without prefix, e.g. "NOT_FOUND". Thread-safe. */
const char *vx_status_name(vx_status s);

/* printf into err[0..err_cap) when err is not NULL and err_cap > 0 (always NUL-terminated):
 * how fallible functions say why into an optional caller buffer. Thread-safe. */
void vx_errf(char *err, size_t err_cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The same, returning VX_INVALID: `return vx_refusef(why, cap, "...", ...);` refuses an input
 * and says why. Thread-safe. */
vx_status vx_refusef(char *err, size_t err_cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
