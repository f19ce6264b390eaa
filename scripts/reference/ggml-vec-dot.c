// Reference matrix products from llama.cpp's CPU backend: for each weight type, rows quantized by
// ggml_quantize_chunk, activations quantized by the backend's own from_float for the type's vec_dot_type,
// the f32 result of the backend's vec_dot (what a one-token mul_mat computes per row), and the result of a
// whole ggml_mul_mat over all tokens at once (which llama.cpp may route to llamafile's tinyBLAS: the prefill
// path). Weight repacking is off, as in zinc's references. tests/vec-dot-reference.variants.test.ts requires
// zinc's activation bytes, decode dots and batched products to be bit-identical. Results depend on the CPU
// level llama.cpp was built for (see the README).
//
//   cc -O2 -std=c11 scripts/reference/ggml-vec-dot.c -I$LLAMA/ggml/include -L$LLAMA/build/bin -lggml-base \
//      -lggml-cpu -lm -Wl,-rpath,$LLAMA/build/bin -o ggml-vec-dot && ./ggml-vec-dot > tests/fixtures/quantize/vec-dot.json
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ggml.h"
#include "reference-data.h"
#include "ggml-cpu.h"

#define ROWS 8
#define TOKENS 8
#define COLS 512

int main(void) {
    rng_state = 0x2545F4914F6CDD1Dull;
    ggml_cpu_init();
    static float w[ROWS * COLS], x[TOKENS * COLS];
    for (int i = 0; i < ROWS * COLS; i++) w[i] = (float)(0.05 * normal());
    // Activations like a hidden state: mostly small, a few large channels.
    for (int i = 0; i < TOKENS * COLS; i++) x[i] = (float)(normal() * (uniform() < 0.01 ? 30.0 : 1.0));
    const enum ggml_type types[] = {
        GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
        GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
        GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0,
    };
    printf("{\n  \"rows\": %d,\n  \"tokens\": %d,\n  \"cols\": %d,\n  \"weights_f32_hex\": \"", ROWS, TOKENS, COLS);
    hex(w, sizeof w);
    printf("\",\n  \"activations_f32_hex\": \"");
    hex(x, sizeof x);
    printf("\",\n  \"cases\": [\n");
    const size_t n_types = sizeof types / sizeof types[0];
    for (size_t t = 0; t < n_types; t++) {
        const struct ggml_type_traits_cpu * traits = ggml_get_type_traits_cpu(types[t]);
        const enum ggml_type act = traits->vec_dot_type;
        const size_t wrow = ggml_row_size(types[t], COLS), arow = ggml_row_size(act, COLS);
        uint8_t * wq = calloc(ROWS, wrow);
        uint8_t * aq = calloc(TOKENS, arow);
        ggml_quantize_init(types[t]);
        ggml_quantize_chunk(types[t], w, wq, 0, ROWS, COLS, NULL);
        const struct ggml_type_traits_cpu * act_traits = ggml_get_type_traits_cpu(act);
        for (int k = 0; k < TOKENS; k++) {
            if (act == GGML_TYPE_F32) memcpy(aq + k * arow, x + k * COLS, arow);
            else act_traits->from_float(x + k * COLS, aq + k * arow, COLS);
        }
        float dots[TOKENS * ROWS];
        for (int k = 0; k < TOKENS; k++)
            for (int r = 0; r < ROWS; r++)
                traits->vec_dot(COLS, &dots[k * ROWS + r], 0, wq + r * wrow, 0, aq + k * arow, 0, 1);
        // The whole product as a graph: W (ROWS × COLS, quantized) times X (TOKENS × COLS, f32), one thread.
        float batched[TOKENS * ROWS];
        {
            struct ggml_init_params ip = { 64 * 1024 * 1024, NULL, false };
            struct ggml_context * ctx = ggml_init(ip);
            struct ggml_tensor * W = ggml_new_tensor_2d(ctx, types[t], COLS, ROWS);
            struct ggml_tensor * X = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, COLS, TOKENS);
            memcpy(W->data, wq, ROWS * wrow);
            memcpy(X->data, x, sizeof x);
            struct ggml_tensor * Y = ggml_mul_mat(ctx, W, X);
            struct ggml_cgraph * gf = ggml_new_graph(ctx);
            ggml_build_forward_expand(gf, Y);
            ggml_graph_compute_with_ctx(ctx, gf, 1);
            memcpy(batched, Y->data, sizeof batched);
            ggml_free(ctx);
        }
        printf("    { \"type\": \"%s\", \"activation_type\": \"%s\", \"activations_hex\": \"", ggml_type_name(types[t]), ggml_type_name(act));
        hex(aq, TOKENS * arow);
        printf("\", \"dots_f32_hex\": \"");
        hex(dots, sizeof dots);
        printf("\", \"batched_f32_hex\": \"");
        hex(batched, sizeof batched);
        printf("\" }%s\n", t + 1 < n_types ? "," : "");
        free(wq);
        free(aq);
    }
    printf("  ]\n}\n");
    return 0;
}
