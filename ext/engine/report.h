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
    CW_REPORT_UNBOUNDED_POOL, /* a pool with no bound on its backlog grew past a threshold */
    CW_REPORT_EXECUTOR_LEAK,  /* executors made again and again at one site, never shut down */
    CW_REPORT_ABANDONED_TASK, /* a task ran on after its waiter gave up */
    CW_REPORT_THREAD_LEAK,    /* a thread started in a scope still alive at its end */
} cw_report_kind;

/* A race (two accesses) or another finding (sections and facts)? */
bool cw_report_kind_is_race(cw_report_kind kind);

#define CW_REPORT_SECTIONS 4
#define CW_REPORT_FACTS 8

/* A stack that explains a finding: where a pool was made, who waited... */
typedef struct cw_report_section {
    cw_str_id title;   /* "Created", "Waiter gave up", ... */
    cw_tid tid;        /* the thread it happened in, 0 if none */
    cw_stack_id stack;
} cw_report_section;

/* A number that says how bad it is: pending tasks, milliseconds... */
typedef struct cw_report_fact {
    cw_str_id name;
    int64_t value;
} cw_report_fact;

/* What the racing accesses touched. */
typedef enum cw_location_kind {
    CW_LOC_KEY,       /* one key of a container */
    CW_LOC_STRUCTURE, /* the set of keys of a container */
    CW_LOC_BINDING,   /* a module-level name */
    CW_LOC_INDEX,     /* one index of a list (a key, as the binding tells) */
    CW_LOC_ELEMENT,   /* whether a list holds an element equal to one value */
    CW_LOC_LENGTH,    /* a deque's length (it grew, or it shrank) */
    CW_LOC_ATTRIBUTE, /* one attribute of a watched object */
} cw_location_kind;

const char *cw_report_kind_name(cw_report_kind kind);
const char *cw_report_kind_hint(cw_report_kind kind);
const char *cw_location_kind_name(cw_location_kind loc);

/* One access in a report. */
typedef struct cw_report_access {
    cw_tid tid;
    cw_op op;
    bool write;
    cw_lockset_id locks;
    cw_stack_id stack;
    cw_stack_id check_stack; /* the read this access acted on, if any */
    cw_site check_site;      /* where that read was (known even without its stack) */
    cw_op check_op;
    char thread_name[64];    /* as the thread was called at the report */
    /* Where it was among its thread's sync events (history.h): how many came
     * before it, only the low 16 bits of that when events_low is set (an
     * access record keeps no more), and its clock. */
    uint32_t events;
    bool events_low;
    cw_clock clock;
    uint32_t check_events;   /* the same for the read it acted on (its thread's) */
    bool has_check_events;
    /* Its thread's last sync events, copied when the report was made
     * (cw_report_set_history; Owned by the store, borrowed by a copy). */
    struct cw_event *history;
    uint32_t nhistory;
    uint64_t history_until;  /* every event before this sequence number was seen */
} cw_report_access;

#define CW_REPORT_KEYS 8

typedef struct cw_report {
    uint32_t id;
    cw_report_kind kind;
    cw_str_id target;        /* "module.NAME" or a description */
    uintptr_t container;
    int64_t key_hash;        /* the key's hash (a list's index: the index) */
    bool has_key;            /* a key's text is worth showing (CW_LOC_KEY) */
    cw_location_kind location;
    char *key_repr;          /* Owned; set by the binding, may stay NULL */
    cw_report_access cur;    /* the access that found the race */
    cw_report_access prev;   /* the other side */
    uint32_t hits;           /* how many times this (deduplicated) race was seen */
    uint32_t suppressed;     /* 1 + the suppression hiding it (cw_suppress_get), 0: shown */
    /* The keys (or indices) it was seen at: one bug through one pair of
     * lines at many keys is one report that says how many. */
    int64_t keys_seen[CW_REPORT_KEYS];
    uint32_t nkeys;          /* distinct keys seen, up to CW_REPORT_KEYS */
    bool more_keys;          /* and more than that */
    /* Findings that are not races. */
    cw_str_id detail;        /* one line saying what was found */
    uint64_t dedup_key;      /* from the caller; 0 derives one from the stacks */
    cw_report_section sections[CW_REPORT_SECTIONS];
    uint32_t nsections;
    cw_report_fact facts[CW_REPORT_FACTS];
    uint32_t nfacts;
} cw_report;

int cw_report_init(uint32_t max_reports, bool dedup);
void cw_report_fini(void);

/* Add a report; returns its id, or 0 when a suppression hides it (and counts
 * it), when it repeats an earlier one (whose hit count goes up) or when no
 * more can be kept (counted as dropped). */
uint32_t cw_report_add(const cw_report *r);
/* The binding fills in the key's text once, outside every engine lock. */
void cw_report_set_key(uint32_t id, const char *key_repr);
/* The same, also saying what kind of key it is (CW_LOC_KEY, CW_LOC_INDEX or
 * CW_LOC_ELEMENT): the engine knows keys only by their hashes. */
void cw_report_set_key_as(uint32_t id, const char *key_repr, cw_location_kind loc);
/* The side's (0: cur, 1: prev) thread's last sync events, copied; once.
 * An access known by the low bits of its place among them is placed. */
void cw_report_set_history(uint32_t id, int which, const struct cw_event *events, uint32_t n,
                           uint64_t until);
/* Copy of a report (key_repr stays owned by the store); false if unknown. */
/* A thread called by a name it got after the report copied the old one
 * (a thread a C server started is named once threading first sees it). */
void cw_report_rename_thread(uint32_t id, cw_tid tid, const char *name);
bool cw_report_get(uint32_t id, cw_report *out);
uint32_t cw_report_count(void);
uint32_t cw_report_dropped(void);
/* Forget every report (for a new session in the same process). */
void cw_report_clear(void);

#endif
