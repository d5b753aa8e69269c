/* The Error table and the reply envelope: every reply of the contracts is a oneof `outcome`
 * of `result` (field 1) and `error` (field 2), so one generic pair of helpers serves them all
 * through protobuf-c's descriptors. */
#include "vx/alloc.h"
#include "vx/contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const vx_contract_error_info errors[] = {
#define VX_CONTRACT_ERROR_ROW(code, name, status, http, type, title)                               \
    {VALDRIX__V1__ERROR__CODE__CODE_##code, name, status, http, type, title},
    VX_CONTRACT_ERROR_MAP(VX_CONTRACT_ERROR_ROW)
#undef VX_CONTRACT_ERROR_ROW
};
#define N_ERRORS (sizeof errors / sizeof errors[0])

const vx_contract_error_info *vx_contract_error_of_code(int code)
{
    const vx_contract_error_info *internal = NULL;
    for (size_t i = 0; i < N_ERRORS; i++) {
        if ((int)errors[i].code == code)
            return &errors[i];
        if (errors[i].code == VALDRIX__V1__ERROR__CODE__CODE_INTERNAL)
            internal = &errors[i];
    }
    return internal;
}

Valdrix__V1__Error__Code vx_contract_code_of_status(vx_status st)
{
    switch (st) {
    case VX_INVALID:
    case VX_NOT_FOUND:
        return VALDRIX__V1__ERROR__CODE__CODE_INVALID;
    case VX_LIMIT:
        return VALDRIX__V1__ERROR__CODE__CODE_LIMITED;
    case VX_TIMEOUT:
        return VALDRIX__V1__ERROR__CODE__CODE_DEADLINE;
    case VX_UNAVAILABLE:
    case VX_IO:
    case VX_CLOSED:
    case VX_CONFLICT:
    case VX_FULL:
        return VALDRIX__V1__ERROR__CODE__CODE_UNAVAILABLE;
    default:
        return VALDRIX__V1__ERROR__CODE__CODE_INTERNAL;
    }
}

/* The reply's oneof member `name` ("result" or "error"); NULL if desc is not a reply. */
static const ProtobufCFieldDescriptor *member(const ProtobufCMessageDescriptor *desc,
                                              const char *name)
{
    const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(desc, name);
    if (f == NULL || f->type != PROTOBUF_C_TYPE_MESSAGE ||
        !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF))
        return NULL;
    return f;
}

/* A caller passed the descriptor of a message that is no reply: a programming error. */
_Noreturn static void not_a_reply(const ProtobufCMessageDescriptor *desc)
{
    fprintf(stderr, "vx_contract: %s is not a reply (oneof result, error)\n", desc->name);
    abort();
}

/* Packs a reply of `desc` whose outcome is `field`, pointing at `value` (borrowed). */
static uint8_t *pack_outcome(const ProtobufCMessageDescriptor *desc, const char *field,
                             const void *value, size_t *len)
{
    const ProtobufCFieldDescriptor *f = member(desc, field);
    if (f == NULL)
        not_a_reply(desc);
    void *shell = vx_xcalloc(1, desc->sizeof_message);
    desc->message_init(shell);
    char *base = shell;
    uint32_t id = f->id;
    memcpy(base + f->quantifier_offset, &id, sizeof id);
    memcpy(base + f->offset, &value, sizeof value);
    *len = protobuf_c_message_get_packed_size(shell);
    uint8_t *out = vx_xmalloc(*len ? *len : 1);
    protobuf_c_message_pack(shell, out);
    vx_free(shell);
    return out;
}

uint8_t *vx_contract_reply_result(const ProtobufCMessageDescriptor *desc,
                                  const ProtobufCMessage *result, size_t *len)
{
    return pack_outcome(desc, "result", result, len);
}

uint8_t *vx_contract_reply_error(const ProtobufCMessageDescriptor *desc, int code,
                                 const char *message, size_t *len)
{
    char msg[VX_CONTRACT_MAX_MESSAGE_BYTES + 1];
    size_t n = 0, have = message ? strlen(message) : 0;
    /* cut at a character boundary so the message stays UTF-8 when it was */
    while (n < have) {
        size_t k = vx_contract_utf8_seq(message + n, have - n);
        if (k == 0)
            k = 1;
        if (n + k > VX_CONTRACT_MAX_MESSAGE_BYTES)
            break;
        n += k;
    }
    memcpy(msg, message ? message : "", n);
    msg[n] = '\0';
    Valdrix__V1__Error e;
    valdrix__v1__error__init(&e); /* not the INIT macro: it casts away const (-Wcast-qual) */
    e.code = (Valdrix__V1__Error__Code)code;
    e.message = msg;
    return pack_outcome(desc, "error", &e, len);
}

vx_status vx_contract_reply_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *data,
                                   size_t len, vx_contract_reply *out, char *why, size_t why_cap)
{
    const ProtobufCFieldDescriptor *fr = member(desc, "result"), *fe = member(desc, "error");
    if (fr == NULL || fe == NULL)
        not_a_reply(desc);
    ProtobufCMessage *m =
        protobuf_c_message_unpack(desc, NULL, len, len ? data : (const uint8_t *)"");
    if (m == NULL) {
        vx_errf(why, why_cap, "a reply that is not a%s %s",
                strchr("AEIOU", desc->short_name[0]) ? "n" : "", desc->short_name);
        return VX_INVALID;
    }
    const char *base = (const char *)m;
    uint32_t which;
    memcpy(&which, base + fr->quantifier_offset, sizeof which);
    void *value;
    memcpy(&value, base + fr->offset, sizeof value); /* result and error share the union */
    if (value == NULL || (which != fr->id && which != fe->id)) {
        protobuf_c_message_free_unpacked(m, NULL);
        vx_errf(why, why_cap, "neither a result nor an error");
        return VX_INVALID;
    }
    out->msg = m;
    out->result = which == fr->id ? value : NULL;
    out->error = which == fe->id ? value : NULL;
    return VX_OK;
}

void vx_contract_reply_cleanup(vx_contract_reply *r)
{
    if (r == NULL)
        return;
    if (r->msg != NULL)
        protobuf_c_message_free_unpacked(r->msg, NULL);
    memset(r, 0, sizeof *r);
}
