/* libFuzzer target: the deadline headers of svc.* requests (vx_deadline_read, vx_deadline_left
 * in libs/contract). Checks: a value read as a deadline is canonical (formatting it gives the
 * same text back), and what is left is never more than a relative budget may be. */
#include "vx/contract.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char value[64];
    size_t n = size < sizeof value - 1 ? size : sizeof value - 1;
    memcpy(value, data, n);
    value[n] = '\0';
    char why[160];
    int64_t at = -1;
    if (vx_deadline_read(value, &at, why, sizeof why) == VX_OK) {
        char back[VX_DEADLINE_TEXT_MAX];
        vx_deadline_format(at, back);
        if (at < 1 || at > VX_DEADLINE_AT_MAX || strcmp(back, value) != 0)
            abort();
    } else if (at != -1 || why[0] == '\0') {
        abort();
    }
    const int64_t now = 1764876543210;
    int64_t left = 0;
    if (vx_deadline_left(value, NULL, now, 1000, &left, why, sizeof why) == VX_OK &&
        (left > VX_DEADLINE_MS_MAX ||
         left != (at - now < VX_DEADLINE_MS_MAX ? at - now : VX_DEADLINE_MS_MAX)))
        abort();
    if (vx_deadline_left(NULL, value, now, 1000, &left, why, sizeof why) == VX_OK &&
        (left < 1 || left > VX_DEADLINE_MS_MAX))
        abort();
    return 0;
}
