/* W3C trace context: the traceparent header carried over HTTP and NATS headers. */
#ifndef VX_TRACE_H
#define VX_TRACE_H

#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>

/* "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" plus NUL. */
#define VX_TRACEPARENT_LEN 55

typedef struct {
    char trace_id[33];
    char span_id[17];
    unsigned char flags;
} vx_trace;

/* Parses a traceparent header; false if malformed or all-zero ids. */
VX_MUST_CHECK bool vx_trace_parse(const char *s, size_t len, vx_trace *out);
/* A new random trace with a new span. */
void vx_trace_new(vx_trace *out);
/* The same trace with a new random span id (a child). */
void vx_trace_child(const vx_trace *parent, vx_trace *out);
/* Writes the header value into out (at least VX_TRACEPARENT_LEN + 1 bytes). */
void vx_trace_format(const vx_trace *t, char *out);

#endif
