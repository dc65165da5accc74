/* fuzz_selftest.c: the fuzzers' message checks can fail. Each bad message
 * given to check_message() must abort (what libFuzzer turns into a saved
 * crash); each good one must not. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include "fuzz_common.h"

/* 1 when check_message(err, size) aborts in a child process. */
static int aborts(const char *err, size_t size)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", 1);
        if (fd >= 0)
            dup2(fd, 2);
        check_message(err, size, "input");
        _exit(0);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

int main(void)
{
    int bad = 0;
    char unterminated[8];
    memset(unterminated, 'x', sizeof(unterminated));
    struct { const char *what; const char *msg; size_t size; int want_abort; } cases[] = {
        {"two lines", "option 'a' is bad\nsecond line", 64, 1},
        {"carriage return", "option 'a'\rbad", 64, 1},
        {"empty", "", 64, 1},
        {"unterminated", unterminated, sizeof(unterminated), 1},
        {"one line", "unknown option 'frobnicate'", 64, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char buf[64] = {0};
        if (cases[i].msg == unterminated)
            memcpy(buf, unterminated, sizeof(unterminated));
        else
            strncpy(buf, cases[i].msg, sizeof(buf) - 1);
        int got = aborts(buf, cases[i].size);
        printf("%-16s check_message %s (want %s)\n", cases[i].what, got ? "rejects" : "accepts",
               cases[i].want_abort ? "rejects" : "accepts");
        bad += got != cases[i].want_abort;
    }
    bad += message_is_one_line("a\nb") != 0;
    bad += message_is_one_line("a b") != 1;
    printf("%s\n", bad ? "SELFTEST FAILED" : "selftest ok");
    return bad != 0;
}
