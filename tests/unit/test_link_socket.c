/*
 * test_link_socket.c - unit test of dx_link_tune_socket (agent/link.c) on
 * a real loopback TCP connection: Nagle off, and the 4 MiB send buffer
 * wherever net.core.wmem_max allows it (Linux reports twice the value
 * set); where it does not, the kernel's autotuning is left alone, so the
 * buffer must not be locked smaller than it was.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "link.h"

#define WANT (4 << 20)

static long wmem_max(void)
{
    FILE *f = fopen("/proc/sys/net/core/wmem_max", "r");
    long v = 0;
    if (f != NULL) {
        if (fscanf(f, "%ld", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static int opt(int fd, int level, int name)
{
    int v = -1;
    socklen_t l = sizeof v;
    assert_int_equal(getsockopt(fd, level, name, &v, &l), 0);
    return v;
}

/* A connected loopback pair: *c the client side, *a the accepted one. */
static void tcp_pair(int *lsn, int *c, int *a)
{
    struct sockaddr_in sa = {0};
    socklen_t sl = sizeof sa;
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    *lsn = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*lsn >= 0);
    assert_int_equal(bind(*lsn, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(*lsn, 1), 0);
    assert_int_equal(getsockname(*lsn, (struct sockaddr *)&sa, &sl), 0);
    *c = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*c >= 0);
    assert_int_equal(connect(*c, (struct sockaddr *)&sa, sizeof sa), 0);
    *a = accept(*lsn, NULL, NULL);
    assert_true(*a >= 0);
}

static void test_tune_socket(void **state)
{
    int lsn, c, a, before;

    (void)state;
    tcp_pair(&lsn, &c, &a);
    before = opt(c, SOL_SOCKET, SO_SNDBUF);
    assert_int_equal(opt(c, IPPROTO_TCP, TCP_NODELAY), 0);

    dx_link_tune_socket(c);
    assert_int_not_equal(opt(c, IPPROTO_TCP, TCP_NODELAY), 0);
    if (wmem_max() >= WANT)
        assert_true(opt(c, SOL_SOCKET, SO_SNDBUF) >= WANT);
    else
        assert_true(opt(c, SOL_SOCKET, SO_SNDBUF) >= before);

    /* Twice is harmless: the same settings. */
    dx_link_tune_socket(c);
    assert_int_not_equal(opt(c, IPPROTO_TCP, TCP_NODELAY), 0);
    /* The peer's socket is not touched. */
    assert_int_equal(opt(a, IPPROTO_TCP, TCP_NODELAY), 0);
    close(a);
    close(c);
    close(lsn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tune_socket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
