/* A growable byte buffer, always NUL-terminated, for building text (COPY rows, JSON, HTTP
 * responses, metrics). Caller-owned storage: vx_buf_init / vx_buf_cleanup. Not thread-safe. */
#ifndef VX_BUF_H
#define VX_BUF_H

#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until something is appended */
    size_t len;
    size_t cap;
} vx_buf;

void vx_buf_init(vx_buf *b);
void vx_buf_cleanup(vx_buf *b);
void vx_buf_reset(vx_buf *b); /* keeps the memory */
void vx_buf_reserve(vx_buf *b, size_t extra);
void vx_buf_append(vx_buf *b, const void *data, size_t len);
void vx_buf_puts(vx_buf *b, const char *s);
void vx_buf_putc(vx_buf *b, char c);
void vx_buf_printf(vx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the contents to the caller (free with vx_free) and leaves b empty. */
char *vx_buf_take(vx_buf *b, size_t *len);

#endif
