//! GGUF/ggml tensor types and block layouts, byte for byte. Each struct is `extern` so its layout is the C one
//! ggml writes, and each size is asserted at compile time: a wrong size would silently misread every block
//! after the first. Bits per weight are in the comments.
const std = @import("std");

/// Weights per block of the simple (non-K) quant types.
pub const qk: usize = 32;
/// Weights per super-block of the K-quants, IQ4_XS and the ternary types.
pub const qk_k: usize = 256;
/// Bytes of packed 6-bit scales and mins in Q4_K / Q5_K.
pub const k_scale_size: usize = 12;

/// ggml's type ids, as stored in GGUF tensor infos.
pub const TensorType = enum(u32) {
    f32 = 0,
    f16 = 1,
    q4_0 = 2,
    q4_1 = 3,
    q5_0 = 6,
    q5_1 = 7,
    q8_0 = 8,
    q8_1 = 9,
    q2_k = 10,
    q3_k = 11,
    q4_k = 12,
    q5_k = 13,
    q6_k = 14,
    q8_k = 15,
    iq4_nl = 20,
    iq4_xs = 23,
    bf16 = 30,
    tq1_0 = 34,
    tq2_0 = 35,
    _,
};

/// Q4_0: 4.5 bpw. Value = d * (nibble - 8); low nibbles are weights 0..15, high nibbles 16..31.
pub const BlockQ4_0 = extern struct { d: f16, qs: [qk / 2]u8 };
/// Q4_1: 5 bpw. Value = d * nibble + m.
pub const BlockQ4_1 = extern struct { d: f16, m: f16, qs: [qk / 2]u8 };
/// Q5_0: 5.5 bpw. The fifth bit of weight j is bit j of qh (little-endian u32). Value = d * (q - 16).
pub const BlockQ5_0 = extern struct { d: f16, qh: [4]u8, qs: [qk / 2]u8 };
/// Q5_1: 6 bpw. Value = d * q + m.
pub const BlockQ5_1 = extern struct { d: f16, m: f16, qh: [4]u8, qs: [qk / 2]u8 };
/// Q8_0: 8.5 bpw. Value = d * qs[i].
pub const BlockQ8_0 = extern struct { d: f16, qs: [qk]i8 };
/// Q8_1: 9 bpw, activations only: like Q8_0 plus s = d * sum(qs), which folds Q4_1/Q5_1's offset m in.
pub const BlockQ8_1 = extern struct { d: f16, s: f16, qs: [qk]i8 };

/// Q2_K: 2.625 bpw. 16 sub-blocks of 16; each scale byte holds a 4-bit scale (low) and 4-bit min (high).
pub const BlockQ2_K = extern struct { scales: [qk_k / 16]u8, qs: [qk_k / 4]u8, d: f16, dmin: f16 };
/// Q3_K: 3.4375 bpw. 2 low bits in qs, the high bit in hmask (set = no -4), 16 6-bit scales packed in 12 bytes.
pub const BlockQ3_K = extern struct { hmask: [qk_k / 8]u8, qs: [qk_k / 4]u8, scales: [12]u8, d: f16 };
/// Q4_K: 4.5 bpw. 8 sub-blocks of 32 with 6-bit scales and mins packed in 12 bytes.
pub const BlockQ4_K = extern struct { d: f16, dmin: f16, scales: [k_scale_size]u8, qs: [qk_k / 2]u8 };
/// Q5_K: 5.5 bpw. Q4_K plus a fifth bit per weight in qh.
pub const BlockQ5_K = extern struct { d: f16, dmin: f16, scales: [k_scale_size]u8, qh: [qk_k / 8]u8, qs: [qk_k / 2]u8 };
/// Q6_K: 6.5625 bpw. 4 low bits in ql, 2 high bits in qh, 16 int8 scales. Value = d * scale * (q - 32).
pub const BlockQ6_K = extern struct { ql: [qk_k / 2]u8, qh: [qk_k / 4]u8, scales: [qk_k / 16]i8, d: f16 };
/// Q8_K: activations for the K-quants. f32 scale, and the sums of each 16 quants (bsums) that fold mins in.
pub const BlockQ8_K = extern struct { d: f32, qs: [qk_k]i8, bsums: [qk_k / 16]i16 };

/// IQ4_NL: 4.5 bpw. Like Q4_0 but the nibble indexes a non-linear table.
pub const BlockIQ4_NL = extern struct { d: f16, qs: [qk / 2]u8 };
/// IQ4_XS: 4.25 bpw. 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 in scales_h).
pub const BlockIQ4_XS = extern struct { d: f16, scales_h: u16 align(1), scales_l: [qk_k / 64]u8, qs: [qk_k / 2]u8 };
/// TQ1_0: 1.6875 bpw ternary. Five trits per byte in qs (base 3, scaled to 0..255), four per byte in qh.
pub const BlockTQ1_0 = extern struct { qs: [(qk_k - 4 * qk_k / 64) / 5]u8, qh: [qk_k / 64]u8, d: f16 };
/// TQ2_0: 2.0625 bpw ternary. Four 2-bit values per byte; value = d * (q - 1).
pub const BlockTQ2_0 = extern struct { qs: [qk_k / 4]u8, d: f16 };

/// The 16 levels of IQ4_NL and IQ4_XS.
pub const kvalues_iq4nl = [16]i8{ -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113 };

comptime {
    const assert = std.debug.assert;
    assert(@sizeOf(BlockQ4_0) == 18);
    assert(@sizeOf(BlockQ4_1) == 20);
    assert(@sizeOf(BlockQ5_0) == 22);
    assert(@sizeOf(BlockQ5_1) == 24);
    assert(@sizeOf(BlockQ8_0) == 34);
    assert(@sizeOf(BlockQ8_1) == 36);
    assert(@sizeOf(BlockQ2_K) == 84);
    assert(@sizeOf(BlockQ3_K) == 110);
    assert(@sizeOf(BlockQ4_K) == 144);
    assert(@sizeOf(BlockQ5_K) == 176);
    assert(@sizeOf(BlockQ6_K) == 210);
    assert(@sizeOf(BlockQ8_K) == 292);
    assert(@sizeOf(BlockIQ4_NL) == 18);
    assert(@sizeOf(BlockIQ4_XS) == 136);
    assert(@sizeOf(BlockTQ1_0) == 54);
    assert(@sizeOf(BlockTQ2_0) == 66);
}

/// The block struct of a type (f32/f16/bf16 are "blocks" of one value).
pub fn Block(comptime t: TensorType) type {
    return switch (t) {
        .f32 => f32,
        .f16 => f16,
        .bf16 => u16,
        .q4_0 => BlockQ4_0,
        .q4_1 => BlockQ4_1,
        .q5_0 => BlockQ5_0,
        .q5_1 => BlockQ5_1,
        .q8_0 => BlockQ8_0,
        .q8_1 => BlockQ8_1,
        .q2_k => BlockQ2_K,
        .q3_k => BlockQ3_K,
        .q4_k => BlockQ4_K,
        .q5_k => BlockQ5_K,
        .q6_k => BlockQ6_K,
        .q8_k => BlockQ8_K,
        .iq4_nl => BlockIQ4_NL,
        .iq4_xs => BlockIQ4_XS,
        .tq1_0 => BlockTQ1_0,
        .tq2_0 => BlockTQ2_0,
        _ => @compileError("unsupported tensor type"),
    };
}

pub fn blockValues(comptime t: TensorType) usize {
    return switch (t) {
        .f32, .f16, .bf16 => 1,
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q8_1, .iq4_nl => qk,
        else => qk_k,
    };
}

/// The type activations are quantized to before a dot with weights of type t, as ggml's `vec_dot_type`.
pub fn activationType(comptime t: TensorType) TensorType {
    return switch (t) {
        .f32 => .f32,
        .f16 => .f16,
        .bf16 => .bf16,
        .q4_0, .q5_0, .q8_0, .iq4_nl => .q8_0,
        .q4_1, .q5_1 => .q8_1,
        .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_xs, .tq1_0, .tq2_0 => .q8_k,
        else => @compileError("no dot product for this weight type"),
    };
}

/// The weight types zinc can multiply with (and dequantize).
pub const weight_types = [_]TensorType{ .f32, .f16, .bf16, .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q2_k, .q3_k, .q4_k, .q5_k, .q6_k, .iq4_nl, .iq4_xs, .tq1_0, .tq2_0 };

pub fn bf16ToF32(v: u16) f32 {
    return @bitCast(@as(u32, v) << 16);
}

/// Round to nearest even, as ggml's `ggml_compute_fp32_to_bf16` (NaNs stay quiet NaNs).
pub fn f32ToBf16(v: f32) u16 {
    const u: u32 = @bitCast(v);
    if (u & 0x7fffffff > 0x7f800000) return @intCast((u >> 16) | 64);
    return @intCast((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}
