/* libFuzzer target: model answers through vx_llm_insight_parse. Whatever is accepted must be
 * within every bound, and must survive vx_llm_insight_to_json and a second parse unchanged;
 * whatever is refused must say why and hand out nothing. */
#include "vx/alloc.h"
#include "vx/llm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_bounds(const vx_llm_insight *in)
{
    size_t n = strlen(in->summary);
    if (n == 0 || n > VX_LLM_MAX_SUMMARY || in->n_findings > VX_LLM_MAX_FINDINGS ||
        in->n_recommendations > VX_LLM_MAX_RECOMMENDATIONS)
        abort();
    for (size_t i = 0; i < in->n_findings; i++) {
        n = strlen(in->findings[i]);
        if (n == 0 || n > VX_LLM_MAX_FINDING)
            abort();
    }
    for (size_t i = 0; i < in->n_recommendations; i++) {
        const vx_llm_recommendation *r = &in->recommendations[i];
        double s = r->estimated_monthly_savings, c = r->confidence;
        if (!*r->action || strlen(r->action) > VX_LLM_MAX_ACTION || !*r->target ||
            strlen(r->target) > VX_LLM_MAX_TARGET || !isfinite(s) || s < 0 ||
            s > VX_LLM_MAX_SAVINGS || !(c >= 0 && c <= 1) ||
            (unsigned)r->priority > VX_LLM_PRIORITY_LOW)
            abort();
    }
}

static bool close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-12 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vx_llm_insight in;
    memset(&in, 0x5a, sizeof in);
    char err[256] = "";
    if (vx_llm_insight_parse((const char *)data, size, &in, err, sizeof err) != VX_OK) {
        if (err[0] == '\0' || ((unsigned char *)&in)[0] != 0x5a)
            abort(); /* a refusal says why and writes nothing */
        return 0;
    }
    check_bounds(&in);
    size_t len = 0;
    char *json = vx_llm_insight_to_json(&in, &len);
    vx_llm_insight back;
    if (vx_llm_insight_parse(json, len, &back, err, sizeof err) != VX_OK)
        abort(); /* what was accepted, written back, is accepted again */
    if (strcmp(back.summary, in.summary) != 0 || back.n_findings != in.n_findings ||
        back.n_recommendations != in.n_recommendations)
        abort();
    for (size_t i = 0; i < in.n_findings; i++)
        if (strcmp(back.findings[i], in.findings[i]) != 0)
            abort();
    for (size_t i = 0; i < in.n_recommendations; i++) {
        const vx_llm_recommendation *a = &in.recommendations[i], *b = &back.recommendations[i];
        if (strcmp(a->action, b->action) != 0 || strcmp(a->target, b->target) != 0 ||
            a->priority != b->priority ||
            !close_enough(a->estimated_monthly_savings, b->estimated_monthly_savings) ||
            !close_enough(a->confidence, b->confidence))
            abort();
    }
    vx_free(json);
    vx_llm_insight_cleanup(&back);
    vx_llm_insight_cleanup(&in);
    return 0;
}
