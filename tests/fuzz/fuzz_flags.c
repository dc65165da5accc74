/* fuzz_flags.c: arbitrary bytes as CACHEWATCH_OPTIONS text.
 *
 * cw_flags_parse, then cw_flags_validate, as runtime.c's configure does.
 * Checked for every input:
 *  - no crash, no ASan/UBSan error, no leak (engine allocations counted by
 *    memory.c return to where they were; LeakSanitizer at exit);
 *  - an error is a non-empty single line, NUL-terminated within err_size,
 *    the same text cut short in a small buffer, and names what was wrong: a
 *    parse error quotes a non-empty part of the input (the option's name or
 *    the malformed word), a validation error names an option of the table;
 *  - parsing the same text twice gives the same result and message;
 *  - text that parses is parsed as written: each option set holds the value
 *    of its last occurrence, and writing the options back out as
 *    name=value text parses to the same options.
 * An input starting with byte 0x01 makes the (next byte)th engine
 * allocation fail, to run the out-of-memory paths. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flags.h"
#include "memory.h"

#include "fuzz_common.h"

#define ERR_SIZE 256 /* as runtime.c */

static int same_flags(const cw_flags *a, const cw_flags *b)
{
#define SAME_bool(name) if (a->name != b->name) return 0;
#define SAME_int(name) if (a->name != b->name) return 0;
#define SAME_str(name) if (strcmp(a->name ? a->name : "(null)", b->name ? b->name : "(null)")) return 0;
#define CW_FLAG(type, name, def, help) SAME_##type(name)
#include "flags.inc"
#undef CW_FLAG
#undef SAME_bool
#undef SAME_int
#undef SAME_str
    return 1;
}

/* The options written back as text, as a user would write them. */
static char *flags_text(const cw_flags *f)
{
    size_t cap = 64;
#define LEN_bool(name) cap += sizeof(#name) + 4;
#define LEN_int(name) cap += sizeof(#name) + 24;
#define LEN_str(name) cap += sizeof(#name) + 2 + strlen(f->name);
#define CW_FLAG(type, name, def, help) LEN_##type(name)
#include "flags.inc"
#undef CW_FLAG
    char *text = malloc(cap), *o = text;
    if (text == NULL)
        abort();
#define OUT_bool(name) o += sprintf(o, "%s=%d ", #name, f->name);
#define OUT_int(name) o += sprintf(o, "%s=%ld ", #name, f->name);
#define OUT_str(name) o += sprintf(o, "%s=%s ", #name, f->name);
#define CW_FLAG(type, name, def, help) OUT_##type(name)
#include "flags.inc"
#undef CW_FLAG
    *o = '\0';
    return text;
}

/* The value a str option must hold after a successful parse of text: that
 * of its last name=value word, or its default; NULL for "not set". */
static const char *last_value(const char *text, const char *name, char *buf, size_t bufsize)
{
    const char *found = NULL;
    size_t found_len = 0, nlen = strlen(name);
    const char *p = text;
    while (*p) {
        while (*p && isspace((unsigned char)*p))
            p++;
        const char *w = p;
        while (*p && !isspace((unsigned char)*p))
            p++;
        size_t len = (size_t)(p - w);
        if (len > nlen && w[nlen] == '=' && strncmp(w, name, nlen) == 0) {
            found = w + nlen + 1;
            found_len = len - nlen - 1;
        }
    }
    if (found == NULL || found_len >= bufsize)
        return NULL;
    memcpy(buf, found, found_len);
    buf[found_len] = '\0';
    return buf;
}

static int names_an_option(const char *err)
{
    char quoted[160];
    for (size_t i = 0; i < cw_flag_count; i++) {
        snprintf(quoted, sizeof(quoted), "'%s'", cw_flag_table[i].name);
        if (strstr(err, quoted))
            return 1;
    }
    return 0;
}

/* Parse (and validate) text into fresh flags; returns 0, -1 (parse) or -2
 * (validate), with the message in err. */
static int configure(cw_flags *f, const char *text, char *err, size_t err_size)
{
    memset(err, 'Z', err_size);
    if (cw_flags_set_defaults(f) < 0) {
        snprintf(err, err_size, "(defaults: out of memory)");
        return -3;
    }
    if (cw_flags_parse(f, text, err, err_size) < 0)
        return -1;
    if (cw_flags_validate(f, err, err_size) < 0)
        return -2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int oom = size >= 2 && data[0] == 0x01;
    char *text = oom ? fuzz_cstring(data + 2, size - 2) : fuzz_cstring(data, size);
    size_t before = cw_mem_total();
    char err[ERR_SIZE], err2[ERR_SIZE];
    cw_flags f, g;

    if (oom) {
        cw_mem_fail_after(1 + data[1] % 32);
        int rc = configure(&f, text, err, sizeof(err));
        cw_mem_fail_after(0);
        if (rc == -3) {
            /* cw_flags_set_defaults failed half way: what it made is the
             * caller's to free (runtime.c does not, see the report). */
            cw_flags_free(&f);
        } else {
            if (rc < 0)
                check_message(err, sizeof(err), text);
            cw_flags_free(&f);
        }
        FUZZ_CHECK(cw_mem_total() == before, "engine memory leaked (out-of-memory run)", "", text);
        free(text);
        return 0;
    }

    int rc = configure(&f, text, err, sizeof(err));
    FUZZ_CHECK(rc == 0 || rc == -1 || rc == -2, "unexpected result", "", text);
    if (rc < 0) {
        check_message(err, sizeof(err), text);
        if (rc == -1) {
            FUZZ_CHECK(quotes_input(err, text), "parse error quotes no part of the input", err,
                       text);
        } else {
            FUZZ_CHECK(names_an_option(err), "validation error names no option", err, text);
        }
    }

    /* Same input, same result. */
    int rc2 = configure(&g, text, err2, sizeof(err2));
    FUZZ_CHECK(rc2 == rc, "second parse gave another result", err2, text);
    FUZZ_CHECK(rc != 0 || same_flags(&f, &g), "second parse gave other options", "", text);
    FUZZ_CHECK(rc == 0 || strcmp(err, err2) == 0, "second parse gave another message", err2, text);
    cw_flags_free(&g);

    /* A small buffer: terminated inside it, a prefix of the full message. */
    if (rc < 0) {
        size_t small = 1 + size % 40;
        char cut[64];
        int rc3 = configure(&g, text, cut, small);
        FUZZ_CHECK(rc3 == rc, "small buffer changed the result", "", text);
        FUZZ_CHECK(memchr(cut, '\0', small) != NULL, "message overran a small buffer", "", text);
        FUZZ_CHECK(strncmp(cut, err, strlen(cut)) == 0, "cut message is not a prefix", cut, text);
        cw_flags_free(&g);
    }

    if (rc == 0) {
        /* Parsed as written: each str option holds its last value. */
        char buf[CW_FLAG_STR_MAX + 1];
#define LAST_bool(name)
#define LAST_int(name)
#define LAST_str(name)                                                             \
    {                                                                              \
        const char *want = last_value(text, #name, buf, sizeof(buf));              \
        if (want != NULL)                                                          \
            FUZZ_CHECK(strcmp(f.name, want) == 0, "option " #name " lost its last value", \
                       f.name, text);                                              \
    }
#define CW_FLAG(type, name, def, help) LAST_##type(name)
#include "flags.inc"
#undef CW_FLAG
        /* Round trip through text. */
        char *again = flags_text(&f);
        int rc4 = configure(&g, again, err2, sizeof(err2));
        FUZZ_CHECK(rc4 == 0, "options written back do not parse", err2, again);
        FUZZ_CHECK(same_flags(&f, &g), "options written back parse differently", again, text);
        cw_flags_free(&g);
        free(again);
    }

    cw_flags_free(&f);
    FUZZ_CHECK(cw_mem_total() == before, "engine memory leaked", "", text);
    free(text);
    return 0;
}
