/* libFuzzer target: bytes from the bus through vx_cost_batch_decode, then every event through
 * validation, normalisation and vx_cost_copy_row, checking the row's shape. */
#include "fuzz_row_check.h"

#include "vx/cost.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_cost_batch *batch = NULL;
    char why[256] = "";
    if (vx_cost_batch_decode(data, size, &batch, why, sizeof why) != VX_OK) {
        if (why[0] == '\0' || batch)
            abort(); /* a refusal always says why and hands out nothing */
        return 0;
    }
    for (size_t i = 0; i < batch->n_events; i++) {
        vx_cost_event *e = batch->events[i];
        why[0] = '\0';
        vx_status st = vx_cost_event_validate(e, e->tenant_id, why, sizeof why);
        if (st == VX_OK) {
            vx_cost_event_normalize(e);
            /* Normalising keeps an event valid. */
            if (vx_cost_event_validate(e, e->tenant_id, why, sizeof why) != VX_OK)
                abort();
        } else if (why[0] == '\0' || strchr(why, ':') == NULL) {
            abort(); /* reasons are "field: what is wrong" */
        }
        fuzz_check_copy_row(e);
    }
    vx_cost_batch_free(batch);
    return 0;
}
