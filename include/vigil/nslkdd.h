/*
 * NSL-KDD (Tavallaee et al. 2009) as labelled feature rows for the flow
 * classifiers: 41 connection features, the 3 symbolic ones (protocol_type,
 * service, flag) one-hot encoded over fixed vocabularies (3 + 70 + 11), so
 * the training and test files encode identically whatever values they hold:
 * 38 numeric + 84 indicator = 122 features. Attack names map to the five
 * classes of enum vigil_threat_class through the dataset's "Attack Types.csv"
 * (read when present beside the data file) and, for the attacks that appear
 * only in the test set, the usual mapping (docs/flows.md):
 *
 *   dos:   apache2 mailbomb processtable udpstorm
 *   probe: mscan saint
 *   r2l:   named sendmail snmpgetattack snmpguess worm xlock xsnoop httptunnel
 *   u2r:   ps sqlattack xterm
 *
 * With use_log set, every numeric feature x becomes log(1 + x): byte counts
 * span nine decades, and min-max scaling alone would crush all but the
 * largest into zero.
 */
#ifndef VIGIL_NSLKDD_H
#define VIGIL_NSLKDD_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/err.h"

#define VIGIL_NSLKDD_F 122

/* The threat classes shared by NSL-KDD, flow labels and the classifiers' outputs. */
enum vigil_threat_class {
    VIGIL_THREAT_NORMAL = 0,
    VIGIL_THREAT_DOS = 1,
    VIGIL_THREAT_PROBE = 2,
    VIGIL_THREAT_R2L = 3,
    VIGIL_THREAT_U2R = 4,
    VIGIL_THREAT_N_CLASSES = 5, /* the labelled classes above */
    VIGIL_THREAT_ANOMALY = 5,   /* not a label: flows an unsupervised model finds novel */
};

/* "normal", "dos", "probe", "r2l", "u2r", "anomaly"; "other" for any other id. */
const char *vigil_threat_class_name(int c);
/* Class id of a name above, or -1. */
int vigil_threat_class_parse(const char *s);

struct vigil_nslkdd {
    float *x;   /* (N, VIGIL_NSLKDD_F) owned */
    int32_t *y; /* (N) class ids, owned */
    size_t n;
    size_t unknown_symbols; /* symbolic values outside the vocabularies (encoded as all zeros) */
    size_t per_class[VIGIL_THREAT_N_CLASSES];
};

/*
 * Reads an NSL-KDD file (43 fields per row: 41 features, the attack name, the
 * difficulty; 42 without the difficulty; gzip read transparently). attack_types
 * names "Attack Types.csv", or NULL to use the one beside path when it exists.
 * Returns 0; -errno when unreadable; -ENOMEM; VIGIL_EPARSE with diag naming
 * line and column (a short row, a non-numeric feature, an unknown attack
 * name); VIGIL_EEMPTY when the file holds no rows. Free with vigil_nslkdd_fini.
 */
int vigil_nslkdd_read(struct vigil_nslkdd *d, const char *path, const char *attack_types,
                      int use_log, struct vigil_diag *diag);

void vigil_nslkdd_fini(struct vigil_nslkdd *d);

/*
 * Writes the name of encoded feature j ("src_bytes", "service_http",
 * "flag_SF") into out and returns out, or returns NULL when j >= VIGIL_NSLKDD_F.
 */
char *vigil_nslkdd_feature_name(size_t j, char *out, size_t n);

#endif /* VIGIL_NSLKDD_H */
