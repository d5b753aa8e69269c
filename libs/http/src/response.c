/* Serialising answers: status line, the headers every answer carries (Date, Content-Length,
 * x-request-id, Connection), problem+json bodies; and vx_http_respond, callable from any thread. */
#include "http_internal.h"

#include "vx/alloc.h"
#include "vx/uuid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROBLEM_BASE "https://valdrix.dev/problems/"

const char *vx_http_status_text(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 402:
        return "Payment Required";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 410:
        return "Gone";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 417:
        return "Expectation Failed";
    case 422:
        return "Unprocessable Content";
    case 428:
        return "Precondition Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}

/* IMF-fixdate, written by hand so that the locale cannot change it. */
static void put_date(vx_buf *out)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    vx_buf_printf(out, "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n", days[tm.tm_wday % 7],
                  tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
}

static bool no_body_status(int status)
{
    return status == 204 || status == 304;
}

void http_write_head(vx_buf *out, int status, const char *content_type, size_t body_len,
                     const char *request_id, bool close, bool http10_keep_alive)
{
    vx_buf_printf(out, "HTTP/1.1 %d %s\r\n", status, vx_http_status_text(status));
    put_date(out);
    if (content_type)
        vx_buf_printf(out, "Content-Type: %s\r\n", content_type);
    if (!no_body_status(status))
        vx_buf_printf(out, "Content-Length: %zu\r\n", body_len);
    vx_buf_printf(out, "x-request-id: %s\r\n", request_id);
    if (close)
        vx_buf_puts(out, "Connection: close\r\n");
    else if (http10_keep_alive)
        vx_buf_puts(out, "Connection: keep-alive\r\n");
}

/* JSON string contents; invalid UTF-8 becomes U+FFFD so the document stays valid. */
static void put_json_string(vx_buf *out, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    vx_buf_putc(out, '"');
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            vx_buf_putc(out, '\\');
            vx_buf_putc(out, (char)c);
            p++;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            vx_buf_putc(out, '\\');
            vx_buf_putc(out, c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
            p++;
        } else if (c < 0x20) {
            char esc[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            vx_buf_puts(out, esc);
            p++;
        } else if (c < 0x80) {
            vx_buf_putc(out, (char)c);
            p++;
        } else {
            size_t n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
            uint32_t cp = n == 4 ? c & 0x07u : n == 3 ? c & 0x0fu : c & 0x1fu;
            size_t i = 1;
            for (; n && i < n && (p[i] & 0xc0) == 0x80; i++)
                cp = (cp << 6) | (p[i] & 0x3fu);
            bool ok = n && i == n && !(n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) &&
                      !(n == 4 && (cp < 0x10000 || cp > 0x10ffff));
            if (ok) {
                vx_buf_append(out, p, n);
                p += n;
            } else {
                vx_buf_puts(out, "\\ufffd");
                p++;
            }
        }
    }
    vx_buf_putc(out, '"');
}

static void problem_body(vx_buf *out, int status, const char *type_suffix, const char *title,
                         const char *detail, const char *request_id)
{
    vx_buf_puts(out, "{\"type\":");
    char *type = vx_xasprintf("%s%s", PROBLEM_BASE, type_suffix ? type_suffix : "error");
    put_json_string(out, type);
    vx_free(type);
    vx_buf_puts(out, ",\"title\":");
    put_json_string(out, title ? title : vx_http_status_text(status));
    vx_buf_printf(out, ",\"status\":%d", status);
    if (detail) {
        vx_buf_puts(out, ",\"detail\":");
        put_json_string(out, detail);
    }
    vx_buf_puts(out, ",\"request_id\":");
    put_json_string(out, request_id);
    vx_buf_putc(out, '}');
}

static const char *problem_suffix(int status)
{
    switch (status) {
    case 408:
        return "request-timeout";
    case 413:
        return "body-too-large";
    case 414:
        return "uri-too-long";
    case 417:
        return "expectation-failed";
    case 431:
        return "headers-too-large";
    default:
        return "bad-request";
    }
}

char *http_problem_bytes(int status, const char *request_id, const char *detail, size_t *len)
{
    char fresh[VX_UUID_STR_LEN + 1];
    if (!request_id) {
        vx_uuid u;
        vx_uuid_v4(&u);
        vx_uuid_format(&u, fresh);
        request_id = fresh;
    }
    vx_buf body, out;
    vx_buf_init(&body);
    vx_buf_init(&out);
    problem_body(&body, status, problem_suffix(status), NULL, detail, request_id);
    http_write_head(&out, status, "application/problem+json", body.len, request_id, true, false);
    vx_buf_puts(&out, "\r\n");
    vx_buf_append(&out, body.data, body.len);
    vx_buf_cleanup(&body);
    return vx_buf_take(&out, len);
}

static bool is_token_char(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static bool header_ok(const vx_http_header *h)
{
    if (!h->name || !h->value || !h->name[0])
        return false;
    for (const unsigned char *p = (const unsigned char *)h->name; *p; p++)
        if (!is_token_char(*p))
            return false;
    for (const unsigned char *p = (const unsigned char *)h->value; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

static bool content_type_ok(const char *ct)
{
    vx_http_header h = {.name = "Content-Type", .value = ct};
    return !ct || header_ok(&h);
}

/* Builds the whole answer into req->out (on the calling thread), then posts it to the loop. */
static void respond_built(vx_http_request *req, int status, const char *content_type,
                          const vx_http_header *headers, size_t n_headers, const void *body,
                          size_t len)
{
    bool close = !req->keep_alive || req->upgrade || atomic_load(&req->loop->shared->draining);
    bool http10_keep_alive = !close && req->http_major == 1 && req->http_minor == 0;
    if (no_body_status(status))
        len = 0;
    vx_buf out;
    vx_buf_init(&out);
    vx_buf_reserve(&out, 256 + (req->head ? 0 : len));
    http_write_head(&out, status, content_type, len, req->id, close, http10_keep_alive);
    for (size_t i = 0; i < n_headers; i++)
        vx_buf_printf(&out, "%s: %s\r\n", headers[i].name, headers[i].value);
    vx_buf_puts(&out, "\r\n");
    if (!req->head && len)
        vx_buf_append(&out, body, len);
    req->out = vx_buf_take(&out, &req->out_len);
    req->out_close = close;
    http_loop_post(req->loop, req);
}

static void claim(vx_http_request *req)
{
    if (atomic_exchange(&req->responded, true)) {
        fputs("vx_http: a request was answered twice\n", stderr);
        abort();
    }
}

static bool headers_ok(const vx_http_header *headers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!header_ok(&headers[i]))
            return false;
    return true;
}

static void respond_internal_error(vx_http_request *req)
{
    vx_buf body;
    vx_buf_init(&body);
    problem_body(&body, 500, "internal", NULL, "the server built an invalid response", req->id);
    respond_built(req, 500, "application/problem+json", NULL, 0, body.data, body.len);
    vx_buf_cleanup(&body);
}

vx_status vx_http_respond(vx_http_request *req, int status, const char *content_type,
                          const vx_http_header *headers, size_t n_headers, const void *body,
                          size_t len)
{
    claim(req);
    if (status < 200 || status > 599 || !content_type_ok(content_type) || (n_headers && !headers) ||
        !headers_ok(headers, n_headers) || (len && !body)) {
        respond_internal_error(req);
        return VX_INVALID;
    }
    respond_built(req, status, content_type, headers, n_headers, body, len);
    return VX_OK;
}

vx_status vx_http_respond_problem(vx_http_request *req, int status, const char *type_suffix,
                                  const char *title, const char *detail)
{
    return vx_http_respond_problem_headers(req, status, type_suffix, title, detail, NULL, 0);
}

vx_status vx_http_respond_problem_headers(vx_http_request *req, int status, const char *type_suffix,
                                          const char *title, const char *detail,
                                          const vx_http_header *headers, size_t n_headers)
{
    claim(req);
    if (status < 200 || status > 599 || (n_headers && !headers) ||
        !headers_ok(headers, n_headers)) {
        respond_internal_error(req);
        return VX_INVALID;
    }
    vx_buf body;
    vx_buf_init(&body);
    problem_body(&body, status, type_suffix, title, detail, req->id);
    respond_built(req, status, "application/problem+json", headers, n_headers, body.data, body.len);
    vx_buf_cleanup(&body);
    return VX_OK;
}
