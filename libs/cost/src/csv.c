/* RFC 4180 record reading over a FILE, byte by byte through a private buffer. Lenient where
 * exporters commonly are (a quote inside an unquoted field is taken literally), strict where a
 * mistake would shift data (text after a closing quote, an unterminated quote, size limits). */
#include "csv.h"

#include "cost_internal.h"
#include "vx/alloc.h"

#include <string.h>

void vx_csv_init(vx_csv *c, FILE *f)
{
    memset(c, 0, sizeof *c);
    c->f = f;
    c->line = 1;
    vx_buf_init(&c->text);
}

void vx_csv_cleanup(vx_csv *c)
{
    vx_buf_cleanup(&c->text);
    vx_free(c->fields);
    c->fields = NULL;
}

/* -1 at the end of the input or on a read error (told apart by ferror). */
static int peek(vx_csv *c)
{
    if (c->in_pos == c->in_len) {
        if (c->in_eof)
            return -1;
        c->in_len = fread(c->in, 1, sizeof c->in, c->f);
        c->in_pos = 0;
        if (c->in_len == 0) {
            c->in_eof = true;
            return -1;
        }
    }
    return c->in[c->in_pos];
}

static int next(vx_csv *c)
{
    int ch = peek(c);
    if (ch >= 0)
        c->in_pos++;
    return ch;
}

typedef struct {
    bool too_long;
    bool too_many;
    bool quoted;     /* some field was quoted, so the record is not a blank line */
    const char *bad; /* first malformation seen, if any */
} record_state;

static void put_byte(vx_csv *c, record_state *st, int ch)
{
    if (c->text.len >= VX_CSV_MAX_RECORD_BYTES) {
        st->too_long = true;
        return;
    }
    vx_buf_putc(&c->text, (char)ch);
}

static void start_field(vx_csv *c, record_state *st)
{
    if (c->n_fields == VX_CSV_MAX_FIELDS) {
        st->too_many = true;
        return;
    }
    if (c->n_fields == c->cap_fields) {
        c->cap_fields = c->cap_fields ? c->cap_fields * 2 : 32;
        c->fields = vx_xrealloc(c->fields, c->cap_fields * sizeof *c->fields);
    }
    c->fields[c->n_fields++] = (vx_csv_span){c->text.len, 0};
}

static void end_field(vx_csv *c, record_state *st)
{
    if (st->too_many || st->too_long)
        return;
    vx_csv_span *f = &c->fields[c->n_fields - 1];
    f->len = c->text.len - f->off;
    vx_buf_putc(&c->text, '\0');
}

/* Consumes a line break whose first byte (CR or LF) was just read. */
static void end_line(vx_csv *c, int ch)
{
    if (ch == '\r' && peek(c) == '\n')
        next(c);
    c->line++;
}

typedef enum { FIELD_START, UNQUOTED, QUOTED, AFTER_QUOTE } field_state;

/* Reads one record, blank or not; false at the end of the input before any byte. */
static bool read_record(vx_csv *c, record_state *st)
{
    vx_buf_reset(&c->text);
    c->n_fields = 0;
    c->record_line = c->line;
    if (peek(c) < 0)
        return false;
    field_state fs = FIELD_START;
    start_field(c, st);
    for (;;) {
        int ch = next(c);
        if (ch < 0) {
            if (fs == QUOTED && !st->bad)
                st->bad = "unterminated quoted field";
            end_field(c, st);
            return true;
        }
        if (fs == FIELD_START) {
            if (ch == '"') {
                fs = QUOTED;
                st->quoted = true;
                continue;
            }
            fs = UNQUOTED;
        }
        switch (fs) {
        case FIELD_START:
        case UNQUOTED:
        case AFTER_QUOTE:
            if (ch == ',') {
                end_field(c, st);
                start_field(c, st);
                fs = FIELD_START;
            } else if (ch == '\n' || ch == '\r') {
                end_field(c, st);
                end_line(c, ch);
                return true;
            } else {
                if (fs == AFTER_QUOTE && !st->bad)
                    st->bad = "text after a closing quote";
                put_byte(c, st, ch);
                fs = fs == AFTER_QUOTE ? UNQUOTED : fs;
            }
            break;
        case QUOTED:
            if (ch == '"') {
                if (peek(c) == '"') {
                    next(c);
                    put_byte(c, st, '"');
                } else {
                    fs = AFTER_QUOTE;
                }
            } else {
                if (ch == '\n' || (ch == '\r' && peek(c) != '\n'))
                    c->line++;
                put_byte(c, st, ch);
            }
            break;
        }
    }
}

vx_csv_result vx_csv_next(vx_csv *c, char *why, size_t why_cap)
{
    if (!c->started) {
        c->started = true;
        static const unsigned char bom[3] = {0xef, 0xbb, 0xbf};
        /* The whole BOM is in the first buffer unless the file is shorter than it. */
        if (peek(c) == bom[0] && c->in_len - c->in_pos >= 3 &&
            memcmp(c->in + c->in_pos, bom, 3) == 0)
            c->in_pos += 3;
    }
    for (;;) {
        record_state st = {false, false, false, NULL};
        if (!read_record(c, &st))
            return ferror(c->f) ? VX_CSV_IO : VX_CSV_END;
        if (ferror(c->f))
            return VX_CSV_IO;
        if (st.too_long) {
            vx_errf(why, why_cap, "line %llu: record longer than %u bytes",
                    (unsigned long long)c->record_line, VX_CSV_MAX_RECORD_BYTES);
            return VX_CSV_BAD;
        }
        if (st.too_many) {
            vx_errf(why, why_cap, "line %llu: more than %u fields",
                    (unsigned long long)c->record_line, VX_CSV_MAX_FIELDS);
            return VX_CSV_BAD;
        }
        if (st.bad) {
            vx_errf(why, why_cap, "line %llu: %s", (unsigned long long)c->record_line, st.bad);
            return VX_CSV_BAD;
        }
        if (c->n_fields == 1 && c->fields[0].len == 0 && !st.quoted)
            continue; /* a blank line */
        return VX_CSV_RECORD;
    }
}
