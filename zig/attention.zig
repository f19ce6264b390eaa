//! Attention of query tokens over the KV cache, as llama.cpp computes it by default on CPU (flash attention):
//! Q is rounded to f16 (K's dot type), scores are f16·f16 dots accumulated in f32, the softmax runs online,
//! and — with an f16 V cache — the weighted sum of V is accumulated in f16. The f16 accumulator is part of
//! what llama.cpp outputs, so zinc reproduces it to keep greedy decoding identical.
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
};

pub const KvType = enum(u32) { f16 = 0, q8_0 = 1 };

comptime {
    // TypeScript fills these 40 bytes field by field (src/native/index.ts, attentionBuffer).
    std.debug.assert(@sizeOf(AttentionParams) == 40);
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

/// y = f16(y + x * v), element-wise (ggml_vec_mad_f16).
fn madF16(y: []f16, x: []const f16, v: f32) void {
    for (y, x) |*o, p| o.* = @floatCast(simd.fusedMulAdd(f32, p, v, o.*));
}

/// y = f16(y * v) (ggml_vec_scale_f16).
fn scaleF16(y: []f16, v: f32) void {
    for (y) |*o| o.* = @floatCast(@as(f32, o.*) * v);
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

        const Self = @This();

        fn work(self: *const Self, index: usize, count: usize) void {
            const p = self.params;
            const jobs = @as(usize, p.tokens) * p.head_count;
            const r = threadpool.splitRange(jobs, index, count);
            for (r.start..r.end) |job| self.one(job / p.head_count, job % p.head_count);
        }

        fn one(self: *const Self, token: usize, head: usize) void {
            const p = self.params;
            const hd: usize = p.head_dim;
            const group = p.head_count / p.kv_head_count;
            const kv_head = head / group;
            const row_values = @as(usize, p.kv_head_count) * hd;
            const query_position = self.positions[token];
            const q = self.q[(token * p.head_count + head) * hd ..][0..hd];

            // With a soft-cap ggml folds the scale into the tanh argument: cap * tanh(s * scale / cap).
            const scale = if (p.softcap != 0) p.scale / p.softcap else p.scale;
            var max: f32 = -std.math.inf(f32);
            var sum: f32 = 0;

            var q16_buf: [max_head_dim]f16 = undefined;
            var acc16_buf: [max_head_dim]f16 = undefined;
            var q8_buf: [max_head_dim / 32]blocks.BlockQ8_0 = undefined;
            var acc32_buf: [max_head_dim]f32 = undefined;
            var v32_buf: [max_head_dim]f32 = undefined;
            const nb = hd / 32;
            switch (kv) {
                .f16 => {
                    for (q, q16_buf[0..hd]) |v, *o| o.* = @floatCast(v);
                    @memset(acc16_buf[0..hd], 0);
                },
                .q8_0 => {
                    reference.quantizeActivationRow(.q8_0, q, q8_buf[0..nb]);
                    @memset(acc32_buf[0..hd], 0);
                },
            }

            // Keys in position order, from the window's start to the query (causal): the same sequence of
            // online-softmax steps as visiting every cached row and skipping the masked ones.
            const first: usize = if (p.window != 0) @intCast(@max(0, @as(i64, query_position) - p.window + 1)) else 0;
            const end: usize = @min(@as(usize, p.kv_len), @as(usize, @intCast(@max(0, @as(i64, query_position) + 1))));
            for (first..end) |position| {
                const key_position = if (p.ring_rows != 0) position % p.ring_rows else position;
                var s: f32 = switch (kv) {
                    .f16 => blk: {
                        const rows: [*]const f16 = @ptrCast(@alignCast(self.k_cache));
                        break :blk dotF16(rows[key_position * row_values + kv_head * hd ..][0..hd], q16_buf[0..hd]);
                    },
                    .q8_0 => blk: {
                        const rows: [*]const blocks.BlockQ8_0 = @ptrCast(@alignCast(self.k_cache));
                        break :blk vec_dot.vecDot(.q8_0, rows[(key_position * row_values + kv_head * hd) / 32 ..][0..nb], q8_buf[0..nb]);
                    },
                };
                s *= scale;
                if (p.softcap != 0) s = p.softcap * simd.tanhf(s);
                var ms: f32 = 1;
                var vs: f32 = 1;
                const new_max = s > max;
                if (new_max) {
                    const old = max;
                    max = s;
                    ms = simd.expf(old - max);
                } else {
                    vs = simd.expf(s - max);
                }
                switch (kv) {
                    .f16 => {
                        const rows: [*]const f16 = @ptrCast(@alignCast(self.v_cache));
                        if (new_max) scaleF16(acc16_buf[0..hd], ms);
                        madF16(acc16_buf[0..hd], rows[key_position * row_values + kv_head * hd ..][0..hd], vs);
                    },
                    .q8_0 => {
                        const rows: [*]const blocks.BlockQ8_0 = @ptrCast(@alignCast(self.v_cache));
                        if (new_max) for (acc32_buf[0..hd]) |*a| {
                            a.* *= ms;
                        };
                        reference.dequantizeRow(.q8_0, rows[(key_position * row_values + kv_head * hd) / 32 ..][0..nb], v32_buf[0..hd]);
                        for (acc32_buf[0..hd], v32_buf[0..hd]) |*a, v| a.* = simd.fusedMulAdd(f32, v, vs, a.*);
                    },
                }
                // GCC contracts llama.cpp's S*ms + vs into one fma.
                sum = simd.fusedMulAdd(f32, sum, ms, vs);
            }
            const inv: f32 = if (sum == 0) 0 else 1.0 / sum;
            const out = self.out[(token * p.head_count + head) * hd ..][0..hd];
            switch (kv) {
                .f16 => for (acc16_buf[0..hd], out) |a, *o| {
                    o.* = @as(f32, a) * inv;
                },
                .q8_0 => for (acc32_buf[0..hd], out) |a, *o| {
                    o.* = a * inv;
                },
            }
        }

        pub fn run(self: *const Self, pool: *threadpool.Pool) void {
            pool.parallel(Self, self, work);
        }
    };
}

pub const Attention = AttentionOf(.f16);

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
        .params = .{ .tokens = 1, .head_count = 2, .kv_head_count = 1, .head_dim = hd, .kv_len = 2, .window = 0, .scale = 1, .softcap = 0, .kv_type = 0, .ring_rows = 0 },
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
