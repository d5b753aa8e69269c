/* One way for every integration test to start a service binary, wait until it is ready and stop
 * it (see harness.h). */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka needs the four headers above first */
#include <cmocka.h>

#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The variable each program reads its readiness port from. */
static const char *port_variable(const char *prog)
{
    static const struct {
        const char *prog, *var;
    } table[] = {
        {"valdrix-ingest", "VX_OPS_PORT"},
        {"valdrix-forecast", "VX_FORECAST_OPS_PORT"},
        {"valdrix-llm", "VX_LLM_OPS_PORT"},
        {"valdrix-api", "VX_API_PORT"},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (strcmp(table[i].prog, prog) == 0)
            return table[i].var;
    return NULL;
}

/* The port `var` is set to in env, or 0. */
static int port_in(const char *const *env, const char *var)
{
    size_t n = strlen(var);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], var, n) == 0 && env[i][n] == '=')
            return atoi(env[i] + n + 1);
    return 0;
}

static void print_tail(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f) {
        fprintf(stderr, "(no log at %s)\n", log);
        return;
    }
    char lines[20][512];
    int n = 0;
    while (fgets(lines[n % 20], sizeof lines[0], f))
        n++;
    fclose(f);
    fprintf(stderr, "---- last lines of %s ----\n", log);
    for (int i = n > 20 ? n - 20 : 0; i < n; i++)
        fputs(lines[i % 20], stderr);
}

/* Adds VX_<SYS>_USER=<user> and VX_<SYS>_PASSWORD from VX_<SYS>_PASSWORD_<USER> to out (two
 * entries, kept in buf) when that password is set and env does not name its own user; returns
 * how many it added. */
static size_t own_credential(const char *sys, const char *user, const char *const *env,
                             char buf[2][160], const char **out)
{
    char pw_var[64], user_var[32];
    int o = snprintf(pw_var, sizeof pw_var, "VX_%s_PASSWORD_", sys);
    for (size_t i = 0; user[i] != '\0' && (size_t)o + 1 < sizeof pw_var; i++, o++) {
        pw_var[o] = (char)toupper((unsigned char)user[i]);
        pw_var[o + 1] = '\0';
    }
    int ul = snprintf(user_var, sizeof user_var, "VX_%s_USER=", sys);
    const char *pw = getenv(pw_var);
    for (size_t i = 0; env && env[i]; i++)
        if (strncmp(env[i], user_var, (size_t)ul) == 0)
            pw = NULL;
    if (pw == NULL)
        return 0;
    snprintf(buf[0], 160, "%s%s", user_var, user);
    snprintf(buf[1], 160, "VX_%s_PASSWORD=%s", sys, pw);
    out[0] = buf[0];
    out[1] = buf[1];
    return 2;
}

void h_service_start(const char *prog, const char *const *env, h_service *svc)
{
    memset(svc, 0, sizeof *svc);
    snprintf(svc->prog, sizeof svc->prog, "%s", prog);
    const char *var = port_variable(prog);
    if (!var)
        fail_msg("h_service_start: no ops port known for %s", prog);
    svc->port = port_in(env, var);
    char port_env[64];
    const char *all[40];
    size_t n = 0;
    if (svc->port == 0) {
        svc->port = h_free_port();
        snprintf(port_env, sizeof port_env, "%s=%d", var, svc->port);
        all[n++] = port_env;
    }
    /* The service's own NATS and Redis credentials (scripts/stack.sh gave each service one, in
     * .run/env as VX_NATS_PASSWORD_<SERVICE> and VX_REDIS_PASSWORD_<SERVICE>): "valdrix-ingest"
     * is the user "ingest", unless the test gives its own VX_NATS_USER / VX_REDIS_USER in env. */
    const char *user = strncmp(prog, "valdrix-", 8) == 0 ? prog + 8 : prog;
    char creds[2][2][160];
    n += own_credential("NATS", user, env, creds[0], all + n);
    n += own_credential("REDIS", user, env, creds[1], all + n);
    for (size_t i = 0; env && env[i]; i++) {
        if (n + 1 >= sizeof all / sizeof all[0])
            fail_msg("h_service_start: more than %zu settings", sizeof all / sizeof all[0] - 2);
        all[n++] = env[i];
    }
    all[n] = NULL;
    char name[64];
    h_unique(name, sizeof name, "");
    const char *dir = getenv("VX_TEST_LOG_DIR");
    snprintf(svc->log, sizeof svc->log, "%s/%s-%s.log", dir && *dir ? dir : "/tmp", prog, name);
    svc->pid = h_spawn(prog, NULL, all, svc->log);
    if (svc->pid <= 0)
        fail_msg("%s could not be started (see %s)", prog, svc->log);
    if (!h_wait_ready(svc->port, 20000)) {
        h_stop(svc->pid, SIGKILL, 5000);
        svc->pid = 0;
        print_tail(svc->log);
        fail_msg("%s did not become ready on port %d within 20 s (see %s)", prog, svc->port,
                 svc->log);
    }
}

int h_service_signal(h_service *svc, int sig, int64_t timeout_ms)
{
    if (svc->pid <= 0)
        return 0;
    int rc = h_stop(svc->pid, sig, timeout_ms);
    svc->pid = 0;
    return rc;
}

int h_service_stop(h_service *svc)
{
    return h_service_signal(svc, SIGTERM, 20000);
}
