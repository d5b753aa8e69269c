/* The one rule for integration tests without their servers: a test whose stack is missing
 * skips, except under `make test` (VX_TEST_REQUIRE_SERVERS=1), where a missing server is a
 * failure. vx_test_env for the variables that name the servers, vx_test_unreachable for a server
 * named but not answering; a whole binary skips by returning VX_TEST_SKIP from main, one test by
 * cmocka's skip(). */
#ifndef VX_TEST_ENV_H
#define VX_TEST_ENV_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Exit status of a test binary that skipped as a whole (vx_test sets it as CTest's
 * SKIP_RETURN_CODE). */
#define VX_TEST_SKIP 77

static inline bool vx_test_servers_required(void)
{
    const char *req = getenv("VX_TEST_REQUIRE_SERVERS");
    return req && req[0] == '1' && req[1] == '\0';
}

/* The variable's value; when unset, fails the test run under make test, otherwise returns NULL
 * so the caller can skip. */
static inline const char *vx_test_env(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    if (vx_test_servers_required()) {
        fprintf(stderr, "%s is not set but VX_TEST_REQUIRE_SERVERS=1: the stack is missing\n",
                name);
        exit(1);
    }
    fprintf(stderr, "%s is not set: skipping (run under make test)\n", name);
    return NULL;
}

/* A server that the environment names does not answer (`what` says which and why): fails the
 * test run under make test, otherwise says so and returns so the caller can skip. */
static inline void vx_test_unreachable(const char *what)
{
    if (vx_test_servers_required()) {
        fprintf(stderr, "%s, but VX_TEST_REQUIRE_SERVERS=1: the stack is missing\n", what);
        exit(1);
    }
    fprintf(stderr, "%s: skipping (run under make test)\n", what);
}

#endif
