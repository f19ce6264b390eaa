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

/// a * b + c rounded once, on every target: the FMA instruction where there is one, else compiler-rt's
/// correctly rounded software fma (slow, but the baseline variant then gives the same bits as the others).
pub inline fn fusedMulAdd(comptime T: type, a: T, b: T, c: T) T {
    return @mulAdd(T, a, b, c);
}

/// ggml's hsum_float_8: (x0+x4 + x2+x6) + (x1+x5 + x3+x7), in that association.
pub inline fn hsum8(x: @Vector(8, f32)) f32 {
    const r0 = x[0] + x[4];
    const r1 = x[1] + x[5];
    const r2 = x[2] + x[6];
    const r3 = x[3] + x[7];
    return (r0 + r2) + (r1 + r3);
}

/// e^x for a vector, operation for operation ggml's AVX2 `ggml_v_expf` (ARM optimized-routines: 1.45 ulp +
/// 0.5), including its path for lanes whose exponent leaves the normal range (|n| > 126: scaled in two steps;
/// |n| > 192: overflow to inf or underflow to 0), so that e^-inf is exactly 0 as in ggml's softmax.
pub fn vexp(comptime n: comptime_int, x: @Vector(n, f32)) @Vector(n, f32) {
    const V = @Vector(n, f32);
    const U = @Vector(n, u32);
    const r: V = @splat(0x1.8p23);
    const z = fusedMulAdd(V, x, @splat(0x1.715476p+0), r);
    const k_exp = z - r;
    const b = fusedMulAdd(V, -k_exp, @splat(0x1.7f7d1cp-20), fusedMulAdd(V, -k_exp, @splat(0x1.62e4p-1), x));
    const e = @as(U, @bitCast(z)) << @splat(23);
    const k: V = @bitCast(e +% @as(U, @splat(@bitCast(@as(f32, 1.0)))));
    const u = b * b;
    const j = fusedMulAdd(V, fusedMulAdd(V, fusedMulAdd(V, @splat(0x1.0e4020p-7), b, @splat(0x1.573e2ep-5)), u, fusedMulAdd(V, @splat(0x1.555e66p-3), b, @splat(0x1.fffdb6p-2))), u, @as(V, @splat(0x1.ffffecp-1)) * b);
    const c = @abs(k_exp) > @as(V, @splat(126));
    if (!@reduce(.Or, c)) return fusedMulAdd(V, j, k, k);
    const g: U = @select(u32, k_exp <= @as(V, @splat(0)), @as(U, @splat(0x82000000)), @as(U, @splat(0)));
    const s1: V = @bitCast(g +% @as(U, @splat(0x7f000000)));
    const s2: V = @bitCast(e -% g);
    const d = @abs(k_exp) > @as(V, @splat(192));
    return @select(f32, d, s1 * s1, @select(f32, c, fusedMulAdd(V, s2, j, s2) * s1, fusedMulAdd(V, k, j, k)));
}

// With libc linked (the shipped libraries), use the C library's expf/cosf/sinf/powf/tanhf so results round
// exactly as in llama.cpp, which calls the same functions. They are looked up with dlsym at run time: a
// plain extern reference can bind to compiler-rt's own copies linked into the library, which round
// differently. The static test executables use Zig's implementations.
const UnaryFn = *const fn (f32) callconv(.c) f32;
const BinaryFn = *const fn (f32, f32) callconv(.c) f32;
const Libm = struct { expf: UnaryFn, cosf: UnaryFn, sinf: UnaryFn, tanhf: UnaryFn, powf: BinaryFn };
var libm_table: ?Libm = null;

fn lookup(comptime T: type, name: [*:0]const u8) ?T {
    const sym = std.c.dlsym(null, name) orelse return null;
    return @ptrCast(@alignCast(sym));
}

fn libm() ?*const Libm {
    if (!builtin.link_libc) return null;
    if (libm_table == null) {
        libm_table = .{
            .expf = lookup(UnaryFn, "expf") orelse return null,
            .cosf = lookup(UnaryFn, "cosf") orelse return null,
            .sinf = lookup(UnaryFn, "sinf") orelse return null,
            .tanhf = lookup(UnaryFn, "tanhf") orelse return null,
            .powf = lookup(BinaryFn, "powf") orelse return null,
        };
    }
    return &libm_table.?;
}

/// Resolves the C library's functions once, before any kernel runs on several threads.
pub fn initLibm() void {
    _ = libm();
}

pub fn expf(x: f32) f32 {
    return if (libm()) |m| m.expf(x) else @exp(x);
}
pub fn cosf(x: f32) f32 {
    return if (libm()) |m| m.cosf(x) else @cos(x);
}
pub fn sinf(x: f32) f32 {
    return if (libm()) |m| m.sinf(x) else @sin(x);
}
pub fn powf(x: f32, y: f32) f32 {
    return if (libm()) |m| m.powf(x, y) else std.math.pow(f32, x, y);
}
pub fn tanhf(x: f32) f32 {
    return if (libm()) |m| m.tanhf(x) else std.math.tanh(x);
}
