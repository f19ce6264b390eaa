//! Matrix × vector products split across the thread pool by rows. Weights are row-major as GGUF stores them:
//! `rows` rows of `cols` values each, i.e. ggml's ne0 = cols, ne1 = rows.
const std = @import("std");
const dot = @import("dot.zig");
const blocks = @import("quants/blocks.zig");
const threadpool = @import("threadpool.zig");
const BlockQ8_0 = blocks.BlockQ8_0;

pub const MatvecF32 = struct {
    weights: []const f32, // [rows][cols]
    x: []const f32, // [cols]
    y: []f32, // [rows]
    cols: usize,

    pub fn work(self: *const MatvecF32, index: usize, count: usize) void {
        const r = threadpool.splitRange(self.y.len, index, count);
        for (r.start..r.end) |row| self.y[row] = dot.dotF32(self.weights[row * self.cols ..][0..self.cols], self.x);
    }
};

pub fn matvecF32(pool: *threadpool.Pool, weights: []const f32, x: []const f32, y: []f32) void {
    std.debug.assert(weights.len == x.len * y.len);
    const ctx = MatvecF32{ .weights = weights, .x = x, .y = y, .cols = x.len };
    pool.parallel(MatvecF32, &ctx, MatvecF32.work);
}

pub const MatvecQ8_0 = struct {
    weights: []const BlockQ8_0, // [rows][cols / 32]
    x: []const BlockQ8_0, // [cols / 32], the activation quantized once per call
    y: []f32, // [rows]

    pub fn work(self: *const MatvecQ8_0, index: usize, count: usize) void {
        const r = threadpool.splitRange(self.y.len, index, count);
        const nb = self.x.len;
        for (r.start..r.end) |row| self.y[row] = dot.vecDotQ8_0Q8_0(self.weights[row * nb ..][0..nb], self.x);
    }
};

pub fn matvecQ8_0(pool: *threadpool.Pool, weights: []const BlockQ8_0, x: []const BlockQ8_0, y: []f32) void {
    std.debug.assert(weights.len == x.len * y.len);
    const ctx = MatvecQ8_0{ .weights = weights, .x = x, .y = y };
    pool.parallel(MatvecQ8_0, &ctx, MatvecQ8_0.work);
}

test "matvecF32 on the pool equals row-by-row reference dots" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 2);
    defer pool.deinit();
    var prng = std.Random.DefaultPrng.init(3);
    const rand = prng.random();
    const rows = 13;
    const cols = 67;
    var w: [rows * cols]f32 = undefined;
    var x: [cols]f32 = undefined;
    for (&w) |*v| v.* = rand.floatNorm(f32);
    for (&x) |*v| v.* = rand.floatNorm(f32);
    var y: [rows]f32 = undefined;
    matvecF32(&pool, &w, &x, &y);
    for (0..rows) |r| try std.testing.expectApproxEqAbs(dot.dotF32Reference(w[r * cols ..][0..cols], &x), y[r], 1e-4);
}
