/* redact.c: secrets kept out of reports. */
#include "redact.h"

#include <pthread.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static regex_t installed; /* valid while have_pattern */
static bool have_pattern;

static int compile(regex_t *re, const char *pattern, char *err, size_t err_size)
{
    int rc = regcomp(re, pattern, REG_EXTENDED);
    if (rc != 0) {
        char why[128];
        regerror(rc, re, why, sizeof(why));
        snprintf(err, err_size, "option 'redact' is not a valid extended regular expression (%s): %.64s",
                 why, pattern);
        return -1;
    }
    return 0;
}

int cw_redact_check(const char *pattern, char *err, size_t err_size)
{
    if (pattern == NULL || *pattern == '\0')
        return 0;
    regex_t re;
    if (compile(&re, pattern, err, err_size) < 0)
        return -1;
    regfree(&re);
    return 0;
}

int cw_redact_set(const char *pattern, char *err, size_t err_size)
{
    regex_t re;
    bool want = pattern != NULL && *pattern != '\0';
    if (want && compile(&re, pattern, err, err_size) < 0)
        return -1;
    pthread_mutex_lock(&redact_lock);
    if (have_pattern)
        regfree(&installed);
    if (want)
        installed = re;
    have_pattern = want;
    pthread_mutex_unlock(&redact_lock);
    return 0;
}

/* Append n bytes of s to out[*len], counting what does not fit. */
static void append(char *out, size_t out_size, size_t *len, const char *s, size_t n)
{
    if (*len + 1 < out_size) {
        size_t room = out_size - 1 - *len;
        memcpy(out + *len, s, n < room ? n : room);
    }
    *len += n;
}

size_t cw_redact(const char *text, char *out, size_t out_size)
{
    size_t len = 0;
    pthread_mutex_lock(&redact_lock);
    const char *p = text;
    int eflags = 0;
    regmatch_t m;
    while (have_pattern && *p && regexec(&installed, p, 1, &m, eflags) == 0) {
        append(out, out_size, &len, p, (size_t)m.rm_so);
        if (m.rm_eo > m.rm_so) {
            append(out, out_size, &len, CW_REDACTED, strlen(CW_REDACTED));
            p += m.rm_eo;
        } else if (p[m.rm_so] == '\0') {
            p += m.rm_so;
            break;
        } else { /* an empty match hides nothing: step over one byte */
            append(out, out_size, &len, p + m.rm_so, 1);
            p += m.rm_so + 1;
        }
        eflags = REG_NOTBOL;
    }
    pthread_mutex_unlock(&redact_lock);
    append(out, out_size, &len, p, strlen(p));
    out[len < out_size ? len : out_size - 1] = '\0';
    return len;
}
