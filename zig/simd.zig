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

/// expf on n lanes with the C library's bits: where glibc's expf is its FMA build (__expf_fma, which glibc
/// picks on every x86-64 CPU with FMA and AVX2 — every CPU the avx2 and avx512 variants run on), the same
/// double-precision steps computed here, each fused where GCC fused them, give the same f32 on every input
/// (compared on all 2^32 of them: tests/expf.variants.test.ts); elsewhere lane by lane through expf. Inline
/// and in vectors, the softmax's exponentials no longer wait on a call each.
pub fn expfLanes(comptime n: comptime_int, x: @Vector(n, f32)) @Vector(n, f32) {
    if (!(builtin.cpu.arch == .x86_64 and has_fma and builtin.link_libc)) {
        var y: @Vector(n, f32) = undefined;
        inline for (0..n) |i| y[i] = expf(x[i]);
        return y;
    }
    return expfFma(n, x);
}

/// 2^(i/32) as doubles, less i << 47 (ARM optimized-routines' exp2f table, shared by glibc and musl).
const exp2f_table = [32]u64{
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

/// glibc's expf as __expf_fma computes it: x·32/ln2 = k + r (round by adding 1.5·2^52), 2^(k/32) from the
/// table, a cubic in r; the products x·(32/ln2) fused into both the rounding add and r's subtract, and two
/// of the cubic's steps fused. Lanes outside the normal path take expf's special results: 0 below
/// log(2^-150) (and at −inf), inf above log(2^128), NaN stays NaN.
fn expfFma(comptime n: comptime_int, x: @Vector(n, f32)) @Vector(n, f32) {
    const D = @Vector(n, f64);
    const U = @Vector(n, u64);
    const inv_ln2_32: D = @splat(0x1.71547652b82fep+0 * 32.0);
    const shift: D = @splat(0x1.8p+52);
    const xd: D = x;
    const kd_shifted = @mulAdd(D, inv_ln2_32, xd, shift);
    const ki: U = @bitCast(kd_shifted);
    const kd = kd_shifted - shift;
    const r = @mulAdd(D, inv_ln2_32, xd, -kd);
    var t: U = undefined;
    inline for (0..n) |i| t[i] = exp2f_table[@intCast(ki[i] % 32)];
    const s: D = @bitCast(t +% (ki << @splat(47)));
    const z = @mulAdd(D, @splat(0x1.c6af84b912394p-5 / 32.0 / 32.0 / 32.0), r, @splat(0x1.ebfce50fac4f3p-3 / 32.0 / 32.0));
    const y0 = @mulAdd(D, @splat(0x1.62e42ff0c52d6p-1 / 32.0), r, @splat(1.0));
    const y: @Vector(n, f32) = @floatCast(@mulAdd(D, z, r * r, y0) * s);
    const V = @Vector(n, f32);
    const low = x < @as(V, @splat(-0x1.9fe368p6));
    const high = x > @as(V, @splat(0x1.62e42ep6));
    return @select(f32, x != x, x + x, @select(f32, high, @as(V, @splat(std.math.inf(f32))), @select(f32, low, @as(V, @splat(0)), y)));
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
