/*
 * The collectors, in the order they run each tick (netdata's proc_modules[]).
 * A new collector is one file in src/collect and one line here plus its
 * extern in internal.h.
 */
#include "internal.h"

static const struct vigil_collector_ops *const collectors[] = {
    &vigil__collector_stat,       /* /proc/stat */
    &vigil__collector_meminfo,    /* /proc/meminfo */
    &vigil__collector_vmstat,     /* /proc/vmstat */
    &vigil__collector_loadavg,    /* /proc/loadavg */
    &vigil__collector_pressure,   /* /proc/pressure/{cpu,io,memory}; before cgroup (psi_sys) */
    &vigil__collector_diskstats,  /* /proc/diskstats */
    &vigil__collector_netdev,     /* /proc/net/dev */
    &vigil__collector_netstat,    /* /proc/net/{snmp,netstat,snmp6} */
    &vigil__collector_sockstat,   /* /proc/net/sockstat{,6} */
    &vigil__collector_softnet,    /* /proc/net/softnet_stat */
    &vigil__collector_conntrack,  /* netfilter's connection table */
    &vigil__collector_filesystem, /* statvfs on /proc/self/mounts */
    &vigil__collector_filefd,     /* /proc/sys/fs/file-nr */
    &vigil__collector_cgroup,     /* sys/fs/cgroup: containers */
    &vigil__collector_libvirt,    /* libvirt domains: VMs */
    &vigil__collector_ovs,        /* ovs-vsctl: Open vSwitch interfaces */
    &vigil__collector_process,    /* /proc/PID: processes by name (off by default) */
    &vigil__collector_tcpinfo,    /* sock_diag: TCP round-trip times (off by default) */
    NULL,
};

const struct vigil_collector_ops *const *vigil_collector_list(void)
{
    return collectors;
}
