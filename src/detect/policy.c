/*
 * The detection policy state machine (see include/vigil/policy.h). Kept apart
 * from the models so the same rules apply whatever produced the ratio.
 */
#include <math.h>

#include "vigil/policy.h"

void vigil_policy_init(struct vigil_policy *p)
{
    *p = (struct vigil_policy){.state = VIGIL_POLICY_NORMAL, .ratio = NAN};
}

void vigil_policy_conf_default(struct vigil_policy_conf *conf)
{
    *conf = (struct vigil_policy_conf){
        .threshold = 1.0, .consecutive = 3, .clear = 5, .suppress_ns = 60LL * 1000000000LL};
}

enum vigil_policy_event vigil_policy_step(struct vigil_policy *p,
                                          const struct vigil_policy_conf *conf, int64_t ts,
                                          double ratio)
{
    if (!isfinite(ratio)) {
        return VIGIL_POLICY_NONE;
    }
    p->ratio = ratio;
    p->reopened = 0;
    if (ratio > conf->threshold) {
        if (p->run_hi == 0) {
            p->run_start = ts;
        }
        p->run_hi++;
        p->run_lo = 0;
        p->last_hi_ns = ts;
        if (p->state == VIGIL_POLICY_ANOMALY) {
            if (ratio > p->peak) {
                p->peak = ratio;
                return VIGIL_POLICY_UPDATE;
            }
            return VIGIL_POLICY_NONE;
        }
        if (p->run_hi < (conf->consecutive > 0 ? conf->consecutive : 1)) {
            return VIGIL_POLICY_NONE;
        }
        p->state = VIGIL_POLICY_ANOMALY;
        if (p->end_ns && ts - p->end_ns <= conf->suppress_ns) {
            /* Within the suppression window: the previous event goes on. */
            p->end_ns = 0;
            p->reopened = 1;
            if (ratio > p->peak) {
                p->peak = ratio;
            }
            return VIGIL_POLICY_UPDATE;
        }
        p->start_ns = p->run_start;
        p->peak = ratio;
        p->end_ns = 0;
        return VIGIL_POLICY_OPEN;
    }
    p->run_hi = 0;
    p->run_lo++;
    if (p->state == VIGIL_POLICY_ANOMALY && p->run_lo >= (conf->clear > 0 ? conf->clear : 1)) {
        p->state = VIGIL_POLICY_NORMAL;
        p->end_ns = p->last_hi_ns;
        return VIGIL_POLICY_CLOSE;
    }
    return VIGIL_POLICY_NONE;
}
