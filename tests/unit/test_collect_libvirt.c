/*
 * The libvirt collector against libvirt's own built-in test driver
 * (test:///default, in-process, shared by every connection of the process),
 * never a hand-made mock: the default "test" domain's balloon, vcpu, block and
 * interface statistics under the libvirt exporters' names, a domain created
 * and destroyed between ticks, and a URI that cannot be opened. Skipped when
 * vigil is built without libvirt.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "testutil.h"
#include "vigil/collect.h"
#include "vigil/log.h"

#ifdef VIGIL_HAVE_LIBVIRT
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#endif

static struct vigil_collect *start_lv(const char *uri, int *rc)
{
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag d;
    vigil_collect_conf_default(&conf);
    conf.collectors = "libvirt";
    conf.rescan_ns = 1; /* every tick, so new and destroyed domains show at once */
    assert_int_equal(vigil_collect_new(&c, &conf, &d), 0);
    assert_int_equal(vigil_collect_set(c, "libvirt.uri", uri, &d), 0);
    *rc = vigil_collect_start(c, &d);
    return c;
}

static double value_of(struct vigil_collect *c, const struct vigil_sample_batch *b, const char *key)
{
    uint32_t id;
    if (vigil_series_find(vigil_collect_series(c), key, strlen(key), &id) != 0) {
        return NAN;
    }
    for (size_t i = 0; i < b->n; i++) {
        if (b->v[i].series == id) {
            return b->v[i].value;
        }
    }
    return NAN;
}

static void test_libvirt_test_driver_default_domain(void **state)
{
    (void)state;
#ifndef VIGIL_HAVE_LIBVIRT
    skip();
#else
    int rc;
    struct vigil_collect *c = start_lv("test:///default", &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    /* The test driver's "test" domain: 2 vCPUs, 2 GiB current of 8 GiB max. */
    assert_true(value_of(c, b, "libvirt_domain_info_state{domain=\"test\"}") == 1);
    assert_true(value_of(c, b, "libvirt_domain_info_virtual_cpus{domain=\"test\"}") == 2);
    assert_true(value_of(c, b, "libvirt_domain_info_memory_usage_bytes{domain=\"test\"}") ==
                2097152.0 * 1024);
    assert_true(value_of(c, b, "libvirt_domain_info_maximum_memory_bytes{domain=\"test\"}") ==
                8388608.0 * 1024);
    double cpu1 = value_of(c, b, "libvirt_domain_info_cpu_time_seconds_total{domain=\"test\"}");
    assert_true(cpu1 > 0);
    assert_false(isnan(value_of(c, b, "libvirt_domain_vcpu_time_seconds_total{domain=\"test\","
                                      "vcpu=\"1\"}")));
    assert_true(value_of(c, b, "libvirt_domain_memory_stats_available_bytes{domain=\"test\"}") > 0);
    assert_true(value_of(c, b, "libvirt_domain_block_stats_read_bytes_total{domain=\"test\","
                               "target_device=\"vda\"}") > 0);
    assert_true(value_of(c, b, "libvirt_domain_interface_stats_receive_bytes_total{domain="
                               "\"test\",target_device=\"testnet0\"}") > 0);
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"libvirt\"}") == 0);
    /* One entity per domain, grouped by resource. */
    uint32_t id;
    const char *key = "libvirt_domain_interface_stats_receive_bytes_total{domain=\"test\","
                      "target_device=\"testnet0\"}";
    const struct vigil_series_table *t = vigil_collect_series(c);
    assert_int_equal(vigil_series_find(t, key, strlen(key), &id), 0);
    assert_string_equal(t->v[id].entity, "vm:test");
    assert_int_equal(t->v[id].group, VIGIL_GROUP_NETWORK);
    assert_int_equal(t->v[id].kind, VIGIL_KIND_COUNTER);
    /* Counters do not go backwards between ticks. */
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(value_of(c, b, "libvirt_domain_info_cpu_time_seconds_total{domain=\"test\"}") >=
                cpu1);
    vigil_collect_free(c);
#endif
}

static void test_libvirt_domain_appears_and_vanishes(void **state)
{
    (void)state;
#ifndef VIGIL_HAVE_LIBVIRT
    skip();
#else
    int rc;
    struct vigil_collect *c = start_lv("test:///default", &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(isnan(value_of(c, b, "libvirt_domain_info_state{domain=\"vnf1\"}")));
    /* A read-write connection to the same in-process test driver starts a VM. */
    virConnectPtr rw = virConnectOpen("test:///default");
    assert_non_null(rw);
    const char *xml = "<domain type='test'><name>vnf1</name><memory unit='KiB'>1048576</memory>"
                      "<vcpu>4</vcpu><os><type>hvm</type></os><devices>"
                      "<disk type='file' device='disk'><source file='/guest/vnf1.img'/>"
                      "<target dev='vdb' bus='virtio'/></disk>"
                      "<interface type='network'><source network='default'/>"
                      "<target dev='tapvnf1'/></interface></devices></domain>";
    virDomainPtr d = virDomainCreateXML(rw, xml, 0);
    assert_non_null(d);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(value_of(c, b, "libvirt_domain_info_virtual_cpus{domain=\"vnf1\"}") == 4);
    assert_true(value_of(c, b, "libvirt_domain_info_maximum_memory_bytes{domain=\"vnf1\"}") ==
                1048576.0 * 1024);
    assert_false(isnan(value_of(c, b, "libvirt_domain_block_stats_write_bytes_total{domain="
                                      "\"vnf1\",target_device=\"vdb\"}")));
    assert_false(isnan(value_of(c, b, "libvirt_domain_interface_stats_transmit_packets_total{"
                                      "domain=\"vnf1\",target_device=\"tapvnf1\"}")));
    assert_false(isnan(value_of(c, b, "libvirt_domain_info_state{domain=\"test\"}")));
    /* Destroyed (a transient domain vanishes): its series drop out, no error. */
    assert_int_equal(virDomainDestroy(d), 0);
    virDomainFree(d);
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    assert_true(isnan(value_of(c, b, "libvirt_domain_info_state{domain=\"vnf1\"}")));
    assert_false(isnan(value_of(c, b, "libvirt_domain_info_state{domain=\"test\"}")));
    assert_true(value_of(c, b, "vigil_collect_errors_total{collector=\"libvirt\"}") == 0);
    struct vigil_buf out;
    vigil_buf_init(&out);
    assert_int_equal(vigil_collect_render(c, &out, 0), 0);
    assert_null(strstr(out.p, "vnf1"));
    assert_non_null(strstr(out.p, "libvirt_domain_info_virtual_cpus{domain=\"test\"} 2\n"));
    vigil_buf_fini(&out);
    virConnectClose(rw);
    vigil_collect_free(c);
#endif
}

static int64_t fake_now(void *user)
{
    return *(int64_t *)user;
}

static void test_libvirt_destroyed_domain_is_retired_5(void **state)
{
    (void)state;
#ifndef VIGIL_HAVE_LIBVIRT
    skip();
#else
    /* With retirement on, a destroyed domain's series leave the table after the grace period. */
    int64_t now = 0;
    struct vigil_collect *c;
    struct vigil_collect_conf conf;
    struct vigil_diag dg;
    vigil_collect_conf_default(&conf);
    conf.collectors = "libvirt";
    conf.rescan_ns = 1;
    conf.retire_ns = 2000000000LL;
    conf.clock = fake_now;
    conf.clock_user = &now;
    assert_int_equal(vigil_collect_new(&c, &conf, &dg), 0);
    assert_int_equal(vigil_collect_set(c, "libvirt.uri", "test:///default", &dg), 0);
    assert_int_equal(vigil_collect_start(c, &dg), 0);
    virConnectPtr rw = virConnectOpen("test:///default");
    assert_non_null(rw);
    const char *xml = "<domain type='test'><name>vnf2</name><memory unit='KiB'>1024</memory>"
                      "<vcpu>1</vcpu><os><type>hvm</type></os></domain>";
    virDomainPtr d = virDomainCreateXML(rw, xml, 0);
    assert_non_null(d);
    const struct vigil_sample_batch *b;
    assert_int_equal(vigil_collect_tick(c, &b), 0);
    const char *key = "libvirt_domain_info_virtual_cpus{domain=\"vnf2\"}";
    const char *keep = "libvirt_domain_info_virtual_cpus{domain=\"test\"}";
    uint32_t id, keep_id, again;
    assert_int_equal(vigil_series_find(vigil_collect_series(c), key, strlen(key), &id), 0);
    assert_int_equal(vigil_series_find(vigil_collect_series(c), keep, strlen(keep), &keep_id), 0);
    assert_int_equal(virDomainDestroy(d), 0);
    virDomainFree(d);
    for (int i = 0; i < 4; i++) {
        now += 1000000000LL;
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    assert_int_equal(vigil_series_find(vigil_collect_series(c), key, strlen(key), &id), -ENOENT);
    assert_int_equal(vigil_series_find(vigil_collect_series(c), keep, strlen(keep), &again), 0);
    assert_int_equal(again, keep_id);
    assert_true(value_of(c, b, keep) == 2);
    virConnectClose(rw);
    vigil_collect_free(c);
#endif
}

static void test_libvirt_no_vigil_allocation_per_tick(void **state)
{
    (void)state;
#ifndef VIGIL_HAVE_LIBVIRT
    skip();
#else
    /* libvirt allocates its own records per call; vigil must not, after warm-up. */
    tu_alloc_fail_at(0);
    int rc;
    struct vigil_collect *c = start_lv("test:///default", &rc);
    assert_int_equal(rc, 0);
    const struct vigil_sample_batch *b;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    long before = tu_alloc_calls();
    for (int i = 0; i < 20; i++) {
        assert_int_equal(vigil_collect_tick(c, &b), 0);
    }
    assert_int_equal(tu_alloc_calls() - before, 0);
    assert_true(b->n > 20);
    vigil_collect_free(c);
    assert_int_equal(tu_alloc_live(), 0);
    tu_alloc_reset();
#endif
}

static void test_libvirt_bad_uri_is_skipped(void **state)
{
    (void)state;
    int rc;
    /* No such driver: the collector is off (not an error), so nothing could start. */
    struct vigil_collect *c = start_lv("nosuchdriver:///x", &rc);
    assert_int_equal(rc, VIGIL_EEMPTY);
    vigil_collect_free(c);
}

int main(void)
{
    vigil_log_set_level(VIGIL_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_libvirt_test_driver_default_domain),
        cmocka_unit_test(test_libvirt_domain_appears_and_vanishes),
        cmocka_unit_test(test_libvirt_destroyed_domain_is_retired_5),
        cmocka_unit_test(test_libvirt_no_vigil_allocation_per_tick),
        cmocka_unit_test(test_libvirt_bad_uri_is_skipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
