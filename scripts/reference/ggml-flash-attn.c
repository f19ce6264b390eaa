// Reference attention from llama.cpp's CPU backend: ggml_flash_attn_ext over an f16 K/V cache with a causal
// (optionally sliding-window) mask, as llama.cpp's graph calls it, on inputs drawn from a seeded generator in
// exactly representable values (so the TypeScript test regenerates them bit for bit instead of storing them).
// Batches of 64 queries or more take ggml's tiled path, fewer its one-query path; the cases cover both, GQA,
// a cached prefix, a window, a soft-cap, a head size that is not a multiple of 16, and scores wide enough that
// exp underflows. One-token cases over a KV view of 512 cells or more (llama.cpp's n_kv, the used cells rounded
// up to 256, the rest masked) take ggml's split path: the cells cut into one chunk per thread (2 here), each
// chunk's partial softmax merged in order. tests/attention-reference.variants.test.ts requires zinc's output to be bit-identical: the
// SHA-256 of every output byte, and the first values for a readable difference.
//
//   cc -O2 -std=c11 scripts/reference/ggml-flash-attn.c -I$LLAMA/ggml/include -L$LLAMA/build/bin -lggml-base \
//      -lggml-cpu -lggml -lcrypto -lm -Wl,-rpath,$LLAMA/build/bin -o ggml-flash-attn
//   ./ggml-flash-attn > tests/fixtures/attention/flash-attn.json
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include "ggml.h"
#include "ggml-cpu.h"

static uint64_t rng_state;
static uint64_t next(void) {
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 7; rng_state ^= rng_state << 17;
    return rng_state;
}
// amp × (integer in [-2^23, 2^23)) / 2^23: exact in f32 for a power-of-two amp.
static float draw_f32(float amp) { return amp * (float)((int64_t)(next() >> 40) - (1 << 23)) / (float)(1 << 23); }
// An integer in [-1024, 1024) / 1024: exact in f16.
static float draw_f16(void) { return (float)((int64_t)(next() >> 53) - 1024) / 1024.0f; }

static void hex(const void * p, size_t n) {
    const uint8_t * b = p;
    for (size_t i = 0; i < n; i++) printf("%02x", b[i]);
}

// cells: rows of the K/V view (0: kv_len); cells past kv_len hold finite values and are masked.
struct attn_case { int tokens, kv_len, heads, kv_heads, head_dim, window; float scale, softcap, q_amp; int cells; };

int main(void) {
    ggml_cpu_init();
    const struct attn_case cases[] = {
        { 64, 64, 4, 2, 64, 0, 0.125f, 0, 1 },
        { 100, 130, 6, 2, 128, 0, 0.08838834764831845f, 0, 2 },
        { 80, 80, 2, 1, 256, 32, 0.0625f, 50, 4 },
        { 70, 70, 3, 1, 64, 0, 1, 0, 64 },
        { 72, 72, 4, 4, 40, 0, 0.15811388300841897f, 0, 1 },
        { 40, 50, 4, 2, 64, 0, 0.125f, 0, 1 },
        { 1, 400, 4, 2, 64, 0, 0.125f, 0, 1, 512 },
        { 1, 700, 6, 2, 128, 0, 0.08838834764831845f, 0, 2, 768 },
        { 1, 200, 4, 4, 64, 0, 0.125f, 0, 1, 512 },
        { 1, 1000, 2, 1, 256, 100, 0.0625f, 50, 4, 1024 },
    };
    const int n_cases = sizeof cases / sizeof cases[0];
    printf("{\n  \"seed\": \"0x9E3779B97F4A7C15\",\n  \"cases\": [\n");
    rng_state = 0x9E3779B97F4A7C15ull;
    for (int ci = 0; ci < n_cases; ci++) {
        const struct attn_case c = cases[ci];
        const int T = c.tokens, H = c.heads, KVH = c.kv_heads, D = c.head_dim;
        const int KV = c.cells ? c.cells : c.kv_len;
        struct ggml_init_params ip = { 256 * 1024 * 1024, NULL, false };
        struct ggml_context * ctx = ggml_init(ip);
        struct ggml_tensor * q = ggml_new_tensor_3d(ctx, GGML_TYPE_F32, D, T, H);
        struct ggml_tensor * k = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, D, KV, KVH);
        struct ggml_tensor * v = ggml_new_tensor_3d(ctx, GGML_TYPE_F16, D, KV, KVH);
        struct ggml_tensor * mask = ggml_new_tensor_2d(ctx, GGML_TYPE_F16, KV, T);
        // Drawn in zinc's layouts (q: token, head, dim; cache: position, kv head, dim), stored in ggml's.
        for (int t = 0; t < T; t++) for (int h = 0; h < H; h++) for (int d = 0; d < D; d++)
            ((float *) q->data)[((size_t) h * T + t) * D + d] = draw_f32(c.q_amp);
        for (int p = 0; p < KV; p++) for (int h = 0; h < KVH; h++) for (int d = 0; d < D; d++)
            ((ggml_fp16_t *) k->data)[((size_t) h * KV + p) * D + d] = ggml_fp32_to_fp16(draw_f16());
        for (int p = 0; p < KV; p++) for (int h = 0; h < KVH; h++) for (int d = 0; d < D; d++)
            ((ggml_fp16_t *) v->data)[((size_t) h * KV + p) * D + d] = ggml_fp32_to_fp16(draw_f16());
        for (int t = 0; t < T; t++) {
            const int pos = c.kv_len - T + t;
            for (int p = 0; p < KV; p++) {
                const int visible = p <= pos && (c.window == 0 || pos - p < c.window);
                ((ggml_fp16_t *) mask->data)[(size_t) t * KV + p] = ggml_fp32_to_fp16(visible ? 0.0f : -INFINITY);
            }
        }
        struct ggml_tensor * out = ggml_flash_attn_ext(ctx, q, k, v, mask, c.scale, 0.0f, c.softcap);
        struct ggml_cgraph * gf = ggml_new_graph(ctx);
        ggml_build_forward_expand(gf, out);
        ggml_graph_compute_with_ctx(ctx, gf, 2);
        const size_t n = (size_t) T * H * D;
        uint8_t digest[32];
        SHA256(out->data, n * sizeof(float), digest);
        printf("    { \"tokens\": %d, \"kv_len\": %d, \"cells\": %d, \"heads\": %d, \"kv_heads\": %d, \"head_dim\": %d, \"window\": %d, "
               "\"scale\": %.17g, \"softcap\": %.17g, \"q_amp\": %.17g,\n      \"out_sha256\": \"",
               T, c.kv_len, KV, H, KVH, D, c.window, c.scale, c.softcap, c.q_amp);
        hex(digest, 32);
        // The last query row of every head: the one that sees the most keys.
        printf("\",\n      \"last_row_f32_hex\": \"");
        hex((float *) out->data + (size_t) (T - 1) * H * D, (size_t) H * D * sizeof(float));
        printf("\" }%s\n", ci + 1 < n_cases ? "," : "");
        ggml_free(ctx);
    }
    printf("  ]\n}\n");
    return 0;
}
