/* fuzz_common.h: checks shared by the libFuzzer targets of tests/fuzz/.
 *
 * A failed check prints what was wrong, with the message and input, and
 * aborts, which libFuzzer records as a crash (and saves the input). */
#ifndef CW_FUZZ_COMMON_H
#define CW_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static inline void fuzz_fail(const char *what, const char *msg, const char *input)
{
    fprintf(stderr, "FUZZ CHECK FAILED: %s\n  message: ", what);
    for (const char *p = msg ? msg : "(null)"; *p; p++)
        fprintf(stderr, (unsigned char)*p < 0x20 || *p == 0x7f ? "\\x%02x" : "%c",
                (unsigned char)*p);
    fprintf(stderr, "\n  input (%zu bytes): ", input ? strlen(input) : 0);
    for (const char *p = input ? input : ""; *p && p - input < 400; p++)
        fprintf(stderr, (unsigned char)*p < 0x20 || *p == 0x7f ? "\\x%02x" : "%c",
                (unsigned char)*p);
    fprintf(stderr, "\n");
    abort();
}

#define FUZZ_CHECK(cond, what, msg, input)   \
    do {                                     \
        if (!(cond))                         \
            fuzz_fail((what), (msg), (input)); \
    } while (0)

/* Does msg hold a byte a terminal or str.splitlines() would act on: a
 * control character (\n, \r, \v, \f, ESC, ...), DEL, a C1 control (NEL
 * among them) or the UTF-8 of LS or PS? */
static inline int has_control(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++) {
        if (*p < 0x20 || *p == 0x7f)
            return 1;
        if ((p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
            (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)))
            return 1;
    }
    return 0;
}

/* An error message as a user sees it: non-empty, one line (no line break
 * of any kind: \n, \r, \v, \f), NUL-terminated inside its buffer, and (when
 * a bigger buffer gave the full text) the truncated text is its prefix.
 * The buffer is filled with 'Z' before the call so an unterminated message
 * is seen. */
static inline void check_message(const char *err, size_t err_size, const char *input)
{
    const char *nul = memchr(err, '\0', err_size);
    FUZZ_CHECK(nul != NULL, "message not NUL-terminated within err_size", "", input);
    FUZZ_CHECK(err[0] != '\0', "empty error message", err, input);
    FUZZ_CHECK(!has_control(err), "error message is not one printable line", err, input);
}

/* Is this message one line? Used by the self-test that proves the checker
 * can fail (see fuzz_selftest.c). */
static inline int message_is_one_line(const char *err)
{
    return err[0] != '\0' && !has_control(err);
}

/* input as an error message quotes it: control bytes and the UTF-8 of NEL,
 * LS and PS written as \xNN (malloc'd). Written from text.h's contract. */
static inline char *escaped(const char *input)
{
    size_t n = strlen(input);
    char *out = malloc(4 * n + 1), *o = out;
    for (const unsigned char *p = (const unsigned char *)input; *p;) {
        size_t k = (*p < 0x20 || *p == 0x7f) ? 1
                   : (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ? 2
                   : (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) ? 3 : 0;
        if (k == 0) {
            *o++ = (char)*p++;
            continue;
        }
        for (size_t i = 0; i < k; i++, p++)
            o += sprintf(o, "\\x%02x", *p);
    }
    *o = '\0';
    return out;
}

/* Does the message quote a non-empty part of the input: after its first
 * ', some text found in the input up to a later ' (or to the end of the
 * message, when the buffer cut it)? */
static inline int quotes_input(const char *err, const char *input)
{
    const char *q = strchr(err, '\'');
    if (q == NULL)
        return 0;
    const char *rest = q + 1;
    for (size_t k = 1; k <= strlen(rest); k++) {
        if (rest[k] != '\'' && rest[k] != '\0')
            continue;
        char *part = strndup(rest, k), *shown = escaped(input);
        int found = strstr(shown, part) != NULL;
        free(part);
        free(shown);
        if (found)
            return 1;
    }
    return 0;
}

/* The input as a C string (libFuzzer's data is not terminated); embedded NULs
 * end it early, as they would for text read from the environment. */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

#endif
