/*
 * xoshiro256** (Blackman and Vigna) seeded through splitmix64. The state is
 * explicit so that the same seed gives the same model on every run and every
 * thread count: tree i of a forest draws from vigil_rng_split(root, i).
 */
#include <math.h>

#include "vigil/rng.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void vigil_rng_seed(struct vigil_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&x);
    }
}

uint64_t vigil_rng_u64(struct vigil_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

uint32_t vigil_rng_u32(struct vigil_rng *r)
{
    return (uint32_t)(vigil_rng_u64(r) >> 32);
}

uint64_t vigil_rng_below(struct vigil_rng *r, uint64_t n)
{
    /* Lemire's nearly-divisionless method on 64-bit products. */
    unsigned __int128 m = (unsigned __int128)vigil_rng_u64(r) * n;
    uint64_t lo = (uint64_t)m;
    if (lo < n) {
        uint64_t t = -n % n;
        while (lo < t) {
            m = (unsigned __int128)vigil_rng_u64(r) * n;
            lo = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double vigil_rng_uniform(struct vigil_rng *r)
{
    return (double)(vigil_rng_u64(r) >> 11) * 0x1.0p-53;
}

double vigil_rng_normal(struct vigil_rng *r)
{
    double u1 = vigil_rng_uniform(r);
    double u2 = vigil_rng_uniform(r);
    if (u1 < 1e-300) {
        u1 = 1e-300;
    }
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void vigil_rng_split(const struct vigil_rng *r, uint64_t i, struct vigil_rng *out)
{
    uint64_t x = r->s[0] ^ rotl(r->s[1], 13) ^ rotl(r->s[2], 29) ^ rotl(r->s[3], 41);
    x ^= (i + 1) * 0xd1342543de82ef95ULL;
    for (int k = 0; k < 4; k++) {
        out->s[k] = splitmix64(&x);
    }
}

void vigil_rng_shuffle(struct vigil_rng *r, uint32_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)vigil_rng_below(r, i);
        uint32_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}
