/* Unit tests for ext/engine/suppress.c's parser: a file is taken whole or not at
 * all, whitespace around TYPE and PATTERN does not count, and an error is one
 * printable line naming the file and line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "suppress.h"

static int teardown(void **state)
{
    (void)state;
    cw_suppress_clear();
    return 0;
}

static void test_good_file_added_whole(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(cw_suppress_parse("# known\nrace:app.CACHE\n\n  race : logging* \npool:*futurist*\n",
                                       "known.txt", err, sizeof(err)), 0);
    assert_int_equal(cw_suppress_count(), 3);
    const char *type, *pattern, *reason;
    uint64_t hits;
    assert_true(cw_suppress_get(1, &type, &pattern, &reason, &hits));
    assert_string_equal(type, "race");
    assert_string_equal(pattern, "logging*");
}

static void test_bad_line_adds_nothing(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(cw_suppress_parse("race:kept\n", "first.txt", err, sizeof(err)), 0);
    assert_int_equal(cw_suppress_parse("race:a\nrace:b\nbogus\nrace:c\n", "known.txt", err,
                                       sizeof(err)), -1);
    assert_string_equal(err, "known.txt:3: bad suppression 'bogus' (want TYPE:PATTERN)");
    assert_int_equal(cw_suppress_count(), 1); /* only the earlier file's */
    assert_int_equal(cw_suppress_parse("race:a\nnosuch:x\n", "k", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "k:2: unknown suppression type 'nosuch'"));
    assert_int_equal(cw_suppress_count(), 1);
}

static void test_error_is_one_printable_line(void **state)
{
    (void)state;
    char err[256] = "";
    assert_int_equal(cw_suppress_parse("race\rfill\n", "known.txt", err, sizeof(err)), -1);
    assert_string_equal(err, "known.txt:1: bad suppression 'race\\x0dfill' (want TYPE:PATTERN)");
    assert_int_equal(cw_suppress_parse("\x1b[31m:x\n", "known.txt", err, sizeof(err)), -1);
    assert_null(strchr(err, '\x1b'));
    assert_non_null(strstr(err, "'\\x1b[31m'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_good_file_added_whole, teardown),
        cmocka_unit_test_teardown(test_bad_line_adds_nothing, teardown),
        cmocka_unit_test_teardown(test_error_is_one_printable_line, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
