/* A fake LLM provider for tests and benchmarks: an HTTP/1.1 server on 127.0.0.1 (one thread
 * accepting, one per connection, keep-alive) that speaks the OpenAI-compatible
 * POST .../chat/completions and the Anthropic POST .../messages shapes. What it answers is set
 * at runtime: a good answer (configurable content), 429 with Retry-After, 500, a hang (no
 * answer until the client gives up or the server stops), broken JSON content, 401 or 400, or a
 * close right after reading the request; with a fixed latency. It counts requests and connections
 * and keeps the last request's headers and body, so tests can check the prompt and that no key
 * leaked into it. All calls are thread-safe. */
#ifndef VX_FAKE_LLM_H
#define VX_FAKE_LLM_H

#include <stdbool.h>
#include <stdint.h>

typedef enum {
    FAKE_LLM_GOOD,         /* 200 with the content and usage set */
    FAKE_LLM_RATE_LIMIT,   /* 429, with Retry-After when one is set */
    FAKE_LLM_ERROR_500,    /* 500 */
    FAKE_LLM_HANG,         /* never answers */
    FAKE_LLM_BROKEN,       /* 200 whose content is cut-off JSON (usage still reported) */
    FAKE_LLM_UNAUTHORIZED, /* 401 whose message echoes the key received */
    FAKE_LLM_BAD_REQUEST,  /* 400 (e.g. an unknown model) */
    FAKE_LLM_CLOSE,        /* reads the request, then closes the connection without answering */
} fake_llm_mode;

typedef struct fake_llm fake_llm;

/* A valid insight answer, the default content. */
extern const char fake_llm_default_content[];

/* Listens on 127.0.0.1:port (0: a free port). NULL (with errno) if it cannot listen. */
fake_llm *fake_llm_start(int port);
/* Closes every connection, joins every thread and frees it. NULL is fine. */
void fake_llm_stop(fake_llm *f);
int fake_llm_port(const fake_llm *f);

/* The mode for every request (default FAKE_LLM_GOOD). */
void fake_llm_set_mode(fake_llm *f, fake_llm_mode mode);
/* Queues a mode for one request; queued modes are used first, in order (at most 64). */
void fake_llm_push_mode(fake_llm *f, fake_llm_mode mode);
/* Delay before each answer (default 0). */
void fake_llm_set_latency_ms(fake_llm *f, int64_t ms);
/* The model's text in good answers (copied); NULL restores fake_llm_default_content. */
void fake_llm_set_content(fake_llm *f, const char *content);
/* The Retry-After value sent with 429 (copied), e.g. "30" or an HTTP date; NULL: none. */
void fake_llm_set_retry_after(fake_llm *f, const char *value);
/* Token usage reported in 200 answers (default 1200 in, 300 out). */
void fake_llm_set_usage(fake_llm *f, uint64_t input_tokens, uint64_t output_tokens);
/* When set, a request whose Authorization: Bearer / x-api-key is not this key gets 401. */
void fake_llm_set_expected_key(fake_llm *f, const char *key);

uint64_t fake_llm_requests(const fake_llm *f);    /* requests received (complete ones) */
uint64_t fake_llm_connections(const fake_llm *f); /* connections accepted */
/* Copies of the last request's body and of its request line and headers ("" before any);
 * the caller frees them with vx_free. */
char *fake_llm_last_body(fake_llm *f);
char *fake_llm_last_headers(fake_llm *f);

const char *fake_llm_mode_name(fake_llm_mode mode);
/* "good", "429", "500", "hang", "broken", "401", "400", "close". */
bool fake_llm_mode_parse(const char *s, fake_llm_mode *out);

#endif
