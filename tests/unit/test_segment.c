/* Segments (sealing, allocator, validated attach, offsets across mappings at different
 * addresses) and fd passing over unix sockets. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdlib.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "svm/fd_pass.h"
#include "svm/segment.h"

#define KiB (1024ull)
#define MiB (1024ull * 1024)

static uint64_t data_start(void)
{
    return HS_ALIGN_UP((uint64_t)sizeof(hs_segment_hdr_t), (uint64_t)HS_CACHE_LINE);
}

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(seed * 31u + i * 7u + (i >> 8));
}

static void expect_filled(const uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != (uint8_t)(seed * 31u + i * 7u + (i >> 8)))
            fail_msg("byte %zu of block %u differs", i, seed);
}

/* The identity every state must keep: header + in use + free = whole segment. */
static void check_accounting(const hs_segment_t *s)
{
    hs_segment_stats_t st;
    hs_segment_stats(s, &st);
    assert_int_equal(st.size, hs_segment_size(s));
    assert_int_equal(data_start() + st.bytes_in_use + st.bytes_free, st.size);
}

static void test_create_header(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "seg-a", 1 * MiB + 1), 0);
    long page = sysconf(_SC_PAGESIZE);
    assert_int_equal(hs_segment_size(&s), HS_ALIGN_UP(1 * MiB + 1, (uint64_t)page));
    const hs_segment_hdr_t *h = hs_segment_hdr(&s);
    assert_int_equal(h->magic, HS_SEGMENT_MAGIC);
    assert_int_equal(h->version, HS_SEGMENT_VERSION);
    assert_int_equal(h->size, hs_segment_size(&s));
    assert_string_equal(h->name, "seg-a");
    assert_true(s.is_owner);
    assert_true(fcntl(hs_segment_fd(&s), F_GETFD) & FD_CLOEXEC);
    struct stat st;
    assert_int_equal(fstat(hs_segment_fd(&s), &st), 0);
    assert_int_equal(st.st_size, hs_segment_size(&s));
    hs_segment_stats_t ss;
    hs_segment_stats(&s, &ss);
    assert_int_equal(ss.bytes_in_use, 0);
    assert_int_equal(ss.n_allocs, 0);
    check_accounting(&s);
    hs_segment_detach(&s);
    assert_null(s.base);
    hs_segment_detach(&s); /* twice is harmless */

    assert_int_equal(hs_segment_create(&s, "tiny", 0), -EINVAL);
    assert_int_equal(hs_segment_create(&s, "tiny", 100), -EINVAL);
    assert_int_equal(hs_segment_create(&s, "huge", SIZE_MAX), -EINVAL);
}

static void test_sealing(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "sealed", 64 * KiB), 0);
    int fd = hs_segment_fd(&s);
    int seals = fcntl(fd, F_GET_SEALS);
    assert_true(seals & F_SEAL_SHRINK);
    assert_true(seals & F_SEAL_GROW);
    assert_true(seals & F_SEAL_SEAL);
    errno = 0;
    assert_int_equal(ftruncate(fd, 4096), -1);
    assert_int_equal(errno, EPERM);
    assert_int_equal(ftruncate(fd, 0), -1);
    assert_int_equal(ftruncate(fd, 1 * MiB), -1);
    assert_int_equal(errno, EPERM);
    /* A peer must not be able to add a write seal that would stop others mapping it. */
    assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_size, 64 * KiB);
    hs_segment_detach(&s);
}

/* Every request size lands in the smallest class that holds it, blocks are cache-line
 * aligned, never overlap, hold their bytes, and a freed block is reused first. */
static void test_alloc_classes(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "classes", 16 * MiB), 0);
    static const struct {
        size_t req, cls;
    } cases[] = {{1, 64},           {63, 64},       {64, 64},         {65, 128},
                 {128, 128},        {129, 256},     {1000, 1024},     {4096, 4096},
                 {4097, 8192},      {65536, 65536}, {100000, 131072}, {1 * MiB, 1 * MiB},
                 {3 * MiB, 4 * MiB}};
    int64_t offs[HS_ARRAY_LEN(cases)];
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        offs[i] = hs_segment_alloc(&s, cases[i].req);
        assert_true(offs[i] > 0);
        assert_int_equal(offs[i] % HS_CACHE_LINE, 0);
        assert_int_equal(hs_segment_block_size(&s, (uint64_t)offs[i]), cases[i].cls);
        assert_true((uint64_t)offs[i] + cases[i].cls <= hs_segment_size(&s));
        fill(hs_segment_ptr(&s, (uint64_t)offs[i]), cases[i].cls, (uint32_t)i);
        check_accounting(&s);
    }
    /* No block overwrote another. */
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++)
        expect_filled(hs_segment_ptr(&s, (uint64_t)offs[i]), cases[i].cls, (uint32_t)i);

    hs_segment_stats_t st;
    hs_segment_stats(&s, &st);
    assert_int_equal(st.n_allocs, HS_ARRAY_LEN(cases));
    uint64_t in_use = 0;
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++)
        in_use += cases[i].cls + HS_SEGMENT_BLOCK_HDR;
    assert_int_equal(st.bytes_in_use, in_use);

    /* Free and reallocate each: the same block comes back (LIFO per class). */
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        assert_int_equal(hs_segment_free(&s, (uint64_t)offs[i]), 0);
        check_accounting(&s);
        assert_int_equal(hs_segment_alloc(&s, cases[i].req), offs[i]);
    }
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++)
        assert_int_equal(hs_segment_free(&s, (uint64_t)offs[i]), 0);
    hs_segment_stats(&s, &st);
    assert_int_equal(st.bytes_in_use, 0);
    assert_int_equal(st.n_frees, st.n_allocs);
    check_accounting(&s);

    assert_int_equal(hs_segment_alloc(&s, 0), -EINVAL);
    assert_int_equal(hs_segment_alloc(&s, HS_SEGMENT_MAX_ALLOC + 1), -EINVAL);
    hs_segment_detach(&s);
}

static void test_alloc_max_class(void **state)
{
    (void)state;
    hs_segment_t s;
    /* memfd pages are allocated on touch, so a big segment costs little here. */
    assert_int_equal(hs_segment_create(&s, "big", HS_SEGMENT_MAX_ALLOC + 1 * MiB), 0);
    int64_t off = hs_segment_alloc(&s, HS_SEGMENT_MAX_ALLOC);
    assert_true(off > 0);
    assert_int_equal(hs_segment_block_size(&s, (uint64_t)off), HS_SEGMENT_MAX_ALLOC);
    uint8_t *p = hs_segment_ptr(&s, (uint64_t)off);
    p[0] = 1;
    p[HS_SEGMENT_MAX_ALLOC - 1] = 2; /* last byte is mapped */
    assert_int_equal(hs_segment_alloc(&s, HS_SEGMENT_MAX_ALLOC), -ENOMEM);
    assert_int_equal(hs_segment_free(&s, (uint64_t)off), 0);
    assert_int_equal(hs_segment_alloc(&s, HS_SEGMENT_MAX_ALLOC), off);
    hs_segment_detach(&s);
}

/* Fill a small segment with 64-byte blocks until -ENOMEM; the failure is counted, nothing
 * breaks, and after freeing everything the same number fits again. */
static void test_exhaustion(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "small", 64 * KiB), 0);
    enum { MAXB = 1024 };
    int64_t offs[MAXB];
    int n = 0;
    int64_t r;
    while ((r = hs_segment_alloc(&s, 64)) >= 0) {
        assert_true(n < MAXB);
        offs[n++] = r;
    }
    assert_int_equal(r, -ENOMEM);
    uint64_t expect = (64 * KiB - data_start()) / (64 + HS_SEGMENT_BLOCK_HDR);
    assert_int_equal(n, expect);
    assert_int_equal(hs_segment_alloc(&s, 64), -ENOMEM);
    assert_int_equal(hs_segment_alloc(&s, 4096), -ENOMEM);
    hs_segment_stats_t st;
    hs_segment_stats(&s, &st);
    assert_int_equal(st.n_alloc_failed, 3);
    assert_true(st.bytes_free < 64 + HS_SEGMENT_BLOCK_HDR);
    check_accounting(&s);

    for (int i = 0; i < n; i++)
        assert_int_equal(hs_segment_free(&s, (uint64_t)offs[i]), 0);
    check_accounting(&s);
    int again = 0;
    while (hs_segment_alloc(&s, 33) >= 0)
        again++;
    assert_int_equal(again, n);
    hs_segment_detach(&s);
}

/* With fresh space gone, a request is served from a larger free block, which returns to
 * its own class when freed. */
static void test_larger_block_reuse(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "reuse", 64 * KiB), 0);
    int64_t big = hs_segment_alloc(&s, 8 * KiB);
    assert_true(big > 0);
    while (hs_segment_alloc(&s, 64) >= 0)
        ;
    assert_int_equal(hs_segment_free(&s, (uint64_t)big), 0);
    int64_t small = hs_segment_alloc(&s, 100);
    assert_int_equal(small, big);
    assert_int_equal(hs_segment_block_size(&s, (uint64_t)small), 8 * KiB);
    assert_int_equal(hs_segment_alloc(&s, 100), -ENOMEM);
    assert_int_equal(hs_segment_free(&s, (uint64_t)small), 0);
    assert_int_equal(hs_segment_alloc(&s, 8 * KiB), big);
    check_accounting(&s);
    hs_segment_detach(&s);
}

static void test_free_garbage(void **state)
{
    (void)state;
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "garbage", 256 * KiB), 0);
    int64_t a = hs_segment_alloc(&s, 200);
    int64_t b = hs_segment_alloc(&s, 64);
    assert_true(a > 0 && b > 0);
    hs_segment_stats_t before, after;
    hs_segment_stats(&s, &before);
    const uint64_t bad[] = {0,
                            1,
                            HS_SEGMENT_BLOCK_HDR,
                            data_start(),
                            (uint64_t)a + 8,
                            (uint64_t)a + 64,
                            (uint64_t)b + 128, /* past the bump pointer */
                            hs_segment_size(&s) - 64,
                            hs_segment_size(&s),
                            hs_segment_size(&s) + 4096,
                            UINT64_MAX - 63};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad); i++) {
        assert_int_equal(hs_segment_free(&s, bad[i]), -EINVAL);
        assert_int_equal(hs_segment_block_size(&s, bad[i]), -EINVAL);
    }
    hs_segment_stats(&s, &after);
    assert_memory_equal(&before, &after, sizeof(before));

    assert_int_equal(hs_segment_free(&s, (uint64_t)a), 0);
    assert_int_equal(hs_segment_free(&s, (uint64_t)a), -EINVAL); /* double free */
    assert_int_equal(hs_segment_block_size(&s, (uint64_t)a), -EINVAL);
    assert_int_equal(hs_segment_free(&s, (uint64_t)b), 0);
    check_accounting(&s);
    hs_segment_detach(&s);
}

/* A peer that scribbles over free-list heads or a free block's link makes the owner drop
 * that list (leak), never write through a wild offset. */
static void test_corrupt_free_list(void **state)
{
    (void)state;
    hs_segment_t s, peer;
    assert_int_equal(hs_segment_create(&s, "corrupt", 64 * KiB), 0);
    assert_int_equal(hs_segment_attach(&peer, dup(hs_segment_fd(&s))), 0);
    hs_segment_hdr_t *ph = (hs_segment_hdr_t *)peer.base;

    int64_t a = hs_segment_alloc(&s, 64), b = hs_segment_alloc(&s, 64);
    assert_int_equal(hs_segment_free(&s, (uint64_t)a), 0);
    assert_int_equal(hs_segment_free(&s, (uint64_t)b), 0);
    /* b's header links to a; point it at the middle of nowhere. */
    uint64_t *link = (uint64_t *)((uint8_t *)peer.base + b - HS_SEGMENT_BLOCK_HDR + 8);
    *link = 12345;
    assert_int_equal(hs_segment_alloc(&s, 64), b);
    int64_t c = hs_segment_alloc(&s, 64); /* list dropped: fresh space */
    assert_true(c > b);

    const uint64_t heads[] = {1, 7 * 64, UINT64_MAX, hs_segment_size(&s) - 64};
    for (size_t i = 0; i < HS_ARRAY_LEN(heads); i++) {
        ph->free_head[0] = heads[i];
        ph->free_head[3] = heads[i];
        int64_t d = hs_segment_alloc(&s, 64);
        assert_true(d > c);
        c = d;
        assert_int_equal(hs_segment_block_size(&s, (uint64_t)d), 64);
    }
    /* A peer rewinding the bump pointer into the header is refused too. */
    ph->bump = 8;
    assert_int_equal(hs_segment_alloc(&s, 1 * KiB), -ENOMEM);
    hs_segment_detach(&peer);
    hs_segment_detach(&s);
}

/* Two mappings of one segment in this process: different addresses, same offsets. */
static void test_two_mappings(void **state)
{
    (void)state;
    hs_segment_t s, m;
    assert_int_equal(hs_segment_create(&s, "twice", 1 * MiB), 0);
    int64_t off = hs_segment_alloc(&s, 3000);
    assert_true(off > 0);
    fill(hs_segment_ptr(&s, (uint64_t)off), 3000, 7);
    int fd2 = dup(hs_segment_fd(&s));
    assert_int_equal(hs_segment_attach(&m, fd2), 0);
    assert_ptr_not_equal(m.base, s.base);
    assert_false(m.is_owner);
    assert_int_equal(hs_segment_size(&m), hs_segment_size(&s));
    uint8_t *p = hs_segment_ptr(&m, (uint64_t)off);
    assert_ptr_not_equal(p, hs_segment_ptr(&s, (uint64_t)off));
    assert_int_equal(hs_segment_off(&m, p), off);
    expect_filled(p, 3000, 7);
    fill(p, 3000, 9); /* and the other way */
    expect_filled(hs_segment_ptr(&s, (uint64_t)off), 3000, 9);

    assert_int_equal(hs_segment_alloc(&m, 64), -EPERM);
    assert_int_equal(hs_segment_free(&m, (uint64_t)off), -EPERM);
    assert_non_null(hs_segment_ptr_checked(&m, (uint64_t)off, 3000));
    assert_null(hs_segment_ptr_checked(&m, hs_segment_size(&m) - 10, 11));
    assert_null(hs_segment_ptr_checked(&m, UINT64_MAX, 1));
    assert_null(hs_segment_ptr_checked(&m, 8, UINT64_MAX));
    hs_segment_detach(&m);
    assert_int_equal(fcntl(fd2, F_GETFD), -1); /* detach closed the attached fd */
    hs_segment_detach(&s);
}

/* Every way a received fd can be wrong: clear errors, no mapping left behind. */
static void test_attach_rejects(void **state)
{
    (void)state;
    hs_segment_t s, m;
    assert_int_equal(hs_segment_create(&s, "victim", 128 * KiB), 0);
    hs_segment_hdr_t *h = (hs_segment_hdr_t *)s.base;
    int fd = dup(hs_segment_fd(&s));
    struct {
        uint64_t *field64;
        uint32_t *field32;
        uint64_t bad;
        int err;
    } cases[] = {
        {&h->magic, NULL, 0x1122334455667788ull, -EPROTO},
        {NULL, &h->version, HS_SEGMENT_VERSION + 1, -EPROTO},
        {NULL, &h->hdr_size, sizeof(*h) - 8, -EPROTO},
        {&h->size, NULL, 256 * KiB, -EINVAL},
        {&h->size, NULL, 4096, -EINVAL},
        {&h->bump, NULL, 256 * KiB, -EINVAL},
        {&h->bump, NULL, 0, -EINVAL},
        {&h->data_start, NULL, 0, -EINVAL},
    };
    for (size_t i = 0; i < HS_ARRAY_LEN(cases); i++) {
        uint64_t saved = cases[i].field64 ? *cases[i].field64 : *cases[i].field32;
        if (cases[i].field64)
            *cases[i].field64 = cases[i].bad;
        else
            *cases[i].field32 = (uint32_t)cases[i].bad;
        assert_int_equal(hs_segment_attach(&m, fd), cases[i].err);
        assert_null(m.base);
        if (cases[i].field64)
            *cases[i].field64 = saved;
        else
            *cases[i].field32 = (uint32_t)saved;
    }
    assert_int_equal(hs_segment_attach(&m, fd), 0); /* restored: accepted */
    hs_segment_detach(&m);                          /* closes fd */
    hs_segment_detach(&s);
}

/* Fds that are not a sealed segment at all. */
static void test_attach_bad_fds(void **state)
{
    (void)state;
    hs_segment_t m;
    int fds_before = count_open_fds();
    /* Truncated: a sealed memfd shorter than a header. */
    int t = memfd_create("short", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(ftruncate(t, 16), 0);
    assert_int_equal(fcntl(t, F_ADD_SEALS, F_SEAL_SHRINK), 0);
    assert_int_equal(hs_segment_attach(&m, t), -EINVAL);
    close(t);
    /* Unsealed: a peer could shrink it under us. Valid header otherwise. */
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "src", 64 * KiB), 0);
    int u = memfd_create("unsealed", MFD_CLOEXEC);
    assert_int_equal(ftruncate(u, 64 * KiB), 0);
    assert_int_equal(pwrite(u, s.base, sizeof(hs_segment_hdr_t), 0), sizeof(hs_segment_hdr_t));
    assert_int_equal(hs_segment_attach(&m, u), -EINVAL);
    close(u);
    hs_segment_detach(&s);
    /* Empty, a pipe, a closed fd. */
    int e = memfd_create("empty", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    assert_int_equal(hs_segment_attach(&m, e), -EINVAL);
    close(e);
    int p[2];
    assert_int_equal(pipe(p), 0);
    assert_int_equal(hs_segment_attach(&m, p[0]), -EINVAL);
    close(p[0]);
    close(p[1]);
    assert_int_equal(hs_segment_attach(&m, p[0]), -EBADF);
    assert_int_equal(hs_segment_attach(&m, -1), -EBADF);
    assert_int_equal(count_open_fds(), fds_before);
}

/* The real path: fork first, then the owner creates the segment and passes its fd over a
 * socketpair; the child maps it at its own address and answers through the segment. */
static void test_attach_in_child(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        int fd, n_fds;
        uint64_t off;
        hs_segment_t m;
        if (hs_fd_recv(sv[1], &fd, 1, &n_fds, &off, sizeof(off)) != sizeof(off) || n_fds != 1)
            _exit(2);
        if (!(fcntl(fd, F_GETFD) & FD_CLOEXEC) || hs_segment_attach(&m, fd) != 0)
            _exit(3);
        uint8_t *p = hs_segment_ptr_checked(&m, off, 4096);
        if (!p)
            _exit(4);
        for (int i = 0; i < 4096; i++)
            if (p[i] != (uint8_t)(i * 13))
                _exit(5);
        for (int i = 0; i < 4096; i++)
            p[i] = (uint8_t)~p[i];
        hs_segment_detach(&m);
        _exit(0);
    }
    close(sv[1]);
    hs_segment_t s;
    assert_int_equal(hs_segment_create(&s, "to-child", 1 * MiB), 0);
    int64_t off = hs_segment_alloc(&s, 4096);
    uint8_t *p = hs_segment_ptr(&s, (uint64_t)off);
    for (int i = 0; i < 4096; i++)
        p[i] = (uint8_t)(i * 13);
    int fd = hs_segment_fd(&s);
    assert_int_equal(hs_fd_send(sv[0], &fd, 1, &off, sizeof(off)), sizeof(off));
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    for (int i = 0; i < 4096; i++)
        assert_int_equal(p[i], (uint8_t) ~(uint8_t)(i * 13));
    close(sv[0]);
    hs_segment_detach(&s);
}

static void same_file(int a, int b)
{
    struct stat sa, sb;
    assert_int_equal(fstat(a, &sa), 0);
    assert_int_equal(fstat(b, &sb), 0);
    assert_int_equal(sa.st_ino, sb.st_ino);
    assert_int_equal(sa.st_dev, sb.st_dev);
}

static void fd_pass_roundtrip(int type)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0);
    int p[2];
    assert_int_equal(pipe(p), 0); /* without O_CLOEXEC: the received copies must have it */
    char msg[100];
    fill((uint8_t *)msg, sizeof(msg), 3);
    assert_int_equal(hs_fd_send(sv[0], p, 2, msg, sizeof(msg)), sizeof(msg));
    int got[4] = {-1, -1, -1, -1}, n = -1;
    char in[100];
    assert_int_equal(hs_fd_recv(sv[1], got, 4, &n, in, sizeof(in)), sizeof(in));
    assert_int_equal(n, 2);
    assert_memory_equal(in, msg, sizeof(msg));
    same_file(got[0], p[0]);
    same_file(got[1], p[1]);
    assert_true(fcntl(got[0], F_GETFD) & FD_CLOEXEC);
    assert_true(fcntl(got[1], F_GETFD) & FD_CLOEXEC);
    /* The received pipe works: write on the received end, read on the original. */
    assert_int_equal(write(got[1], "x", 1), 1);
    char c;
    assert_int_equal(read(p[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    /* Data only, no fds. */
    assert_int_equal(hs_fd_send(sv[0], NULL, 0, msg, 10), 10);
    assert_int_equal(hs_fd_recv(sv[1], got, 4, &n, in, 10), 10);
    assert_int_equal(n, 0);
    for (int i = 0; i < 2; i++) {
        close(got[i]);
        close(p[i]);
    }
    /* Non-blocking, nothing there; then the peer closes. */
    int fl = fcntl(sv[1], F_GETFL);
    assert_int_equal(fcntl(sv[1], F_SETFL, fl | O_NONBLOCK), 0);
    assert_int_equal(hs_fd_recv(sv[1], got, 4, &n, in, 10), -EAGAIN);
    close(sv[0]);
    assert_int_equal(hs_fd_recv(sv[1], got, 4, &n, in, 10), 0);
    assert_int_equal(n, 0);
    close(sv[1]);
}

static void test_fd_pass_stream(void **state)
{
    (void)state;
    fd_pass_roundtrip(SOCK_STREAM);
}

static void test_fd_pass_seqpacket(void **state)
{
    (void)state;
    fd_pass_roundtrip(SOCK_SEQPACKET);
}

/* More fds than the receiver takes: an error, and every fd that arrived is closed. */
static void test_fd_pass_truncated(void **state)
{
    (void)state;
    int types[] = {SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM};
    for (size_t t = 0; t < HS_ARRAY_LEN(types); t++) {
        int sv[2], p[2];
        assert_int_equal(socketpair(AF_UNIX, types[t] | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(pipe2(p, O_CLOEXEC), 0);
        int three[3] = {p[0], p[1], p[0]};
        int base = count_open_fds();
        char msg[8] = "segment", in[8];
        int got[3] = {-1, -1, -1}, n = 7;
        assert_int_equal(hs_fd_send(sv[0], three, 3, msg, sizeof(msg)), sizeof(msg));
        assert_int_equal(hs_fd_recv(sv[1], got, 1, &n, in, sizeof(in)), -EMSGSIZE);
        assert_int_equal(n, 0);
        assert_int_equal(count_open_fds(), base);
        /* A datagram longer than the buffer is refused the same way. */
        if (types[t] != SOCK_STREAM) {
            assert_int_equal(hs_fd_send(sv[0], three, 1, msg, sizeof(msg)), sizeof(msg));
            assert_int_equal(hs_fd_recv(sv[1], got, 3, &n, in, 4), -EMSGSIZE);
            assert_int_equal(count_open_fds(), base);
        }
        /* Zero fds accepted while one arrives. */
        assert_int_equal(hs_fd_send(sv[0], three, 1, msg, sizeof(msg)), sizeof(msg));
        assert_int_equal(hs_fd_recv(sv[1], NULL, 0, &n, in, sizeof(in)), -EMSGSIZE);
        assert_int_equal(count_open_fds(), base);
        close(sv[0]);
        close(sv[1]);
        close(p[0]);
        close(p[1]);
    }
}

static void test_fd_pass_bad_args(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    int fds[HS_FD_PASS_MAX + 1] = {0};
    char b[4] = {0};
    int n;
    assert_int_equal(hs_fd_send(sv[0], fds, HS_FD_PASS_MAX + 1, b, 4), -EINVAL);
    assert_int_equal(hs_fd_send(sv[0], fds, -1, b, 4), -EINVAL);
    assert_int_equal(hs_fd_send(sv[0], NULL, 1, b, 4), -EINVAL);
    assert_int_equal(hs_fd_send(sv[0], fds, 1, b, 0), -EINVAL);
    assert_int_equal(hs_fd_send(sv[0], fds, 1, NULL, 4), -EINVAL);
    assert_int_equal(hs_fd_recv(sv[1], NULL, 1, &n, b, 4), -EINVAL);
    assert_int_equal(hs_fd_recv(sv[1], fds, 1, NULL, b, 4), -EINVAL);
    assert_int_equal(hs_fd_recv(sv[1], fds, 1, &n, b, 0), -EINVAL);
    int bad = 1000000;
    assert_int_equal(hs_fd_send(sv[0], &bad, 1, b, 4), -EBADF);
    close(sv[1]);
    assert_int_equal(hs_fd_send(sv[0], NULL, 0, b, 4), -EPIPE); /* no SIGPIPE */
    close(sv[0]);
}

typedef struct {
    int sock;
    int fd;
    uint8_t *buf;
    size_t len;
    int rv;
} big_send_t;

static void *big_sender(void *arg)
{
    big_send_t *b = arg;
    b->rv = hs_fd_send(b->sock, &b->fd, 1, b->buf, b->len);
    return NULL;
}

/* A message larger than the socket buffer: the sender finishes the partial sends and the
 * receiver keeps reading until the whole message is in, fds attached to the start. */
static void test_fd_pass_large_stream(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    enum { LEN = 1 << 20 };
    big_send_t b = {.sock = sv[0], .fd = sv[0], .buf = malloc(LEN), .len = LEN};
    uint8_t *in = malloc(LEN);
    fill(b.buf, LEN, 11);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, big_sender, &b), 0);
    int got = -1, n = 0;
    assert_int_equal(hs_fd_recv(sv[1], &got, 1, &n, in, LEN), LEN);
    assert_int_equal(pthread_join(th, NULL), 0);
    assert_int_equal(b.rv, LEN);
    assert_int_equal(n, 1);
    same_file(got, sv[0]);
    expect_filled(in, LEN, 11);
    close(got);
    close(sv[0]);
    close(sv[1]);
    free(b.buf);
    free(in);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_header),        cmocka_unit_test(test_sealing),
        cmocka_unit_test(test_alloc_classes),        cmocka_unit_test(test_alloc_max_class),
        cmocka_unit_test(test_exhaustion),           cmocka_unit_test(test_larger_block_reuse),
        cmocka_unit_test(test_free_garbage),         cmocka_unit_test(test_corrupt_free_list),
        cmocka_unit_test(test_two_mappings),         cmocka_unit_test(test_attach_rejects),
        cmocka_unit_test(test_attach_bad_fds),       cmocka_unit_test(test_attach_in_child),
        cmocka_unit_test(test_fd_pass_stream),       cmocka_unit_test(test_fd_pass_seqpacket),
        cmocka_unit_test(test_fd_pass_truncated),    cmocka_unit_test(test_fd_pass_bad_args),
        cmocka_unit_test(test_fd_pass_large_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
