/* Publishes cost events to JetStream in CostEventBatch messages of a fixed number of events,
 * each with a Nats-Msg-Id derived from its bytes (so re-publishing the same input is dropped by
 * JetStream's duplicate window, and by the ledger after it), many in flight, with a progress
 * line on stderr. */
#ifndef VX_CLI_PUBLISHER_H
#define VX_CLI_PUBLISHER_H

#include "vx/bus.h"
#include "vx/cost.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct publisher publisher;

/* `subject` is copied; `total` is the number of events expected (0 if unknown), for progress. */
publisher *publisher_create(vx_bus *bus, const char *what, const char *subject, size_t batch_events,
                            uint64_t total);
/* Encodes ev into the current message (the event may change afterwards); sends the message
 * when it is full. */
vx_status publisher_add(publisher *p, const vx_cost_event *ev);
/* Sends what remains and waits for every ack. VX_IO if some messages were not acked (the
 * command can then be run again: nothing is duplicated). */
vx_status publisher_finish(publisher *p, uint64_t *events, uint64_t *messages, uint64_t *failed);
void publisher_destroy(publisher *p);

#endif
