/* libFuzzer target: provider response bodies through both envelope parsers (OpenAI-compatible
 * and Anthropic) and the error parser, the bytes as a Retry-After value, and the text helpers
 * that handle tenant strings and secrets (UTF-8 repair and cutting, key redaction). */
#include "wire.h"

#include "vx/alloc.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Valid UTF-8 without NUL, as jansson checks it. */
static void must_be_utf8(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        abort();
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    const vx_llm_api apis[] = {VX_LLM_API_OPENAI, VX_LLM_API_ANTHROPIC};
    for (size_t i = 0; i < 2; i++) {
        llm_reply r;
        char err[128] = "";
        vx_status st = llm_reply_parse(apis[i], body, size, &r, err, sizeof err);
        if (st == VX_OK ? !r.text : (r.text || !err[0]))
            abort(); /* text exactly when accepted; a refusal says why */
        if (r.has_usage && (r.input_tokens > 100000000 || r.output_tokens > 100000000))
            abort();
        llm_reply_cleanup(&r);
    }
    char small[24];
    if (llm_error_parse(body, size, small, sizeof small)) {
        if (strlen(small) >= sizeof small)
            abort();
        must_be_utf8(small); /* cut without splitting a character */
    }
    int64_t delay = -1;
    if (llm_retry_after_parse(body, size, 1700000000000, &delay) && delay < 0)
        abort();

    /* The same bytes as a C string: a tenant string, and a log line with a key in it. */
    char *text = vx_xstrndup(body, size);
    char *clean = llm_clean_str(text, 64);
    if (strlen(clean) > 64)
        abort();
    must_be_utf8(clean);
    vx_free(clean);
    char key[9] = "";
    size_t k = 0;
    for (size_t i = 0; i < size && k < 8; i++)
        if ((body[i] >= 'a' && body[i] <= 'z') || (body[i] >= '0' && body[i] <= '9'))
            key[k++] = body[i];
    key[k] = '\0';
    const char *keys[] = {key};
    llm_redact(text, keys, 1);
    if (k >= 3 && strstr(text, key))
        abort(); /* a configured key never survives redaction */
    vx_free(text);
    return 0;
}
