/* The request object: its memory (freed after the answer), the accessors, query-string
 * decoding and the choice of x-request-id and trace. */
#include "http_internal.h"

#include "vx/alloc.h"
#include "vx/hex.h"
#include "vx/uuid.h"

#include <string.h>
#include <strings.h>

/* Decoded query values live in blocks freed with the request. */
struct http_arena_block {
    http_arena_block *next;
    char data[];
};

static char *arena_alloc(vx_http_request *req, size_t size)
{
    http_arena_block *b = vx_xmalloc(sizeof *b + size);
    b->next = req->arena;
    req->arena = b;
    return b->data;
}

vx_http_request *http_request_create(http_conn *c)
{
    vx_http_request *req = vx_xcalloc(1, sizeof *req);
    http_loop *l = c->loop;
    req->loop = l;
    req->conn = c;
    atomic_init(&req->responded, false);
    vx_buf_init(&req->url);
    vx_buf_init(&req->hdr);
    vx_buf_init(&req->body);
    req->query = "";
    memcpy(req->remote_addr, c->remote_addr, sizeof req->remote_addr);
    req->remote_port = c->remote_port;
    req->next = l->live;
    if (l->live)
        l->live->prev = req;
    l->live = req;
    return req;
}

void http_request_free(vx_http_request *req)
{
    if (!req)
        return;
    http_loop *l = req->loop;
    if (req->prev)
        req->prev->next = req->next;
    else
        l->live = req->next;
    if (req->next)
        req->next->prev = req->prev;
    vx_buf_cleanup(&req->url);
    vx_buf_cleanup(&req->hdr);
    vx_buf_cleanup(&req->body);
    vx_free(req->hdrs);
    while (req->arena) {
        http_arena_block *b = req->arena;
        req->arena = b->next;
        vx_free(b);
    }
    vx_free(req->out);
    vx_free(req);
}

static bool id_is_sane(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (s[n] <= 0x20 || s[n] >= 0x7f || n >= HTTP_REQUEST_ID_MAX)
            return false;
    return n > 0;
}

const char *http_request_client_id(const vx_http_request *req)
{
    const char *id = vx_http_request_header(req, "x-request-id");
    return id && id_is_sane(id) ? id : NULL;
}

void http_request_finalize(vx_http_request *req)
{
    if (!req->url.data)
        vx_buf_puts(&req->url, "");
    if (!req->body.data)
        vx_buf_puts(&req->body, "");
    else
        req->body.data[req->body.len] = '\0';
    char *url = req->url.data;
    size_t n = 0;
    while (n < req->url.len && url[n] != '?' && url[n] != '#')
        n++;
    req->path_len = n;
    if (n < req->url.len && url[n] == '?') {
        size_t q = n + 1;
        size_t end = q;
        while (end < req->url.len && url[end] != '#')
            end++;
        url[end] = '\0'; /* drops the fragment; the path stays readable through path_len */
        req->query = url + q;
    }

    const char *id = http_request_client_id(req);
    if (id) {
        strcpy(req->id, id);
    } else {
        vx_uuid u;
        vx_uuid_v4(&u);
        vx_uuid_format(&u, req->id);
    }
    const char *tp = vx_http_request_header(req, "traceparent");
    if (!tp || !vx_trace_parse(tp, strlen(tp), &req->trace))
        vx_trace_new(&req->trace);
}

const char *vx_http_request_method(const vx_http_request *req)
{
    return llhttp_method_name((llhttp_method_t)req->method);
}

const char *vx_http_request_path(const vx_http_request *req, size_t *len)
{
    if (len)
        *len = req->path_len;
    return req->url.data;
}

const char *vx_http_request_query_string(const vx_http_request *req)
{
    return req->query;
}

bool vx_http_percent_decode(const char *s, size_t len, bool plus_as_space, char *out,
                            size_t *out_len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < len ? vx_hex_digit(s[i + 1]) : -1;
            int lo = hi >= 0 ? vx_hex_digit(s[i + 2]) : -1;
            if (lo < 0)
                return false;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_as_space) {
            c = ' ';
        }
        if (c == '\0')
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    *out_len = n;
    return true;
}

vx_status vx_http_request_query(vx_http_request *req, const char *name, const char **out_value)
{
    const char *p = req->query;
    size_t want = strlen(name);
    while (*p) {
        const char *end = strchr(p, '&');
        size_t pair_len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', pair_len);
        size_t name_len = eq ? (size_t)(eq - p) : pair_len;
        if (pair_len > 0) {
            char *decoded = arena_alloc(req, name_len + 1);
            size_t dlen;
            if (!vx_http_percent_decode(p, name_len, true, decoded, &dlen))
                return VX_INVALID;
            if (dlen == want && memcmp(decoded, name, want) == 0) {
                const char *v = eq ? eq + 1 : p + pair_len;
                size_t vlen = (size_t)(p + pair_len - v);
                char *value = arena_alloc(req, vlen + 1);
                if (!vx_http_percent_decode(v, vlen, true, value, &dlen))
                    return VX_INVALID;
                *out_value = value;
                return VX_OK;
            }
        }
        if (!end)
            break;
        p = end + 1;
    }
    return VX_NOT_FOUND;
}

const char *vx_http_request_header(const vx_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_hdrs; i++)
        if (strcasecmp(req->hdr.data + req->hdrs[i].name_off, name) == 0)
            return req->hdr.data + req->hdrs[i].value_off;
    return NULL;
}

size_t vx_http_request_header_count(const vx_http_request *req)
{
    return req->n_hdrs;
}

void vx_http_request_header_at(const vx_http_request *req, size_t i, const char **name,
                               const char **value)
{
    *name = req->hdr.data + req->hdrs[i].name_off;
    *value = req->hdr.data + req->hdrs[i].value_off;
}

const char *vx_http_request_body(const vx_http_request *req, size_t *len)
{
    if (len)
        *len = req->body.len;
    return req->body.data;
}

const char *vx_http_request_remote_addr(const vx_http_request *req)
{
    return req->remote_addr;
}

int vx_http_request_remote_port(const vx_http_request *req)
{
    return req->remote_port;
}

const char *vx_http_request_id(const vx_http_request *req)
{
    return req->id;
}

const vx_trace *vx_http_request_trace(const vx_http_request *req)
{
    return &req->trace;
}

struct uv_loop_s *vx_http_request_loop(const vx_http_request *req)
{
    return req->loop->uv;
}

unsigned vx_http_request_loop_index(const vx_http_request *req)
{
    return req->loop->index;
}
