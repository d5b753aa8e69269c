/* A small TCP proxy for tests: forwards to an upstream server until told to stall (accept and
 * read, never answer) or to cut (close every connection and refuse new ones). */
#ifndef VX_TEST_PROXY_H
#define VX_TEST_PROXY_H

typedef enum { PROXY_PASS, PROXY_HOLD, PROXY_CUT } proxy_mode;

typedef struct proxy proxy;

/* Listens on an ephemeral port of 127.0.0.1 and forwards to host:port from its own thread;
 * NULL on failure. */
proxy *proxy_start(const char *host, int port);
int proxy_port(const proxy *p);
/* Takes effect within about 10 ms. */
void proxy_set_mode(proxy *p, proxy_mode m);
/* Stops the thread and closes everything. */
void proxy_stop(proxy *p);

#endif
