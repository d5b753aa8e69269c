/* Decoding CostEventBatch messages from the bus. The wire bytes are walked first (no
 * allocation) to enforce the batch limits and to refuse strings with NUL bytes, which would be
 * silently cut short once unpacked; protobuf-c then unpacks under a memory budget. */
#include "cost_internal.h"

#include "vx/alloc.h"

#include <stdint.h>
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
    case 1: return "event_id";
    case 2: return "tenant_id";
    case 3: return "provider";
    case 4: return "sub_account_id";
    case 5: return "service_name";
    case 6: return "service_category";
    case 7: return "region_id";
    case 8: return "resource_id";
    case 9: return "charge_category";
    case 15: return "billing_currency";
    case 17: return "usage_unit";
    default: return NULL;
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
            vx_cost_why(why, why_cap, "not a CostEventBatch: event %zu: %s at byte %zu", index,
                        err, at);
            return false;
        }
        if (type != WT_LEN)
            continue;
        const char *name = string_field_name(field);
        if (name && has_nul(&sub)) {
            vx_cost_why(why, why_cap, "event %zu: %s: contains a NUL byte", index, name);
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
                vx_cost_why(why, why_cap, "not a CostEventBatch: event %zu: tag: %s at byte %zu",
                            index, err, at);
                return false;
            }
            if (et == WT_LEN && (ef == 1 || ef == 2) && has_nul(&text)) {
                vx_cost_why(why, why_cap, "event %zu: tags: %s contains a NUL byte", index,
                            ef == 1 ? "a key" : "a value");
                return false;
            }
        }
    }
    if (tags > VX_COST_MAX_TAGS) {
        vx_cost_why(why, why_cap, "event %zu: tags: %zu tags, more than %u", index, tags,
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
            vx_cost_why(why, why_cap, "not a CostEventBatch: %s at byte %zu", err, at);
            return false;
        }
        if (field != 1)
            continue;
        if (type != WT_LEN) {
            vx_cost_why(why, why_cap, "not a CostEventBatch: field 1 is not a message");
            return false;
        }
        /* Keep counting past the limit (it costs nothing) so the reason gives the real number;
         * events past the limit are not scanned further. */
        if (++events <= VX_COST_MAX_BATCH_EVENTS && !scan_event(sub, events - 1, why, why_cap))
            return false;
    }
    if (events > VX_COST_MAX_BATCH_EVENTS) {
        vx_cost_why(why, why_cap, "%zu events, more than %u", events, VX_COST_MAX_BATCH_EVENTS);
        return false;
    }
    return true;
}

/* Each block carries its size in a header so that frees can give the budget back. */
typedef struct {
    size_t left;
    bool exhausted;
} budget;

#define HEADER_BYTES (sizeof(max_align_t))

static void *budget_alloc(void *data, size_t size)
{
    budget *b = data;
    if (b) {
        if (size > b->left || b->left - size < HEADER_BYTES) {
            b->exhausted = true;
            return NULL;
        }
        b->left -= size + HEADER_BYTES;
    }
    unsigned char *p = vx_xmalloc(size + HEADER_BYTES);
    memcpy(p, &size, sizeof size);
    return p + HEADER_BYTES;
}

static void budget_free(void *data, void *ptr)
{
    if (!ptr)
        return;
    unsigned char *p = (unsigned char *)ptr - HEADER_BYTES;
    budget *b = data;
    if (b) {
        size_t size;
        memcpy(&size, p, sizeof size);
        b->left += size + HEADER_BYTES;
    }
    vx_free(p);
}

vx_status vx_cost_batch_decode(const void *data, size_t len, vx_cost_batch **out, char *why,
                               size_t why_cap)
{
    if (len > VX_COST_MAX_MESSAGE_BYTES) {
        vx_cost_why(why, why_cap, "message is %zu bytes, more than %u", len,
                    VX_COST_MAX_MESSAGE_BYTES);
        return VX_INVALID;
    }
    if (len > 0 && !data) {
        vx_cost_why(why, why_cap, "not a CostEventBatch: no data");
        return VX_INVALID;
    }
    static const uint8_t empty[1] = {0};
    const uint8_t *bytes = len ? data : empty;
    if (!scan_batch(bytes, len, why, why_cap))
        return VX_INVALID;
    budget b = {.left = len * BUDGET_PER_WIRE_BYTE + BUDGET_FIXED_BYTES, .exhausted = false};
    ProtobufCAllocator alloc = {budget_alloc, budget_free, &b};
    vx_cost_batch *batch = valdrix__v1__cost_event_batch__unpack(&alloc, len, bytes);
    if (!batch) {
        if (b.exhausted)
            vx_cost_why(why, why_cap,
                        "not a CostEventBatch: decoding would take more than %zu bytes",
                        len * BUDGET_PER_WIRE_BYTE + BUDGET_FIXED_BYTES);
        else
            vx_cost_why(why, why_cap, "not a CostEventBatch: malformed protobuf");
        return VX_INVALID;
    }
    *out = batch;
    return VX_OK;
}

void vx_cost_batch_free(vx_cost_batch *b)
{
    if (!b)
        return;
    /* Same block layout as during unpacking, without the budget. */
    ProtobufCAllocator alloc = {budget_alloc, budget_free, NULL};
    valdrix__v1__cost_event_batch__free_unpacked(b, &alloc);
}
