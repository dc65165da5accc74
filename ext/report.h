/* report.h: race reports as data.
 *
 * A report is built by the shadow checks under their guard, de-duplicated
 * by (category, target, innermost code locations of both sides), and then
 * finished by the binding (the key's repr) and printed by report_print.c.
 * Reports are kept until the engine is torn down; beyond max_reports only
 * counts are kept so a report is never silently lost. */
#ifndef CW_REPORT_H
#define CW_REPORT_H

#include "cw.h"

typedef enum cw_report_kind {
    CW_REPORT_CHECK_THEN_ACT, /* a write acted on a check another thread raced */
    CW_REPORT_WRITE_WRITE,    /* two unordered writes of one key, no common lock */
    CW_REPORT_ITERATION,      /* a loop over the live container raced a resize */
    CW_REPORT_LOST_UPDATE,    /* a write into a container as its name was rebound */
} cw_report_kind;

/* What the racing accesses touched. */
typedef enum cw_location_kind {
    CW_LOC_KEY,       /* one key (or index, or element) of a container */
    CW_LOC_STRUCTURE, /* the set of keys of a container */
    CW_LOC_BINDING,   /* a module-level name */
} cw_location_kind;

const char *cw_report_kind_name(cw_report_kind kind);
const char *cw_location_kind_name(cw_location_kind loc);

/* One access in a report. */
typedef struct cw_report_access {
    cw_tid tid;
    cw_op op;
    bool write;
    cw_lockset_id locks;
    cw_stack_id stack;
    cw_stack_id check_stack; /* the read this access acted on, if any */
    cw_op check_op;
    char thread_name[64];    /* as the thread was called at the report */
} cw_report_access;

typedef struct cw_report {
    uint32_t id;
    cw_report_kind kind;
    cw_str_id target;        /* "module.NAME" or a description */
    uintptr_t container;
    bool has_key;            /* a key's text is worth showing (CW_LOC_KEY) */
    cw_location_kind location;
    char *key_repr;          /* Owned; set by the binding, may stay NULL */
    cw_report_access cur;    /* the access that found the race */
    cw_report_access prev;   /* the other side */
    uint32_t hits;           /* how many times this (deduplicated) race was seen */
} cw_report;

int cw_report_init(uint32_t max_reports, bool dedup);
void cw_report_fini(void);

/* Add a report; returns its id, or 0 when it repeats an earlier one (whose
 * hit count goes up) or when no more can be kept (counted as dropped). */
uint32_t cw_report_add(const cw_report *r);
/* The binding fills in the key's text once, outside every engine lock. */
void cw_report_set_key(uint32_t id, const char *key_repr);
/* Copy of a report (key_repr stays owned by the store); false if unknown. */
bool cw_report_get(uint32_t id, cw_report *out);
uint32_t cw_report_count(void);
uint32_t cw_report_dropped(void);
/* Forget every report (for a new session in the same process). */
void cw_report_clear(void);

#endif
