// linear_re.cc: cw_re over RE2 (see linear_re.h). No exception crosses
// into C: every entry point catches what RE2 or the allocator may throw.
#include "linear_re.h"

#include <re2/re2.h>

#include <cstdio>
#include <new>

struct cw_re {
    re2::RE2 re;
    explicit cw_re(const char *pattern, const re2::RE2::Options &opts) : re(pattern, opts) {}
};

extern "C" cw_re *cw_re_compile(const char *pattern, char *err, size_t err_size)
{
    try {
        re2::RE2::Options opts;
        opts.set_posix_syntax(true);
        opts.set_longest_match(true);
        opts.set_log_errors(false);
        cw_re *re = new cw_re(pattern, opts);
        if (re->re.ok())
            return re;
        if (err_size)
            std::snprintf(err, err_size, "%s", re->re.error().c_str());
        delete re;
    } catch (...) {
        if (err_size)
            std::snprintf(err, err_size, "no memory to compile it");
    }
    return nullptr;
}

extern "C" int cw_re_find(const cw_re *re, const char *text, size_t len, size_t from,
                          size_t *start, size_t *end)
{
    if (from > len)
        return 0;
    try {
        re2::StringPiece whole(text, len), match;
        if (!re->re.Match(whole, from, len, re2::RE2::UNANCHORED, &match, 1))
            return 0;
        *start = (size_t)(match.data() - text);
        *end = *start + match.size();
        return 1;
    } catch (...) {
        return -1;
    }
}

extern "C" void cw_re_free(cw_re *re) { delete re; }
