/* libFuzzer target: the input as a FOCUS CSV file read to its end through vx_focus_open and
 * vx_focus_next; every event returned must validate and give a well-formed COPY row. */
#include "fuzz_row_check.h"

#include "vx/cost.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TENANT "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* fmemopen wants a writable buffer of at least one byte. */
    char *copy = malloc(size + 1);
    if (!copy)
        return 0;
    if (size)
        memcpy(copy, data, size);
    copy[size] = '\0';
    FILE *f = fmemopen(copy, size ? size : 1, "r");
    if (!f) {
        free(copy);
        return 0;
    }
    if (size == 0)
        fgetc(f); /* leave nothing to read */
    vx_focus_reader *r = NULL;
    char why[256] = "";
    if (vx_focus_open(f, TENANT, &r, why, sizeof why) == VX_OK) {
        uint64_t last_line = 1;
        for (;;) {
            vx_cost_event *e = NULL;
            vx_status st = vx_focus_next(r, &e, why, sizeof why);
            if (st == VX_NOT_FOUND || st == VX_IO)
                break;
            if (vx_focus_line(r) <= last_line)
                abort(); /* every row moves the reader forward */
            last_line = vx_focus_line(r);
            if (st != VX_OK) {
                if (strncmp(why, "line ", 5) != 0)
                    abort(); /* a bad row names its line */
                continue;
            }
            if (vx_cost_event_validate(e, TENANT, why, sizeof why) != VX_OK)
                abort();
            fuzz_check_copy_row(e);
            vx_cost_event_free(e);
        }
        vx_focus_close(r);
    }
    fclose(f);
    free(copy);
    return 0;
}
