/* Decoding CostEventBatch messages from the bus. The wire bytes are walked first (no
 * allocation) to enforce the batch limits and to refuse strings with NUL bytes, which would be
 * silently cut short once unpacked; protobuf-c then unpacks under a memory budget. */
#include "cost_internal.h"

#include "vx/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Live bytes protobuf-c may hold while unpacking one message: generous for any real batch
 * (measured under 8x the wire size), but bounded for hostile ones such as millions of repeated
 * empty fields, each of which costs protobuf-c tens of bytes of bookkeeping. */
#define BUDGET_PER_WIRE_BYTE 16u
#define BUDGET_FIXED_BYTES (8u * 1024u * 1024u)

enum { WT_VARINT = 0, WT_FIXED64 = 1, WT_LEN = 2, WT_FIXED32 = 5 };

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
    const uint8_t *base; /* start of the whole message, for offsets in reasons */
} wire;

static bool read_varint(wire *w, uint64_t *out)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return false;
        uint8_t b = *w->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return true;
        }
    }
    return false;
}

/* Reads one field's key and, for length-delimited fields, its payload bounds. */
static bool read_field(wire *w, uint32_t *field, unsigned *type, wire *payload, const char **err)
{
    uint64_t key;
    if (!read_varint(w, &key)) {
        *err = "truncated field key";
        return false;
    }
    *field = (uint32_t)(key >> 3);
    *type = (unsigned)(key & 7);
    if (key >> 3 == 0 || key >> 3 > 0x1fffffff) {
        *err = "bad field number";
        return false;
    }
    uint64_t n;
    switch (*type) {
    case WT_VARINT:
        if (!read_varint(w, &n)) {
            *err = "truncated varint";
            return false;
        }
        return true;
    case WT_FIXED64:
    case WT_FIXED32: {
        size_t size = *type == WT_FIXED64 ? 8 : 4;
        if ((size_t)(w->end - w->p) < size) {
            *err = "truncated fixed-width field";
            return false;
        }
        w->p += size;
        return true;
    }
    case WT_LEN:
        if (!read_varint(w, &n) || n > (uint64_t)(w->end - w->p)) {
            *err = "truncated length-delimited field";
            return false;
        }
        payload->p = w->p;
        payload->end = w->p + n;
        payload->base = w->base;
        w->p += n;
        return true;
    default:
        *err = "unsupported wire type";
        return false;
    }
}

static const char *string_field_name(uint32_t field)
{
    switch (field) {
    case 1:
        return "event_id";
    case 2:
        return "tenant_id";
    case 3:
        return "provider";
    case 4:
        return "sub_account_id";
    case 5:
        return "service_name";
    case 6:
        return "service_category";
    case 7:
        return "region_id";
    case 8:
        return "resource_id";
    case 9:
        return "charge_category";
    case 15:
        return "billing_currency";
    case 17:
        return "usage_unit";
    default:
        return NULL;
    }
}

static bool has_nul(const wire *w)
{
    return memchr(w->p, '\0', (size_t)(w->end - w->p)) != NULL;
}

/* Walks one CostEvent: counts its tags and looks for NUL bytes in its strings. */
static bool scan_event(wire ev, size_t index, char *why, size_t why_cap)
{
    size_t tags = 0;
    while (ev.p < ev.end) {
        uint32_t field;
        unsigned type;
        wire sub = {0};
        const char *err = NULL;
        size_t at = (size_t)(ev.p - ev.base);
        if (!read_field(&ev, &field, &type, &sub, &err)) {
            vx_errf(why, why_cap, "not a CostEventBatch: event %zu: %s at byte %zu", index, err,
                    at);
            return false;
        }
        if (type != WT_LEN)
            continue;
        const char *name = string_field_name(field);
        if (name && has_nul(&sub)) {
            vx_errf(why, why_cap, "event %zu: %s: contains a NUL byte", index, name);
            return false;
        }
        if (field != 18)
            continue;
        tags++;
        while (sub.p < sub.end) {
            uint32_t ef;
            unsigned et;
            wire text = {0};
            at = (size_t)(sub.p - sub.base);
            if (!read_field(&sub, &ef, &et, &text, &err)) {
                vx_errf(why, why_cap, "not a CostEventBatch: event %zu: tag: %s at byte %zu", index,
                        err, at);
                return false;
            }
            if (et == WT_LEN && (ef == 1 || ef == 2) && has_nul(&text)) {
                vx_errf(why, why_cap, "event %zu: tags: %s contains a NUL byte", index,
                        ef == 1 ? "a key" : "a value");
                return false;
            }
        }
    }
    if (tags > VX_COST_MAX_TAGS) {
        vx_errf(why, why_cap, "event %zu: tags: %zu tags, more than %u", index, tags,
                VX_COST_MAX_TAGS);
        return false;
    }
    return true;
}

static bool scan_batch(const uint8_t *data, size_t len, char *why, size_t why_cap)
{
    wire w = {data, data + len, data};
    size_t events = 0;
    while (w.p < w.end) {
        uint32_t field;
        unsigned type;
        wire sub = {0};
        const char *err = NULL;
        size_t at = (size_t)(w.p - w.base);
        if (!read_field(&w, &field, &type, &sub, &err)) {
            vx_errf(why, why_cap, "not a CostEventBatch: %s at byte %zu", err, at);
            return false;
        }
        if (field != 1)
            continue;
        if (type != WT_LEN) {
            vx_errf(why, why_cap, "not a CostEventBatch: field 1 is not a message");
            return false;
        }
        /* Keep counting past the limit (it costs nothing) so the reason gives the real number;
         * events past the limit are not scanned further. */
        if (++events <= VX_COST_MAX_BATCH_EVENTS && !scan_event(sub, events - 1, why, why_cap))
            return false;
    }
    if (events > VX_COST_MAX_BATCH_EVENTS) {
        vx_errf(why, why_cap, "%zu events, more than %u", events, VX_COST_MAX_BATCH_EVENTS);
        return false;
    }
    return true;
}

/* Everything protobuf-c allocates for one batch comes from an arena: bump allocation in a few
 * large chunks, nothing freed until the whole batch is. The arena header sits at the start of
 * the first chunk and the batch message is protobuf-c's first allocation, so the batch pointer
 * leads back to its arena. */
#define ARENA_MAGIC 0x76786172656e6131ULL /* "vxarena1" */
#define ARENA_ALIGN (sizeof(max_align_t))

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t size, used;
    max_align_t data[]; /* the chunk's memory */
} arena_chunk;

typedef struct {
    uint64_t magic;
    arena_chunk *chunks; /* the current chunk first */
    size_t left;         /* budget still unspent */
    bool exhausted;
} arena;

#define ARENA_HEADER_BYTES ((sizeof(arena) + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN)

static arena_chunk *chunk_new(size_t size)
{
    arena_chunk *c = vx_xmalloc(sizeof *c + size);
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

static void *arena_alloc(void *data, size_t size)
{
    arena *a = data;
    size = (size + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (size > a->left) {
        a->exhausted = true;
        return NULL;
    }
    a->left -= size;
    arena_chunk *c = a->chunks;
    if (c->size - c->used < size) {
        size_t want = c->size * 2 > size ? c->size * 2 : size;
        arena_chunk *n = chunk_new(want);
        n->next = c;
        a->chunks = n;
        c = n;
    }
    void *p = (unsigned char *)c->data + c->used;
    c->used += size;
    return p;
}

static void arena_free(void *data, void *ptr)
{
    (void)data;
    (void)ptr; /* released with the whole arena */
}

static void arena_destroy(arena *a)
{
    arena_chunk *c = a->chunks;
    while (c) {
        arena_chunk *next = c->next;
        vx_free(c);
        c = next;
    }
}

/* A new arena whose first chunk holds the header and room for a typical batch. */
static arena *arena_create(size_t wire_len, size_t budget)
{
    size_t first = wire_len * 4 + 4096;
    arena_chunk *c = chunk_new(ARENA_HEADER_BYTES + first);
    arena *a = (arena *)(void *)c->data;
    c->used = ARENA_HEADER_BYTES;
    a->magic = ARENA_MAGIC;
    a->chunks = c;
    a->left = budget;
    a->exhausted = false;
    return a;
}

/* The arena of a batch returned by vx_cost_batch_decode. */
static arena *arena_of(vx_cost_batch *b)
{
    arena *a = (arena *)(void *)((unsigned char *)b - ARENA_HEADER_BYTES);
    if (a->magic != ARENA_MAGIC)
        abort(); /* not a batch from vx_cost_batch_decode: a programming error */
    return a;
}

vx_status vx_cost_batch_decode(const void *data, size_t len, vx_cost_batch **out, char *why,
                               size_t why_cap)
{
    if (len > VX_COST_MAX_MESSAGE_BYTES) {
        vx_errf(why, why_cap, "message is %zu bytes, more than %u", len, VX_COST_MAX_MESSAGE_BYTES);
        return VX_INVALID;
    }
    if (len > 0 && !data) {
        vx_errf(why, why_cap, "not a CostEventBatch: no data");
        return VX_INVALID;
    }
    static const uint8_t empty[1] = {0};
    const uint8_t *bytes = len ? data : empty;
    if (!scan_batch(bytes, len, why, why_cap))
        return VX_INVALID;
    arena *a = arena_create(len, len * BUDGET_PER_WIRE_BYTE + BUDGET_FIXED_BYTES);
    ProtobufCAllocator alloc = {arena_alloc, arena_free, a};
    vx_cost_batch *batch = valdrix__v1__cost_event_batch__unpack(&alloc, len, bytes);
    if (batch && (void *)batch != (void *)((unsigned char *)a + ARENA_HEADER_BYTES)) {
        /* protobuf-c allocated something before the message itself: cannot find the arena */
        abort();
    }
    if (!batch) {
        bool exhausted = a->exhausted;
        arena_destroy(a);
        if (exhausted)
            vx_errf(why, why_cap, "not a CostEventBatch: decoding would take more than %zu bytes",
                    len * BUDGET_PER_WIRE_BYTE + BUDGET_FIXED_BYTES);
        else
            vx_errf(why, why_cap, "not a CostEventBatch: malformed protobuf");
        return VX_INVALID;
    }
    *out = batch;
    return VX_OK;
}

void vx_cost_batch_free(vx_cost_batch *b)
{
    if (!b)
        return;
    arena_destroy(arena_of(b));
}
