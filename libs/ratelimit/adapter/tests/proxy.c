/* The test proxy: one thread polling the listener and every client/upstream pair; see proxy.h. */
#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_PAIRS 32

struct proxy {
    int listen_fd;
    int port;
    struct sockaddr_in upstream;
    atomic_int mode;
    atomic_bool stop;
    pthread_t thread;
    int pairs[MAX_PAIRS][2]; /* client, upstream */
    int npairs;
};

static void close_pair(proxy *p, int i)
{
    close(p->pairs[i][0]);
    close(p->pairs[i][1]);
    p->pairs[i][0] = p->pairs[p->npairs - 1][0];
    p->pairs[i][1] = p->pairs[p->npairs - 1][1];
    p->npairs--;
}

static void accept_one(proxy *p, proxy_mode mode)
{
    int c = accept(p->listen_fd, NULL, NULL);
    if (c < 0)
        return;
    if (mode == PROXY_CUT || p->npairs == MAX_PAIRS) {
        close(c);
        return;
    }
    int u = socket(AF_INET, SOCK_STREAM, 0);
    if (u < 0 || connect(u, (const struct sockaddr *)&p->upstream, sizeof p->upstream) != 0) {
        close(c);
        if (u >= 0)
            close(u);
        return;
    }
    p->pairs[p->npairs][0] = c;
    p->pairs[p->npairs][1] = u;
    p->npairs++;
}

/* Moves what is readable on side `s` of pair i to the other side (or drops it when holding);
 * false when the pair has ended. */
static bool forward(proxy *p, int i, int s, proxy_mode mode)
{
    char buf[16384];
    ssize_t n = read(p->pairs[i][s], buf, sizeof buf);
    if (n <= 0)
        return false;
    if (mode == PROXY_HOLD)
        return true;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(p->pairs[i][1 - s], buf + off, (size_t)(n - off));
        if (w <= 0)
            return false;
        off += w;
    }
    return true;
}

static void *run(void *arg)
{
    proxy *p = arg;
    while (!atomic_load(&p->stop)) {
        proxy_mode mode = (proxy_mode)atomic_load(&p->mode);
        if (mode == PROXY_CUT)
            while (p->npairs > 0)
                close_pair(p, 0);
        struct pollfd fds[1 + 2 * MAX_PAIRS];
        int n = 0;
        fds[n++] = (struct pollfd){.fd = p->listen_fd, .events = POLLIN};
        int pairs = p->npairs;
        for (int i = 0; i < pairs; i++) {
            fds[n++] = (struct pollfd){.fd = p->pairs[i][0], .events = POLLIN};
            fds[n++] = (struct pollfd){.fd = p->pairs[i][1], .events = POLLIN};
        }
        if (poll(fds, (nfds_t)n, 10) <= 0)
            continue;
        /* Pairs first (from the end, as closing moves the last pair into the gap). */
        for (int i = pairs - 1; i >= 0; i--) {
            bool ok = true;
            for (int s = 0; s < 2 && ok; s++)
                if (fds[1 + 2 * i + s].revents & (POLLIN | POLLHUP | POLLERR))
                    ok = forward(p, i, s, mode);
            if (!ok)
                close_pair(p, i);
        }
        if (fds[0].revents & POLLIN)
            accept_one(p, mode);
    }
    while (p->npairs > 0)
        close_pair(p, 0);
    return NULL;
}

proxy *proxy_start(const char *host, int port)
{
    proxy *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->upstream = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (inet_pton(AF_INET, host, &p->upstream.sin_addr) != 1 || p->listen_fd < 0 ||
        bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(p->listen_fd, 16) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &alen) != 0)
        goto fail;
    p->port = ntohs(a.sin_port);
    atomic_init(&p->mode, PROXY_PASS);
    atomic_init(&p->stop, false);
    if (pthread_create(&p->thread, NULL, run, p) != 0)
        goto fail;
    return p;
fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    free(p);
    return NULL;
}

int proxy_port(const proxy *p)
{
    return p->port;
}

void proxy_set_mode(proxy *p, proxy_mode m)
{
    atomic_store(&p->mode, (int)m);
}

void proxy_stop(proxy *p)
{
    if (p == NULL)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    free(p);
}
