// Shared by the reference-data programs in this folder: a seeded xorshift64 generator (uniform and normal
// samples, the same sequence on every machine) and hex output for the JSON fixtures. Each program sets
// `rng_state` to its own seed before drawing.
#include <math.h>
#include <stdint.h>
#include <stdio.h>

static uint64_t rng_state;

static double uniform(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

static double normal(void) {
    double u = uniform(), v = uniform();
    return sqrt(-2.0 * log(u + 1e-300)) * cos(6.283185307179586 * v);
}

static void hex(const void * p, size_t n) {
    const uint8_t * b = p;
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}
