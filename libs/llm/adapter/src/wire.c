/* The providers' wire format: request bodies for OpenAI-compatible chat completions and
 * Anthropic messages, their response and error envelopes, Retry-After, and redaction of keys in
 * any text that may reach a log or an error message. */
#include "wire.h"

#include "vx/alloc.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Token counts above this are not believed (and the estimate is settled instead). */
#define MAX_SANE_TOKENS 100000000

char *llm_request_body(vx_llm_api api, const char *model, const vx_llm_prompt *p,
                       uint32_t max_output_tokens, size_t *len)
{
    json_t *root;
    if (api == VX_LLM_API_ANTHROPIC)
        root = json_pack("{s:s, s:I, s:f, s:s, s:[{s:s, s:s}]}", "model", model, "max_tokens",
                         (json_int_t)max_output_tokens, "temperature", 0.2, "system", p->system,
                         "messages", "role", "user", "content", p->user);
    else
        root = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:f, s:I, s:{s:s}}", "model", model,
                         "messages", "role", "system", "content", p->system, "role", "user",
                         "content", p->user, "temperature", 0.2, "max_tokens",
                         (json_int_t)max_output_tokens, "response_format", "type", "json_object");
    char *dumped = root ? json_dumps(root, JSON_COMPACT) : NULL;
    json_decref(root);
    char *body = vx_xstrdup(dumped ? dumped : "{}");
    free(dumped); /* jansson's allocator */
    if (len)
        *len = strlen(body);
    return body;
}

static bool get_tokens(json_t *usage, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(usage, key);
    if (!json_is_integer(v))
        return false;
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > MAX_SANE_TOKENS)
        return false;
    *out = (uint64_t)n;
    return true;
}

static void read_usage(json_t *root, const char *in_key, const char *out_key, llm_reply *r)
{
    json_t *usage = json_object_get(root, "usage");
    uint64_t in = 0, out = 0;
    if (json_is_object(usage) && get_tokens(usage, in_key, &in) &&
        get_tokens(usage, out_key, &out)) {
        r->input_tokens = in;
        r->output_tokens = out;
        r->has_usage = true;
    }
}

static vx_status parse_openai(json_t *root, llm_reply *r, char *err, size_t cap)
{
    read_usage(root, "prompt_tokens", "completion_tokens", r);
    json_t *choices = json_object_get(root, "choices");
    if (!json_is_array(choices) || json_array_size(choices) == 0) {
        vx_errf(err, cap, "response: no choices");
        return VX_INVALID;
    }
    json_t *choice = json_array_get(choices, 0);
    json_t *finish = json_object_get(choice, "finish_reason");
    r->truncated = json_is_string(finish) && strcmp(json_string_value(finish), "length") == 0;
    json_t *content = json_object_get(json_object_get(choice, "message"), "content");
    if (!json_is_string(content)) {
        vx_errf(err, cap, "response: choices[0].message.content is not text");
        return VX_INVALID;
    }
    r->text = vx_xstrndup(json_string_value(content), json_string_length(content));
    return VX_OK;
}

static vx_status parse_anthropic(json_t *root, llm_reply *r, char *err, size_t cap)
{
    read_usage(root, "input_tokens", "output_tokens", r);
    json_t *stop = json_object_get(root, "stop_reason");
    r->truncated = json_is_string(stop) && strcmp(json_string_value(stop), "max_tokens") == 0;
    json_t *content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        vx_errf(err, cap, "response: content is not a list of blocks");
        return VX_INVALID;
    }
    size_t total = 0, i;
    bool any = false;
    json_t *block;
    json_array_foreach(content, i, block)
    {
        json_t *type = json_object_get(block, "type");
        json_t *text = json_object_get(block, "text");
        if (json_is_string(type) && strcmp(json_string_value(type), "text") == 0 &&
            json_is_string(text)) {
            total += json_string_length(text);
            any = true;
        }
    }
    if (!any) {
        vx_errf(err, cap, "response: no text block in content");
        return VX_INVALID;
    }
    char *buf = vx_xmalloc(total + 1);
    size_t at = 0;
    json_array_foreach(content, i, block)
    {
        json_t *type = json_object_get(block, "type");
        json_t *text = json_object_get(block, "text");
        if (json_is_string(type) && strcmp(json_string_value(type), "text") == 0 &&
            json_is_string(text)) {
            memcpy(buf + at, json_string_value(text), json_string_length(text));
            at += json_string_length(text);
        }
    }
    buf[at] = '\0';
    r->text = buf;
    return VX_OK;
}

vx_status llm_reply_parse(vx_llm_api api, const char *body, size_t len, llm_reply *out, char *err,
                          size_t err_cap)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = body ? json_loadb(body, len, 0, &jerr) : NULL;
    if (!root) {
        vx_errf(err, err_cap, "response: not JSON");
        return VX_INVALID;
    }
    vx_status st;
    if (!json_is_object(root)) {
        vx_errf(err, err_cap, "response: not a JSON object");
        st = VX_INVALID;
    } else if (api == VX_LLM_API_ANTHROPIC) {
        st = parse_anthropic(root, out, err, err_cap);
    } else {
        st = parse_openai(root, out, err, err_cap);
    }
    json_decref(root);
    return st;
}

void llm_reply_cleanup(llm_reply *r)
{
    if (!r)
        return;
    vx_free(r->text);
    memset(r, 0, sizeof *r);
}

bool llm_error_parse(const char *body, size_t len, char *out, size_t cap)
{
    if (!body || cap == 0)
        return false;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, 0, &jerr);
    bool ok = false;
    json_t *e = json_object_get(root, "error");
    if (json_is_string(e)) {
        snprintf(out, cap, "%s", json_string_value(e));
        ok = true;
    } else if (json_is_object(e)) {
        json_t *type = json_object_get(e, "type");
        json_t *msg = json_object_get(e, "message");
        const char *t = json_is_string(type) ? json_string_value(type) : NULL;
        const char *m = json_is_string(msg) ? json_string_value(msg) : NULL;
        if (t || m) {
            snprintf(out, cap, "%s%s%s", t ? t : "", t && m ? ": " : "", m ? m : "");
            ok = true;
        }
    }
    json_decref(root);
    if (ok)
        llm_clip_utf8(out, cap - 1);
    return ok;
}

bool llm_retry_after_parse(const char *v, size_t len, int64_t now_wall_ms, int64_t *delay_ms)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len &&
           (v[len - 1] == ' ' || v[len - 1] == '\t' || v[len - 1] == '\r' || v[len - 1] == '\n'))
        len--;
    if (len == 0 || len > 64)
        return false;
    bool digits = true;
    for (size_t i = 0; i < len; i++)
        digits = digits && v[i] >= '0' && v[i] <= '9';
    if (digits) {
        /* v is not NUL-terminated, so no strtoll. Beyond 9 digits (~30 years) it is nonsense,
         * but clearly "a long time": the caller's cap applies. */
        int64_t secs = 0;
        for (size_t i = 0; i < len && i < 10; i++)
            secs = secs * 10 + (v[i] - '0');
        *delay_ms = len > 9 ? INT64_MAX / 4 : secs * 1000;
        return true;
    }
    /* An HTTP date (IMF-fixdate, or the obsolete RFC 850 and asctime forms); it must name a
     * weekday or month, so that stray words are not taken for dates. */
    char buf[65];
    memcpy(buf, v, len);
    buf[len] = '\0';
    bool letters = false, has_digit = false;
    for (size_t i = 0; i < len; i++) {
        letters = letters || (buf[i] >= 'A' && buf[i] <= 'Z') || (buf[i] >= 'a' && buf[i] <= 'z');
        has_digit = has_digit || (buf[i] >= '0' && buf[i] <= '9');
    }
    if (!letters || !has_digit)
        return false;
    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1)
        return false;
    /* Dates thousands of years away are as good as "a long time" (or "now"). */
    const int64_t far_s = INT64_MAX / 4000;
    int64_t secs = (int64_t)t;
    if (secs > far_s || now_wall_ms > far_s * 1000) {
        *delay_ms = secs > far_s ? INT64_MAX / 4 : 0;
        return true;
    }
    if (secs < 0)
        secs = 0;
    int64_t d = secs * 1000 - now_wall_ms;
    *delay_ms = d > 0 ? d : 0;
    return true;
}

/* ---- redaction ---- */

static bool token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '*' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* Replaces s[at, at+n) with "***". */
static void splice(char *s, size_t at, size_t n)
{
    size_t len = strlen(s);
    if (n >= 3) {
        memcpy(s + at, "***", 3);
        memmove(s + at + 3, s + at + n, len - at - n + 1);
    } else {
        memset(s + at, '*', n);
    }
}

static bool prefix_ci(const char *s, const char *p)
{
    for (; *p; s++, p++) {
        char a = *s, b = *p;
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b)
            return false;
    }
    return true;
}

void llm_redact(char *s, const char *const *keys, size_t n_keys)
{
    if (!s)
        return;
    for (size_t k = 0; k < n_keys; k++) {
        const char *key = keys[k];
        size_t klen = key ? strlen(key) : 0;
        if (klen == 0)
            continue;
        char *hit;
        size_t from = 0;
        while ((hit = strstr(s + from, key)) != NULL) {
            size_t at = (size_t)(hit - s);
            splice(s, at, klen);
            from = at + (klen >= 3 ? 3 : klen);
        }
    }
    /* Things that look like keys even when they are not ours (a provider echoing a key back,
     * partly masked or not). */
    static const char *const prefixes[] = {"sk-", "sk_", "gsk_", "xai-"};
    for (size_t i = 0; s[i]; i++) {
        if (i > 0 && token_char(s[i - 1]))
            continue;
        if (prefix_ci(s + i, "bearer ")) {
            size_t start = i + 7, n = 0;
            while (token_char(s[start + n]))
                n++;
            while (n && s[start + n - 1] == '.') /* a full stop ends the sentence, not the key */
                n--;
            if (n)
                splice(s, start, n);
            continue;
        }
        for (size_t p = 0; p < sizeof prefixes / sizeof prefixes[0]; p++) {
            if (!prefix_ci(s + i, prefixes[p]))
                continue;
            size_t n = 0;
            while (token_char(s[i + n]))
                n++;
            while (n && s[i + n - 1] == '.')
                n--;
            if (n >= strlen(prefixes[p]) + 6)
                splice(s, i, n);
            break;
        }
    }
}
