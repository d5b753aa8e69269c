/* Pointing protobuf-c string fields at const strings, without casts scattered around the code. */
#ifndef VX_PB_H
#define VX_PB_H

/* protobuf-c declares every string field `char *` and every repeated string field `char **`,
 * also in messages that are only built to be packed, where the strings are only read
 * (get_packed_size, pack) and never written or freed. To point such a field at a string
 * literal, a static table or a caller's const string, convert through these: the only place the
 * const is dropped. Never use them on a message that protobuf-c will free (free_unpacked) or
 * that some code writes through. A union rather than a cast, so -Wcast-qual stays on
 * everywhere else. Thread-safe. */
static inline char *vx_pb_str(const char *s)
{
    union {
        const char *in;
        char *out;
    } u = {.in = s};
    return u.out;
}

/* The same for a repeated string field: `v` holds the field's n_<name> const strings. */
static inline char **vx_pb_strv(const char *const *v)
{
    union {
        const char *const *in;
        char **out;
    } u = {.in = v};
    return u.out;
}

#endif
