/* Integration-test harness: processes, HTTP probes, waits with deadlines and owner queries (the
 * proxy is in proxy.c, services in service.c, clean-up in cleanup.c). */
#include "harness.h"

#include "vx/clock.h"
#include "vx/uuid.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int h_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    socklen_t len = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static char **merged_env(const char *const *env)
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    size_t m = 0;
    while (env && env[m])
        m++;
    char **out = calloc(n + m + 1, sizeof *out);
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (size_t j = 0; j < m; j++) {
            size_t klen = strcspn(env[j], "=");
            if (strncmp(environ[i], env[j], klen) == 0 && environ[i][klen] == '=')
                overridden = true;
        }
        if (!overridden)
            out[k++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        out[k++] = strdup(env[j]);
    out[k] = NULL;
    return out;
}

/* Frees what merged_env copied (the overrides at the end). */
static void free_env(char **envp, const char *const *env)
{
    size_t n = 0, m = 0;
    while (envp[n])
        n++;
    while (env && env[m])
        m++;
    for (size_t j = n - m; j < n; j++)
        free(envp[j]);
    free(envp);
}

/* execve takes `char *const argv[]` only for compatibility with old code; POSIX says it does not
 * modify the strings, so const arguments are passed through a union instead of a cast. */
static char *const *exec_argv(const char *const *args)
{
    union {
        const char *const *in;
        char *const *out;
    } u = {.in = args};
    return u.out;
}

/* build/bin/<prog> (VX_BIN_DIR), or prog itself when it is an absolute path (a server from a
 * package, e.g. /usr/bin/nats-server). */
static void bin_path(const char *prog, char *out, size_t cap)
{
    const char *dir = getenv("VX_BIN_DIR");
    if (prog[0] == '/')
        snprintf(out, cap, "%s", prog);
    else
        snprintf(out, cap, "%s/%s", dir ? dir : "build/bin", prog);
}

pid_t h_spawn(const char *prog, const char *const *args, const char *const *env,
              const char *log_path)
{
    char path[1024];
    bin_path(prog, path, sizeof path);
    char **envp = merged_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open(log_path ? log_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 2);
            dup2(fd, 1);
            close(fd);
        }
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        char *argv0[] = {path, NULL};
        execve(path, args ? exec_argv(args) : argv0, envp);
        _exit(127);
    }
    free_env(envp, env);
    return pid;
}

int h_stop(pid_t pid, int sig, int64_t timeout_ms)
{
    kill(pid, sig);
    int64_t until = vx_mono_ms() + timeout_ms;
    int status;
    while (vx_mono_ms() < until) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        vx_sleep_ms(20);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int h_run(const char *prog, const char *const *args, const char *const *env, char *out,
          size_t out_cap)
{
    char path[1024];
    bin_path(prog, path, sizeof path);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    char **envp = merged_env(env);
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        execve(path, exec_argv(args), envp);
        _exit(127);
    }
    free_env(envp, env);
    close(fds[1]);
    size_t len = 0;
    char tmp[4096];
    ssize_t n;
    while ((n = read(fds[0], tmp, sizeof tmp)) > 0) {
        if (out && len + 1 < out_cap) {
            size_t c = (size_t)n < out_cap - 1 - len ? (size_t)n : out_cap - 1 - len;
            memcpy(out + len, tmp, c);
            len += c;
        }
    }
    if (out && out_cap)
        out[len] = '\0';
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int h_http_get(int port, const char *path, char *body, size_t body_cap)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return 0;
    }
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return 0;
    }
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    while (len < cap - 1 && poll(&pfd, 1, 5000) > 0 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    int status = 0;
    sscanf(buf, "HTTP/1.%*d %d", &status);
    if (body && body_cap) {
        char *b = strstr(buf, "\r\n\r\n");
        snprintf(body, body_cap, "%s", b ? b + 4 : "");
    }
    free(buf);
    return status;
}

bool h_wait_ready(int port, int64_t timeout_ms)
{
    int64_t until = vx_mono_ms() + timeout_ms;
    while (vx_mono_ms() < until) {
        if (h_http_get(port, "/readyz", NULL, 0) == 200)
            return true;
        vx_sleep_ms(50);
    }
    return false;
}

double h_metric(int port, const char *series)
{
    char *body = malloc(1 << 20);
    double v = -1;
    if (h_http_get(port, "/metrics", body, 1 << 20) == 200) {
        size_t sl = strlen(series);
        for (char *line = body; line && *line;) {
            char *nl = strchr(line, '\n');
            if (strncmp(line, series, sl) == 0 && line[sl] == ' ') {
                v = strtod(line + sl + 1, NULL);
                break;
            }
            line = nl ? nl + 1 : NULL;
        }
    }
    free(body);
    return v;
}

PGconn *h_admin(void)
{
    const char *dsn = getenv("VX_PG_ADMIN_DSN");
    PGconn *c = PQconnectdb(dsn ? dsn : "");
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "admin connection failed: %s", PQerrorMessage(c));
        exit(1);
    }
    return c;
}

int64_t h_query_int(PGconn *c, const char *sql, const char *p1, const char *p2)
{
    const char *p[2] = {p1, p2};
    int n = p2 ? 2 : p1 ? 1 : 0;
    PGresult *r = PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
    int64_t v = -1;
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0 && !PQgetisnull(r, 0, 0))
        v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    else if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fprintf(stderr, "query failed: %s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    return v;
}

int64_t h_wait_query(PGconn *c, const char *sql, const char *p1, const char *p2, int64_t want,
                     int64_t timeout_ms)
{
    int64_t until = vx_mono_ms() + timeout_ms, v = -1;
    while (vx_mono_ms() < until) {
        v = h_query_int(c, sql, p1, p2);
        if (v == want)
            return v;
        vx_sleep_ms(100);
    }
    return v;
}

bool h_wait_until(bool (*cond)(void *arg), void *arg, int64_t timeout_ms)
{
    int64_t until = vx_mono_ms() + timeout_ms;
    for (;;) {
        if (cond(arg))
            return true;
        if (vx_mono_ms() >= until)
            return false;
        vx_sleep_ms(20);
    }
}

double h_wait_metric(int port, const char *series, double want, int64_t timeout_ms)
{
    int64_t until = vx_mono_ms() + timeout_ms;
    double v = h_metric(port, series);
    while (v != want && vx_mono_ms() < until) {
        vx_sleep_ms(20);
        v = h_metric(port, series);
    }
    return v;
}

void h_create_tenant(PGconn *c, char *id, const char *plan)
{
    vx_uuid u;
    vx_uuid_v4(&u);
    vx_uuid_format(&u, id);
    const char *p[3] = {id, id, plan};
    PGresult *r =
        PQexecParams(c, "INSERT INTO tenants (id, name, plan) VALUES ($1, 'it-' || $2, $3)", 3,
                     NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "create tenant: %s", PQresultErrorMessage(r));
        exit(1);
    }
    PQclear(r);
    h_track_tenant(id);
}

void h_unique(char *out, size_t cap, const char *prefix)
{
    static atomic_int counter;
    snprintf(out, cap, "%s%d_%d", prefix, (int)getpid(), atomic_fetch_add(&counter, 1));
}

bool h_dsn_via(const char *dsn, const char *host, int port, char *dsn_out, size_t cap,
               char *orig_host, size_t host_cap, int *orig_port)
{
    /* postgresql://user:pass@HOST:PORT/db */
    const char *at = strrchr(dsn, '@');
    if (!at)
        return false;
    const char *hp = at + 1;
    const char *slash = strchr(hp, '/');
    const char *colon = memchr(hp, ':', slash ? (size_t)(slash - hp) : strlen(hp));
    if (!colon || !slash)
        return false;
    snprintf(orig_host, host_cap, "%.*s", (int)(colon - hp), hp);
    *orig_port = atoi(colon + 1);
    snprintf(dsn_out, cap, "%.*s%s:%d%s", (int)(hp - dsn), dsn, host, port, slash);
    return true;
}
