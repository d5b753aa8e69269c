/* libFuzzer target: HTTP bodies through vx_cost_json_decode, then every valid event through
 * validation and vx_cost_copy_row, checking the row's shape and the error bookkeeping. */
#include "fuzz_row_check.h"

#include "vx/cost.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "0b6c4e52-3d43-4b6e-9a39-6f1f0a7f6a01"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_cost_json_batch b;
    char why[256] = "";
    if (vx_cost_json_decode((const char *)data, size, TENANT, 1000, &b, why, sizeof why) != VX_OK) {
        if (why[0] == '\0' || b.events || b.n_errors)
            abort(); /* a refusal always says why and hands out nothing */
        return 0;
    }
    if (b.n_events + b.n_errors != b.total)
        abort();
    for (size_t i = 0; i < b.n_errors; i++)
        if (b.errors[i].reason[0] == '\0' || b.errors[i].index >= b.total)
            abort();
    for (size_t i = 0; i < b.n_events; i++) {
        if (vx_cost_event_validate(b.events[i], TENANT, why, sizeof why) != VX_OK)
            abort(); /* what is handed out is valid */
        fuzz_check_copy_row(b.events[i]);
    }
    vx_cost_json_batch_cleanup(&b);
    return 0;
}
