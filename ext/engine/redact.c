/* redact.c: secrets kept out of reports. */
#include "redact.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linear_re.h"
#include "memory.h"
#include "text.h"

static pthread_mutex_t redact_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_re *installed; /* NULL: redact nothing */

static cw_re *compile(const char *pattern, char *err, size_t err_size)
{
    char why[160];
    cw_re *re = cw_re_compile(pattern, why, sizeof(why));
    if (re == NULL)
        snprintf(err, err_size, "option 'redact' is not a valid extended regular expression (%s): %.64s",
                 why, pattern);
    return re;
}

int cw_redact_check(const char *pattern, char *err, size_t err_size)
{
    if (pattern == NULL || *pattern == '\0')
        return 0;
    cw_re *re = compile(pattern, err, err_size);
    if (re == NULL)
        return -1;
    cw_re_free(re);
    return 0;
}

int cw_redact_set(const char *pattern, char *err, size_t err_size)
{
    cw_re *re = NULL;
    if (pattern != NULL && *pattern != '\0' && (re = compile(pattern, err, err_size)) == NULL)
        return -1;
    pthread_mutex_lock(&redact_lock);
    cw_re *old = installed;
    installed = re;
    pthread_mutex_unlock(&redact_lock);
    cw_re_free(old);
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

size_t cw_redact(const char *text, size_t text_len, char *out, size_t out_size)
{
    size_t len = 0, p = 0;
    pthread_mutex_lock(&redact_lock);
    while (installed != NULL && p < text_len) {
        size_t so, eo;
        int found = cw_re_find(installed, text, text_len, p, &so, &eo);
        if (found < 0) { /* the matcher failed: hide the rest rather than show a secret */
            append(out, out_size, &len, CW_REDACTED, strlen(CW_REDACTED));
            p = text_len;
            break;
        }
        if (found == 0)
            break;
        append(out, out_size, &len, text + p, so - p);
        if (eo > so) {
            append(out, out_size, &len, CW_REDACTED, strlen(CW_REDACTED));
            p = eo;
        } else if (so < text_len) { /* an empty match hides nothing: step over one byte */
            append(out, out_size, &len, text + so, 1);
            p = so + 1;
        } else {
            p = so;
            break;
        }
    }
    pthread_mutex_unlock(&redact_lock);
    append(out, out_size, &len, text + p, text_len - p);
    out[len < out_size ? len : out_size - 1] = '\0';
    return len;
}

size_t cw_redact_cut(const char *text, size_t len, size_t max, char *out, bool *cut)
{
    /* Only the part that can show, and the margin a secret may run on into. */
    size_t window = len < max + CW_REDACT_MARGIN ? len : cw_text_cut(text, max + CW_REDACT_MARGIN);
    char small[1024];
    size_t room = max + 1;
    char *buf = room <= sizeof(small) ? small : cw_malloc(CW_MEM_REPORTS, room);
    size_t full;
    if (buf == NULL) { /* no memory: show nothing rather than a secret */
        *cut = len > 0;
        out[0] = '\0';
        return 0;
    }
    full = cw_redact(text, window, buf, room);
    *cut = full > max || window < len;
    size_t n = full > max ? cw_text_cut(buf, max) : full;
    memcpy(out, buf, n);
    out[n] = '\0';
    if (buf != small)
        cw_free(buf);
    return n;
}
