/*
 * Campaign tests that need neither root nor the SIP programs: plan parsing
 * and its errors, the schedule, sipp statistics parsing, the delay queue,
 * our-name checks, cgroup mount discovery on fixture trees, the generated
 * Kamailio configuration, and process spawning with its error reporting.
 * The testbed itself runs in tests/cli/test_campaign.sh (root only).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/inject/internal.h"
#include "testutil.h"
#include "vigil/campaign.h"
#include "vigil/mem.h"

/* ---- plans ---- */

static int parse(struct vigil_plan *p, const char *text, struct vigil_diag *d)
{
    assert_int_equal(vigil_plan_init(p), 0);
    return vigil_plan_parse(p, text, strlen(text), d);
}

static void test_plan_defaults_are_table_one(void **state)
{
    (void)state;
    struct vigil_plan p;
    struct vigil_diag d;
    assert_int_equal(parse(&p, "name: x\n", &d), 0);
    assert_true(p.fault[VIGIL_FAULT_CPU].level[0] == 70 && p.fault[VIGIL_FAULT_CPU].level[1] == 97);
    assert_true(p.fault[VIGIL_FAULT_MEMORY].level[0] == 70);
    assert_true(p.fault[VIGIL_FAULT_DISK].level[0] == 2 && p.fault[VIGIL_FAULT_DISK].level[1] == 3);
    assert_true(p.fault[VIGIL_FAULT_LOSS].level[0] == 5 &&
                p.fault[VIGIL_FAULT_LOSS].level[1] == 10);
    assert_true(p.fault[VIGIL_FAULT_LATENCY].level[0] == 50);
    assert_true(p.fault[VIGIL_FAULT_LATENCY].level[1] == 100);
    assert_int_equal(p.n_faults, 5);
    assert_int_equal(p.n_levels, 2);
    assert_int_equal(p.n_targets, 1);
    assert_int_equal(p.targets[0], VIGIL_VM_PCSCF);
    assert_true(p.tm.step == 1000000000LL);
    assert_string_equal(p.tb.net, "10.77");
    vigil_plan_fini(&p);
}

static void test_plan_sections_and_lists(void **state)
{
    (void)state;
    struct vigil_plan p;
    struct vigil_diag d;
    const char *text = "testbed:\n  scscf: true\n  rate: 35.5\n  net: 10.9\n"
                       "campaign:\n  warmup: 10s\n  inject: 30s\n  cooldown: 5s\n  repeat: 2\n"
                       "latency:\n  low: 20ms\n  high: 0.2s\n"
                       "loss: {low: 1, high: 2.5}\n"
                       "faults: [latency, loss]\nlevels: [high]\ntargets: [scscf, uas]\n";
    assert_int_equal(parse(&p, text, &d), 0);
    assert_int_equal(p.tb.scscf, 1);
    assert_true(p.tb.rate == 35.5);
    assert_string_equal(p.tb.net, "10.9");
    assert_true(p.fault[VIGIL_FAULT_LATENCY].level[0] == 20);
    assert_true(p.fault[VIGIL_FAULT_LATENCY].level[1] == 200);
    assert_true(p.fault[VIGIL_FAULT_LOSS].level[1] == 2.5);
    assert_int_equal(p.n_faults, 2);
    assert_int_equal(p.faults[0], VIGIL_FAULT_LATENCY);
    assert_int_equal(p.n_levels, 1);
    assert_int_equal(p.levels[0], VIGIL_LEVEL_HIGH);
    assert_int_equal(p.targets[0], VIGIL_VM_SCSCF);
    assert_int_equal(p.targets[1], VIGIL_VM_UAS);
    /* 10 s + 2 repeats x 2 faults x 1 level x 2 targets x (30 + 5) s */
    assert_true(vigil_plan_duration(&p) == (10LL + 8 * 35) * 1000000000LL);
    vigil_plan_fini(&p);
}

static void test_plan_errors_name_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t line;
        const char *msg;
    } bad[] = {
        {"testbed:\n  rate: 20\n  colour: red\n", 3, "unknown option 'colour'"},
        {"testbed:\n  rate: fast\n", 2, "rate"},
        {"campaign:\n  step: 1s\nextra: 1\n", 3, "unknown key 'extra'"},
        {"faults: [cpu, meltdown]\n", 1, "unknown name 'meltdown'"},
        {"faults:\n  - cpu\n  - cpu\n", 3, "listed twice"},
        {"targets: [scscf]\n", 1, "scscf: true"},
        {"levels: [medium]\n", 1, "medium"},
        {"testbed:\n  net: 10.77.1\n", 2, "two octets"},
        {"testbed:\n  net: '300.1'\n", 2, "two octets"},
        {"cpu: 70\n", 1, "section"},
        {"faults: [none, cpu]\n", 1, "baseline"},
        {"memory:\n  high: 101\n", 2, "high"},
        {"latency:\n  low: 50 ms please\n", 2, "low"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct vigil_plan p;
        struct vigil_diag d;
        int rc = parse(&p, bad[i].text, &d);
        if (rc != VIGIL_ECONFIG || d.line != bad[i].line || !strstr(d.msg, bad[i].msg)) {
            print_message("case %zu: rc %d line %zu msg '%s'\n", i, rc, d.line, d.msg);
        }
        assert_int_equal(rc, VIGIL_ECONFIG);
        assert_int_equal(d.line, bad[i].line);
        assert_non_null(strstr(d.msg, bad[i].msg));
        vigil_plan_fini(&p);
    }
    /* Malformed YAML is a parse error with a line. */
    struct vigil_plan p;
    struct vigil_diag d;
    assert_int_equal(parse(&p, "testbed:\n  rate: [1,\n", &d), VIGIL_EPARSE);
    assert_true(d.line > 0);
    vigil_plan_fini(&p);
    /* A missing file is -ENOENT. */
    assert_int_equal(vigil_plan_init(&p), 0);
    assert_int_equal(vigil_plan_load(&p, "/nonexistent/plan.yaml", &d), -ENOENT);
    vigil_plan_fini(&p);
}

static void test_plan_baseline_has_no_injections(void **state)
{
    (void)state;
    struct vigil_plan p;
    struct vigil_diag d;
    assert_int_equal(parse(&p, "faults: none\ncampaign:\n  warmup: 5m\n", &d), 0);
    assert_int_equal(p.n_faults, 0);
    struct vigil_slot *s;
    size_t n;
    assert_int_equal(vigil_plan_schedule(&p, &s, &n), 0);
    assert_int_equal(n, 0);
    assert_null(s);
    assert_true(vigil_plan_duration(&p) == 300LL * 1000000000LL);
    vigil_plan_fini(&p);
}

static void test_plan_schedule_order_and_shuffle(void **state)
{
    (void)state;
    struct vigil_plan p;
    struct vigil_diag d;
    assert_int_equal(parse(&p, "faults: [cpu, loss]\ntargets: [pcscf, uas]\n", &d), 0);
    struct vigil_slot *s;
    size_t n;
    assert_int_equal(vigil_plan_schedule(&p, &s, &n), 0);
    assert_int_equal(n, 8);
    /* faults outermost, then levels, then targets */
    assert_int_equal(s[0].fault, VIGIL_FAULT_CPU);
    assert_int_equal(s[0].level, VIGIL_LEVEL_LOW);
    assert_int_equal(s[0].target, VIGIL_VM_PCSCF);
    assert_int_equal(s[1].target, VIGIL_VM_UAS);
    assert_int_equal(s[2].level, VIGIL_LEVEL_HIGH);
    assert_int_equal(s[4].fault, VIGIL_FAULT_LOSS);
    vigil_free(s);
    p.tm.shuffle = 1;
    p.tm.seed = 7;
    struct vigil_slot *a, *b;
    assert_int_equal(vigil_plan_schedule(&p, &a, &n), 0);
    assert_int_equal(vigil_plan_schedule(&p, &b, &n), 0);
    assert_memory_equal(a, b, n * sizeof *a); /* same seed, same order */
    /* Still a permutation: each (fault, level, target) once. */
    int seen[VIGIL_FAULT_COUNT][3][VIGIL_VM_COUNT] = {{{0}}};
    for (size_t i = 0; i < n; i++) {
        seen[a[i].fault][a[i].level][a[i].target]++;
    }
    assert_int_equal(seen[VIGIL_FAULT_CPU][1][VIGIL_VM_PCSCF], 1);
    assert_int_equal(seen[VIGIL_FAULT_LOSS][2][VIGIL_VM_UAS], 1);
    vigil_free(a);
    vigil_free(b);
    vigil_plan_fini(&p);
}

static void test_plan_oom_sweep(void **state)
{
    (void)state;
    const char *text = "testbed:\n  net: 10.1\nfaults: [cpu]\ntargets: [uas]\n";
    for (long k = 1;; k++) {
        struct vigil_plan p;
        struct vigil_diag d;
        tu_alloc_fail_at(k);
        int rc = vigil_plan_init(&p);
        if (rc == 0) {
            rc = vigil_plan_parse(&p, text, strlen(text), &d);
            vigil_plan_fini(&p);
        }
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 500);
    }
}

/* ---- names ---- */

static void test_names_and_our_names(void **state)
{
    (void)state;
    assert_string_equal(vigil_fault_name(VIGIL_FAULT_LATENCY), "latency");
    assert_int_equal(vigil_fault_parse("disk"), VIGIL_FAULT_DISK);
    assert_int_equal(vigil_fault_parse("Disk"), -1);
    assert_null(vigil_fault_name(VIGIL_FAULT_COUNT));
    assert_string_equal(vigil_vm_name(VIGIL_VM_SCSCF), "scscf");
    assert_int_equal(vigil_vm_parse("uas"), VIGIL_VM_UAS);
    assert_true(vigil__is_our_name("vigil-camp-0a1b2c"));
    assert_true(vigil__is_our_name("vigil-camp-0a1b2c-pcscf"));
    assert_false(vigil__is_our_name("vigil-camp-0a1b2c-"));
    assert_false(vigil__is_our_name("vigil-camp-0a1b2c-db"));
    assert_false(vigil__is_our_name("vigil-camp-0A1B2C-uac"));
    assert_false(vigil__is_our_name("vigil-camp-0a1b2-uac"));
    assert_false(vigil__is_our_name("vigil-camp-0a1b2c-uac/.."));
    assert_false(vigil__is_our_name("docker0"));
    assert_false(vigil__is_our_name("vigil-probe-uac"));
}

/* ---- sipp statistics ---- */

static const char sipp_header[] =
    "StartTime;LastResetTime;CurrentTime;ElapsedTime(P);OutgoingCall(P);TotalCallCreated;"
    "CurrentCall;SuccessfulCall(P);FailedCall(P);FailedMaxUDPRetrans(P);"
    "FailedUnexpectedMessage(P);FailedTimeoutOnRecv(P);Retransmissions(P);ResponseTime1(P);\n";

static void test_sipstat_sums_rows_between_takes(void **state)
{
    (void)state;
    struct vigil__sipstat s;
    vigil__sipstat_init(&s);
    struct vigil_diag d;
    char text[2048];
    int n = snprintf(text, sizeof text, "%s%s%s", sipp_header,
                     "a;b;c;00:00:01;20;20;15;18;2;1;0;1;3;00:00:00:004000;\n",
                     "a;b;c;00:00:01;21;41;16;20;1;0;1;0;0;00:00:00:002000;\n");
    /* Fed in 7-byte chunks: lines split anywhere must parse the same. */
    for (int i = 0; i < n; i += 7) {
        assert_int_equal(vigil__sipstat_feed(&s, text + i, (size_t)(n - i < 7 ? n - i : 7), &d), 0);
    }
    double out[VIGIL__SVC_N];
    assert_int_equal(vigil__sipstat_take(&s, out), 2);
    assert_true(out[VIGIL__SVC_CALLS] == 41);
    assert_true(out[VIGIL__SVC_FAILED] == 3);
    assert_true(out[VIGIL__SVC_SUCCESSFUL] == 38);
    assert_true(out[VIGIL__SVC_CURRENT] == 16); /* gauge: the last value */
    assert_true(out[VIGIL__SVC_RETRANS] == 3);
    assert_true(out[VIGIL__SVC_FAILED_TIMEOUT] == 1);
    assert_true(out[VIGIL__SVC_FAILED_RETRANS] == 1);
    assert_true(out[VIGIL__SVC_FAILED_UNEXP] == 1);
    assert_true(fabs(out[VIGIL__SVC_RESPONSE_MS] - 3.0) < 1e-9); /* mean of 4 and 2 ms */
    /* Nothing new: counts are 0, the gauge stays, no response time. */
    assert_int_equal(vigil__sipstat_take(&s, out), 0);
    assert_true(out[VIGIL__SVC_CALLS] == 0);
    assert_true(out[VIGIL__SVC_CURRENT] == 16);
    assert_true(isnan(out[VIGIL__SVC_RESPONSE_MS]));
    /* A partial line waits for its newline. */
    const char *part = "a;b;c;00:00:01;5;46;9;4;0;0;0;0;0;00:00:00:001";
    assert_int_equal(vigil__sipstat_feed(&s, part, strlen(part), &d), 0);
    assert_int_equal(vigil__sipstat_take(&s, out), 0);
    assert_int_equal(vigil__sipstat_feed(&s, "000;\n", 5, &d), 0);
    assert_int_equal(vigil__sipstat_take(&s, out), 1);
    assert_true(out[VIGIL__SVC_CALLS] == 5);
    assert_true(fabs(out[VIGIL__SVC_RESPONSE_MS] - 1.0) < 1e-9);
    vigil__sipstat_fini(&s);
}

static void test_sipstat_rejects_bad_lines(void **state)
{
    (void)state;
    struct vigil__sipstat s;
    struct vigil_diag d;
    vigil__sipstat_init(&s);
    const char *hdr = "StartTime;OutgoingCall(P);FailedCall(P)\n";
    assert_int_equal(vigil__sipstat_feed(&s, hdr, strlen(hdr), &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 1);
    assert_non_null(strstr(d.msg, "SuccessfulCall(P)"));
    vigil__sipstat_fini(&s);

    vigil__sipstat_init(&s);
    assert_int_equal(vigil__sipstat_feed(&s, sipp_header, strlen(sipp_header), &d), 0);
    const char *bad = "a;b;c;00:00:01;20;20;15;x8;2;1;0;1;3;00:00:00:004000;\n";
    assert_int_equal(vigil__sipstat_feed(&s, bad, strlen(bad), &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 2);
    assert_int_equal(d.col, 25); /* the SuccessfulCall(P) field, 1-based */
    assert_non_null(strstr(d.msg, "SuccessfulCall(P)"));
    const char *short_line = "a;b;c;00:00:01;20\n";
    assert_int_equal(vigil__sipstat_feed(&s, short_line, strlen(short_line), &d), VIGIL_EPARSE);
    assert_int_equal(d.line, 3);
    const char bin[] = "a;b\0c;1\n";
    assert_int_equal(vigil__sipstat_feed(&s, bin, sizeof bin - 1, &d), VIGIL_EPARSE);
    vigil__sipstat_fini(&s);

    double ms;
    assert_int_equal(vigil__sipp_duration_ms("01:02:03:500000", 15, &ms), 0);
    assert_true(fabs(ms - 3723500.0) < 1e-6);
    assert_int_equal(vigil__sipp_duration_ms("00:00:03", 8, &ms), -1);
    assert_int_equal(vigil__sipp_duration_ms("00:00:0a:1", 10, &ms), -1);
    assert_int_equal(vigil__sipp_duration_ms("", 0, &ms), -1);
}

/* ---- delay queue ---- */

static void test_delayq_fifo_due_and_full(void **state)
{
    (void)state;
    struct vigil__delayq q;
    uint32_t id;
    assert_int_equal(vigil__delayq_init(&q, 3), 0);
    assert_int_equal(vigil__delayq_wait_ns(&q, 0), -1);
    assert_int_equal(vigil__delayq_push(&q, 1, 100), 0);
    assert_int_equal(vigil__delayq_push(&q, 2, 150), 0);
    assert_int_equal(vigil__delayq_push(&q, 3, 200), 0);
    assert_int_equal(vigil__delayq_push(&q, 4, 250), -ENOBUFS);
    assert_int_equal(vigil__delayq_wait_ns(&q, 40), 60);
    assert_int_equal(vigil__delayq_pop_due(&q, 99, &id), 0);
    assert_int_equal(vigil__delayq_pop_due(&q, 160, &id), 1);
    assert_int_equal(id, 1);
    assert_int_equal(vigil__delayq_pop_due(&q, 160, &id), 1);
    assert_int_equal(id, 2);
    assert_int_equal(vigil__delayq_pop_due(&q, 160, &id), 0);
    assert_int_equal(vigil__delayq_wait_ns(&q, 300), 0); /* overdue */
    /* Wrap around the ring. */
    assert_int_equal(vigil__delayq_push(&q, 5, 300), 0);
    assert_int_equal(vigil__delayq_push(&q, 6, 310), 0);
    assert_int_equal(vigil__delayq_pop(&q, &id), 1);
    assert_int_equal(id, 3);
    assert_int_equal(vigil__delayq_pop(&q, &id), 1);
    assert_int_equal(id, 5);
    assert_int_equal(vigil__delayq_pop(&q, &id), 1);
    assert_int_equal(id, 6);
    assert_int_equal(vigil__delayq_pop(&q, &id), 0);
    vigil__delayq_fini(&q);
    assert_int_equal(vigil__delayq_init(&q, 0), -EINVAL);
}

/* ---- cgroup discovery on fixture trees ---- */

static void mkdirs(const char *root, const char *rel)
{
    char path[1024];
    snprintf(path, sizeof path, "%s%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    mkdir(path, 0755);
}

static void wfile(const char *dir, const char *name, const char *text)
{
    tu_write_file(dir, name, text, strlen(text));
}

static void test_cg_parents_v1_and_v2(void **state)
{
    (void)state;
    const char *root = tu_tmpdir();
    mkdirs(root, "/proc/self");
    wfile(root, "proc/self/mountinfo",
          "31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"
          "32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:1 - cgroup cgroup "
          "rw,cpu,cpuacct\n"
          "35 31 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
          "41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n");
    wfile(root, "proc/self/cgroup", "4:memory:/jail/a\n2:cpu,cpuacct:/\n0::/x\n");
    mkdirs(root, "/sys/fs/cgroup/unified");
    wfile(root, "sys/fs/cgroup/unified/cgroup.controllers", "io memory hugetlb\n");
    int v2[VIGIL__CG_N];
    char parent[VIGIL__CG_N][512];
    assert_int_equal(vigil__cg_parents(root, v2, parent), 0);
    char want[1024];
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/cpu,cpuacct", root);
    assert_string_equal(parent[VIGIL__CG_CPU], want);
    assert_string_equal(parent[VIGIL__CG_CPUACCT], want);
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/memory/jail/a", root);
    assert_string_equal(parent[VIGIL__CG_MEMORY], want);
    assert_int_equal(v2[VIGIL__CG_MEMORY], 0);
    /* blkio is not mounted in v1, but v2 lists io: it goes to the unified tree. */
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/unified/x", root);
    assert_string_equal(parent[VIGIL__CG_BLKIO], want);
    assert_int_equal(v2[VIGIL__CG_BLKIO], 1);

    /* A pure v2 host without the cpu controller: cpu is unavailable, not guessed. */
    const char *r2 = tu_tmpdir();
    mkdirs(r2, "/proc/self");
    mkdirs(r2, "/sys/fs/cgroup");
    wfile(r2, "proc/self/mountinfo",
          "25 1 0:22 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n");
    wfile(r2, "proc/self/cgroup", "0::/user.slice\n");
    wfile(r2, "sys/fs/cgroup/cgroup.controllers", "memory io\n");
    assert_int_equal(vigil__cg_parents(r2, v2, parent), 0);
    assert_string_equal(parent[VIGIL__CG_CPU], "");
    snprintf(want, sizeof want, "%s/sys/fs/cgroup/user.slice", r2);
    assert_string_equal(parent[VIGIL__CG_MEMORY], want);
    assert_int_equal(v2[VIGIL__CG_MEMORY], 1);

    /* No mountinfo at all is an error, not an empty answer. */
    assert_int_equal(vigil__cg_parents("/nonexistent-root", v2, parent), -ENOENT);
}

static void test_cg_create_refuses_foreign_names(void **state)
{
    (void)state;
    int v2[VIGIL__CG_N] = {0};
    char parent[VIGIL__CG_N][512] = {{0}};
    snprintf(parent[VIGIL__CG_CPU], sizeof parent[0], "%s", tu_tmpdir());
    struct vigil__cg cg;
    assert_int_equal(vigil__cg_create(&cg, v2, parent, "user.slice", 0, 0), -EINVAL);
    assert_int_equal(vigil__cg_create(&cg, v2, parent, "vigil-camp-abcdef-../x", 0, 0), -EINVAL);
    /* A plain directory tree stands in for a hierarchy: created, then removed. */
    assert_int_equal(vigil__cg_create(&cg, v2, parent, "vigil-camp-abcdef-uas", 0, 0), 0);
    struct stat st;
    assert_int_equal(stat(cg.dir[VIGIL__CG_CPU], &st), 0);
    assert_non_null(cg.procs_list[0]);
    assert_null(cg.procs_list[1]);
    assert_int_equal(vigil__cg_destroy(&cg, 0), 0);
    assert_int_equal(stat(cg.dir[VIGIL__CG_CPU], &st), -1);
}

/* ---- kamailio configuration ---- */

static void test_kamailio_cfg(void **state)
{
    (void)state;
    struct vigil_buf b;
    vigil_buf_init(&b);
    const char *listen[] = {"10.77.1.2", "10.77.2.1"};
    assert_int_equal(vigil__kamailio_cfg(&b, "P-CSCF", listen, 2, "10.77.2.2", 3, VIGIL_SIP_UDP),
                     0);
    assert_true(strncmp(b.p, "#!KAMAILIO\n", 11) == 0);
    assert_non_null(strstr(b.p, "listen=udp:10.77.1.2:5060\n"));
    assert_non_null(strstr(b.p, "listen=udp:10.77.2.1:5060\n"));
    assert_non_null(strstr(b.p, "children=3\n"));
    assert_non_null(strstr(b.p, "forward(\"10.77.2.2\", 5060);"));
    assert_non_null(strstr(b.p, "disable_tcp=yes"));
    assert_null(strstr(b.p, "force_rport"));
    vigil_buf_fini(&b);
}

static void test_kamailio_cfg_tcp(void **state)
{
    (void)state;
    struct vigil_buf b;
    vigil_buf_init(&b);
    const char *listen[] = {"10.77.2.2", "10.77.3.1"};
    assert_int_equal(vigil__kamailio_cfg(&b, "S-CSCF", listen, 2, "10.77.3.2", 1, VIGIL_SIP_TCP),
                     0);
    assert_non_null(strstr(b.p, "listen=tcp:10.77.2.2:5060\n"));
    assert_non_null(strstr(b.p, "listen=tcp:10.77.3.1:5060\n"));
    assert_null(strstr(b.p, "listen=udp:"));
    assert_non_null(strstr(b.p, "disable_tcp=no\n"));
    assert_non_null(strstr(b.p, "tcp_children=1\n"));
    /* Replies return on the caller's connection, requests go on over TCP. */
    char *rport = strstr(b.p, "force_rport();");
    char *fwd = strstr(b.p, "forward_tcp(\"10.77.3.2\", 5060);");
    assert_non_null(rport);
    assert_non_null(fwd);
    assert_true(rport < fwd);
    vigil_buf_fini(&b);
}

/* ---- processes ---- */

static void test_run_captures_output_and_status(void **state)
{
    (void)state;
    char msg[64];
    const char *ok[] = {"sh", "-c", "echo hello; echo oops >&2; exit 3", NULL};
    assert_int_equal(vigil__run_argv(ok, msg, sizeof msg), 3);
    assert_string_equal(msg, "hello\noops");
    const char *missing[] = {"vigil-no-such-program", NULL};
    assert_int_equal(vigil__run_argv(missing, msg, sizeof msg), -ENOENT);
    /* A long output keeps its tail, where error messages are. */
    const char *lots[] = {"sh", "-c", "i=0; while [ $i -lt 500 ]; do echo line$i; i=$((i+1)); done",
                          NULL};
    assert_int_equal(vigil__run_argv(lots, msg, sizeof msg), 0);
    assert_non_null(strstr(msg, "line499"));
    /* A process that outlives its limit is killed. */
    const char *slow[] = {"sleep", "30", NULL};
    struct vigil__proc_spec s = {.argv = slow};
    assert_int_equal(vigil__run(&s, 100 * 1000000LL, NULL, 0), -ETIMEDOUT);
}

static void test_spawn_cwd_output_and_failures(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    char out[1024];
    snprintf(out, sizeof out, "%s/out.log", dir);
    const char *argv[] = {"pwd", NULL};
    struct vigil__proc_spec s = {.argv = argv, .cwd = dir, .out = out};
    pid_t pid;
    assert_int_equal(vigil__spawn(&s, &pid), 0);
    int st;
    assert_int_equal(vigil__wait(pid, 10 * 1000000000LL, &st), 0);
    char got[1024];
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    assert_non_null(fgets(got, sizeof got, f));
    fclose(f);
    got[strcspn(got, "\n")] = '\0';
    char real[1024];
    assert_non_null(realpath(dir, real));
    assert_string_equal(got, real);
    /* chdir failure comes back as the errno, not as a dead child. */
    s.cwd = "/nonexistent-dir";
    assert_int_equal(vigil__spawn(&s, &pid), -ENOENT);
    /* So does a namespace file that does not exist. */
    s.cwd = NULL;
    s.netns = "/run/netns/vigil-camp-000000-none";
    assert_int_equal(vigil__spawn(&s, &pid), -ENOENT);
    /* Stopping a child that ignores nothing: SIGTERM ends it. */
    const char *sl[] = {"sleep", "30", NULL};
    struct vigil__proc_spec s2 = {.argv = sl, .new_pgrp = 1};
    assert_int_equal(vigil__spawn(&s2, &pid), 0);
    assert_int_equal(vigil__stop(pid, 1, 15, 5 * 1000000000LL), 0);
    assert_int_equal(kill(pid, 0), -1);
}

/* ---- metrics.csv widening ---- */

static void test_csv_widen_pads_early_rows(void **state)
{
    (void)state;
    const char *dir = tu_tmpdir();
    const char *path = tu_write_file(dir, "m.csv", "timestamp;a\n1;2\n2;3;4\n3;5;6;7\n", 30);
    const char *names[] = {"a", "b{x=\"1\",name=\"uas\"}", "c"};
    assert_int_equal(vigil__csv_widen(path, names, 3), 0);
    char got[256];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_string_equal(got,
                        "timestamp;a;b{x=\"1\",name=\"uas\"};c\n1;2;NaN;NaN\n2;3;4;NaN\n3;5;6;7\n");
    /* A row wider than the names is refused and the file kept. */
    assert_int_equal(vigil__csv_widen(path, names, 2), VIGIL_ESHAPE);
    f = fopen(path, "r");
    n = fread(got, 1, sizeof got - 1, f);
    fclose(f);
    got[n] = '\0';
    assert_non_null(strstr(got, "3;5;6;7"));
    assert_int_equal(vigil__csv_widen("/nonexistent/m.csv", names, 3), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plan_defaults_are_table_one),
        cmocka_unit_test(test_plan_sections_and_lists),
        cmocka_unit_test(test_plan_errors_name_the_line),
        cmocka_unit_test(test_plan_baseline_has_no_injections),
        cmocka_unit_test(test_plan_schedule_order_and_shuffle),
        cmocka_unit_test(test_plan_oom_sweep),
        cmocka_unit_test(test_names_and_our_names),
        cmocka_unit_test(test_sipstat_sums_rows_between_takes),
        cmocka_unit_test(test_sipstat_rejects_bad_lines),
        cmocka_unit_test(test_delayq_fifo_due_and_full),
        cmocka_unit_test(test_cg_parents_v1_and_v2),
        cmocka_unit_test(test_cg_create_refuses_foreign_names),
        cmocka_unit_test(test_kamailio_cfg),
        cmocka_unit_test(test_kamailio_cfg_tcp),
        cmocka_unit_test(test_run_captures_output_and_status),
        cmocka_unit_test(test_spawn_cwd_output_and_failures),
        cmocka_unit_test(test_csv_widen_pads_early_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
