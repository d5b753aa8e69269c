/* What services/llm answers: an InsightResult (also the value kept in the cache) or an Error,
 * packed as an InsightReply. Pure: no I/O. */
#ifndef VX_LLM_SVC_ANSWER_H
#define VX_LLM_SVC_ANSWER_H

#include "vx/llm.h"
#include "vx/status.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LLM_ANSWER_MAX_NOTES 16

/* An InsightResult; owns its insight and notes (llm_answer_cleanup). */
typedef struct {
    char tenant_id[37];
    char from[11], to[11];
    vx_llm_kind kind;
    char currency[4];
    vx_llm_insight insight;
    char provider[16];
    char model[128];
    bool cached;
    uint64_t data_version;
    char prompt_version[33];
    uint64_t input_tokens, output_tokens;
    uint64_t cost_micro_usd;
    char *notes[LLM_ANSWER_MAX_NOTES];
    size_t n_notes;
} llm_answer;

/* Copies a note into the answer (dropped past LLM_ANSWER_MAX_NOTES). */
void llm_answer_note(llm_answer *a, const char *note);
void llm_answer_cleanup(llm_answer *a); /* NULL and a zeroed struct are fine */

/* The packed InsightResult of `a` (for the cache). Caller frees with vx_free. */
uint8_t *llm_answer_pack(const llm_answer *a, size_t *len);
/* Reads a packed InsightResult back (from the cache), checking it as vx_llm_insight_parse
 * would check an answer. VX_INVALID when the bytes are not a sound result; *out written only on
 * VX_OK. */
vx_status llm_answer_unpack(const uint8_t *data, size_t len, llm_answer *out);

/* An InsightReply holding the result `a` (an Error reply is vx_contract_reply_error with
 * valdrix__v1__insight_reply__descriptor). Caller frees with vx_free. */
uint8_t *llm_reply_result(const llm_answer *a, size_t *len);

#endif
