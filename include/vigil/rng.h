/*
 * Explicit, seeded random numbers (xoshiro256** seeded by splitmix64). State
 * is passed around, never global, so the same seed and data give a
 * bit-identical model, and threads each own a stream (vigil_rng_split).
 */
#ifndef VIGIL_RNG_H
#define VIGIL_RNG_H

#include <stddef.h>
#include <stdint.h>

struct vigil_rng {
    uint64_t s[4];
};

void vigil_rng_seed(struct vigil_rng *r, uint64_t seed);
uint64_t vigil_rng_u64(struct vigil_rng *r);
uint32_t vigil_rng_u32(struct vigil_rng *r);
/* Uniform integer in [0, n); n > 0. Unbiased (Lemire's method). */
uint64_t vigil_rng_below(struct vigil_rng *r, uint64_t n);
/* Uniform in [0, 1). */
double vigil_rng_uniform(struct vigil_rng *r);
/* Standard normal (Box-Muller). */
double vigil_rng_normal(struct vigil_rng *r);
/* Derives an independent stream for worker i (e.g. tree i of a forest). */
void vigil_rng_split(const struct vigil_rng *r, uint64_t i, struct vigil_rng *out);
/* Fisher-Yates shuffle of n indices. */
void vigil_rng_shuffle(struct vigil_rng *r, uint32_t *idx, size_t n);

#endif /* VIGIL_RNG_H */
