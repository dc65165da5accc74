/* text.c: messages that quote what a user wrote stay one printable line. */
#include "text.h"

#include <stdio.h>
#include <string.h>

/* Length of the line-breaking sequence at p (0: none). */
static size_t breaking(const unsigned char *p)
{
    if (*p < 0x20 || *p == 0x7f)
        return 1;

    if (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) /* C1 controls, NEL among them */
        return 2;
    if (p[0] == 0xe2 && p[1] == 0x80 && (p[2] == 0xa8 || p[2] == 0xa9)) /* U+2028, U+2029 */
        return 3;
    return 0;
}

size_t cw_text_cut(const char *s, size_t len)
{
    size_t start = len;
    while (start > 0 && len - start < 4 && ((unsigned char)s[start - 1] & 0xc0) == 0x80)
        start--; /* back over continuation bytes to their lead */
    if (start == 0)
        return len;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t want = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    return len - (start - 1) < want ? start - 1 : len;
}

void cw_text_printable(char *msg, size_t size)
{
    if (size == 0)
        return;
    /* A message cut by its buffer may end inside a character: drop it, so
     * that a shorter buffer gives a prefix of what a longer one gives. */
    msg[cw_text_cut(msg, strnlen(msg, size - 1))] = '\0';
    char out[1024];
    size_t room = size < sizeof(out) ? size : sizeof(out);
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)msg; *p;) {
        size_t k = breaking(p);
        size_t want = k ? 4 * k : 1;
        if (n + want >= room)
            break;
        if (k == 0) {
            out[n++] = (char)*p++;
            continue;
        }
        for (size_t i = 0; i < k; i++, p++) {
            snprintf(out + n, 5, "\\x%02x", *p);
            n += 4;
        }
    }
    out[n] = '\0';
    memcpy(msg, out, n + 1);
}
