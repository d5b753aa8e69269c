/* Hexadecimal digits, for the parsers that read them (UUIDs, %-escapes in URLs and queries). */
#ifndef VX_HEX_H
#define VX_HEX_H

/* The value of hex digit c (either case), or -1 if c is not one. */
static inline int vx_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

#endif
