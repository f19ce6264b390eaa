// Reference weight quantization from llama.cpp's own quantizer: ggml_quantize_chunk with no importance matrix,
// the call llama-quantize makes for each tensor. Prints a JSON fixture with the f32 input and the bytes of
// every type, which tests/quantize-reference.variants.test.ts compares zinc's quantizers against.
//
// Build against a llama.cpp checkout (see tests/fixtures/quantize/README.md):
//   cc -O2 -std=c11 scripts/reference/ggml-quantize.c -I$LLAMA/ggml/include -L$LLAMA/build/bin -lggml-base -lm \
//      -Wl,-rpath,$LLAMA/build/bin -o ggml-quantize && ./ggml-quantize > tests/fixtures/quantize/ggml.json
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "ggml.h"
#include "reference-data.h"

#define ROWS 6
#define COLS 512

int main(void) {
    rng_state = 0x9E3779B97F4A7C15ull;
    // Rows chosen to reach every branch of the quantizers: plain weights, heavy outliers, all-positive values
    // (min clamped to 0), a row with all-zero and constant blocks, tiny magnitudes, and ternary-like values.
    static float x[ROWS * COLS];
    for (int c = 0; c < COLS; c++) {
        x[0 * COLS + c] = (float)(0.02 * normal());
        x[1 * COLS + c] = (float)(0.05 * normal() * (uniform() < 0.02 ? 20.0 : 1.0));
        x[2 * COLS + c] = (float)(0.5 + uniform());
        x[3 * COLS + c] = c < 256 ? 0.0f : c < 288 ? 0.75f : (float)normal();
        x[4 * COLS + c] = (float)(1e-4 * normal());
        x[5 * COLS + c] = (float)((int)(uniform() * 3.0) - 1) * 0.3f;
    }
    const enum ggml_type types[] = {
        GGML_TYPE_F16, GGML_TYPE_BF16, GGML_TYPE_Q8_0, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1, GGML_TYPE_Q5_0,
        GGML_TYPE_Q5_1, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K, GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
        GGML_TYPE_IQ4_NL, GGML_TYPE_IQ4_XS, GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0,
    };
    printf("{\n  \"rows\": %d,\n  \"cols\": %d,\n  \"input_f32_hex\": \"", ROWS, COLS);
    hex(x, sizeof x);
    printf("\",\n  \"cases\": [\n");
    const size_t n_types = sizeof types / sizeof types[0];
    for (size_t t = 0; t < n_types; t++) {
        ggml_quantize_init(types[t]);
        const size_t size = ggml_row_size(types[t], COLS) * ROWS;
        void * out = calloc(1, size);
        ggml_quantize_chunk(types[t], x, out, 0, ROWS, COLS, NULL);
        printf("    { \"type\": \"%s\", \"bytes_hex\": \"", ggml_type_name(types[t]));
        hex(out, size);
        printf("\" }%s\n", t + 1 < n_types ? "," : "");
        free(out);
    }
    printf("  ]\n}\n");
    return 0;
}
