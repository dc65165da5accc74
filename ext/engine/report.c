/* report.c: report storage and de-duplication. */
#include "report.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "depot.h"
#include "hashtable.h"
#include "history.h"
#include "idvec.h"
#include "memory.h"
#include "suppress.h"

/* report_lock guards everything below. */
static pthread_mutex_t report_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_idvec reports = {.mem = CW_MEM_REPORTS}; /* id -> cw_report* */
static cw_hashtable seen;     /* dedup signature -> (uintptr_t)id */
static uint32_t max_reports = 1000;
static uint32_t kept[2];      /* shown, suppressed: each up to max_reports */
static uint32_t dropped;
static bool dedup = true;
static bool initialised;

int cw_report_init(uint32_t max, bool dedup_on)
{
    pthread_mutex_lock(&report_lock);
    int rc = 0;
    max_reports = max;
    dedup = dedup_on;
    if (!initialised) {
        if (cw_ht_init(&seen, 64, NULL, NULL, CW_MEM_REPORTS) < 0)
            rc = -1;
        else
            initialised = true;
    }
    pthread_mutex_unlock(&report_lock);
    return rc;
}

static void clear_unlocked(void)
{
    uint32_t n = cw_idvec_count(&reports);
    for (uint32_t id = 1; id <= n; id++) {
        cw_report *r = cw_idvec_get(&reports, id);
        if (r) {
            cw_free(r->key_repr);
            cw_free(r->cur.history);
            cw_free(r->prev.history);
        }
    }
    cw_idvec_free_all(&reports);
    kept[0] = kept[1] = 0;
    if (initialised) {
        cw_ht_fini(&seen);
        cw_ht_init(&seen, 64, NULL, NULL, CW_MEM_REPORTS);
    }
    dropped = 0;
}

void cw_report_fini(void)
{
    pthread_mutex_lock(&report_lock);
    clear_unlocked();
    if (initialised)
        cw_ht_fini(&seen);
    initialised = false;
    pthread_mutex_unlock(&report_lock);
}

void cw_report_clear(void)
{
    pthread_mutex_lock(&report_lock);
    clear_unlocked();
    pthread_mutex_unlock(&report_lock);
}

/* The innermost frame's key, which names the line of code. */
static uint64_t code_location_key(uintptr_t pc, int32_t offset)
{
    return cw_hash_word((uint64_t)pc ^ ((uint64_t)(uint32_t)offset << 1));
}

static uint64_t top_frame_key(cw_stack_id id)
{
    uint32_t n;
    const cw_frame *f = cw_depot_get(id, &n);
    if (n == 0)
        return 0;
    return code_location_key(f[0].pc, f[0].offset);
}

/* A side is named by the check it acted on when there is one, else by the
 * access itself: a check-then-act race is one bug whether the other thread
 * was caught checking, or checking and writing. */
static uint64_t side_key(const cw_report_access *a)
{
    if (a->check_site.code)
        return code_location_key(a->check_site.code, a->check_site.offset);
    return top_frame_key(a->check_stack ? a->check_stack : a->stack);
}

static uint64_t signature(const cw_report *r)
{
    if (!cw_report_kind_is_race(r->kind)) {
        uint64_t h = cw_hash_word((uint64_t)r->kind + 1) ^ cw_hash_word(r->target);
        if (r->dedup_key)
            return cw_hash_word(h ^ r->dedup_key) | 1;
        for (uint32_t i = 0; i < r->nsections; i++)
            h = cw_hash_word(h ^ top_frame_key(r->sections[i].stack));
        return h | 1;
    }
    uint64_t a = side_key(&r->cur), b = side_key(&r->prev);
    if (a > b) { /* either side may find the race */
        uint64_t t = a;
        a = b;
        b = t;
    }
    uint64_t h = cw_hash_word((uint64_t)r->kind + 1);
    h = cw_hash_word(h ^ r->target);
    h = cw_hash_word(h ^ a);
    h = cw_hash_word(h ^ b);
    return h | 1; /* never 0 */
}

static bool has_keys(const cw_report *r)
{
    return cw_report_kind_is_race(r->kind) &&
           (r->location == CW_LOC_KEY || r->location == CW_LOC_INDEX ||
            r->location == CW_LOC_ELEMENT);
}

/* Count the key r was seen at into o (the report it repeats, or its copy). */
static void note_key(cw_report *o, const cw_report *r)
{
    if (!has_keys(o))
        return;
    for (uint32_t i = 0; i < o->nkeys; i++)
        if (o->keys_seen[i] == r->key_hash)
            return;
    if (o->nkeys < CW_REPORT_KEYS)
        o->keys_seen[o->nkeys++] = r->key_hash;
    else
        o->more_keys = true;
}

uint32_t cw_report_add(const cw_report *r)
{
    uint32_t id = 0;
    /* Kept, marked, for reports that list what was suppressed (SARIF);
     * never printed nor counted against the program. */
    uint32_t suppressed = cw_suppress_match(r);
    uint64_t sig = signature(r);
    pthread_mutex_lock(&report_lock);
    if (!initialised)
        goto out;
    if (dedup) {
        uint32_t old = (uint32_t)(uintptr_t)cw_ht_get(&seen, (uintptr_t)sig);
        if (old != 0) {
            cw_report *o = cw_idvec_get(&reports, old);
            if (o) {
                o->hits++;
                note_key(o, r);
            }
            goto out;
        }
    }
    /* Suppressed reports have a budget of their own: a suppression matching
     * many places must not crowd out the reports that are shown. */
    if (kept[suppressed != 0] >= max_reports) {
        if (!suppressed)
            dropped++;
        goto out;
    }
    cw_report *copy = cw_malloc(CW_MEM_REPORTS, sizeof(*copy));
    if (copy == NULL) {
        dropped++;
        goto out;
    }
    *copy = *r;
    copy->suppressed = suppressed;
    copy->key_repr = NULL;
    copy->cur.history = copy->prev.history = NULL;
    copy->cur.nhistory = copy->prev.nhistory = 0;
    copy->hits = 1;
    copy->nkeys = 0;
    copy->more_keys = false;
    note_key(copy, r);
    id = cw_idvec_push(&reports, copy);
    if (id == 0) {
        cw_free(copy);
        dropped++;
        goto out;
    }
    copy->id = id;
    kept[suppressed != 0]++;
    if (dedup)
        cw_ht_put(&seen, (uintptr_t)sig, (void *)(uintptr_t)id);
out:
    pthread_mutex_unlock(&report_lock);
    return id;
}

void cw_report_set_history(uint32_t id, int which, const cw_event *events, uint32_t n,
                           uint64_t until)
{
    cw_event *copy = n ? cw_malloc(CW_MEM_REPORTS, n * sizeof(*copy)) : NULL;
    if (copy != NULL)
        memcpy(copy, events, n * sizeof(*copy));
    pthread_mutex_lock(&report_lock);
    cw_report *r = cw_idvec_get(&reports, id);
    cw_report_access *a = r ? (which ? &r->prev : &r->cur) : NULL;
    if (a != NULL && a->history == NULL && copy != NULL) {
        a->history = copy;
        a->nhistory = n;
        a->history_until = until;
        copy = NULL;
        if (a->events_low) {
            a->events = cw_history_place(a->history, n, a->events, a->clock);
            a->events_low = false;
        }
    }
    pthread_mutex_unlock(&report_lock);
    cw_free(copy);
}

void cw_report_set_key(uint32_t id, const char *key_repr)
{
    cw_report_set_key_as(id, key_repr, CW_LOC_KEY);
}

void cw_report_set_key_as(uint32_t id, const char *key_repr, cw_location_kind loc)
{
    char *copy = key_repr ? cw_strdup(CW_MEM_REPORTS, key_repr) : NULL;
    pthread_mutex_lock(&report_lock);
    cw_report *r = cw_idvec_get(&reports, id);
    if (r && r->key_repr == NULL) {
        r->key_repr = copy;
        copy = NULL;
        if (r->location == CW_LOC_KEY)
            r->location = loc;
    }
    pthread_mutex_unlock(&report_lock);
    cw_free(copy);
}

void cw_report_rename_thread(uint32_t id, cw_tid tid, const char *name)
{
    pthread_mutex_lock(&report_lock);
    cw_report *r = cw_idvec_get(&reports, id);
    cw_report_access *sides[2] = {r ? &r->cur : NULL, r ? &r->prev : NULL};
    for (int i = 0; i < 2; i++) {
        if (sides[i] != NULL && sides[i]->tid == tid) {
            snprintf(sides[i]->thread_name, sizeof(sides[i]->thread_name), "%s", name);
        }
    }
    pthread_mutex_unlock(&report_lock);
}

bool cw_report_get(uint32_t id, cw_report *out)
{
    pthread_mutex_lock(&report_lock);
    cw_report *r = cw_idvec_get(&reports, id);
    if (r)
        *out = *r;
    pthread_mutex_unlock(&report_lock);
    return r != NULL;
}

uint32_t cw_report_count(void) { return cw_idvec_count(&reports); }

uint32_t cw_report_dropped(void)
{
    pthread_mutex_lock(&report_lock);
    uint32_t d = dropped;
    pthread_mutex_unlock(&report_lock);
    return d;
}
