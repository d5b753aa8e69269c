/* The router's HTTP transport over libcurl (internal to libs/llm). */
#ifndef VX_LLM_HTTP_H
#define VX_LLM_HTTP_H

#include "wire.h"

#include "vx/buf.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Responses larger than this are refused (an answer is at most a few KiB). */
#define LLM_HTTP_MAX_BODY (1024 * 1024)

typedef struct llm_http llm_http;

/* What the opt-in header trace needs to redact its lines. */
typedef struct {
    const char *provider;
    const char *const *keys;
    size_t n_keys;
} llm_http_trace;

typedef struct {
    const char *url;
    const struct curl_slist *headers;
    const char *body;
    size_t body_len;
    int64_t timeout_ms;
    int64_t connect_timeout_ms;
    bool https_only;
    const llm_http_trace *trace; /* used only when the transport was created with debug */
} llm_http_request;

typedef struct {
    CURLcode code; /* CURLE_OK when a response came back */
    long status;   /* HTTP status, 0 without a response */
    vx_buf body;
    bool too_large;                    /* the body passed LLM_HTTP_MAX_BODY */
    char retry_after[72];              /* raw Retry-After value, "" if none */
    char detail[CURL_ERROR_SIZE + 64]; /* curl's reason when code is not CURLE_OK */
    uint64_t sent_bytes; /* request bytes (headers and body) written to a connection, on any
                            connection libcurl tried: 0 means the provider cannot have received
                            the request (DNS, connect or TLS failed first) */
} llm_http_response;

/* NULL if libcurl cannot be initialised. Thread-safe after creation. */
llm_http *llm_http_create(bool debug);
void llm_http_destroy(llm_http *h);

/* One POST; always fills *resp, which the caller cleans up. Thread-safe. */
void llm_http_post(llm_http *h, const llm_http_request *req, llm_http_response *resp);
void llm_http_response_cleanup(llm_http_response *r);

#endif
