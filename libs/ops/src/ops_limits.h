/* The vx::http limits of the ops listener (vx_ops_start), in one place so the tests can check
 * them. Scrapes and probes are small GETs: everything is much tighter than the API's. */
#ifndef VX_OPS_LIMITS_H
#define VX_OPS_LIMITS_H

#define OPS_MAX_CONNS 256               /* open connections; above: closed at once */
#define OPS_MAX_HEADER_BYTES (8 * 1024) /* request line + headers; above it: 431 */
#define OPS_MAX_URL_BYTES 2048          /* above it: 414 */
#define OPS_MAX_BODY_BYTES (64 * 1024)  /* bodies are ignored; above it: 413 */
#define OPS_REQUEST_TIMEOUT_MS 10000    /* first byte to complete request; then 408 and close */
#define OPS_IDLE_TIMEOUT_MS 30000       /* keep-alive wait for the next request; then close */
#define OPS_BACKLOG 128

#endif
