//! Q8_0 reference quantization and dequantization, bit-exact with ggml's `quantize_row_q8_0_ref`.
const std = @import("std");
const blocks = @import("blocks.zig");
const BlockQ8_0 = blocks.BlockQ8_0;
const qk = blocks.qk;

pub fn quantizeRowQ8_0(x: []const f32, y: []BlockQ8_0) void {
    std.debug.assert(x.len == y.len * qk);
    for (y, 0..) |*block, b| {
        const src = x[b * qk ..][0..qk];
        var amax: f32 = 0;
        for (src) |v| amax = @max(amax, @abs(v));
        const d = amax / 127.0;
        const id: f32 = if (d != 0) 1.0 / d else 0;
        block.d = @floatCast(d);
        // ggml rounds half away from zero (roundf), which is what @round does.
        for (src, 0..) |v, i| block.qs[i] = @intFromFloat(@round(v * id));
    }
}

pub fn dequantizeRowQ8_0(x: []const BlockQ8_0, y: []f32) void {
    std.debug.assert(y.len == x.len * qk);
    for (x, 0..) |block, b| {
        const d: f32 = block.d;
        for (block.qs, 0..) |q, i| y[b * qk + i] = @as(f32, @floatFromInt(q)) * d;
    }
}

test "q8_0 round trip stays within half a quantization step" {
    var prng = std.Random.DefaultPrng.init(1);
    const rand = prng.random();
    var x: [qk * 4]f32 = undefined;
    for (&x) |*v| v.* = rand.floatNorm(f32);
    var q: [4]BlockQ8_0 = undefined;
    quantizeRowQ8_0(&x, &q);
    var y: [qk * 4]f32 = undefined;
    dequantizeRowQ8_0(&q, &y);
    for (0..4) |b| {
        const step: f32 = q[b].d;
        for (0..qk) |i| try std.testing.expect(@abs(x[b * qk + i] - y[b * qk + i]) <= step * 0.5 + step * 0.01);
    }
}
