/* sched.c - the slot scheduler: continuous batching over one context (serve.h 1-4).
 *
 * The hot loop is run(): admit queued jobs into free slots, build one batch
 * (a token per decoding slot, a shared chunk of prompt tokens for the
 * prefilling ones), evaluate it with bn_ctx_eval_batch outside the lock,
 * sample each finished row with its job's bn_gen, publish the text. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bn/util.h"
#include "serve/serve.h"

typedef struct {
    bn_job *job;              /* NULL: free */
    int pos;                  /* positions in the cache (prompt read so far + generated) */
    int32_t next;             /* decoding: the token to evaluate next */
    int decoding;             /* the prompt is read */
} slot;

#define RATE_BUCKETS 10       /* one-second buckets of the tokens/s gauges */

struct bn_sched {
    bn_model *m;
    bn_ctx *ctx;
    bn_sched_opts o;
    int n_vocab;
    pthread_mutex_t mu;
    pthread_cond_t wake;      /* new job, cancellation, drain */
    bn_job *qhead, *qtail;
    int n_queued;
    slot *slots;              /* (n_slots) */
    int draining;             /* no new jobs */
    int stopping;             /* fail whatever is left and exit */
    int started;
    pthread_t th;
    /* scratch of the scheduler thread */
    bn_seq_tokens *items;     /* (n_slots) */
    int *item_slot;           /* (n_slots) */
    float *logits;            /* (n_slots, n_vocab) */
    double test_step_s;       /* BN_SERVE_TEST_STEP_MS: a pause after every step (tests) */
    /* statistics, under mu */
    bn_sched_stats st;
    double bucket_t[RATE_BUCKETS];
    uint64_t bucket_gen[RATE_BUCKETS], bucket_prompt[RATE_BUCKETS];
};

/* ---- jobs ------------------------------------------------------------------------ */

bn_job *bn_job_new(int32_t *prompt, int n_prompt, bn_gen *gen, double deadline)
{
    bn_job *j = calloc(1, sizeof *j);
    if (!j || pthread_cond_init(&j->cond, NULL)) {
        free(j);
        free(prompt);
        bn_gen_free(gen);
        return NULL;
    }
    j->prompt = prompt;
    j->n_prompt = n_prompt;
    j->gen = gen;
    j->deadline = deadline;
    j->refs = 1;
    j->t_submit = bn_now_seconds();
    return j;
}

static void job_free(bn_job *j)
{
    pthread_cond_destroy(&j->cond);
    bn_gen_free(j->gen);
    free(j->prompt);
    free(j->text);
    free(j);
}

/* Under mu. */
static void job_unref(bn_job *j)
{
    if (--j->refs == 0)
        job_free(j);
}

void bn_sched_release(bn_sched *s, bn_job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&s->mu);
    job_unref(j);
    pthread_mutex_unlock(&s->mu);
}

/* Under mu. Text is appended as released; a failed append (out of memory) fails
 * the job rather than losing text silently. */
static void job_fail(bn_sched *s, bn_job *j, int status, const char *msg);

static void job_append(bn_sched *s, bn_job *j, const char *t, size_t n)
{
    if (!n)
        return;
    if (j->len + n > j->cap) {
        size_t cap = j->cap ? j->cap : 256;
        while (cap < j->len + n)
            cap *= 2;
        char *p = realloc(j->text, cap);
        if (!p) {
            job_fail(s, j, 500, "out of memory while collecting the generated text");
            return;
        }
        j->text = p;
        j->cap = cap;
    }
    memcpy(j->text + j->len, t, n);
    j->len += n;
}

static void job_done(bn_sched *s, bn_job *j, bn_finish f)
{
    if (j->state == BN_JOB_DONE)
        return;
    j->state = BN_JOB_DONE;
    if (!j->http_status)
        j->finish = f;
    j->t_end = bn_now_seconds();
    if (j->cancelled)
        s->st.jobs_cancelled++;
    else if (j->http_status)
        s->st.jobs_failed++;
    else
        s->st.jobs_done++;
    pthread_cond_broadcast(&j->cond);
}

static void job_fail(bn_sched *s, bn_job *j, int status, const char *msg)
{
    if (j->state == BN_JOB_DONE)
        return;
    j->http_status = status;
    snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
    job_done(s, j, BN_FINISH_NONE);
}

/* ---- the scheduler's life ------------------------------------------------------------ */

static void *run(void *arg);

bn_status bn_sched_new(bn_model *m, const bn_sched_opts *o, bn_sched **out, bn_error *err)
{
    *out = NULL;
    if (o->n_slots < 1 || o->n_queue < 0 || o->n_ctx_slot < 2 || o->prefill_chunk < 1)
        return bn_error_set(err, BN_EINVAL,
                            "scheduler: %d slots, queue %d, %d positions per slot, prefill "
                            "chunk %d: each must be at least 1 (2 positions)",
                            o->n_slots, o->n_queue, o->n_ctx_slot, o->prefill_chunk);
    bn_sched *s = calloc(1, sizeof *s);
    if (!s)
        return bn_error_set(err, BN_ENOMEM, "scheduler: out of memory");
    s->m = m;
    s->o = *o;
    s->n_vocab = bn_model_hparams(m)->n_vocab;
    s->st.n_slots = o->n_slots;
    /* A test hook: BN_SERVE_TEST_STEP_MS=N (at most 500) pauses N ms after
     * every step, so a test sees a stream's text arrive over several reads
     * however fast the model and however loaded the machine. */
    const char *step_ms = getenv("BN_SERVE_TEST_STEP_MS");
    if (step_ms && *step_ms) {
        long v = strtol(step_ms, NULL, 10);
        s->test_step_s = (v < 0 ? 0 : v > 500 ? 500 : v) / 1000.0;
    }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, NULL);
    bn_ctx_params cp;
    bn_ctx_params_default(&cp);
    cp.n_ctx = o->n_ctx_slot;
    cp.n_seq = o->n_slots;
    cp.n_batch = o->n_slots + o->prefill_chunk;
    cp.kv_type = o->kv;
    bn_status st = bn_ctx_new(m, &cp, &s->ctx, err);
    size_t V = (size_t)s->n_vocab, S = (size_t)o->n_slots;
    if (!st) {
        s->slots = calloc(S, sizeof *s->slots);
        s->items = calloc(S, sizeof *s->items);
        s->item_slot = calloc(S, sizeof *s->item_slot);
        s->logits = malloc(S * V * sizeof *s->logits);
        if (!s->slots || !s->items || !s->item_slot || !s->logits)
            st = bn_error_set(err, BN_ENOMEM, "scheduler: out of memory for %d slots", o->n_slots);
    }
    if (!st && pthread_create(&s->th, NULL, run, s))
        st = bn_error_set(err, BN_EIO, "scheduler: cannot start its thread");
    if (st) {
        bn_sched_free(s);
        return st;
    }
    s->started = 1;
    *out = s;
    return BN_OK;
}

void bn_sched_free(bn_sched *s)
{
    if (!s)
        return;
    if (s->started)
        bn_sched_drain(s, 0);
    free(s->slots);
    free(s->items);
    free(s->item_slot);
    free(s->logits);
    bn_ctx_free(s->ctx);
    pthread_cond_destroy(&s->wake);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int bn_sched_submit(bn_sched *s, bn_job *j)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    int free_slots = 0;
    for (int i = 0; i < s->o.n_slots; i++)
        free_slots += !s->slots[i].job;
    if (s->draining)
        rc = -2;
    else if (s->n_queued >= s->o.n_queue + free_slots)
        rc = -1;
    else {
        j->refs++;
        j->state = BN_JOB_QUEUED;
        j->next = NULL;
        if (s->qtail)
            s->qtail->next = j;
        else
            s->qhead = j;
        s->qtail = j;
        s->n_queued++;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

void bn_sched_cancel(bn_sched *s, bn_job *j)
{
    pthread_mutex_lock(&s->mu);
    if (j->state != BN_JOB_DONE) {
        j->cancelled = 1;
        pthread_cond_signal(&s->wake);
    }
    pthread_mutex_unlock(&s->mu);
}

static void add_seconds(struct timespec *ts, double sec)
{
    clock_gettime(CLOCK_REALTIME, ts);
    long ns = ts->tv_nsec + (long)(sec * 1e9);
    ts->tv_sec += ns / 1000000000L;
    ts->tv_nsec = ns % 1000000000L;
}

bn_job_state bn_sched_wait(bn_sched *s, bn_job *j, size_t have, double timeout_s, char *buf,
                           size_t cap, size_t *n)
{
    struct timespec ts;
    add_seconds(&ts, timeout_s);
    pthread_mutex_lock(&s->mu);
    while (j->len <= have && j->state != BN_JOB_DONE)
        if (pthread_cond_timedwait(&j->cond, &s->mu, &ts) == ETIMEDOUT)
            break;
    size_t k = j->len > have ? j->len - have : 0;
    if (k > cap) {
        /* whole characters only: the text is valid UTF-8, and a stream sends
         * each piece as a JSON string of its own (cap >= 4 keeps this moving) */
        k = cap;
        while (k > 0 && ((unsigned char)j->text[have + k] & 0xC0) == 0x80)
            k--;
    }
    if (k)
        memcpy(buf, j->text + have, k);
    *n = k;
    bn_job_state state = j->state;
    if (state == BN_JOB_DONE && have + k < j->len)
        state = BN_JOB_RUNNING; /* more text to hand out first */
    pthread_mutex_unlock(&s->mu);
    return state;
}

void bn_sched_result(bn_sched *s, bn_job *j, bn_finish *finish, int *n_gen, int *http_status,
                     char *msg, size_t msg_cap)
{
    pthread_mutex_lock(&s->mu);
    *finish = j->finish;
    *n_gen = j->n_gen;
    *http_status = j->http_status;
    snprintf(msg, msg_cap, "%s", j->err_msg);
    pthread_mutex_unlock(&s->mu);
}

static double rate(const double *t, const uint64_t *v, double now)
{
    uint64_t sum = 0;
    for (int i = 0; i < RATE_BUCKETS; i++)
        if (now - t[i] < RATE_BUCKETS)
            sum += v[i];
    return (double)sum / RATE_BUCKETS;
}

void bn_sched_stats_get(bn_sched *s, bn_sched_stats *out)
{
    pthread_mutex_lock(&s->mu);
    *out = s->st;
    out->queued = s->n_queued;
    out->busy = 0;
    for (int i = 0; i < s->o.n_slots; i++)
        out->busy += s->slots[i].job != NULL;
    double now = bn_now_seconds();
    out->gen_tps = rate(s->bucket_t, s->bucket_gen, now);
    out->prompt_tps = rate(s->bucket_t, s->bucket_prompt, now);
    pthread_mutex_unlock(&s->mu);
}

void bn_sched_drain(bn_sched *s, double grace_s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->started) {
        pthread_mutex_unlock(&s->mu);
        return;
    }
    s->draining = 1;
    pthread_cond_signal(&s->wake);
    double end = bn_now_seconds() + grace_s;
    for (;;) {
        int busy = s->n_queued;
        for (int i = 0; i < s->o.n_slots; i++)
            busy += s->slots[i].job != NULL;
        if (!busy || bn_now_seconds() >= end)
            break;
        pthread_mutex_unlock(&s->mu);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&s->mu);
    }
    s->stopping = 1;
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->th, NULL);
    s->started = 0;
}

/* ---- one step ------------------------------------------------------------------------- */

/* Under mu: free a slot (its sequence's cache is dropped when the next job starts). */
static void slot_release(slot *sl)
{
    job_unref(sl->job);
    sl->job = NULL;
}

/* Under mu: drop cancelled and expired jobs, admit queued ones. */
static void admit(bn_sched *s, double now)
{
    for (int i = 0; i < s->o.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job)
            continue;
        if (sl->job->cancelled)
            job_done(s, sl->job, BN_FINISH_ABORT);
        else if (now > sl->job->deadline || s->stopping)
            job_fail(s, sl->job, s->stopping ? 503 : 504,
                     s->stopping ? "the server shut down before the request finished"
                                 : "the request ran past the server's --timeout");
        if (sl->job->state == BN_JOB_DONE)
            slot_release(sl);
    }
    /* queued jobs: the cancelled and expired leave, the rest take free slots in order */
    bn_job **pp = &s->qhead, *prev = NULL;
    while (*pp) {
        bn_job *j = *pp;
        int drop = j->cancelled || now > j->deadline || s->stopping;
        int sidx = -1;
        if (!drop)
            for (int i = 0; i < s->o.n_slots && sidx < 0; i++)
                if (!s->slots[i].job)
                    sidx = i;
        if (!drop && sidx < 0)
            break; /* FIFO: nobody overtakes the head */
        *pp = j->next;
        if (s->qtail == j)
            s->qtail = prev;
        s->n_queued--;
        j->next = NULL;
        if (drop) {
            if (j->cancelled)
                job_done(s, j, BN_FINISH_ABORT);
            else
                job_fail(s, j, s->stopping ? 503 : 504,
                         s->stopping ? "the server shut down before the request started"
                                     : "the request waited past the server's --timeout");
            job_unref(j);
            continue;
        }
        slot *sl = &s->slots[sidx];
        sl->job = j;
        sl->pos = 0;
        sl->decoding = 0;
        j->state = BN_JOB_RUNNING;
        bn_ctx_clear(s->ctx, sidx);
        bn_gen_accept_prompt(j->gen, j->prompt, (size_t)j->n_prompt);
    }
}

/* Under mu: the batch of this step. Decoding slots first (one token each), then
 * prompt chunks from a budget of prefill_chunk tokens, oldest slot first. */
static int build_batch(bn_sched *s)
{
    int n = 0, budget = s->o.prefill_chunk;
    for (int i = 0; i < s->o.n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->job && sl->decoding) {
            s->items[n] = (bn_seq_tokens){i, &sl->next, 1, sl->pos};
            s->item_slot[n++] = i;
        }
    }
    for (int i = 0; i < s->o.n_slots && budget > 0; i++) {
        slot *sl = &s->slots[i];
        if (!sl->job || sl->decoding)
            continue;
        int k = sl->job->n_prompt - sl->pos;
        if (k > budget)
            k = budget;
        budget -= k;
        s->items[n] = (bn_seq_tokens){i, sl->job->prompt + sl->pos, k, sl->pos};
        s->item_slot[n++] = i;
    }
    return n;
}

typedef struct {
    bn_gen_step step;
    bn_status st;
    char msg[BN_ERROR_MSG_MAX];
    int sampled;
    int ctx_full;             /* sampled a token there is no room to evaluate */
} item_result;

static void account(bn_sched *s, double now, uint64_t gen, uint64_t prompt)
{
    int b = (int)((long long)now % RATE_BUCKETS);
    if (now - s->bucket_t[b] >= 1.0 || (long long)s->bucket_t[b] != (long long)now) {
        s->bucket_t[b] = (double)(long long)now;
        s->bucket_gen[b] = s->bucket_prompt[b] = 0;
    }
    s->bucket_gen[b] += gen;
    s->bucket_prompt[b] += prompt;
    s->st.gen_tokens += gen;
    s->st.prompt_tokens += prompt;
}

static void *run(void *arg)
{
    bn_sched *s = arg;
    size_t V = (size_t)s->n_vocab;
    item_result *res = calloc((size_t)s->o.n_slots, sizeof *res);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        admit(s, bn_now_seconds());
        if (s->stopping && !s->n_queued) {
            int busy = 0;
            for (int i = 0; i < s->o.n_slots; i++)
                busy += s->slots[i].job != NULL;
            if (!busy)
                break;
        }
        int n = build_batch(s);
        if (!n || !res) {
            if (!res) /* no scratch: fail jobs instead of spinning */
                for (int i = 0; i < s->o.n_slots; i++)
                    if (s->slots[i].job) {
                        job_fail(s, s->slots[i].job, 500, "scheduler out of memory");
                        slot_release(&s->slots[i]);
                    }
            struct timespec ts;
            add_seconds(&ts, 0.25); /* deadlines are checked at least this often */
            pthread_cond_timedwait(&s->wake, &s->mu, &ts);
            continue;
        }
        s->st.steps++;
        if (n > s->st.max_batch)
            s->st.max_batch = n;
        pthread_mutex_unlock(&s->mu);

        /* ---- evaluation and sampling, unlocked: only this thread touches slots'
         * positions, gens and the context; connection threads only flag jobs ---- */
        bn_error err;
        bn_error_clear(&err);
        bn_status st = bn_ctx_eval_batch(s->ctx, s->items, n, BN_LOGITS_LAST, s->logits, &err);
        if (s->test_step_s > 0) {
            struct timespec ts = {0, (long)(s->test_step_s * 1e9)};
            nanosleep(&ts, NULL);
        }
        uint64_t n_gen = 0, n_prompt = 0;
        for (int k = 0; k < n; k++) {
            slot *sl = &s->slots[s->item_slot[k]];
            item_result *r = &res[k];
            r->sampled = r->ctx_full = 0;
            r->st = st;
            if (st) {
                snprintf(r->msg, sizeof r->msg, "%s", err.msg);
                continue;
            }
            if (!sl->decoding)
                n_prompt += (uint64_t)s->items[k].n;
            sl->pos += s->items[k].n;
            if (!sl->decoding && sl->pos < sl->job->n_prompt)
                continue; /* more prompt chunks to come */
            sl->decoding = 1;
            bn_error e2;
            bn_error_clear(&e2);
            r->st = bn_gen_next(sl->job->gen, s->logits + (size_t)k * V, &r->step, &e2);
            if (r->st) {
                snprintf(r->msg, sizeof r->msg, "%s", e2.msg);
                continue;
            }
            r->sampled = 1;
            if (r->step.finish == BN_FINISH_NONE || r->step.evaluate)
                n_gen++;
            if (r->step.finish == BN_FINISH_NONE) {
                sl->next = r->step.token;
                r->ctx_full = sl->pos >= s->o.n_ctx_slot;
            }
        }

        pthread_mutex_lock(&s->mu);
        double now = bn_now_seconds();
        account(s, now, n_gen, n_prompt);
        for (int k = 0; k < n; k++) {
            slot *sl = &s->slots[s->item_slot[k]];
            bn_job *j = sl->job;
            item_result *r = &res[k];
            if (r->st) {
                job_fail(s, j, 500, r->msg);
            } else if (r->sampled) {
                if (!j->t_first)
                    j->t_first = now;
                j->n_gen = bn_gen_n_generated(j->gen);
                job_append(s, j, r->step.text, r->step.len);
                if (r->ctx_full) { /* after the append: the step's text lives in gen */
                    bn_gen_finish(j->gen, BN_FINISH_CONTEXT, &r->step);
                    job_append(s, j, r->step.text, r->step.len);
                }
                if (r->step.finish != BN_FINISH_NONE)
                    job_done(s, j, r->step.finish);
                else
                    pthread_cond_broadcast(&j->cond);
            }
            if (j->state == BN_JOB_DONE)
                slot_release(sl);
        }
    }
    pthread_mutex_unlock(&s->mu);
    free(res);
    return NULL;
}
