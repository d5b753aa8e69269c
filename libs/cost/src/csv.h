/* A streaming RFC 4180 record reader (quoted fields, doubled quotes, CRLF or LF, a UTF-8 BOM),
 * with each record bounded in size so that a malformed file cannot take all memory.
 * Internal to libs/cost; one reader per FILE, not thread-safe. */
#ifndef VX_COST_CSV_H
#define VX_COST_CSV_H

#include "vx/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VX_CSV_MAX_RECORD_BYTES (1024u * 1024u)
#define VX_CSV_MAX_FIELDS 4096u

typedef struct {
    size_t off; /* into vx_csv.text */
    size_t len;
} vx_csv_span;

typedef struct {
    FILE *f; /* borrowed */
    unsigned char in[64 * 1024];
    size_t in_pos, in_len;
    bool in_eof;
    bool started;         /* BOM handled */
    uint64_t line;        /* physical line of the next byte, 1-based */
    uint64_t record_line; /* first line of the last record */
    vx_buf text;          /* field bytes of the last record, each followed by NUL */
    vx_csv_span *fields;
    size_t n_fields, cap_fields;
} vx_csv;

typedef enum {
    VX_CSV_RECORD, /* fields of the next record are ready */
    VX_CSV_BAD,    /* the record was malformed (why says how); the reader is past it */
    VX_CSV_END,    /* no more records */
    VX_CSV_IO,     /* reading the FILE failed */
} vx_csv_result;

void vx_csv_init(vx_csv *c, FILE *f);
void vx_csv_cleanup(vx_csv *c);
/* Reads the next non-empty record. Blank lines are skipped. */
vx_csv_result vx_csv_next(vx_csv *c, char *why, size_t why_cap);
/* Field i of the last record (NUL-terminated; may hold NUL bytes within len). */
static inline const char *vx_csv_field(const vx_csv *c, size_t i, size_t *len)
{
    *len = c->fields[i].len;
    return c->text.data + c->fields[i].off;
}

#endif
