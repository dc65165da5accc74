/* Unit tests for ext/redact.c: secrets replaced, the rest kept, output cut
 * safely, bad patterns refused with one line naming the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "flags.h"
#include "redact.h"

static const char *redacted(const char *text)
{
    static char out[512];
    size_t n = cw_redact(text, out, sizeof(out));
    assert_int_equal(n, strlen(out));
    return out;
}

static void test_default_pattern_hides_credentials(void **state)
{
    (void)state;
    cw_flags f;
    char err[256];
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_redact_set(f.redact, err, sizeof(err)), 0);
    assert_string_equal(redacted("'mysql+pymysql://nova:s3cret@db.example/nova'"),
                        "'mysql+pymysql://" CW_REDACTED "db.example/nova'");
    assert_string_equal(redacted("'rabbit://u:p@h1:5672,u2:p2@h2:5672/'"),
                        "'rabbit://" CW_REDACTED "h1:5672," CW_REDACTED "h2:5672/'");
    assert_string_equal(redacted("('host', 'password=hunter2;user=x')"),
                        "('host', '" CW_REDACTED ";user=x')");
    assert_string_equal(redacted("'token=abc&x=1'"), "'" CW_REDACTED "&x=1'");
    /* What holds no secret stays as it was. */
    assert_string_equal(redacted("'7d4ad3c4-5a36-4bb2-8bd4-5e1c4c1a9f00'"),
                        "'7d4ad3c4-5a36-4bb2-8bd4-5e1c4c1a9f00'");
    assert_string_equal(redacted("('cell1', 42)"), "('cell1', 42)");
    assert_string_equal(redacted("'http://example.com/a:b'"), "'http://example.com/a:b'");
    cw_flags_free(&f);
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

static void test_user_pattern_and_none(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cw_redact_set("[0-9]{4}", err, sizeof(err)), 0);
    assert_string_equal(redacted("card 1234-5678 x"), "card " CW_REDACTED "-" CW_REDACTED " x");
    /* Anchors hold at the start only. */
    assert_int_equal(cw_redact_set("^a", err, sizeof(err)), 0);
    assert_string_equal(redacted("aaa"), CW_REDACTED "aa");
    /* Patterns that match the empty string hide nothing and end. */
    assert_int_equal(cw_redact_set("x*", err, sizeof(err)), 0);
    assert_string_equal(redacted("abxc"), "ab" CW_REDACTED "c");
    assert_string_equal(redacted(""), "");
    assert_int_equal(cw_redact_set(NULL, err, sizeof(err)), 0);
    assert_string_equal(redacted("password=x"), "password=x");
}

static void test_output_cut_to_fit(void **state)
{
    (void)state;
    char err[256], out[8];
    assert_int_equal(cw_redact_set("b", err, sizeof(err)), 0);
    /* "a<redacted>c" is 12 bytes; 7 fit with the NUL. */
    assert_int_equal(cw_redact("abc", out, sizeof(out)), 12);
    assert_string_equal(out, "a<redac");
    char one[1];
    assert_int_equal(cw_redact("abc", one, sizeof(one)), 12);
    assert_string_equal(one, "");
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

static void test_bad_pattern_refused(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(cw_redact_set("b", err, sizeof(err)), 0);
    assert_int_equal(cw_redact_check("([", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "option 'redact'"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(cw_redact_set("([", err, sizeof(err)), -1);
    /* The installed pattern stays. */
    char out[32];
    cw_redact("abc", out, sizeof(out));
    assert_string_equal(out, "a" CW_REDACTED "c");
    /* And through the options: validation names it. */
    cw_flags f;
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_flags_parse(&f, "redact=a(b", err, sizeof(err)), 0);
    assert_int_equal(cw_flags_validate(&f, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "redact"));
    cw_flags_free(&f);
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pattern_hides_credentials),
        cmocka_unit_test(test_user_pattern_and_none),
        cmocka_unit_test(test_output_cut_to_fit),
        cmocka_unit_test(test_bad_pattern_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
