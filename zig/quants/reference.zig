//! Scalar reference dequantization and reference quantization for every supported type, following
//! ggml-quants.c operation for operation so the results are bit-identical to llama.cpp's. These are the spec the SIMD code is tested against.
const std = @import("std");
const b = @import("blocks.zig");
/// The searching quantizers (K-quants, IQ4, ternary) live in their own file.
const kq = @import("quantize_k.zig");
const qk = b.qk;
const qk_k = b.qk_k;

fn f(h: f16) f32 {
    return h;
}

/// ggml's `nearest_int`: round half to even via the 1.5 * 2^23 trick.
pub fn nearestInt(v: f32) i32 {
    const shifted = v + 12582912.0;
    const bits: i32 = @bitCast(shifted);
    return (bits & 0x007fffff) - 0x00400000;
}

pub fn getScaleMinK4(j: usize, q: *const [12]u8) struct { scale: u8, min: u8 } {
    if (j < 4) return .{ .scale = q[j] & 63, .min = q[j + 4] & 63 };
    return .{
        .scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4),
        .min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4),
    };
}

/// The 16 signed 6-bit scales of a Q3_K block, unpacked (already minus 32).
pub fn unpackQ3KScales(packed_scales: *const [12]u8) [16]i8 {
    var aux: [4]u32 = undefined;
    @memcpy(std.mem.asBytes(&aux)[0..12], packed_scales);
    const kmask1: u32 = 0x03030303;
    const kmask2: u32 = 0x0f0f0f0f;
    const tmp = aux[2];
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
    aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
    const raw: [16]i8 = @bitCast(aux);
    var out: [16]i8 = undefined;
    for (raw, 0..) |s, i| out[i] = s - 32;
    return out;
}

pub fn iq4xsScale(block: *const b.BlockIQ4_XS, ib: usize) i32 {
    const low: i32 = (block.scales_l[ib / 2] >> @intCast(4 * (ib % 2))) & 0xf;
    const high: i32 = @intCast((block.scales_h >> @intCast(2 * ib)) & 3);
    return (low | (high << 4)) - 32;
}

// ---- dequantization -----------------------------------------------------------------------------------------

pub fn dequantizeRow(comptime t: b.TensorType, x: []const b.Block(t), y: []f32) void {
    std.debug.assert(y.len == x.len * b.blockValues(t));
    switch (t) {
        .f32 => @memcpy(y, x),
        .f16 => for (x, y) |v, *o| {
            o.* = v;
        },
        .bf16 => for (x, y) |v, *o| {
            o.* = b.bf16ToF32(v);
        },
        .q4_0 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            const o = y[i * qk ..][0..qk];
            for (0..qk / 2) |j| {
                o[j] = @as(f32, @floatFromInt(@as(i32, blk.qs[j] & 0x0F) - 8)) * d;
                o[j + qk / 2] = @as(f32, @floatFromInt(@as(i32, blk.qs[j] >> 4) - 8)) * d;
            }
        },
        .q4_1 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            const m = f(blk.m);
            const o = y[i * qk ..][0..qk];
            for (0..qk / 2) |j| {
                o[j] = @as(f32, @floatFromInt(blk.qs[j] & 0x0F)) * d + m;
                o[j + qk / 2] = @as(f32, @floatFromInt(blk.qs[j] >> 4)) * d + m;
            }
        },
        .q5_0 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            const qh = std.mem.readInt(u32, &blk.qh, .little);
            const o = y[i * qk ..][0..qk];
            for (0..qk / 2) |j| {
                const j5: u5 = @intCast(j);
                const xh0: u8 = @intCast(((qh >> j5) << 4) & 0x10);
                const xh1: u8 = @intCast((qh >> (j5 + 12)) & 0x10);
                o[j] = @as(f32, @floatFromInt(@as(i32, (blk.qs[j] & 0x0F) | xh0) - 16)) * d;
                o[j + qk / 2] = @as(f32, @floatFromInt(@as(i32, (blk.qs[j] >> 4) | xh1) - 16)) * d;
            }
        },
        .q5_1 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            const m = f(blk.m);
            const qh = std.mem.readInt(u32, &blk.qh, .little);
            const o = y[i * qk ..][0..qk];
            for (0..qk / 2) |j| {
                const j5: u5 = @intCast(j);
                const xh0: u8 = @intCast(((qh >> j5) << 4) & 0x10);
                const xh1: u8 = @intCast((qh >> (j5 + 12)) & 0x10);
                o[j] = @as(f32, @floatFromInt((blk.qs[j] & 0x0F) | xh0)) * d + m;
                o[j + qk / 2] = @as(f32, @floatFromInt((blk.qs[j] >> 4) | xh1)) * d + m;
            }
        },
        .q8_0 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            for (blk.qs, 0..) |q, j| y[i * qk + j] = @as(f32, @floatFromInt(q)) * d;
        },
        .q8_1 => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            for (blk.qs, 0..) |q, j| y[i * qk + j] = @as(f32, @floatFromInt(q)) * d;
        },
        .q8_k => for (x, 0..) |blk, i| {
            for (blk.qs, 0..) |q, j| y[i * qk_k + j] = blk.d * @as(f32, @floatFromInt(q));
        },
        .q2_k => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            const min = f(blk.dmin);
            var o = y[i * qk_k ..][0..qk_k];
            var out: usize = 0;
            var is: usize = 0;
            var qoff: usize = 0;
            while (qoff < qk_k / 4) : (qoff += 32) {
                var shift: u3 = 0;
                for (0..4) |_| {
                    inline for (.{ 0, 16 }) |half| {
                        const sc = blk.scales[is];
                        is += 1;
                        const dl = d * @as(f32, @floatFromInt(sc & 0xF));
                        const ml = min * @as(f32, @floatFromInt(sc >> 4));
                        for (0..16) |l| {
                            o[out] = dl * @as(f32, @floatFromInt((blk.qs[qoff + l + half] >> shift) & 3)) - ml;
                            out += 1;
                        }
                    }
                    shift +%= 2;
                }
            }
        },
        .q3_k => for (x, 0..) |*blk, i| {
            const d_all = f(blk.d);
            const scales = unpackQ3KScales(&blk.scales);
            var o = y[i * qk_k ..][0..qk_k];
            var out: usize = 0;
            var is: usize = 0;
            var m: u8 = 1;
            var qoff: usize = 0;
            while (qoff < qk_k / 4) : (qoff += 32) {
                var shift: u3 = 0;
                for (0..4) |_| {
                    inline for (.{ 0, 16 }) |half| {
                        const dl = d_all * @as(f32, @floatFromInt(scales[is]));
                        is += 1;
                        for (0..16) |l| {
                            const low: i32 = (blk.qs[qoff + l + half] >> shift) & 3;
                            const sub: i32 = if (blk.hmask[l + half] & m != 0) 0 else 4;
                            o[out] = dl * @as(f32, @floatFromInt(low - sub));
                            out += 1;
                        }
                    }
                    shift +%= 2;
                    m <<= 1;
                }
            }
        },
        // Q5_K is Q4_K plus a fifth bit per weight (bits 2c and 2c+1 of qh for the two halves of 64-chunk c).
        .q4_k, .q5_k => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            const min = f(blk.dmin);
            var o = y[i * qk_k ..][0..qk_k];
            var is: usize = 0;
            var j: usize = 0;
            while (j < qk_k) : (j += 64) {
                const s1 = getScaleMinK4(is, &blk.scales);
                const s2 = getScaleMinK4(is + 1, &blk.scales);
                const d1 = d * @as(f32, @floatFromInt(s1.scale));
                const m1 = min * @as(f32, @floatFromInt(s1.min));
                const d2 = d * @as(f32, @floatFromInt(s2.scale));
                const m2 = min * @as(f32, @floatFromInt(s2.min));
                const q = blk.qs[j / 2 ..][0..32];
                for (0..32) |l| {
                    var lo: u8 = q[l] & 0xF;
                    var hi: u8 = q[l] >> 4;
                    if (t == .q5_k) {
                        const chunk: u3 = @intCast(j / 64);
                        if (blk.qh[l] & (@as(u8, 1) << (2 * chunk)) != 0) lo += 16;
                        if (blk.qh[l] & (@as(u8, 2) << (2 * chunk)) != 0) hi += 16;
                    }
                    o[j + l] = d1 * @as(f32, @floatFromInt(lo)) - m1;
                    o[j + 32 + l] = d2 * @as(f32, @floatFromInt(hi)) - m2;
                }
                is += 2;
            }
        },
        .q6_k => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            var o = y[i * qk_k ..][0..qk_k];
            var n: usize = 0;
            while (n < qk_k) : (n += 128) {
                const ql = blk.ql[n / 2 ..][0..64];
                const qh = blk.qh[n / 4 ..][0..32];
                const sc = blk.scales[n / 16 ..][0..8];
                for (0..32) |l| {
                    const is = l / 16;
                    const q1: i32 = @as(i32, (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                    const q2: i32 = @as(i32, (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    const q3: i32 = @as(i32, (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    const q4: i32 = @as(i32, (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    o[n + l] = d * @as(f32, @floatFromInt(sc[is])) * @as(f32, @floatFromInt(q1));
                    o[n + l + 32] = d * @as(f32, @floatFromInt(sc[is + 2])) * @as(f32, @floatFromInt(q2));
                    o[n + l + 64] = d * @as(f32, @floatFromInt(sc[is + 4])) * @as(f32, @floatFromInt(q3));
                    o[n + l + 96] = d * @as(f32, @floatFromInt(sc[is + 6])) * @as(f32, @floatFromInt(q4));
                }
            }
        },
        .iq4_nl => for (x, 0..) |blk, i| {
            const d = f(blk.d);
            const o = y[i * qk ..][0..qk];
            for (0..qk / 2) |j| {
                o[j] = d * @as(f32, @floatFromInt(b.kvalues_iq4nl[blk.qs[j] & 0xf]));
                o[j + qk / 2] = d * @as(f32, @floatFromInt(b.kvalues_iq4nl[blk.qs[j] >> 4]));
            }
        },
        .iq4_xs => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            var o = y[i * qk_k ..][0..qk_k];
            for (0..qk_k / 32) |ib| {
                const dl = d * @as(f32, @floatFromInt(iq4xsScale(blk, ib)));
                const qs = blk.qs[ib * 16 ..][0..16];
                for (0..16) |j| {
                    o[ib * 32 + j] = dl * @as(f32, @floatFromInt(b.kvalues_iq4nl[qs[j] & 0xf]));
                    o[ib * 32 + j + 16] = dl * @as(f32, @floatFromInt(b.kvalues_iq4nl[qs[j] >> 4]));
                }
            }
        },
        .tq1_0 => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            const pow3 = [6]u8{ 1, 3, 9, 27, 81, 243 };
            var o = y[i * qk_k ..][0..qk_k];
            var out: usize = 0;
            const main_len = blk.qs.len - blk.qs.len % 32;
            var j: usize = 0;
            while (j < main_len) : (j += 32) {
                for (0..5) |n| for (0..32) |m| {
                    o[out] = trit(blk.qs[j + m], pow3[n]) * d;
                    out += 1;
                };
            }
            while (j < blk.qs.len) : (j += 16) {
                for (0..5) |n| for (0..16) |m| {
                    o[out] = trit(blk.qs[j + m], pow3[n]) * d;
                    out += 1;
                };
            }
            for (0..4) |n| for (0..blk.qh.len) |jj| {
                o[out] = trit(blk.qh[jj], pow3[n]) * d;
                out += 1;
            };
        },
        .tq2_0 => for (x, 0..) |*blk, i| {
            const d = f(blk.d);
            var o = y[i * qk_k ..][0..qk_k];
            var out: usize = 0;
            var j: usize = 0;
            while (j < blk.qs.len) : (j += 32) {
                for (0..4) |l| for (0..32) |m| {
                    const q: i32 = (blk.qs[j + m] >> @intCast(l * 2)) & 3;
                    o[out] = @as(f32, @floatFromInt(q - 1)) * d;
                    out += 1;
                };
            }
        },
        else => @compileError("no dequantization for this type"),
    }
}

/// One ternary digit of a TQ1_0 byte: multiplying by 3^n rotates digit n to the top, then *3 >> 8 reads it.
pub fn trit(byte: u8, pow: u8) f32 {
    const q: u8 = byte *% pow;
    const xi: i32 = @intCast((@as(u16, q) * 3) >> 8);
    return @floatFromInt(xi - 1);
}

// ---- quantization -------------------------------------------------------------------------------------------

fn absMax(x: []const f32) f32 {
    var amax: f32 = 0;
    for (x) |v| amax = @max(amax, @abs(v));
    return amax;
}

/// Value of largest magnitude, keeping its sign (ggml's `max` in the Q4_0/Q5_0/Q8_K quantizers).
fn signedAbsMax(x: []const f32) f32 {
    var amax: f32 = 0;
    var max: f32 = 0;
    for (x) |v| if (@abs(v) > amax) {
        amax = @abs(v);
        max = v;
    };
    return max;
}

/// The range Q4_1/Q5_1 spread their codes over; ggml starts from ±FLT_MAX too.
fn minMax(x: []const f32) struct { f32, f32 } {
    var min: f32 = std.math.floatMax(f32);
    var max: f32 = -std.math.floatMax(f32);
    for (x) |v| {
        min = @min(min, v);
        max = @max(max, v);
    }
    return .{ min, max };
}

/// Q5 layout: codes j and j+16 share a nibble byte; their fifth bits go to bits j and j+16 of qh.
fn packFiveBitPair(qs: *u8, qh: *u32, j: usize, x0: u32, x1: u32) void {
    qs.* = @intCast((x0 & 0x0F) | ((x1 & 0x0F) << 4));
    qh.* |= ((x0 & 0x10) >> 4) << @intCast(j);
    qh.* |= ((x1 & 0x10) >> 4) << @intCast(j + qk / 2);
}

pub fn quantizeRow(comptime t: b.TensorType, x: []const f32, y: []b.Block(t)) void {
    std.debug.assert(x.len == y.len * b.blockValues(t));
    switch (t) {
        .f32 => @memcpy(y, x),
        .f16 => for (x, y) |v, *o| {
            o.* = @floatCast(v);
        },
        .bf16 => for (x, y) |v, *o| {
            o.* = b.f32ToBf16(v);
        },
        .q4_0 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const max = signedAbsMax(src);
            const d = max / -8.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            for (0..qk / 2) |j| {
                const x0: u8 = @intCast(@min(15, @as(i32, @intFromFloat(src[j] * id + 8.5))));
                const x1: u8 = @intCast(@min(15, @as(i32, @intFromFloat(src[qk / 2 + j] * id + 8.5))));
                blk.qs[j] = x0 | (x1 << 4);
            }
        },
        .q4_1 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const min, const max = minMax(src);
            const d = (max - min) / 15.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            blk.m = @floatCast(min);
            for (0..qk / 2) |j| {
                const x0: u8 = @intCast(@min(15, @as(i32, @intFromFloat((src[j] - min) * id + 0.5))));
                const x1: u8 = @intCast(@min(15, @as(i32, @intFromFloat((src[qk / 2 + j] - min) * id + 0.5))));
                blk.qs[j] = x0 | (x1 << 4);
            }
        },
        .q5_0 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const max = signedAbsMax(src);
            const d = max / -16.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            var qh: u32 = 0;
            for (0..qk / 2) |j| {
                const x0: u32 = @intCast(@min(31, @as(i32, @intFromFloat(src[j] * id + 16.5))));
                const x1: u32 = @intCast(@min(31, @as(i32, @intFromFloat(src[qk / 2 + j] * id + 16.5))));
                packFiveBitPair(&blk.qs[j], &qh, j, x0, x1);
            }
            std.mem.writeInt(u32, &blk.qh, qh, .little);
        },
        .q5_1 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const min, const max = minMax(src);
            const d = (max - min) / 31.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            blk.m = @floatCast(min);
            var qh: u32 = 0;
            for (0..qk / 2) |j| {
                const x0: u32 = @intFromFloat((src[j] - min) * id + 0.5);
                const x1: u32 = @intFromFloat((src[qk / 2 + j] - min) * id + 0.5);
                packFiveBitPair(&blk.qs[j], &qh, j, x0, x1);
            }
            std.mem.writeInt(u32, &blk.qh, qh, .little);
        },
        .q8_0 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const d = absMax(src) / 127.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            // roundf: half away from zero, which is @round.
            for (src, 0..) |v, j| blk.qs[j] = @intFromFloat(@round(v * id));
        },
        .q8_1 => for (y, 0..) |*blk, i| {
            const src = x[i * qk ..][0..qk];
            const d = absMax(src) / 127.0;
            const id: f32 = if (d != 0) 1.0 / d else 0;
            blk.d = @floatCast(d);
            var sum: i32 = 0;
            for (src, 0..) |v, j| {
                blk.qs[j] = @intFromFloat(@round(v * id));
                sum += blk.qs[j];
            }
            blk.s = @floatCast(@as(f32, @floatFromInt(sum)) * d);
        },
        .q8_k => for (y, 0..) |*blk, i| {
            const src = x[i * qk_k ..][0..qk_k];
            const max = signedAbsMax(src);
            if (max == 0) {
                blk.d = 0;
                @memset(&blk.qs, 0);
                @memset(&blk.bsums, 0);
                continue;
            }
            const iscale = -127.0 / max;
            for (src, 0..) |v, j| blk.qs[j] = @intCast(@min(127, nearestInt(iscale * v)));
            for (0..qk_k / 16) |j| {
                var sum: i16 = 0;
                for (blk.qs[j * 16 ..][0..16]) |q| sum += q;
                blk.bsums[j] = sum;
            }
            blk.d = 1.0 / iscale;
        },
        .q2_k => for (y, 0..) |*blk, i| kq.quantizeQ2K(x[i * qk_k ..][0..qk_k], blk),
        .q3_k => for (y, 0..) |*blk, i| kq.quantizeQ3K(x[i * qk_k ..][0..qk_k], blk),
        .q4_k => for (y, 0..) |*blk, i| kq.quantizeQ4K(x[i * qk_k ..][0..qk_k], blk),
        .q5_k => for (y, 0..) |*blk, i| kq.quantizeQ5K(x[i * qk_k ..][0..qk_k], blk),
        .q6_k => for (y, 0..) |*blk, i| kq.quantizeQ6K(x[i * qk_k ..][0..qk_k], blk),
        .iq4_nl => for (y, 0..) |*blk, i| kq.quantizeIq4Nl(x[i * qk ..][0..qk], blk),
        .iq4_xs => for (y, 0..) |*blk, i| kq.quantizeIq4Xs(x[i * qk_k ..][0..qk_k], blk),
        .tq1_0 => for (y, 0..) |*blk, i| kq.quantizeTq1(x[i * qk_k ..][0..qk_k], blk),
        .tq2_0 => for (y, 0..) |*blk, i| kq.quantizeTq2(x[i * qk_k ..][0..qk_k], blk),
        else => @compileError("no reference quantization for this type"),
    }
}

/// Activation quantization as ggml's x86 backend does it (quantize_row_q8_0 / q8_1 in arch/x86/quants.c):
/// the inverse scale is 127 / max rather than 1 / d, and values round half to even. Weights are quantized
/// with the reference functions above; activations with these, so zinc's dot products see the same integers
/// llama.cpp's do.
pub fn quantizeActivationRow(comptime t: b.TensorType, x: []const f32, y: []b.Block(t)) void {
    switch (t) {
        .q8_0, .q8_1 => for (y, 0..) |*blk, i| {
            const V = @Vector(qk, f32);
            const v: V = x[i * qk ..][0..qk].*;
            const max = @reduce(.Max, @abs(v));
            const d = max / 127.0;
            const id: f32 = if (max != 0) 127.0 / max else 0;
            blk.d = @floatCast(d);
            // Round half to even with the 1.5 * 2^23 trick (|v * id| <= 127), as _mm256_round_ps does.
            const shifted: @Vector(qk, i32) = @bitCast(v * @as(V, @splat(id)) + @as(V, @splat(12582912.0)));
            const q = (shifted & @as(@Vector(qk, i32), @splat(0x007fffff))) - @as(@Vector(qk, i32), @splat(0x00400000));
            blk.qs = @as(@Vector(qk, i8), @intCast(q));
            if (t == .q8_1) blk.s = @floatCast(d * @as(f32, @floatFromInt(@reduce(.Add, q))));
        },
        else => quantizeRow(t, x, y),
    }
}

test "q4_0 and q8_k quantize round trips stay within half a step" {
    var prng = std.Random.DefaultPrng.init(9);
    const rand = prng.random();
    var x: [qk_k]f32 = undefined;
    for (&x) |*v| v.* = rand.floatNorm(f32);
    var y: [qk_k]f32 = undefined;

    var q8k: [1]b.BlockQ8_K = undefined;
    quantizeRow(.q8_k, &x, &q8k);
    dequantizeRow(.q8_k, &q8k, &y);
    for (x, y) |a, c| try std.testing.expect(@abs(a - c) <= @abs(q8k[0].d) * 0.51);

    var q40: [qk_k / qk]b.BlockQ4_0 = undefined;
    quantizeRow(.q4_0, &x, &q40);
    dequantizeRow(.q4_0, &q40, &y);
    for (0..qk_k) |i| try std.testing.expect(@abs(x[i] - y[i]) <= @abs(f(q40[i / qk].d)) * 0.51 + 1e-6);
}

test "nearestInt rounds half to even like ggml" {
    try std.testing.expectEqual(@as(i32, 2), nearestInt(2.5));
    try std.testing.expectEqual(@as(i32, 4), nearestInt(3.5));
    try std.testing.expectEqual(@as(i32, -2), nearestInt(-2.5));
    try std.testing.expectEqual(@as(i32, -127), nearestInt(-127.2));
}
