/* Shared by the cost fuzz targets: what every COPY row must look like, whatever the input. */
#ifndef VX_FUZZ_ROW_CHECK_H
#define VX_FUZZ_ROW_CHECK_H

#include "vx/buf.h"
#include "vx/cost.h"

#include <stdio.h>
#include <stdlib.h>

/* One line, exactly one tab fewer than there are columns: escaping must never let a tab or a
 * line break from the data through. Aborts (a finding) otherwise. */
static inline void fuzz_check_copy_row(const vx_cost_event *e)
{
    size_t columns = 1;
    for (const char *p = VX_COST_COPY_COLUMNS; *p; p++)
        columns += *p == ',';
    vx_buf row;
    vx_buf_init(&row);
    vx_cost_copy_row(&row, e);
    size_t tabs = 0, breaks = 0;
    for (size_t i = 0; i < row.len; i++) {
        tabs += row.data[i] == '\t';
        breaks += row.data[i] == '\n' || row.data[i] == '\r';
    }
    if (tabs != columns - 1 || breaks != 1 || row.data[row.len - 1] != '\n') {
        fprintf(stderr, "bad COPY row (%zu tabs, %zu line breaks): %s\n", tabs, breaks, row.data);
        abort();
    }
    vx_buf_cleanup(&row);
}

#endif
