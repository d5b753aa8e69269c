/* The connection (reconnecting forever, logging each disconnect and reconnect), nats.c status
 * mapping, JetStream streams and publishing: one at a time with the ack, or many in flight. */
#include "bus_internal.h"

#include "vx/alloc.h"
#include "vx/config.h"
#include "vx/log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NANOS_PER_MS INT64_C(1000000)

void bus_last_error(char *err, size_t err_cap)
{
    if (err == NULL || err_cap == 0)
        return;
    const char *text = nats_GetLastError(NULL);
    snprintf(err, err_cap, "%s", text != NULL ? text : "");
}

/* A stream at max_bytes/max_msgs with discard new, or JetStream's storage exhausted. */
bool bus_full_error(jsErrCode jerr)
{
    return jerr == JSStreamStoreFailedErr || jerr == JSStreamLimitsErr ||
           jerr == JSInsufficientResourcesErr || jerr == JSStorageResourcesExceededErr ||
           jerr == JSMemoryResourcesExceededErr;
}

vx_status bus_status(natsStatus s, jsErrCode jerr, const char *op)
{
    switch (s) {
    case NATS_OK:
        return VX_OK;
    case NATS_TIMEOUT:
        return VX_TIMEOUT;
    case NATS_NO_RESPONDERS:
    case NATS_NO_SERVER:
    case NATS_NOT_YET_CONNECTED:
    case NATS_CONNECTION_CLOSED:
    case NATS_CONNECTION_DISCONNECTED:
    case NATS_STALE_CONNECTION:
    case NATS_IO_ERROR:
    case NATS_INSUFFICIENT_BUFFER: /* publishing while reconnecting (see vx_bus_connect) */
        return VX_UNAVAILABLE;
    case NATS_NOT_FOUND:
        return VX_NOT_FOUND;
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
    case NATS_INVALID_QUEUE_NAME:
    case NATS_INVALID_TIMEOUT:
        return VX_INVALID;
    case NATS_MAX_PAYLOAD:
        return VX_LIMIT;
    case NATS_NOT_PERMITTED:
    case NATS_CONNECTION_AUTH_FAILED:
        return VX_DENIED;
    default:
        break;
    }
    if (jerr == JSStreamNotFoundErr || jerr == JSNotEnabledErr || jerr == JSNotEnabledForAccountErr)
        return VX_UNAVAILABLE;
    if (jerr == JSConsumerNotFoundErr || jerr == JSNoMessageFoundErr)
        return VX_NOT_FOUND;
    if (bus_full_error(jerr))
        return VX_FULL;
    if (op == NULL)
        return VX_IO;
    vx_log(VX_LOG_WARN, "nats call failed", VX_STR("op", op),
           VX_STR("status", natsStatus_GetText(s)), VX_INT("js_err_code", jerr),
           VX_STR("error", nats_GetLastError(NULL)));
    return VX_IO;
}

void bus_js_opts(const vx_bus *b, jsOptions *jo)
{
    jsOptions_Init(jo);
    jo->Wait = b->timeout_ms;
}

vx_status bus_msg_new(const char *subject, const void *data, size_t len, const vx_bus_header *hdrs,
                      size_t n_hdrs, natsMsg **out)
{
    if (subject == NULL || subject[0] == '\0' || len > INT_MAX || (len > 0 && data == NULL) ||
        (n_hdrs > 0 && hdrs == NULL))
        return VX_INVALID;
    natsMsg *m = NULL;
    natsStatus s = natsMsg_Create(&m, subject, NULL, (const char *)data, (int)len);
    for (size_t i = 0; s == NATS_OK && i < n_hdrs; i++) {
        /* a line break would end the header block early (and forge the headers after it); a
         * ':' in a key would split it */
        if (hdrs[i].key == NULL || hdrs[i].value == NULL || hdrs[i].key[0] == '\0' ||
            strpbrk(hdrs[i].key, "\r\n: ") != NULL || strpbrk(hdrs[i].value, "\r\n") != NULL) {
            natsMsg_Destroy(m);
            return VX_INVALID;
        }
        s = natsMsgHeader_Add(m, hdrs[i].key, hdrs[i].value);
    }
    if (s != NATS_OK) {
        natsMsg_Destroy(m);
        return bus_status(s, 0, "msg_create");
    }
    *out = m;
    return VX_OK;
}

/* ---- connection ---- */

static void on_disconnected(natsConnection *nc, void *closure)
{
    vx_bus *b = closure;
    (void)nc;
    atomic_fetch_add(&b->disconnects, 1);
    if (!atomic_load(&b->closing))
        vx_log(VX_LOG_WARN, "nats disconnected", VX_STR("client", b->name));
}

uint64_t vx_bus_disconnects(vx_bus *b)
{
    return atomic_load(&b->disconnects);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    const vx_bus *b = closure;
    char url[256] = "", safe[256];
    natsConnection_GetConnectedUrl(nc, url, sizeof url);
    vx_redact_url(url, safe, sizeof safe);
    vx_log(VX_LOG_INFO, "nats reconnected", VX_STR("client", b->name), VX_STR("url", safe));
}

static void on_closed(natsConnection *nc, void *closure)
{
    vx_bus *b = closure;
    (void)nc;
    pthread_mutex_lock(&b->mu);
    b->closed = true;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->mu);
}

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    const vx_bus *b = closure;
    (void)nc;
    vx_log(VX_LOG_WARN, "nats asynchronous error", VX_STR("client", b->name),
           VX_STR("subject", sub != NULL ? natsSubscription_GetSubject(sub) : NULL),
           VX_STR("status", natsStatus_GetText(err)));
}

/* Runs on the nats.c thread that receives JetStream's acks, once per failed async publish. */
static void on_async_pub_error(jsCtx *js, jsPubAckErr *pae, void *closure)
{
    vx_bus *b = closure;
    (void)js;
    uint64_t before = atomic_fetch_add(&b->async_failed, 1);
    if (bus_full_error(pae->ErrCode))
        atomic_store(&b->async_full, true);
    if (before == 0)
        vx_log(VX_LOG_WARN, "async publish failed", VX_STR("client", b->name),
               VX_STR("subject", pae->Msg != NULL ? natsMsg_GetSubject(pae->Msg) : NULL),
               VX_STR("error", pae->ErrText), VX_INT("js_err_code", pae->ErrCode));
}

static void bus_free(vx_bus *b)
{
    pthread_cond_destroy(&b->cond);
    pthread_mutex_destroy(&b->mu);
    vx_free(b->name);
    vx_free(b);
}

/* Closes the connection and frees b once nats.c's last callback for it (closed) has run. */
static void close_and_free(vx_bus *b)
{
    jsCtx_Destroy(b->js);
    b->js = NULL;
    atomic_store(&b->closing, true);
    natsConnection_Close(b->nc);

    /* Callbacks get `b` as closure: free it only after the last one (closed) has run. */
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 10;
    pthread_mutex_lock(&b->mu);
    int rc = 0;
    while (!b->closed && rc == 0)
        rc = pthread_cond_timedwait(&b->cond, &b->mu, &deadline);
    bool closed = b->closed;
    pthread_mutex_unlock(&b->mu);

    natsConnection_Destroy(b->nc);
    if (closed)
        bus_free(b);
    else
        vx_log(VX_LOG_ERROR, "nats closed callback never ran; leaking the bus handle",
               VX_STR("client", b->name));
}

static bool set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return set(v) ? v : NULL;
}

vx_bus_credentials vx_bus_credentials_from_env(void)
{
    return (vx_bus_credentials){.user = env_or_null("VX_NATS_USER"),
                                .password = env_or_null("VX_NATS_PASSWORD"),
                                .tls_ca = env_or_null("VX_NATS_TLS_CA"),
                                .tls_cert = env_or_null("VX_NATS_TLS_CERT"),
                                .tls_key = env_or_null("VX_NATS_TLS_KEY")};
}

/* Writes url (one or several URLs separated by ',') into out (strlen(url) + 1 bytes) without
 * the "user:password@" of each; the user of the first URL that has one goes into user (same
 * size; empty if none; a lone "token@" is a token, not a user). */
static void split_userinfo(const char *url, char *out, char *user)
{
    user[0] = '\0';
    size_t o = 0;
    const char *p = url;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        const char *scheme = strstr(p, "://");
        const char *auth = scheme != NULL && scheme < p + len ? scheme + 3 : p;
        size_t auth_len = strcspn(auth, ",/");
        const char *at = NULL;
        for (const char *q = auth; q < auth + auth_len; q++)
            if (*q == '@')
                at = q;
        if (at == NULL) {
            memcpy(out + o, p, len);
            o += len;
        } else {
            const char *colon = memchr(auth, ':', (size_t)(at - auth));
            if (colon != NULL && user[0] == '\0') {
                memcpy(user, auth, (size_t)(colon - auth));
                user[colon - auth] = '\0';
            }
            memcpy(out + o, p, (size_t)(auth - p));
            o += (size_t)(auth - p);
            memcpy(out + o, at + 1, (size_t)(p + len - (at + 1)));
            o += (size_t)(p + len - (at + 1));
        }
        p += len;
        if (*p == ',')
            out[o++] = *p++;
    }
    out[o] = '\0';
}

/* A user name can prefix reply subjects only if it is one subject token. */
static bool user_is_token(const char *u)
{
    if (u[0] == '\0')
        return false;
    for (const unsigned char *c = (const unsigned char *)u; *c != '\0'; c++)
        if (*c <= ' ' || *c == '.' || *c == '*' || *c == '>' || *c == 0x7f)
            return false;
    return true;
}

/* User, password, reply prefix and TLS into opts. */
static vx_status set_credentials(natsOptions *opts, const vx_bus_config *cfg)
{
    const vx_bus_credentials *cr = &cfg->creds;
    size_t n = strlen(cfg->url) + 1;
    char *url = vx_xmalloc(n), *url_user = vx_xmalloc(n);
    split_userinfo(cfg->url, url, url_user);
    const char *user = set(cr->user) ? cr->user : url_user;
    vx_status st = VX_OK;
    natsStatus s = natsOptions_SetURL(opts, set(cr->user) ? url : cfg->url);
    if (s == NATS_OK && set(cr->user))
        s = natsOptions_SetUserInfo(opts, cr->user, set(cr->password) ? cr->password : "");
    if (s == NATS_OK && user[0] != '\0') {
        if (!user_is_token(user)) {
            vx_log(VX_LOG_ERROR, "nats user cannot prefix reply subjects",
                   VX_STR("why", "it has '.', '*', '>' or a blank"));
            st = VX_INVALID;
            goto out;
        }
        char prefix[256];
        if (snprintf(prefix, sizeof prefix, "_INBOX.%s", user) >= (int)sizeof prefix) {
            vx_log(VX_LOG_ERROR, "nats user name too long",
                   VX_INT("max", (int64_t)sizeof prefix - 8));
            st = VX_INVALID;
            goto out;
        }
        s = natsOptions_SetCustomInboxPrefix(opts, prefix);
    }
    if (s == NATS_OK && set(cr->tls_ca)) {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCATrustedCertificates(opts, cr->tls_ca);
    }
    if (s == NATS_OK && set(cr->tls_cert) != set(cr->tls_key)) {
        vx_log(VX_LOG_ERROR, "nats TLS client certificate and key go together",
               VX_STR("cert", cr->tls_cert), VX_STR("key", cr->tls_key));
        st = VX_INVALID;
        goto out;
    }
    if (s == NATS_OK && set(cr->tls_cert)) {
        s = natsOptions_SetSecure(opts, true);
        if (s == NATS_OK)
            s = natsOptions_LoadCertificatesChain(opts, cr->tls_cert, cr->tls_key);
    }
    if (s != NATS_OK) {
        vx_log(VX_LOG_ERROR, "nats credentials or TLS files refused",
               VX_STR("status", natsStatus_GetText(s)), VX_STR("error", nats_GetLastError(NULL)),
               VX_STR("ca", cr->tls_ca), VX_STR("cert", cr->tls_cert));
        st = VX_INVALID;
    }
out:
    vx_free(url);
    vx_free(url_user);
    return st;
}

vx_status vx_bus_connect(const vx_bus_config *cfg, vx_bus **out)
{
    if (cfg == NULL || cfg->url == NULL || cfg->url[0] == '\0' || out == NULL)
        return VX_INVALID;

    vx_bus *b = vx_xcalloc(1, sizeof *b);
    b->name = vx_xstrdup(cfg->name != NULL ? cfg->name : "valdrix");
    b->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : VX_BUS_DEFAULT_TIMEOUT_MS;
    atomic_init(&b->async_failed, 0);
    atomic_init(&b->closing, false);
    pthread_mutex_init(&b->mu, NULL);
    pthread_cond_init(&b->cond, NULL);

    natsOptions *opts = NULL;
    vx_status st = VX_OK;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK && (st = set_credentials(opts, cfg)) != VX_OK)
        goto fail;
    if (s == NATS_OK)
        s = natsOptions_SetName(opts, b->name);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(opts, b->timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectWait(opts, VX_BUS_RECONNECT_WAIT_MS);
    if (s == NATS_OK)
        s = natsOptions_SetRetryOnFailedConnect(opts, false, NULL, NULL);
    /* No reconnect buffer (0 would mean nats.c's 8 MB default): a publish while disconnected
     * fails at once instead of being sent after the reconnect, when its publisher may long
     * have answered that it failed. */
    if (s == NATS_OK)
        s = natsOptions_SetReconnectBufSize(opts, 1);
    if (s == NATS_OK)
        s = natsOptions_SetSendAsap(opts, cfg->send_asap);
    if (s == NATS_OK)
        s = natsOptions_SetDisconnectedCB(opts, on_disconnected, b);
    if (s == NATS_OK)
        s = natsOptions_SetReconnectedCB(opts, on_reconnected, b);
    if (s == NATS_OK)
        s = natsOptions_SetClosedCB(opts, on_closed, b);
    if (s == NATS_OK)
        s = natsOptions_SetErrorHandler(opts, on_async_error, b);
    if (s != NATS_OK) {
        st = bus_status(s, 0, "options");
        goto fail;
    }

    s = natsConnection_Connect(&b->nc, opts);
    if (s != NATS_OK) {
        char safe[256];
        vx_redact_url(cfg->url, safe, sizeof safe);
        vx_log(VX_LOG_WARN, "nats connect failed", VX_STR("url", safe),
               VX_STR("status", natsStatus_GetText(s)), VX_STR("error", nats_GetLastError(NULL)));
        st = bus_status(s, 0, NULL); /* refused credentials: VX_DENIED */
        if (st == VX_IO || st == VX_NOT_FOUND)
            st = VX_UNAVAILABLE;
        goto fail;
    }

    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = b->timeout_ms;
    jo.PublishAsync.MaxPending = VX_BUS_ASYNC_MAX_PENDING;
    jo.PublishAsync.StallWait = b->timeout_ms;
    jo.PublishAsync.ErrHandler = on_async_pub_error;
    jo.PublishAsync.ErrHandlerClosure = b;
    s = natsConnection_JetStream(&b->js, b->nc, &jo);
    if (s != NATS_OK) {
        st = bus_status(s, 0, "jetstream");
        goto fail;
    }
    natsOptions_Destroy(opts);
    *out = b;
    return VX_OK;

fail:
    natsOptions_Destroy(opts);
    if (b->nc != NULL)
        close_and_free(b);
    else
        bus_free(b);
    return st;
}

bool vx_bus_connected(vx_bus *b)
{
    return b != NULL && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;
}

/* Waits for every async publish; those still unanswered after the timeout are given up. */
static uint64_t settle_async(vx_bus *b, int64_t timeout_ms, vx_status *st)
{
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = timeout_ms > 0 ? timeout_ms : 0;
    natsStatus s = js_PublishAsyncComplete(b->js, &po);
    uint64_t abandoned = 0;
    if (s != NATS_OK) {
        natsMsgList pending = {0};
        if (js_PublishAsyncGetPendingList(&pending, b->js) == NATS_OK) {
            abandoned = (uint64_t)pending.Count;
            natsMsgList_Destroy(&pending);
        }
    }
    *st = bus_status(s, 0, "publish_async_complete");
    return abandoned;
}

void vx_bus_destroy(vx_bus *b)
{
    if (b == NULL)
        return;
    natsConnection_FlushTimeout(b->nc, b->timeout_ms);
    vx_status st;
    uint64_t abandoned = settle_async(b, b->timeout_ms, &st);
    if (abandoned > 0)
        vx_log(VX_LOG_WARN, "async publishes unacknowledged at close", VX_STR("client", b->name),
               VX_INT("messages", abandoned));
    close_and_free(b);
}

/* ---- streams ---- */

vx_status vx_bus_ensure_stream(vx_bus *b, const vx_stream_config *cfg, char *err, size_t err_cap)
{
    if (err != NULL && err_cap > 0)
        err[0] = '\0';
    if (b == NULL || cfg == NULL || cfg->name == NULL || cfg->subjects == NULL ||
        cfg->duplicate_window_ms < 0 || cfg->max_age_ms < 0)
        return VX_INVALID;

    const char *subjects[1] = {cfg->subjects};
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = cfg->name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = cfg->memory ? js_MemoryStorage : js_FileStorage;
    sc.Duplicates = cfg->duplicate_window_ms * NANOS_PER_MS;
    sc.MaxAge = cfg->max_age_ms * NANOS_PER_MS;
    sc.MaxBytes = cfg->max_bytes > 0 ? cfg->max_bytes : -1;
    sc.Retention = cfg->work_queue ? js_WorkQueuePolicy : js_LimitsPolicy;
    sc.Discard = cfg->discard_new ? js_DiscardNew : js_DiscardOld;

    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    /* The server answers an add of an identical stream with success, and refuses one that
     * differs with "name already in use": then it is an update. */
    natsStatus s = js_AddStream(NULL, b->js, &sc, &jo, &jerr);
    if (s == NATS_OK)
        return VX_OK;
    if (jerr != JSStreamNameExistErr) {
        bus_last_error(err, err_cap);
        return bus_status(s, jerr, "add_stream");
    }
    /* nats-server refuses a change of retention: keep the stream's own */
    jsStreamInfo *si = NULL;
    if (js_GetStreamInfo(&si, b->js, cfg->name, &jo, NULL) == NATS_OK && si != NULL &&
        si->Config != NULL && si->Config->Retention != sc.Retention) {
        vx_log(VX_LOG_WARN, "stream keeps its retention: nats-server cannot change it in place",
               VX_STR("stream", cfg->name),
               VX_STR("retention", si->Config->Retention == js_WorkQueuePolicy  ? "workqueue"
                                   : si->Config->Retention == js_InterestPolicy ? "interest"
                                                                                : "limits"),
               VX_STR("wanted", cfg->work_queue ? "workqueue" : "limits"),
               VX_STR("to_change", "stop publishers, let ingest drain the stream, delete it "
                                   "(valdrix stream delete) and start ingest again"));
        sc.Retention = si->Config->Retention;
    }
    jsStreamInfo_Destroy(si);
    s = js_UpdateStream(NULL, b->js, &sc, &jo, &jerr);
    if (s == NATS_OK) {
        vx_log(VX_LOG_INFO, "stream updated", VX_STR("stream", cfg->name));
        return VX_OK;
    }
    bus_last_error(err, err_cap);
    if (s == NATS_ERR && jerr != 0)
        return VX_CONFLICT; /* the server refuses this change (e.g. storage type) */
    return bus_status(s, jerr, "update_stream");
}

vx_status vx_bus_delete_stream(vx_bus *b, const char *name)
{
    if (b == NULL || name == NULL || name[0] == '\0')
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteStream(b->js, name, &jo, &jerr);
    if (s != NATS_OK && jerr == JSStreamNotFoundErr)
        return VX_NOT_FOUND;
    return bus_status(s, jerr, "delete_stream");
}

vx_status vx_bus_stream_info(vx_bus *b, const char *name, vx_stream_info *out)
{
    if (b == NULL || name == NULL || name[0] == '\0' || out == NULL)
        return VX_INVALID;
    memset(out, 0, sizeof *out);
    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, b->js, name, &jo, &jerr);
    if (s != NATS_OK)
        return bus_status(s, jerr, "stream_info");
    out->msgs = si->State.Msgs;
    out->bytes = si->State.Bytes;
    out->first_seq = si->State.FirstSeq;
    out->last_seq = si->State.LastSeq;
    if (si->Config != NULL) {
        out->max_bytes = si->Config->MaxBytes > 0 ? si->Config->MaxBytes : 0;
        out->max_age_ms = si->Config->MaxAge / NANOS_PER_MS;
        out->work_queue = si->Config->Retention == js_WorkQueuePolicy;
        out->discard_new = si->Config->Discard == js_DiscardNew;
    }
    jsStreamInfo_Destroy(si);
    return VX_OK;
}

vx_status vx_bus_stream_get(vx_bus *b, const char *stream, uint64_t seq, vx_bus_msg **out)
{
    if (b == NULL || stream == NULL || stream[0] == '\0' || out == NULL || seq == 0)
        return VX_INVALID;
    *out = NULL;
    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    natsMsg *m = NULL;
    natsStatus s = js_GetMsg(&m, b->js, stream, seq, &jo, &jerr);
    if (s != NATS_OK)
        return bus_status(s, jerr, "stream_get");
    vx_bus_msg *vm = vx_xcalloc(1, sizeof *vm);
    vm->bus = b;
    vm->msg = m;
    vm->stream_seq = seq;
    *out = vm;
    return VX_OK;
}

vx_status vx_bus_stream_delete_msg(vx_bus *b, const char *stream, uint64_t seq)
{
    if (b == NULL || stream == NULL || stream[0] == '\0' || seq == 0)
        return VX_INVALID;
    jsOptions jo;
    bus_js_opts(b, &jo);
    jsErrCode jerr = 0;
    natsStatus s = js_DeleteMsg(b->js, stream, seq, &jo, &jerr);
    if (s != NATS_OK)
        return bus_status(s, jerr, "stream_delete_msg");
    return VX_OK;
}

/* ---- publishing ---- */

vx_status vx_bus_publish(vx_bus *b, const char *subject, const void *data, size_t len,
                         const char *msg_id, const vx_bus_header *hdrs, size_t n_hdrs,
                         bool *duplicate)
{
    if (b == NULL)
        return VX_INVALID;
    natsMsg *m = NULL;
    vx_status st = bus_msg_new(subject, data, len, hdrs, n_hdrs, &m);
    if (st != VX_OK)
        return st;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.MaxWait = b->timeout_ms;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PublishMsg(&pa, b->js, m, &po, &jerr);
    natsMsg_Destroy(m);
    if (s != NATS_OK)
        return bus_status(s, jerr, "publish");
    if (duplicate != NULL)
        *duplicate = pa->Duplicate;
    jsPubAck_Destroy(pa);
    return VX_OK;
}

vx_status vx_bus_publish_async(vx_bus *b, const char *subject, const void *data, size_t len,
                               const char *msg_id, const vx_bus_header *hdrs, size_t n_hdrs)
{
    if (b == NULL)
        return VX_INVALID;
    natsMsg *m = NULL;
    vx_status st = bus_msg_new(subject, data, len, hdrs, n_hdrs, &m);
    if (st != VX_OK)
        return st;
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    /* On success nats.c owns the message and NULLs m; otherwise it is still ours. */
    natsStatus s = js_PublishMsgAsync(b->js, &m, &po);
    natsMsg_Destroy(m);
    return bus_status(s, 0, "publish_async");
}

vx_status vx_bus_publish_async_complete(vx_bus *b, int64_t timeout_ms, uint64_t *failed)
{
    if (b == NULL)
        return VX_INVALID;
    vx_status st;
    uint64_t abandoned = settle_async(b, timeout_ms, &st);
    /* Acks that arrive for abandoned messages are dropped by nats.c, so nothing is counted
     * twice. */
    uint64_t n = atomic_exchange(&b->async_failed, 0) + abandoned;
    if (failed != NULL)
        *failed = n;
    if (atomic_exchange(&b->async_full, false) && st == VX_OK)
        return VX_FULL;
    return st;
}

vx_status vx_bus_publish_core(vx_bus *b, const char *subject, const void *data, size_t len)
{
    if (b == NULL || subject == NULL || subject[0] == '\0' || len > INT_MAX ||
        (len > 0 && data == NULL))
        return VX_INVALID;
    natsStatus s = natsConnection_Publish(b->nc, subject, data, (int)len);
    return bus_status(s, 0, "publish_core");
}
