/*
 * A campaign run: testbed up, warm-up, then each scheduled injection and its
 * cool-down, one sample of every VM per step, and the dataset written as it
 * goes (so an interrupted run still leaves readable files):
 *
 *   metrics.csv     ';'-separated (series names hold commas): timestamp, then
 *                   one column per series, the VM in the "name" label
 *   labels.csv      timestamp,class,target,intensity (class 0 = no injection)
 *   labels-class.txt  the class alone, one integer per metrics.csv row
 *   labels-<vm>.txt   per target VM: the class when that VM is the target, else 0
 *   service.csv     timestamp,calls,failed_calls,... from sipp's statistics
 *   injections.csv  one row per injection: when, what, how strong, what it did
 *   plan.yaml       the plan as given; plan-effective.txt with every default
 *   types.yaml      which series are counters and gauges (for `vigil train -c`)
 *
 * Row k is sampled at t_k = t_0 + k * step, t_0 a multiple of the step on the
 * wall clock, and covers (t_{k-1}, t_k]: an injection labelled from row k on
 * starts right after row k-1 is sampled, and stops right after its last row.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "vigil/clock.h"
#include "vigil/lines.h"
#include "vigil/log.h"
#include "vigil/mem.h"
#include "vigil/nfq.h"
#include "vigil/series.h"

#define SEC ((int64_t)1000000000)

void vigil_campaign_summary_fini(struct vigil_campaign_summary *s)
{
    vigil_free(s->phase);
    s->phase = NULL;
    s->n = 0;
}

struct out {
    FILE *metrics, *labels, *classes, *service, *injections;
    FILE *vm_labels[VIGIL_VM_COUNT]; /* labels-<vm>.txt: the class when that VM is the target */
};

struct run {
    const struct vigil_plan *plan;
    struct vigil_slot *slots;
    size_t n_slots;
    int64_t warm, inj, cool; /* in steps */
    int64_t step;
    struct out o;
    struct vigil_testbed *tb;
    struct vigil__vmstat ms;
    size_t header_cols; /* columns in metrics.csv's header; rows may have more */
    char metrics_path[PATH_MAX];
    struct vigil__sipstat ss;
    int stat_fd;
    struct vigil_campaign_summary *sum;
    /* the injection in progress */
    struct vigil_injection *cur;
    struct vigil_slot cur_slot;
    int64_t cur_start;
};

/* ---- phases ---- */

static int64_t total_steps(const struct run *r)
{
    return r->warm + (int64_t)r->n_slots * (r->inj + r->cool);
}

/* The slot whose injection covers row k, or NULL for normal rows. */
static const struct vigil_slot *phase_of(const struct run *r, int64_t k)
{
    if (k < r->warm || k >= total_steps(r)) {
        return NULL;
    }
    int64_t j = k - r->warm, per = r->inj + r->cool;
    return j % per < r->inj ? &r->slots[j / per] : NULL;
}

static int64_t steps_of(int64_t d, int64_t step)
{
    return (d + step / 2) / step;
}

/* ---- output ---- */

static void fmt_time(char *out, size_t n, int64_t ns, int64_t step)
{
    if (step % SEC == 0 && ns % SEC == 0) {
        snprintf(out, n, "%lld", (long long)(ns / SEC));
    } else {
        snprintf(out, n, "%lld.%03lld", (long long)(ns / SEC), (long long)(ns % SEC / 1000000));
    }
}

static void put_value(FILE *f, double v)
{
    if (isnan(v)) {
        fputs("NaN", f);
    } else if (v == floor(v) && fabs(v) < 1e15) {
        fprintf(f, "%.0f", v);
    } else {
        fprintf(f, "%.9g", v);
    }
}

static FILE *open_out(const char *dir, const char *name)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "we");
    if (!f) {
        vigil_error("campaign: create %s: %s", path, strerror(errno));
    }
    return f;
}

static void write_header(struct run *r)
{
    fputs("timestamp", r->o.metrics);
    for (size_t j = 0; j < r->ms.n; j++) {
        fprintf(r->o.metrics, ";%s", r->ms.names[j]);
    }
    fputc('\n', r->o.metrics);
    r->header_cols = r->ms.n;
}

/* Appends "^(a|b|...)$" of the distinct metric names of one kind, or nothing when none. */
static int kind_regex(const struct run *r, int kind, struct vigil_buf *b)
{
    size_t start = b->len;
    int rc = 0, any = 0;
    for (size_t j = 0; rc == 0 && j < r->ms.n; j++) {
        if (r->ms.kinds[j] != kind) {
            continue;
        }
        const char *name = r->ms.names[j];
        size_t nl = strcspn(name, "{");
        /* Already listed? (the names of one metric are contiguous or close) */
        int dup = 0;
        for (size_t k = 0; k < j && !dup; k++) {
            dup = r->ms.kinds[k] == kind && strncmp(r->ms.names[k], name, nl) == 0 &&
                  r->ms.names[k][nl] == '{';
        }
        if (!dup) {
            rc = vigil_buf_appendf(b, "%s%.*s", any ? "|" : "^(", (int)nl, name);
            any = 1;
        }
    }
    if (rc == 0 && any) {
        rc = vigil_buf_puts(b, ")$");
    }
    if (rc == 0 && !any) {
        b->len = start;
    }
    return rc;
}

/*
 * types.yaml: the collector knows which series are counters and gauges; CSV
 * headers cannot say it, so a config for `vigil train/prep -c` does.
 */
static int write_types(const struct run *r, const char *dir)
{
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = vigil_buf_puts(&b, "# Kinds of metrics.csv's series, as vigil's collector declared "
                                "them.\n# Use with: vigil train -c types.yaml ... (section "
                                "groups:)\ngroups:\n");
    static const struct {
        int kind;
        const char *key;
    } kinds[] = {{VIGIL_KIND_COUNTER, "counters"}, {VIGIL_KIND_GAUGE, "gauges"}};
    for (size_t i = 0; rc == 0 && i < 2; i++) {
        size_t before = b.len;
        rc = vigil_buf_appendf(&b, "  %s: '", kinds[i].key);
        size_t mark = b.len;
        rc = rc ? rc : kind_regex(r, kinds[i].kind, &b);
        if (rc == 0 && b.len == mark) {
            b.len = before; /* no series of this kind */
        } else if (rc == 0) {
            rc = vigil_buf_puts(&b, "'\n");
        }
    }
    if (rc == 0) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/types.yaml", dir);
        rc = vigil__write_text(path, b.p, b.len);
    }
    vigil_buf_fini(&b);
    return rc;
}

/*
 * Series that appeared after the header (a device's first I/O) were written
 * at the end of later rows. Rewrites path with the full header and every row
 * padded with NaN to the same width (through a temporary file and rename).
 */
int vigil__csv_widen(const char *path, const char *const *names, size_t n)
{
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct vigil_lines in;
    int rc = vigil_lines_open(&in, path, 0);
    if (rc) {
        return rc;
    }
    FILE *out = fopen(tmp, "we");
    if (!out) {
        rc = -errno;
        vigil_lines_close(&in);
        return rc;
    }
    const char *p;
    size_t len;
    struct vigil_diag d;
    int first = 1;
    while ((rc = vigil_lines_next(&in, &p, &len, &d)) == 0) {
        if (first) {
            fputs("timestamp", out);
            for (size_t j = 0; j < n; j++) {
                fprintf(out, ";%s", names[j]);
            }
            fputc('\n', out);
            first = 0;
            continue;
        }
        size_t fields = 0;
        for (size_t i = 0; i < len; i++) {
            fields += p[i] == ';';
        }
        if (fields > n) {
            rc = VIGIL_ESHAPE; /* a row wider than the columns: not ours to guess */
            break;
        }
        fwrite(p, 1, len, out);
        for (size_t j = fields; j < n; j++) {
            fputs(";NaN", out);
        }
        fputc('\n', out);
    }
    vigil_lines_close(&in);
    rc = rc == VIGIL_EOF ? 0 : rc;
    if (fclose(out) != 0 && rc == 0) {
        rc = -errno;
    }
    if (rc == 0 && rename(tmp, path) != 0) {
        rc = -errno;
    }
    if (rc) {
        unlink(tmp);
    }
    return rc;
}

static int widen_metrics(struct run *r)
{
    int rc = vigil__csv_widen(r->metrics_path, (const char *const *)r->ms.names, r->ms.n);
    if (rc) {
        vigil_error("campaign: widen %s: %s", r->metrics_path, vigil_strerror(rc));
    } else {
        vigil_info("campaign: %zu series appeared during the run; metrics.csv rewritten with %zu "
                   "columns",
                   r->ms.n - r->header_cols, r->ms.n);
    }
    return rc;
}

static int open_outputs(struct run *r, const char *dir)
{
    snprintf(r->metrics_path, sizeof r->metrics_path, "%s/metrics.csv", dir);
    r->o.metrics = open_out(dir, "metrics.csv");
    r->o.labels = open_out(dir, "labels.csv");
    r->o.classes = open_out(dir, "labels-class.txt");
    r->o.service = open_out(dir, "service.csv");
    r->o.injections = open_out(dir, "injections.csv");
    if (!r->o.metrics || !r->o.labels || !r->o.classes || !r->o.service || !r->o.injections) {
        return -EIO;
    }
    for (size_t i = 0; i < r->plan->n_targets; i++) {
        int vm = r->plan->targets[i];
        char name[64];
        snprintf(name, sizeof name, "labels-%s.txt", vigil_vm_name(vm));
        if (!(r->o.vm_labels[vm] = open_out(dir, name))) {
            return -EIO;
        }
    }
    fputs("timestamp,class,target,intensity\n", r->o.labels);
    fputs("timestamp", r->o.service);
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        fprintf(r->o.service, ",%s", vigil__svc_names[c]);
    }
    fputc('\n', r->o.service);
    fputs("start,end,class,fault,target,intensity,value,unit,note\n", r->o.injections);
    return 0;
}

static int close_outputs(struct run *r)
{
    FILE **all[] = {&r->o.metrics, &r->o.labels, &r->o.classes, &r->o.service, &r->o.injections};
    int rc = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (*all[i] && fclose(*all[i]) != 0 && rc == 0) {
            rc = -errno;
        }
        *all[i] = NULL;
    }
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        if (r->o.vm_labels[vm] && fclose(r->o.vm_labels[vm]) != 0 && rc == 0) {
            rc = -errno;
        }
        r->o.vm_labels[vm] = NULL;
    }
    return rc;
}

static int copy_plan(const char *plan_path, const struct vigil_plan *plan, const char *dir)
{
    char path[PATH_MAX];
    if (plan_path) {
        char *text;
        size_t n;
        int rc = vigil_read_file(plan_path, (size_t)1 << 20, &text, &n);
        if (rc) {
            return rc;
        }
        snprintf(path, sizeof path, "%s/plan.yaml", dir);
        rc = vigil__write_text(path, text, n);
        vigil_free(text);
        if (rc) {
            return rc;
        }
    }
    struct vigil_buf b;
    vigil_buf_init(&b);
    int rc = vigil_buf_puts(&b, "# every plan value, defaults included\n[testbed]\n");
    rc = rc ? rc : vigil_opt_dump(vigil_testbed_opts, &plan->tb, &b);
    rc = rc ? rc : vigil_buf_puts(&b, "[campaign]\n");
    rc = rc ? rc : vigil_opt_dump(vigil_timing_opts, &plan->tm, &b);
    for (int f = 1; rc == 0 && f < VIGIL_FAULT_COUNT; f++) {
        rc = vigil_buf_appendf(&b, "[%s] low = %g, high = %g (%s)\n", vigil_fault_name(f),
                               plan->fault[f].level[0], plan->fault[f].level[1],
                               vigil_fault_unit(f));
    }
    rc = rc ? rc : vigil_buf_puts(&b, "faults =");
    for (size_t i = 0; rc == 0 && i < plan->n_faults; i++) {
        rc = vigil_buf_appendf(&b, " %s", vigil_fault_name(plan->faults[i]));
    }
    rc = rc ? rc : vigil_buf_puts(&b, "\nlevels =");
    for (size_t i = 0; rc == 0 && i < plan->n_levels; i++) {
        rc = vigil_buf_appendf(&b, " %s", plan->levels[i] == VIGIL_LEVEL_LOW ? "low" : "high");
    }
    rc = rc ? rc : vigil_buf_puts(&b, "\ntargets =");
    for (size_t i = 0; rc == 0 && i < plan->n_targets; i++) {
        rc = vigil_buf_appendf(&b, " %s", vigil_vm_name(plan->targets[i]));
    }
    rc = rc ? rc : vigil_buf_puts(&b, "\n");
    if (rc == 0) {
        snprintf(path, sizeof path, "%s/plan-effective.txt", dir);
        rc = vigil__write_text(path, b.p, b.len);
    }
    vigil_buf_fini(&b);
    return rc;
}

/* ---- summary ---- */

static struct vigil_campaign_phase *phase_slot(struct vigil_campaign_summary *s,
                                               const struct vigil_slot *sl)
{
    int fault = sl ? sl->fault : 0, level = sl ? sl->level : 0, target = sl ? sl->target : -1;
    for (size_t i = 0; i < s->n; i++) {
        struct vigil_campaign_phase *p = &s->phase[i];
        if (p->fault == fault && p->level == level && p->target == target) {
            return p;
        }
    }
    struct vigil_campaign_phase *grown = vigil_realloc(s->phase, (s->n + 1) * sizeof *grown);
    if (!grown) {
        return NULL;
    }
    s->phase = grown;
    struct vigil_campaign_phase *p = &s->phase[s->n++];
    memset(p, 0, sizeof *p);
    p->fault = fault;
    p->level = level;
    p->target = target;
    return p;
}

/* ---- one step ---- */

static void read_service(struct run *r, double svc[VIGIL__SVC_N])
{
    if (r->stat_fd < 0) {
        r->stat_fd = open(vigil__tb_sipp_stat(r->tb), O_RDONLY | O_CLOEXEC);
    }
    if (r->stat_fd >= 0) {
        char buf[16384];
        for (;;) {
            ssize_t got = read(r->stat_fd, buf, sizeof buf);
            if (got <= 0) {
                break;
            }
            struct vigil_diag d;
            int rc = vigil__sipstat_feed(&r->ss, buf, (size_t)got, &d);
            if (rc) {
                char msg[400];
                vigil_warn("campaign: %s",
                           vigil_diag_format(&d, vigil__tb_sipp_stat(r->tb), msg, sizeof msg));
                /* Start over at the next header sipp writes; keep the run going. */
                vigil__sipstat_fini(&r->ss);
                vigil__sipstat_init(&r->ss);
                break;
            }
        }
    }
    vigil__sipstat_take(&r->ss, svc);
}

static int write_row(struct run *r, int64_t ts, const struct vigil_slot *ph)
{
    char t[40];
    fmt_time(t, sizeof t, ts, r->step);
    int rc = vigil__vmstat_sample(&r->ms);
    if (rc) {
        return rc;
    }
    fputs(t, r->o.metrics);
    for (size_t j = 0; j < r->ms.n; j++) {
        fputc(';', r->o.metrics);
        put_value(r->o.metrics, r->ms.values[j]);
    }
    fputc('\n', r->o.metrics);
    fprintf(r->o.labels, "%s,%d,%s,%d\n", t, ph ? ph->fault : 0,
            ph ? vigil_vm_name(ph->target) : "none", ph ? ph->level : 0);
    fprintf(r->o.classes, "%d\n", ph ? ph->fault : 0);
    for (int vm = 0; vm < VIGIL_VM_COUNT; vm++) {
        if (r->o.vm_labels[vm]) {
            fprintf(r->o.vm_labels[vm], "%d\n", ph && ph->target == vm ? ph->fault : 0);
            fflush(r->o.vm_labels[vm]);
        }
    }
    double svc[VIGIL__SVC_N];
    read_service(r, svc);
    fputs(t, r->o.service);
    for (int c = 0; c < VIGIL__SVC_N; c++) {
        fputc(',', r->o.service);
        put_value(r->o.service, svc[c]);
    }
    fputc('\n', r->o.service);
    struct vigil_campaign_phase *p = phase_slot(r->sum, ph);
    if (!p) {
        return -ENOMEM;
    }
    p->calls += svc[VIGIL__SVC_CALLS];
    p->failed += svc[VIGIL__SVC_FAILED];
    if (!isnan(svc[VIGIL__SVC_RESPONSE_MS])) {
        p->response_ms_sum += svc[VIGIL__SVC_RESPONSE_MS];
        p->steps++;
    }
    r->sum->rows++;
    /* Each row reaches the disk before the next step: a crash keeps what was measured. */
    FILE *all[] = {r->o.metrics, r->o.labels, r->o.classes, r->o.service};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (fflush(all[i]) != 0) {
            return -errno;
        }
    }
    return 0;
}

/* ---- injections ---- */

static void end_injection(struct run *r, int64_t now)
{
    if (!r->cur) {
        return;
    }
    char note[512] = "";
    int rc = vigil_inject_stop(r->cur, note, sizeof note);
    r->cur = NULL;
    if (rc) {
        vigil_warn("campaign: stopping %s on %s: %s", vigil_fault_name(r->cur_slot.fault),
                   vigil_vm_name(r->cur_slot.target), vigil_strerror(rc));
    }
    char t0[40], t1[40];
    fmt_time(t0, sizeof t0, r->cur_start, 1);
    fmt_time(t1, sizeof t1, now, 1);
    const struct vigil_slot *s = &r->cur_slot;
    /* The note is quoted; it has no quotes of its own. */
    for (char *c = note; *c; c++) {
        if (*c == '"') {
            *c = '\'';
        }
    }
    fprintf(r->o.injections, "%s,%s,%d,%s,%s,%d,%g,%s,\"%s\"\n", t0, t1, s->fault,
            vigil_fault_name(s->fault), vigil_vm_name(s->target), s->level,
            r->plan->fault[s->fault].level[s->level - 1], vigil_fault_unit(s->fault), note);
    fflush(r->o.injections);
}

static int begin_injection(struct run *r, const struct vigil_slot *s, int64_t now)
{
    int rc = vigil_inject_start(&r->cur, r->tb, r->plan, s->fault, s->level, s->target);
    if (rc) {
        vigil_error("campaign: %s %s on %s: %s", vigil_fault_name(s->fault),
                    s->level == VIGIL_LEVEL_LOW ? "low" : "high", vigil_vm_name(s->target),
                    vigil_strerror(rc));
        return rc;
    }
    r->cur_slot = *s;
    r->cur_start = now;
    return 0;
}

static int transition(struct run *r, const struct vigil_slot *from, const struct vigil_slot *to)
{
    if (from == to) {
        return 0;
    }
    int64_t now = vigil_clock_wall_ns();
    end_injection(r, now);
    return to ? begin_injection(r, to, now) : 0;
}

/* Sleeps until wall-clock time t (ns); returns early, 1, when *stop is set. */
static int sleep_until(int64_t t, const volatile sig_atomic_t *stop)
{
    struct timespec ts = {.tv_sec = (time_t)(t / SEC), .tv_nsec = (long)(t % SEC)};
    for (;;) {
        if (stop && *stop) {
            return 1;
        }
        int rc = clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL);
        if (rc == 0) {
            return stop && *stop;
        }
        if (rc != EINTR) {
            return 0;
        }
    }
}

static int mkdir_one(const char *d)
{
    if (mkdir(d, 0755) != 0 && errno != EEXIST) {
        return -errno;
    }
    return 0;
}

int vigil_campaign_run(const struct vigil_plan *plan, const char *plan_path, const char *outdir,
                       const volatile sig_atomic_t *stop, struct vigil_campaign_summary *summary)
{
    struct vigil_campaign_summary local = {0};
    struct run r = {.plan = plan, .stat_fd = -1, .sum = summary ? summary : &local};
    memset(r.sum, 0, sizeof *r.sum);
    vigil__sipstat_init(&r.ss);
    r.step = plan->tm.step;
    r.warm = steps_of(plan->tm.warmup, r.step);
    r.inj = steps_of(plan->tm.inject, r.step);
    r.cool = steps_of(plan->tm.cooldown, r.step);
    if (r.inj < 1) {
        r.inj = 1;
    }
    char work[PATH_MAX];
    int rc = 0;
    for (size_t i = 0; i < plan->n_faults; i++) {
        if (plan->faults[i] == VIGIL_FAULT_LATENCY && !vigil_nfq_supported()) {
            vigil_error("campaign: the latency fault needs libnetfilter_queue, which this build "
                        "lacks (install libnetfilter-queue-dev and rebuild, or drop latency)");
            rc = VIGIL_ENOTSUP;
            goto out;
        }
    }
    rc = mkdir_one(outdir);
    if (rc) {
        vigil_error("campaign: mkdir %s: %s", outdir, vigil_strerror(rc));
        goto out;
    }
    if ((rc = vigil_plan_schedule(plan, &r.slots, &r.n_slots)) || (rc = open_outputs(&r, outdir))) {
        goto out;
    }
    if ((rc = copy_plan(plan_path, plan, outdir))) {
        vigil_error("campaign: copy plan into %s: %s", outdir, vigil_strerror(rc));
        goto out;
    }
    snprintf(work, sizeof work, "%s/testbed", outdir);
    if ((rc = vigil_testbed_up(&r.tb, &plan->tb, work))) {
        goto out;
    }
    /* A first tick discovers the series, so the header holds them. */
    if ((rc = vigil__vmstat_init(&r.ms, r.tb)) || (rc = vigil__vmstat_sample(&r.ms))) {
        goto out;
    }
    write_header(&r);
    vigil_info("campaign: %zu injections, %zu series, about %lld s", r.n_slots, r.ms.n,
               (long long)(vigil_plan_duration(plan) / SEC));

    /* t_0 is the first multiple of the step after now; row 0 covers the step before it. */
    int64_t now = vigil_clock_wall_ns();
    int64_t t0 = (now / r.step + 1) * r.step;
    int64_t n_steps = total_steps(&r);
    if ((rc = transition(&r, NULL, phase_of(&r, 0)))) {
        goto out;
    }
    for (int64_t k = 0; k < n_steps; k++) {
        if (sleep_until(t0 + k * r.step, stop)) {
            r.sum->interrupted = 1;
            break;
        }
        if (vigil_clock_wall_ns() - (t0 + k * r.step) > r.step / 2) {
            r.sum->late++;
        }
        const struct vigil_slot *ph = phase_of(&r, k);
        if ((rc = write_row(&r, t0 + k * r.step, ph))) {
            vigil_error("campaign: write %s: %s", outdir, vigil_strerror(rc));
            goto out;
        }
        if ((rc = vigil_testbed_check(r.tb, &r.sum->restarts))) {
            goto out;
        }
        if ((rc = transition(&r, ph, phase_of(&r, k + 1)))) {
            goto out;
        }
    }
    rc = r.sum->interrupted ? -EINTR : 0;
out:
    end_injection(&r, vigil_clock_wall_ns());
    int drc = vigil_testbed_down(r.tb);
    if (rc == 0) {
        rc = drc;
    }
    int crc = close_outputs(&r);
    if (rc == 0) {
        rc = crc;
    }
    r.sum->series = r.ms.n;
    if (r.ms.n > 0) {
        crc = write_types(&r, outdir);
        if (rc == 0) {
            rc = crc;
        }
    }
    if (r.header_cols && r.ms.n > r.header_cols) {
        crc = widen_metrics(&r);
        if (rc == 0) {
            rc = crc;
        }
    }
    if (r.stat_fd >= 0) {
        close(r.stat_fd);
    }
    vigil__sipstat_fini(&r.ss);
    vigil__vmstat_fini(&r.ms);
    vigil_free(r.slots);
    vigil_campaign_summary_fini(&local);
    return rc;
}
