/* The ingest handler: turns fetched messages into valid events to write and rejects to
 * dead-letter, with a reason each. Pure: no I/O, so it is unit tested without servers. */
#ifndef VX_INGEST_BATCH_H
#define VX_INGEST_BATCH_H

#include "vx/cost.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *subject;
    const void *data;
    size_t len;
} ingest_msg;

typedef enum {
    INGEST_REJECT_DECODE,  /* the message is not a CostEventBatch within limits */
    INGEST_REJECT_INVALID, /* an event failed validation */
    INGEST_REJECT_TENANT,  /* the subject's tenant differs, or the tenant does not exist */
    INGEST_REJECT_STORAGE, /* Postgres refused the message's rows */
} ingest_reject_kind;

const char *ingest_reject_kind_str(ingest_reject_kind k);
/* A reason as one header line: every control byte (CR and LF from a multi-line database error
 * among them, or from a publisher's own text) becomes a space, runs of spaces become one, and
 * the ends are trimmed; cut to cap - 1 bytes. A NATS header value with a line break would end
 * the header early (and could forge the next one). */
void ingest_reason_one_line(const char *in, char *out, size_t cap);

typedef struct {
    size_t msg; /* index of the message */
    int event;  /* index of the event in its batch, -1 for the whole message */
    ingest_reject_kind kind;
    char reason[256];
} ingest_reject;

typedef struct {
    vx_cost_batch **batches; /* decoded messages (NULL where it did not decode), owned */
    size_t n_msgs;
    vx_cost_event **events; /* valid events, pointing into batches */
    size_t *event_msg;      /* the message each valid event came from */
    size_t n_events;
    ingest_reject *rejects;
    size_t n_rejects, cap_rejects;
    size_t received; /* events decoded, valid or not */
} ingest_work;

/* Decodes and validates every message; an event whose tenant differs from its subject's tenant
 * is rejected (so per-subject publish permissions keep publishers inside their tenant). */
void ingest_work_build(ingest_work *w, const ingest_msg *msgs, size_t n,
                       const char *subject_prefix);
/* Rejects every valid event of `tenant` (kind and reason given) and drops them from events. */
void ingest_work_reject_tenant(ingest_work *w, const char *tenant, ingest_reject_kind kind,
                               const char *reason);
/* Rejects every valid event of message `msg` and drops them from events. */
void ingest_work_reject_msg(ingest_work *w, size_t msg, ingest_reject_kind kind,
                            const char *reason);
void ingest_work_cleanup(ingest_work *w);

/* How many of the n fetched messages (their sizes in lens) go into the next batch: messages are
 * added until their total reaches max_bytes, so a batch never passes it by more than its last
 * message, and a message larger than the bound is a batch of its own. 0 only when n is 0. */
size_t ingest_batch_take(const size_t *lens, size_t n, uint64_t max_bytes);

#endif
