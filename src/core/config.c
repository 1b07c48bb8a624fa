/*
 * YAML configuration through libyaml's event parser, flattened to dotted keys
 * with line numbers. Nesting depth is bounded (no recursion on input). Only
 * scalars, mappings and sequences are accepted; anchors and aliases are
 * rejected, so a config cannot expand into a billion laughs.
 */
#include <errno.h>
#include <string.h>
#include <yaml.h>

#include "vigil/config.h"
#include "vigil/lines.h"
#include "vigil/mem.h"

#define DEPTH_MAX 16
#define KEY_MAX 512

void vigil_config_init(struct vigil_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
}

void vigil_config_fini(struct vigil_config *cfg)
{
    for (size_t i = 0; i < cfg->n; i++) {
        vigil_free(cfg->v[i].key);
        vigil_free(cfg->v[i].value);
    }
    vigil_free(cfg->v);
    memset(cfg, 0, sizeof *cfg);
}

static int add_entry(struct vigil_config *cfg, const char *key, const char *val, size_t len,
                     size_t line)
{
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap * 2 : 16;
        struct vigil_config_entry *v = vigil_realloc(cfg->v, cap * sizeof *v);
        if (!v) {
            return -ENOMEM;
        }
        cfg->v = v;
        cfg->cap = cap;
    }
    char *k = vigil_strdup(key);
    char *s = vigil_strndup(val, len);
    if (!k || !s) {
        vigil_free(k);
        vigil_free(s);
        return -ENOMEM;
    }
    cfg->v[cfg->n++] = (struct vigil_config_entry){k, s, line};
    return 0;
}

/* One level of nesting: a mapping waiting for a key or value, or a sequence. */
struct level {
    int is_seq;
    int want_value; /* mapping: next scalar is a value */
    size_t index;   /* sequence: next item index */
    size_t key_len; /* length of the key prefix at this level */
};

int vigil_config_parse(struct vigil_config *cfg, const char *p, size_t n, struct vigil_diag *diag)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct level st[DEPTH_MAX];
    int depth = 0;
    char key[KEY_MAX] = "";
    size_t key_len = 0;
    int rc = 0;

    if (!yaml_parser_initialize(&parser)) {
        return -ENOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)p, n);
    for (;;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            vigil_diag_set(diag, parser.problem_mark.line + 1, parser.problem_mark.column + 1,
                           "YAML: %s", parser.problem ? parser.problem : "syntax error");
            rc = VIGIL_EPARSE;
            break;
        }
        size_t line = ev.start_mark.line + 1;
        size_t col = ev.start_mark.column + 1;
        int done = ev.type == YAML_STREAM_END_EVENT;
        if (ev.type == YAML_ALIAS_EVENT ||
            (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.anchor) ||
            (ev.type == YAML_MAPPING_START_EVENT && ev.data.mapping_start.anchor) ||
            (ev.type == YAML_SEQUENCE_START_EVENT && ev.data.sequence_start.anchor)) {
            vigil_diag_set(diag, line, col, "YAML anchors and aliases are not supported");
            rc = VIGIL_EPARSE;
        } else if (ev.type == YAML_SCALAR_EVENT || ev.type == YAML_MAPPING_START_EVENT ||
                   ev.type == YAML_SEQUENCE_START_EVENT) {
            struct level *top = depth ? &st[depth - 1] : NULL;
            int is_key = top && !top->is_seq && !top->want_value;
            if (is_key) {
                if (ev.type != YAML_SCALAR_EVENT) {
                    vigil_diag_set(diag, line, col, "mapping keys must be plain scalars");
                    rc = VIGIL_EPARSE;
                } else {
                    const char *k = (const char *)ev.data.scalar.value;
                    size_t kl = ev.data.scalar.length;
                    size_t base = top->key_len;
                    size_t need = base + (base ? 1 : 0) + kl;
                    if (need >= KEY_MAX || memchr(k, '.', kl)) {
                        vigil_diag_set(diag, line, col, "bad key '%.*s'", (int)(kl > 60 ? 60 : kl),
                                       k);
                        rc = VIGIL_EPARSE;
                    } else {
                        key_len = base;
                        if (base) {
                            key[key_len++] = '.';
                        }
                        memcpy(key + key_len, k, kl);
                        key_len += kl;
                        key[key_len] = '\0';
                        top->want_value = 1;
                    }
                }
            } else {
                /* A value: at the top level, in a mapping, or a sequence item. */
                if (top && top->is_seq) {
                    char idx[24];
                    int il = snprintf(idx, sizeof idx, "%zu", top->index++);
                    key_len = top->key_len;
                    if (key_len + 1 + (size_t)il >= KEY_MAX) {
                        rc = VIGIL_EPARSE;
                    } else {
                        if (key_len) {
                            key[key_len++] = '.';
                        }
                        memcpy(key + key_len, idx, (size_t)il);
                        key_len += (size_t)il;
                        key[key_len] = '\0';
                    }
                } else if (top) {
                    top->want_value = 0;
                }
                if (rc) {
                    vigil_diag_set(diag, line, col, "key path too long");
                } else if (ev.type == YAML_SCALAR_EVENT) {
                    if (!top) {
                        vigil_diag_set(diag, line, col,
                                       "expected a mapping of options, got a bare value");
                        rc = VIGIL_EPARSE;
                    } else {
                        rc = add_entry(cfg, key, (const char *)ev.data.scalar.value,
                                       ev.data.scalar.length, line);
                    }
                } else if (depth == DEPTH_MAX) {
                    vigil_diag_set(diag, line, col, "nesting deeper than %d levels", DEPTH_MAX);
                    rc = VIGIL_EPARSE;
                } else {
                    st[depth++] = (struct level){.is_seq = ev.type == YAML_SEQUENCE_START_EVENT,
                                                 .key_len = top ? key_len : 0};
                }
            }
        } else if (ev.type == YAML_MAPPING_END_EVENT || ev.type == YAML_SEQUENCE_END_EVENT) {
            if (depth > 0) {
                depth--;
            }
        }
        yaml_event_delete(&ev);
        if (rc || done) {
            break;
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

int vigil_config_load(struct vigil_config *cfg, const char *path, struct vigil_diag *diag)
{
    char *text;
    size_t n;
    int rc = vigil_read_file(path, (size_t)1 << 20, &text, &n);
    if (rc) {
        vigil_diag_set(diag, 0, 0, "%s", rc == -EFBIG ? "config file larger than 1 MiB"
                                                      : vigil_strerror(rc));
        return rc;
    }
    rc = vigil_config_parse(cfg, text, n, diag);
    vigil_free(text);
    return rc;
}

const struct vigil_config_entry *vigil_config_get(const struct vigil_config *cfg, const char *key)
{
    for (size_t i = 0; i < cfg->n; i++) {
        if (strcmp(cfg->v[i].key, key) == 0) {
            return &cfg->v[i];
        }
    }
    return NULL;
}

int vigil_config_apply(const struct vigil_config *cfg, const char *section,
                       const struct vigil_opt *opts, void *params, struct vigil_diag *diag)
{
    size_t sl = strlen(section);
    for (size_t i = 0; i < cfg->n; i++) {
        const char *k = cfg->v[i].key;
        const char *name;
        if (sl == 0) {
            name = k;
            if (strchr(name, '.')) {
                continue; /* belongs to a section */
            }
        } else {
            if (strncmp(k, section, sl) != 0 || k[sl] != '.') {
                continue;
            }
            name = k + sl + 1;
        }
        const struct vigil_opt *o = vigil_opt_find(opts, name);
        if (!o) {
            if (sl == 0) {
                continue; /* top-level keys may belong to other readers */
            }
            vigil_diag_set(diag, cfg->v[i].line, 0, "unknown option '%s' in section '%s'", name,
                           section);
            return VIGIL_ECONFIG;
        }
        int rc = vigil_opt_set(opts, params, name, cfg->v[i].value, strlen(cfg->v[i].value), diag);
        if (rc) {
            if (diag) {
                diag->line = cfg->v[i].line;
            }
            return rc;
        }
    }
    return 0;
}
