/* Helpers shared by integration tests: the settings of the local stack, and the rule that under
 * `make test` (VX_TEST_REQUIRE_SERVERS=1) a missing server is a failure, not a skip. */
#ifndef VX_TEST_ENV_H
#define VX_TEST_ENV_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* The variable's value; when unset, fails the test run under make test, otherwise returns NULL
 * so the caller can skip. */
static inline const char *vx_test_env(const char *name)
{
    const char *v = getenv(name);
    if (v && *v)
        return v;
    const char *req = getenv("VX_TEST_REQUIRE_SERVERS");
    if (req && *req == '1') {
        fprintf(stderr, "%s is not set but VX_TEST_REQUIRE_SERVERS=1: the stack is missing\n",
                name);
        exit(1);
    }
    fprintf(stderr, "%s is not set: skipping (run under make test)\n", name);
    return NULL;
}

#endif
