/* fake-llm: runs the fake LLM provider on 127.0.0.1 until SIGINT or SIGTERM, for benchmarks
 * (bench/llm.sh) and manual runs. Prints "fake-llm port=N mode=M latency_ms=L" once listening. */
#include "fake_llm.h"

#include "vx/alloc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: fake-llm [--port N] [--mode good|429|500|hang|broken|401|400|close]\n"
            "                [--latency-ms N] [--retry-after VALUE] [--content-file PATH]\n"
            "                [--usage IN,OUT] [--key KEY]\n"
            "Serves POST .../chat/completions (OpenAI-compatible) and .../messages (Anthropic)\n"
            "on 127.0.0.1 until SIGINT or SIGTERM. --port 0 (the default) picks a free port.\n");
}

static bool parse_int(const char *s, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = vx_xmalloc(1024 * 1024 + 1);
    size_t n = fread(buf, 1, 1024 * 1024, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

int main(int argc, char **argv)
{
    long long port = 0, latency = 0, in = -1, out = -1;
    fake_llm_mode mode = FAKE_LLM_GOOD;
    const char *retry_after = NULL, *content_file = NULL, *key = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        }
        if (!v) {
            usage();
            return 2;
        }
        i++;
        bool ok = true;
        if (strcmp(a, "--port") == 0)
            ok = parse_int(v, 0, 65535, &port);
        else if (strcmp(a, "--mode") == 0)
            ok = fake_llm_mode_parse(v, &mode);
        else if (strcmp(a, "--latency-ms") == 0)
            ok = parse_int(v, 0, 3600000, &latency);
        else if (strcmp(a, "--retry-after") == 0)
            retry_after = v;
        else if (strcmp(a, "--content-file") == 0)
            content_file = v;
        else if (strcmp(a, "--key") == 0)
            key = v;
        else if (strcmp(a, "--usage") == 0)
            ok = sscanf(v, "%lld,%lld", &in, &out) == 2 && in >= 0 && out >= 0;
        else
            ok = false;
        if (!ok) {
            fprintf(stderr, "fake-llm: bad %s %s\n", a, v);
            usage();
            return 2;
        }
    }
    /* Block the stop signals in every thread; the main thread waits for them. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    fake_llm *f = fake_llm_start((int)port);
    if (!f) {
        fprintf(stderr, "fake-llm: cannot listen on 127.0.0.1:%lld: %s\n", port, strerror(errno));
        return 1;
    }
    fake_llm_set_mode(f, mode);
    fake_llm_set_latency_ms(f, latency);
    if (retry_after)
        fake_llm_set_retry_after(f, retry_after);
    if (key)
        fake_llm_set_expected_key(f, key);
    if (in >= 0)
        fake_llm_set_usage(f, (uint64_t)in, (uint64_t)out);
    if (content_file) {
        char *content = read_file(content_file);
        if (!content) {
            fprintf(stderr, "fake-llm: cannot read %s: %s\n", content_file, strerror(errno));
            fake_llm_stop(f);
            return 1;
        }
        fake_llm_set_content(f, content);
        vx_free(content);
    }
    printf("fake-llm port=%d mode=%s latency_ms=%lld\n", fake_llm_port(f), fake_llm_mode_name(mode),
           latency);
    fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    fprintf(stderr, "fake-llm: %s, %llu requests on %llu connections\n",
            sig == SIGINT ? "interrupted" : "terminated", (unsigned long long)fake_llm_requests(f),
            (unsigned long long)fake_llm_connections(f));
    fake_llm_stop(f);
    return 0;
}
