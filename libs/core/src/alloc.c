/* Aborting allocation wrappers over a swappable allocator. */
#include "vx/alloc.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vx_allocator current = {malloc, realloc, free};

void vx_alloc_set(const vx_allocator *a)
{
    if (a)
        current = *a;
    else
        current = (vx_allocator){malloc, realloc, free};
}

static _Noreturn void oom(size_t size)
{
    fprintf(stderr, "{\"level\":\"error\",\"msg\":\"out of memory\",\"size_bytes\":%zu}\n", size);
    abort();
}

void *vx_xmalloc(size_t size)
{
    void *p = current.malloc_fn(size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

void *vx_xcalloc(size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        oom(SIZE_MAX);
    void *p = vx_xmalloc(n * size);
    memset(p, 0, n * size);
    return p;
}

void *vx_xrealloc(void *ptr, size_t size)
{
    void *p = current.realloc_fn(ptr, size ? size : 1);
    if (!p)
        oom(size);
    return p;
}

char *vx_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = vx_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *vx_xstrdup(const char *s)
{
    return vx_xstrndup(s, SIZE_MAX);
}

char *vx_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        oom(0);
    char *p = vx_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void vx_free(void *ptr)
{
    if (ptr)
        current.free_fn(ptr);
}
