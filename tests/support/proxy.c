/* The tests' TCP fault proxy (see harness.h): one thread accepting, one thread per connection
 * pumping both ways, so a service can be cut off from a server, or left waiting on it, without
 * stopping that server (other tests share it). */
#include "harness.h"

#include "vx/clock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PROXY_MAX 256

struct h_proxy {
    int listen_fd, port;
    char host[64];
    int target_port;
    atomic_bool cut, hold, stopping;
    pthread_t thread;
    pthread_mutex_t mu;
    int fds[PROXY_MAX][2];
    int n;
};

static void proxy_close_all(h_proxy *p)
{
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->n; i++) {
        shutdown(p->fds[i][0], SHUT_RDWR);
        shutdown(p->fds[i][1], SHUT_RDWR);
    }
    pthread_mutex_unlock(&p->mu);
}

typedef struct {
    h_proxy *p;
    int a, b;
} pump_arg;

static void *pump(void *arg)
{
    pump_arg *pa = arg;
    struct pollfd f[2] = {{.fd = pa->a, .events = POLLIN}, {.fd = pa->b, .events = POLLIN}};
    char buf[65536];
    for (;;) {
        if (poll(f, 2, 200) < 0 && errno != EINTR)
            break;
        if (atomic_load(&pa->p->stopping))
            break;
        bool done = false;
        for (int i = 0; i < 2 && !done; i++) {
            if (!(f[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            ssize_t n = read(f[i].fd, buf, sizeof buf);
            if (n <= 0) {
                done = true;
                break;
            }
            if (atomic_load(&pa->p->hold))
                continue; /* read and dropped: the peer waits for an answer that never comes */
            ssize_t off = 0;
            while (off < n) {
                ssize_t w = write(f[1 - i].fd, buf + off, (size_t)(n - off));
                if (w <= 0) {
                    done = true;
                    break;
                }
                off += w;
            }
        }
        if (done)
            break;
    }
    pthread_mutex_lock(&pa->p->mu);
    for (int i = 0; i < pa->p->n; i++) {
        if (pa->p->fds[i][0] == pa->a) {
            pa->p->fds[i][0] = pa->p->fds[pa->p->n - 1][0];
            pa->p->fds[i][1] = pa->p->fds[pa->p->n - 1][1];
            pa->p->n--;
            break;
        }
    }
    pthread_mutex_unlock(&pa->p->mu);
    close(pa->a);
    close(pa->b);
    free(pa);
    return NULL;
}

static void *proxy_accept(void *arg)
{
    h_proxy *p = arg;
    struct pollfd f = {.fd = p->listen_fd, .events = POLLIN};
    while (!atomic_load(&p->stopping)) {
        if (poll(&f, 1, 100) <= 0)
            continue;
        int c = accept(p->listen_fd, NULL, NULL);
        if (c < 0)
            continue;
        if (atomic_load(&p->cut)) {
            close(c);
            continue;
        }
        int t = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->target_port)};
        inet_pton(AF_INET, p->host, &a.sin_addr);
        if (connect(t, (struct sockaddr *)&a, sizeof a) != 0) {
            close(c);
            close(t);
            continue;
        }
        pthread_mutex_lock(&p->mu);
        if (p->n >= PROXY_MAX) {
            pthread_mutex_unlock(&p->mu);
            close(c);
            close(t);
            continue;
        }
        p->fds[p->n][0] = c;
        p->fds[p->n][1] = t;
        p->n++;
        pthread_mutex_unlock(&p->mu);
        pump_arg *pa = malloc(sizeof *pa);
        *pa = (pump_arg){p, c, t};
        pthread_t th;
        pthread_create(&th, NULL, pump, pa);
        pthread_detach(th);
    }
    return NULL;
}

h_proxy *h_proxy_start(const char *target_host, int target_port)
{
    h_proxy *p = calloc(1, sizeof *p);
    struct in_addr probe;
    if (!p || inet_pton(AF_INET, target_host, &probe) != 1) {
        free(p);
        return NULL;
    }
    snprintf(p->host, sizeof p->host, "%s", target_host);
    p->target_port = target_port;
    p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    if (p->listen_fd < 0 ||
        setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(p->listen_fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(p->listen_fd, (struct sockaddr *)&a, &len) != 0 ||
        listen(p->listen_fd, 64) != 0)
        goto fail;
    p->port = ntohs(a.sin_port);
    pthread_mutex_init(&p->mu, NULL);
    if (pthread_create(&p->thread, NULL, proxy_accept, p) != 0) {
        pthread_mutex_destroy(&p->mu);
        goto fail;
    }
    return p;
fail:
    if (p->listen_fd >= 0)
        close(p->listen_fd);
    free(p);
    return NULL;
}

int h_proxy_port(const h_proxy *p)
{
    return p->port;
}

void h_proxy_cut(h_proxy *p)
{
    atomic_store(&p->cut, true);
    proxy_close_all(p);
}

void h_proxy_hold(h_proxy *p)
{
    atomic_store(&p->hold, true);
}

void h_proxy_restore(h_proxy *p)
{
    atomic_store(&p->hold, false);
    atomic_store(&p->cut, false);
}

void h_proxy_stop(h_proxy *p)
{
    if (!p)
        return;
    atomic_store(&p->stopping, true);
    proxy_close_all(p);
    pthread_join(p->thread, NULL);
    close(p->listen_fd);
    /* pumps notice `stopping` within their poll interval */
    for (int i = 0; i < 50; i++) {
        pthread_mutex_lock(&p->mu);
        int n = p->n;
        pthread_mutex_unlock(&p->mu);
        if (n == 0)
            break;
        vx_sleep_ms(20);
    }
    pthread_mutex_destroy(&p->mu);
    free(p);
}
