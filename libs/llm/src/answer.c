/* The model's answer: unwrap an optional ```json fence, parse strictly with jansson, check the
 * schema and bounds field by field, and copy into an owned vx_llm_insight. */
#include "llm_internal.h"

#include "vx/alloc.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *vx_llm_priority_str(vx_llm_priority p)
{
    switch (p) {
    case VX_LLM_PRIORITY_HIGH:
        return "high";
    case VX_LLM_PRIORITY_MEDIUM:
        return "medium";
    case VX_LLM_PRIORITY_LOW:
        return "low";
    }
    return "low";
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void trim(const char **p, size_t *n)
{
    while (*n && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n && is_space((*p)[*n - 1]))
        (*n)--;
}

/* Takes off one ``` or ```json fence, if there is one. false (err set) if a fence is opened
 * but not closed, or has a language other than json. */
static bool unfence(const char **p, size_t *n, char *err, size_t cap)
{
    trim(p, n);
    if (*n < 3 || memcmp(*p, "```", 3) != 0)
        return true;
    const char *s = *p + 3;
    size_t m = *n - 3;
    if (m >= 4 && (memcmp(s, "json", 4) == 0 || memcmp(s, "JSON", 4) == 0)) {
        s += 4;
        m -= 4;
    }
    if (m && !is_space(*s) && *s != '{') {
        vx_errf(err, cap, "answer: a fenced block must be ```json");
        return false;
    }
    if (m < 3 || memcmp(s + m - 3, "```", 3) != 0) {
        vx_errf(err, cap, "answer: the ``` fence is not closed");
        return false;
    }
    m -= 3;
    *p = s;
    *n = m;
    trim(p, n);
    return true;
}

/* A key as it may appear in an error message: at most 40 bytes, whole characters. */
static void short_key(const char *key, char *out, size_t cap)
{
    snprintf(out, cap, "%.40s", key);
    llm_clip_utf8(out, 40);
}

/* Exactly `keys`: an unknown key is reported against `where`, a missing one as
 * "<prefix><key>: missing". */
static bool only_keys(json_t *obj, const char *const *keys, size_t n, const char *where,
                      const char *prefix, char *err, size_t cap)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(key, keys[i]) == 0;
        if (!known) {
            char k[48];
            short_key(key, k, sizeof k);
            vx_errf(err, cap, "%s: unknown key \"%s\"", where, k);
            return false;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!json_object_get(obj, keys[i])) {
            vx_errf(err, cap, "%s%s: missing", prefix, keys[i]);
            return false;
        }
    }
    return true;
}

static bool blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_space(s[i]))
            return false;
    return true;
}

/* A required non-blank string of at most max bytes. */
static bool get_text(json_t *v, const char *name, size_t max, const char **out, char *err,
                     size_t cap)
{
    if (!json_is_string(v)) {
        vx_errf(err, cap, "%s: must be a string", name);
        return false;
    }
    size_t n = json_string_length(v);
    if (blank(json_string_value(v), n)) {
        vx_errf(err, cap, "%s: must not be empty", name);
        return false;
    }
    if (n > max) {
        vx_errf(err, cap, "%s: longer than %zu bytes", name, max);
        return false;
    }
    *out = json_string_value(v);
    return true;
}

static bool get_number(json_t *v, const char *name, double lo, double hi, double *out, char *err,
                       size_t cap)
{
    if (!json_is_number(v)) {
        vx_errf(err, cap, "%s: must be a number", name);
        return false;
    }
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi) {
        vx_errf(err, cap, "%s: must be between %g and %g", name, lo, hi);
        return false;
    }
    *out = d;
    return true;
}

static const char *const top_keys[] = {"summary", "findings", "recommendations"};
static const char *const rec_keys[] = {"action", "target", "estimated_monthly_savings", "priority",
                                       "confidence"};

static bool check_recommendation(json_t *r, size_t i, vx_llm_recommendation *out, char *err,
                                 size_t cap)
{
    char where[64], name[96];
    snprintf(where, sizeof where, "recommendations[%zu]", i);
    if (!json_is_object(r)) {
        vx_errf(err, cap, "%s: must be an object", where);
        return false;
    }
    char prefix[72];
    snprintf(prefix, sizeof prefix, "%s.", where);
    if (!only_keys(r, rec_keys, 5, where, prefix, err, cap))
        return false;
    const char *action, *target, *priority;
    snprintf(name, sizeof name, "%s.action", where);
    if (!get_text(json_object_get(r, "action"), name, VX_LLM_MAX_ACTION, &action, err, cap))
        return false;
    snprintf(name, sizeof name, "%s.target", where);
    if (!get_text(json_object_get(r, "target"), name, VX_LLM_MAX_TARGET, &target, err, cap))
        return false;
    snprintf(name, sizeof name, "%s.estimated_monthly_savings", where);
    if (!get_number(json_object_get(r, "estimated_monthly_savings"), name, 0, VX_LLM_MAX_SAVINGS,
                    &out->estimated_monthly_savings, err, cap))
        return false;
    snprintf(name, sizeof name, "%s.priority", where);
    json_t *p = json_object_get(r, "priority");
    priority = json_is_string(p) ? json_string_value(p) : "";
    if (strcmp(priority, "high") == 0)
        out->priority = VX_LLM_PRIORITY_HIGH;
    else if (strcmp(priority, "medium") == 0)
        out->priority = VX_LLM_PRIORITY_MEDIUM;
    else if (strcmp(priority, "low") == 0)
        out->priority = VX_LLM_PRIORITY_LOW;
    else {
        vx_errf(err, cap, "%s: must be \"high\", \"medium\" or \"low\"", name);
        return false;
    }
    snprintf(name, sizeof name, "%s.confidence", where);
    if (!get_number(json_object_get(r, "confidence"), name, 0, 1, &out->confidence, err, cap))
        return false;
    out->action = vx_xstrdup(action);
    out->target = vx_xstrdup(target);
    return true;
}

static bool check_answer(json_t *root, vx_llm_insight *in, char *err, size_t cap)
{
    if (!json_is_object(root)) {
        vx_errf(err, cap, "answer: must be a JSON object");
        return false;
    }
    if (!only_keys(root, top_keys, 3, "answer", "", err, cap))
        return false;
    const char *summary;
    if (!get_text(json_object_get(root, "summary"), "summary", VX_LLM_MAX_SUMMARY, &summary, err,
                  cap))
        return false;
    json_t *findings = json_object_get(root, "findings");
    if (!json_is_array(findings)) {
        vx_errf(err, cap, "findings: must be an array of strings");
        return false;
    }
    if (json_array_size(findings) > VX_LLM_MAX_FINDINGS) {
        vx_errf(err, cap, "findings: %zu items, at most %d", json_array_size(findings),
                VX_LLM_MAX_FINDINGS);
        return false;
    }
    json_t *recs = json_object_get(root, "recommendations");
    if (!json_is_array(recs)) {
        vx_errf(err, cap, "recommendations: must be an array of objects");
        return false;
    }
    if (json_array_size(recs) > VX_LLM_MAX_RECOMMENDATIONS) {
        vx_errf(err, cap, "recommendations: %zu items, at most %d", json_array_size(recs),
                VX_LLM_MAX_RECOMMENDATIONS);
        return false;
    }
    in->summary = vx_xstrdup(summary);
    in->findings = vx_xcalloc(json_array_size(findings) + 1, sizeof *in->findings);
    size_t i;
    json_t *v;
    json_array_foreach(findings, i, v)
    {
        char name[32];
        const char *text;
        snprintf(name, sizeof name, "findings[%zu]", i);
        if (!get_text(v, name, VX_LLM_MAX_FINDING, &text, err, cap))
            return false;
        in->findings[in->n_findings++] = vx_xstrdup(text);
    }
    in->recommendations = vx_xcalloc(json_array_size(recs) + 1, sizeof *in->recommendations);
    json_array_foreach(recs, i, v)
    {
        if (!check_recommendation(v, i, &in->recommendations[i], err, cap))
            return false;
        in->n_recommendations++;
    }
    return true;
}

vx_status vx_llm_insight_parse(const char *text, size_t len, vx_llm_insight *out, char *err,
                               size_t err_cap)
{
    if (!text) {
        vx_errf(err, err_cap, "answer: empty");
        return VX_INVALID;
    }
    if (len > VX_LLM_MAX_ANSWER_BYTES) {
        vx_errf(err, err_cap, "answer: longer than %d bytes", VX_LLM_MAX_ANSWER_BYTES);
        return VX_INVALID;
    }
    const char *p = text;
    size_t n = len;
    if (!unfence(&p, &n, err, err_cap))
        return VX_INVALID;
    if (n == 0) {
        vx_errf(err, err_cap, "answer: empty");
        return VX_INVALID;
    }
    if (*p != '{') {
        vx_errf(err, err_cap, "answer: must be one JSON object and nothing else");
        return VX_INVALID;
    }
    json_error_t jerr;
    json_t *root = json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson quotes the text near the error; that is the model's output (which may echo
         * tenant data), so only the reason and the place are kept. */
        char *near = strstr(jerr.text, " near ");
        if (near)
            *near = '\0';
        vx_errf(err, err_cap, "answer: not valid JSON (%s at line %d column %d)", jerr.text,
                jerr.line, jerr.column);
        return VX_INVALID;
    }
    vx_llm_insight in = {0};
    bool ok = check_answer(root, &in, err, err_cap);
    json_decref(root);
    if (!ok) {
        vx_llm_insight_cleanup(&in);
        return VX_INVALID;
    }
    *out = in;
    return VX_OK;
}

char *vx_llm_insight_to_json(const vx_llm_insight *in, size_t *len)
{
    json_t *findings = json_array();
    for (size_t i = 0; i < in->n_findings; i++)
        json_array_append_new(findings, json_string(in->findings[i]));
    json_t *recs = json_array();
    for (size_t i = 0; i < in->n_recommendations; i++) {
        const vx_llm_recommendation *r = &in->recommendations[i];
        json_array_append_new(
            recs, json_pack("{s:s, s:s, s:f, s:s, s:f}", "action", r->action, "target", r->target,
                            "estimated_monthly_savings", r->estimated_monthly_savings, "priority",
                            vx_llm_priority_str(r->priority), "confidence", r->confidence));
    }
    json_t *root = json_pack("{s:s, s:o, s:o}", "summary", in->summary ? in->summary : "",
                             "findings", findings, "recommendations", recs);
    /* 15 significant digits: 214.29 stays "214.29" (17 would show binary noise). */
    char *dumped = root ? json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15)) : NULL;
    json_decref(root);
    char *s = vx_xstrdup(dumped ? dumped : "{}");
    free(dumped); /* jansson's allocator */
    if (len)
        *len = strlen(s);
    return s;
}

void vx_llm_insight_copy(const vx_llm_insight *in, vx_llm_insight *out)
{
    vx_llm_insight c = {0};
    c.summary = vx_xstrdup(in->summary ? in->summary : "");
    c.findings = vx_xcalloc(in->n_findings + 1, sizeof *c.findings);
    for (size_t i = 0; i < in->n_findings; i++)
        c.findings[i] = vx_xstrdup(in->findings[i]);
    c.n_findings = in->n_findings;
    c.recommendations = vx_xcalloc(in->n_recommendations + 1, sizeof *c.recommendations);
    for (size_t i = 0; i < in->n_recommendations; i++) {
        c.recommendations[i] = in->recommendations[i];
        c.recommendations[i].action = vx_xstrdup(in->recommendations[i].action);
        c.recommendations[i].target = vx_xstrdup(in->recommendations[i].target);
    }
    c.n_recommendations = in->n_recommendations;
    *out = c;
}

void vx_llm_insight_cleanup(vx_llm_insight *in)
{
    if (!in)
        return;
    vx_free(in->summary);
    for (size_t i = 0; i < in->n_findings; i++)
        vx_free(in->findings[i]);
    vx_free(in->findings);
    for (size_t i = 0; i < in->n_recommendations; i++) {
        vx_free(in->recommendations[i].action);
        vx_free(in->recommendations[i].target);
    }
    vx_free(in->recommendations);
    memset(in, 0, sizeof *in);
}
