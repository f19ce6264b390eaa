//! Matrix products split across the thread pool. Weights are row-major as GGUF stores them: `rows` rows of
//! `cols` values (ggml's ne0 = cols, ne1 = rows), in any supported type. Activations arrive already quantized
//! to the weight type's activation type (blocks.activationType), one row per token.
//!
//! y[t][r] = dot(weights[r], x[t]) for `tokens` tokens. Each thread owns a contiguous range of weight rows and
//! walks the tokens in tiles, so a weight row is read from memory once per tile of tokens, not once per token.
const std = @import("std");
const b = @import("quants/blocks.zig");
const vec_dot = @import("quants/vec_dot.zig");
const threadpool = @import("threadpool.zig");

/// Decode walks a thread's rows as this many streams at once (rows i, i + n/4, i + n/2, i + 3n/4 of its n):
/// each stream is followed by the hardware prefetcher on its own, so more of the weights are in flight from
/// DRAM. Four streams read 20–40% faster than two here on every type and shape from 576×1536 to 3584×18944
/// (2 threads); six were no faster and spilled Q6_K's registers.
const decode_streams = 4;


/// Which of llama.cpp's summation orders a product follows, beyond what type and shape decide (vec_dot.Path).
pub const Order = struct {
    /// Sum each token exactly as a one-token product would (speculative verification must reproduce plain
    /// decoding bit for bit); otherwise a batch sums as llama.cpp's batched path does.
    one_token: bool = false,
    /// Q4_0, IQ4_NL and Q4_K matrices of rows in multiples of 8 in llama.cpp's repacked order (its default on AVX2),
    /// for one token or many; otherwise in its plain kernels' order.
    repacked: bool = false,
};

pub fn Matmul(comptime t: b.TensorType) type {
    const W = b.Block(t);
    const A = b.Block(b.activationType(t));
    return struct {
        weights: [*]const W,
        x: [*]const A,
        y: [*]f32,
        rows: usize,
        cols: usize,
        tokens: usize,
        path: vec_dot.Path,
        /// Tokens summed in a batch kernel's order where that differs from one token's (Q4_K repacked: llama.cpp's
        /// gemm takes the first T − T mod 4 of a batch, its gemv the rest); 0 with Order.one_token.
        batch_order_tokens: usize,
        pool: *threadpool.Pool,

        const Self = @This();

        fn work(self: *const Self, index: usize, count: usize) void {
            const w_blocks = self.cols / b.blockValues(t);
            const a_blocks = self.cols / b.blockValues(b.activationType(t));
            // Split rows in chunks of 4 so that neighbouring threads do not share output cache lines.
            const chunks = (self.rows + 3) / 4;
            const r = threadpool.splitRange(chunks, index, count);
            const row_start = r.start * 4;
            const row_end = @min(self.rows, r.end * 4);
            if ((t == .q4_0 or t == .iq4_nl) and self.path == .repacked) return self.workRepacked(index, row_start, row_end);
            if (t == .q4_k and self.path == .repacked) return self.workRepackedQ4_K(index, row_start, row_end);
            if (self.tokens == 1 and comptime vec_dot.hasDecodeRows(t)) {
                // Decode: decode_streams rows at once (one accumulator chain each), spread over this thread's
                // range. Streams a page or more apart are each followed by the hardware prefetcher; adjacent
                // rows (interleaved reads within one page) were 25–40% slower here.
                const x = self.x[0..a_blocks];
                var prepared_buffer: vec_dot.PreparedActivations = undefined;
                const prepared: ?*const vec_dot.PreparedActivations = if (comptime vec_dot.usesPreparedActivations(t)) (if (a_blocks <= vec_dot.max_prepared_blocks) blk: {
                    vec_dot.prepareActivations(t, x, &prepared_buffer);
                    break :blk &prepared_buffer;
                } else null) else null;
                const n = row_end - row_start;
                const part = n / decode_streams;
                for (row_start..row_start + part) |row| {
                    vec_dot.decodeRows(t, decode_streams, self.weights + row * w_blocks, part * w_blocks, x, prepared, self.y + row, part);
                }
                for (row_start + part * decode_streams..row_end) |row| vec_dot.decodeRows(t, 1, self.weights + row * w_blocks, w_blocks, x, prepared, self.y + row, 1);
                return;
            }
            const prepare = comptime vec_dot.usesPreparedActivations(t);
            // The tile's activations, laid out once per tile for all of this thread's rows; too big for a
            // worker's stack, so in the thread's scratch.
            comptime std.debug.assert(@sizeOf(vec_dot.PreparedTile) <= threadpool.scratch_per_thread);
            const tile: *vec_dot.PreparedTile = @ptrCast(self.pool.scratchFor(index).ptr);
            var t0: usize = 0;
            // Tokens per tile (8 or 12): the tile's activation rows, a few KB each, stay in L1/L2 beside the
            // weight rows being reused, and each weight block is unpacked once per tile.
            const token_tile = comptime vec_dot.tileTokens(t);
            while (t0 < self.tokens) : (t0 += token_tile) {
                const t1 = @min(self.tokens, t0 + token_tile);
                const prepared: ?*const vec_dot.PreparedTile = if (prepare and t1 - t0 > 1 and a_blocks <= vec_dot.max_prepared_blocks) blk: {
                    vec_dot.prepareTile(t, self.x + t0 * a_blocks, a_blocks, t1 - t0, tile);
                    break :blk tile;
                } else null;
                for (row_start..row_end) |row| {
                    const w = self.weights[row * w_blocks ..][0..w_blocks];
                    var out: [token_tile]f32 = undefined;
                    vec_dot.dotRowTile(t, w, self.x + t0 * a_blocks, a_blocks, t1 - t0, &out, self.path, prepared);
                    for (t0..t1, 0..) |tok, k| self.y[tok * self.rows + row] = out[k];
                }
            }
        }

        /// Q4_0 or IQ4_NL in llama.cpp's repacked order (vec_dot.vecDotRepacked4Bit): decode as decodeRows does, four
        /// streams; a batch in tiles of 16 tokens, one vector lane per token.
        fn workRepacked(self: *const Self, index: usize, row_start: usize, row_end: usize) void {
            const blocks = self.cols / b.qk;
            if (blocks > vec_dot.max_prepared_blocks) {
                // Wider than any supported model: the reference, per pair.
                for (row_start..row_end) |row| for (0..self.tokens) |tok| {
                    self.y[tok * self.rows + row] = vec_dot.vecDotRepacked4Bit(t, self.weights[row * blocks ..][0..blocks], self.x[tok * blocks ..][0..blocks]);
                };
                return;
            }
            if (self.tokens == 1) {
                var prepared: vec_dot.PreparedActivations = undefined;
                const x = self.x[0..blocks];
                vec_dot.prepareActivations(t, x, &prepared);
                const n = row_end - row_start;
                const part = n / decode_streams;
                for (row_start..row_start + part) |row| {
                    vec_dot.decodeRowsRepacked4Bit(t, decode_streams, self.weights + row * blocks, part * blocks, x, &prepared, self.y + row, part);
                }
                // A thread's rows come in chunks of 4, so this is empty today; it keeps any other split correct.
                for (row_start + part * decode_streams..row_end) |row| vec_dot.decodeRowsRepacked4Bit(t, 1, self.weights + row * blocks, blocks, x, &prepared, self.y + row, 1);
                return;
            }
            comptime std.debug.assert(@sizeOf(vec_dot.RepackedTile) <= threadpool.scratch_per_thread);
            const tile: *vec_dot.RepackedTile = @ptrCast(self.pool.scratchFor(index).ptr);
            var t0: usize = 0;
            while (t0 < self.tokens) : (t0 += vec_dot.repacked_tile) {
                const t1 = @min(self.tokens, t0 + vec_dot.repacked_tile);
                vec_dot.prepareRepackedTile(self.x + t0 * blocks, blocks, t1 - t0, tile);
                for (row_start..row_end) |row| {
                    var out: [vec_dot.repacked_tile]f32 = undefined;
                    vec_dot.repackedTile4Bit(t, self.weights[row * blocks ..][0..blocks], &out, tile);
                    for (t0..t1, 0..) |tok, k| self.y[tok * self.rows + row] = out[k];
                }
            }
        }

        /// Q4_K in llama.cpp's repacked order (vec_dot.vecDotRepackedQ4_K): the batch_order_tokens in tiles of 16
        /// tokens, a vector lane per token, in the gemm order; the rest one token at a time in the gemv order,
        /// as decode (four streams).
        fn workRepackedQ4_K(self: *const Self, index: usize, row_start: usize, row_end: usize) void {
            const blocks = self.cols / b.qk_k;
            const gemm_tokens = self.batch_order_tokens;
            if (blocks * (b.qk_k / b.qk) > vec_dot.max_prepared_blocks) {
                // Wider than any supported model: the reference, per pair.
                for (row_start..row_end) |row| for (0..self.tokens) |tok| {
                    self.y[tok * self.rows + row] = vec_dot.vecDotRepackedQ4_K(self.weights[row * blocks ..][0..blocks], self.x[tok * blocks ..][0..blocks], tok < gemm_tokens);
                };
                return;
            }
            comptime std.debug.assert(@sizeOf(vec_dot.RepackedTileQ8K) <= threadpool.scratch_per_thread);
            const tile: *vec_dot.RepackedTileQ8K = @ptrCast(self.pool.scratchFor(index).ptr);
            var t0: usize = 0;
            while (t0 < gemm_tokens) : (t0 += vec_dot.repacked_tile) {
                const t1 = @min(gemm_tokens, t0 + vec_dot.repacked_tile);
                vec_dot.prepareRepackedTileQ8K(self.x + t0 * blocks, blocks, t1 - t0, tile);
                for (row_start..row_end) |row| {
                    var out: [vec_dot.repacked_tile]f32 = undefined;
                    vec_dot.repackedTileQ4_K(self.weights[row * blocks ..][0..blocks], &out, tile);
                    for (t0..t1, 0..) |tok, k| self.y[tok * self.rows + row] = out[k];
                }
            }
            for (gemm_tokens..self.tokens) |tok| {
                const x = self.x[tok * blocks ..][0..blocks];
                const n = row_end - row_start;
                const part = n / decode_streams;
                for (row_start..row_start + part) |row| {
                    vec_dot.decodeRowsRepackedQ4_K(decode_streams, self.weights + row * blocks, part * blocks, x, self.y + tok * self.rows + row, part);
                }
                for (row_start + part * decode_streams..row_end) |row| vec_dot.decodeRowsRepackedQ4_K(1, self.weights + row * blocks, blocks, x, self.y + tok * self.rows + row, 1);
            }
        }

        pub fn run(pool: *threadpool.Pool, weights: [*]const W, x: [*]const A, y: [*]f32, rows: usize, cols: usize, tokens: usize, order: Order) void {
            const path: vec_dot.Path = vec_dot.pathFor(t, rows, if (order.one_token) 1 else tokens, order.repacked);
            const batch_order_tokens = if (order.one_token) 0 else tokens - tokens % 4;
            const ctx = Self{ .weights = weights, .x = x, .y = y, .rows = rows, .cols = cols, .tokens = tokens, .path = path, .batch_order_tokens = batch_order_tokens, .pool = pool };
            pool.parallel(Self, &ctx, work);
        }
    };
}

/// Quantizes `rows` activation rows of `cols` values to type t, in parallel over rows.
/// What rows are quantized for: activations round like ggml's x86 backend (quantizeActivationRow), weights
/// use the reference quantizers llama-quantize uses (quantizeRow).
pub const RowKind = enum { activations, weights };

pub fn QuantizeRows(comptime t: b.TensorType, comptime kind: RowKind) type {
    const A = b.Block(t);
    return struct {
        x: [*]const f32,
        out: [*]A,
        rows: usize,
        cols: usize,

        const Self = @This();
        const reference = @import("quants/reference.zig");

        fn work(self: *const Self, index: usize, count: usize) void {
            const per_row = self.cols / b.blockValues(t);
            const r = threadpool.splitRange(self.rows, index, count);
            for (r.start..r.end) |row| {
                const src = self.x[row * self.cols ..][0..self.cols];
                const dst = self.out[row * per_row ..][0..per_row];
                switch (kind) {
                    .activations => reference.quantizeActivationRow(t, src, dst),
                    .weights => reference.quantizeRow(t, src, dst),
                }
            }
        }

        pub fn run(pool: *threadpool.Pool, x: [*]const f32, out: [*]A, rows: usize, cols: usize) void {
            const ctx = Self{ .x = x, .out = out, .rows = rows, .cols = cols };
            if (rows == 1) return work(&ctx, 0, 1);
            pool.parallel(Self, &ctx, work);
        }
    };
}

test "Matmul over several tokens equals per-row reference dots for every weight type" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    var prng = std.Random.DefaultPrng.init(77);
    const rand = prng.random();
    const rows = 13;
    const cols = b.qk_k * 2;
    // Two full tiles of 12 (three of 8) and a partial one.
    const max_tokens = 29;
    inline for ([_]b.TensorType{ .q4_0, .q4_1, .q5_0, .q8_0, .q4_k, .q5_k, .q6_k, .q2_k, .f32 }) |t| {
        const W = b.Block(t);
        const at = comptime b.activationType(t);
        const A = b.Block(at);
        const wpr = comptime cols / b.blockValues(t);
        const apr = comptime cols / b.blockValues(at);
        var weights: [rows * wpr]W = undefined;
        var wf: [rows * cols]f32 = undefined;
        for (&wf) |*v| v.* = rand.floatNorm(f32);
        if (t == .q4_k or t == .q5_k or t == .q6_k or t == .q2_k) {
            // No reference quantizer for K types here: random bytes with sane scales are valid blocks.
            rand.bytes(std.mem.sliceAsBytes(&weights));
            for (&weights) |*blk| {
                blk.d = 0.01;
                if (@hasField(W, "dmin")) blk.dmin = 0.001;
            }
        } else {
            for (0..rows) |r| @import("quants/reference.zig").quantizeRow(t, wf[r * cols ..][0..cols], weights[r * wpr ..][0..wpr]);
        }
        var xf: [max_tokens * cols]f32 = undefined;
        for (&xf) |*v| v.* = rand.floatNorm(f32);
        var xa: [max_tokens * apr]A = undefined;
        // One token (decode: rows in pairs, activations prepared) and a batch (token tiles), odd row counts per thread.
        for ([_]usize{ 1, max_tokens }) |tokens| {
            QuantizeRows(at, .activations).run(&pool, &xf, &xa, tokens, cols);
            var y: [max_tokens * rows]f32 = undefined;
            Matmul(t).run(&pool, &weights, &xa, &y, rows, cols, tokens, .{});
            for (0..tokens) |tok| for (0..rows) |r| {
                const want = vec_dot.vecDotReference(t, weights[r * wpr ..][0..wpr], xa[tok * apr ..][0..apr]);
                if (t == .f32) {
                    try std.testing.expectApproxEqAbs(want, y[tok * rows + r], 1e-4);
                } else {
                    // The tiled path must give exactly the bits of the single-row dot.
                    try std.testing.expectEqual(vec_dot.vecDot(t, weights[r * wpr ..][0..wpr], xa[tok * apr ..][0..apr]), y[tok * rows + r]);
                    try std.testing.expectEqual(want, y[tok * rows + r]);
                }
            };
        }
    }
}

test "Q4_0 and IQ4_NL matrices of rows in multiples of 8 are summed in llama.cpp's repacked order when asked, one token or many" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    var prng = std.Random.DefaultPrng.init(78);
    const rand = prng.random();
    const reference = @import("quants/reference.zig");
    // 24 rows: each thread's 12 as four streams of three. Two column counts: an even number of blocks (two per
    // decode step) and an odd one (a last block alone).
    const rows = 24;
    const max_tokens = 37; // two full tiles of 16 and a partial one
    inline for ([_]b.TensorType{ .q4_0, .iq4_nl }) |t| inline for ([_]usize{ 4, 7 }) |blocks| {
        const cols = blocks * b.qk;
        var wf: [rows * cols]f32 = undefined;
        for (&wf) |*v| v.* = rand.floatNorm(f32);
        var weights: [rows * blocks]b.Block(t) = undefined;
        for (0..rows) |r| reference.quantizeRow(t, wf[r * cols ..][0..cols], weights[r * blocks ..][0..blocks]);
        var xf: [max_tokens * cols]f32 = undefined;
        for (&xf) |*v| v.* = rand.floatNorm(f32) * 3;
        var xa: [max_tokens * blocks]b.BlockQ8_0 = undefined;
        for ([_]usize{ 1, 2, 16, max_tokens }) |tokens| {
            QuantizeRows(.q8_0, .activations).run(&pool, &xf, &xa, tokens, cols);
            var y: [max_tokens * rows]f32 = undefined;
            Matmul(t).run(&pool, &weights, &xa, &y, rows, cols, tokens, .{ .repacked = true });
            var differs_from_plain = false;
            for (0..tokens) |tok| for (0..rows) |r| {
                const w = weights[r * blocks ..][0..blocks];
                const x = xa[tok * blocks ..][0..blocks];
                try std.testing.expectEqual(vec_dot.vecDotRepacked4Bit(t, w, x), y[tok * rows + r]);
                if (vec_dot.vecDot(t, w, x) != y[tok * rows + r]) differs_from_plain = true;
            };
            // The two orders round differently somewhere in this many sums, so the test tells them apart.
            if (tokens == max_tokens) try std.testing.expect(differs_from_plain);
            // Without the flag the same matrix keeps the plain kernels' order (IQ4_NL: its one-token order, asked
            // for, since a plain batch of it sums as tinyBLAS does).
            Matmul(t).run(&pool, &weights, &xa, &y, rows, cols, tokens, .{ .one_token = t == .iq4_nl });
            for (0..tokens) |tok| for (0..rows) |r| {
                try std.testing.expectEqual(vec_dot.vecDot(t, weights[r * blocks ..][0..blocks], xa[tok * blocks ..][0..blocks]), y[tok * rows + r]);
            };
        }
    };
}

test "Q4_0 decode of long rows (the non-temporal prefetching path) gives the repacked order's bits" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    const allocator = std.testing.allocator;
    var prng = std.Random.DefaultPrng.init(79);
    const rand = prng.random();
    const reference = @import("quants/reference.zig");
    // 8224 and 8256 columns: past the long-row threshold, an odd and an even number of blocks; 40 rows, so
    // that each thread's streams are longer than one row and the prefetches run past a row into the next.
    const rows = 40;
    for ([_]usize{ 257, 258 }) |blocks| {
        const cols = blocks * b.qk;
        const wf = try allocator.alloc(f32, cols);
        defer allocator.free(wf);
        const weights = try allocator.alloc(b.BlockQ4_0, rows * blocks);
        defer allocator.free(weights);
        for (0..rows) |r| {
            for (wf) |*v| v.* = rand.floatNorm(f32);
            reference.quantizeRow(.q4_0, wf, weights[r * blocks ..][0..blocks]);
        }
        for (wf) |*v| v.* = rand.floatNorm(f32) * 3;
        const xa = try allocator.alloc(b.BlockQ8_0, blocks);
        defer allocator.free(xa);
        QuantizeRows(.q8_0, .activations).run(&pool, wf.ptr, xa.ptr, 1, cols);
        var y: [rows]f32 = undefined;
        Matmul(.q4_0).run(&pool, weights.ptr, xa.ptr, &y, rows, cols, 1, .{ .repacked = true });
        for (0..rows) |r| try std.testing.expectEqual(vec_dot.vecDotRepacked4Bit(.q4_0, weights[r * blocks ..][0..blocks], xa), y[r]);
    }
}

test "Q4_K matrices of rows in multiples of 8 are summed in llama.cpp's repacked order when asked: gemm for a batch's first T - T mod 4 tokens, gemv for the rest" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    var prng = std.Random.DefaultPrng.init(79);
    const rand = prng.random();
    const quantize_k = @import("quants/quantize_k.zig");
    const rows = 24;
    const max_tokens = 37; // two full tiles of 16, a partial one of 4 and one token in the gemv order
    inline for ([_]usize{ 1, 3 }) |blocks| {
        const cols = blocks * b.qk_k;
        var wf: [rows * cols]f32 = undefined;
        for (&wf) |*v| v.* = rand.floatNorm(f32);
        var weights: [rows * blocks]b.BlockQ4_K = undefined;
        for (&weights, 0..) |*blk, i| quantize_k.quantizeQ4K(wf[i * b.qk_k ..][0..b.qk_k], blk);
        var xf: [max_tokens * cols]f32 = undefined;
        for (&xf) |*v| v.* = rand.floatNorm(f32) * 3;
        var xa: [max_tokens * blocks]b.BlockQ8_K = undefined;
        for ([_]usize{ 1, 2, 3, 4, 5, 16, 20, max_tokens }) |tokens| {
            QuantizeRows(.q8_k, .activations).run(&pool, &xf, &xa, tokens, cols);
            var y: [max_tokens * rows]f32 = undefined;
            for ([_]bool{ false, true }) |one_token| {
                Matmul(.q4_k).run(&pool, &weights, &xa, &y, rows, cols, tokens, .{ .repacked = true, .one_token = one_token });
                var differs_from_gemv = false;
                var differs_from_plain = false;
                for (0..tokens) |tok| for (0..rows) |r| {
                    const w = weights[r * blocks ..][0..blocks];
                    const x = xa[tok * blocks ..][0..blocks];
                    const gemm = !one_token and tok < tokens - tokens % 4;
                    try std.testing.expectEqual(vec_dot.vecDotRepackedQ4_K(w, x, gemm), y[tok * rows + r]);
                    if (vec_dot.vecDotRepackedQ4_K(w, x, false) != y[tok * rows + r]) differs_from_gemv = true;
                    if (vec_dot.vecDot(.q4_k, w, x) != y[tok * rows + r]) differs_from_plain = true;
                };
                // The orders round differently somewhere in this many sums, so the test tells them apart.
                if (tokens == max_tokens) {
                    try std.testing.expect(differs_from_plain);
                    try std.testing.expect(differs_from_gemv != one_token);
                }
            }
            // Without the flag the same matrix keeps the plain kernels' order.
            Matmul(.q4_k).run(&pool, &weights, &xa, &y, rows, cols, tokens, .{});
            for (0..tokens) |tok| for (0..rows) |r| {
                try std.testing.expectEqual(vec_dot.vecDot(.q4_k, weights[r * blocks ..][0..blocks], xa[tok * blocks ..][0..blocks]), y[tok * rows + r]);
            };
        }
    }
}
