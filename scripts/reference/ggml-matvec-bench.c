// ggml's own matrix × vector kernels, timed on the shapes `bun bench` uses, so that the README can put both
// engines' GB/s side by side. One weight matrix (random values quantized by ggml_quantize_chunk) times one
// f32 activation vector, as a ggml graph on the CPU backend with 2 threads — once with the weights in a plain
// CPU buffer (vec_dot per row) and once in the CPU backend's first "extra" buffer type, where llama.cpp
// repacks Q4_0 and Q4_K into interleaved rows on AVX2 (what llama-bench runs with its defaults). Each case
// runs 20 warm-up and 200 timed graph computes, cycling through copies of the matrix (≥ 256 MB in all); the best and mean GB/s of weight bytes read are printed,
// with the machine's read bandwidth timed the same way before and after (2 threads summing 1 GiB).
// With a token count and shapes as arguments (`./ggml-matvec-bench 64 576x1536 1536x8960`) the activations
// are that many tokens — prefill's matrix × matrix, tinyBLAS or the repacked gemm — and GFLOP/s are printed.
//
//   cc -O2 -mavx2 -pthread -std=c11 scripts/reference/ggml-matvec-bench.c -I$LLAMA/ggml/include \
//      -L$LLAMA/build/bin -lggml -lggml-base -lggml-cpu -lm -Wl,-rpath,$LLAMA/build/bin -o ggml-matvec-bench
//   ./ggml-matvec-bench
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "ggml.h"
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "reference-data.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

// ---- read bandwidth: 2 threads, each summing its half of 1 GiB in 4 side-by-side streams (as zinc's probe)
#define BW_BYTES (1ul << 30)
static uint8_t * bw_buf;
static void * bw_half(void * arg) {
    const size_t half = BW_BYTES / 2, part = half / 4;
    const uint8_t * base = bw_buf + (size_t)arg * half;
    __m256i acc[4] = { _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (size_t i = 0; i < part; i += 64)
        for (int s = 0; s < 4; s++) {
            const __m256i * p = (const __m256i *)(base + s * part + i);
            acc[s] = _mm256_add_epi64(acc[s], _mm256_add_epi64(_mm256_loadu_si256(p), _mm256_loadu_si256(p + 1)));
        }
    static volatile long long sink;
    sink = _mm256_extract_epi64(_mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3])), 0);
    return NULL;
}
static double read_bandwidth(void) {
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        pthread_t th[2];
        const double t0 = now();
        for (long i = 0; i < 2; i++) pthread_create(&th[i], NULL, bw_half, (void *)i);
        for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
        const double gbs = BW_BYTES / (now() - t0) / 1e9;
        if (gbs > best) best = gbs;
    }
    return best;
}

#define MAX_COPIES 64

static void bench(ggml_backend_t backend, ggml_backend_buffer_type_t weight_buft, const char * layout, enum ggml_type type, int cols, int rows, int tokens) {
    const size_t wbytes = ggml_row_size(type, cols) * rows;
    // Copies of the matrix totalling at least 256 MB, computed in turn (as zinc's bench cycles its copies):
    // a matrix read again at once would partly come from the L3 cache.
    int copies = (int)((256e6 + wbytes - 1) / wbytes);
    if (copies > MAX_COPIES) copies = MAX_COPIES;
    // Weights in their own context and buffer (so that they can live in the repacking buffer type).
    struct ggml_init_params wp = { ggml_tensor_overhead() * (MAX_COPIES + 1), NULL, true };
    struct ggml_context * wctx = ggml_init(wp);
    struct ggml_tensor * w[MAX_COPIES];
    for (int i = 0; i < copies; i++) w[i] = ggml_new_tensor_2d(wctx, type, cols, rows);
    ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, weight_buft);
    {
        float * f = malloc(sizeof(float) * cols);
        uint8_t * q = malloc(wbytes);
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < cols; c++) f[c] = (float)(0.05 * normal());
            ggml_quantize_chunk(type, f, q + (size_t)r * ggml_row_size(type, cols), 0, 1, cols, NULL);
        }
        for (int i = 0; i < copies; i++) ggml_backend_tensor_set(w[i], q, 0, wbytes);
        free(f);
        free(q);
    }
    struct ggml_init_params gp = { ggml_tensor_overhead() * (2 * MAX_COPIES + 2) + MAX_COPIES * ggml_graph_overhead(), NULL, true };
    struct ggml_context * ctx = ggml_init(gp);
    struct ggml_tensor * x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, cols, tokens);
    struct ggml_cgraph * gf[MAX_COPIES];
    for (int i = 0; i < copies; i++) {
        gf[i] = ggml_new_graph(ctx);
        ggml_build_forward_expand(gf[i], ggml_mul_mat(ctx, w[i], x));
    }
    ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(ctx, backend);
    float * xv = malloc(sizeof(float) * cols * tokens);
    for (int c = 0; c < cols * tokens; c++) xv[c] = (float)normal();
    ggml_backend_tensor_set(x, xv, 0, sizeof(float) * cols * tokens);
    free(xv);
    for (int i = 0; i < 20; i++) ggml_backend_graph_compute(backend, gf[i % copies]);
    double best = 1e9, total = 0;
    const int reps = tokens > 1 ? 40 : 200;
    for (int i = 0; i < reps; i++) {
        const double t0 = now();
        ggml_backend_graph_compute(backend, gf[i % copies]);
        const double dt = now() - t0;
        total += dt;
        if (dt < best) best = dt;
    }
    const double flops = 2.0 * rows * cols * tokens;
    printf("{\"engine\": \"ggml\", \"layout\": \"%s\", \"type\": \"%s\", \"shape\": \"%dx%d\", \"tokens\": %d, \"bytes\": %zu, \"copies\": %d, \"mean_ms\": %.4f, \"gb_s_mean\": %.2f, \"gb_s_best\": %.2f, \"gflop_s_mean\": %.1f, \"gflop_s_best\": %.1f}\n",
           layout, ggml_type_name(type), cols, rows, tokens, wbytes, copies, total / reps * 1e3, wbytes / (total / reps) / 1e9, wbytes / best / 1e9, flops / (total / reps) / 1e9, flops / best / 1e9);
    fflush(stdout);
    ggml_backend_buffer_free(buf);
    ggml_free(ctx);
    ggml_backend_buffer_free(wbuf);
    ggml_free(wctx);
}

int main(int argc, char ** argv) {
    const int tokens = argc > 1 ? atoi(argv[1]) : 1;
    int shapes[8][2] = { { 3584, 18944 }, { 896, 151936 } };
    int n_shapes = 2;
    if (argc > 2) {
        n_shapes = 0;
        for (int i = 2; i < argc && n_shapes < 8; i++, n_shapes++)
            if (sscanf(argv[i], "%dx%d", &shapes[n_shapes][0], &shapes[n_shapes][1]) != 2) return fprintf(stderr, "bad shape %s\n", argv[i]), 1;
    }
    rng_state = 0x2545F4914F6CDD1Dull;
    bw_buf = aligned_alloc(64, BW_BYTES);
    memset(bw_buf, 1, BW_BYTES);
    ggml_backend_load_all();
    ggml_backend_t backend = ggml_backend_cpu_init();
    ggml_backend_cpu_set_n_threads(backend, 2);
    ggml_backend_dev_t dev = ggml_backend_get_device(backend);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    ggml_backend_dev_get_extra_bufts_t get_extra = (ggml_backend_dev_get_extra_bufts_t)ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts");
    ggml_backend_buffer_type_t * extra = get_extra ? get_extra(dev) : NULL;
    ggml_backend_buffer_type_t repack = extra && *extra ? *extra : NULL;
    printf("{\"read_gb_s_before\": %.2f, \"repack_buffer\": \"%s\"}\n", read_bandwidth(), repack ? ggml_backend_buft_name(repack) : "none");
    const enum ggml_type types[] = { GGML_TYPE_Q4_0, GGML_TYPE_Q8_0, GGML_TYPE_Q4_K, GGML_TYPE_Q6_K };
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++)
        for (int s = 0; s < n_shapes; s++) {
            if (shapes[s][0] % ggml_blck_size(types[t]) != 0) continue;
            ggml_quantize_init(types[t]);
            bench(backend, ggml_backend_get_default_buffer_type(backend), "plain", types[t], shapes[s][0], shapes[s][1], tokens);
            // On x86 with AVX2 the repacking buffer interleaves only Q4_0 and Q4_K of these (and IQ4_NL, MXFP4);
            // it leaves the others unset (ggml_repack_get_optimal_repack_type returns nothing for them).
            if (repack && (types[t] == GGML_TYPE_Q4_0 || types[t] == GGML_TYPE_Q4_K))
                bench(backend, repack, "repacked", types[t], shapes[s][0], shapes[s][1], tokens);
        }
    printf("{\"read_gb_s_after\": %.2f}\n", read_bandwidth());
    ggml_backend_free(backend);
    return 0;
}
