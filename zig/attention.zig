//! Attention of query tokens over the KV cache, as llama.cpp computes it by default on CPU (flash attention),
//! on its three paths:
//!   - under 64 queries (decode, short prompts): one query at a time; Q is rounded to f16 (K's dot type),
//!     scores are f16·f16 dots accumulated in f32, the softmax runs online, and — with an f16 V cache — the
//!     weighted sum of V is accumulated in f16. The f16 accumulator is part of what llama.cpp outputs.
//!   - one query over 512+ cells: the same, in a chunk of cells per thread, merged (`splitChunks`).
//!   - from 64 queries (prefill; `Tiled`): f32 matrix products over tiles of 64 keys, f32 accumulators.
//! zinc takes the same path in the same case so that its outputs keep llama.cpp's bits.
//!
//! Cache layout per layer: row p holds position p, kv_head_count * head_dim values — or, for a sliding-window
//! layer kept as a ring buffer of ring_rows rows, row p % ring_rows does.
const std = @import("std");
const simd = @import("simd.zig");
const threadpool = @import("threadpool.zig");
const blocks = @import("quants/blocks.zig");
const reference = @import("quants/reference.zig");
const vec_dot = @import("quants/vec_dot.zig");

pub const max_head_dim = 512;

pub const AttentionParams = extern struct {
    tokens: u32,
    head_count: u32,
    kv_head_count: u32,
    head_dim: u32,
    /// Cache rows 0..kv_len are valid.
    kv_len: u32,
    /// Sliding window: a query at p sees keys at k with p - k < window; 0 means no window.
    window: u32,
    scale: f32,
    /// Gemma 2's attention logit soft-cap; 0 means none.
    softcap: f32,
    /// Storage of the cache rows: 0 = f16, 1 = q8_0 (kv_head_count * head_dim / 32 blocks per row).
    kv_type: u32,
    /// Rows of a ring-buffer cache (position p in row p % ring_rows); 0: row p holds position p.
    ring_rows: u32,
    /// llama.cpp's KV view for this call (n_kv: the used cells rounded up to 256); 0: kv_len. From 512 cells,
    /// one query over an f16 cache takes llama.cpp's split path (see `splitChunks`).
    kv_cells: u32,
};

pub const KvType = enum(u32) { f16 = 0, q8_0 = 1 };

comptime {
    // TypeScript fills these 44 bytes field by field (src/native/index.ts, attentionBuffer).
    std.debug.assert(@sizeOf(AttentionParams) == 44);
}

/// llama.cpp (ggml_compute_forward_flash_attn_ext_f16) runs one query over an f16 cache of 512 cells or more
/// as one chunk of cells per thread — each chunk its own online softmax (M, S, f16 V-sum) — then merges the
/// chunks in order: M' = max(M, Mc), V = V·e^(M−M') + Vc·e^(Mc−M'), S likewise. The chunking is part of the
/// result, so zinc cuts the cells the same way, with its own thread count standing for llama.cpp's.
/// Returns the chunk count, or 0 when the call takes the plain path.
pub fn splitChunks(p: AttentionParams, threads: usize) usize {
    if (p.tokens != 1 or p.kv_type != @intFromEnum(KvType.f16) or p.kv_cells < 512) return 0;
    return threads;
}

/// The positions a query at `position` attends to, first..end: causal, within the window, inside the cache.
fn visibleKeys(p: AttentionParams, position: i32) struct { first: usize, end: usize } {
    const first: usize = if (p.window != 0) @intCast(@max(0, @as(i64, position) - p.window + 1)) else 0;
    const end: usize = @min(@as(usize, p.kv_len), @as(usize, @intCast(@max(0, @as(i64, position) + 1))));
    return .{ .first = first, .end = end };
}

/// f16 · f16 with f32 accumulation in exactly ggml's AVX2 order (ggml_vec_dot_f16): four 8-lane accumulators
/// over steps of 32, reduced (0+2, 1+3, then 0+1, then the two 128-bit halves, then two horizontal adds), and
/// a scalar tail. The same order on every variant keeps the scores bit-identical to llama.cpp's.
fn dotF16(a: []const f16, c: []const f16) f32 {
    const V8 = @Vector(8, f32);
    var sum: [4]V8 = .{ @splat(0), @splat(0), @splat(0), @splat(0) };
    const np = a.len & ~@as(usize, 31);
    var i: usize = 0;
    while (i < np) : (i += 32) {
        inline for (0..4) |j| {
            const x: V8 = @floatCast(@as(@Vector(8, f16), a[i + j * 8 ..][0..8].*));
            const y: V8 = @floatCast(@as(@Vector(8, f16), c[i + j * 8 ..][0..8].*));
            sum[j] = simd.fusedMulAdd(V8, x, y, sum[j]);
        }
    }
    sum[0] += sum[2];
    sum[1] += sum[3];
    sum[0] += sum[1];
    const lo: @Vector(4, f32) = @shuffle(f32, sum[0], undefined, [4]i32{ 0, 1, 2, 3 });
    const hi: @Vector(4, f32) = @shuffle(f32, sum[0], undefined, [4]i32{ 4, 5, 6, 7 });
    const q = hi + lo;
    // _mm_hadd_ps twice: (q0+q1, q2+q3, …) then (q0+q1)+(q2+q3).
    const h1 = q[0] + q[1];
    const h2 = q[2] + q[3];
    var total: f64 = h1 + h2;
    while (i < a.len) : (i += 1) total += @as(f32, a[i]) * @as(f32, c[i]);
    return @floatCast(total);
}

/// Keys per run of the f16 path's passes (AttentionOf.accumulate).
const run_keys = 64;

/// One key's part in one query's V-sum: the sum so far times ms (only when the key raised the maximum), then
/// plus V·vs.
const VStep = struct { ms: f32, vs: f32, rescale: bool };

/// Elements e..e+n of g queries' f16 V-sums (one KV head) through a run of keys (their V values start at
/// `offsets` in v_rows), in key order, with llama.cpp's roundings per element: ggml_vec_scale_f16
/// (y = f16(y·ms)) where the key raised the max, then ggml_vec_mad_f16 (y = f16(y + v·vs), one fma).
inline fn vSumF16(comptime n: usize, comptime g: usize, states: anytype, steps: *const [g][run_keys]VStep, v_rows: [*]const f16, offsets: []const usize, e: usize) void {
    const V = @Vector(n, f32);
    const H = @Vector(n, f16);
    var a: [g]V = undefined;
    inline for (0..g) |h| a[h] = @floatCast(@as(H, states[h].acc16[e..][0..n].*));
    for (offsets, 0..) |o, j| {
        const v: V = @floatCast(@as(H, v_rows[o + e ..][0..n].*));
        inline for (0..g) |h| {
            const step = steps[h][j];
            if (step.rescale) a[h] = @floatCast(@as(H, @floatCast(a[h] * @as(V, @splat(step.ms)))));
            a[h] = @floatCast(@as(H, @floatCast(simd.fusedMulAdd(V, v, @splat(step.vs), a[h]))));
        }
    }
    inline for (0..g) |h| states[h].acc16[e..][0..n].* = @as(H, @floatCast(a[h]));
}

/// Attention over an f16 or q8_0 cache. With q8_0, llama.cpp's flash attention quantizes Q to q8_0, scores
/// with the q8_0 dot, dequantizes each V row and accumulates in f32 — which this follows.
pub fn AttentionOf(comptime kv: KvType) type {
    return struct {
        params: AttentionParams,
        q: [*]const f32,
        positions: [*]const i32,
        k_cache: [*]const u8,
        v_cache: [*]const u8,
        out: [*]f32,
        /// splitChunks of the call (0: plain path).
        chunks: usize = 0,

        const Self = @This();

        fn work(self: *const Self, index: usize, count: usize) void {
            const p = self.params;
            const jobs = @as(usize, p.tokens) * p.head_count;
            const r = threadpool.splitRange(jobs, index, count);
            const group: usize = p.head_count / p.kv_head_count;
            // A thread's (token, head) jobs in runs of up to max_group heads that share a KV head (GQA): they
            // read the same K and V rows, and their V-sums are independent chains to interleave.
            var job = r.start;
            while (job < r.end) {
                const head = job % p.head_count;
                const n: usize = if (kv == .f16) @min(max_group, (head / group + 1) * group - head, r.end - job) else 1;
                switch (if (kv == .f16) n else 1) {
                    inline 1...(if (kv == .f16) max_group else 1) => |g| self.heads(g, job / p.head_count, head),
                    else => unreachable,
                }
                job += n;
            }
        }

        /// Heads per run of `heads` (f16 cache): four heads' 64-value V-sums fill 16 of the 32 vector registers.
        const max_group = 4;

        /// The online softmax of one query over some keys: running max, sum and V-sum (f16 as llama.cpp keeps
        /// it for an f16 cache, f32 for q8_0).
        const State = struct {
            max: f32 = -std.math.inf(f32),
            sum: f32 = 0,
            acc16: [max_head_dim]f16 = undefined,
            acc32: [max_head_dim]f32 = undefined,
        };

        /// The query as the key dot wants it: f16 (f16 cache) or q8_0 blocks (q8_0 cache).
        const Query = struct {
            q16: [max_head_dim]f16 = undefined,
            q8: [max_head_dim / 32]blocks.BlockQ8_0 = undefined,
        };

        fn prepareQuery(self: *const Self, token: usize, head: usize, query: *Query) void {
            const p = self.params;
            const hd: usize = p.head_dim;
            const q = self.q[(token * p.head_count + head) * hd ..][0..hd];
            switch (kv) {
                .f16 => for (q, query.q16[0..hd]) |v, *o| {
                    o.* = @floatCast(v);
                },
                .q8_0 => reference.quantizeActivationRow(.q8_0, q, query.q8[0 .. hd / 32]),
            }
        }

        fn resetState(self: *const Self, state: *State) void {
            const hd: usize = self.params.head_dim;
            state.max = -std.math.inf(f32);
            state.sum = 0;
            switch (kv) {
                .f16 => @memset(state.acc16[0..hd], 0),
                .q8_0 => @memset(state.acc32[0..hd], 0),
            }
        }

        /// A key's dot with the query, scaled (and soft-capped) as ggml does before its softmax.
        fn scaledScore(self: *const Self, dot: f32) f32 {
            const p = self.params;
            // With a soft-cap ggml folds the scale into the tanh argument: cap * tanh(s * scale / cap).
            const scale = if (p.softcap != 0) p.scale / p.softcap else p.scale;
            const s = dot * scale;
            return if (p.softcap != 0) p.softcap * simd.tanhf(s) else s;
        }

        /// The online softmax over a run of keys' scores (scaledScore), for one query: each key raises the running
        /// max or not; the sum so far is scaled by ms = e^(old max − new) where it does, and each other key adds
        /// vs = e^(s − max). Returned per key as the V-sum's step (times ms where the max rose, plus V·vs). In three
        /// passes, with llama.cpp's values: the max first (which keys raise it, and each exponential's
        /// argument), then the exponentials in vectors (simd.expfLanes, the C library's bits), then the sum's
        /// fused steps in key order.
        fn softmaxSteps(scores: []const f32, state: *State, steps: []VStep) void {
            var args: [run_keys]f32 = @splat(0);
            var m = state.max;
            for (scores, steps, args[0..scores.len]) |s, *step, *arg| {
                step.rescale = s > m;
                if (step.rescale) {
                    arg.* = m - s;
                    m = s;
                } else {
                    arg.* = s - m;
                }
            }
            state.max = m;
            const lanes = 16;
            var exps: [run_keys]f32 = undefined;
            var j: usize = 0;
            while (j < scores.len) : (j += lanes) exps[j..][0..lanes].* = simd.expfLanes(lanes, args[j..][0..lanes].*);
            var sum = state.sum;
            for (steps, exps[0..steps.len]) |*step, e| {
                step.ms = if (step.rescale) e else 1;
                step.vs = if (step.rescale) 1 else e;
                // GCC contracts llama.cpp's S*ms + vs into one fma.
                sum = simd.fusedMulAdd(f32, sum, step.ms, step.vs);
            }
            state.sum = sum;
        }

        /// Keys at positions from..to in order, for g queries of one KV head: the same sequence of online-softmax
        /// steps per query as visiting every cached row and skipping the masked ones.
        ///
        /// In runs of up to run_keys keys and two passes per run — the scores and softmax steps (softmaxSteps),
        /// then the V-sums; with an f16 cache element by element (vSumF16), each element's steps in key order as
        /// before, so every rounding is the one llama.cpp makes. Key by key, each key waited on a libm call and
        /// on the last key's f16 round trip through memory; this way g heads × 64 elements run side by side and
        /// the exponentials in vectors: 14 heads over 2 KV heads × 64 on 2 threads, 8.7–10.8 → 6.6–7.6 µs at
        /// 64 keys, 110 → 97–101 at 1024, 440 → 414–429 at 4096 (`npm run bench -- --filter attention`; what
        /// is left is mostly the f16 conversions the bits need).
        fn accumulate(self: *const Self, comptime g: usize, queries: *const [g]Query, kv_head: usize, from: usize, to: usize, states: *[g]State) void {
            const p = self.params;
            const hd: usize = p.head_dim;
            const row_values = @as(usize, p.kv_head_count) * hd;
            // Per run: each key's first value in the cache (its row, this KV head), the scores and softmax steps
            // of every query, then the V-sums.
            var offsets: [run_keys]usize = undefined;
            var scores: [g][run_keys]f32 = undefined;
            var steps: [g][run_keys]VStep = undefined;
            var r0 = from;
            while (r0 < to) : (r0 += run_keys) {
                const keys = @min(to, r0 + run_keys) - r0;
                for (offsets[0..keys], r0..) |*o, position| {
                    const key_position = if (p.ring_rows != 0) position % p.ring_rows else position;
                    o.* = key_position * row_values + kv_head * hd;
                }
                for (offsets[0..keys], 0..) |o, j| {
                    inline for (0..g) |h| scores[h][j] = self.scaledScore(self.keyDot(o, &queries[h]));
                }
                inline for (0..g) |h| softmaxSteps(scores[h][0..keys], &states[h], steps[h][0..keys]);
                switch (kv) {
                    .f16 => {
                        const v_rows: [*]const f16 = @ptrCast(@alignCast(self.v_cache));
                        var e: usize = 0;
                        while (e + 64 <= hd) : (e += 64) vSumF16(64, g, states, &steps, v_rows, offsets[0..keys], e);
                        while (e + 8 <= hd) : (e += 8) vSumF16(8, g, states, &steps, v_rows, offsets[0..keys], e);
                        while (e < hd) : (e += 1) vSumF16(1, g, states, &steps, v_rows, offsets[0..keys], e);
                    },
                    .q8_0 => {
                        comptime std.debug.assert(g == 1);
                        const state = &states[0];
                        const v_rows: [*]const blocks.BlockQ8_0 = @ptrCast(@alignCast(self.v_cache));
                        var v32_buf: [max_head_dim]f32 = undefined;
                        for (steps[0][0..keys], offsets[0..keys]) |step, o| {
                            if (step.rescale) for (state.acc32[0..hd]) |*a| {
                                a.* *= step.ms;
                            };
                            reference.dequantizeRow(.q8_0, v_rows[o / 32 ..][0 .. hd / 32], v32_buf[0..hd]);
                            for (state.acc32[0..hd], v32_buf[0..hd]) |*a, v| a.* = simd.fusedMulAdd(f32, v, step.vs, a.*);
                        }
                    },
                }
            }
        }

        /// A query's raw score against the key whose values start at `offset` in the K cache: ggml's f16 dot
        /// (f16 cache) or its q8_0 vec_dot (q8_0 cache).
        fn keyDot(self: *const Self, offset: usize, query: *const Query) f32 {
            const hd: usize = self.params.head_dim;
            return switch (kv) {
                .f16 => dotF16((@as([*]const f16, @ptrCast(@alignCast(self.k_cache))) + offset)[0..hd], query.q16[0..hd]),
                .q8_0 => vec_dot.vecDot(.q8_0, (@as([*]const blocks.BlockQ8_0, @ptrCast(@alignCast(self.k_cache))) + offset / 32)[0 .. hd / 32], query.q8[0 .. hd / 32]),
            };
        }

        /// Heads head0..head0 + g of one token (one KV head).
        fn heads(self: *const Self, comptime g: usize, token: usize, head0: usize) void {
            const p = self.params;
            const hd: usize = p.head_dim;
            const kv_head = head0 / (p.head_count / p.kv_head_count);
            var queries: [g]Query = undefined;
            var states: [g]State = undefined;
            inline for (0..g) |h| self.prepareQuery(token, head0 + h, &queries[h]);
            const keys = visibleKeys(p, self.positions[token]);
            const out = self.out[(token * p.head_count + head0) * hd ..][0 .. g * hd];
            if (self.chunks != 0) return self.split(g, &queries, kv_head, keys.first, keys.end, &states, out);
            inline for (0..g) |h| self.resetState(&states[h]);
            if (keys.first < keys.end) self.accumulate(g, &queries, kv_head, keys.first, keys.end, &states);
            inline for (0..g) |h| {
                const state = &states[h];
                const inv: f32 = if (state.sum == 0) 0 else 1.0 / state.sum;
                switch (kv) {
                    .f16 => for (state.acc16[0..hd], out[h * hd ..][0..hd]) |a, *o| {
                        o.* = @as(f32, a) * inv;
                    },
                    .q8_0 => for (state.acc32[0..hd], out[h * hd ..][0..hd]) |a, *o| {
                        o.* = a * inv;
                    },
                }
            }
        }

        /// llama.cpp's split path (splitChunks): the cells in `chunks` equal runs, each run's partial softmax,
        /// merged in order as ggml_flash_attn_ext_reduce_partials does.
        fn split(self: *const Self, comptime g: usize, queries: *const [g]Query, kv_head: usize, first: usize, end: usize, states: *[g]State, out: []f32) void {
            const hd: usize = self.params.head_dim;
            const cells: usize = self.params.kv_cells;
            const chunk_size = (cells + self.chunks - 1) / self.chunks;
            var merged_max: [g]f32 = @splat(-std.math.inf(f32));
            var merged_sum: [g]f32 = @splat(0);
            var merged: [g][max_head_dim]f32 = undefined;
            inline for (0..g) |h| @memset(merged[h][0..hd], 0);
            for (0..self.chunks) |c| {
                const c0 = c * chunk_size;
                if (c0 >= cells) continue;
                const c1 = @min(cells, c0 + chunk_size);
                inline for (0..g) |h| self.resetState(&states[h]);
                const from = @max(first, c0);
                const to = @min(end, c1);
                if (from < to) self.accumulate(g, queries, kv_head, from, to, states);
                inline for (0..g) |h| {
                    const state = &states[h];
                    if (state.sum != 0) {
                        const new_max = @max(merged_max[h], state.max);
                        const scale_old = simd.expf(merged_max[h] - new_max);
                        const scale_new = simd.expf(state.max - new_max);
                        // GCC contracts V·so + Vc·sn as fma(V, so, round(Vc·sn)) (the fixture tells the two ways apart).
                        for (merged[h][0..hd], state.acc16[0..hd]) |*m, a| m.* = simd.fusedMulAdd(f32, m.*, scale_old, @as(f32, a) * scale_new);
                        merged_sum[h] = simd.fusedMulAdd(f32, merged_sum[h], scale_old, state.sum * scale_new);
                        merged_max[h] = new_max;
                    }
                }
            }
            inline for (0..g) |h| {
                const inv: f32 = if (merged_sum[h] == 0) 0 else 1.0 / merged_sum[h];
                for (merged[h][0..hd], out[h * hd ..][0..hd]) |m, *o| o.* = m * inv;
            }
        }

        pub fn run(self: *const Self, pool: *threadpool.Pool) void {
            pool.parallel(Self, self, work);
        }
    };
}

pub const Attention = AttentionOf(.f16);

// ---- batches of queries: llama.cpp's tiled flash attention --------------------------------------------------

/// From this many query tokens in one call, llama.cpp (f16 cache) switches to its tiled flash attention
/// (ggml_compute_forward_flash_attn_ext_tiled): Q stays f32, scores and the weighted sum of V are f32 matrix
/// products over tiles of 64 keys, the softmax is ggml's vector exp. It sums differently from the one-query
/// path, so zinc takes the same switch at the same size to keep prefill identical.
pub const tiled_min_tokens = 64;
const key_tile = 64;
const F32x8 = @Vector(8, f32);

pub fn usesTiled(p: AttentionParams) bool {
    return p.kv_type == @intFromEnum(KvType.f16) and p.tokens >= tiled_min_tokens and p.head_dim % 8 == 0;
}

/// C[m×n] += A[m×k]·B[k×n] (row-major, leading dimensions given) as ggml's simd_gemm sums it: every element of
/// C is one chain of fused multiply-adds over k in order, starting from C's value. How the chains are grouped
/// into register tiles does not change a bit. n must be a multiple of 8.
fn gemmF32(m: usize, n: usize, k: usize, a: [*]const f32, lda: usize, b: [*]const f32, ldb: usize, c: [*]f32, ldc: usize) void {
    std.debug.assert(n % 8 == 0);
    var i: usize = 0;
    while (i + 6 <= m) : (i += 6) gemmRows(6, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc);
    while (i < m) : (i += 1) gemmRows(1, n, k, a + i * lda, lda, b, ldb, c + i * ldc, ldc);
}

inline fn gemmRows(comptime rm: usize, n: usize, k: usize, a: [*]const f32, lda: usize, b: [*]const f32, ldb: usize, c: [*]f32, ldc: usize) void {
    var j: usize = 0;
    while (j + 16 <= n) : (j += 16) gemmTile(rm, 2, k, a, lda, b + j, ldb, c + j, ldc);
    while (j < n) : (j += 8) gemmTile(rm, 1, k, a, lda, b + j, ldb, c + j, ldc);
}

/// rm rows × rn·8 columns of C held in registers through the whole k loop (6 × 2 = 12 accumulators on AVX2).
inline fn gemmTile(comptime rm: usize, comptime rn: usize, k: usize, a: [*]const f32, lda: usize, b: [*]const f32, ldb: usize, c: [*]f32, ldc: usize) void {
    var acc: [rm][rn]F32x8 = undefined;
    inline for (0..rm) |i| inline for (0..rn) |r| {
        acc[i][r] = c[i * ldc + r * 8 ..][0..8].*;
    };
    for (0..k) |kk| {
        var bv: [rn]F32x8 = undefined;
        inline for (0..rn) |r| bv[r] = b[kk * ldb + r * 8 ..][0..8].*;
        inline for (0..rm) |i| {
            const av: F32x8 = @splat(a[i * lda + kk]);
            inline for (0..rn) |r| acc[i][r] = simd.fusedMulAdd(F32x8, bv[r], av, acc[i][r]);
        }
    }
    inline for (0..rm) |i| inline for (0..rn) |r| {
        c[i * ldc + r * 8 ..][0..8].* = acc[i][r];
    };
}

/// Attention of a batch of queries over an f16 cache, as llama.cpp's tiled path computes each query row:
/// keys in tiles of 64 positions from position 0; per tile, scores s = (q·k, one f32 fma chain over the head
/// dimension) × scale (then soft-capped), masked keys −inf; a tile with no visible key is skipped; otherwise
/// M' = max(M, tile max), and if it grew, V-sum and S are scaled by expf(M − M'); p = ggml_v_expf(s − M') in
/// groups of 8 (hsum_float_8 each, summed in f64 and added to S once per tile); V-sum[d] += p·v[d] as one fma
/// chain over the tile's keys in order. Output = V-sum / S.
///
/// Work is split by (KV head, block of query tokens): the query heads sharing a KV head and the block's tokens
/// form the rows of one matrix product, so each K and V tile is converted to f32 once for all of them.
pub const Tiled = struct {
    params: AttentionParams,
    q: [*]const f32,
    positions: [*]const i32,
    k_cache: [*]const f16,
    v_cache: [*]const f16,
    out: [*]f32,
    pool: *const threadpool.Pool,
    /// Jobs are taken in order from this counter, the latest (heaviest) query blocks first.
    next: *std.atomic.Value(usize),
    block_tokens: usize,
    block_count: usize,

    const Self = @This();

    /// The rows of one job that fit a thread's scratch beside the K and V tiles.
    fn maxRows(hd: usize) usize {
        const tiles = 2 * key_tile * hd;
        const per_row = 2 * hd + key_tile + 2;
        return @min(256, (threadpool.scratch_per_thread / 4 - tiles) / per_row);
    }

    pub fn init(params: AttentionParams, q: [*]const f32, positions: [*]const i32, k_cache: [*]const u8, v_cache: [*]const u8, out: [*]f32, pool: *const threadpool.Pool, next: *std.atomic.Value(usize)) Self {
        const group = params.head_count / params.kv_head_count;
        var block_tokens = @max(1, maxRows(params.head_dim) / group);
        // Enough jobs that the threads finish together.
        const min_jobs = 4 * pool.thread_count;
        while (block_tokens > 8 and params.kv_head_count * ((params.tokens + block_tokens - 1) / block_tokens) < min_jobs) block_tokens /= 2;
        return .{
            .params = params,
            .q = q,
            .positions = positions,
            .k_cache = @ptrCast(@alignCast(k_cache)),
            .v_cache = @ptrCast(@alignCast(v_cache)),
            .out = out,
            .pool = pool,
            .next = next,
            .block_tokens = block_tokens,
            .block_count = (params.tokens + block_tokens - 1) / block_tokens,
        };
    }

    pub fn run(self: *const Self, pool: *threadpool.Pool) void {
        self.next.store(0, .monotonic);
        pool.parallel(Self, self, work);
    }

    fn work(self: *const Self, index: usize, _: usize) void {
        const scratch: []f32 = @alignCast(std.mem.bytesAsSlice(f32, self.pool.scratchFor(index)));
        const kv_heads: usize = self.params.kv_head_count;
        while (true) {
            const job = self.next.fetchAdd(1, .monotonic);
            if (job >= self.block_count * kv_heads) return;
            self.block(scratch, self.block_count - 1 - job / kv_heads, job % kv_heads);
        }
    }

    fn block(self: *const Self, scratch: []f32, block_index: usize, kv_head: usize) void {
        const p = self.params;
        const hd: usize = p.head_dim;
        const group: usize = p.head_count / p.kv_head_count;
        const row_values = @as(usize, p.kv_head_count) * hd;
        const t0 = block_index * self.block_tokens;
        const t1 = @min(@as(usize, p.tokens), t0 + self.block_tokens);
        const rows = (t1 - t0) * group;

        // Scratch: K tile transposed [hd][64], V tile [64][hd], then per row: Q, V-sum, p, M, S.
        var at: usize = 0;
        const kt = scratch[at..][0 .. hd * key_tile];
        at += kt.len;
        const vt = scratch[at..][0 .. key_tile * hd];
        at += vt.len;
        const qs = scratch[at..][0 .. rows * hd];
        at += qs.len;
        const vsum = scratch[at..][0 .. rows * hd];
        at += vsum.len;
        const ps = scratch[at..][0 .. rows * key_tile];
        at += ps.len;
        const ms = scratch[at..][0..rows];
        at += rows;
        const ss = scratch[at..][0..rows];

        // Row r is token t0 + r / group, query head kv_head · group + r % group: a token's heads are adjacent.
        for (t0..t1) |t| {
            const src = self.q[(t * p.head_count + kv_head * group) * hd ..][0 .. group * hd];
            @memcpy(qs[(t - t0) * group * hd ..][0 .. group * hd], src);
        }
        @memset(vsum, 0);
        @memset(ms, -std.math.inf(f32));
        @memset(ss, 0);

        var lo: usize = std.math.maxInt(usize);
        var hi: usize = 0;
        for (t0..t1) |t| {
            const v = visibleKeys(p, self.positions[t]);
            lo = @min(lo, v.first);
            hi = @max(hi, v.end);
        }
        const scale = if (p.softcap != 0) p.scale / p.softcap else p.scale;
        var c0 = lo / key_tile * key_tile;
        while (c0 < hi) : (c0 += key_tile) {
            const keys = @min(key_tile, hi - c0);
            const cols = (keys + 7) / 8 * 8;
            // The tile in f32: K transposed so that 8 keys are one vector; columns past `keys` are zero.
            for (0..cols) |j| {
                if (j < keys) {
                    const position = c0 + j;
                    const row = if (p.ring_rows != 0) position % p.ring_rows else position;
                    const k = self.k_cache[row * row_values + kv_head * hd ..][0..hd];
                    const v = self.v_cache[row * row_values + kv_head * hd ..][0..hd];
                    for (0..hd) |d| kt[d * key_tile + j] = k[d];
                    for (vt[j * hd ..][0..hd], v) |*o, x| o.* = x;
                } else {
                    for (0..hd) |d| kt[d * key_tile + j] = 0;
                }
            }
            @memset(ps[0 .. rows * key_tile], 0);
            gemmF32(rows, cols, hd, qs.ptr, hd, kt.ptr, key_tile, ps.ptr, key_tile);

            for (0..rows) |r| {
                const vis = visibleKeys(p, self.positions[t0 + r / group]);
                const row = ps[r * key_tile ..][0..cols];
                var tile_max: f32 = -std.math.inf(f32);
                for (row, 0..) |*s, j| {
                    const position = c0 + j;
                    if (position < vis.first or position >= vis.end) {
                        s.* = -std.math.inf(f32);
                        continue;
                    }
                    var x = s.* * scale;
                    if (p.softcap != 0) x = simd.tanhf(x) * p.softcap;
                    s.* = x;
                    tile_max = @max(tile_max, x);
                }
                if (tile_max == -std.math.inf(f32)) {
                    @memset(row, 0);
                    continue;
                }
                const old = ms[r];
                const new = @max(old, tile_max);
                if (new > old) {
                    const shrink = simd.expf(old - new);
                    for (vsum[r * hd ..][0..hd]) |*a| a.* *= shrink;
                    ss[r] *= shrink;
                }
                ms[r] = new;
                var sum: f64 = 0;
                var j: usize = 0;
                while (j < cols) : (j += 8) {
                    const e = simd.vexp(8, @as(F32x8, row[j..][0..8].*) - @as(F32x8, @splat(new)));
                    row[j..][0..8].* = e;
                    sum += simd.hsum8(e);
                }
                ss[r] = @floatCast(@as(f64, ss[r]) + sum);
            }
            // Keys past `keys` have p = 0 and would only add exact zeros.
            gemmF32(rows, hd, keys, ps.ptr, key_tile, vt.ptr, hd, vsum.ptr, hd);
        }

        for (0..rows) |r| {
            const t = t0 + r / group;
            const head = kv_head * group + r % group;
            const inv: f32 = if (ss[r] == 0) 0 else 1.0 / ss[r];
            const out = self.out[(t * p.head_count + head) * hd ..][0..hd];
            for (out, vsum[r * hd ..][0..hd]) |*o, a| o.* = a * inv;
        }
    }
};

test "attention with one key returns that key's value; GQA maps heads to kv heads" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    const hd = 4;
    // 2 query heads share 1 kv head; 2 cached positions.
    const k = [_]f16{ 1, 0, 0, 0, 0, 1, 0, 0 };
    const v = [_]f16{ 1, 2, 3, 4, 5, 6, 7, 8 };
    const q = [_]f32{ 0, 100, 0, 0, 100, 0, 0, 0 }; // head 0 prefers key 1, head 1 key 0
    const positions = [_]i32{1};
    var out: [2 * hd]f32 = undefined;
    const att = Attention{
        .params = .{ .tokens = 1, .head_count = 2, .kv_head_count = 1, .head_dim = hd, .kv_len = 2, .window = 0, .scale = 1, .softcap = 0, .kv_type = 0, .ring_rows = 0, .kv_cells = 0 },
        .q = &q,
        .positions = &positions,
        .k_cache = @ptrCast(&k),
        .v_cache = @ptrCast(&v),
        .out = &out,
    };
    att.run(&pool);
    try std.testing.expectApproxEqAbs(@as(f32, 5), out[0], 1e-3);
    try std.testing.expectApproxEqAbs(@as(f32, 1), out[4], 1e-3);
    // Causal: a query at position 0 only sees key 0.
    const positions0 = [_]i32{0};
    var att0 = att;
    att0.positions = &positions0;
    att0.run(&pool);
    try std.testing.expectApproxEqAbs(@as(f32, 1), out[0], 1e-3);
    // Window 1: a query at position 1 only sees key 1.
    var attw = att;
    attw.params.window = 1;
    attw.run(&pool);
    try std.testing.expectApproxEqAbs(@as(f32, 5), out[4], 1e-3);
}
