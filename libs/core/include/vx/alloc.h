/* Allocation that never returns NULL: out-of-memory aborts (as redis zmalloc). The allocator
 * can be swapped, so tests can count allocations and catch leaks. */
#ifndef VX_ALLOC_H
#define VX_ALLOC_H

#include <stddef.h>

typedef struct {
    void *(*malloc_fn)(size_t size);
    void *(*realloc_fn)(void *ptr, size_t size);
    void (*free_fn)(void *ptr);
} vx_allocator;

/* Replaces the allocator (NULL restores libc's). Call before any allocation; not thread-safe. */
void vx_alloc_set(const vx_allocator *a);

/* Each aborts with a message on stderr when memory is exhausted; sizes of 0 return a unique
 * pointer. vx_xcalloc checks n * size for overflow. The result is owned by the caller and is
 * released with vx_free. Thread-safe if the allocator is. */
void *vx_xmalloc(size_t size);
void *vx_xcalloc(size_t n, size_t size);
void *vx_xrealloc(void *ptr, size_t size);
char *vx_xstrdup(const char *s);
char *vx_xstrndup(const char *s, size_t n);
/* printf into a new string. */
char *vx_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vx_free(void *ptr);

#endif
