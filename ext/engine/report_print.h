/* report_print.h: render reports as text. Format and output, no logic. */
#ifndef CW_REPORT_PRINT_H
#define CW_REPORT_PRINT_H

#include <stddef.h>

#include "report.h"

/* Render one report into buf (always NUL-terminated); returns its length. */
size_t cw_report_format(const cw_report *r, int pid, char *buf, size_t size);
/* Files of library code (a module's file, such as threading's, or a
 * package's directory ending in '/', such as asyncio's): a pool's or
 * thread's finding names the first frame outside them in its SUMMARY line
 * (the line that started the thread, not Thread.start). Set before
 * checking starts; at most CW_LIBRARY_FILES. */
#define CW_LIBRARY_FILES 32
void cw_report_set_library_files(const char *const *files, size_t n);
/* Format and write to fd; -1 if the write failed. */
int cw_report_print(uint32_t id, int fd, int pid);

#endif
