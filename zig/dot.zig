//! Dot products: the inner loop of every matrix × vector. Scalar references first (they are the spec), then
//! the SIMD versions the library variant is compiled for. Tests compare the two.
const std = @import("std");
const simd = @import("simd.zig");
const blocks = @import("quants/blocks.zig");
const BlockQ8_0 = blocks.BlockQ8_0;

// ---- scalar references -------------------------------------------------------------------------------------

pub fn dotF32Reference(a: []const f32, b: []const f32) f32 {
    std.debug.assert(a.len == b.len);
    var sum: f64 = 0;
    for (a, b) |x, y| sum += @as(f64, x) * @as(f64, y);
    return @floatCast(sum);
}

pub fn vecDotQ8_0Q8_0Reference(x: []const BlockQ8_0, y: []const BlockQ8_0) f32 {
    std.debug.assert(x.len == y.len);
    var sum: f32 = 0;
    for (x, y) |bx, by| {
        var isum: i32 = 0;
        for (bx.qs, by.qs) |qx, qy| isum += @as(i32, qx) * @as(i32, qy);
        sum += @as(f32, @floatFromInt(isum)) * (@as(f32, bx.d) * @as(f32, by.d));
    }
    return sum;
}

// ---- SIMD ---------------------------------------------------------------------------------------------------

pub fn dotF32(a: []const f32, b: []const f32) f32 {
    std.debug.assert(a.len == b.len);
    const lanes = simd.f32_lanes;
    const V = simd.F32Vec;
    const n = a.len;
    // Four independent accumulators hide the latency of the multiply-add chain.
    var acc: [4]V = .{ @splat(0), @splat(0), @splat(0), @splat(0) };
    var i: usize = 0;
    while (i + 4 * lanes <= n) : (i += 4 * lanes) {
        inline for (0..4) |k| {
            acc[k] = simd.mulAdd(V, simd.load(lanes, f32, a, i + k * lanes), simd.load(lanes, f32, b, i + k * lanes), acc[k]);
        }
    }
    while (i + lanes <= n) : (i += lanes) {
        acc[0] = simd.mulAdd(V, simd.load(lanes, f32, a, i), simd.load(lanes, f32, b, i), acc[0]);
    }
    var sum = @reduce(.Add, (acc[0] + acc[1]) + (acc[2] + acc[3]));
    while (i < n) : (i += 1) sum += a[i] * b[i];
    return sum;
}

pub fn vecDotQ8_0Q8_0(x: []const BlockQ8_0, y: []const BlockQ8_0) f32 {
    std.debug.assert(x.len == y.len);
    const I16 = @Vector(blocks.qk, i16);
    var sum: f32 = 0;
    for (x, y) |bx, by| {
        const qx: I16 = @as(@Vector(blocks.qk, i8), bx.qs);
        const qy: I16 = @as(@Vector(blocks.qk, i8), by.qs);
        // |q| <= 127, so each product fits i16 and the 32-term sum fits i32.
        const isum = @reduce(.Add, @as(@Vector(blocks.qk, i32), qx * qy));
        sum += @as(f32, @floatFromInt(isum)) * (@as(f32, bx.d) * @as(f32, by.d));
    }
    return sum;
}

// ---- tests --------------------------------------------------------------------------------------------------

const testing = std.testing;
const q8_0 = @import("quants/q8_0.zig");

fn randomVector(rand: std.Random, out: []f32) void {
    for (out) |*v| v.* = rand.floatNorm(f32);
}

test "dotF32 matches the f64 reference on odd sizes and tails" {
    var prng = std.Random.DefaultPrng.init(42);
    const rand = prng.random();
    var a: [1031]f32 = undefined;
    var b: [1031]f32 = undefined;
    randomVector(rand, &a);
    randomVector(rand, &b);
    for ([_]usize{ 0, 1, 3, 7, 15, 16, 17, 63, 64, 65, 100, 257, 1031 }) |n| {
        const want = dotF32Reference(a[0..n], b[0..n]);
        const got = dotF32(a[0..n], b[0..n]);
        // f32 accumulation error grows like sqrt(n) * eps * |a||b|.
        try testing.expectApproxEqAbs(want, got, 1e-4 * @sqrt(@as(f32, @floatFromInt(n)) + 1));
    }
}

test "vecDotQ8_0Q8_0 equals the scalar reference exactly in the integer part" {
    var prng = std.Random.DefaultPrng.init(7);
    const rand = prng.random();
    const nb = 37;
    var xf: [nb * blocks.qk]f32 = undefined;
    var yf: [nb * blocks.qk]f32 = undefined;
    randomVector(rand, &xf);
    randomVector(rand, &yf);
    var xq: [nb]BlockQ8_0 = undefined;
    var yq: [nb]BlockQ8_0 = undefined;
    q8_0.quantizeRowQ8_0(&xf, &xq);
    q8_0.quantizeRowQ8_0(&yf, &yq);
    for ([_]usize{ 1, 2, 5, 36, 37 }) |n| {
        // Same per-block integer sums, same order of float accumulation: the results are identical.
        try testing.expectEqual(vecDotQ8_0Q8_0Reference(xq[0..n], yq[0..n]), vecDotQ8_0Q8_0(xq[0..n], yq[0..n]));
    }
    // And the quantized dot is close to the float one (ggml's normalized error budget for q8_0 is ~1e-3).
    const exact = dotF32Reference(&xf, &yf);
    const quantized = vecDotQ8_0Q8_0(&xq, &yq);
    try testing.expect(@abs(exact - quantized) <= 0.02 * @sqrt(@as(f32, nb * blocks.qk)));
}
