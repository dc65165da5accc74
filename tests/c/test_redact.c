/* Unit tests for ext/engine/redact.c: secrets replaced, the rest kept, output cut
 * safely, bad patterns refused with one line naming the option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "flags.h"
#include "redact.h"

static const char *redacted(const char *text)
{
    static char out[512];
    size_t n = cw_redact(text, strlen(text), out, sizeof(out));
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
    assert_int_equal(cw_redact("abc", 3, out, sizeof(out)), 12);
    assert_string_equal(out, "a<redac");
    char one[1];
    assert_int_equal(cw_redact("abc", 3, one, sizeof(one)), 12);
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
    cw_redact("abc", 3, out, sizeof(out));
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

/* The default pattern over a megabyte with no match: a matcher that tries
 * each start position anew (glibc's regexec) takes hours; ctest's timeout
 * fails this test then. RE2 scans it once. */
static void test_linear_on_long_text_without_match(void **state)
{
    (void)state;
    cw_flags f;
    char err[256];
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_redact_set(f.redact, err, sizeof(err)), 0);
    size_t n = 1000 * 1000;
    char *text = malloc(n + 1), out[64];
    assert_non_null(text);
    memset(text, 'a', n);
    text[n] = '\0';
    assert_int_equal(cw_redact(text, n, out, sizeof(out)), n);
    /* And with a secret at its very end. */
    memcpy(text + n - 12, "password=abc", 12);
    assert_int_equal(cw_redact(text, n, out, sizeof(out)), n - 12 + strlen(CW_REDACTED));
    free(text);
    cw_flags_free(&f);
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

/* Cut after redacting, with a margin: a secret straddling the cut is still
 * hidden, the result fits max bytes and ends between UTF-8 characters. */
static void test_cut_after_redaction(void **state)
{
    (void)state;
    cw_flags f;
    char err[256], out[64];
    bool cut;
    assert_int_equal(cw_flags_set_defaults(&f), 0);
    assert_int_equal(cw_redact_set(f.redact, err, sizeof(err)), 0);
    /* The password starts 3 bytes before the cut at 20. */
    const char *url = "'mysql://nova:hunter2hunter2hunter2@db/nova'";
    size_t n = cw_redact_cut(url, strlen(url), 20, out, &cut);
    assert_true(cut);
    assert_true(n <= 20);
    assert_null(strstr(out, "hunter"));
    assert_null(strstr(out, "nova:"));
    assert_memory_equal(out, "'mysql://<redacted>", n < 19 ? n : 19);
    /* Short text: kept whole, not cut. */
    n = cw_redact_cut("'k'", 3, 20, out, &cut);
    assert_false(cut);
    assert_string_equal(out, "'k'");
    /* Text far longer than the window: only the window is read. A secret
     * past the window is never shown, as the cut drops it anyway. */
    size_t big = 100 * 1000;
    char *text = malloc(big);
    assert_non_null(text);
    memset(text, 'b', big);
    n = cw_redact_cut(text, big, 16, out, &cut);
    assert_true(cut);
    assert_int_equal(n, 16);
    /* A cut inside a 3-byte character backs up to its start. */
    const char *euro = "'\xe2\x82\xac\xe2\x82\xac'";
    n = cw_redact_cut(euro, strlen(euro), 5, out, &cut);
    assert_true(cut);
    assert_int_equal(n, 4);
    free(text);
    cw_flags_free(&f);
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

/* Syntax is POSIX extended: classes and intervals; ^ holds at the start of
 * the whole text only, also on later matches. */
static void test_posix_syntax(void **state)
{
    (void)state;
    char err[256];
    assert_int_equal(cw_redact_set("[[:digit:]]{3}|^x", err, sizeof(err)), 0);
    assert_string_equal(redacted("x12345x"), CW_REDACTED CW_REDACTED "45x");
    /* Leftmost-longest, as regexec: the longer alternative wins. */
    assert_int_equal(cw_redact_set("ab|abcd", err, sizeof(err)), 0);
    assert_string_equal(redacted("abcde"), CW_REDACTED "e");
    /* Back-references are not extended regular expressions: refused. */
    assert_int_equal(cw_redact_check("(a)\\1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "option 'redact'"));
    assert_int_equal(cw_redact_set("", err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_pattern_hides_credentials),
        cmocka_unit_test(test_user_pattern_and_none),
        cmocka_unit_test(test_output_cut_to_fit),
        cmocka_unit_test(test_bad_pattern_refused),
        cmocka_unit_test(test_linear_on_long_text_without_match),
        cmocka_unit_test(test_cut_after_redaction),
        cmocka_unit_test(test_posix_syntax),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
