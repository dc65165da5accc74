/* Unit tests for ext/engine/text.c: quoted user text stays one printable line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "text.h"

static void test_control_characters_escaped(void **state)
{
    (void)state;
    char msg[64] = "bad 'a\rb\x1b[2Jc\x7f'";
    cw_text_printable(msg, sizeof(msg));
    assert_string_equal(msg, "bad 'a\\x0db\\x1b[2Jc\\x7f'");
    /* Unicode line breaks too; other UTF-8 stays. */
    char uni[64] = "x\xc2\x85y\xe2\x80\xa8z \xe2\x82\xac";
    cw_text_printable(uni, sizeof(uni));
    assert_string_equal(uni, "x\\xc2\\x85y\\xe2\\x80\\xa8z \xe2\x82\xac");
    char plain[16] = "fine";
    cw_text_printable(plain, sizeof(plain));
    assert_string_equal(plain, "fine");
}

static void test_cut_to_fit_never_inside_an_escape(void **state)
{
    (void)state;
    char msg[8] = "ab\ncdef";
    cw_text_printable(msg, sizeof(msg));
    assert_string_equal(msg, "ab\\x0ac"); /* 7 bytes and the NUL */
    char cut[6] = "ab\ncd";
    cw_text_printable(cut, sizeof(cut));
    assert_string_equal(cut, "ab"); /* the escape would not fit whole */
    char tiny[3] = "\n\n";
    cw_text_printable(tiny, sizeof(tiny));
    assert_string_equal(tiny, "");
    cw_text_printable(tiny, 0); /* nothing to write into: nothing written */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_control_characters_escaped),
        cmocka_unit_test(test_cut_to_fit_never_inside_an_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
