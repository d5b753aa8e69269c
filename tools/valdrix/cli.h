/* The valdrix subcommands. Each takes the arguments after its name and returns the exit code. */
#ifndef VX_CLI_H
#define VX_CLI_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

int cmd_migrate(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_forecast(int argc, char **argv);

int cmd_publisher(int argc, char **argv);
int cmd_dlq(int argc, char **argv);

/* Connects to NATS for `valdrix CMD` (VX_NATS_URL, VX_NATS_USER, VX_NATS_PASSWORD,
 * VX_NATS_TLS_*); NULL after printing why (URL redacted). */
struct vx_bus *cli_bus_connect(const char *cmd);

/* Checks --tenant is a UUID and writes its canonical form (37 bytes) to out; false after
 * printing why. */
bool cli_tenant_arg(const char *cmd, const char *tenant, char *out);

/* Connects with the owner DSN (VX_PG_ADMIN_DSN); NULL after printing why. */
PGconn *cli_admin_connect(const char *cmd);
/* Runs a parameterized statement; prints the server's error and returns NULL on failure. */
PGresult *cli_run(PGconn *c, const char *cmd, const char *sql, int n, const char *const *params);
/* n bytes from the kernel's random source (aborts if there is none). */
void cli_random_bytes(unsigned char *b, size_t n);
#endif
