/* test_base.c - sizes, numbers, errors, buffers, process identity, edit distance. */
#include "base/base.h"

#include <errno.h>
#include <unistd.h>

#include "check.h"

static void test_sizes(void)
{
    uint64_t b = 0;
    CHECK_EQ(vl_parse_size("512k", &b), 0);
    CHECK_U64(b, 512u << 10);
    CHECK_EQ(vl_parse_size("100m", &b), 0);
    CHECK_U64(b, 100u << 20);
    CHECK_EQ(vl_parse_size("2g", &b), 0);
    CHECK_U64(b, 2ull << 30);
    CHECK_EQ(vl_parse_size("2GiB", &b), 0);
    CHECK_U64(b, 2ull << 30);
    CHECK_EQ(vl_parse_size("100MB", &b), 0);
    CHECK_U64(b, 100u << 20);
    CHECK_EQ(vl_parse_size("4096", &b), 0);
    CHECK_U64(b, 4096);
    CHECK_EQ(vl_parse_size("1t", &b), 0);
    CHECK_U64(b, 1ull << 40);
    CHECK_EQ(vl_parse_size("", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("m", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("-1m", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("1.5g", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("10x", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("10 m", &b), -EINVAL);
    CHECK_EQ(vl_parse_size("18446744073709551615", &b), 0);
    CHECK_EQ(vl_parse_size("18446744073709551616", &b), -ERANGE);
    CHECK_EQ(vl_parse_size("17179869184g", &b), -ERANGE);

    char buf[32];
    CHECK_STR(vl_fmt_bytes(512, buf, sizeof buf), "512 B");
    CHECK_STR(vl_fmt_bytes(1536, buf, sizeof buf), "1.5 KiB");
    CHECK_STR(vl_fmt_bytes(14ull << 30, buf, sizeof buf), "14.0 GiB");
}

static void test_numbers(void)
{
    uint64_t v = 0;
    CHECK_EQ(vl_parse_u64("42", 100, &v), 0);
    CHECK_U64(v, 42);
    CHECK_EQ(vl_parse_u64("101", 100, &v), -ERANGE);
    CHECK_EQ(vl_parse_u64("4x", 100, &v), -EINVAL);
    CHECK_EQ(vl_parse_u64("", 100, &v), -EINVAL);
    CHECK_EQ(vl_parse_u64("-1", 100, &v), -EINVAL);
    CHECK_EQ(vl_parse_u64("99999999999999999999", UINT64_MAX, &v), -ERANGE);
}

static void test_errors(void)
{
    struct vl_err e = {0};
    CHECK_EQ(vl_err_sys(&e, -ENOSPC, "cannot create arena %s", "/dev/shm/x"), -ENOSPC);
    CHECK_STR(e.msg, "cannot create arena /dev/shm/x: No space left on device");
    CHECK_EQ(vl_err_set(&e, VL_ECORRUPT, "bad %d", 7), VL_ECORRUPT);
    CHECK_STR(e.msg, "bad 7");
    CHECK_STR(vl_strerror(VL_EVERSION), "written by an unknown version of volley");
    CHECK_EQ(vl_exit_for(VL_ESPEC), VL_EXIT_USAGE);
    CHECK_EQ(vl_exit_for(-ENOSPC), VL_EXIT_ENV);
    CHECK_EQ(vl_exit_for(0), VL_EXIT_OK);
    CHECK(vl_alloc_array(SIZE_MAX / 2, 4, false, "edges", &e) == NULL);
    CHECK_EQ(e.code, VL_ETOOBIG);
    CHECK_HAS(e.msg, "for edges");
}

static void test_buf(void)
{
    struct vl_buf b = {0};
    CHECK_STR(vl_buf_str(&b), "");
    for (int i = 0; i < 1000; i++)
        vl_buf_printf(&b, "%d,", i);
    CHECK_EQ(b.len, 3890);
    CHECK(strncmp(b.p, "0,1,2,", 6) == 0);
    char big[600];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    vl_buf_printf(&b, "[%s]", big);
    CHECK_EQ(b.len, 3890 + 601);
    CHECK_EQ(b.p[b.len - 1], ']');
    vl_buf_free(&b);
    vl_buf_free(&b);
}

static void test_proc(void)
{
    uint64_t st = vl_proc_start(getpid());
    CHECK(st > 0);
    CHECK(vl_proc_alive(getpid(), st));
    CHECK(!vl_proc_alive(getpid(), st + 1));
    CHECK(!vl_proc_alive(0, 0));
    char id[37];
    CHECK_EQ(vl_boot_id(id), 0);
    CHECK_EQ(strlen(id), 36);
}

static void test_edit_distance(void)
{
    CHECK_EQ(vl_edit_distance("depends_on", "depends_on", 3), 0);
    CHECK_EQ(vl_edit_distance("depnds_on", "depends_on", 3), 1);
    CHECK_EQ(vl_edit_distance("kitten", "sitting", 3), 3);
    CHECK_EQ(vl_edit_distance("kitten", "sitting", 2), 3); /* past the limit: limit + 1 */
    CHECK_EQ(vl_edit_distance("", "abc", 5), 3);
    CHECK_EQ(vl_edit_distance("a", "abcdef", 2), 3); /* lengths alone exceed it */
    char long_a[300], long_b[300];
    memset(long_a, 'x', sizeof long_a - 1);
    long_a[sizeof long_a - 1] = '\0';
    memcpy(long_b, long_a, sizeof long_b);
    CHECK_EQ(vl_edit_distance(long_a, long_b, 3), 4); /* over 255 bytes: never close */
}

int main(void)
{
    test_sizes();
    test_numbers();
    test_errors();
    test_buf();
    test_proc();
    test_edit_distance();
    return check_done();
}
