/*
 * Scraping Prometheus targets (node-exporter, cAdvisor, another vigil) as an
 * input of the watch service: GET each URL with libcurl under a time and size
 * limit, parse the exposition text, intern every sample's series (kind from
 * # TYPE, group and entity from the group rules, with an `instance` label
 * naming the target so each target is an entity of its own unless a
 * container/pod label says otherwise), and hand out the values.
 *
 * A target that fails (connection refused, timeout, non-2xx, malformed text)
 * is marked stale: it emits nothing, so its series read as missing and the
 * detectors neither score nor alarm on them, and its failure is logged once
 * until it recovers.
 */
#ifndef VIGIL_SCRAPE_H
#define VIGIL_SCRAPE_H

#include <stddef.h>
#include <stdint.h>

#include "vigil/buf.h"
#include "vigil/groups.h"
#include "vigil/series.h"

struct vigil_scraper; /* opaque */

/* Called once per sample: series id in the caller's table, raw value. */
typedef void (*vigil_scrape_emit_fn)(void *user, uint32_t series, double value);

/*
 * Makes a scraper for n http(s) URLs (copied). timeout_ms bounds each
 * request, max_bytes each body. Returns 0, -EINVAL (a URL that is not
 * http/https) or -ENOMEM.
 */
int vigil_scraper_new(struct vigil_scraper **out, const char *const *urls, size_t n,
                      long timeout_ms, size_t max_bytes);
void vigil_scraper_free(struct vigil_scraper *s);

/*
 * Scrapes every target once, interning new series into t with the rules of g
 * (may be NULL: group other, entity from the instance label). Returns the
 * number of targets up, or -ENOMEM.
 */
int vigil_scraper_run(struct vigil_scraper *s, struct vigil_series_table *t,
                      const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user);

/* Appends vigil_scrape_up{target} and vigil_scrape_failures_total{target}. */
int vigil_scraper_render(const struct vigil_scraper *s, struct vigil_buf *out);

/*
 * Interns and emits the samples of one exposition text (p, n; format 0.0.4,
 * sample timestamps ignored) as a scrape of `instance` does: an `instance`
 * label with that value is added to samples without one; a new series gets
 * its kind from # TYPE, and group and entity from the rules of g (NULL: group
 * other, entity = instance). Samples with duplicate label names are skipped.
 * scratch holds unescaped label values (grown as needed; the caller owns it).
 * The scraper and the bus input (busin.h) both go through here. Returns 0,
 * -ENOMEM, or VIGIL_EPARSE with diag naming line and column (the samples
 * before that line were emitted).
 */
int vigil_expo_ingest(const char *p, size_t n, const char *instance, struct vigil_series_table *t,
                      const struct vigil_groups *g, vigil_scrape_emit_fn emit, void *user,
                      struct vigil_buf *scratch, struct vigil_diag *diag);

#endif /* VIGIL_SCRAPE_H */
