/*
 * Group, entity and kind rules: a table of names with the group a person
 * would give them (node_exporter, cAdvisor, /proc words, generic dataset
 * columns), user rules before the defaults, configuration from YAML with its
 * errors, and every family of the real node_exporter and cAdvisor fixtures
 * checked against its subsystem.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/config.h"
#include "vigil/frame.h"
#include "vigil/groups.h"
#include "vigil/lines.h"
#include "vigil/mem.h"

struct name_case {
    const char *name;
    enum vigil_group want;
};

static const struct name_case default_cases[] = {
    /* node_exporter */
    {"node_cpu_seconds_total", VIGIL_GROUP_CPU},
    {"node_load1", VIGIL_GROUP_CPU},
    {"node_load15", VIGIL_GROUP_CPU},
    {"node_context_switches_total", VIGIL_GROUP_CPU},
    {"node_procs_running", VIGIL_GROUP_CPU},
    {"node_schedstat_running_seconds_total", VIGIL_GROUP_CPU},
    {"node_memory_MemFree_bytes", VIGIL_GROUP_MEMORY},
    {"node_memory_Percpu_bytes", VIGIL_GROUP_MEMORY}, /* the prefix beats the "cpu" substring */
    {"node_vmstat_pgfault", VIGIL_GROUP_MEMORY},
    {"node_disk_read_bytes_total", VIGIL_GROUP_FILESYSTEM},
    {"node_filesystem_avail_bytes", VIGIL_GROUP_FILESYSTEM},
    {"node_filefd_allocated", VIGIL_GROUP_FILESYSTEM},
    {"node_netstat_Tcp_InSegs", VIGIL_GROUP_NETWORK},
    {"node_network_receive_bytes_total", VIGIL_GROUP_NETWORK},
    {"node_sockstat_TCP_inuse", VIGIL_GROUP_NETWORK},
    {"node_pressure_io_waiting_seconds_total", VIGIL_GROUP_FILESYSTEM},
    {"node_pressure_memory_stalled_seconds_total", VIGIL_GROUP_MEMORY},
    {"node_pressure_cpu_waiting_seconds_total", VIGIL_GROUP_CPU},
    {"node_time_seconds", VIGIL_GROUP_OTHER},
    {"node_hwmon_temp_celsius", VIGIL_GROUP_OTHER},
    /* cAdvisor */
    {"container_cpu_usage_seconds_total", VIGIL_GROUP_CPU},
    {"container_memory_rss", VIGIL_GROUP_MEMORY},
    {"container_fs_reads_total", VIGIL_GROUP_FILESYSTEM},
    {"container_fs_usage_bytes", VIGIL_GROUP_FILESYSTEM},
    {"container_blkio_device_usage_total", VIGIL_GROUP_FILESYSTEM},
    {"container_network_transmit_bytes_total", VIGIL_GROUP_NETWORK},
    {"machine_memory_bytes", VIGIL_GROUP_MEMORY},
    {"machine_cpu_cores", VIGIL_GROUP_CPU},
    /* process and Go runtime metrics */
    {"process_cpu_seconds_total", VIGIL_GROUP_CPU},
    {"process_resident_memory_bytes", VIGIL_GROUP_MEMORY},
    {"go_memstats_alloc_bytes", VIGIL_GROUP_MEMORY},
    {"process_network_receive_bytes_total", VIGIL_GROUP_NETWORK},
    {"go_goroutines", VIGIL_GROUP_OTHER},
    /* SYRROCA's substrings on other exporters' names */
    {"openims_pcscf_cpu_ratio", VIGIL_GROUP_CPU},
    {"kamailio_network_bytes", VIGIL_GROUP_NETWORK},
    {"x_fs_y", VIGIL_GROUP_FILESYSTEM},
    /* /proc-derived names and free-text headers (case ignored) */
    {"meminfo_MemAvailable", VIGIL_GROUP_MEMORY},
    {"net_dev_rx_bytes", VIGIL_GROUP_NETWORK},
    {"diskstats_reads_completed", VIGIL_GROUP_FILESYSTEM},
    {"loadavg_1", VIGIL_GROUP_CPU},
    {"CPU Utilization", VIGIL_GROUP_CPU},
    /* generic dataset columns: SMD/ITU unnamed columns, NAB's value */
    {"value", VIGIL_GROUP_OTHER},
    {"c1", VIGIL_GROUP_OTHER},
    {"col1", VIGIL_GROUP_OTHER}, /* the reader names unnamed columns col1..colN */
    {"col38", VIGIL_GROUP_OTHER},
    {"col_12", VIGIL_GROUP_OTHER},
    {"V33", VIGIL_GROUP_OTHER},
    {"7", VIGIL_GROUP_OTHER},
    {"timestamp", VIGIL_GROUP_OTHER},
};

static void test_default_groups(void **state)
{
    (void)state;
    struct vigil_groups *g;
    struct vigil_diag d;
    assert_int_equal(vigil_groups_new(&g, NULL, NULL, 0, &d), 0);
    for (size_t i = 0; i < sizeof default_cases / sizeof default_cases[0]; i++) {
        enum vigil_group got = vigil_groups_match(g, default_cases[i].name);
        if (got != default_cases[i].want) {
            fail_msg("%s: got %s, want %s", default_cases[i].name, vigil_group_name(got),
                     vigil_group_name(default_cases[i].want));
        }
    }
    vigil_groups_free(g);
}

static void test_user_rules_first_and_no_defaults(void **state)
{
    (void)state;
    struct vigil_groups_params p = {0};
    assert_int_equal(vigil_opt_defaults(vigil_groups_opts, &p), 0);
    const struct vigil_group_rule rules[] = {
        {"^node_cpu_", VIGIL_GROUP_NETWORK}, /* deliberately odd: it must win */
        {"^sip_", VIGIL_GROUP_NETWORK},
    };
    struct vigil_groups *g;
    struct vigil_diag d;
    assert_int_equal(vigil_groups_new(&g, &p, rules, 2, &d), 0);
    assert_int_equal(vigil_groups_match(g, "node_cpu_seconds_total"), VIGIL_GROUP_NETWORK);
    assert_int_equal(vigil_groups_match(g, "sip_failed_calls"), VIGIL_GROUP_NETWORK);
    assert_int_equal(vigil_groups_match(g, "node_memory_MemFree_bytes"), VIGIL_GROUP_MEMORY);
    vigil_groups_free(g);

    /* Without the defaults only the user's rules apply. */
    p.default_rules = 0;
    assert_int_equal(vigil_groups_new(&g, &p, rules, 2, &d), 0);
    assert_int_equal(vigil_groups_match(g, "node_memory_MemFree_bytes"), VIGIL_GROUP_OTHER);
    assert_int_equal(vigil_groups_match(g, "node_cpu_seconds_total"), VIGIL_GROUP_NETWORK);
    vigil_groups_free(g);

    /* Case matters when icase is off. */
    p.default_rules = 1;
    p.icase = 0;
    assert_int_equal(vigil_groups_new(&g, &p, NULL, 0, &d), 0);
    assert_int_equal(vigil_groups_match(g, "CPU Utilization"), VIGIL_GROUP_OTHER);
    assert_int_equal(vigil_groups_match(g, "cpu utilization"), VIGIL_GROUP_CPU);
    vigil_groups_free(g);

    /* A bad regex is a configuration error naming it. */
    const struct vigil_group_rule bad[] = {{"(unclosed", VIGIL_GROUP_CPU}};
    assert_int_equal(vigil_groups_new(&g, &p, bad, 1, &d), VIGIL_ECONFIG);
    assert_non_null(strstr(d.msg, "(unclosed"));
    assert_null(g);
    vigil_opt_free(vigil_groups_opts, &p);
}

static void test_kind_rules(void **state)
{
    (void)state;
    /* Naming conventions alone. */
    assert_int_equal(vigil_kind_from_name("node_cpu_seconds_total"), VIGIL_KIND_COUNTER);
    assert_int_equal(vigil_kind_from_name("http_request_duration_seconds_count"),
                     VIGIL_KIND_COUNTER);
    assert_int_equal(vigil_kind_from_name("http_request_duration_seconds_sum"), VIGIL_KIND_COUNTER);
    assert_int_equal(vigil_kind_from_name("http_request_duration_seconds_bucket"),
                     VIGIL_KIND_COUNTER);
    assert_int_equal(vigil_kind_from_name("node_memory_MemFree_bytes"), VIGIL_KIND_UNKNOWN);
    assert_int_equal(vigil_kind_from_name("total"), VIGIL_KIND_UNKNOWN); /* no underscore */
    assert_int_equal(vigil_kind_from_name("x_totals"), VIGIL_KIND_UNKNOWN);

    struct vigil_groups_params p = {0};
    assert_int_equal(vigil_opt_defaults(vigil_groups_opts, &p), 0);
    struct vigil_diag d;
    assert_int_equal(
        vigil_opt_set(vigil_groups_opts, &p, "counters", "^container_fs_usage_bytes$", 26, &d), 0);
    assert_int_equal(vigil_opt_set(vigil_groups_opts, &p, "gauges", "^weird_total$", 13, &d), 0);
    struct vigil_groups *g;
    assert_int_equal(vigil_groups_new(&g, &p, NULL, 0, &d), 0);

    struct vigil_series s = {0};
    /* The config beats # TYPE: SYRROCA treats this gauge as a counter. */
    s.name = (char *)"container_fs_usage_bytes";
    s.kind = VIGIL_KIND_GAUGE;
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_COUNTER);
    s.name = (char *)"weird_total";
    s.kind = VIGIL_KIND_UNKNOWN;
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_GAUGE);
    /* # TYPE beats the name. */
    s.name = (char *)"queue_total";
    s.kind = VIGIL_KIND_GAUGE;
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_GAUGE);
    s.kind = VIGIL_KIND_UNKNOWN;
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_COUNTER);
    s.name = (char *)"node_load1";
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_UNKNOWN);
    vigil_groups_free(g);

    /* infer_kind off: untyped names stay unknown. */
    p.infer_kind = 0;
    assert_int_equal(vigil_groups_new(&g, &p, NULL, 0, &d), 0);
    s.name = (char *)"queue_total";
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_UNKNOWN);
    vigil_groups_free(g);
    vigil_opt_free(vigil_groups_opts, &p);
}

static void test_entity_and_apply(void **state)
{
    (void)state;
    struct vigil_frame fr;
    vigil_frame_init(&fr);
    const char *cols[] = {
        "container_cpu_usage_seconds_total{name=\"web\",pod=\"p1\"}", /* pod before name */
        "container_memory_rss{container=\"\",name=\"db\"}",           /* empty skipped */
        "node_load1{instance=\"h1:9100\",job=\"node\"}",
        "node_network_up{job=\"node\"}", /* no entity label: the host */
        "libvirt_domain_vcpu_time{domain=\"vm7\"}",
    };
    uint32_t id;
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(vigil_frame_add_col(&fr, cols[i], strlen(cols[i]), &id), 0);
    }
    struct vigil_groups *g;
    struct vigil_diag d;
    assert_int_equal(vigil_groups_new(&g, NULL, NULL, 0, &d), 0);
    assert_int_equal(vigil_groups_apply(g, &fr.cols), 0);
    assert_string_equal(fr.cols.v[0].entity, "p1");
    assert_int_equal(fr.cols.v[0].group, VIGIL_GROUP_CPU);
    assert_int_equal(fr.cols.v[0].kind, VIGIL_KIND_COUNTER);
    assert_string_equal(fr.cols.v[1].entity, "db");
    assert_int_equal(fr.cols.v[1].group, VIGIL_GROUP_MEMORY);
    assert_int_equal(fr.cols.v[1].kind, VIGIL_KIND_UNKNOWN);
    assert_string_equal(fr.cols.v[2].entity, "h1:9100");
    assert_null(fr.cols.v[3].entity);
    assert_int_equal(fr.cols.v[3].group, VIGIL_GROUP_NETWORK);
    assert_string_equal(fr.cols.v[4].entity, "vm7");
    assert_int_equal(fr.cols.v[4].group, VIGIL_GROUP_CPU); /* "vcpu" holds "cpu" */
    /* Applying again changes nothing and leaks nothing. */
    assert_int_equal(vigil_groups_apply(g, &fr.cols), 0);
    assert_string_equal(fr.cols.v[0].entity, "p1");
    vigil_groups_free(g);

    /* A configured label list replaces the default order. */
    struct vigil_groups_params p = {0};
    assert_int_equal(vigil_opt_defaults(vigil_groups_opts, &p), 0);
    assert_int_equal(vigil_opt_set(vigil_groups_opts, &p, "entity-labels", " job , name", 11, &d),
                     0);
    assert_int_equal(vigil_groups_new(&g, &p, NULL, 0, &d), 0);
    assert_int_equal(vigil_groups_apply(g, &fr.cols), 0);
    assert_string_equal(fr.cols.v[0].entity, "web");
    assert_string_equal(fr.cols.v[2].entity, "node");
    assert_null(fr.cols.v[4].entity);
    vigil_groups_free(g);
    vigil_opt_free(vigil_groups_opts, &p);
    vigil_frame_fini(&fr);
}

static void test_config_section(void **state)
{
    (void)state;
    const char *yaml = "prep:\n"
                       "  step: 30s\n"
                       "groups:\n"
                       "  entity-labels: domain\n"
                       "  counters: \"^container_fs_usage_bytes$\"\n"
                       "  rules:\n"
                       "    - match: \"^sip_\"\n"
                       "      group: network\n"
                       "    - match: \"^ims_\"\n"
                       "      group: cpu\n";
    struct vigil_config cfg;
    struct vigil_diag d;
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, yaml, strlen(yaml), &d), 0);
    struct vigil_groups *g;
    assert_int_equal(vigil_groups_from_config(&g, &cfg, NULL, &d), 0);
    assert_int_equal(vigil_groups_match(g, "sip_retransmissions"), VIGIL_GROUP_NETWORK);
    assert_int_equal(vigil_groups_match(g, "ims_memory_in_use"), VIGIL_GROUP_CPU);
    assert_int_equal(vigil_groups_match(g, "node_disk_io_now"), VIGIL_GROUP_FILESYSTEM);
    struct vigil_series s = {0};
    s.name = (char *)"container_fs_usage_bytes";
    s.kind = VIGIL_KIND_GAUGE;
    assert_int_equal(vigil_groups_kind(g, &s), VIGIL_KIND_COUNTER);
    vigil_groups_free(g);

    /* Flags override the file: defaults, then the section, then a flag. */
    struct vigil_groups_params p = {0};
    assert_int_equal(vigil_opt_defaults(vigil_groups_opts, &p), 0);
    assert_int_equal(vigil_groups_params_config(&p, &cfg, &d), 0);
    assert_string_equal(p.entity_labels, "domain");
    assert_int_equal(vigil_opt_set(vigil_groups_opts, &p, "entity-labels", "pod", 3, &d), 0);
    assert_int_equal(vigil_groups_from_config(&g, &cfg, &p, &d), 0);
    assert_int_equal(vigil_groups_match(g, "sip_x"), VIGIL_GROUP_NETWORK); /* rules still read */
    struct vigil_label lab[2] = {{(char *)"domain", (char *)"vm1"}, {(char *)"pod", (char *)"p9"}};
    s.labels = lab;
    s.n_labels = 2;
    assert_string_equal(vigil_groups_entity(g, &s), "p9");
    vigil_groups_free(g);
    vigil_opt_free(vigil_groups_opts, &p);
    vigil_config_fini(&cfg);

    /* No config at all: the defaults. */
    assert_int_equal(vigil_groups_from_config(&g, NULL, NULL, &d), 0);
    assert_int_equal(vigil_groups_match(g, "node_load5"), VIGIL_GROUP_CPU);
    vigil_groups_free(g);

    /* Errors name the line. */
    static const struct {
        const char *yaml;
        size_t line;
        const char *msg;
    } bad[] = {
        {"groups:\n  entity-label: pod\n", 2, "unknown option 'entity-label'"},
        {"groups:\n  rules:\n    - match: x\n      group: disk\n", 4, "expected a group"},
        {"groups:\n  rules:\n    - match: x\n", 3, "needs both match and group"},
        {"groups:\n  rules:\n    - match: x\n      grp: cpu\n", 4, "unknown key 'grp'"},
        {"groups:\n  default-rules: maybe\n", 2, "default-rules"},
        {"groups:\n  counters: \"[a-\"\n", 2, "bad regex"},
        {"groups:\n  rules:\n    - match: \"a(\"\n      group: cpu\n", 3, "bad regex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vigil_config_init(&cfg);
        assert_int_equal(vigil_config_parse(&cfg, bad[i].yaml, strlen(bad[i].yaml), &d), 0);
        vigil_diag_clear(&d);
        assert_int_equal(vigil_groups_from_config(&g, &cfg, NULL, &d), VIGIL_ECONFIG);
        assert_null(g);
        if (d.line != bad[i].line || !strstr(d.msg, bad[i].msg)) {
            fail_msg("case %zu: got line %zu '%s', want line %zu '%s'", i, d.line, d.msg,
                     bad[i].line, bad[i].msg);
        }
        vigil_config_fini(&cfg);
    }
}

static void test_groups_oom_sweep(void **state)
{
    (void)state;
    const char *yaml = "groups:\n  rules:\n    - match: \"^sip_\"\n      group: network\n";
    struct vigil_config cfg;
    struct vigil_diag d;
    vigil_config_init(&cfg);
    assert_int_equal(vigil_config_parse(&cfg, yaml, strlen(yaml), &d), 0);
    for (long k = 1;; k++) {
        struct vigil_groups *g = NULL;
        tu_alloc_fail_at(k);
        int rc = vigil_groups_from_config(&g, &cfg, NULL, &d);
        vigil_groups_free(g);
        long live = tu_alloc_live();
        tu_alloc_reset();
        assert_int_equal(live, 0);
        if (rc == 0) {
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_true(k < 100);
    }
    vigil_config_fini(&cfg);
}

/* ---- the real fixtures ---- */

/* Subsystem prefix -> group, written from the exporters' documentation. */
static const struct name_case prefixes[] = {
    {"node_cpu_", VIGIL_GROUP_CPU},
    {"node_schedstat_", VIGIL_GROUP_CPU},
    {"node_softirqs_", VIGIL_GROUP_CPU},
    {"node_memory_", VIGIL_GROUP_MEMORY},
    {"node_vmstat_", VIGIL_GROUP_MEMORY},
    {"node_zoneinfo_", VIGIL_GROUP_MEMORY},
    {"node_slabinfo_", VIGIL_GROUP_MEMORY},
    {"node_disk_", VIGIL_GROUP_FILESYSTEM},
    {"node_filesystem_", VIGIL_GROUP_FILESYSTEM},
    {"node_xfs_", VIGIL_GROUP_FILESYSTEM},
    {"node_zfs_", VIGIL_GROUP_FILESYSTEM},
    {"node_btrfs_", VIGIL_GROUP_FILESYSTEM},
    {"node_mountstats_", VIGIL_GROUP_FILESYSTEM},
    {"node_nfsd_", VIGIL_GROUP_FILESYSTEM},
    {"node_md_", VIGIL_GROUP_FILESYSTEM},
    {"node_network_", VIGIL_GROUP_NETWORK},
    {"node_netstat_", VIGIL_GROUP_NETWORK},
    {"node_sockstat_", VIGIL_GROUP_NETWORK},
    {"node_softnet_", VIGIL_GROUP_NETWORK},
    {"node_qdisc_", VIGIL_GROUP_NETWORK},
    {"node_infiniband_", VIGIL_GROUP_NETWORK},
    {"node_nf_conntrack_", VIGIL_GROUP_NETWORK},
    {"node_hwmon_", VIGIL_GROUP_OTHER},
    {"node_time_", VIGIL_GROUP_OTHER},
    {"container_cpu_", VIGIL_GROUP_CPU},
    {"container_memory_", VIGIL_GROUP_MEMORY},
    {"container_fs_", VIGIL_GROUP_FILESYSTEM},
    {"container_network_", VIGIL_GROUP_NETWORK},
    {"container_blkio_", VIGIL_GROUP_FILESYSTEM},
};

/* Checks every # TYPE family of a fixture whose prefix is in the table; returns how many. */
static size_t check_fixture(const struct vigil_groups *g, const char *path)
{
    struct vigil_lines l;
    struct vigil_diag d;
    assert_int_equal(vigil_lines_open(&l, path, 0), 0);
    const char *p;
    size_t n, checked = 0;
    char name[256];
    while (vigil_lines_next(&l, &p, &n, &d) == 0) {
        if (n < 8 || memcmp(p, "# TYPE ", 7) != 0) {
            continue;
        }
        size_t e = 7;
        while (e < n && p[e] != ' ') {
            e++;
        }
        assert_true(e - 7 < sizeof name);
        memcpy(name, p + 7, e - 7);
        name[e - 7] = '\0';
        for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
            if (strncmp(name, prefixes[i].name, strlen(prefixes[i].name)) == 0) {
                enum vigil_group got = vigil_groups_match(g, name);
                if (got != prefixes[i].want) {
                    fail_msg("%s:%zu %s: got %s, want %s", path, l.line, name,
                             vigil_group_name(got), vigil_group_name(prefixes[i].want));
                }
                checked++;
                break;
            }
        }
    }
    vigil_lines_close(&l);
    return checked;
}

static void test_fixture_families(void **state)
{
    (void)state;
    char node[512], cadv[512];
    TU_REQUIRE_DATA(node, "prometheus-fixtures/node_exporter/collector/fixtures/e2e-output.txt");
    TU_REQUIRE_DATA(cadv, "prometheus-fixtures/cadvisor/lib/metrics/testdata/prometheus_metrics");
    struct vigil_groups *g;
    struct vigil_diag d;
    assert_int_equal(vigil_groups_new(&g, NULL, NULL, 0, &d), 0);
    /* Most of the 1,228 node_exporter families fall under a listed prefix. */
    size_t nn = check_fixture(g, node);
    size_t nc = check_fixture(g, cadv);
    print_message("checked %zu node_exporter and %zu cAdvisor families\n", nn, nc);
    assert_true(nn > 500);
    assert_true(nc > 50);
    vigil_groups_free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_groups),
        cmocka_unit_test(test_user_rules_first_and_no_defaults),
        cmocka_unit_test(test_kind_rules),
        cmocka_unit_test(test_entity_and_apply),
        cmocka_unit_test(test_config_section),
        cmocka_unit_test(test_groups_oom_sweep),
        cmocka_unit_test(test_fixture_families),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
