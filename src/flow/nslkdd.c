/*
 * NSL-KDD reader: one row per connection record, split on commas by hand
 * (no sscanf on untrusted text), numbers parsed from a bounded NUL-terminated
 * copy, symbolic fields one-hot encoded over fixed vocabularies, attack names
 * mapped to classes. Memory grows with the file (rows are kept), bounded by
 * the line reader's longest-line limit per row.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigil/lines.h"
#include "vigil/mem.h"
#include "vigil/nslkdd.h"

#define N_NUM 38
#define N_PROTO 3
#define N_SVC 70
#define N_FLAG 11
#define FIELD_MAX 64

static const char *const class_names[VIGIL_THREAT_N_CLASSES] = {"normal", "dos", "probe", "r2l",
                                                                "u2r"};

/* The 41 fields in file order; the symbolic ones are 1, 2 and 3. */
static const char *const fields[41] = {
    "duration",
    "protocol_type",
    "service",
    "flag",
    "src_bytes",
    "dst_bytes",
    "land",
    "wrong_fragment",
    "urgent",
    "hot",
    "num_failed_logins",
    "logged_in",
    "num_compromised",
    "root_shell",
    "su_attempted",
    "num_root",
    "num_file_creations",
    "num_shells",
    "num_access_files",
    "num_outbound_cmds",
    "is_host_login",
    "is_guest_login",
    "count",
    "srv_count",
    "serror_rate",
    "srv_serror_rate",
    "rerror_rate",
    "srv_rerror_rate",
    "same_srv_rate",
    "diff_srv_rate",
    "srv_diff_host_rate",
    "dst_host_count",
    "dst_host_srv_count",
    "dst_host_same_srv_rate",
    "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate",
    "dst_host_srv_diff_host_rate",
    "dst_host_serror_rate",
    "dst_host_srv_serror_rate",
    "dst_host_rerror_rate",
    "dst_host_srv_rerror_rate",
};

static const char *const protocols[N_PROTO] = {"icmp", "tcp", "udp"};

static const char *const services[N_SVC] = {
    "IRC",      "X11",      "Z39_50",      "aol",        "auth",        "bgp",      "courier",
    "csnet_ns", "ctf",      "daytime",     "discard",    "domain",      "domain_u", "echo",
    "eco_i",    "ecr_i",    "efs",         "exec",       "finger",      "ftp",      "ftp_data",
    "gopher",   "harvest",  "hostnames",   "http",       "http_2784",   "http_443", "http_8001",
    "imap4",    "iso_tsap", "klogin",      "kshell",     "ldap",        "link",     "login",
    "mtp",      "name",     "netbios_dgm", "netbios_ns", "netbios_ssn", "netstat",  "nnsp",
    "nntp",     "ntp_u",    "other",       "pm_dump",    "pop_2",       "pop_3",    "printer",
    "private",  "red_i",    "remote_job",  "rje",        "shell",       "smtp",     "sql_net",
    "ssh",      "sunrpc",   "supdup",      "systat",     "telnet",      "tftp_u",   "tim_i",
    "time",     "urh_i",    "urp_i",       "uucp",       "uucp_path",   "vmnet",    "whois",
};

static const char *const flags[N_FLAG] = {"OTH", "REJ", "RSTO", "RSTOS0", "RSTR", "S0",
                                          "S1",  "S2",  "S3",   "SF",     "SH"};

/* Attack Types.csv of the dataset, then the test-only attacks (README mapping). */
static const struct {
    const char *name;
    int cls;
} builtin[] = {
    {"normal", 0},       {"back", 1},         {"land", 1},        {"neptune", 1},
    {"pod", 1},          {"smurf", 1},        {"teardrop", 1},    {"ipsweep", 2},
    {"nmap", 2},         {"portsweep", 2},    {"satan", 2},       {"ftp_write", 3},
    {"guess_passwd", 3}, {"imap", 3},         {"multihop", 3},    {"phf", 3},
    {"spy", 3},          {"warezclient", 3},  {"warezmaster", 3}, {"buffer_overflow", 4},
    {"loadmodule", 4},   {"perl", 4},         {"rootkit", 4},     {"apache2", 1},
    {"mailbomb", 1},     {"processtable", 1}, {"udpstorm", 1},    {"mscan", 2},
    {"saint", 2},        {"named", 3},        {"sendmail", 3},    {"snmpgetattack", 3},
    {"snmpguess", 3},    {"worm", 3},         {"xlock", 3},       {"xsnoop", 3},
    {"httptunnel", 3},   {"ps", 4},           {"sqlattack", 4},   {"xterm", 4},
};

#define MAP_MAX 128

struct attack_map {
    char name[MAP_MAX][32];
    int cls[MAP_MAX];
    size_t n;
};

const char *vigil_threat_class_name(int c)
{
    if (c == VIGIL_THREAT_ANOMALY) {
        return "anomaly";
    }
    return c >= 0 && c < VIGIL_THREAT_N_CLASSES ? class_names[c] : "other";
}

int vigil_threat_class_parse(const char *s)
{
    for (int c = 0; c < VIGIL_THREAT_N_CLASSES; c++) {
        if (strcmp(s, class_names[c]) == 0) {
            return c;
        }
    }
    return -1;
}

char *vigil_nslkdd_feature_name(size_t j, char *out, size_t n)
{
    if (j < N_NUM) {
        size_t k = j == 0 ? 0 : j + 3; /* skip the 3 symbolic fields */
        snprintf(out, n, "%s", fields[k]);
        return out;
    }
    j -= N_NUM;
    if (j < N_PROTO) {
        snprintf(out, n, "protocol_type_%s", protocols[j]);
        return out;
    }
    j -= N_PROTO;
    if (j < N_SVC) {
        snprintf(out, n, "service_%s", services[j]);
        return out;
    }
    j -= N_SVC;
    if (j < N_FLAG) {
        snprintf(out, n, "flag_%s", flags[j]);
        return out;
    }
    return NULL;
}

static int map_add(struct attack_map *m, const char *name, size_t len, int cls)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strlen(m->name[i]) == len && memcmp(m->name[i], name, len) == 0) {
            m->cls[i] = cls;
            return 0;
        }
    }
    if (m->n == MAP_MAX || len >= sizeof m->name[0]) {
        return -1;
    }
    memcpy(m->name[m->n], name, len);
    m->name[m->n][len] = '\0';
    m->cls[m->n++] = cls;
    return 0;
}

static int map_find(const struct attack_map *m, const char *name, size_t len)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strlen(m->name[i]) == len && memcmp(m->name[i], name, len) == 0) {
            return m->cls[i];
        }
    }
    return -1;
}

/*
 * Reads "name,class" lines (CR, LF or CRLF line ends, as the dataset's file
 * has CR only) over the built-in table. Unknown classes ("unknown") are
 * ignored. Returns 0, -errno, VIGIL_EPARSE.
 */
static int read_attack_types(struct attack_map *m, const char *path, struct vigil_diag *diag)
{
    char *text;
    size_t n;
    int rc = vigil_read_file(path, 1 << 20, &text, &n);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "%s: %s", path, vigil_strerror(rc));
        return rc;
    }
    size_t line = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && text[j] != '\r' && text[j] != '\n') {
            j++;
        }
        line++;
        const char *comma = memchr(text + i, ',', j - i);
        if (j > i && !comma) {
            vigil_diag_set(diag, line, 0, "%s: expected 'attack,class'", path);
            vigil_free(text);
            return VIGIL_EPARSE;
        }
        if (comma) {
            size_t cl = (size_t)(text + j - (comma + 1));
            char cname[16] = "";
            if (cl < sizeof cname) {
                memcpy(cname, comma + 1, cl);
                cname[cl] = '\0';
            }
            int cls = vigil_threat_class_parse(cname);
            if (cls >= 0 && map_add(m, text + i, (size_t)(comma - (text + i)), cls) != 0) {
                vigil_diag_set(diag, line, 0, "%s: too many or too long attack names", path);
                vigil_free(text);
                return VIGIL_EPARSE;
            }
        }
        i = j;
        while (i < n && (text[i] == '\r' || text[i] == '\n')) {
            i++;
        }
    }
    vigil_free(text);
    return 0;
}

static int lookup(const char *const *vocab, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (strlen(vocab[i]) == len && memcmp(vocab[i], s, len) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static int parse_number(const char *s, size_t len, double *v)
{
    char buf[FIELD_MAX];
    if (len == 0 || len >= sizeof buf) {
        return -1;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    *v = strtod(buf, &end);
    return *end == '\0' && isfinite(*v) && *v >= 0 ? 0 : -1;
}

int vigil_nslkdd_read(struct vigil_nslkdd *d, const char *path, const char *attack_types,
                      int use_log, struct vigil_diag *diag)
{
    memset(d, 0, sizeof *d);
    struct attack_map *map = vigil_calloc(1, sizeof *map);
    if (!map) {
        return -ENOMEM;
    }
    for (size_t i = 0; i < sizeof builtin / sizeof builtin[0]; i++) {
        map_add(map, builtin[i].name, strlen(builtin[i].name), builtin[i].cls);
    }
    char beside[4096];
    if (!attack_types) {
        const char *slash = strrchr(path, '/');
        int dlen = slash ? (int)(slash - path) : 1;
        snprintf(beside, sizeof beside, "%.*s/Attack Types.csv", dlen, slash ? path : ".");
        if (access(beside, R_OK) == 0) {
            attack_types = beside;
        }
    }
    int rc = attack_types ? read_attack_types(map, attack_types, diag) : 0;
    struct vigil_lines l;
    int opened = 0;
    if (!rc) {
        rc = vigil_lines_open(&l, path, 0);
        opened = rc == 0;
        if (rc) {
            vigil_diag_set(diag, 0, 0, "%s", vigil_strerror(rc));
        }
    }
    size_t cap = 0;
    const char *p;
    size_t n;
    while (!rc && (rc = vigil_lines_next(&l, &p, &n, diag)) == 0) {
        if (n == 0) {
            continue;
        }
        if (d->n == cap) {
            size_t nc = cap ? 2 * cap : 4096;
            float *nx = vigil_realloc(d->x, nc * VIGIL_NSLKDD_F * sizeof *nx);
            if (nx) {
                d->x = nx;
            }
            int32_t *ny = vigil_realloc(d->y, nc * sizeof *ny);
            if (ny) {
                d->y = ny;
            }
            if (!nx || !ny) {
                rc = -ENOMEM;
                break;
            }
            cap = nc;
        }
        float *row = d->x + d->n * VIGIL_NSLKDD_F;
        memset(row, 0, VIGIL_NSLKDD_F * sizeof *row);
        size_t col = 0, start = 0, num = 0;
        for (size_t i = 0; i <= n && !rc; i++) {
            if (i < n && p[i] != ',') {
                continue;
            }
            const char *s = p + start;
            size_t len = i - start;
            if (col == 1 || col == 2 || col == 3) {
                int k = col == 1   ? lookup(protocols, N_PROTO, s, len)
                        : col == 2 ? lookup(services, N_SVC, s, len)
                                   : lookup(flags, N_FLAG, s, len);
                size_t base = N_NUM + (col >= 2 ? N_PROTO : 0) + (col == 3 ? N_SVC : 0);
                if (k >= 0) {
                    row[base + (size_t)k] = 1.0f;
                } else {
                    d->unknown_symbols++;
                }
            } else if (col < 41) {
                double v;
                if (parse_number(s, len, &v)) {
                    vigil_diag_set(diag, l.line, start + 1,
                                   "%s: expected a non-negative number, got '%.*s'", fields[col],
                                   (int)(len < 32 ? len : 32), s);
                    rc = VIGIL_EPARSE;
                    break;
                }
                row[num++] = (float)(use_log ? log1p(v) : v);
            } else if (col == 41) {
                int cls = map_find(map, s, len);
                if (cls < 0) {
                    vigil_diag_set(diag, l.line, start + 1, "unknown attack name '%.*s'",
                                   (int)(len < 32 ? len : 32), s);
                    rc = VIGIL_EPARSE;
                    break;
                }
                d->y[d->n] = cls;
            } else if (col > 42) {
                vigil_diag_set(diag, l.line, start + 1, "more than 43 fields");
                rc = VIGIL_EPARSE;
                break;
            }
            col++;
            start = i + 1;
        }
        if (!rc && col < 42) {
            vigil_diag_set(diag, l.line, n + 1, "%zu fields, expected 42 or 43", col);
            rc = VIGIL_EPARSE;
        }
        if (!rc) {
            d->per_class[d->y[d->n]]++;
            d->n++;
        }
    }
    if (rc == VIGIL_EOF) {
        rc = d->n ? 0 : VIGIL_EEMPTY;
        if (rc) {
            vigil_diag_set(diag, 0, 0, "no rows");
        }
    }
    if (opened) {
        vigil_lines_close(&l);
    }
    vigil_free(map);
    if (rc) {
        vigil_nslkdd_fini(d);
    }
    return rc;
}

void vigil_nslkdd_fini(struct vigil_nslkdd *d)
{
    vigil_free(d->x);
    vigil_free(d->y);
    memset(d, 0, sizeof *d);
}
