/* libFuzzer target: bytes as a ForecastRequest and as an AnomaliesRequest through
 * fc_request_parse (decoding, defaults, validation) of services/forecast. A refusal must say
 * why; an accepted request must hold what the rules promise, and its digest, cache key and
 * rollup SQL must be buildable. */
#include "request.h"
#include "rollup.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TODAY 20089 /* 2025-01-01 */

static void check(const fc_request *r)
{
    if (r->scope.to_day - r->scope.from_day < 1 ||
        r->scope.to_day - r->scope.from_day > FC_MAX_WINDOW_DAYS || r->scope.from_day < 0 ||
        r->scope.to_day > TODAY + 1 || r->top_services < 1 ||
        r->top_services > FC_MAX_TOP_SERVICES || strlen(r->scope.tenant_id) != 36)
        abort();
    if (r->kind == FC_KIND_RUN && (r->horizon_days < 1 || r->horizon_days > FC_MAX_HORIZON_DAYS ||
                                   !(r->level > 0) || !(r->level < 1)))
        abort();
    if (r->kind == FC_KIND_ANOMALIES && (!(r->min_abs > 0) || !(r->min_rel > 0)))
        abort();
    for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++) {
        if (r->scope.n_filter[f] > VX_CONTRACT_MAX_FILTER_VALUES)
            abort();
        for (size_t i = 1; i < r->scope.n_filter[f]; i++)
            if (strcmp(r->scope.filter[f][i - 1], r->scope.filter[f][i]) >= 0)
                abort(); /* sorted, no repeats */
    }
    char key[FC_CACHE_KEY_MAX];
    fc_cache_key(r, 1, key);
    if (strncmp(key, "vx:fc:v1:", 9) != 0)
        abort();
    fc_sql q;
    fc_rollup_sql(r, &q);
    if (q.n_params < 4 || q.n_params > FC_SQL_MAX_PARAMS)
        abort();
    fc_sql_cleanup(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (int k = 0; k < 2; k++) {
        fc_request r;
        char why[256] = "";
        if (fc_request_parse((fc_kind)k, data, size, TODAY, &r, why, sizeof why) != VX_OK) {
            if (why[0] == '\0')
                abort();
            for (int f = 0; f < VX_CONTRACT_FILTER_COUNT; f++)
                if (r.scope.filter[f] != NULL)
                    abort(); /* a refusal leaves nothing to free */
            continue;
        }
        check(&r);
        fc_request_cleanup(&r);
    }
    return 0;
}
