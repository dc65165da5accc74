/* Unit tests for ext/engine/flags.c: defaults, parsing and validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flags.h"

static void test_defaults_match_flags_inc(void **state)
{
    (void)state;
    cw_flags f;
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    /* The values written in flags.inc, spelled out. */
    assert_int_equal(f.exitcode, 66);
    assert_int_equal(f.native_stacks, 0);
    assert_int_equal(f.max_frames, 32);
    assert_int_equal(f.history_size, 12);
    assert_int_equal(f.dedup, 1);
    assert_int_equal(f.max_reports, 1000);
    assert_int_equal(f.print_reports, 1);
    assert_non_null(f.log_path);
    assert_string_equal(f.log_path, "");
    assert_string_equal(f.json_path, "");
    assert_string_equal(f.watch, "");
    assert_int_equal(f.key_repr_max, 200);

    /* And generically: every row of flags.inc has its default. */
#define CHECK_bool(name, def) assert_int_equal(f.name, (def));
#define CHECK_int(name, def) assert_int_equal(f.name, (def));
#define CHECK_str(name, def) assert_string_equal(f.name, (def));
#define CW_FLAG(type, name, def, help) CHECK_##type(name, def)
#include "flags.inc"
#undef CW_FLAG

    char err[256];
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), 0); /* defaults are valid */
    cw_flags_free(&f);
    assert_null(f.log_path);
    assert_null(f.json_path);
    assert_null(f.watch);
}

static void test_flag_table(void **state)
{
    (void)state;
    size_t n = 0;
#define CW_FLAG(type, name, def, help) n++;
#include "flags.inc"
#undef CW_FLAG
    assert_int_equal(cw_flag_count, n);
    assert_string_equal(cw_flag_table[0].name, "exitcode");
    assert_int_equal(cw_flag_table[0].type, CW_FLAG_INT);
    assert_string_equal(cw_flag_table[0].default_text, "66");
    int found_bool = 0;
    for (size_t i = 0; i < cw_flag_count; i++)
        if (strcmp(cw_flag_table[i].name, "native_stacks") == 0) {
            assert_int_equal(cw_flag_table[i].type, CW_FLAG_BOOL);
            found_bool = 1;
        }
    assert_true(found_bool);
    int found_log = 0;
    for (size_t i = 0; i < cw_flag_count; i++) {
        assert_non_null(cw_flag_table[i].help);
        assert_true(strlen(cw_flag_table[i].help) > 0);
        if (strcmp(cw_flag_table[i].name, "log_path") == 0) {
            found_log = 1;
            assert_int_equal(cw_flag_table[i].type, CW_FLAG_STR);
            assert_string_equal(cw_flag_table[i].default_text, "\"\"");
        }
    }
    assert_true(found_log);
}

static void test_fail_on_names_categories(void **state)
{
    (void)state;
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, "fail_on=race,thread-leak", err, sizeof(err)), 0);
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), 0);
    assert_int_equal(cw_flags_parse(&f, "fail_on=race,oops", err, sizeof(err)), 0);
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), -1);
    assert_string_equal(err, "option 'fail_on' has no category 'oops' (want categories, race, pool, "
                             "thread or all)");
    cw_flags_free(&f);
}

static void test_parse_basic(void **state)
{
    (void)state;
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, "exitcode=3 native_stacks=1 log_path=/x", err, sizeof(err)), 0);
    assert_int_equal(f.exitcode, 3);
    assert_int_equal(f.native_stacks, 1);
    assert_string_equal(f.log_path, "/x");
    /* Untouched options keep their defaults. */
    assert_int_equal(f.max_frames, 32);
    assert_string_equal(f.json_path, "");

    /* Any whitespace separates; later settings win; '=' inside a value is kept. */
    assert_int_equal(cw_flags_parse(&f, "  \tmax_frames=7\n\nexitcode=4  exitcode=5 watch=a:B,c:D=1 ",
                                    err, sizeof(err)),
                     0);
    assert_int_equal(f.max_frames, 7);
    assert_int_equal(f.exitcode, 5);
    assert_string_equal(f.watch, "a:B,c:D=1");
    /* An empty value sets an empty string. */
    assert_int_equal(cw_flags_parse(&f, "log_path=", err, sizeof(err)), 0);
    assert_string_equal(f.log_path, "");
    /* Empty and NULL texts are fine. */
    assert_int_equal(cw_flags_parse(&f, "", err, sizeof(err)), 0);
    assert_int_equal(cw_flags_parse(&f, "   ", err, sizeof(err)), 0);
    assert_int_equal(cw_flags_parse(&f, NULL, err, sizeof(err)), 0);
    assert_int_equal(f.exitcode, 5);
    /* Negative numbers parse (validation rejects them later). */
    assert_int_equal(cw_flags_parse(&f, "exitcode=-2", err, sizeof(err)), 0);
    assert_int_equal(f.exitcode, -2);
    cw_flags_free(&f);
}

static void test_parse_unknown_option(void **state)
{
    (void)state;
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, "max_frames=9 bogus_opt=1 exitcode=2", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "bogus_opt"));
    assert_non_null(strstr(err, "unknown"));
    /* Options before the bad one were applied, later ones not. */
    assert_int_equal(f.max_frames, 9);
    assert_int_equal(f.exitcode, 66);
    /* Prefixes and case are not accepted. */
    assert_int_equal(cw_flags_parse(&f, "exit=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "'exit'"));
    assert_int_equal(cw_flags_parse(&f, "EXITCODE=1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "EXITCODE"));
    cw_flags_free(&f);
}

static void test_parse_malformed(void **state)
{
    (void)state;
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, "exitcode", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "malformed"));
    assert_non_null(strstr(err, "exitcode"));
    assert_int_equal(cw_flags_parse(&f, "dedup=0 =5", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "malformed"));
    assert_non_null(strstr(err, "=5"));
    assert_int_equal(f.dedup, 0);
    /* Values of the wrong type name the option. */
    assert_int_equal(cw_flags_parse(&f, "max_frames=12abc", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "max_frames"));
    assert_non_null(strstr(err, "12abc"));
    assert_int_equal(f.max_frames, 32);
    assert_int_equal(cw_flags_parse(&f, "max_frames=", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "max_frames"));
    assert_int_equal(cw_flags_parse(&f, "max_frames=0x10", err, sizeof(err)), -1);
    assert_int_equal(cw_flags_parse(&f, "max_frames=99999999999999999999999", err, sizeof(err)), -1);
    /* Too long a name. */
    char longtext[400];
    memset(longtext, 'n', 200);
    strcpy(longtext + 200, "=1");
    assert_int_equal(cw_flags_parse(&f, longtext, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too long"));
    /* Too long a value (beyond CW_FLAG_STR_MAX). */
    static char longval[CW_FLAG_STR_MAX + 64];
    strcpy(longval, "log_path=");
    memset(longval + 9, 'v', CW_FLAG_STR_MAX + 10);
    longval[9 + CW_FLAG_STR_MAX + 10] = '\0';
    assert_int_equal(cw_flags_parse(&f, longval, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "log_path"));
    assert_non_null(strstr(err, "too long"));
    assert_string_equal(f.log_path, "");
    /* A tiny error buffer is still terminated. */
    char tiny[8];
    memset(tiny, 'X', sizeof(tiny));
    assert_int_equal(cw_flags_parse(&f, "bogus=1", tiny, sizeof(tiny)), -1);
    assert_true(memchr(tiny, '\0', sizeof(tiny)) != NULL);
    cw_flags_free(&f);
}

static void test_bool_spellings(void **state)
{
    (void)state;
    cw_flags f;
    char err[256];
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    const char *yes[] = {"1", "true", "yes", "on"};
    const char *no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < 4; i++) {
        f.native_stacks = 0;
        assert_int_equal(cw_flags_set(&f, "native_stacks", yes[i], err, sizeof(err)), 0);
        assert_int_equal(f.native_stacks, 1);
        f.native_stacks = 1;
        assert_int_equal(cw_flags_set(&f, "native_stacks", no[i], err, sizeof(err)), 0);
        assert_int_equal(f.native_stacks, 0);
    }
    const char *bad[] = {"2", "maybe", "", "True", "YES", "-1"};
    for (size_t i = 0; i < 6; i++) {
        f.dedup = 1;
        err[0] = '\0';
        assert_int_equal(cw_flags_set(&f, "dedup", bad[i], err, sizeof(err)), -1);
        assert_non_null(strstr(err, "dedup"));
        assert_int_equal(f.dedup, 1);
    }
    cw_flags_free(&f);
}

static void test_set_strings_own_copies(void **state)
{
    (void)state;
    cw_flags f;
    char err[256];
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    char value[32];
    strcpy(value, "/tmp/report-%p.json");
    assert_int_equal(cw_flags_set(&f, "json_path", value, err, sizeof(err)), 0);
    strcpy(value, "changed");
    assert_string_equal(f.json_path, "/tmp/report-%p.json");
    assert_int_equal(cw_flags_set(&f, "json_path", "second", err, sizeof(err)), 0);
    assert_string_equal(f.json_path, "second");
    assert_int_equal(cw_flags_set(&f, "nope", "1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "nope"));
    cw_flags_free(&f);
}

static void expect_invalid(const char *text, const char *name)
{
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, text, err, sizeof(err)), 0);
    err[0] = '\0';
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), -1);
    if (strstr(err, name) == NULL)
        fail_msg("'%s': error '%s' does not name %s", text, err, name);
    cw_flags_free(&f);
}

static void expect_valid(const char *text)
{
    cw_flags f;
    char err[256] = "";
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, text, err, sizeof(err)), 0);
    if (cw_flags_validate(&f, err, sizeof(err)) != 0)
        fail_msg("'%s' rejected: %s", text, err);
    cw_flags_free(&f);
}

static void test_validation_ranges(void **state)
{
    (void)state;
    expect_invalid("exitcode=-1", "exitcode");
    expect_invalid("exitcode=256", "exitcode");
    expect_valid("exitcode=0");
    expect_valid("exitcode=255");

    expect_invalid("max_frames=0", "max_frames");
    expect_invalid("max_frames=257", "max_frames");
    expect_valid("max_frames=1");
    expect_valid("max_frames=256");

    expect_invalid("history_size=1", "history_size");
    expect_invalid("history_size=17", "history_size");
    expect_valid("history_size=2");
    expect_valid("history_size=16");

    expect_invalid("max_reports=0", "max_reports");
    expect_invalid("max_reports=-5", "max_reports");
    expect_valid("max_reports=1");

    expect_invalid("key_repr_max=15", "key_repr_max");
    expect_invalid("key_repr_max=4097", "key_repr_max");
    expect_valid("key_repr_max=16");
    expect_valid("key_repr_max=4096");

    /* The message says what was given. */
    cw_flags f;
    char err[256];
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    f.history_size = 40;
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "40"));
    cw_flags_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_match_flags_inc),
        cmocka_unit_test(test_flag_table),
        cmocka_unit_test(test_fail_on_names_categories),
        cmocka_unit_test(test_parse_basic),
        cmocka_unit_test(test_parse_unknown_option),
        cmocka_unit_test(test_parse_malformed),
        cmocka_unit_test(test_bool_spellings),
        cmocka_unit_test(test_set_strings_own_copies),
        cmocka_unit_test(test_validation_ranges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
