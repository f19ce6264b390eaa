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

/// f32 · f32 in ggml's AVX2 order (ggml_vec_dot_f32): four 8-lane fused accumulators over steps of 32, then
/// GGML_F32x8_REDUCE, then a scalar tail in f64. Identical on every variant.
pub fn dotF32(a: []const f32, b: []const f32) f32 {
    std.debug.assert(a.len == b.len);
    const V8 = @Vector(8, f32);
    var sum: [4]V8 = .{ @splat(0), @splat(0), @splat(0), @splat(0) };
    const np = a.len & ~@as(usize, 31);
    var i: usize = 0;
    while (i < np) : (i += 32) {
        inline for (0..4) |j| sum[j] = simd.fusedMulAdd(V8, a[i + j * 8 ..][0..8].*, b[i + j * 8 ..][0..8].*, sum[j]);
    }
    sum[0] += sum[2];
    sum[1] += sum[3];
    sum[0] += sum[1];
    const q = @as(@Vector(4, f32), @shuffle(f32, sum[0], undefined, [4]i32{ 4, 5, 6, 7 })) + @as(@Vector(4, f32), @shuffle(f32, sum[0], undefined, [4]i32{ 0, 1, 2, 3 }));
    var total: f64 = (q[0] + q[1]) + (q[2] + q[3]);
    while (i < a.len) : (i += 1) total += a[i] * b[i];
    return @floatCast(total);
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
