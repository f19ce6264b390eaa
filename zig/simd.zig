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

/// a * b + c rounded once, on every target: the FMA instruction where there is one, else f64 arithmetic
/// (the product of two f32 is exact in f64). Kernels that must agree bit for bit across variants use it.
pub inline fn fusedMulAdd(comptime T: type, a: T, b: T, c: T) T {
    if (has_fma) return @mulAdd(T, a, b, c);
    const W = if (@typeInfo(T) == .vector) @Vector(@typeInfo(T).vector.len, f64) else f64;
    const wa: W = a;
    const wb: W = b;
    const wc: W = c;
    return @floatCast(wa * wb + wc);
}

/// ggml's hsum_float_8: (x0+x4 + x2+x6) + (x1+x5 + x3+x7), in that association.
pub inline fn hsum8(x: @Vector(8, f32)) f32 {
    const r0 = x[0] + x[4];
    const r1 = x[1] + x[5];
    const r2 = x[2] + x[6];
    const r3 = x[3] + x[7];
    return (r0 + r2) + (r1 + r3);
}

// With libc linked (the shipped libraries), use its expf/cosf/sinf/powf so results round exactly as in
// llama.cpp, which calls the same functions; the static test executables fall back to Zig's own.
const libm = struct {
    extern "c" fn expf(x: f32) f32;
    extern "c" fn cosf(x: f32) f32;
    extern "c" fn sinf(x: f32) f32;
    extern "c" fn powf(x: f32, y: f32) f32;
    extern "c" fn tanhf(x: f32) f32;
};
pub fn expf(x: f32) f32 {
    return if (builtin.link_libc) libm.expf(x) else @exp(x);
}
pub fn cosf(x: f32) f32 {
    return if (builtin.link_libc) libm.cosf(x) else @cos(x);
}
pub fn sinf(x: f32) f32 {
    return if (builtin.link_libc) libm.sinf(x) else @sin(x);
}
pub fn powf(x: f32, y: f32) f32 {
    return if (builtin.link_libc) libm.powf(x, y) else std.math.pow(f32, x, y);
}
pub fn tanhf(x: f32) f32 {
    return if (builtin.link_libc) libm.tanhf(x) else std.math.tanh(x);
}
