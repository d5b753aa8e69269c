/* The valdrix subcommands. Each takes the arguments after its name and returns the exit code. */
#ifndef VX_CLI_H
#define VX_CLI_H

int cmd_migrate(int argc, char **argv);
int cmd_tenant(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_publish(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_stream(int argc, char **argv);
int cmd_forecast(int argc, char **argv);

/* Connects with the owner DSN (VX_PG_ADMIN_DSN); NULL after printing why. */
#endif
