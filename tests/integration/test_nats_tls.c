/* TLS to NATS (VX_NATS_TLS_CA, VX_NATS_TLS_CERT, VX_NATS_TLS_KEY) against a real nats-server the
 * test starts with its own certificates (made by openssl): with the CA the connection is made
 * and carries messages; without it, or with a CA that did not sign the server's certificate, it
 * is refused; a server that verifies clients takes only a client with a certificate; a
 * certificate without its key is a configuration error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "../support/harness.h"
#include "vx/alloc.h"
#include "vx/bus.h"
#include "vx/clock.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static const char *nats_server; /* Debian's, in /usr/sbin */

static void sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    if (system(cmd) != 0)
        fail_msg("failed: %s", cmd);
}

static void path(const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* A CA, a server certificate for 127.0.0.1 signed by it, a client certificate signed by it, and
 * a second CA that signed nothing. */
static int make_certs(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/vx-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    const char *q = ">/dev/null 2>&1";
    sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 "
       "-subj /CN=vx-test-ca %s",
       dir, q);
    sh("cd %s && openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other.pem "
       "-days 1 -subj /CN=vx-other-ca %s",
       dir, q);
    sh("cd %s && printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext && "
       "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
       "-subj /CN=127.0.0.1 %s && "
       "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
       "-extfile san.ext -out server.pem %s",
       dir, q, q);
    sh("cd %s && openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr "
       "-subj /CN=vx-test-client %s && "
       "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
       "-out client.pem %s",
       dir, q, q);
    return 0;
}

static int remove_certs(void **state)
{
    (void)state;
    sh("rm -rf %s", dir);
    return 0;
}

typedef struct {
    pid_t pid;
    int port;
} server;

/* nats-server with TLS on a free port; verify: clients must show a certificate. */
static server start_server(bool verify)
{
    server s = {.port = h_free_port()};
    char conf[128], body[1024], ca[128], cert[128], key[128];
    snprintf(conf, sizeof conf, "%s/nats-%d.conf", dir, s.port);
    path("ca.pem", ca, sizeof ca);
    path("server.pem", cert, sizeof cert);
    path("server.key", key, sizeof key);
    snprintf(body, sizeof body,
             "listen: 127.0.0.1:%d\n"
             "tls {\n  cert_file: \"%s\"\n  key_file: \"%s\"\n  ca_file: \"%s\"\n  verify: %s\n"
             "  timeout: 2\n}\n",
             s.port, cert, key, ca, verify ? "true" : "false");
    FILE *f = fopen(conf, "w");
    assert_non_null(f);
    fputs(body, f);
    fclose(f);
    char log[160];
    snprintf(log, sizeof log, "%s/nats-%d.log", dir, s.port);
    const char *args[] = {"nats-server", "-c", conf, NULL};
    s.pid = h_spawn(nats_server, args, NULL, log);
    /* listening: a plain TCP connect works once it is */
    for (int i = 0; i < 100; i++) {
        char probe[160];
        snprintf(probe, sizeof probe, "bash -c 'exec 3<>/dev/tcp/127.0.0.1/%d' 2>/dev/null",
                 s.port);
        if (system(probe) == 0)
            break;
        vx_sleep_ms(50);
    }
    return s;
}

static vx_status connect_tls(const server *s, const char *ca, const char *cert, const char *key,
                             vx_bus **out)
{
    char url[64], cap[128], cep[128], kep[128];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", s->port);
    if (ca)
        path(ca, cap, sizeof cap);
    if (cert)
        path(cert, cep, sizeof cep);
    if (key)
        path(key, kep, sizeof kep);
    vx_bus_config bc = {.url = url,
                        .name = "test-nats-tls",
                        .timeout_ms = 3000,
                        .creds = {.tls_ca = ca ? cap : NULL,
                                  .tls_cert = cert ? cep : NULL,
                                  .tls_key = key ? kep : NULL}};
    *out = NULL;
    return vx_bus_connect(&bc, out);
}

static int hits;
static void on_msg(void *ctx, vx_bus_msg *m)
{
    (void)ctx;
    (void)m;
    __atomic_add_fetch(&hits, 1, __ATOMIC_SEQ_CST);
}

static void test_tls_with_the_servers_ca(void **state)
{
    (void)state;
    server s = start_server(false);
    vx_bus *b = NULL;
    assert_int_equal(connect_tls(&s, "ca.pem", NULL, NULL, &b), VX_OK);
    vx_bus_sub *sub = NULL;
    assert_int_equal(vx_bus_serve(b, "tls.check", NULL, on_msg, NULL, &sub), VX_OK);
    assert_int_equal(vx_bus_publish_core(b, "tls.check", "x", 1), VX_OK);
    for (int i = 0; i < 100 && __atomic_load_n(&hits, __ATOMIC_SEQ_CST) == 0; i++)
        vx_sleep_ms(20);
    assert_int_equal(__atomic_load_n(&hits, __ATOMIC_SEQ_CST), 1);
    vx_bus_sub_destroy(sub);
    vx_bus_destroy(b);
    /* no CA given: no TLS, and the server wants it */
    assert_int_not_equal(connect_tls(&s, NULL, NULL, NULL, &b), VX_OK);
    /* a CA that did not sign the server's certificate */
    assert_int_not_equal(connect_tls(&s, "other.pem", NULL, NULL, &b), VX_OK);
    /* a CA file that is not there is a configuration error */
    assert_int_equal(connect_tls(&s, "missing.pem", NULL, NULL, &b), VX_INVALID);
    h_stop(s.pid, SIGTERM, 5000);
}

static void test_tls_server_that_verifies_clients(void **state)
{
    (void)state;
    server s = start_server(true);
    vx_bus *b = NULL;
    assert_int_not_equal(connect_tls(&s, "ca.pem", NULL, NULL, &b), VX_OK);
    assert_int_equal(connect_tls(&s, "ca.pem", "client.pem", "client.key", &b), VX_OK);
    vx_bus_destroy(b);
    /* a certificate without its key */
    assert_int_equal(connect_tls(&s, "ca.pem", "client.pem", NULL, &b), VX_INVALID);
    h_stop(s.pid, SIGTERM, 5000);
}

int main(void)
{
    nats_server = access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server"
                                                             : "/usr/bin/nats-server";
    if (access(nats_server, X_OK) != 0 || system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "test_nats_tls: needs nats-server and openssl (scripts/deps.sh)\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_with_the_servers_ca),
        cmocka_unit_test(test_tls_server_that_verifies_clients),
    };
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}
