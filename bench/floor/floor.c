/*
 * The benchmark's floor: a Lambda custom runtime that does only the hops no
 * implementation can avoid, as cheaply as C on raw sockets allows.
 *
 *   GET  /2018-06-01/runtime/invocation/next        (Runtime API)
 *   POST /endpoints/$ENDPOINT_NAME/invocations       (SageMaker stand-in, SigV4-signed)
 *   POST /2018-06-01/runtime/invocation/{id}/response  with the stand-in's answer
 *
 * No JSON parsing, no validation, no logging, no retries: whatever a real
 * function spends beyond this is its own overhead.  Both connections are
 * kept alive when the peer allows it (if the RIE closes the Runtime API
 * connection, e.g. "Connection: close" after /next, we reconnect lazily).
 * The RIE answers /next with Content-Length; chunked bodies are read too.
 *
 * Signing (SigV4 on libcrypto's SHA-256, HMAC built on it): the event body is
 * the same for every warm invocation of the benchmark, so the SigV4 headers
 * are computed once at start for the body in $FLOOR_EVENT_FILE and reused
 * (the issue: sign once, at start).  To stay
 * correct for any event, an invocation whose body differs from the signed
 * one, or that comes more than SIGN_MAX_AGE_S after signing (the stand-in,
 * like AWS, refuses signatures more than 5 minutes off), is signed afresh.
 *
 * Environment: AWS_LAMBDA_RUNTIME_API (host:port), AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME
 * (http://host:port), ENDPOINT_NAME, AWS_REGION, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN (optional), FLOOR_EVENT_FILE (optional).
 *
 * Build: cc -O2 -static -o floor floor.c -lcrypto
 * (fully static: no dynamic loader, no libcrypto.so to map and relocate at
 * start; of libcrypto only the SHA-256 code comes in)
 *
 * With -DFLOOR_LIBCURL (cc -O2 -DFLOOR_LIBCURL -o floor-libcurl floor.c -lcurl -lcrypto)
 * the POST to the stand-in goes through a kept-alive libcurl easy handle set up
 * as the bootstrap's HTTPClient sets up its own, with the very same request
 * headers as the plain floor.  The design makes every real implementation pay
 * for libcurl, so this variant measures what that alone costs over the floor.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/* SHA256_Init & co. are deprecated in OpenSSL 3 in favour of EVP, whose
 * start-up cost is exactly what is avoided here (see sha256()). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#ifdef FLOOR_LIBCURL
#include <curl/curl.h>
#endif

#define SIGN_MAX_AGE_S 240 /* re-sign well inside the 5-minute skew window */

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("floor: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static const char *need_env(const char *name) {
    const char *value = getenv(name);
    if (!value || !*value) die("%s is not set", name);
    return value;
}

/* ---------------------------------------------------------------- buffers */

typedef struct {
    char *data;
    size_t len, cap;
} buf_t;

static void buf_reserve(buf_t *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    b->data = realloc(b->data, cap);
    if (!b->data) die("out of memory");
    b->cap = cap;
}

static void buf_append(buf_t *b, const void *data, size_t n) {
    buf_reserve(b, n);
    memcpy(b->data + b->len, data, n);
    b->len += n;
}

/* ---------------------------------------------------------------- connections */

/* One HTTP/1.1 client connection with its own read buffer.  fd < 0 means
 * "not connected": the next request connects first. */
typedef struct {
    char host[256];
    int port;
    int fd;
    buf_t in;     /* bytes received, not yet consumed, start at in_off */
    size_t in_off;
} conn_t;

static void conn_init(conn_t *c, const char *hostport) {
    const char *colon = strrchr(hostport, ':');
    if (!colon || (size_t)(colon - hostport) >= sizeof c->host) die("bad host:port %s", hostport);
    memcpy(c->host, hostport, (size_t)(colon - hostport));
    c->host[colon - hostport] = 0;
    c->port = atoi(colon + 1);
    c->fd = -1;
    memset(&c->in, 0, sizeof c->in);
    c->in_off = 0;
}

static void conn_close(conn_t *c) {
    if (c->fd >= 0) close(c->fd);
    c->fd = -1;
    c->in.len = c->in_off = 0;
}

static void conn_open(conn_t *c) {
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)c->port)};
    /* IPv4 literals only (the benchmark runs on 127.0.0.1): no resolver, which
     * also keeps the fully static build free of glibc's NSS. */
    if (inet_pton(AF_INET, c->host, &addr.sin_addr) != 1) die("not an IPv4 address: %s", c->host);
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket: %s", strerror(errno));
    int one = 1;
    /* Head and body go out in one writev, but the peer's answers must not
     * wait for delayed ACKs either. */
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("connect %s:%d: %s", c->host, c->port, strerror(errno));
    c->in.len = c->in_off = 0;
}

/* Reads more bytes into c->in; returns 0 on EOF. */
static size_t conn_fill(conn_t *c) {
    buf_reserve(&c->in, 65536);
    for (;;) {
        ssize_t n = recv(c->fd, c->in.data + c->in.len, c->in.cap - c->in.len, 0);
        if (n > 0) {
            c->in.len += (size_t)n;
            return (size_t)n;
        }
        if (n == 0) return 0;
        if (errno != EINTR) return 0; /* treated like EOF: the caller decides */
    }
}

/* Sends all iovecs; returns 0 on failure (peer gone). */
static int send_all(int fd, struct iovec *iov, int count) {
    while (count > 0) {
        ssize_t n = writev(fd, iov, count);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 0;
        }
        while (count > 0 && (size_t)n >= iov->iov_len) {
            n -= (ssize_t)iov->iov_len;
            iov++;
            count--;
        }
        if (count > 0) {
            iov->iov_base = (char *)iov->iov_base + n;
            iov->iov_len -= (size_t)n;
        }
    }
    return 1;
}

typedef struct {
    int status;
    int close_after;      /* the peer said Connection: close */
    char request_id[128]; /* Lambda-Runtime-Aws-Request-Id, when present */
    buf_t body;
} response_t;

/* Case-insensitive "does header line LINE (no CRLF) have name NAME"; returns the value. */
static const char *header_value(const char *line, size_t len, const char *name) {
    size_t n = strlen(name);
    if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0) return NULL;
    const char *v = line + n + 1;
    while (*v == ' ' || *v == '\t') v++;
    return v;
}

/* Reads one response from c into r.  Returns 0 if the connection ended
 * before a complete response (the caller may reconnect and retry). */
static int read_response(conn_t *c, response_t *r) {
    /* Drop what earlier responses consumed, so the buffer does not grow. */
    if (c->in_off > 0) {
        memmove(c->in.data, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in.len -= c->in_off;
        c->in_off = 0;
    }
    r->status = 0;
    r->close_after = 0;
    r->request_id[0] = 0;
    r->body.len = 0;

    /* Headers: up to the blank line. */
    char *end;
    while (!(end = memmem(c->in.data + c->in_off, c->in.len - c->in_off, "\r\n\r\n", 4)))
        if (!conn_fill(c)) return 0;
    size_t head_len = (size_t)(end - (c->in.data + c->in_off)) + 4;
    end[2] = 0; /* terminate the header block (keeps the CRLF of the last line) */
    char *head = c->in.data + c->in_off;
    c->in_off += head_len;

    long long length = -1;
    int chunked = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &r->status) != 1) die("bad status line");
    for (char *line = strstr(head, "\r\n") + 2; *line; ) {
        char *eol = strstr(line, "\r\n");
        size_t len = (size_t)(eol - line);
        const char *v;
        if ((v = header_value(line, len, "Content-Length"))) length = atoll(v);
        else if ((v = header_value(line, len, "Transfer-Encoding"))) chunked = strncasecmp(v, "chunked", 7) == 0;
        else if ((v = header_value(line, len, "Connection"))) r->close_after = strncasecmp(v, "close", 5) == 0;
        else if ((v = header_value(line, len, "Lambda-Runtime-Aws-Request-Id"))) {
            size_t n = (size_t)(eol - v);
            if (n >= sizeof r->request_id) die("request id too long");
            memcpy(r->request_id, v, n);
            r->request_id[n] = 0;
        }
        line = eol + 2;
    }

    if (chunked) {
        /* The RIE answers with Content-Length as far as we have seen; chunked is
         * handled anyway, trailers ignored. */
        for (;;) {
            char *eol;
            while (!(eol = memmem(c->in.data + c->in_off, c->in.len - c->in_off, "\r\n", 2)))
                if (!conn_fill(c)) return 0;
            size_t size = strtoul(c->in.data + c->in_off, NULL, 16);
            c->in_off = (size_t)(eol - c->in.data) + 2;
            if (size == 0) {
                while (!(eol = memmem(c->in.data + c->in_off, c->in.len - c->in_off, "\r\n", 2)))
                    if (!conn_fill(c)) return 0;
                int blank = eol == c->in.data + c->in_off;
                c->in_off = (size_t)(eol - c->in.data) + 2;
                if (blank) break;
                continue; /* a trailer line: skip it */
            }
            while (c->in.len - c->in_off < size + 2)
                if (!conn_fill(c)) return 0;
            buf_append(&r->body, c->in.data + c->in_off, size);
            c->in_off += size + 2;
        }
    } else if (length >= 0) {
        while (c->in.len - c->in_off < (size_t)length)
            if (!conn_fill(c)) return 0;
        buf_append(&r->body, c->in.data + c->in_off, (size_t)length);
        c->in_off += (size_t)length;
    } else {
        /* No framing: the body runs to EOF. */
        buf_append(&r->body, c->in.data + c->in_off, c->in.len - c->in_off);
        c->in_off = c->in.len;
        while (conn_fill(c)) {
            buf_append(&r->body, c->in.data + c->in_off, c->in.len - c->in_off);
            c->in_off = c->in.len;
        }
        r->close_after = 1;
    }
    return 1;
}

/* One request/response exchange.  A kept-alive connection the peer closed
 * meanwhile fails on first use: reconnect and send once more (both our
 * requests are safe to repeat at that point: nothing was answered). */
static void exchange(conn_t *c, struct iovec *iov, int count, response_t *r) {
    struct iovec copy[4];
    for (int attempt = 0; attempt < 2; attempt++) {
        int reused = c->fd >= 0;
        if (!reused) conn_open(c);
        memcpy(copy, iov, sizeof(struct iovec) * (size_t)count);
        if (send_all(c->fd, copy, count) && read_response(c, r)) {
            if (r->close_after) conn_close(c);
            return;
        }
        conn_close(c);
        if (!reused) break;
    }
    die("%s:%d closed the connection without an answer", c->host, c->port);
}

/* ---------------------------------------------------------------- SigV4 */

static void hex(const unsigned char *in, size_t n, char *out) {
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

/* libcrypto's SHA-256 block functions, not SHA256()/HMAC()/EVP: in OpenSSL 3
 * those go through EVP, whose first use loads the configuration and the
 * default provider, 0.7 ms of start-up (measured) a floor has no reason to pay. */
static void sha256(const void *data, size_t n, unsigned char out[32]) {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, data, n);
    SHA256_Final(out, &ctx);
}

static void sha256_hex(const void *data, size_t n, char out[65]) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    sha256(data, n, digest);
    hex(digest, sizeof digest, out);
}

/* HMAC-SHA256 (RFC 2104) on those block functions. */
static void hmac(const void *key, size_t key_len, const char *msg, unsigned char out[32]) {
    unsigned char block[64] = {0}, pad[64], inner[32];
    if (key_len > sizeof block) sha256(key, key_len, block);
    else memcpy(block, key, key_len);
    SHA256_CTX ctx;
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, sizeof pad);
    SHA256_Update(&ctx, msg, strlen(msg));
    SHA256_Final(inner, &ctx);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, pad, sizeof pad);
    SHA256_Update(&ctx, inner, sizeof inner);
    SHA256_Final(out, &ctx);
}

typedef struct {
    const char *region, *access_key, *secret_key, *token, *endpoint_name;
    char host[300];       /* Host header value: host:port as in the endpoint URL */
    char path[300];       /* /endpoints/NAME/invocations */
    /* The signed request head, valid for signed_body only. */
    buf_t head;
    buf_t signed_body;
    time_t signed_at;
    int have_signature;
#ifdef FLOOR_LIBCURL
    struct curl_slist *curl_headers; /* the head's header lines but Host and Content-Length */
#endif
} signer_t;

/* Builds the complete request head (request line + headers) for BODY, signed now. */
static void sign(signer_t *s, const char *body, size_t body_len) {
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char amz_date[17], date[9];
    strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &tm);
    strftime(date, sizeof date, "%Y%m%d", &tm);

    char payload_hash[65];
    sha256_hex(body, body_len, payload_hash);

    /* Canonical request: headers sorted by name, as the signed-headers list. */
    const char *signed_headers = s->token ? "content-type;host;x-amz-date;x-amz-security-token"
                                          : "content-type;host;x-amz-date";
    char canonical[4096];
    int n = snprintf(canonical, sizeof canonical,
                     "POST\n%s\n\ncontent-type:application/json\nhost:%s\nx-amz-date:%s\n%s%s%s\n%s\n%s",
                     s->path, s->host, amz_date, s->token ? "x-amz-security-token:" : "",
                     s->token ? s->token : "", s->token ? "\n" : "", signed_headers, payload_hash);
    if (n < 0 || (size_t)n >= sizeof canonical) die("canonical request too long");
    char canonical_hash[65];
    sha256_hex(canonical, (size_t)n, canonical_hash);

    char scope[256], string_to_sign[512];
    snprintf(scope, sizeof scope, "%s/%s/sagemaker/aws4_request", date, s->region);
    snprintf(string_to_sign, sizeof string_to_sign, "AWS4-HMAC-SHA256\n%s\n%s\n%s", amz_date, scope, canonical_hash);

    /* kSigning = HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request") */
    char secret[512];
    snprintf(secret, sizeof secret, "AWS4%s", s->secret_key);
    unsigned char k[32], signature[32];
    hmac(secret, strlen(secret), date, k);
    hmac(k, 32, s->region, k);
    hmac(k, 32, "sagemaker", k);
    hmac(k, 32, "aws4_request", k);
    hmac(k, 32, string_to_sign, signature);
    char signature_hex[65];
    hex(signature, 32, signature_hex);

    char head[8192];
    n = snprintf(head, sizeof head,
                 "POST %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\n"
                 "X-Amz-Date: %s\r\n"
                 "%s%s%s"
                 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s\r\n"
                 "\r\n",
                 s->path, s->host, body_len, amz_date, s->token ? "X-Amz-Security-Token: " : "",
                 s->token ? s->token : "", s->token ? "\r\n" : "", s->access_key, scope, signed_headers,
                 signature_hex);
    if (n < 0 || (size_t)n >= sizeof head) die("request head too long");
    s->head.len = 0;
    buf_append(&s->head, head, (size_t)n);
#ifdef FLOOR_LIBCURL
    /* libcurl writes the request line, Host and Content-Length itself; an empty
     * "Accept:" drops the catch-all Accept it would add: the wire request is the floor's. */
    curl_slist_free_all(s->curl_headers);
    s->curl_headers = NULL;
    char *save = NULL;
    char *line = strtok_r(head, "\r\n", &save); /* the request line: skipped */
    while ((line = strtok_r(NULL, "\r\n", &save)))
        if (strncasecmp(line, "Host:", 5) && strncasecmp(line, "Content-Length:", 15))
            s->curl_headers = curl_slist_append(s->curl_headers, line);
    s->curl_headers = curl_slist_append(s->curl_headers, "Accept:");
    if (!s->curl_headers) die("out of memory");
#endif
    s->signed_body.len = 0;
    buf_append(&s->signed_body, body, body_len);
    s->signed_at = now;
    s->have_signature = 1;
}

static void read_file(const char *path, buf_t *out) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) die("open %s: %s", path, strerror(errno));
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) buf_append(out, chunk, (size_t)n);
    close(fd);
}

#ifdef FLOOR_LIBCURL
static size_t curl_body(char *data, size_t size, size_t count, void *context) {
    buf_append((buf_t *)context, data, size * count);
    return size * count;
}

static size_t curl_header(char *data, size_t size, size_t count, void *context) {
    (void)data, (void)context; /* the status comes from CURLINFO_RESPONSE_CODE */
    return size * count;
}

/* The options HTTPClient.swift sets once on its handle... */
static CURL *curl_open(response_t *r) {
    CURL *curl = curl_easy_init();
    if (!curl) die("curl_easy_init failed");
    curl_easy_setopt(curl, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
    /* No CURLOPT_PROXY: like the bootstrap, libcurl honours http(s)_proxy. */
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, curl_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, curl_header);
    return curl;
}

/* ...and the ones it sets for every request. */
static void curl_exchange(CURL *curl, const char *url, signer_t *s, const buf_t *body, response_t *r) {
    r->body.len = 0;
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body->len);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, s->curl_headers);
    CURLcode code = curl_easy_perform(curl);
    if (code != CURLE_OK) die("libcurl: %s", curl_easy_strerror(code));
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    r->status = (int)status;
}
#endif

/* ---------------------------------------------------------------- main loop */

int main(void) {
    conn_t runtime, sagemaker;
    conn_init(&runtime, need_env("AWS_LAMBDA_RUNTIME_API"));

    const char *url = need_env("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME");
    if (strncmp(url, "http://", 7) != 0) die("the floor speaks plain HTTP only: %s", url);
    signer_t s = {0};
    snprintf(s.host, sizeof s.host, "%s", url + 7);
    size_t host_len = strcspn(s.host, "/");
    s.host[host_len] = 0;
    conn_init(&sagemaker, s.host);
    s.region = need_env("AWS_REGION");
    s.access_key = need_env("AWS_ACCESS_KEY_ID");
    s.secret_key = need_env("AWS_SECRET_ACCESS_KEY");
    s.token = getenv("AWS_SESSION_TOKEN");
    if (s.token && !*s.token) s.token = NULL;
    s.endpoint_name = need_env("ENDPOINT_NAME");
    /* Endpoint names are [a-zA-Z0-9-]: no escaping needed in the path. */
    snprintf(s.path, sizeof s.path, "/endpoints/%s/invocations", s.endpoint_name);

    const char *event_file = getenv("FLOOR_EVENT_FILE");
    if (event_file && *event_file) {
        buf_t event = {0};
        read_file(event_file, &event);
        sign(&s, event.data, event.len);
        free(event.data);
    }

    static const char next_request[] = "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nHost: runtime\r\n\r\n";
    response_t event = {0}, answer = {0}, ack = {0};
    char post_head[512];
#ifdef FLOOR_LIBCURL
    CURL *curl = curl_open(&answer);
    char curl_url[1024];
    snprintf(curl_url, sizeof curl_url, "http://%s%s", s.host, s.path);
#endif

    for (;;) {
        struct iovec next_iov[1] = {{(void *)next_request, sizeof next_request - 1}};
        exchange(&runtime, next_iov, 1, &event);
        if (event.status != 200 || !event.request_id[0]) die("/next answered %d", event.status);

        time_t now = time(NULL);
        if (!s.have_signature || now - s.signed_at > SIGN_MAX_AGE_S || event.body.len != s.signed_body.len ||
            memcmp(event.body.data, s.signed_body.data, event.body.len) != 0)
            sign(&s, event.body.data, event.body.len);
#ifdef FLOOR_LIBCURL
        curl_exchange(curl, curl_url, &s, &event.body, &answer);
#else
        struct iovec sm_iov[2] = {{s.head.data, s.head.len}, {event.body.data, event.body.len}};
        exchange(&sagemaker, sm_iov, 2, &answer);
#endif

        /* A failed model call becomes a function error, body passed through. */
        const char *kind = answer.status == 200 ? "response" : "error";
        int n = snprintf(post_head, sizeof post_head,
                         "POST /2018-06-01/runtime/invocation/%s/%s HTTP/1.1\r\nHost: runtime\r\n"
                         "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                         event.request_id, kind, answer.body.len);
        struct iovec post_iov[2] = {{post_head, (size_t)n}, {answer.body.data, answer.body.len}};
        exchange(&runtime, post_iov, 2, &ack);
        if (ack.status != 202) die("/%s answered %d", kind, ack.status);
    }
}
