/* InsightResult and InsightReply packing, and reading a cached InsightResult back. */
#include "answer.h"

#include "valdrix/v1/insight.pb-c.h"
#include "vx/alloc.h"
#include "vx/contract.h"
#include "vx/pb.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void llm_answer_note(llm_answer *a, const char *note)
{
    if (a->n_notes < LLM_ANSWER_MAX_NOTES && note && note[0])
        a->notes[a->n_notes++] = vx_xstrdup(note);
}

void llm_answer_cleanup(llm_answer *a)
{
    if (a == NULL)
        return;
    vx_llm_insight_cleanup(&a->insight);
    for (size_t i = 0; i < a->n_notes; i++)
        vx_free(a->notes[i]);
    memset(a, 0, sizeof *a);
}

static char *mut(const char *s)
{
    return vx_pb_str(s ? s : "");
}

/* Fills `r` from `a`, borrowing a's strings; the recommendation and note arrays are allocated
 * (free_result releases them). */
static void fill_result(const llm_answer *a, Valdrix__V1__InsightResult *r,
                        Valdrix__V1__Insight *in, Valdrix__V1__Money *cost)
{
    valdrix__v1__insight_result__init(r);
    valdrix__v1__insight__init(in);
    valdrix__v1__money__init(cost);
    r->tenant_id = mut(a->tenant_id);
    r->from = mut(a->from);
    r->to = mut(a->to);
    r->kind = mut(vx_llm_kind_str(a->kind));
    r->currency = mut(a->currency);
    r->provider = mut(a->provider);
    r->model = mut(a->model);
    r->cached = a->cached;
    r->data_version = a->data_version;
    r->prompt_version = mut(a->prompt_version);
    r->input_tokens = a->input_tokens;
    r->output_tokens = a->output_tokens;
    vx_money m = vx_llm_micro_usd_to_money(a->cost_micro_usd);
    cost->units = m.units;
    cost->nanos = m.nanos;
    r->cost_usd = cost;
    r->n_notes = a->n_notes;
    r->notes = a->n_notes ? (char **)(uintptr_t)a->notes : NULL;

    in->summary = mut(a->insight.summary);
    in->n_findings = a->insight.n_findings;
    in->findings = a->insight.findings;
    size_t nr = a->insight.n_recommendations;
    in->n_recommendations = nr;
    in->recommendations = nr ? vx_xcalloc(nr, sizeof *in->recommendations) : NULL;
    Valdrix__V1__Recommendation *recs = nr ? vx_xcalloc(nr, sizeof *recs) : NULL;
    for (size_t i = 0; i < nr; i++) {
        const vx_llm_recommendation *x = &a->insight.recommendations[i];
        valdrix__v1__recommendation__init(&recs[i]);
        recs[i].action = mut(x->action);
        recs[i].target = mut(x->target);
        recs[i].estimated_monthly_savings = x->estimated_monthly_savings;
        recs[i].priority = mut(vx_llm_priority_str(x->priority));
        recs[i].confidence = x->confidence;
        in->recommendations[i] = &recs[i];
    }
    r->insight = in;
}

static void free_result(Valdrix__V1__Insight *in)
{
    if (in->n_recommendations)
        vx_free(in->recommendations[0]); /* the array of structs */
    vx_free(in->recommendations);
}

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = vx_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(m, buf);
    return buf;
}

uint8_t *llm_answer_pack(const llm_answer *a, size_t *len)
{
    Valdrix__V1__InsightResult r;
    Valdrix__V1__Insight in;
    Valdrix__V1__Money cost;
    fill_result(a, &r, &in, &cost);
    uint8_t *out = pack(&r.base, len);
    free_result(&in);
    return out;
}

uint8_t *llm_reply_result(const llm_answer *a, size_t *len)
{
    Valdrix__V1__InsightResult r;
    Valdrix__V1__Insight in;
    Valdrix__V1__Money cost;
    fill_result(a, &r, &in, &cost);
    uint8_t *out = vx_contract_reply_result(&valdrix__v1__insight_reply__descriptor, &r.base, len);
    free_result(&in);
    return out;
}

static bool text_within(const char *s, size_t max)
{
    return s && s[0] && strlen(s) <= max;
}

static bool copy_str(char *dst, size_t cap, const char *src)
{
    if (src == NULL || strlen(src) >= cap)
        return false;
    memcpy(dst, src, strlen(src) + 1);
    return true;
}

static bool kind_parse(const char *s, vx_llm_kind *out)
{
    for (int k = VX_LLM_KIND_SUMMARY; k <= VX_LLM_KIND_FORECAST; k++) {
        if (s && strcmp(s, vx_llm_kind_str((vx_llm_kind)k)) == 0) {
            *out = (vx_llm_kind)k;
            return true;
        }
    }
    return false;
}

static bool priority_parse(const char *s, vx_llm_priority *out)
{
    for (int p = VX_LLM_PRIORITY_HIGH; p <= VX_LLM_PRIORITY_LOW; p++) {
        if (s && strcmp(s, vx_llm_priority_str((vx_llm_priority)p)) == 0) {
            *out = (vx_llm_priority)p;
            return true;
        }
    }
    return false;
}

static bool insight_ok(const Valdrix__V1__Insight *in)
{
    if (in == NULL || !text_within(in->summary, VX_LLM_MAX_SUMMARY) ||
        in->n_findings > VX_LLM_MAX_FINDINGS || in->n_recommendations > VX_LLM_MAX_RECOMMENDATIONS)
        return false;
    for (size_t i = 0; i < in->n_findings; i++)
        if (!text_within(in->findings[i], VX_LLM_MAX_FINDING))
            return false;
    for (size_t i = 0; i < in->n_recommendations; i++) {
        const Valdrix__V1__Recommendation *x = in->recommendations[i];
        vx_llm_priority p;
        if (x == NULL || !text_within(x->action, VX_LLM_MAX_ACTION) ||
            !text_within(x->target, VX_LLM_MAX_TARGET) || !priority_parse(x->priority, &p) ||
            !isfinite(x->estimated_monthly_savings) || x->estimated_monthly_savings < 0 ||
            x->estimated_monthly_savings > VX_LLM_MAX_SAVINGS || !(x->confidence >= 0) ||
            !(x->confidence <= 1))
            return false;
    }
    return true;
}

vx_status llm_answer_unpack(const uint8_t *data, size_t len, llm_answer *out)
{
    Valdrix__V1__InsightResult *r = valdrix__v1__insight_result__unpack(NULL, len, data);
    if (r == NULL)
        return VX_INVALID;
    llm_answer a;
    memset(&a, 0, sizeof a);
    bool ok = copy_str(a.tenant_id, sizeof a.tenant_id, r->tenant_id) &&
              copy_str(a.from, sizeof a.from, r->from) && copy_str(a.to, sizeof a.to, r->to) &&
              kind_parse(r->kind, &a.kind) &&
              copy_str(a.currency, sizeof a.currency, r->currency) &&
              copy_str(a.provider, sizeof a.provider, r->provider) &&
              copy_str(a.model, sizeof a.model, r->model) &&
              copy_str(a.prompt_version, sizeof a.prompt_version, r->prompt_version) &&
              insight_ok(r->insight) && r->n_notes <= LLM_ANSWER_MAX_NOTES;
    if (!ok) {
        valdrix__v1__insight_result__free_unpacked(r, NULL);
        return VX_INVALID;
    }
    a.cached = r->cached;
    a.data_version = r->data_version;
    a.input_tokens = r->input_tokens;
    a.output_tokens = r->output_tokens;
    if (r->cost_usd && r->cost_usd->units >= 0 && r->cost_usd->nanos >= 0)
        a.cost_micro_usd =
            (uint64_t)r->cost_usd->units * 1000000u + (uint64_t)r->cost_usd->nanos / 1000u;
    const Valdrix__V1__Insight *in = r->insight;
    a.insight.summary = vx_xstrdup(in->summary);
    a.insight.n_findings = in->n_findings;
    a.insight.findings = in->n_findings ? vx_xcalloc(in->n_findings, sizeof(char *)) : NULL;
    for (size_t i = 0; i < in->n_findings; i++)
        a.insight.findings[i] = vx_xstrdup(in->findings[i]);
    size_t nr = in->n_recommendations;
    a.insight.n_recommendations = nr;
    a.insight.recommendations = nr ? vx_xcalloc(nr, sizeof *a.insight.recommendations) : NULL;
    for (size_t i = 0; i < nr; i++) {
        const Valdrix__V1__Recommendation *x = in->recommendations[i];
        vx_llm_recommendation *y = &a.insight.recommendations[i];
        y->action = vx_xstrdup(x->action);
        y->target = vx_xstrdup(x->target);
        y->estimated_monthly_savings = x->estimated_monthly_savings;
        priority_parse(x->priority, &y->priority);
        y->confidence = x->confidence;
    }
    for (size_t i = 0; i < r->n_notes; i++)
        llm_answer_note(&a, r->notes[i]);
    valdrix__v1__insight_result__free_unpacked(r, NULL);
    *out = a;
    return VX_OK;
}
