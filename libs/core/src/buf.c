/* Growable NUL-terminated buffer. */
#include "vx/buf.h"

#include "vx/alloc.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void vx_buf_init(vx_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void vx_buf_cleanup(vx_buf *b)
{
    vx_free(b->data);
    vx_buf_init(b);
}

void vx_buf_reset(vx_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void vx_buf_reserve(vx_buf *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    b->data = vx_xrealloc(b->data, cap);
    b->cap = cap;
}

void vx_buf_append(vx_buf *b, const void *data, size_t len)
{
    vx_buf_reserve(b, len);
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
}

void vx_buf_puts(vx_buf *b, const char *s)
{
    vx_buf_append(b, s, strlen(s));
}

void vx_buf_putc(vx_buf *b, char c)
{
    vx_buf_reserve(b, 1);
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void vx_buf_printf(vx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        vx_buf_append(b, small, (size_t)n);
        return;
    }
    vx_buf_reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

char *vx_buf_take(vx_buf *b, size_t *len)
{
    if (!b->data)
        vx_buf_append(b, "", 0);
    char *d = b->data;
    if (len)
        *len = b->len;
    vx_buf_init(b);
    return d;
}
