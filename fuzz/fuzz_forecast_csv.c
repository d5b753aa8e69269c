/* libFuzzer target: bytes as a `date,value` CSV through vx_forecast_csv_parse; an accepted
 * series must be usable (dates of later periods increase), a refusal must say why. */
#include "vx/forecast.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_forecast_csv c;
    char why[200] = "";
    if (vx_forecast_csv_parse((const char *)data, size, &c, why, sizeof why) != VX_OK) {
        if (why[0] == '\0' || c.values)
            abort();
        return 0;
    }
    if (c.n < 2 || c.n > VX_FORECAST_MAX_POINTS || !c.values)
        abort();
    if (vx_forecast_csv_period_day(&c, (int64_t)c.n) <=
        vx_forecast_csv_period_day(&c, (int64_t)c.n - 1))
        abort();
    vx_forecast_csv_cleanup(&c);
    return 0;
}
