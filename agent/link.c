/*
 * link.c - one MQTT connection over Paho MQTTAsync.  See link.h.
 *
 * Paho runs its callbacks on its own thread; this file keeps the little
 * state the blocking helpers need (connected, the result of the last
 * connect) under its own mutex and condition variable, and passes
 * everything else straight to the caller's callbacks.
 */
#include "link.h"

#include <MQTTAsync.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>
#include <poll.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * Paho is loaded at run time, in the flavour the broker URI needs: the TLS
 * build (libpaho-mqtt3as, which brings in OpenSSL) only for ssl://, mqtts://,
 * wss:// or TLS files, the plain build otherwise.  OpenSSL alone is about
 * 3 MB of resident memory, most of an idle agent's footprint.  One flavour
 * per process: the table below is filled once (like the dynamic linker's
 * own state, it is process-wide), and a later link that needs TLS when the
 * plain build is loaded is refused with a clear error.
 */
static struct paho {
    int (*createWithOptions)(MQTTAsync *, const char *, const char *, int,
                             void *, MQTTAsync_createOptions *);
    int (*setCallbacks)(MQTTAsync, void *, MQTTAsync_connectionLost *,
                        MQTTAsync_messageArrived *,
                        MQTTAsync_deliveryComplete *);
    void (*destroy)(MQTTAsync *);
    int (*connect)(MQTTAsync, const MQTTAsync_connectOptions *);
    int (*disconnect)(MQTTAsync, const MQTTAsync_disconnectOptions *);
    int (*isConnected)(MQTTAsync);
    int (*subscribeMany)(MQTTAsync, int, char *const *, int *,
                         MQTTAsync_responseOptions *);
    int (*unsubscribe)(MQTTAsync, const char *, MQTTAsync_responseOptions *);
    int (*sendMessage)(MQTTAsync, const char *, const MQTTAsync_message *,
                       MQTTAsync_responseOptions *);
    int (*isComplete)(MQTTAsync, MQTTAsync_token);
    int (*getPendingTokens)(MQTTAsync, MQTTAsync_token **);
    void (*freeMessage)(MQTTAsync_message **);
    void (*free)(void *);
} paho;
static int paho_flavour;              /* 0 none, 1 plain, 2 TLS */
static pthread_mutex_t paho_mu = PTHREAD_MUTEX_INITIALIZER;

#define PAHO_SYM(name) {#name, (void **)(void *)&paho.name}

static int paho_load(bool tls)
{
    static const struct { const char *name; void **slot; } syms[] = {
        PAHO_SYM(createWithOptions), PAHO_SYM(setCallbacks), PAHO_SYM(destroy),
        PAHO_SYM(connect), PAHO_SYM(disconnect), PAHO_SYM(isConnected),
        PAHO_SYM(subscribeMany), PAHO_SYM(unsubscribe),
        PAHO_SYM(sendMessage), PAHO_SYM(isComplete),
        PAHO_SYM(getPendingTokens), PAHO_SYM(freeMessage), PAHO_SYM(free),
    };
    const char *lib = tls ? "libpaho-mqtt3as.so.1" : "libpaho-mqtt3a.so.1";
    void *h;
    int rc = 0;

    pthread_mutex_lock(&paho_mu);
    if (paho_flavour != 0) {
        rc = tls && paho_flavour != 2 ? DX_EINVAL : 0;
        goto out;
    }
    if ((h = dlopen(lib, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "distribux: cannot load %s: %s\n", lib, dlerror());
        rc = DX_EIO;
        goto out;
    }
    for (size_t i = 0; i < sizeof syms / sizeof syms[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "MQTTAsync_%s", syms[i].name);
        if ((*syms[i].slot = dlsym(h, name)) == NULL) {
            fprintf(stderr, "distribux: %s lacks %s\n", lib, name);
            rc = DX_EIO;
            goto out;
        }
    }
    paho_flavour = tls ? 2 : 1;
out:
    pthread_mutex_unlock(&paho_mu);
    return rc;
}

static bool needs_tls(const dx_link_opts *o)
{
    return strncmp(o->uri, "ssl://", 6) == 0 ||
           strncmp(o->uri, "mqtts://", 8) == 0 ||
           strncmp(o->uri, "wss://", 6) == 0 || o->cafile != NULL ||
           o->cert != NULL;
}

/* One Paho client handle.  Every connection attempt gets a fresh handle:
 * reconnecting an old handle after a lost connection is unreliable in
 * Paho (its callbacks sometimes never come), and a fresh one also carries
 * the fresh will.  Callbacks of a replaced handle are ignored. */
typedef struct handle {
    MQTTAsync client;
    struct dx_link *l;
} handle;

struct dx_link {
    MQTTAsync client;               /* == cur->client */
    handle *cur;
    bool used;                      /* cur has been connected once */
    dx_link_cb cb;
    dx_link_opts opts;
    char *uri, *client_id, *user, *password, *cafile, *cert, *key;
    int port;                       /* broker port, for abort */
    bool tls;
    /* The will must outlive the connect call: Paho reads it later. */
    char *will_topic;
    void *will_payload;
    size_t will_len;
    int will_qos;
    bool will_retain;
    MQTTAsync_willOptions will;
    MQTTAsync_SSLOptions ssl;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool connected;
    int attempt_done;               /* 0 pending, 1 ok, -1 failed */
    int fail_code;
    char fail_text[320];
    char ssl_err[128];              /* OpenSSL's reason, from Paho */
    /* SUBACKs come back in order: counting them lets a caller wait for
     * its own without Paho's waitForCompletion, which polls every 100 ms
     * (a tenth of a second on every CLI command). */
    uint64_t subs_sent, subs_done, sub_failed;
};

static char *dup_or_null(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

static int port_of(const char *uri)
{
    const char *p = strrchr(uri, ':');
    long v;
    char *end;
    if (p == NULL || strchr(p, '/') != NULL)
        return strncmp(uri, "ssl", 3) == 0 || strncmp(uri, "mqtts", 5) == 0
                   ? 8883 : 1883;
    v = strtol(p + 1, &end, 10);
    return (*end == '\0' && v > 0 && v < 65536) ? (int)v : -1;
}

static void set_attempt(dx_link *l, int done, bool connected, int code,
                        const char *text)
{
    pthread_mutex_lock(&l->mu);
    l->attempt_done = done;
    l->connected = connected;
    l->fail_code = code;
    snprintf(l->fail_text, sizeof l->fail_text, "%s", text ? text : "");
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

/* The TCP port of the peer of socket fd, or -1. */
static int peer_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int type = 0;
    socklen_t tl = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0 ||
        type != SOCK_STREAM ||
        getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

/*
 * Which socket is whose.  Paho does not expose its sockets, but abort must
 * shut exactly this link's one (an agent holds a maintenance link to the
 * same broker while it simulates a crash).  When a link connects, the TCP
 * sockets to the broker's port that no other connected link has claimed
 * are its own.  Process-wide by nature, like the descriptor table itself.
 */
#define CLAIMS_MAX 16
static struct { const void *owner; int fd; } claims[CLAIMS_MAX];
static pthread_mutex_t claims_mu = PTHREAD_MUTEX_INITIALIZER;

static void unclaim(const void *owner)
{
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < CLAIMS_MAX; i++)
        if (claims[i].owner == owner)
            claims[i].owner = NULL;
    pthread_mutex_unlock(&claims_mu);
}

static bool claimed_by_other(const void *owner, int fd)
{
    for (int i = 0; i < CLAIMS_MAX; i++)
        if (claims[i].owner != NULL && claims[i].owner != owner &&
            claims[i].fd == fd)
            return true;
    return false;
}

static void claim(const void *owner, int fd)
{
    for (int i = 0; i < CLAIMS_MAX; i++)
        if (claims[i].owner == NULL) {
            claims[i].owner = owner;
            claims[i].fd = fd;
            return;
        }
}

#define SEND_BUFFER (4 << 20)

/* SEND_BUFFER if net.core.wmem_max allows it, else 0 (leave autotuning). */
static int sndbuf_value;
static pthread_once_t sndbuf_once = PTHREAD_ONCE_INIT;

static void sndbuf_init(void)
{
    FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
    long max = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &max) != 1)
            max = 0;
        fclose(f);
    }
    sndbuf_value = max >= SEND_BUFFER ? SEND_BUFFER : 0;
}

void dx_link_tune_socket(int fd)
{
    int one = 1;
    pthread_once(&sndbuf_once, sndbuf_init);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (sndbuf_value > 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf_value,
                         sizeof sndbuf_value);
}

/* Paho does not expose its socket, so claim_socket finds this process's
 * TCP sockets to the broker's port and tunes them there (dx_link_tune_socket,
 * link.h; tuning twice is harmless). */
static void claim_socket(const void *owner, int port)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    if (d == NULL)
        return;
    unclaim(owner);
    pthread_mutex_lock(&claims_mu);
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || fd < 0 || fd == dirfd(d) ||
            peer_port((int)fd) != port || claimed_by_other(owner, (int)fd))
            continue;
        dx_link_tune_socket((int)fd);
        claim(owner, (int)fd);
    }
    pthread_mutex_unlock(&claims_mu);
    closedir(d);
}

/*
 * Paho hands OpenSSL's error queue to this callback, one line per error:
 * "...:error:0A000086:SSL routines:tls_post_process_server_certificate:
 * certificate verify failed:../ssl/statem/statem_clnt.c:1889:".  Keep the
 * reason ("certificate verify failed") of the first one for the why line.
 */
static int on_ssl_error(const char *str, size_t len, void *u)
{
    dx_link *l = u;
    char line[512], *p, *end;
    int colons = 0;

    snprintf(line, sizeof line, "%.*s", (int)(len < 511 ? len : 511), str);
    if ((p = strstr(line, "error:")) == NULL)
        p = line;
    else
        for (p += 6; *p != '\0' && colons < 3; p++)
            if (*p == ':')
                colons++;
    end = p + strcspn(p, ":\r\n");
    *end = '\0';
    pthread_mutex_lock(&l->mu);
    if (l->ssl_err[0] == '\0' && *p != '\0')
        snprintf(l->ssl_err, sizeof l->ssl_err, "%.120s", p);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

/* A hint for a reason OpenSSL gave. */
static const char *ssl_hint(const char *reason)
{
    if (strstr(reason, "verify") != NULL || strstr(reason, "certificate") != NULL)
        return " (check --cafile, and the host name in --broker)";
    if (strstr(reason, "wrong version") != NULL ||
        strstr(reason, "packet length") != NULL ||
        strstr(reason, "record") != NULL)
        return " (is it a TLS port?  a plain port needs tcp://)";
    return "";
}

/*
 * Whether a TCP connection to the URI's host and port opens within 1 s.
 * Paho reports a refused TCP connection and a certificate that does not
 * name the host (its own check, after OpenSSL's) with the same words,
 * "TCP/TLS connect failure"; when TCP works, the TLS part failed.
 */
static bool tcp_reachable(const char *uri, int port)
{
    const char *h = strstr(uri, "://");
    char host[256], serv[16];
    struct addrinfo hints, *res = NULL, *ai;
    bool ok = false;
    size_t n;

    h = h ? h + 3 : uri;
    if (*h == '[') {
        h++;
        n = strcspn(h, "]");
    } else {
        const char *c = strrchr(h, ':');
        n = c ? (size_t)(c - h) : strcspn(h, "/");
    }
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    snprintf(serv, sizeof serv, "%d", port);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, serv, &hints, &res) != 0)
        return false;
    for (ai = res; ai != NULL && !ok; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                        ai->ai_protocol);
        struct pollfd pf;
        int err = 0;
        socklen_t el = sizeof err;
        if (fd < 0)
            continue;
        (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        pf.fd = fd;
        pf.events = POLLOUT;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            ok = true;
        else if (errno == EINPROGRESS && poll(&pf, 1, 1000) == 1 &&
                 getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 &&
                 err == 0)
            ok = true;
        close(fd);
    }
    freeaddrinfo(res);
    return ok;
}

static void sub_finished(handle *h, bool ok)
{
    dx_link *l = h->l;
    if (h != l->cur)
        return;                      /* an earlier connection's */
    pthread_mutex_lock(&l->mu);
    l->subs_done++;
    if (!ok)
        l->sub_failed = l->subs_done;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
}

static void on_sub_ok(void *ctx, MQTTAsync_successData *resp)
{
    (void)resp;
    sub_finished(ctx, true);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    sub_finished(ctx, false);
}

static void on_connect_ok(void *ctx, MQTTAsync_successData *resp)
{
    handle *h = ctx;
    dx_link *l = h->l;
    (void)resp;
    if (h != l->cur)
        return;
    claim_socket(l, l->port);
    set_attempt(l, 1, true, 0, NULL);
    if (l->cb.on_status)
        l->cb.on_status(l->cb.ctx, DX_LINK_CONNECTED, 0, "");
}

/* CONNACK return codes of MQTT 3.1.1, in words. */
static const char *connack_text(int code)
{
    switch (code) {
    case 1:
        return "the broker refused the protocol version";
    case 2:
        return "the broker refused the client id";
    case 3:
        return "the broker is unavailable";
    case 4:
        return "the broker refused the user name or password";
    case 5:
        return "the broker refused the credentials: not authorised (check "
               "--user and the password)";
    default:
        return NULL;
    }
}

static void on_connect_fail(void *ctx, MQTTAsync_failureData *resp)
{
    handle *h = ctx;
    dx_link *l = h->l;
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    const char *text = connack_text(code);
    char buf[320];

    if (h != l->cur)
        return;
    pthread_mutex_lock(&l->mu);
    if (text == NULL && l->tls &&
        (l->ssl_err[0] != '\0' || code == MQTTASYNC_SSL_NOT_SUPPORTED ||
         (resp && resp->message && strstr(resp->message, "SSL") != NULL))) {
        const char *reason = l->ssl_err[0] ? l->ssl_err
                             : resp && resp->message ? resp->message
                                                     : "no TLS support";
        snprintf(buf, sizeof buf, "TLS handshake with %.100s failed: %.120s%s",
                 l->uri, reason, ssl_hint(reason));
        text = buf;
        code = DX_ETLS;
    }
    pthread_mutex_unlock(&l->mu);
    if (text == NULL && l->tls && code != DX_ETLS && resp && resp->message &&
        strstr(resp->message, "TLS") != NULL && tcp_reachable(l->uri, l->port)) {
        snprintf(buf, sizeof buf, "TLS handshake with %.100s failed: the "
                 "broker's certificate was not accepted (does it name the host "
                 "in --broker? check --cafile)", l->uri);
        text = buf;
        code = DX_ETLS;
    }
    if (text == NULL) {
        snprintf(buf, sizeof buf, "cannot connect to %s%s%s%s", l->uri,
                 resp && resp->message ? ": " : "",
                 resp && resp->message ? resp->message : "",
                 l->tls ? "" : " (if it is a TLS port, use ssl://)");
        text = buf;
    }
    set_attempt(l, -1, false, code, text);
    if (l->cb.on_status)
        l->cb.on_status(l->cb.ctx, DX_LINK_CONNECT_FAILED, code, text);
}

static void on_lost(void *ctx, char *cause)
{
    handle *h = ctx;
    dx_link *l = h->l;
    if (h != l->cur)
        return;
    unclaim(l);
    pthread_mutex_lock(&l->mu);
    l->connected = false;
    pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    if (l->cb.on_status)
        l->cb.on_status(l->cb.ctx, DX_LINK_LOST, 0, cause ? cause : "");
}

static int on_arrived(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
    handle *h = ctx;
    dx_link *l = h->l;
    size_t n = tlen > 0 ? (size_t)tlen : strlen(topic);
    if (l->cb.on_message && h == l->cur)
        l->cb.on_message(l->cb.ctx, topic, n, m->payload,
                         m->payloadlen > 0 ? (size_t)m->payloadlen : 0,
                         m->retained != 0);
    paho.freeMessage(&m);
    paho.free(topic);
    return 1;
}

/* Replaces the current Paho handle by a fresh one; the new one is made
 * first so Paho's threads never stop between the two. */
static int new_handle(dx_link *l)
{
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    handle *h = calloc(1, sizeof *h), *old = l->cur;

    if (h == NULL)
        return DX_ENOMEM;
    h->l = l;
    co.sendWhileDisconnected = 0;
    /* Paho refuses a publish once this many wait in its queue (default
     * 100): a burst of task records is far more.  Our own callers bound
     * what they queue, so let Paho hold it rather than drop it. */
    co.maxBufferedMessages = 1000000;
    if (paho.createWithOptions(&h->client, l->uri, l->client_id,
                                    MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                    &co) != MQTTASYNC_SUCCESS) {
        free(h);
        return DX_EINVAL;
    }
    if (paho.setCallbacks(h->client, h, on_lost, on_arrived, NULL) !=
        MQTTASYNC_SUCCESS) {
        paho.destroy(&h->client);
        free(h);
        return DX_EINVAL;
    }
    pthread_mutex_lock(&l->mu);
    l->cur = h;
    l->client = h->client;
    l->connected = false;
    pthread_mutex_unlock(&l->mu);
    if (old != NULL) {
        paho.destroy(&old->client);
        free(old);
    }
    return 0;
}

int dx_link_create(dx_link **out, const dx_link_opts *opts,
                   const dx_link_cb *cb)
{
    dx_link *l;
    pthread_condattr_t ca;

    *out = NULL;
    if (opts->uri == NULL || opts->client_id == NULL ||
        opts->client_id[0] == '\0' || port_of(opts->uri) < 0)
        return DX_EINVAL;
    if (paho_load(needs_tls(opts)) != 0)
        return DX_EIO;
    if ((l = calloc(1, sizeof *l)) == NULL)
        return DX_ENOMEM;
    l->cb = *cb;
    l->opts = *opts;
    l->uri = strdup(opts->uri);
    l->client_id = strdup(opts->client_id);
    l->user = dup_or_null(opts->user);
    l->password = dup_or_null(opts->password);
    l->cafile = dup_or_null(opts->cafile);
    l->cert = dup_or_null(opts->cert);
    l->key = dup_or_null(opts->key);
    l->port = port_of(opts->uri);
    l->tls = needs_tls(opts);
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->cv, &ca);
    pthread_condattr_destroy(&ca);

    if (new_handle(l) != 0) {
        dx_link_destroy(&l);
        return DX_EINVAL;
    }
    *out = l;
    return 0;
}

void dx_link_destroy(dx_link **lp)
{
    dx_link *l = *lp;
    if (l == NULL)
        return;
    unclaim(l);
    if (l->cur != NULL) {
        paho.destroy(&l->cur->client);
        free(l->cur);
    }
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l->uri);
    free(l->client_id);
    free(l->user);
    if (l->password != NULL) {
        memset(l->password, 0, strlen(l->password));
        free(l->password);
    }
    free(l->cafile);
    free(l->cert);
    free(l->key);
    free(l->will_topic);
    free(l->will_payload);
    free(l);
    *lp = NULL;
}

void dx_link_leave(dx_link **lp)
{
    /* Links left for the process's exit; a few at most (one per command). */
    static dx_link *left[8];
    static pthread_mutex_t left_mu = PTHREAD_MUTEX_INITIALIZER;
    dx_link *l = *lp;
    bool kept = false;
    if (l == NULL)
        return;
    if (!dx_link_is_connected(l)) {
        unclaim(l);                 /* its socket is closed: fd reusable */
        pthread_mutex_lock(&left_mu);
        for (size_t i = 0; i < sizeof left / sizeof left[0] && !kept; i++)
            if (left[i] == NULL) {
                left[i] = l;
                kept = true;
            }
        pthread_mutex_unlock(&left_mu);
    }
    if (!kept)
        dx_link_destroy(&l);
    *lp = NULL;
}

int dx_link_connect(dx_link *l, const char *will_topic,
                    const void *will_payload, size_t will_len, int will_qos,
                    bool will_retain)
{
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_willOptions wo = MQTTAsync_willOptions_initializer;
    MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;

    int rc;

    if (l->used && (rc = new_handle(l)) != 0)
        return rc;
    l->used = true;
    free(l->will_topic);
    free(l->will_payload);
    l->will_topic = NULL;
    l->will_payload = NULL;
    if (will_topic != NULL) {
        l->will_topic = strdup(will_topic);
        l->will_payload = malloc(will_len + 1);
        if (l->will_topic == NULL || l->will_payload == NULL)
            return DX_ENOMEM;
        memcpy(l->will_payload, will_payload, will_len);
        l->will_len = will_len;
        wo.topicName = l->will_topic;
        wo.message = NULL;
        wo.payload.data = l->will_payload;
        wo.payload.len = (int)will_len;
        wo.qos = will_qos;
        wo.retained = will_retain;
        l->will = wo;
        co.will = &l->will;
    }
    co.keepAliveInterval = l->opts.keepalive_s > 0 ? l->opts.keepalive_s : 10;
    co.cleansession = 1;
    co.automaticReconnect = 0;
    /* 3.1.1 only: Paho's default would fall back to 3.1 on its own. */
    co.MQTTVersion = MQTTVERSION_3_1_1;
    co.connectTimeout = l->opts.connect_timeout_s > 0
                            ? l->opts.connect_timeout_s : 5;
    co.maxInflight = l->opts.max_inflight > 0 ? l->opts.max_inflight : 1000;
    co.username = l->user;
    co.password = l->password;
    if (l->tls) {
        so.trustStore = l->cafile;
        so.keyStore = l->cert;
        so.privateKey = l->key;
        so.enableServerCertAuth = 1;
        so.verify = 1;               /* check the host name too */
        so.sslVersion = MQTT_SSL_VERSION_TLS_1_2;   /* 1.2 or newer */
        so.ssl_error_cb = on_ssl_error;
        so.ssl_error_context = l;
        l->ssl = so;
        co.ssl = &l->ssl;
    }
    co.onSuccess = on_connect_ok;
    co.onFailure = on_connect_fail;
    co.context = l->cur;

    pthread_mutex_lock(&l->mu);
    l->attempt_done = 0;
    l->ssl_err[0] = '\0';
    l->subs_sent = l->subs_done = l->sub_failed = 0;
    pthread_mutex_unlock(&l->mu);
    return paho.connect(l->client, &co) == MQTTASYNC_SUCCESS
               ? 0 : DX_ECONNECT;
}

/* Absolute CLOCK_MONOTONIC time timeout_ms from now. */
static struct timespec deadline_in(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

int dx_link_connect_wait(dx_link *l, int timeout_ms, char *why, size_t cap)
{
    struct timespec dl = deadline_in(timeout_ms);
    int rc = dx_link_connect(l, NULL, NULL, 0, 0, false);
    int done;

    if (rc != 0) {
        snprintf(why, cap, "cannot start a connection to %s", l->uri);
        return rc;
    }
    pthread_mutex_lock(&l->mu);
    while (l->attempt_done == 0 &&
           pthread_cond_timedwait(&l->cv, &l->mu, &dl) != ETIMEDOUT)
        ;
    done = l->attempt_done;
    if (done < 0)
        snprintf(why, cap, "%s", l->fail_text);
    rc = done > 0 ? 0 : done == 0 ? DX_ETIMEOUT
                  : (l->fail_code == 4 || l->fail_code == 5) ? DX_EAUTH
                  : l->fail_code == DX_ETLS ? DX_ETLS
                                            : DX_ECONNECT;
    pthread_mutex_unlock(&l->mu);
    if (done == 0)
        snprintf(why, cap, "no MQTT answer from the broker at %s within %d ms%s",
                 l->uri, timeout_ms,
                 l->tls ? "" : " (is it a TLS port?  use ssl://)");
    return rc;
}

/* Sends one SUBSCRIBE; *seq is its place in the order of SUBACKs. */
static int subscribe(dx_link *l, const char *const *filters, size_t n,
                     int qos, uint64_t *seq)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int qs[DX_LINK_SUBS_MAX];
    int rc;
    if (n == 0 || n > DX_LINK_SUBS_MAX)
        return DX_EINVAL;
    for (size_t i = 0; i < n; i++)
        qs[i] = qos;
    ro.onSuccess = on_sub_ok;
    ro.onFailure = on_sub_fail;
    ro.context = l->cur;
    /* Never call Paho with l->mu held: Paho calls our callbacks (which
     * take l->mu) with its own lock held. */
    pthread_mutex_lock(&l->mu);
    *seq = ++l->subs_sent;
    pthread_mutex_unlock(&l->mu);
    rc = paho.subscribeMany(l->client, (int)n, (char *const *)filters, qs,
                            &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        /* Never sent: no SUBACK will count it; count it as failed. */
        pthread_mutex_lock(&l->mu);
        l->subs_done++;
        l->sub_failed = *seq;
        pthread_cond_broadcast(&l->cv);
        pthread_mutex_unlock(&l->mu);
        return DX_ECONNECT;
    }
    return 0;
}

int dx_link_subscribe(dx_link *l, const char *const *filters, size_t n,
                      int qos)
{
    uint64_t seq;
    return subscribe(l, filters, n, qos, &seq);
}

int dx_link_unsubscribe(dx_link *l, const char *filter)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    return paho.unsubscribe(l->client, filter, &ro) == MQTTASYNC_SUCCESS
               ? 0 : DX_ECONNECT;
}

int dx_link_subscribe_wait(dx_link *l, const char *const *filters, size_t n,
                           int qos, int timeout_ms)
{
    struct timespec dl = deadline_in(timeout_ms);
    uint64_t seq;
    int rc = subscribe(l, filters, n, qos, &seq);
    if (rc != 0)
        return rc;
    pthread_mutex_lock(&l->mu);
    while (l->subs_done < seq &&
           pthread_cond_timedwait(&l->cv, &l->mu, &dl) != ETIMEDOUT)
        ;
    rc = l->subs_done < seq ? DX_ETIMEOUT
         : l->sub_failed == seq ? DX_ECONNECT : 0;
    pthread_mutex_unlock(&l->mu);
    return rc;
}

int dx_link_publish(dx_link *l, const char *topic, const void *payload,
                    size_t len, int qos, bool retain)
{
    MQTTAsync_message m = MQTTAsync_message_initializer;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    m.payload = (void *)payload;
    m.payloadlen = (int)len;
    m.qos = qos;
    m.retained = retain;
    return paho.sendMessage(l->client, topic, &m, &ro) ==
                   MQTTASYNC_SUCCESS
               ? 0 : DX_ECONNECT;
}

int dx_link_flush(dx_link *l, int timeout_ms)
{
    MQTTAsync_token *toks = NULL;
    struct timespec dl = deadline_in(timeout_ms), now;
    int rc = 0;

    if (paho.getPendingTokens(l->client, &toks) != MQTTASYNC_SUCCESS)
        return DX_ECONNECT;
    /* Polled every millisecond: Paho's waitForCompletion sleeps 100 ms
     * between its checks. */
    for (size_t i = 0; toks != NULL && toks[i] != -1 && rc == 0; i++) {
        while (paho.isComplete(l->client, toks[i]) != MQTTASYNC_TRUE) {
            struct timespec nap = {0, 1000000};
            clock_gettime(CLOCK_MONOTONIC, &now);
            if (now.tv_sec > dl.tv_sec ||
                (now.tv_sec == dl.tv_sec && now.tv_nsec > dl.tv_nsec)) {
                rc = DX_ETIMEOUT;
                break;
            }
            nanosleep(&nap, NULL);
        }
    }
    paho.free(toks);
    return rc;
}

int dx_link_disconnect(dx_link *l, int timeout_ms)
{
    MQTTAsync_disconnectOptions o = MQTTAsync_disconnectOptions_initializer;
    struct timespec dl = deadline_in(timeout_ms);
    o.timeout = timeout_ms;
    if (!dx_link_is_connected(l))
        return 0;
    if (paho.disconnect(l->client, &o) != MQTTASYNC_SUCCESS)
        return DX_ECONNECT;
    /* Paho calls no connectionLost for a requested disconnect: poll. */
    while (paho.isConnected(l->client)) {
        struct timespec now, nap = {0, 2000000};
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > dl.tv_sec ||
            (now.tv_sec == dl.tv_sec && now.tv_nsec > dl.tv_nsec))
            return DX_ETIMEOUT;
        nanosleep(&nap, NULL);
    }
    pthread_mutex_lock(&l->mu);
    l->connected = false;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

int dx_link_abort(dx_link *l)
{
    /* Closing the socket through Paho would send DISCONNECT; shutting down
     * the socket under it makes the broker see the connection drop and
     * fire the will, exactly as for a crash. */
    int hits = 0;
    pthread_mutex_lock(&claims_mu);
    for (int i = 0; i < CLAIMS_MAX; i++)
        if (claims[i].owner == l && peer_port(claims[i].fd) == l->port &&
            shutdown(claims[i].fd, SHUT_RDWR) == 0)
            hits++;
    pthread_mutex_unlock(&claims_mu);
    return hits > 0 ? 0 : DX_ENOTFOUND;
}

bool dx_link_is_connected(const dx_link *l)
{
    return paho.isConnected(l->client) != 0;
}
