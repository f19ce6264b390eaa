//! Dot products of one weight row (any supported type) with one activation row quantized to the weight type's
//! activation type (blocks.activationType), as ggml's `vec_dot` functions compute them.
//!
//! Each block is split into exact integer sums (per block or sub-block) and a float combination done in one
//! fixed order. The reference unpacks with scalar code; the SIMD version unpacks and multiplies with vectors.
//! Since the integer sums are exact and the float code is shared, both give bit-identical results.
const std = @import("std");
const b = @import("blocks.zig");
const ref = @import("reference.zig");
const simd = @import("../simd.zig");
const builtin = @import("builtin");
const qk = b.qk;
const qk_k = b.qk_k;

const I8x32 = @Vector(32, i8);
const I8x16 = @Vector(16, i8);
const U8x16 = @Vector(16, u8);
const U8x32 = @Vector(32, u8);

const has_f16c = builtin.cpu.arch == .x86_64 and std.Target.x86.featureSetHas(builtin.cpu.features, .f16c);

/// f16 → f32 for block scales. LLVM loads a scalar f16 with vpinsrw into whatever register held the previous
/// block's scale, which chains every loop iteration to the last (~15 cycles per block); going through a
/// general register and vmovd breaks that false dependency.
inline fn h(x: f16) f32 {
    if (!has_f16c) return x;
    const bits: u32 = @as(u16, @bitCast(x));
    return asm ("vmovd %[bits], %[ret]\n\tvcvtph2ps %[ret], %[ret]"
        : [ret] "=&x" (-> f32),
        : [bits] "r" (bits),
    );
}

const I32x8 = @Vector(8, i32);
const F32x8 = @Vector(8, f32);

const I16x16 = @Vector(16, i16);

const has_avx2 = builtin.cpu.arch == .x86_64 and std.Target.x86.featureSetHas(builtin.cpu.features, .avx2);

/// vpmaddubsw: unsigned bytes of `a` times signed bytes of `c`, adjacent pairs summed to i16 (saturating).
inline fn maddubs(a: U8x32, c: I8x32) I16x16 {
    return asm ("vpmaddubsw %[c], %[a], %[ret]"
        : [ret] "=x" (-> I16x16),
        : [a] "x" (a),
          [c] "x" (c),
    );
}

/// vpmaddwd: i16 × i16, adjacent pairs summed to i32.
inline fn maddwd(a: I16x16, c: I16x16) I32x8 {
    return asm ("vpmaddwd %[c], %[a], %[ret]"
        : [ret] "=x" (-> I32x8),
        : [a] "x" (a),
          [c] "x" (c),
    );
}

/// vpsignb: `c` negated where `a` is negative, zeroed where `a` is zero.
inline fn psign(c: I8x32, a: I8x32) I8x32 {
    return asm ("vpsignb %[a], %[c], %[ret]"
        : [ret] "=x" (-> I8x32),
        : [c] "x" (c),
          [a] "x" (a),
    );
}

/// AVX-512 VNNI (with VL for 256-bit vectors): vpdpbusd adds the four products of unsigned bytes of `a` and
/// signed bytes of `c` in each 32-bit lane to that lane of `acc`, with no 16-bit step — the exact lane sums
/// maddubs and maddwd form in two instructions (they cannot saturate on these inputs), in one.
const has_vnni = builtin.cpu.arch == .x86_64 and std.Target.x86.featureSetHas(builtin.cpu.features, .avx512vnni) and
    std.Target.x86.featureSetHas(builtin.cpu.features, .avx512vl);

/// The avx512 variant (AVX-512 with VNNI): the Q8_0 tile's embedded broadcasts (simpleTileQ8_0Offset).
const has_avx512 = has_vnni and std.Target.x86.featureSetHas(builtin.cpu.features, .avx512bw);

inline fn dpbusd(acc: I32x8, a: U8x32, c: I8x32) I32x8 {
    return asm ("vpdpbusd %[c], %[a], %[ret]"
        : [ret] "=x" (-> I32x8),
        : [a] "x" (a),
          [c] "x" (c),
          [acc] "0" (acc),
    );
}

/// Lane sums of unsigned bytes times signed bytes (each lane: four products), added to `acc`: one vpdpbusd
/// with VNNI, else maddubs and maddwd by ones (exact when no byte pair exceeds ±2^15, as here).
inline fn addLaneSumsUnsigned(acc: I32x8, a: U8x32, c: I8x32) I32x8 {
    if (has_vnni) return dpbusd(acc, a, c);
    return acc + maddwd(maddubs(a, c), @splat(1));
}

/// addLaneSumsUnsigned from zero, for levels held as i8 bit patterns (0..255 read as unsigned).
inline fn laneSumsUnsigned(a: I8x32, c: I8x32) I32x8 {
    if (has_avx2) return addLaneSumsUnsigned(@splat(0), @bitCast(a), c);
    return laneSumsScaled16(a, c, @splat(1));
}

/// ggml's AVX2 lane structure (maddubs then madd): lane j sums the four products of bytes 4j..4j+3.
/// Every lane is an exact integer, so how it is computed does not change any result.
inline fn laneSums(a: I8x32, c: I8x32) I32x8 {
    if (has_avx2) {
        // |a| × (c with a's sign), as ggml's mul_sum_i8_pairs: the products are the same, and no pair can
        // saturate because activations stay within ±127.
        return addLaneSumsUnsigned(@splat(0), @bitCast(psign(a, a)), psign(c, a));
    }
    const wa: @Vector(32, i32) = a;
    const wc: @Vector(32, i32) = c;
    const p = wa * wc;
    const even = @shuffle(i32, p, undefined, [16]i32{ 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30 });
    const odd = @shuffle(i32, p, undefined, [16]i32{ 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31 });
    const pairs = even + odd;
    const e2 = @shuffle(i32, pairs, undefined, [8]i32{ 0, 2, 4, 6, 8, 10, 12, 14 });
    const o2 = @shuffle(i32, pairs, undefined, [8]i32{ 1, 3, 5, 7, 9, 11, 13, 15 });
    return e2 + o2;
}


/// Lane sums of unsigned levels (0..63) times activations, with an i16 scale per byte pair (both pairs of a
/// lane carry the lane's scale).
inline fn laneSumsScaled16(a: I8x32, c: I8x32, scale16: I16x16) I32x8 {
    if (has_avx2) return maddwd(maddubs(@bitCast(a), c), scale16);
    const scale: I32x8 = @shuffle(i16, scale16, undefined, [8]i32{ 0, 2, 4, 6, 8, 10, 12, 14 });
    return laneSums(a, c) * scale;
}

/// laneSumsScaled16 with the activations read by vpmaddubsw from memory (a folded load). Left to itself,
/// LLVM loads a block's activations once into eight registers for all rows of a decode step and then spills
/// the accumulators; reading them again per row costs no extra instruction.
inline fn laneSumsScaledFromMemory(a: U8x32, c: *const [32]i8, scale16: I16x16) I32x8 {
    if (!has_avx2) return laneSumsScaled16(@bitCast(a), c.*, scale16);
    // Not volatile: the activations do not change while a product runs.
    const pairs = asm ("vpmaddubsw (%[c]), %[a], %[ret]"
        : [ret] "=x" (-> I16x16),
        : [a] "x" (a),
          [c] "r" (c),
    );
    return maddwd(pairs, scale16);
}

/// Q4_K/Q5_K minimum terms as ggml's AVX2 code forms them: lane k = mins[2k]·(bsums[4k]+bsums[4k+1]) +
/// mins[2k+1]·(bsums[4k+2]+bsums[4k+3]) — each min times the sum of its 32 activations.
inline fn minsProduct(by: *const b.BlockQ8_K, mins: anytype) @Vector(4, i32) {
    // ggml pairs the bsums with hadd and multiplies 32-bit lanes; one vpmaddwd of the bsums with every min
    // doubled gives the same exact 8 products (mins[j]·(bsums[2j] + bsums[2j+1])) in one instruction.
    const p = pairProducts(by.bsums, doubledMins(mins));
    return @shuffle(i32, p, undefined, [4]i32{ 0, 2, 4, 6 }) + @shuffle(i32, p, undefined, [4]i32{ 1, 3, 5, 7 });
}

/// The eight mins of a super-block, each twice, as vpmaddwd's second operand against the 16 bsums.
inline fn doubledMins(mins: anytype) I16x16 {
    var doubled: I16x16 = undefined;
    inline for (0..16) |i| doubled[i] = @intCast(mins[i / 2]);
    return doubled;
}

/// i32 lane k = a[2k]·c[2k] + a[2k+1]·c[2k+1] (vpmaddwd).
inline fn pairProducts(a: I16x16, c: I16x16) I32x8 {
    if (has_avx2) return maddwd(a, c);
    const wa: @Vector(16, i32) = a;
    const wc: @Vector(16, i32) = c;
    const p = wa * wc;
    return @as(I32x8, @shuffle(i32, p, undefined, [8]i32{ 0, 2, 4, 6, 8, 10, 12, 14 })) + @as(I32x8, @shuffle(i32, p, undefined, [8]i32{ 1, 3, 5, 7, 9, 11, 13, 15 }));
}

/// Lane sums of unsigned levels (0..63) times activations, each lane scaled by its own factor.
inline fn laneSumsScaled(a: I8x32, c: I8x32, scale: I32x8) I32x8 {
    if (has_avx2) {
        // maddwd with the scale in both halves of each lane multiplies the lane's two pair sums by it.
        const scale16: I16x16 = @intCast(@shuffle(i32, scale, undefined, [16]i32{ 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7 }));
        return maddwd(maddubs(@bitCast(a), c), scale16);
    }
    return laneSums(a, c) * scale;
}

fn laneSumsScalar(a: []const i8, c: []const i8) I32x8 {
    var lanes: [8]i32 = .{0} ** 8;
    for (0..32) |i| lanes[i / 4] += @as(i32, a[i]) * @as(i32, c[i]);
    return lanes;
}

inline fn toF32x8(v: I32x8) F32x8 {
    return @floatFromInt(v);
}

/// Lane sums for a simple type: Q4_1/Q5_1 levels are unsigned, so one maddubs does; the signed ones need
/// ggml's sign trick.
inline fn simpleLaneSums(comptime t: b.TensorType, q: I8x32, c: I8x32) I32x8 {
    return switch (t) {
        .q4_1, .q5_1 => laneSumsUnsigned(q, c),
        else => laneSums(q, c),
    };
}

/// Low nibbles as values 0..15, then high nibbles as 16..31: the order of the simple 4-bit types. The 16
/// bytes go to both halves (one broadcast load), the upper half is shifted right by 4 within 32-bit lanes
/// (bits from the next byte land in the high nibble, which the mask drops): two operations.
inline fn nibbles(qs: [16]u8) U8x32 {
    const v: U8x16 = qs;
    const both: @Vector(8, u32) = @bitCast(std.simd.join(v, v));
    const shifted = both >> @Vector(8, u5){ 0, 0, 0, 0, 4, 4, 4, 4 };
    return @as(U8x32, @bitCast(shifted)) & @as(U8x32, @splat(0x0F));
}

/// The fifth bits of Q5_0/Q5_1 as 0 or 16 in value order: bit j of qh picks byte j (spread the four bytes of
/// qh over 32 lanes, test one bit per lane) — a shuffle and a compare instead of 32 shifts.
inline fn fifthBits(qh: [4]u8) U8x32 {
    const bytes: @Vector(4, u8) = qh;
    const spread = @shuffle(u8, bytes, undefined, blk: {
        var m: [32]i32 = undefined;
        for (0..32) |i| m[i] = i / 8;
        break :blk m;
    });
    const bit: U8x32 = comptime blk: {
        var m: [32]u8 = undefined;
        for (0..32) |i| m[i] = @as(u8, 1) << @intCast(i % 8);
        break :blk m;
    };
    const set = (spread & bit) != @as(U8x32, @splat(0));
    return @select(u8, set, @as(U8x32, @splat(16)), @as(U8x32, @splat(0)));
}

inline fn asI8(v: U8x32) I8x32 {
    return @bitCast(v);
}

// ---- the simple 32-value types --------------------------------------------------------------------------------

fn unpackSimpleScalar(comptime t: b.TensorType, blk: *const b.Block(t)) [qk]i8 {
    var v: [qk]f32 = undefined;
    var out: [qk]i8 = undefined;
    switch (t) {
        .q8_0 => return blk.qs,
        .iq4_nl => {
            for (0..qk / 2) |j| {
                out[j] = b.kvalues_iq4nl[blk.qs[j] & 0xf];
                out[j + 16] = b.kvalues_iq4nl[blk.qs[j] >> 4];
            }
            return out;
        },
        else => {},
    }
    // Reuse the reference dequantizer with d = 1, m = 0 to get the integer levels.
    var unit = blk.*;
    unit.d = 1.0;
    if (@hasField(@TypeOf(unit), "m")) unit.m = 0;
    ref.dequantizeRow(t, (&unit)[0..1], &v);
    for (v, 0..) |x, i| out[i] = @intFromFloat(x);
    return out;
}

inline fn unpackSimple(comptime t: b.TensorType, blk: *const b.Block(t)) I8x32 {
    return switch (t) {
        .q8_0 => blk.qs,
        .q4_0 => asI8(nibbles(blk.qs)) - @as(I8x32, @splat(8)),
        .q4_1 => asI8(nibbles(blk.qs)),
        .q5_0 => asI8(nibbles(blk.qs) | fifthBits(blk.qh)) - @as(I8x32, @splat(16)),
        .q5_1 => asI8(nibbles(blk.qs) | fifthBits(blk.qh)),
        .iq4_nl => iq4nlLevels(nibbles(blk.qs)),
        else => @compileError("not a simple type"),
    };
}

/// IQ4_NL's 16 levels looked up by 4-bit index: one vpshufb over the table in both halves (ggml does the same);
/// element by element it was 32 extract/insert pairs per block.
inline fn iq4nlLevels(idx: U8x32) I8x32 {
    const table: @Vector(16, i8) = b.kvalues_iq4nl;
    if (has_avx2) {
        return asm ("vpshufb %[idx], %[table], %[ret]"
            : [ret] "=x" (-> I8x32),
            : [table] "x" (std.simd.join(table, table)),
              [idx] "x" (idx),
        );
    }
    var out: I8x32 = undefined;
    inline for (0..qk) |i| out[i] = b.kvalues_iq4nl[idx[i]];
    return out;
}

// ---- K-quants ---------------------------------------------------------------------------------------------------

/// The eight 6-bit scales and mins of a Q4_K/Q5_K block, unpacked as ggml does (utmp with kmask1..3).
inline fn q4kScalesMins(packed_scales: *const [12]u8) struct { scales: [8]i16, mins: [8]i16 } {
    var utmp: [4]u32 = undefined;
    @memcpy(std.mem.asBytes(&utmp)[0..12], packed_scales);
    const kmask1: u32 = 0x3f3f3f3f;
    const kmask2: u32 = 0x0f0f0f0f;
    const kmask3: u32 = 0x03030303;
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
    const bytes: [16]u8 = @bitCast(utmp);
    const scales: @Vector(8, u8) = bytes[0..8].*;
    const mins: @Vector(8, u8) = bytes[8..16].*;
    return .{ .scales = @as(@Vector(8, i16), scales), .mins = @as(@Vector(8, i16), mins) };
}

/// q4kScalesMins for the decode path, left as bytes in a vector: scales in bytes 0–7, mins in 8–15, the same
/// in both 128-bit halves. ggml's kmask steps run on the four u32 words in vector lanes, from one broadcast
/// load of the 12 scale bytes (and 4 bytes of qs, dropped) — about ten vector operations instead of twenty
/// scalar ones and four inserts.
inline fn q4kScaleBytes(packed_scales: *const [12]u8) U8x32 {
    const U32x8 = @Vector(8, u32);
    const raw: @Vector(4, u32) = @bitCast(@as(*align(1) const [16]u8, @ptrCast(packed_scales)).*);
    const v: U32x8 = std.simd.join(raw, raw);
    // Words [u0 & k1, (u2 & k2) | ((u0 >> 6) & k3) << 4, u1 & k1, ((u2 >> 4) & k2) | ((u1 >> 6) & k3) << 4]:
    // q4kScalesMins' utmp[0], utmp[1], utmp[2], utmp[3].
    const s1 = @shuffle(u32, v, undefined, [8]i32{ 0, 2, 1, 2, 4, 6, 5, 6 });
    const s2 = @shuffle(u32, v, undefined, [8]i32{ 0, 0, 0, 1, 4, 4, 4, 5 });
    const low = (s1 >> U32x8{ 0, 0, 0, 4, 0, 0, 0, 4 }) & U32x8{ 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f };
    const high = (s2 >> @splat(2)) & U32x8{ 0, 0x30303030, 0, 0x30303030, 0, 0x30303030, 0, 0x30303030 };
    return @bitCast(low | high);
}

/// Byte k of each half of q4kScaleBytes, zero-extended into all 16 words: chunk k's scale (one vpshufb).
inline fn scaleWords(sb: U8x32, comptime k: usize) I16x16 {
    return @bitCast(@shuffle(u8, sb, @as(U8x32, @splat(0)), scale_word_masks[k]));
}

const scale_word_masks: [8][32]i32 = blk: {
    var masks: [8][32]i32 = undefined;
    for (0..8) |k| {
        for (0..32) |i| masks[k][i] = if (i % 2 == 0) @as(i32, @intCast((i / 16) * 16 + k)) else -1;
    }
    break :blk masks;
};

/// doubledMins from q4kScaleBytes: word j = mins[j / 2] (one vpshufb).
inline fn doubledMinWords(sb: U8x32) I16x16 {
    return @bitCast(@shuffle(u8, sb, @as(U8x32, @splat(0)), doubled_min_mask));
}

const doubled_min_mask: [32]i32 = blk: {
    var m: [32]i32 = undefined;
    for (0..32) |i| m[i] = if (i % 2 == 0) @as(i32, @intCast((i / 16) * 16 + 8 + i / 4)) else -1;
    break :blk m;
};

/// ggml's four Q4_K mins lanes (lane k = mins[2k]·(bsums[4k] + bsums[4k+1]) + mins[2k+1]·(…)) as floats.
/// With AVX2, lane k is formed in lane 2k of eight (odd lanes carry a copy and are never read): one in-lane
/// swap and an add instead of an extract and a horizontal add, and the fused step per read lane is ggml's.
/// Elsewhere four lanes, since without FMA each lane's fused step is a software call.
const MinsLanes = if (has_avx2) F32x8 else @Vector(4, f32);

inline fn minsLanes(by: *const b.BlockQ8_K, sb: U8x32) MinsLanes {
    const pp = pairProducts(by.bsums, doubledMinWords(sb));
    if (!has_avx2) return @floatFromInt(@as(@Vector(4, i32), @shuffle(i32, pp, undefined, [4]i32{ 0, 2, 4, 6 }) + @shuffle(i32, pp, undefined, [4]i32{ 1, 3, 5, 7 })));
    return @floatFromInt(pp + @shuffle(i32, pp, undefined, [8]i32{ 1, 0, 3, 2, 5, 4, 7, 6 }));
}

/// ggml's (m0 + m2) + (m1 + m3) over the four mins lanes.
inline fn minsTotal(m: MinsLanes) f32 {
    if (!has_avx2) return (m[0] + m[2]) + (m[1] + m[3]);
    return (m[0] + m[4]) + (m[2] + m[6]);
}

/// Q6_K's 16 signed scales as words for the decode path. Chunk c (32 values) takes scale 2c for its first 16
/// values and 2c + 1 for the last 16: with the scales' low and high eight words each copied to both 128-bit
/// halves, that pair is one in-lane vpshufb (the generic select compiled to four or five shuffles).
const Q6Scales = struct {
    low: I16x16,
    high: I16x16,

    inline fn init(scales: [16]i8) Q6Scales {
        const words: I16x16 = @as(@Vector(16, i8), scales);
        return .{
            .low = @shuffle(i16, words, undefined, [16]i32{ 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7 }),
            .high = @shuffle(i16, words, undefined, [16]i32{ 8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15 }),
        };
    }

    inline fn chunk(self: Q6Scales, comptime c: usize) I16x16 {
        const src: U8x32 = @bitCast(if (c < 4) self.low else self.high);
        return @bitCast(@shuffle(u8, src, undefined, masks[c]));
    }

    const masks: [8][32]i32 = blk: {
        var all: [8][32]i32 = undefined;
        for (0..8) |c| {
            for (0..32) |i| {
                const half = i / 16;
                const word = (2 * c + half) % 8;
                all[c][i] = @intCast(half * 16 + 2 * word + i % 2);
            }
        }
        break :blk all;
    };
};

/// Integer levels of one 256-value block plus the per-sub-block integer multipliers that scale them.
fn KUnpacked(comptime sub: usize) type {
    return struct { q: [qk_k]i8, scales: [qk_k / sub]i32, mins: [qk_k / sub]i32 };
}

fn subBlockSize(comptime t: b.TensorType) usize {
    return switch (t) {
        .q2_k, .q3_k, .q6_k => 16,
        .q4_k, .q5_k, .iq4_xs => 32,
        .tq1_0, .tq2_0 => qk_k,
        else => @compileError("not a K type"),
    };
}

inline fn unpackK(comptime t: b.TensorType, blk: *const b.Block(t), comptime vectorized: bool) KUnpacked(subBlockSize(t)) {
    const sub = comptime subBlockSize(t);
    var u: KUnpacked(sub) = undefined;
    @memset(&u.mins, 0);
    switch (t) {
        .q4_k, .q5_k => {
            for (0..8) |j| {
                const sm = ref.getScaleMinK4(j, &blk.scales);
                u.scales[j] = sm.scale;
                u.mins[j] = sm.min;
            }
            for (0..4) |c| {
                const q = blk.qs[c * 32 ..][0..32];
                if (vectorized) {
                    const v: U8x32 = q.*;
                    var lo = v & @as(U8x32, @splat(0xF));
                    var hi = v >> @as(@Vector(32, u3), @splat(4));
                    if (t == .q5_k) {
                        const qh: U8x32 = blk.qh;
                        const bit_lo: u3 = @intCast(2 * c);
                        const bit_hi: u3 = @intCast(2 * c + 1);
                        lo |= ((qh >> @splat(bit_lo)) & @as(U8x32, @splat(1))) << @splat(4);
                        hi |= ((qh >> @splat(bit_hi)) & @as(U8x32, @splat(1))) << @splat(4);
                    }
                    u.q[c * 64 ..][0..32].* = @as(I8x32, @bitCast(lo));
                    u.q[c * 64 + 32 ..][0..32].* = @as(I8x32, @bitCast(hi));
                } else {
                    for (0..32) |l| {
                        var lo: u8 = q[l] & 0xF;
                        var hi: u8 = q[l] >> 4;
                        if (t == .q5_k) {
                            if (blk.qh[l] & (@as(u8, 1) << @intCast(2 * c)) != 0) lo += 16;
                            if (blk.qh[l] & (@as(u8, 2) << @intCast(2 * c)) != 0) hi += 16;
                        }
                        u.q[c * 64 + l] = @intCast(lo);
                        u.q[c * 64 + 32 + l] = @intCast(hi);
                    }
                }
            }
        },
        .q6_k => {
            // Levels stay unsigned (0..63); the -32 offset is applied through Q8_K's bsums, as ggml does.
            for (0..16) |s| u.scales[s] = blk.scales[s];
            for (0..2) |half| {
                const ql = blk.ql[half * 64 ..][0..64];
                const qh = blk.qh[half * 32 ..][0..32];
                const o = u.q[half * 128 ..][0..128];
                if (vectorized) {
                    const l0: U8x32 = ql[0..32].*;
                    const l1: U8x32 = ql[32..64].*;
                    const hv: U8x32 = qh.*;
                    const m4: U8x32 = @splat(0xF);
                    const m2: U8x32 = @splat(3);
                    o[0..32].* = @as(I8x32, @bitCast((l0 & m4) | ((hv & m2) << @splat(4))));
                    o[32..64].* = @as(I8x32, @bitCast((l1 & m4) | (((hv >> @splat(2)) & m2) << @splat(4))));
                    o[64..96].* = @as(I8x32, @bitCast((l0 >> @splat(4)) | (((hv >> @splat(4)) & m2) << @splat(4))));
                    o[96..128].* = @as(I8x32, @bitCast((l1 >> @splat(4)) | (((hv >> @splat(6)) & m2) << @splat(4))));
                } else {
                    for (0..32) |l| {
                        o[l] = @intCast((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4));
                        o[l + 32] = @intCast((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4));
                        o[l + 64] = @intCast((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
                        o[l + 96] = @intCast((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
                    }
                }
            }
        },
        .q2_k => {
            for (0..16) |s| {
                u.scales[s] = blk.scales[s] & 0xF;
                u.mins[s] = blk.scales[s] >> 4;
            }
            var out: usize = 0;
            for (0..2) |half| {
                for (0..4) |shift_index| {
                    const shift: u3 = @intCast(2 * shift_index);
                    for (0..32) |l| {
                        u.q[out] = @intCast((blk.qs[half * 32 + l] >> shift) & 3);
                        out += 1;
                    }
                }
            }
        },
        .q3_k => {
            const scales = ref.unpackQ3KScales(&blk.scales);
            for (0..16) |s| u.scales[s] = scales[s];
            var out: usize = 0;
            var m: u8 = 1;
            for (0..2) |half| {
                for (0..4) |shift_index| {
                    const shift: u3 = @intCast(2 * shift_index);
                    for (0..32) |l| {
                        const low: i8 = @intCast((blk.qs[half * 32 + l] >> shift) & 3);
                        u.q[out] = low - @as(i8, if (blk.hmask[l] & m != 0) 0 else 4);
                        out += 1;
                    }
                    m = m *% 2;
                }
            }
        },
        .iq4_xs => {
            for (0..8) |ib| {
                u.scales[ib] = ref.iq4xsScale(blk, ib);
                for (0..16) |j| {
                    u.q[ib * 32 + j] = b.kvalues_iq4nl[blk.qs[ib * 16 + j] & 0xf];
                    u.q[ib * 32 + j + 16] = b.kvalues_iq4nl[blk.qs[ib * 16 + j] >> 4];
                }
            }
        },
        .tq1_0, .tq2_0 => {
            u.scales[0] = 1;
            var levels: [qk_k]f32 = undefined;
            var unit = blk.*;
            unit.d = 1.0;
            ref.dequantizeRow(t, (&unit)[0..1], &levels);
            for (levels, 0..) |v, i| u.q[i] = @intFromFloat(v);
        },
        else => @compileError("not a K type"),
    }
    return u;
}

/// The simple types as ggml's AVX2 vec_dot accumulates them: per block, 8 integer lane sums scaled by dx·dy
/// and fused into an 8-lane f32 accumulator; Q4_1/Q5_1 add m·s in a scalar sum; hsum_float_8 at the end.
fn vecDotSimple(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.Block(b.activationType(t)), comptime vectorized: bool) f32 {
    var acc: F32x8 = @splat(0);
    var summs: f32 = 0;
    for (x, y) |*bx, *by| {
        const lanes = if (vectorized) simpleLaneSums(t, unpackSimple(t, bx), by.qs) else blk: {
            const q = unpackSimpleScalar(t, bx);
            break :blk laneSumsScalar(&q, &by.qs);
        };
        const d: F32x8 = @splat(h(bx.d) * h(by.d));
        acc = simd.fusedMulAdd(F32x8, d, toF32x8(lanes), acc);
        if (t == .q4_1 or t == .q5_1) summs += h(bx.m) * h(by.s);
    }
    return simd.hsum8(acc) + summs;
}

/// Levels that are never negative go through maddubs directly; signed ones (Q3_K, IQ4_XS) need the sign trick.
fn unsignedLevels(comptime t: b.TensorType) bool {
    return switch (t) {
        .q3_k, .iq4_xs => false,
        else => true,
    };
}

/// ggml's ternary kernels multiply the levels 0, 1, 2 and take the 1 back out through the bsums.
fn ternary(comptime t: b.TensorType) bool {
    return t == .tq1_0 or t == .tq2_0;
}

/// The super-block types as ggml's AVX2 kernels accumulate them. Per super-block, 8 integer lanes: lane j sums
/// scale × q × q8 over bytes 4j..4j+3 of every 32-value chunk (exact, so how they are formed does not matter),
/// then per type:
///   Q2_K: acc += dmin·(mins × bsums, pairwise) and then acc += d·lanes, both fused, in that order;
///   Q3_K, IQ4_XS: acc += d·lanes;
///   Q4_K: acc += d·lanes, and the mins go to a 4-lane accumulator;
///   Q5_K: acc += d·lanes, and the mins to a scalar fused into summs (GCC contracts `summs += dmin * x`);
///   Q6_K: the -32 offset comes off the lanes through bsums;
///   TQ1_0/TQ2_0: levels 0..2, the +1 comes off the lanes through bsums.
/// The result is hsum_float_8(acc) plus the mins terms.
fn vecDotKLanes(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.BlockQ8_K, comptime vectorized: bool) f32 {
    const sub = comptime subBlockSize(t);
    var acc: F32x8 = @splat(0);
    var acc_m: @Vector(4, f32) = @splat(0);
    var summs: f32 = 0;
    for (x, y) |*bx, *by| {
        var u = unpackK(t, bx, vectorized);
        if (comptime ternary(t)) {
            for (&u.q) |*q| q.* += 1;
        }
        var lanes: I32x8 = @splat(0);
        for (0..qk_k / 32) |chunk| {
            const a = u.q[chunk * 32 ..][0..32];
            const c = by.qs[chunk * 32 ..][0..32];
            var scale: I32x8 = undefined;
            inline for (0..8) |j| scale[j] = u.scales[(chunk * 32 + 4 * j) / sub];
            lanes += if (!vectorized)
                laneSumsScalar(a, c) * scale
            else if (comptime unsignedLevels(t))
                laneSumsScaled(a.*, c.*, scale)
            else
                laneSums(a.*, c.*) * scale;
        }
        if (t == .q6_k) {
            // ggml: lane k -= 32 × (bsums[2k]·scale[2k] + bsums[2k+1]·scale[2k+1]).
            inline for (0..8) |k| lanes[k] -= 32 * (@as(i32, by.bsums[2 * k]) * u.scales[2 * k] + @as(i32, by.bsums[2 * k + 1]) * u.scales[2 * k + 1]);
        }
        if (comptime ternary(t)) {
            inline for (0..8) |k| lanes[k] -= @as(i32, by.bsums[2 * k]) + by.bsums[2 * k + 1];
        }
        if (t == .q2_k) {
            var mins: I16x16 = undefined;
            inline for (0..16) |k| mins[k] = @intCast(u.mins[k]);
            const prod = pairProducts(mins, by.bsums);
            acc = simd.fusedMulAdd(F32x8, @splat(-by.d * h(bx.dmin)), toF32x8(prod), acc);
        }
        const d: F32x8 = @splat(by.d * h(bx.d));
        acc = simd.fusedMulAdd(F32x8, d, toF32x8(lanes), acc);
        if (t == .q4_k or t == .q5_k) {
            const dmin = -by.d * h(bx.dmin);
            const prod = minsProduct(by, u.mins);
            if (t == .q4_k) {
                acc_m = simd.fusedMulAdd(@Vector(4, f32), @splat(dmin), @floatFromInt(prod), acc_m);
            } else {
                summs = simd.fusedMulAdd(f32, dmin, @floatFromInt(@reduce(.Add, prod)), summs);
            }
        }
    }
    const m = (acc_m[0] + acc_m[2]) + (acc_m[1] + acc_m[3]);
    return simd.hsum8(acc) + m + summs;
}

/// IQ4_NL one token at a time, as ggml's AVX2 vec_dot: even and odd blocks in two accumulators, summed before
/// the horizontal add; an odd last block is added in scalar (not fused). Batches go through llamafile's
/// tinyBLAS in llama.cpp, which uses one accumulator: that is vecDotSimple.
fn vecDotIq4NlDecode(x: []const b.BlockIQ4_NL, y: []const b.BlockQ8_0, comptime vectorized: bool) f32 {
    var acc: [2]F32x8 = .{ @splat(0), @splat(0) };
    var ib: usize = 0;
    while (ib + 1 < x.len) : (ib += 2) {
        inline for (0..2) |k| {
            const lanes = if (vectorized) laneSums(unpackSimple(.iq4_nl, &x[ib + k]), y[ib + k].qs) else blk: {
                const q = unpackSimpleScalar(.iq4_nl, &x[ib + k]);
                break :blk laneSumsScalar(&q, &y[ib + k].qs);
            };
            acc[k] = simd.fusedMulAdd(F32x8, @splat(h(y[ib + k].d) * h(x[ib + k].d)), toF32x8(lanes), acc[k]);
        }
    }
    var sum = simd.hsum8(acc[0] + acc[1]);
    if (ib < x.len) {
        const q = unpackSimpleScalar(.iq4_nl, &x[ib]);
        const d = h(y[ib].d) * h(x[ib].d);
        const prod = d * @as(f32, @floatFromInt(@reduce(.Add, laneSumsScalar(&q, &y[ib].qs))));
        sum += prod;
    }
    return sum;
}

/// F16 and BF16 as llama.cpp computes them. One token (ggml_vec_dot_f16 / _bf16 on AVX2): four 8-lane fused
/// accumulators over steps of 32, reduced pairwise ((0+2)+(1+3) for F16, (0+2)+(1+3) likewise for BF16) to
/// one f32, the leftover products added in double. A batch whose rows divide into 8 (llamafile's tinyBLAS):
/// one 8-lane fused accumulator and hsum_float_8.
fn vecDotHalf(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.Block(t), batched: bool) f32 {
    const n = x.len;
    if (batched and n % 8 == 0) {
        var acc: F32x8 = @splat(0);
        var i: usize = 0;
        while (i < n) : (i += 8) acc = simd.fusedMulAdd(F32x8, widen8(t, x[i..][0..8].*), widen8(t, y[i..][0..8].*), acc);
        return simd.hsum8(acc);
    }
    var acc: [4]F32x8 = @splat(@splat(0));
    const np = n & ~@as(usize, 31);
    var i: usize = 0;
    while (i < np) : (i += 32) {
        inline for (0..4) |j| acc[j] = simd.fusedMulAdd(F32x8, widen8(t, x[i + 8 * j ..][0..8].*), widen8(t, y[i + 8 * j ..][0..8].*), acc[j]);
    }
    var sumf: f64 = undefined;
    if (t == .f16) {
        // GGML_F32x8_REDUCE: x0 += x2, x1 += x3, x0 += x1, then (lo + hi) and two hadds.
        const r = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        const t0 = @shuffle(f32, r, undefined, [4]i32{ 0, 1, 2, 3 }) + @shuffle(f32, r, undefined, [4]i32{ 4, 5, 6, 7 });
        sumf = (t0[0] + t0[1]) + (t0[2] + t0[3]);
    } else {
        // (c1 + c3) + (c2 + c4), then hi + lo, then the movehl / movehdup adds.
        const r = (acc[0] + acc[2]) + (acc[1] + acc[3]);
        const g = @shuffle(f32, r, undefined, [4]i32{ 4, 5, 6, 7 }) + @shuffle(f32, r, undefined, [4]i32{ 0, 1, 2, 3 });
        sumf = (g[0] + g[2]) + (g[1] + g[3]);
    }
    while (i < n) : (i += 1) sumf += toF32(t, x[i]) * toF32(t, y[i]);
    return @floatCast(sumf);
}

/// IQ4_XS in llama.cpp's IQ panel gemm: each output is a chain of fused multiply-adds, one per super-block, of
/// the block's exact integer total times d·d8.
fn vecDotIq4XsPanel(x: []const b.BlockIQ4_XS, y: []const b.BlockQ8_K) f32 {
    var sum: f32 = 0;
    for (x, y) |*bx, *by| {
        const u = unpackK(.iq4_xs, bx, true);
        var lanes: I32x8 = @splat(0);
        for (0..qk_k / 32) |chunk| lanes += laneSums(u.q[chunk * 32 ..][0..32].*, by.qs[chunk * 32 ..][0..32].*) * @as(I32x8, @splat(u.scales[chunk]));
        sum = simd.fusedMulAdd(f32, @floatFromInt(@reduce(.Add, lanes)), h(bx.d) * by.d, sum);
    }
    return sum;
}

inline fn widen8(comptime t: b.TensorType, v: [8]b.Block(t)) F32x8 {
    if (t == .f16) return @floatCast(@as(@Vector(8, f16), v));
    const bits: @Vector(8, u32) = @as(@Vector(8, u16), v);
    return @bitCast(bits << @splat(16));
}

// ---- one weight row against a tile of tokens -------------------------------------------------------------------

pub const max_tile = 12;
/// Tokens per tile: the simple types with prepared activations take 12 (their loop needs only the
/// accumulators, the weight block twice and two temporaries in the 16 vector registers, and the weight block's
/// unpacking is shared by more tokens); the K-quant tile keeps more per chunk and spills past 8.
pub fn tileTokens(comptime t: b.TensorType) usize {
    return if (usesPreparedActivations(t)) max_tile else 8;
}

/// Which of llama.cpp's CPU code paths a matrix product takes, since some sum in different orders: one token
/// goes through vec_dot; a batch of F16, BF16 or IQ4_NL through llamafile's tinyBLAS (one accumulator); a batch
/// of at least 8 tokens times IQ4_XS rows in multiples of 8 through the "IQ panel" gemm (a scalar fused chain
/// per output); Q4_0, IQ4_NL and Q4_K matrices of rows in multiples of 8, for one token or many, through the
/// repacked kernels (see vecDotRepacked4Bit, vecDotRepackedQ4_K). Every other type gives the same bits on every
/// path.
pub const Path = enum { vec_dot, batch, iq_panel, repacked };

/// `repacked`: follow llama.cpp's repacked kernels where it would use them (the caller knows the model).
pub fn pathFor(comptime t: b.TensorType, rows: usize, tokens: usize, repacked: bool) Path {
    if ((t == .q4_0 or t == .iq4_nl or t == .q4_k) and repacked and rows % 8 == 0) return .repacked;
    if (tokens < 2) return .vec_dot;
    if (t == .iq4_xs) return if (tokens >= 8 and rows % 8 == 0) .iq_panel else .vec_dot;
    return .batch;
}

/// out[k] = dot(w, x[k]) for the k < count activation rows starting at x (each `stride` blocks apart), each
/// weight block unpacked once for the whole tile, summed as llama.cpp's `path` sums them.
/// `prepared` (optional, simple types): the tile's activations laid out by prepareTile.
pub fn dotRowTile(comptime t: b.TensorType, w: []const b.Block(t), x: [*]const b.Block(b.activationType(t)), stride: usize, count: usize, out: []f32, path: Path, prepared: ?*const PreparedTile) void {
    std.debug.assert(count <= tileTokens(t));
    if (t == .iq4_nl and path == .vec_dot) {
        for (0..count) |k| out[k] = vecDotIq4NlDecode(w, x[k * stride ..][0..w.len], true);
        return;
    }
    if (t == .iq4_xs and path == .iq_panel) {
        for (0..count) |k| out[k] = vecDotIq4XsPanel(w, x[k * stride ..][0..w.len]);
        return;
    }
    switch (t) {
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl => if (count == 1) {
            decodeRows(t, 1, w.ptr, w.len, x[0..w.len], null, out.ptr, 1);
        } else switch (count) {
            inline 2...tileTokens(t) => |n| if (prepared) |p| simpleTilePrepared(t, n, w, out, p) else simpleTile(t, n, w, x, stride, out),
            else => unreachable,
        },
        .q4_k, .q5_k, .q6_k => if (count == 1) {
            decodeRows(t, 1, w.ptr, w.len, x[0..w.len], null, out.ptr, 1);
        } else switch (count) {
            inline 2...tileTokens(t) => |n| kTile(t, n, w, x, stride, out),
            else => unreachable,
        },
        .f16, .bf16 => for (0..count) |k| {
            out[k] = vecDotHalf(t, w, x[k * stride ..][0..w.len], path == .batch);
        },
        else => for (0..count) |k| {
            out[k] = vecDot(t, w, x[k * stride ..][0..w.len * b.blockValues(t) / b.blockValues(b.activationType(t))]);
        },
    }
}

/// Whether matrix × vector goes through decodeRows for type t: the types whose vec_dot is one fused chain per
/// block. (IQ4_NL's vec_dot keeps two; decodeRows sums it with one, as tinyBLAS does a batch's last token.)
pub fn hasDecodeRows(comptime t: b.TensorType) bool {
    return switch (t) {
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_k, .q5_k, .q6_k => true,
        else => false,
    };
}

/// Whether decodeRows can use PreparedActivations for type t.
pub fn usesPreparedActivations(comptime t: b.TensorType) bool {
    return switch (t) {
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0 => true,
        else => false,
    };
}

pub const max_prepared_blocks = 1024;

/// What decode of a simple type needs from each activation block, formed once per matrix × vector rather than
/// once per weight row: the scales d (and Q8_1's s) as f32, and the sum of each lane's four activations. With
/// those, a lane of (q − 8)·a (Q4_0; q − 16 for Q5_0) is maddubs(q, a) summed to the lane minus 8 (16) × the
/// prepared sum — no sign trick — and no f16 scale of the activations is converted per row. The lanes are exact
/// integers either way and the float steps are vec_dot's, so the bits are the same.
pub const PreparedActivations = struct {
    d: [max_prepared_blocks]f32,
    s: [max_prepared_blocks]f32,
    /// Q4_0: 8 × each lane's activation sum; Q5_0: 16 × — what the unsigned levels' offset adds to a lane.
    offsets: [max_prepared_blocks]I32x8,
    /// Q4_0 with AVX2 (decodeRowsRepackedQ4_0Wide); nothing elsewhere, where worker stacks are tight.
    pairs: if (has_avx2) PreparedPairs else void,
};

/// The activations of decodeRowsRepackedQ4_0Wide, blocks in pairs.
const PreparedPairs = struct {
    /// Values 0..15 of both blocks (what their low nibbles multiply), and 16..31 of both (the high ones).
    low: [max_prepared_blocks / 2]I8x32,
    high: [max_prepared_blocks / 2]I8x32,
    /// 8 × each block's activation sum, in four lanes each: [block 2p × 4, block 2p+1 × 4].
    offsets: [max_prepared_blocks / 2]I32x8,
    /// Each block's activation scale, likewise [dx(2p) × 4, dx(2p+1) × 4].
    d: [max_prepared_blocks / 2]F32x8,
};

pub fn prepareActivations(comptime t: b.TensorType, x: []const b.Block(b.activationType(t)), p: *PreparedActivations) void {
    std.debug.assert(x.len <= max_prepared_blocks);
    for (x, 0..) |*bx, i| {
        p.d[i] = h(bx.d);
        if (t == .q4_1 or t == .q5_1) p.s[i] = h(bx.s);
        const shift: u5 = if (t == .q4_0) 3 else 4;
        if (t == .q4_0 or t == .q5_0) p.offsets[i] = laneSumsUnsigned(@splat(1), bx.qs) << @splat(shift);
    }
    if (t == .q4_0 and has_avx2) {
        for (0..x.len / 2) |pair| {
            const x0: @Vector(32, i8) = x[2 * pair].qs;
            const x1: @Vector(32, i8) = x[2 * pair + 1].qs;
            p.pairs.low[pair] = std.simd.join(std.simd.extract(x0, 0, 16), std.simd.extract(x1, 0, 16));
            p.pairs.high[pair] = std.simd.join(std.simd.extract(x0, 16, 16), std.simd.extract(x1, 16, 16));
            p.pairs.offsets[pair] = std.simd.join(@as(@Vector(4, i32), @splat(@reduce(.Add, p.offsets[2 * pair]))), @as(@Vector(4, i32), @splat(@reduce(.Add, p.offsets[2 * pair + 1]))));
            p.pairs.d[pair] = std.simd.join(@as(@Vector(4, f32), @splat(p.d[2 * pair])), @as(@Vector(4, f32), @splat(p.d[2 * pair + 1])));
        }
    }
}

/// An f16 converted to f32 in all eight lanes (vpbroadcastw from memory, then vcvtph2ps on the vector).
inline fn halfInAllLanes(x: f16) F32x8 {
    return @floatCast(@as(@Vector(8, f16), @splat(x)));
}

/// Decode for r weight rows at once (r known at compile time): out[i] = dot(row i, x), where row i starts
/// i·row_stride blocks after w. Each row is summed exactly as its one-token vec_dot (the same float steps in
/// the same order, so the same bits), with its own accumulator chain; the simple types load the activation
/// block once for all r rows, the K-quants read it from memory per row (see laneSumsScaledFromMemory). Matmul
/// passes rows far apart, so that each is its own prefetched stream: that, not the extra chains, is what made
/// several rows faster (in cache, two rows ran no faster than one); it uses four.
/// `prepared` (optional, simple types): prepareActivations of x.
pub fn decodeRows(comptime t: b.TensorType, comptime r: usize, w: [*]const b.Block(t), row_stride: usize, x: []const b.Block(b.activationType(t)), prepared: ?*const PreparedActivations, out: [*]f32, out_stride: usize) void {
    var acc: [r]F32x8 = @splat(@splat(0));
    var acc_m: [r]MinsLanes = @splat(@splat(0));
    var summs: [r]f32 = @splat(0);
    for (x, 0..) |*by, blk| {
        inline for (0..r) |i| {
            const bw = &w[i * row_stride + blk];
            switch (t) {
                .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .iq4_nl => {
                    const p: ?*const PreparedActivations = if (comptime usesPreparedActivations(t)) prepared else null;
                    const lanes = if (p) |pa| switch (t) {
                        .q4_0 => laneSumsUnsigned(@bitCast(nibbles(bw.qs)), by.qs) - pa.offsets[blk],
                        .q5_0 => laneSumsUnsigned(@bitCast(nibbles(bw.qs) | fifthBits(bw.qh)), by.qs) - pa.offsets[blk],
                        else => simpleLaneSums(t, unpackSimple(t, bw), by.qs),
                    } else simpleLaneSums(t, unpackSimple(t, bw), by.qs);
                    // dw·dx in all lanes: dw widened in a vector (a broadcast load and one convert) times the
                    // prepared dx broadcast from memory — the same single f32 product in every lane.
                    const d = if (p) |pa| halfInAllLanes(bw.d) * @as(F32x8, @splat(pa.d[blk])) else @as(F32x8, @splat(h(bw.d) * h(by.d)));
                    acc[i] = simd.fusedMulAdd(F32x8, d, toF32x8(lanes), acc[i]);
                    if (t == .q4_1 or t == .q5_1) summs[i] += h(bw.m) * (if (p) |pa| pa.s[blk] else h(by.s));
                },
                .q4_k => {
                    const sb = q4kScaleBytes(&bw.scales);
                    const lanes = q4kScaledLanes(bw, by, sb);
                    acc[i] = simd.fusedMulAdd(F32x8, @splat(by.d * h(bw.d)), toF32x8(lanes), acc[i]);
                    acc_m[i] = simd.fusedMulAdd(MinsLanes, @splat(-by.d * h(bw.dmin)), minsLanes(by, sb), acc_m[i]);
                },
                .q6_k => {
                    var lanes: I32x8 = @splat(0);
                    const sc = Q6Scales.init(bw.scales);
                    inline for (0..2) |half| {
                        const l0: U8x32 = bw.ql[half * 64 ..][0..32].*;
                        const l1: U8x32 = bw.ql[half * 64 + 32 ..][0..32].*;
                        const hv: U8x32 = bw.qh[half * 32 ..][0..32].*;
                        const m4: U8x32 = @splat(0xF);
                        const m2: U8x32 = @splat(3);
                        const levels = [4]U8x32{
                            (l0 & m4) | ((hv & m2) << @splat(4)),
                            (l1 & m4) | (((hv >> @splat(2)) & m2) << @splat(4)),
                            (l0 >> @splat(4)) | (((hv >> @splat(4)) & m2) << @splat(4)),
                            (l1 >> @splat(4)) | (((hv >> @splat(6)) & m2) << @splat(4)),
                        };
                        inline for (0..4) |j| {
                            const chunk = half * 4 + j;
                            lanes += laneSumsScaledFromMemory(levels[j], by.qs[chunk * 32 ..][0..32], sc.chunk(chunk));
                        }
                    }
                    // ggml's q8sclsub: lane k -= 32 × (bsums[2k]·scale[2k] + bsums[2k+1]·scale[2k+1]).
                    const bsums: @Vector(16, i16) = by.bsums;
                    lanes -= pairProducts(bsums, @as(@Vector(16, i8), bw.scales)) << @splat(5);
                    acc[i] = simd.fusedMulAdd(F32x8, @splat(by.d * h(bw.d)), toF32x8(lanes), acc[i]);
                },
                .q5_k => {
                    const u = unpackK(t, bw, true);
                    var lanes: I32x8 = @splat(0);
                    inline for (0..qk_k / 32) |chunk| {
                        lanes += laneSumsScaled16(u.q[chunk * 32 ..][0..32].*, by.qs[chunk * 32 ..][0..32].*, @splat(@intCast(u.scales[chunk])));
                    }
                    acc[i] = simd.fusedMulAdd(F32x8, @splat(by.d * h(bw.d)), toF32x8(lanes), acc[i]);
                    const dmin = -by.d * h(bw.dmin);
                    summs[i] = simd.fusedMulAdd(f32, dmin, @floatFromInt(@reduce(.Add, minsProduct(by, u.mins))), summs[i]);
                },
                else => @compileError("no decodeRows for this type"),
            }
        }
    }
    inline for (0..r) |i| {
        out[i * out_stride] = switch (t) {
            .q4_k => simd.hsum8(acc[i]) + minsTotal(acc_m[i]),
            .q4_1, .q5_1, .q5_k => simd.hsum8(acc[i]) + summs[i],
            else => simd.hsum8(acc[i]),
        };
    }
}

/// A Q4_K block's eight lanes of Σ scale·(nibble × activation), exact, as decode forms them: scales and mins as
/// bytes in a vector (q4kScaleBytes, `sb`), each chunk's scale spread by one shuffle, activations read by the
/// multiply itself; nibbles straight from the block.
inline fn q4kScaledLanes(bw: *const b.BlockQ4_K, by: *const b.BlockQ8_K, sb: U8x32) I32x8 {
    var lanes: I32x8 = @splat(0);
    inline for (0..4) |p| {
        const v: U8x32 = bw.qs[p * 32 ..][0..32].*;
        const lo: U8x32 = v & @as(U8x32, @splat(0x0F));
        const hi: U8x32 = v >> @as(@Vector(32, u3), @splat(4));
        lanes += laneSumsScaledFromMemory(lo, by.qs[p * 64 ..][0..32], scaleWords(sb, 2 * p));
        lanes += laneSumsScaledFromMemory(hi, by.qs[p * 64 + 32 ..][0..32], scaleWords(sb, 2 * p + 1));
    }
    return lanes;
}

/// The value, materialized in a vector register at this point. Integer adds are exact, so LLVM may reorder a
/// tile's sums freely — and for a full tile it computes all 64 chunk products of a block first and spills
/// them to the stack (a store and a load per product) before adding; pinning each running sum keeps the
/// n accumulators in registers instead.
inline fn inRegister(v: I32x8) I32x8 {
    if (!has_avx2) return v;
    return asm ("" : [ret] "=x" (-> I32x8) : [v] "0" (v));
}

/// n (2 to max_tile) tokens of Q4_K/Q5_K/Q6_K against one weight row, n known at compile time. Chunk-outer, token-inner: each
/// chunk's levels and scales are formed once (Q4_K's nibbles and Q6_K's six bits straight from the block,
/// nothing staged in memory) and feed n independent integer accumulators, which keeps the multiply units busy
/// instead of waiting on one token's chain of adds. The integer lanes are exact whatever the order, and the
/// float steps per token are vecDotKLanes', so the bits are the same as one token's decode path.
fn kTile(comptime t: b.TensorType, comptime n: usize, w: []const b.Block(t), x: [*]const b.BlockQ8_K, stride: usize, out: []f32) void {
    var acc: [n]F32x8 = @splat(@splat(0));
    // Q4_K's 4-lane mins accumulators two tokens to a register (lanes 0–3 token 2i, 4–7 token 2i + 1): the
    // same fused steps lane by lane, in half the registers a full tile would otherwise spill.
    var acc_m: [(n + 1) / 2]F32x8 = @splat(@splat(0));
    var summs: [n]f32 = @splat(0);
    for (w, 0..) |*bw, blk| {
        // Q4_K: ggml's scale unpacking (three u32 operations); Q5_K's fifth bits are staged by unpackK.
        const sm = if (t == .q4_k) q4kScalesMins(&bw.scales) else undefined;
        const u = if (t == .q5_k) unpackK(t, bw, true) else undefined;
        const sc6 = if (t == .q6_k) Q6Scales.init(bw.scales) else undefined;
        var lanes: [n]I32x8 = @splat(@splat(0));
        inline for (0..qk_k / 32) |chunk| {
            const levels: I8x32 = switch (t) {
                .q4_k => blk4: {
                    const v: U8x32 = bw.qs[(chunk / 2) * 32 ..][0..32].*;
                    break :blk4 @bitCast(if (chunk % 2 == 0) v & @as(U8x32, @splat(0x0F)) else v >> @as(@Vector(32, u3), @splat(4)));
                },
                .q6_k => blk6: {
                    // Chunk j of each 128-value half: low nibbles of ql[0..32] / ql[32..64], then high nibbles,
                    // with bit pair j of qh on top.
                    const half = chunk / 4;
                    const j = chunk % 4;
                    const l: U8x32 = bw.ql[half * 64 + (j % 2) * 32 ..][0..32].*;
                    const hv: U8x32 = bw.qh[half * 32 ..][0..32].*;
                    const low = if (j < 2) l & @as(U8x32, @splat(0xF)) else l >> @as(@Vector(32, u3), @splat(4));
                    const high = ((hv >> @as(@Vector(32, u3), @splat(2 * j))) & @as(U8x32, @splat(3))) << @as(@Vector(32, u3), @splat(4));
                    break :blk6 @bitCast(low | high);
                },
                else => u.q[chunk * 32 ..][0..32].*,
            };
            const scale16: I16x16 = switch (t) {
                .q4_k => @splat(sm.scales[chunk]),
                .q6_k => sc6.chunk(chunk),
                else => @splat(@intCast(u.scales[chunk])),
            };
            inline for (0..n) |k| {
                lanes[k] = inRegister(lanes[k] + laneSumsScaled16(levels, x[k * stride + blk].qs[chunk * 32 ..][0..32].*, scale16));
            }
        }
        const dw = h(bw.d);
        inline for (0..n) |k| {
            const by = &x[k * stride + blk];
            if (t == .q6_k) {
                // ggml's q8sclsub: lane k -= 32 × (bsums[2k]·scale[2k] + bsums[2k+1]·scale[2k+1]).
                const bsums: @Vector(16, i16) = by.bsums;
                const sc: @Vector(16, i16) = @as(@Vector(16, i8), bw.scales);
                lanes[k] -= pairProducts(bsums, sc) << @splat(5);
            }
            acc[k] = simd.fusedMulAdd(F32x8, @splat(by.d * dw), toF32x8(lanes[k]), acc[k]);
            if (t == .q5_k) {
                const dmin = -by.d * h(bw.dmin);
                summs[k] = simd.fusedMulAdd(f32, dmin, @floatFromInt(@reduce(.Add, minsProduct(by, u.mins))), summs[k]);
            }
        }
        if (t == .q4_k) {
            const dmin_w = h(bw.dmin);
            inline for (0..(n + 1) / 2) |i| {
                const by0 = &x[2 * i * stride + blk];
                const has1 = 2 * i + 1 < n;
                const by1 = if (has1) &x[(2 * i + 1) * stride + blk] else by0;
                const prod = minsProductPair(by0, by1, sm.mins);
                const dmin0: @Vector(4, f32) = @splat(-by0.d * dmin_w);
                const dmin1: @Vector(4, f32) = @splat(if (has1) -by1.d * dmin_w else 0);
                acc_m[i] = simd.fusedMulAdd(F32x8, std.simd.join(dmin0, dmin1), @floatFromInt(prod), acc_m[i]);
            }
        }
    }
    inline for (0..n) |k| {
        const m: @Vector(4, f32) = if (k % 2 == 0) std.simd.extract(acc_m[k / 2], 0, 4) else std.simd.extract(acc_m[k / 2], 4, 4);
        out[k] = simd.hsum8(acc[k]) + ((m[0] + m[2]) + (m[1] + m[3])) + summs[k];
    }
}

/// minsProduct for two activation blocks at once: lanes 0–3 are by0's four lanes, 4–7 by1's.
inline fn minsProductPair(by0: *const b.BlockQ8_K, by1: *const b.BlockQ8_K, mins: anytype) I32x8 {
    const doubled = doubledMins(mins);
    const p0 = pairProducts(by0.bsums, doubled);
    const p1 = pairProducts(by1.bsums, doubled);
    return @as(I32x8, @shuffle(i32, p0, p1, [8]i32{ 0, 2, 4, 6, -1, -3, -5, -7 })) + @as(I32x8, @shuffle(i32, p0, p1, [8]i32{ 1, 3, 5, 7, -2, -4, -6, -8 }));
}

/// n (2 to max_tile) tokens of a simple type against one weight row, n known at compile time so the
/// accumulators live in registers. The per-token arithmetic is exactly vecDotSimple's.
fn simpleTile(comptime t: b.TensorType, comptime n: usize, w: []const b.Block(t), x: [*]const b.Block(b.activationType(t)), stride: usize, out: []f32) void {
    var acc: [n]F32x8 = @splat(@splat(0));
    var summs: [n]f32 = @splat(0);
    for (w, 0..) |*bw, blk| {
        const q = unpackSimple(t, bw);
        const dw = h(bw.d);
        inline for (0..n) |k| {
            const bx = &x[k * stride + blk];
            acc[k] = simd.fusedMulAdd(F32x8, @splat(dw * h(bx.d)), toF32x8(simpleLaneSums(t, q, bx.qs)), acc[k]);
            if (t == .q4_1 or t == .q5_1) summs[k] += h(bw.m) * h(bx.s);
        }
    }
    inline for (0..n) |k| out[k] = simd.hsum8(acc[k]) + summs[k];
}

/// A tile's activations laid out once per tile for every weight row that reads them: the f16 scales as f32,
/// indexed [block][token] so that a block's scales for the whole tile are one or two vectors, and the quants copied
/// to [block][token], 32-byte aligned and in the order the tile reads them. Read in place, each 32-byte load
/// sat 2 bytes into a 34-byte block — half of them crossing a cache line — at eight strides, one address
/// register each; the copy made the Q4_0 tile ~20% faster (Qwen2.5-0.5B shape, 896 × 896 × 64 tokens, one
/// thread) and a whole 512-token Q4_0 prefill 17% faster. 512 KB: it lives in the pool's per-thread scratch.
pub const PreparedTile = struct {
    d: [max_prepared_blocks][tile_vectors]F32x8,
    s: [max_prepared_blocks][tile_vectors]F32x8,
    qs: [max_prepared_blocks][max_tile][qk]i8 align(32),
};
/// f32 vectors that hold one value per token of a tile.
const tile_vectors = (max_tile + 7) / 8;

pub fn prepareTile(comptime t: b.TensorType, x: [*]const b.Block(b.activationType(t)), stride: usize, count: usize, sc: *PreparedTile) void {
    std.debug.assert(stride <= max_prepared_blocks and count <= max_tile);
    for (0..stride) |blk| {
        // Lanes past the tile stay zero: they are multiplied along and must not be NaNs or denormals.
        var d: [tile_vectors * 8]f32 = @splat(0);
        var sv: [tile_vectors * 8]f32 = @splat(0);
        for (0..count) |k| {
            const bx = &x[k * stride + blk];
            d[k] = h(bx.d);
            if (t == .q4_1 or t == .q5_1) sv[k] = h(bx.s);
            // Q8_0 with AVX-512: stored as unsigned bytes c + 128, for simpleTileQ8_0Offset.
            sc.qs[blk][k] = if (t == .q8_0 and has_avx512) @bitCast(@as(U8x32, @bitCast(bx.qs)) ^ @as(U8x32, @splat(0x80))) else bx.qs;
        }
        sc.d[blk] = @bitCast(d);
        sc.s[blk] = @bitCast(sv);
    }
}

/// simpleTile with a prepared tile: the n products dw·dx in one vector multiply per 8 tokens, and Q4_1/Q5_1's
/// n running m·s sums as vectors of 8 (lane k: the same unfused multiply and add, in the same order, as simpleTile's
/// scalar summs[k]), which also frees the n registers those scalars took. Two things keep the loop at five
/// vector operations per token and block (sign, maddubs, maddwd, convert, fma): |w| is formed once per
/// weight block rather than per token, and each token's dw·dx is broadcast from memory — a load, not a
/// shuffle needing its own index register (with eight tokens those indices spilled).
fn simpleTilePrepared(comptime t: b.TensorType, comptime n: usize, w: []const b.Block(t), out: []f32, sc: *const PreparedTile) void {
    if (t == .q8_0 and has_avx512) return simpleTileQ8_0Offset(n, w, out, sc);
    const signed = comptime (t != .q4_1 and t != .q5_1);
    const vectors = (n + 7) / 8;
    var acc: [n]F32x8 = @splat(@splat(0));
    var summs: [vectors]F32x8 = @splat(@splat(0));
    var products: [vectors]F32x8 align(32) = undefined;
    for (w, 0..) |*bw, blk| {
        const q = unpackSimple(t, bw);
        const abs_q = if (signed and has_avx2) psign(q, q) else q;
        const dw: F32x8 = @splat(h(bw.d));
        inline for (0..vectors) |v| products[v] = dw * sc.d[blk][v];
        inline for (0..n) |k| {
            // Through a pointer: indexing sc.qs by value made the debug build copy the whole array.
            const c: I8x32 = (&sc.qs[blk][k]).*;
            const lanes = if (signed) laneSumsSigned(abs_q, q, c) else laneSumsUnsigned(q, c);
            const d = if (signed) broadcastLane(&products[k / 8], k % 8) else @as(F32x8, @splat(products[k / 8][k % 8]));
            acc[k] = simd.fusedMulAdd(F32x8, d, toF32x8(lanes), acc[k]);
        }
        if (t == .q4_1 or t == .q5_1) inline for (0..vectors) |v| {
            summs[v] = summs[v] + @as(F32x8, @splat(h(bw.m))) * sc.s[blk][v];
        };
    }
    inline for (0..n) |k| out[k] = simd.hsum8(acc[k]) + summs[k / 8][k % 8];
}

/// simpleTilePrepared for Q8_0 with AVX-512, in five instructions per token and block instead of seven — the
/// tile had been bound by how many it issues (a prefill of a Q8_0 model spends 83% of its time here). The
/// activations are prepared as unsigned bytes (c + 128), so that vpdpbusd takes them against the signed weights
/// as they are, with no sign trick per token; it starts from −128 × each lane's weight sum, formed once per
/// block, so each lane is the same exact integer as before; and the fused step takes its dw·dx by an embedded
/// broadcast from memory. The same lanes, the same float steps: the same bits.
fn simpleTileQ8_0Offset(comptime n: usize, w: []const b.BlockQ8_0, out: []f32, sc: *const PreparedTile) void {
    const vectors = (n + 7) / 8;
    var acc: [n]F32x8 = @splat(@splat(0));
    var products: [vectors]F32x8 align(32) = undefined;
    for (w, 0..) |*bw, blk| {
        const q: I8x32 = bw.qs;
        const start = -%dpbusd(@splat(0), @splat(0x80), q);
        const dw: F32x8 = @splat(h(bw.d));
        inline for (0..vectors) |v| products[v] = dw * sc.d[blk][v];
        inline for (0..n) |k| {
            const lanes = dpbusd(start, @bitCast((&sc.qs[blk][k]).*), q);
            acc[k] = fusedMulAddBroadcast(acc[k], toF32x8(lanes), @ptrCast(&products), k);
        }
    }
    // simpleTilePrepared adds its (zero) m·s sums here: + 0 keeps a −0 sum's sign as it does.
    inline for (0..n) |k| out[k] = simd.hsum8(acc[k]) + 0.0;
}

/// x · v[k] + acc, v[k] broadcast to every lane from memory by the fused step itself (AVX-512's {1to8}): one
/// instruction where broadcastLane and the fused step were two. v was just stored: volatile, memory clobber.
inline fn fusedMulAddBroadcast(acc: F32x8, x: F32x8, v: *const [max_tile + 7 - (max_tile + 7) % 8]f32, comptime k: usize) F32x8 {
    return asm volatile (std.fmt.comptimePrint("vfmadd231ps {d}(%[v]){{1to8}}, %[x], %[ret]", .{k * 4})
        : [ret] "=v" (-> F32x8),
        : [x] "v" (x),
          [v] "r" (v),
          [acc] "0" (acc),
        : .{ .memory = true });
}

/// laneSums(w, c) with |w| given: ggml's sign trick when the caller forms |w| once for several c.
inline fn laneSumsSigned(abs_w: I8x32, w: I8x32, c: I8x32) I32x8 {
    if (has_avx2) return addLaneSumsUnsigned(@splat(0), @bitCast(abs_w), psign(c, w));
    return laneSums(w, c);
}

/// Lane k of a vector just stored, in every lane: vbroadcastss from memory (a load, no shuffle port).
/// The asm reads memory the compiler cannot see, hence volatile with a memory clobber.
inline fn broadcastLane(v: *const F32x8, comptime k: usize) F32x8 {
    if (!has_avx2) return @splat(v[k]);
    const p: *const f32 = &@as(*const [8]f32, @ptrCast(v))[k];
    return asm volatile ("vbroadcastss (%[p]), %[ret]"
        : [ret] "=x" (-> F32x8),
        : [p] "r" (p),
        : .{ .memory = true });
}

// ---- Q4_0 and IQ4_NL in llama.cpp's repacked order ------------------------------------------------------------

/// On x86 with AVX2, llama.cpp repacks every Q4_0 matrix whose row count is a multiple of 8 when it loads a
/// model (rows interleaved 8 at a time; ggml_gemv/gemm_q4_0_8x8_q8_0), and that is what llama-cli and
/// llama-bench run by default. Those kernels sum each (row, token) pair as one float chain: per block, the
/// exact integer dot of its 32 values, converted, times dw·dx, fused into the accumulator; no 8-lane
/// accumulator and no horizontal sum at the end. One token (gemv) and a batch (gemm) give the same bits.
/// zinc sums such matrices in that order too: the same output as llama.cpp's default, and an eighth of the
/// plain order's float work per token and block. IQ4_NL matrices are repacked too and go through the same
/// kernels (its levels looked up from a table instead of the nibbles less 8): the same order. This is the
/// scalar reference, for both.
pub fn vecDotRepacked4Bit(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.BlockQ8_0) f32 {
    comptime std.debug.assert(t == .q4_0 or t == .iq4_nl);
    std.debug.assert(x.len == y.len);
    var acc: f32 = 0;
    for (x, y) |*bx, *by| {
        const q = unpackSimpleScalar(t, bx);
        var sum: i32 = 0;
        for (q, by.qs) |wq, xq| sum += @as(i32, wq) * @as(i32, xq);
        acc = simd.fusedMulAdd(f32, @floatFromInt(sum), h(bx.d) * h(by.d), acc);
    }
    return acc;
}

/// decodeRows for Q4_0 or IQ4_NL in the repacked order: r rows (each i·row_stride blocks after w) against one token.
/// Each row's block sums are formed as decodeRows forms the plain lanes (unsigned nibbles less the prepared
/// offsets) and added up — exact integers. Four rows take two blocks per step: their eight lane vectors are
/// summed by one transposition into a vector [row 0..3 of block k, row 0..3 of block k+1], so that the
/// horizontal sums cost a few shuffles per row and block and the fused steps run four rows at once (a scalar
/// reduce per row and block had made decode 25% slower, past the memory's pace).
pub fn decodeRowsRepacked4Bit(comptime t: b.TensorType, comptime r: usize, w: [*]const b.Block(t), row_stride: usize, x: []const b.BlockQ8_0, prepared: *const PreparedActivations, out: [*]f32, out_stride: usize) void {
    var acc: @Vector(r, f32) = @splat(0);
    var blk: usize = 0;
    if (t == .q4_0 and has_avx2 and r == 4) {
        blk = if (x.len >= long_row_blocks_q4_0) decodeRowsRepackedQ4_0Wide(true, w, row_stride, x.len, prepared, &acc) else decodeRowsRepackedQ4_0Wide(false, w, row_stride, x.len, prepared, &acc);
    } else if (r == 4) while (blk + 2 <= x.len) : (blk += 2) {
        var lanes: [8]I32x8 = undefined;
        var dw: @Vector(8, f16) = undefined;
        inline for (0..2) |k| inline for (0..4) |i| {
            const bw = &w[i * row_stride + blk + k];
            lanes[k * 4 + i] = blockLanes4Bit(t, bw, x[blk + k].qs, prepared.offsets[blk + k]);
            dw[k * 4 + i] = bw.d;
        };
        const dx = std.simd.join(@as(@Vector(4, f32), @splat(prepared.d[blk])), @as(@Vector(4, f32), @splat(prepared.d[blk + 1])));
        const d = @as(F32x8, @floatCast(dw)) * dx;
        const sums = toF32x8(sumsOfEight(lanes));
        acc = simd.fusedMulAdd(@Vector(r, f32), std.simd.extract(sums, 0, 4), std.simd.extract(d, 0, 4), acc);
        acc = simd.fusedMulAdd(@Vector(r, f32), std.simd.extract(sums, 4, 4), std.simd.extract(d, 4, 4), acc);
    };
    while (blk < x.len) : (blk += 1) {
        inline for (0..r) |i| {
            const bw = &w[i * row_stride + blk];
            const lanes = blockLanes4Bit(t, bw, x[blk].qs, prepared.offsets[blk]);
            acc[i] = simd.fusedMulAdd(f32, @floatFromInt(@reduce(.Add, lanes)), h(bw.d) * prepared.d[blk], acc[i]);
        }
    }
    inline for (0..r) |i| out[i * out_stride] = acc[i];
}

/// Long rows: from 8192 columns a row's Q8_0 activations (34 bytes per 32 values, with their prepared pairs)
/// fill most of the 32 KB L1, the four weight streams passing through evict them, and one thread's Q4_0 decode
/// fell from 22–24 to 17–18 GB/s of weights (3584 against 18944 columns). There the weights are prefetched
/// non-temporally ahead of use (prefetchWeights), so that their lines are the first to leave: 17–18 → 19–21
/// GB/s on one thread, 25.7 → 31 on two (18944 × 3584). Shorter rows gain nothing from it, so they skip it.
/// (Q4_K's decode gained 7–10% on one thread from the same and nothing on two; it is left without.)
const long_row_blocks_q4_0 = 8192 / qk;

/// A non-temporal prefetch 512 bytes (28 Q4_0 blocks) ahead of a weight stream: far enough to cover the memory's
/// latency at one thread's pace, near enough to be used before it is evicted.
inline fn prefetchWeights(bytes: [*]const u8) void {
    @prefetch(bytes + 512, .{ .rw = .read, .locality = 0, .cache = .data });
}

/// decodeRowsRepacked4Bit's four-row step for Q4_0 with AVX2: the same exact block sums and the same fused
/// steps, in fewer instructions — decode of Q4_0 in this order had been bound by them (with AVX-512, 18 GB/s
/// of weights on one thread where Q4_K's reached 24). A row's two blocks are one 256-bit load of their nibble
/// bytes; the low nibbles and the high ones are dotted into the same lanes (against the prepared pair layout;
/// a vpdpbusd each with VNNI), so that a row's vector holds [block 0 × 4 lanes, block 1 × 4 lanes]; the four
/// rows' eight block sums then come out of one in-lane transposition, already in the order the fused steps
/// take them; and the eight f16 scales are gathered by shuffles of each row's first 32 bytes (two word
/// permutes and a blend with AVX-512) instead of eight word inserts. Returns the blocks done (all but an odd
/// last one).
fn decodeRowsRepackedQ4_0Wide(comptime prefetch: bool, w: [*]const b.BlockQ4_0, row_stride: usize, blocks: usize, prepared: *const PreparedActivations, acc: *@Vector(4, f32)) usize {
    const pairs = &prepared.pairs;
    var blk: usize = 0;
    while (blk + 2 <= blocks) : (blk += 2) {
        const pair = blk / 2;
        var sums: [4]I32x8 = undefined;
        var heads: [4]@Vector(16, u16) = undefined;
        inline for (0..4) |i| {
            const bytes: [*]const u8 = @ptrCast(&w[i * row_stride + blk]);
            if (prefetch) prefetchWeights(bytes);
            // Block k is 18 bytes: its f16 scale, then 16 bytes of nibble pairs (value j low, j + 16 high).
            const q: U8x32 = std.simd.join(@as(@Vector(16, u8), bytes[2..18].*), @as(@Vector(16, u8), bytes[20..36].*));
            const low = addLaneSumsUnsigned(@splat(0), q & @as(U8x32, @splat(0x0F)), pairs.low[pair]);
            sums[i] = addLaneSumsUnsigned(low, q >> @splat(4), pairs.high[pair]);
            heads[i] = @bitCast(bytes[0..32].*);
        }
        // Lanes 4k..4k+3 of row i's vector: block k's partial sums. Pair rows 0/1 and 2/3 by dwords, then
        // the pairs by qwords, adding at each step: lane 4k + i is row i's block k.
        const t01 = @shuffle(i32, sums[0], sums[1], [8]i32{ 0, -1, 1, -2, 4, -5, 5, -6 }) + @shuffle(i32, sums[0], sums[1], [8]i32{ 2, -3, 3, -4, 6, -7, 7, -8 });
        const t23 = @shuffle(i32, sums[2], sums[3], [8]i32{ 0, -1, 1, -2, 4, -5, 5, -6 }) + @shuffle(i32, sums[2], sums[3], [8]i32{ 2, -3, 3, -4, 6, -7, 7, -8 });
        const block_sums = @shuffle(i32, t01, t23, [8]i32{ 0, 1, -1, -2, 4, 5, -5, -6 }) + @shuffle(i32, t01, t23, [8]i32{ 2, 3, -3, -4, 6, 7, -7, -8 }) - pairs.offsets[pair];
        // Scales: word 0 of each row's first block, word 9 of its second.
        const d01 = @shuffle(u16, heads[0], heads[1], [8]i32{ 0, -1, 0, -1, 9, -10, 9, -10 });
        const d23 = @shuffle(u16, heads[2], heads[3], [8]i32{ 0, -1, 0, -1, 9, -10, 9, -10 });
        const dw: @Vector(8, f16) = @bitCast(@shuffle(u16, d01, d23, [8]i32{ 0, 1, -1, -2, 4, 5, -5, -6 }));
        const d = @as(F32x8, @floatCast(dw)) * pairs.d[pair];
        const f = toF32x8(block_sums);
        acc.* = simd.fusedMulAdd(@Vector(4, f32), std.simd.extract(f, 0, 4), std.simd.extract(d, 0, 4), acc.*);
        acc.* = simd.fusedMulAdd(@Vector(4, f32), std.simd.extract(f, 4, 4), std.simd.extract(d, 4, 4), acc.*);
    }
    return blk;
}

/// A 32-value block's eight lane sums, exact: Q4_0 as unsigned nibbles less the prepared offsets, IQ4_NL as its
/// table levels with the sign trick.
inline fn blockLanes4Bit(comptime t: b.TensorType, bw: *const b.Block(t), xq: [qk]i8, offsets: I32x8) I32x8 {
    return switch (t) {
        .q4_0 => laneSumsUnsigned(@bitCast(nibbles(bw.qs)), xq) - offsets,
        .iq4_nl => laneSums(iq4nlLevels(nibbles(bw.qs)), xq),
        else => @compileError("not a repacked 4-bit type"),
    };
}

/// Lane i: the sum of v[i]'s eight lanes — three rounds of shuffles and adds (unpack by dwords, by qwords, by
/// halves), as an 8×8 transposition would pair them. Integer sums, so the pairing does not matter.
inline fn sumsOfEight(v: [8]I32x8) I32x8 {
    var t: [4]I32x8 = undefined;
    inline for (0..4) |p| {
        t[p] = @shuffle(i32, v[2 * p], v[2 * p + 1], [8]i32{ 0, -1, 1, -2, 4, -5, 5, -6 }) +
            @shuffle(i32, v[2 * p], v[2 * p + 1], [8]i32{ 2, -3, 3, -4, 6, -7, 7, -8 });
    }
    var u: [2]I32x8 = undefined;
    inline for (0..2) |p| {
        u[p] = @shuffle(i32, t[2 * p], t[2 * p + 1], [8]i32{ 0, 1, -1, -2, 4, 5, -5, -6 }) +
            @shuffle(i32, t[2 * p], t[2 * p + 1], [8]i32{ 2, 3, -3, -4, 6, 7, -7, -8 });
    }
    return @shuffle(i32, u[0], u[1], [8]i32{ 0, 1, 2, 3, -1, -2, -3, -4 }) +
        @shuffle(i32, u[0], u[1], [8]i32{ 4, 5, 6, 7, -5, -6, -7, -8 });
}

/// Four packed bytes (a weight dword) in every 32-bit lane, split into their low and their high nibbles:
/// what the repacked tiles multiply by eight tokens' four bytes at once.
const BroadcastNibbles = struct { lo: U8x32, hi: U8x32 };
inline fn broadcastNibbles(bytes: *const [4]u8) BroadcastNibbles {
    const raw: @Vector(8, u32) = @splat(std.mem.readInt(u32, bytes, .little));
    return .{
        .lo = @as(U8x32, @bitCast(raw)) & @as(U8x32, @splat(0x0F)),
        .hi = @as(U8x32, @bitCast(raw >> @splat(4))) & @as(U8x32, @splat(0x0F)),
    };
}

/// Tokens per repacked-order tile: two vectors of 8 (each lane one token).
pub const repacked_tile = 16;
const repacked_vectors = repacked_tile / 8;

/// A tile's activations for the repacked order, laid out so that a vector lane is a token: for block blk,
/// vector v and j < 8, qs[blk][v][j] holds bytes 4j..4j+3 of tokens 8v..8v+7 (four bytes each, token after
/// token). One weight dword (four nibbles) broadcast to every lane then multiplies eight tokens at once, and
/// the block's sum for eight tokens comes out as one vector — no horizontal sums. Tokens past the tile are
/// zero (scale 0), so their lanes stay 0. 640 KB at most: in the pool's per-thread scratch.
pub const RepackedTile = struct {
    qs: [max_prepared_blocks][repacked_vectors][8]I8x32 align(32),
    /// 8 × the sum of each token's 32 activations: what the nibbles' offset of 8 adds to the unsigned product.
    offsets: [max_prepared_blocks][repacked_vectors]I32x8,
    d: [max_prepared_blocks][repacked_vectors]F32x8,
};

pub fn prepareRepackedTile(x: [*]const b.BlockQ8_0, stride: usize, count: usize, sc: *RepackedTile) void {
    std.debug.assert(stride <= max_prepared_blocks and count <= repacked_tile);
    for (0..stride) |blk| {
        for (0..repacked_vectors) |v| {
            var qs: [8][8][4]i8 = @splat(@splat(@splat(0)));
            var offsets: [8]i32 = @splat(0);
            var d: [8]f32 = @splat(0);
            for (0..8) |lane| {
                const k = v * 8 + lane;
                if (k >= count) break;
                const bx = &x[k * stride + blk];
                for (0..8) |j| qs[j][lane] = bx.qs[4 * j ..][0..4].*;
                var sum: i32 = 0;
                for (bx.qs) |q| sum += q;
                offsets[lane] = 8 * sum;
                d[lane] = h(bx.d);
            }
            for (0..8) |j| sc.qs[blk][v][j] = @bitCast(qs[j]);
            sc.offsets[blk][v] = offsets;
            sc.d[blk][v] = d;
        }
    }
}

/// One Q4_0 (or IQ4_NL) row against a prepared tile, in the repacked order: out[k] for the tile's 16 tokens. Per block
/// and 8 tokens: eight maddubs of a broadcast weight dword (unsigned nibbles, 0..15) by the tokens' four
/// bytes, added as i16 (8 × 2 × 15 × 127 < 2^15: exact), one maddwd to i32, the offset taken off, and one
/// convert and fused multiply-add.
pub fn repackedTile4Bit(comptime t: b.TensorType, w: []const b.Block(t), out: *[repacked_tile]f32, sc: *const RepackedTile) void {
    var acc: [repacked_vectors]F32x8 = @splat(@splat(0));
    for (w, 0..) |*bw, blk| {
        var sums: [repacked_vectors]I32x8 = undefined;
        if (has_vnni and t == .q4_0) {
            // vpdpbusd adds each token's four products straight into its 32-bit lane: one instruction per
            // dword and 8 tokens, no 16-bit step. Low and high nibbles in separate chains, so that each chain
            // waits on four multiply-adds, not eight.
            var lo32: [repacked_vectors]I32x8 = @splat(@splat(0));
            var hi32: [repacked_vectors]I32x8 = @splat(@splat(0));
            inline for (0..4) |k| {
                const nib = broadcastNibbles(bw.qs[4 * k ..][0..4]);
                inline for (0..repacked_vectors) |v| {
                    lo32[v] = dpbusd(lo32[v], nib.lo, (&sc.qs[blk][v][k]).*);
                    hi32[v] = dpbusd(hi32[v], nib.hi, (&sc.qs[blk][v][k + 4]).*);
                }
            }
            inline for (0..repacked_vectors) |v| sums[v] = lo32[v] + hi32[v] - sc.offsets[blk][v];
        } else if (has_avx2 and t == .q4_0) {
            var s16: [repacked_vectors]I16x16 = @splat(@splat(0));
            inline for (0..4) |k| {
                // Dword k of the block holds values 4k..4k+3 in its low nibbles and 16+4k.. in its high ones.
                const nib = broadcastNibbles(bw.qs[4 * k ..][0..4]);
                inline for (0..repacked_vectors) |v| {
                    s16[v] += maddubs(nib.lo, (&sc.qs[blk][v][k]).*);
                    s16[v] += maddubs(nib.hi, (&sc.qs[blk][v][k + 4]).*);
                }
            }
            inline for (0..repacked_vectors) |v| sums[v] = maddwd(s16[v], @splat(1)) - sc.offsets[blk][v];
        } else if (has_avx2) {
            // IQ4_NL: signed levels (±127), so the sign trick, and pairs that can reach 2 × 127 × 127 go to
            // 32 bits at once.
            var s32: [repacked_vectors]I32x8 = @splat(@splat(0));
            inline for (0..4) |k| {
                const nib = broadcastNibbles(bw.qs[4 * k ..][0..4]);
                const lo = iq4nlLevels(nib.lo);
                const hi = iq4nlLevels(nib.hi);
                const abs_lo = psign(lo, lo);
                const abs_hi = psign(hi, hi);
                inline for (0..repacked_vectors) |v| {
                    s32[v] += laneSumsSigned(abs_lo, lo, (&sc.qs[blk][v][k]).*);
                    s32[v] += laneSumsSigned(abs_hi, hi, (&sc.qs[blk][v][k + 4]).*);
                }
            }
            sums = s32;
        } else {
            const q = unpackSimpleScalar(t, bw);
            inline for (0..repacked_vectors) |v| {
                var s: I32x8 = @splat(0);
                inline for (0..8) |j| {
                    const wj: @Vector(8, u32) = @splat(@bitCast(q[4 * j ..][0..4].*));
                    s += laneSums(@bitCast(wj), sc.qs[blk][v][j]);
                }
                // Signed levels here, so no offset.
                sums[v] = s;
            }
        }
        const dw: F32x8 = @splat(h(bw.d));
        inline for (0..repacked_vectors) |v| acc[v] = simd.fusedMulAdd(F32x8, toF32x8(sums[v]), dw * sc.d[blk][v], acc[v]);
    }
    inline for (0..repacked_vectors) |v| out[v * 8 ..][0..8].* = acc[v];
}

// ---- Q4_K in llama.cpp's repacked order -----------------------------------------------------------------------

/// llama.cpp repacks Q4_K matrices of rows in multiples of 8 too (AVX2: ggml_gemv/gemm_q4_K_8x8_q8_K), and its
/// two kernels fuse at different points. Per super-block the exact integer sums Σ scale·dot over 32-value
/// chunks and Σ min·(the chunk's activation sum) are each converted and fused into their own chain (times dw·dx
/// and dmin·dx); the result is the first chain less the second. The one-token kernel (gemv) fuses once per
/// 256-value super-block; the batch kernel (gemm) once per 64 values. A batch of T tokens goes through the
/// gemm for its first T − T mod 4 tokens and through the gemv for the rest. This is the scalar reference;
/// `gemm` picks the batch kernel's order.
pub fn vecDotRepackedQ4_K(x: []const b.BlockQ4_K, y: []const b.BlockQ8_K, gemm: bool) f32 {
    std.debug.assert(x.len == y.len);
    var acc: f32 = 0;
    var acc_min: f32 = 0;
    for (x, y) |*bx, *by| {
        const sm = q4kScalesMins(&bx.scales);
        var sum: i32 = 0;
        var sum_min: i32 = 0;
        for (0..qk_k / 32) |j| {
            if (gemm and j % 2 == 0 and j > 0) {
                acc = simd.fusedMulAdd(f32, @floatFromInt(sum), h(bx.d) * by.d, acc);
                acc_min = simd.fusedMulAdd(f32, @floatFromInt(sum_min), h(bx.dmin) * by.d, acc_min);
                sum = 0;
                sum_min = 0;
            }
            var dot: i32 = 0;
            for (0..32) |i| {
                const byte = bx.qs[(j / 2) * 32 + i];
                const q: i32 = if (j % 2 == 0) byte & 0x0F else byte >> 4;
                dot += q * by.qs[j * 32 + i];
            }
            sum += sm.scales[j] * dot;
            sum_min += sm.mins[j] * (@as(i32, by.bsums[2 * j]) + by.bsums[2 * j + 1]);
        }
        acc = simd.fusedMulAdd(f32, @floatFromInt(sum), h(bx.d) * by.d, acc);
        acc_min = simd.fusedMulAdd(f32, @floatFromInt(sum_min), h(bx.dmin) * by.d, acc_min);
    }
    return acc - acc_min;
}

/// The gemv order for r rows (each i·row_stride blocks after w) against one token. A row's two integer sums
/// per super-block come out of the plain decode's lane vectors (scaled chunk dots; mins times bsums); with four
/// rows, their eight lane vectors are summed by one transposition into [Σ scale·dot of rows 0..3, Σ min·bsum
/// of rows 0..3], and one fused step against [dw₀..₃, dmin₀..₃]·dx advances both chains of all four rows.
pub fn decodeRowsRepackedQ4_K(comptime r: usize, w: [*]const b.BlockQ4_K, row_stride: usize, x: []const b.BlockQ8_K, out: [*]f32, out_stride: usize) void {
    var acc: F32x8 = @splat(0);
    var acc_rows: [r]f32 = @splat(0);
    var acc_min_rows: [r]f32 = @splat(0);
    for (x, 0..) |*by, blk| {
        var lanes: [8]I32x8 = @splat(@splat(0));
        var dw: @Vector(8, f16) = @splat(0);
        inline for (0..r) |i| {
            const bw = &w[i * row_stride + blk];
            const sb = q4kScaleBytes(&bw.scales);
            const dots = q4kScaledLanes(bw, by, sb);
            // Lane j: mins[j] · (bsums[2j] + bsums[2j + 1]), chunk j's min times its activation sum.
            const mins = pairProducts(by.bsums, doubledMinWords(sb));
            if (r == 4) {
                lanes[i] = dots;
                lanes[4 + i] = mins;
                dw[i] = bw.d;
                dw[4 + i] = bw.dmin;
            } else {
                acc_rows[i] = simd.fusedMulAdd(f32, @floatFromInt(@reduce(.Add, dots)), h(bw.d) * by.d, acc_rows[i]);
                acc_min_rows[i] = simd.fusedMulAdd(f32, @floatFromInt(@reduce(.Add, mins)), h(bw.dmin) * by.d, acc_min_rows[i]);
            }
        }
        if (r == 4) acc = simd.fusedMulAdd(F32x8, toF32x8(sumsOfEight(lanes)), @as(F32x8, @floatCast(dw)) * @as(F32x8, @splat(by.d)), acc);
    }
    inline for (0..r) |i| out[i * out_stride] = if (r == 4) acc[i] - acc[4 + i] else acc_rows[i] - acc_min_rows[i];
}

/// A tile's Q8_K activations for the gemm order, a vector lane per token as in RepackedTile: qs by 32-value
/// chunk (chunk c of the row is super-block c / 8's chunk c mod 8); chunk_sums[c / 2][v] holds, for token
/// 8v + t, the activation sums of chunks c and c + 1 in words 2t and 2t + 1 (32 × 127 fits an i16), so
/// that one vpmaddwd by the pair's two mins gives each token's Σ min·sum for 64 values; d per super-block.
pub const RepackedTileQ8K = struct {
    qs: [max_prepared_blocks][repacked_vectors][8]I8x32 align(32),
    chunk_sums: [max_prepared_blocks / 2][repacked_vectors]I16x16,
    d: [max_prepared_blocks / 8][repacked_vectors]F32x8,
};

pub fn prepareRepackedTileQ8K(x: [*]const b.BlockQ8_K, stride: usize, count: usize, sc: *RepackedTileQ8K) void {
    std.debug.assert(stride * (qk_k / 32) <= max_prepared_blocks and count <= repacked_tile);
    for (0..stride) |sb| {
        for (0..repacked_vectors) |v| {
            var d: [8]f32 = @splat(0);
            var sums: [4][8][2]i16 = @splat(@splat(@splat(0)));
            for (0..8) |lane| {
                const k = v * 8 + lane;
                if (k >= count) break;
                const by = &x[k * stride + sb];
                d[lane] = by.d;
                for (0..8) |j| sums[j / 2][lane][j % 2] = by.bsums[2 * j] + by.bsums[2 * j + 1];
            }
            sc.d[sb][v] = d;
            for (0..4) |p| sc.chunk_sums[sb * 4 + p][v] = @bitCast(sums[p]);
            for (0..8) |j| {
                var qs: [8][8][4]i8 = @splat(@splat(@splat(0)));
                for (0..8) |lane| {
                    const k = v * 8 + lane;
                    if (k >= count) break;
                    const by = &x[k * stride + sb];
                    for (0..8) |g| qs[g][lane] = by.qs[j * 32 + 4 * g ..][0..4].*;
                }
                for (0..8) |g| sc.qs[sb * 8 + j][v][g] = @bitCast(qs[g]);
            }
        }
    }
}

/// One Q4_K row against a prepared tile in the gemm order: out[k] for the tile's 16 tokens. Per 64 values and
/// 8 tokens: sixteen maddubs of a broadcast weight dword's low or high nibbles (chunk 2p or 2p + 1) by the
/// tokens' four bytes, added as i16 (8 × 2 × 15 × 127 < 2^15: exact), one maddwd each by the chunk's scale to
/// i32, one maddwd of the chunk sums by the mins, and two converts and fused steps.
pub fn repackedTileQ4_K(w: []const b.BlockQ4_K, out: *[repacked_tile]f32, sc: *const RepackedTileQ8K) void {
    var acc: [repacked_vectors]F32x8 = @splat(@splat(0));
    var acc_min: [repacked_vectors]F32x8 = @splat(@splat(0));
    for (w, 0..) |*bw, sb| {
        const sm = q4kScalesMins(&bw.scales);
        const dw: F32x8 = @splat(h(bw.d));
        const dmin: F32x8 = @splat(h(bw.dmin));
        inline for (0..4) |p| {
            const c = sb * 8 + 2 * p;
            var sums: [repacked_vectors]I32x8 = undefined;
            if (has_vnni) {
                // Each chunk's dot straight to 32 bits (vpdpbusd), then times its scale (vpmulld): no 16-bit
                // sums, and two multiplies per chunk pair instead of a maddwd per chunk after 16 maddubs.
                var lo32: [repacked_vectors]I32x8 = @splat(@splat(0));
                var hi32: [repacked_vectors]I32x8 = @splat(@splat(0));
                inline for (0..8) |k| {
                    const nib = broadcastNibbles(bw.qs[p * 32 + 4 * k ..][0..4]);
                    inline for (0..repacked_vectors) |v| {
                        lo32[v] = dpbusd(lo32[v], nib.lo, (&sc.qs[c][v][k]).*);
                        hi32[v] = dpbusd(hi32[v], nib.hi, (&sc.qs[c + 1][v][k]).*);
                    }
                }
                inline for (0..repacked_vectors) |v| {
                    sums[v] = lo32[v] * @as(I32x8, @splat(sm.scales[2 * p])) + hi32[v] * @as(I32x8, @splat(sm.scales[2 * p + 1]));
                }
            } else if (has_avx2) {
                var lo16: [repacked_vectors]I16x16 = @splat(@splat(0));
                var hi16: [repacked_vectors]I16x16 = @splat(@splat(0));
                inline for (0..8) |k| {
                    // Dword k of the pair's 32 bytes: values 4k..4k+3 of chunk 2p in its low nibbles, of 2p + 1
                    // in its high ones.
                    const nib = broadcastNibbles(bw.qs[p * 32 + 4 * k ..][0..4]);
                    inline for (0..repacked_vectors) |v| {
                        lo16[v] += maddubs(nib.lo, (&sc.qs[c][v][k]).*);
                        hi16[v] += maddubs(nib.hi, (&sc.qs[c + 1][v][k]).*);
                    }
                }
                inline for (0..repacked_vectors) |v| {
                    sums[v] = maddwd(lo16[v], @splat(sm.scales[2 * p])) + maddwd(hi16[v], @splat(sm.scales[2 * p + 1]));
                }
            } else {
                inline for (0..repacked_vectors) |v| {
                    var lo: I32x8 = @splat(0);
                    var hi: I32x8 = @splat(0);
                    inline for (0..8) |k| {
                        const nib = broadcastNibbles(bw.qs[p * 32 + 4 * k ..][0..4]);
                        const lo_bytes: I8x32 = @bitCast(nib.lo);
                        const hi_bytes: I8x32 = @bitCast(nib.hi);
                        lo += laneSums(lo_bytes, sc.qs[c][v][k]);
                        hi += laneSums(hi_bytes, sc.qs[c + 1][v][k]);
                    }
                    sums[v] = lo * @as(I32x8, @splat(sm.scales[2 * p])) + hi * @as(I32x8, @splat(sm.scales[2 * p + 1]));
                }
            }
            var min_pair: I16x16 = undefined;
            inline for (0..16) |i| min_pair[i] = sm.mins[2 * p + i % 2];
            inline for (0..repacked_vectors) |v| {
                const mins = pairProducts(sc.chunk_sums[c / 2][v], min_pair);
                acc[v] = simd.fusedMulAdd(F32x8, toF32x8(sums[v]), dw * sc.d[sb][v], acc[v]);
                acc_min[v] = simd.fusedMulAdd(F32x8, toF32x8(mins), dmin * sc.d[sb][v], acc_min[v]);
            }
        }
    }
    inline for (0..repacked_vectors) |v| out[v * 8 ..][0..8].* = acc[v] - acc_min[v];
}

// ---- public entry points ----------------------------------------------------------------------------------------

/// The scalar reference of vecDot: the same float operations in the same order, integer sums formed without
/// SIMD (f32/f16/bf16 in f64).
pub fn vecDotReference(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.Block(b.activationType(t))) f32 {
    std.debug.assert(x.len == y.len);
    switch (t) {
        .f32, .f16, .bf16 => {
            var sum: f64 = 0;
            for (x, y) |wx, wy| sum += @as(f64, toF32(t, wx)) * @as(f64, toF32(t, wy));
            return @floatCast(sum);
        },
        .iq4_nl => return vecDotIq4NlDecode(x, y, false),
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0 => return vecDotSimple(t, x, y, false),
        else => return vecDotKLanes(t, x, y, false),
    }
}

inline fn toF32(comptime t: b.TensorType, v: b.Block(t)) f32 {
    return switch (t) {
        .f32 => v,
        .f16 => v,
        .bf16 => b.bf16ToF32(v),
        else => unreachable,
    };
}

/// One weight row times one activation row, as llama.cpp's vec_dot for the type computes it.
pub fn vecDot(comptime t: b.TensorType, x: []const b.Block(t), y: []const b.Block(b.activationType(t))) f32 {
    std.debug.assert(x.len == y.len);
    switch (t) {
        .f32 => return @import("../dot.zig").dotF32(x, y),
        .f16, .bf16 => return vecDotHalf(t, x, y, false),
        .iq4_nl => return vecDotIq4NlDecode(x, y, true),
        .q4_0, .q4_1, .q5_0, .q5_1, .q8_0 => return vecDotSimple(t, x, y, true),
        .q4_k, .q5_k, .q6_k => {
            var out: [1]f32 = undefined;
            dotRowTile(t, x, y.ptr, y.len, 1, &out, .vec_dot, null);
            return out[0];
        },
        else => return vecDotKLanes(t, x, y, true),
    }
}

// ---- tests ------------------------------------------------------------------------------------------------------

const testing = std.testing;

fn randomBlocks(comptime t: b.TensorType, rand: std.Random, out: []b.Block(t)) void {
    // Random bytes are valid blocks of every type once the scales are made finite and modest.
    rand.bytes(std.mem.sliceAsBytes(out));
    for (out) |*blk| {
        switch (t) {
            .f32 => blk.* = rand.floatNorm(f32),
            .f16 => blk.* = @floatCast(rand.floatNorm(f32)),
            .bf16 => blk.* = b.f32ToBf16(rand.floatNorm(f32)),
            else => {
                blk.d = @floatCast(0.001 + rand.float(f32) * 0.01);
                if (@hasField(b.Block(t), "m")) blk.m = @floatCast(rand.floatNorm(f32) * 0.01);
                if (@hasField(b.Block(t), "dmin")) blk.dmin = @floatCast(rand.float(f32) * 0.01);
            },
        }
    }
}

fn activation(comptime t: b.TensorType, x: []const f32, out: []b.Block(b.activationType(t))) void {
    ref.quantizeRow(b.activationType(t), x, out);
}

test "every weight type: SIMD vec_dot equals the scalar reference, and both match dequantize-then-dot" {
    var prng = std.Random.DefaultPrng.init(123);
    const rand = prng.random();
    const n = qk_k * 3;
    inline for (b.weight_types) |t| {
        const nb = comptime n / b.blockValues(t);
        var w: [nb]b.Block(t) = undefined;
        randomBlocks(t, rand, &w);
        var xf: [n]f32 = undefined;
        for (&xf) |*v| v.* = rand.floatNorm(f32);
        const at = comptime b.activationType(t);
        var xa: [n / b.blockValues(at)]b.Block(at) = undefined;
        activation(t, &xf, &xa);

        const want = vecDotReference(t, &w, &xa);
        const got = vecDot(t, &w, &xa);
        switch (t) {
            // f32/f16/bf16: SIMD accumulates in f32 in another order than the f64 reference.
            .f32, .f16, .bf16 => try testing.expectApproxEqRel(want, got, 1e-4),
            else => try testing.expectEqual(want, got),
        }

        // Independent check of the integer bookkeeping: dequantize both sides and dot in f64.
        var wf: [n]f32 = undefined;
        ref.dequantizeRow(t, &w, &wf);
        var xd: [n]f32 = undefined;
        ref.dequantizeRow(at, &xa, &xd);
        var exact: f64 = 0;
        var scale: f64 = 0;
        for (wf, xd) |p, q| {
            exact += @as(f64, p) * q;
            scale += @abs(@as(f64, p) * q);
        }
        testing.expect(@abs(exact - want) <= 1e-4 * scale + 1e-6) catch |err| {
            std.debug.print("type {s}: exact {d} reference {d} scale {d}\n", .{ @tagName(t), exact, want, scale });
            return err;
        };
    }
}
