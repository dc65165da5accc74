/* key_text.h: the text a report shows for a key, element or index.
 *
 * Bounded by key_repr_max whatever the key: a str, bytes or container key is
 * never asked for more of its repr than can show (reprlib's approach), the
 * redact pattern runs over what can show plus a margin (redact.h), and only
 * then is the text cut. An object's own __repr__ is called once and its
 * result cut at once: its cost is the object's. */
#ifndef CW_KEY_TEXT_H
#define CW_KEY_TEXT_H

#include "binding.h"

/* Write key's report text, NUL-terminated, to out (at least
 * CW_KEY_TEXT_SIZE bytes). Returns 0, or -1 when key has no printable repr
 * (out then says so). Runs Python code (repr): call outside engine calls,
 * with the thread busy. */
#define CW_KEY_TEXT_SIZE 4200
int cw_key_text(PyObject *key, size_t max, char *out);

#endif
