/* report_print.h: render reports as text. Format and output, no logic. */
#ifndef CW_REPORT_PRINT_H
#define CW_REPORT_PRINT_H

#include <stddef.h>

#include "report.h"

/* Render one report into buf (always NUL-terminated); returns its length. */
size_t cw_report_format(const cw_report *r, int pid, char *buf, size_t size);
/* Format and write to fd; -1 if the write failed. */
int cw_report_print(uint32_t id, int fd, int pid);

#endif
