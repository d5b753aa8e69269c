/* UUID parse/format, v4 from the kernel's random source, v5 with OpenSSL's SHA-1. */
#include "vx/uuid.h"

#include "vx/hex.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

bool vx_uuid_parse(const char *s, size_t len, vx_uuid *out)
{
    if (len != VX_UUID_STR_LEN)
        return false;
    vx_uuid u;
    size_t j = 0;
    for (size_t i = 0; i < len;) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
            i++;
            continue;
        }
        int hi = vx_hex_digit(s[i]), lo = vx_hex_digit(s[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        u.b[j++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    *out = u;
    return true;
}

void vx_uuid_format(const vx_uuid *u, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t k = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[k++] = '-';
        out[k++] = hex[u->b[i] >> 4];
        out[k++] = hex[u->b[i] & 15];
    }
    out[k] = '\0';
}

void vx_uuid_v4(vx_uuid *out)
{
    size_t got = 0;
    while (got < sizeof out->b) {
        ssize_t n = getrandom(out->b + got, sizeof out->b - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            abort();
        }
        got += (size_t)n;
    }
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x40);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}

void vx_uuid_v5(const vx_uuid *ns, const void *name, size_t len, vx_uuid *out)
{
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
        !EVP_DigestUpdate(ctx, ns->b, sizeof ns->b) || !EVP_DigestUpdate(ctx, name, len) ||
        !EVP_DigestFinal_ex(ctx, digest, &dlen))
        abort();
    EVP_MD_CTX_free(ctx);
    memcpy(out->b, digest, 16);
    out->b[6] = (uint8_t)((out->b[6] & 0x0f) | 0x50);
    out->b[8] = (uint8_t)((out->b[8] & 0x3f) | 0x80);
}
