/* HTTP POSTs to providers over libcurl: a pool of easy handles (each keeps its connections for
 * the next call that borrows it) sharing one DNS and TLS-session cache; timeouts, TLS
 * verification, http/https only, a response size limit, Retry-After captured from the headers,
 * whether any request byte was written (so an unanswered call is known to be maybe billed), and
 * an opt-in header trace with keys redacted. */
#include "http.h"

#include "vx/alloc.h"
#include "vx/log.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define POOL_MAX 64

struct llm_http {
    pthread_mutex_t mu;
    CURL *idle[POOL_MAX];
    size_t n_idle;
    CURLSH *share;
    pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];
    bool debug;
};

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_status = CURLE_OK;

static void global_init(void)
{
    global_status = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ctx)
{
    (void)c;
    (void)access;
    llm_http *h = ctx;
    pthread_mutex_lock(&h->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ctx)
{
    (void)c;
    llm_http *h = ctx;
    pthread_mutex_unlock(&h->share_mu[data < CURL_LOCK_DATA_LAST ? data : 0]);
}

llm_http *llm_http_create(bool debug)
{
    pthread_once(&global_once, global_init);
    if (global_status != CURLE_OK)
        return NULL;
    llm_http *h = vx_xcalloc(1, sizeof *h);
    pthread_mutex_init(&h->mu, NULL);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_init(&h->share_mu[i], NULL);
    h->debug = debug;
    h->share = curl_share_init();
    if (h->share) {
        curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock);
        curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
        curl_share_setopt(h->share, CURLSHOPT_USERDATA, h);
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
        curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    }
    return h;
}

void llm_http_destroy(llm_http *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_idle; i++)
        curl_easy_cleanup(h->idle[i]);
    if (h->share)
        curl_share_cleanup(h->share);
    for (size_t i = 0; i < CURL_LOCK_DATA_LAST; i++)
        pthread_mutex_destroy(&h->share_mu[i]);
    pthread_mutex_destroy(&h->mu);
    vx_free(h);
}

/* The most recently returned handle: it is the one most likely to hold a live connection. */
static CURL *acquire(llm_http *h)
{
    pthread_mutex_lock(&h->mu);
    CURL *c = h->n_idle ? h->idle[--h->n_idle] : NULL;
    pthread_mutex_unlock(&h->mu);
    return c ? c : curl_easy_init();
}

static void give_back(llm_http *h, CURL *c)
{
    pthread_mutex_lock(&h->mu);
    if (h->n_idle < POOL_MAX) {
        h->idle[h->n_idle++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (c)
        curl_easy_cleanup(c);
}

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
    llm_http_response *r = ctx;
    size_t len = size * n;
    if (r->body.len + len > LLM_HTTP_MAX_BODY) {
        r->too_large = true;
        return 0; /* curl stops with CURLE_WRITE_ERROR */
    }
    vx_buf_append(&r->body, data, len);
    return len;
}

static bool header_is(const char *line, size_t len, const char *name)
{
    size_t n = strlen(name);
    if (len <= n || line[n] != ':')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = line[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != name[i])
            return false;
    }
    return true;
}

static size_t on_header(char *data, size_t size, size_t n, void *ctx)
{
    llm_http_response *r = ctx;
    size_t len = size * n;
    /* A new status line (after a 100 Continue, say) starts a new set of headers. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0)
        r->retry_after[0] = '\0';
    else if (header_is(data, len, "retry-after")) {
        const char *v = data + 12;
        size_t vlen = len - 12;
        if (vlen >= sizeof r->retry_after)
            vlen = sizeof r->retry_after - 1;
        memcpy(r->retry_after, v, vlen);
        r->retry_after[vlen] = '\0';
    }
    return len;
}

/* What the debug callback works with during one call. */
typedef struct {
    const llm_http_trace *trace; /* NULL unless the opt-in header trace is on */
    llm_http_response *resp;
} debug_ctx;

/* Logs the header lines of one debug chunk: never bodies (which hold tenant data and answers),
 * with the values of Authorization and x-api-key replaced and anything key-like redacted. */
static void trace_lines(const llm_http_trace *t, const char *dir, const char *data, size_t size)
{
    size_t at = 0;
    while (at < size) {
        size_t end = at;
        while (end < size && data[end] != '\n')
            end++;
        size_t len = end - at;
        while (len && (data[at + len - 1] == '\r'))
            len--;
        if (len) {
            char line[1024];
            size_t n = len < sizeof line - 1 ? len : sizeof line - 1;
            memcpy(line, data + at, n);
            line[n] = '\0';
            if (header_is(line, n, "authorization") || header_is(line, n, "x-api-key")) {
                char *colon = strchr(line, ':');
                snprintf(colon + 1, sizeof line - (size_t)(colon + 1 - line), " ***");
            }
            llm_redact(line, t->keys, t->n_keys);
            vx_log(VX_LOG_DEBUG, "llm http", VX_STR("provider", t->provider), VX_STR("dir", dir),
                   VX_STR("line", line));
        }
        at = end + 1;
    }
}

/* Always installed: libcurl calls it with HEADER_OUT and DATA_OUT for request bytes it has
 * written to a connection, which is how a call knows that the provider may have received (and
 * may bill) the request. With the opt-in trace it also logs the header lines. */
static int on_debug(CURL *c, curl_infotype type, char *data, size_t size, void *ctx)
{
    (void)c;
    debug_ctx *d = ctx;
    if (!d) /* between calls (verbose is off then, but a handle in the pool is not our call) */
        return 0;
    if (type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT)
        d->resp->sent_bytes += size;
    if (!d->trace)
        return 0;
    switch (type) {
    case CURLINFO_TEXT:
        trace_lines(d->trace, "info", data, size);
        break;
    case CURLINFO_HEADER_IN:
        trace_lines(d->trace, "in", data, size);
        break;
    case CURLINFO_HEADER_OUT:
        trace_lines(d->trace, "out", data, size);
        break;
    default:
        break;
    }
    return 0;
}

void llm_http_post(llm_http *h, const llm_http_request *req, llm_http_response *resp)
{
    memset(resp, 0, sizeof *resp);
    vx_buf_init(&resp->body);
    CURL *c = acquire(h);
    if (!c) {
        resp->code = CURLE_FAILED_INIT;
        snprintf(resp->detail, sizeof resp->detail, "could not create a curl handle");
        return;
    }
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, req->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, req->headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, resp);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, req->https_only ? "https" : "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "valdrix-llm/1");
    if (h->share)
        curl_easy_setopt(c, CURLOPT_SHARE, h->share);
    /* VERBOSE only feeds on_debug (it writes nothing to stderr while a debug function is set) */
    debug_ctx dbg = {.trace = h->debug ? req->trace : NULL, .resp = resp};
    curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, &dbg);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    resp->code = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    resp->status = resp->code == CURLE_OK ? status : 0;
    /* A second witness of the same fact: the request bytes libcurl counts as issued. */
    long request_size = 0;
    if (curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_size) == CURLE_OK &&
        request_size > 0 && resp->sent_bytes == 0)
        resp->sent_bytes = (uint64_t)request_size;
    if (resp->code != CURLE_OK)
        snprintf(resp->detail, sizeof resp->detail, "%s%s%s", curl_easy_strerror(resp->code),
                 errbuf[0] ? ": " : "", errbuf);
    /* The handle must not keep pointers into this call's stack. */
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(c, CURLOPT_DEBUGDATA, NULL);
    curl_easy_setopt(c, CURLOPT_VERBOSE, 0L);
    give_back(h, c);
}

void llm_http_response_cleanup(llm_http_response *r)
{
    vx_buf_cleanup(&r->body);
}
