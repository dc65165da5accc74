/* names.c: the names of operations, finding kinds and locations, as reports
 * and suppressions spell them (cw.h, report.h). */
#include "cw.h"
#include "report.h"

const char *cw_op_name(cw_op op)
{
    switch (op) {
#define CW_OP_CASE(name, text) \
    case CW_OP_##name:         \
        return text;
        CW_OPS(CW_OP_CASE)
#undef CW_OP_CASE
    case CW_OP_COUNT:
        break;
    }
    return "?";
}

const char *cw_report_kind_name(cw_report_kind kind)
{
    switch (kind) {
    case CW_REPORT_CHECK_THEN_ACT:
        return "check-then-act";
    case CW_REPORT_WRITE_WRITE:
        return "write-write";
    case CW_REPORT_ITERATION:
        return "iteration";
    case CW_REPORT_LOST_UPDATE:
        return "lost-update";
    case CW_REPORT_UNBOUNDED_POOL:
        return "unbounded-pool";
    case CW_REPORT_EXECUTOR_LEAK:
        return "executor-leak";
    case CW_REPORT_ABANDONED_TASK:
        return "abandoned-task";
    case CW_REPORT_THREAD_LEAK:
        return "thread-leak";
    }
    return "?";
}

/* What to do about a finding of this kind, one line (the text report's
 * Hint, SARIF's help text). */
const char *cw_report_kind_hint(cw_report_kind kind)
{
    switch (kind) {
    case CW_REPORT_CHECK_THEN_ACT:
        return "hold one lock across the check and the act, or make them one operation "
               "(setdefault, pop(key, None))";
    case CW_REPORT_WRITE_WRITE:
        return "order the writes (one lock both hold, or a hand-off), or keep the state "
               "per thread";
    case CW_REPORT_ITERATION:
        return "loop over a snapshot (list(...), .copy()), or hold the writers' lock while "
               "looping";
    case CW_REPORT_LOST_UPDATE:
        return "hold one lock across the read and the write";
    case CW_REPORT_UNBOUNDED_POOL:
        return "bound the backlog: max_workers and a semaphore around submit, or futurist's "
               "check_and_reject";
    case CW_REPORT_EXECUTOR_LEAK:
        return "call shutdown(), or use the executor as a context manager";
    case CW_REPORT_ABANDONED_TASK:
        return "cancel the task when giving up on it, or have it watch a stop event";
    case CW_REPORT_THREAD_LEAK:
        return "join the thread (or stop it) before the end; a daemon thread is meant to be "
               "abandoned";
    }
    return "";
}

bool cw_report_kind_is_race(cw_report_kind kind)
{
    switch (kind) {
    case CW_REPORT_CHECK_THEN_ACT:
    case CW_REPORT_WRITE_WRITE:
    case CW_REPORT_ITERATION:
    case CW_REPORT_LOST_UPDATE:
        return true;
    case CW_REPORT_UNBOUNDED_POOL:
    case CW_REPORT_EXECUTOR_LEAK:
    case CW_REPORT_ABANDONED_TASK:
    case CW_REPORT_THREAD_LEAK:
        return false;
    }
    return false;
}

const char *cw_location_kind_name(cw_location_kind loc)
{
    switch (loc) {
    case CW_LOC_KEY:
        return "key";
    case CW_LOC_STRUCTURE:
        return "structure";
    case CW_LOC_BINDING:
        return "binding";
    case CW_LOC_INDEX:
        return "index";
    case CW_LOC_ELEMENT:
        return "element";
    case CW_LOC_LENGTH:
        return "length";
    case CW_LOC_ATTRIBUTE:
        return "attribute";
    }
    return "?";
}
