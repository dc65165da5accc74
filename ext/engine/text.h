/* text.h: messages that quote what a user wrote stay one printable line.
 *
 * An option, a suppression line or a target can hold any byte; quoted raw in
 * an error, a carriage return or an escape sequence would split the line or
 * drive the terminal. */
#ifndef CW_TEXT_H
#define CW_TEXT_H

#include <stddef.h>

/* Rewrite msg (NUL-terminated, in a buffer of size bytes) in place with
 * control characters (C0, DEL, C1 with NEL, and the Unicode line breaks LS
 * and PS) written as \xNN escapes of their bytes; cut to fit, never inside
 * an escape or a character. */
void cw_text_printable(char *msg, size_t size);

/* The longest prefix of s[0..len) that does not end inside a UTF-8
 * character. */
size_t cw_text_cut(const char *s, size_t len);

#endif
