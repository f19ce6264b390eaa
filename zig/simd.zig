//! Vector widths and the few helpers every SIMD kernel shares. The width follows the target this library
//! variant is compiled for: 4 lanes of f32 on baseline x86-64 (SSE2) and NEON, 8 on AVX2, 16 on AVX-512.
const std = @import("std");
const builtin = @import("builtin");

pub const f32_lanes: comptime_int = std.simd.suggestVectorLength(f32) orelse 4;
pub const F32Vec = @Vector(f32_lanes, f32);

/// Whether fused multiply-add is a single instruction here. On baseline x86-64 `@mulAdd` becomes a call into
/// compiler-rt's software fma, so there we multiply and add separately.
pub const has_fma = switch (builtin.cpu.arch) {
    .x86_64 => std.Target.x86.featureSetHas(builtin.cpu.features, .fma),
    .aarch64 => true,
    else => false,
};

pub inline fn mulAdd(comptime T: type, a: T, b: T, c: T) T {
    return if (has_fma) @mulAdd(T, a, b, c) else a * b + c;
}

pub inline fn load(comptime n: comptime_int, comptime T: type, src: []const T, offset: usize) @Vector(n, T) {
    return src[offset..][0..n].*;
}
