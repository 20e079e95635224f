/* hsd's CLI framework without a daemon: word splitting, argument parsers, command
 * matching by longest word path with abbreviations, help, and error sentences. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "daemon/cli.h"

#include <stdlib.h>
#include <string.h>

/* The last command run and its arguments, recorded by the fake commands. */
typedef struct {
    const char *ran;
    char args[256];
} record_t;

static int record(hs_cli_args_t *a)
{
    record_t *r = a->ctx;
    r->ran = a->cmd->path;
    r->args[0] = '\0';
    for (uint32_t i = 0; i < a->n_words; i++) {
        strcat(r->args, i ? " " : "");
        strcat(r->args, a->words[i]);
    }
    return 0;
}

static int fail_state(hs_cli_args_t *a)
{
    uint32_t v;
    if (hs_cli_u32(a, "MTU", 576, 9000, &v) < 0)
        return -EINVAL;
    return hs_cli_error(a, -ENOENT, "no interface named '%s' (see 'show interface')", "hs9");
}

static const hs_cli_cmd_t cmds[] = {
    {"show interface", "[NAME]", "interfaces", record},
    {"show ip fib", "", "fib", record},
    {"show ip neighbors", "", "arp", record},
    {"set interface state", "NAME up|down", "state", record},
    {"set interface ip address", "NAME A.B.C.D/LEN [del]", "address", record},
    {"set interface mtu", "NAME N", "mtu", fail_state},
    {"pcap trace", "[rx] [tx]", "capture", record},
    {"pcap trace off", "", "stop", record},
    {"trace add", "NODE N", "trace", record},
};

typedef struct {
    hs_cli_t cli;
    record_t rec;
    hs_str_t out;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof(*f));
    hs_cli_init(&f->cli, &f->rec);
    assert_int_equal(hs_cli_register(&f->cli, cmds, HS_ARRAY_LEN(cmds)), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    hs_cli_free(&f->cli);
    hs_str_free(&f->out);
    free(f);
    return 0;
}

/* Runs line; returns the status, with the output in f->out. */
static int exec(fixture_t *f, const char *line)
{
    hs_str_reset(&f->out);
    f->rec.ran = NULL;
    return hs_cli_exec(&f->cli, line, &f->out);
}

static void test_split(void **state)
{
    (void)state;
    char buf[128], *w[8];
    assert_int_equal(hs_cli_split("  a  bb\tccc \n", buf, sizeof(buf), w, 8), 3);
    assert_string_equal(w[0], "a");
    assert_string_equal(w[1], "bb");
    assert_string_equal(w[2], "ccc");
    assert_int_equal(hs_cli_split("file \"/tmp/a b.pcap\" x", buf, sizeof(buf), w, 8), 3);
    assert_string_equal(w[1], "/tmp/a b.pcap");
    assert_int_equal(hs_cli_split("a \"b", buf, sizeof(buf), w, 8), -EINVAL);
    assert_int_equal(hs_cli_split("1 2 3 4 5 6 7 8 9", buf, sizeof(buf), w, 8), -E2BIG);
    assert_int_equal(hs_cli_split("", buf, sizeof(buf), w, 8), 0);
}

static void test_parsers(void **state)
{
    (void)state;
    uint32_t v, a;
    uint8_t len, mac[6];
    assert_int_equal(hs_cli_parse_u32("4294967295", &v), 0);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(hs_cli_parse_u32("4294967296", &v), -ERANGE);
    assert_int_equal(hs_cli_parse_u32("12x", &v), -EINVAL);
    assert_int_equal(hs_cli_parse_u32("", &v), -EINVAL);
    assert_int_equal(hs_cli_parse_u32("-1", &v), -EINVAL);

    assert_int_equal(hs_cli_parse_ip4("10.77.1.2", &a), 0);
    assert_int_equal(a, 0x0a4d0102);
    assert_int_equal(hs_cli_parse_ip4("255.255.255.255", &a), 0);
    assert_int_equal(a, UINT32_MAX);
    const char *bad_ip[] = {"256.1.1.1", "1.2.3",   "1.2.3.4.5",  "1..2.3",
                            "1.2.3.4 ",  "a.b.c.d", "1.2.3.0004", ""};
    for (size_t i = 0; i < HS_ARRAY_LEN(bad_ip); i++)
        assert_int_equal(hs_cli_parse_ip4(bad_ip[i], &a), -EINVAL);

    assert_int_equal(hs_cli_parse_prefix("10.0.0.0/8", &a, &len), 0);
    assert_int_equal(a, 0x0a000000);
    assert_int_equal(len, 8);
    assert_int_equal(hs_cli_parse_prefix("0.0.0.0/0", &a, &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(hs_cli_parse_prefix("10.0.0.0/33", &a, &len), -EINVAL);
    assert_int_equal(hs_cli_parse_prefix("10.0.0.0", &a, &len), -EINVAL);
    assert_int_equal(hs_cli_parse_prefix("10.0.0.0/", &a, &len), -EINVAL);

    assert_int_equal(hs_cli_parse_mac("02:aB:00:11:22:ff", mac), 0);
    const uint8_t want[6] = {0x02, 0xab, 0x00, 0x11, 0x22, 0xff};
    assert_memory_equal(mac, want, 6);
    assert_int_equal(hs_cli_parse_mac("02:ab:00:11:22", mac), -EINVAL);
    assert_int_equal(hs_cli_parse_mac("02:ab:00:11:22:ff:00", mac), -EINVAL);
    assert_int_equal(hs_cli_parse_mac("02-ab-00-11-22-ff", mac), -EINVAL);
    assert_int_equal(hs_cli_parse_mac("0g:ab:00:11:22:ff", mac), -EINVAL);
}

static void test_match_exact_and_abbreviated(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(exec(f, "show interface hs0"), 0);
    assert_string_equal(f->rec.ran, "show interface");
    assert_string_equal(f->rec.args, "hs0");
    assert_int_equal(exec(f, "sh int"), 0);
    assert_string_equal(f->rec.ran, "show interface");
    assert_string_equal(f->rec.args, "");
    assert_int_equal(exec(f, "set int ip addr hs0 10.0.0.1/24 del"), 0);
    assert_string_equal(f->rec.ran, "set interface ip address");
    assert_string_equal(f->rec.args, "hs0 10.0.0.1/24 del");
    assert_int_equal(exec(f, "show ip neigh"), 0);
    assert_string_equal(f->rec.ran, "show ip neighbors");
    assert_int_equal(exec(f, ""), 0);
    assert_null(f->rec.ran);
}

static void test_longest_path_wins(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(exec(f, "pcap trace off"), 0);
    assert_string_equal(f->rec.ran, "pcap trace off");
    assert_int_equal(exec(f, "pcap trace rx tx"), 0);
    assert_string_equal(f->rec.ran, "pcap trace");
    assert_string_equal(f->rec.args, "rx tx");
    /* An argument that abbreviates a longer command's word right after a complete
     * command is still an argument only when ambiguous; "o" is unique: off. */
    assert_int_equal(exec(f, "pcap trace o"), 0);
    assert_string_equal(f->rec.ran, "pcap trace off");
}

static void test_errors(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(exec(f, "frobnicate now"), -EINVAL);
    assert_string_equal(hs_str_cstr(&f->out), "unknown command 'frobnicate' (try 'help')\n");
    assert_int_equal(exec(f, "show i"), -EINVAL);
    assert_non_null(strstr(hs_str_cstr(&f->out), "ambiguous command 'show i'"));
    assert_non_null(strstr(hs_str_cstr(&f->out), "interface, ip"));
    assert_int_equal(exec(f, "show ip"), -EINVAL);
    assert_non_null(strstr(hs_str_cstr(&f->out), "incomplete command 'show ip': add one of: "
                                                 "fib, neighbors"));
    assert_int_equal(exec(f, "show bogus"), -EINVAL);
    assert_non_null(strstr(hs_str_cstr(&f->out), "after 'show' comes one of: interface, ip"));
    assert_int_equal(exec(f, "set interface mtu 9x"), -EINVAL);
    assert_string_equal(hs_str_cstr(&f->out),
                        "set interface mtu: '9x' is not a valid MTU (use 576..9000)\n");
    assert_int_equal(exec(f, "set interface mtu"), -EINVAL);
    assert_string_equal(hs_str_cstr(&f->out),
                        "set interface mtu: missing MTU (usage: set interface mtu NAME N)\n");
    assert_int_equal(exec(f, "set interface mtu 1500"), -ENOENT);
    assert_string_equal(hs_str_cstr(&f->out), "set interface mtu: no interface named 'hs9' "
                                              "(see 'show interface')\n");
    assert_int_equal(exec(f, "show \"unterminated"), -EINVAL);
}

static void test_help(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(exec(f, "help"), 0);
    for (size_t i = 0; i < HS_ARRAY_LEN(cmds); i++)
        assert_non_null(strstr(hs_str_cstr(&f->out), cmds[i].path));
    assert_int_equal(exec(f, "show ?"), 0);
    assert_non_null(strstr(hs_str_cstr(&f->out), "show ip fib"));
    assert_null(strstr(hs_str_cstr(&f->out), "set interface"));
    assert_int_equal(exec(f, "help set int"), 0);
    assert_non_null(strstr(hs_str_cstr(&f->out), "set interface ip address NAME A.B.C.D/LEN"));
    assert_null(strstr(hs_str_cstr(&f->out), "show"));
    assert_int_equal(exec(f, "?"), 0);
    assert_non_null(strstr(hs_str_cstr(&f->out), "trace add NODE N"));
}

static void test_register_duplicate(void **state)
{
    fixture_t *f = *state;
    assert_int_equal(hs_cli_register(&f->cli, cmds, 1), -EEXIST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_parsers),
        cmocka_unit_test_setup_teardown(test_match_exact_and_abbreviated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_longest_path_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_register_duplicate, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
