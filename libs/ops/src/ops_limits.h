/* Limits of the ops listener, in one place so the tests can check them without libuv or
 * llhttp headers. */
#ifndef VX_OPS_LIMITS_H
#define VX_OPS_LIMITS_H

#define OPS_MAX_CONNS 256
#define OPS_MAX_HEADER_BYTES (8 * 1024)          /* request line + headers; above it: 431 */
#define OPS_MAX_URL_BYTES 2048                   /* above it: 414 */
#define OPS_MAX_BODY_BYTES (64 * 1024)           /* bodies are ignored; above it: 413 */
#define OPS_MAX_QUEUED_WRITE_BYTES (1024 * 1024) /* stop reading while more is unsent */
#define OPS_IDLE_TIMEOUT_MS 30000                /* no complete request for this long: close */
#define OPS_LINGER_MS 2000                       /* after the last reply, wait this long for EOF */
#define OPS_SWEEP_INTERVAL_MS 1000
#define OPS_READ_BUF_BYTES 4096

#endif
