/* GET /v1/usage: the tenant's limits per category and what remains of them now (peeks, which
 * take nothing from the limits). */
#include "handlers.h"

#include "vx/alloc.h"

#include <jansson.h>
#include <stdlib.h>

typedef struct {
    json_t *limits;
    int next; /* category being peeked */
} usage_state;

static void peek_next(api_call *c);

static void peeked(void *arg, const vx_rl_decision *d)
{
    api_call *c = arg;
    usage_state *u = c->state;
    if (d->status != VX_OK) {
        json_decref(u->limits);
        api_set_problem(c, 503, "unavailable", "Service unavailable", "shutting down");
        api_finish(c);
        return;
    }
    json_t *o = json_object();
    json_object_set_new(o, "limit", json_integer(d->limit.limit));
    json_object_set_new(o, "period_seconds", json_integer(d->limit.period_ms / 1000));
    json_object_set_new(o, "remaining", json_integer(d->remaining));
    json_object_set_new(o, "reset_seconds", json_integer((d->reset_ms + 999) / 1000));
    json_object_set_new(o, "source",
                        json_string(d->source == VX_RL_SOURCE_REDIS ? "redis" : "local"));
    json_object_set_new(u->limits, vx_plan_category_str(d->category), o);
    u->next++;
    peek_next(c);
}

static void peek_next(api_call *c)
{
    usage_state *u = c->state;
    if (u->next == VX_PLAN_CAT_COUNT) {
        json_t *out = json_object();
        json_object_set_new(out, "tenant_id", json_string(c->key.tenant_id));
        json_object_set_new(out, "plan", json_string(c->key.plan));
        json_object_set_new(out, "limits", u->limits);
        char *text = json_dumps(out, JSON_COMPACT);
        json_decref(out);
        api_set_json(c, 200, vx_xstrdup(text));
        free(text);
        api_finish(c);
        return;
    }
    vx_plan plan;
    if (!vx_plan_parse(c->key.plan, &plan))
        plan = VX_PLAN_STARTER; /* a plan this build does not know gets the smallest limits */
    vx_plan_overrides ov = {.api_per_min = c->key.api_per_min,
                            .llm_per_day = c->key.llm_per_day,
                            .remediation_per_hour = c->key.remediation_per_hour};
    vx_plan_rate lim;
    if (vx_plan_effective_rate(plan, (vx_plan_category)u->next, &ov, &lim) != VX_OK) {
        json_decref(u->limits);
        api_set_problem(c, 500, "internal", "Internal error", "no limit for this plan");
        api_finish(c);
        return;
    }
    vx_ratelimit *rl = c->ctx->limiters[vx_http_request_loop_index(c->req)];
    if (vx_ratelimit_peek(rl, c->key.tenant_id, (vx_plan_category)u->next, &lim, peeked, c) !=
        VX_OK) {
        json_decref(u->limits);
        api_set_problem(c, 503, "unavailable", "Service unavailable", "rate limiter closed");
        api_finish(c);
    }
}

void handle_usage(api_call *c)
{
    usage_state *u = vx_xcalloc(1, sizeof *u);
    u->limits = json_object();
    c->state = u;
    peek_next(c);
}
