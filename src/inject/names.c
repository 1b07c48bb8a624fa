/*
 * Names of the campaign's classes and VMs, and the check every cleanup path
 * applies before touching anything: a name must be one of ours
 * ("vigil-camp-<6 hex>" or "vigil-camp-<6 hex>-<vm>").
 */
#include <string.h>

#include "internal.h"

static const char *const fault_names[VIGIL_FAULT_COUNT] = {"none", "cpu",  "memory",
                                                           "disk", "loss", "latency"};
static const char *const fault_units[VIGIL_FAULT_COUNT] = {
    "", "% load", "% of memory limit", "workers", "% of packets", "ms"};
static const char *const vm_names[VIGIL_VM_COUNT] = {"uac", "pcscf", "scscf", "uas"};

const char *vigil_fault_name(int fault)
{
    return fault >= 0 && fault < VIGIL_FAULT_COUNT ? fault_names[fault] : NULL;
}

int vigil_fault_parse(const char *name)
{
    for (int i = 0; i < VIGIL_FAULT_COUNT; i++) {
        if (strcmp(name, fault_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

const char *vigil_fault_unit(int fault)
{
    return fault >= 0 && fault < VIGIL_FAULT_COUNT ? fault_units[fault] : NULL;
}

const char *vigil_vm_name(int vm)
{
    return vm >= 0 && vm < VIGIL_VM_COUNT ? vm_names[vm] : NULL;
}

int vigil_vm_parse(const char *name)
{
    for (int i = 0; i < VIGIL_VM_COUNT; i++) {
        if (strcmp(name, vm_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

int vigil__is_our_name(const char *s)
{
    size_t pl = strlen(VIGIL__PREFIX);
    if (strncmp(s, VIGIL__PREFIX, pl) != 0) {
        return 0;
    }
    s += pl;
    for (int i = 0; i < VIGIL__RUN_ID_LEN; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    s += VIGIL__RUN_ID_LEN;
    if (*s == '\0') {
        return 1;
    }
    return *s == '-' && vigil_vm_parse(s + 1) >= 0;
}
