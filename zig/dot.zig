//! f32 dot products: the inner loop of f32 matrix × vector and of the f32 paths of other kernels. Scalar references first (they are the spec), then
//! the SIMD versions the library variant is compiled for. Tests compare the two.
const std = @import("std");
const simd = @import("simd.zig");

// ---- scalar references -------------------------------------------------------------------------------------

pub fn dotF32Reference(a: []const f32, b: []const f32) f32 {
    std.debug.assert(a.len == b.len);
    var sum: f64 = 0;
    for (a, b) |x, y| sum += @as(f64, x) * @as(f64, y);
    return @floatCast(sum);
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

// ---- tests --------------------------------------------------------------------------------------------------

const testing = std.testing;

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
