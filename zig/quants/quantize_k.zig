//! Reference weight quantization for the super-block types (Q2_K…Q6_K), the non-linear IQ4 types and the
//! ternary types, as llama-quantize does it without an importance matrix (`ggml_quantize_chunk` with no
//! weights). These are searches, not formulas: each sub-block tries a handful of scales and keeps the one with
//! the least weighted error, then the sub-block scales are themselves quantized and the values re-quantized
//! against the rounded scales. Operation order follows ggml-quants.c exactly (C's left-to-right evaluation of
//! `w*x*l`, f32 throughout, no fused multiply-add) so the bytes match llama.cpp's; the fixture
//! tests/fixtures/quantize/ggml.json checks it.
const std = @import("std");
const b = @import("blocks.zig");
const nearestInt = @import("reference.zig").nearestInt;
const qk = b.qk;
const qk_k = b.qk_k;

/// Below this a group counts as all zeros (ggml's GROUP_MAX_EPS).
const group_max_eps: f32 = 1e-15;

fn fl(i: anytype) f32 {
    return @floatFromInt(i);
}

fn clampInt(v: i32, lo: i32, hi: i32) i32 {
    return @max(lo, @min(hi, v));
}

/// C's conversion of an int to uint8_t: keep the low byte.
fn lowByte(v: i32) u8 {
    return @truncate(@as(u32, @bitCast(v)));
}

/// Signed value of largest magnitude (first one wins on ties).
fn signedMax(x: []const f32) struct { amax: f32, max: f32 } {
    var amax: f32 = 0;
    var max: f32 = 0;
    for (x) |v| if (@abs(v) > amax) {
        amax = @abs(v);
        max = v;
    };
    return .{ .amax = amax, .max = max };
}

// ---- per-group scale searches (ggml's make_q*_quants) ----------------------------------------------------------

/// Symmetric codes in [-nmax, nmax-1] for a group, weighted by x² (rmse_type 1); tries 18 scales around
/// nmax / max and keeps the one maximising (Σwxl)²/Σwl². L receives codes + nmax.
fn makeQxQuants(comptime n: usize, nmax: i32, x: *const [n]f32, l_out: *[n]i8) f32 {
    const m = signedMax(x);
    if (m.amax < group_max_eps) {
        @memset(l_out, 0);
        return 0;
    }
    var iscale = fl(-nmax) / m.max;
    var sumlx: f32 = 0;
    var suml2: f32 = 0;
    for (x, l_out) |v, *o| {
        const l = clampInt(nearestInt(iscale * v), -nmax, nmax - 1);
        o.* = @intCast(l + nmax);
        const w = v * v;
        sumlx += w * v * fl(l);
        suml2 += w * fl(l) * fl(l);
    }
    var scale: f32 = if (suml2 != 0) sumlx / suml2 else 0;
    var best = scale * sumlx;
    var is: i32 = -9;
    while (is <= 9) : (is += 1) {
        if (is == 0) continue;
        iscale = -(fl(nmax) + 0.1 * fl(is)) / m.max;
        sumlx = 0;
        suml2 = 0;
        for (x) |v| {
            const l = clampInt(nearestInt(iscale * v), -nmax, nmax - 1);
            const w = v * v;
            sumlx += w * v * fl(l);
            suml2 += w * fl(l) * fl(l);
        }
        if (suml2 > 0 and sumlx * sumlx > best * suml2) {
            for (x, l_out) |v, *o| o.* = @intCast(nmax + clampInt(nearestInt(iscale * v), -nmax, nmax - 1));
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    return scale;
}

/// Q3_K's group search: start from nmax / max, then move single codes while the weighted fit improves.
fn makeQ3Quants(comptime n: usize, nmax: i32, x: *const [n]f32, l_out: *[n]i8) f32 {
    const m = signedMax(x);
    if (m.amax < group_max_eps) {
        @memset(l_out, 0);
        return 0;
    }
    const iscale = fl(-nmax) / m.max;
    var sumlx: f32 = 0;
    var suml2: f32 = 0;
    for (x, l_out) |v, *o| {
        const l = clampInt(nearestInt(iscale * v), -nmax, nmax - 1);
        o.* = @intCast(l);
        const w = v * v;
        sumlx += w * v * fl(l);
        suml2 += w * fl(l) * fl(l);
    }
    for (0..5) |_| {
        var changed: usize = 0;
        for (x, l_out) |v, *o| {
            const w = v * v;
            var slx = sumlx - w * v * fl(o.*);
            if (slx > 0) {
                var sl2 = suml2 - w * fl(o.*) * fl(o.*);
                const new_l = clampInt(nearestInt(v * sl2 / slx), -nmax, nmax - 1);
                if (new_l != o.*) {
                    slx += w * v * fl(new_l);
                    sl2 += w * fl(new_l) * fl(new_l);
                    if (sl2 > 0 and slx * slx * suml2 > sumlx * sumlx * sl2) {
                        o.* = @intCast(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        changed += 1;
                    }
                }
            }
        }
        if (changed == 0) break;
    }
    for (l_out) |*o| o.* += @intCast(nmax);
    return if (suml2 > 0) sumlx / suml2 else 0;
}

/// Affine codes in [0, nmax] with a min ≤ 0 (Q2_K/Q4_K/Q5_K groups): least-squares scale and min over
/// nstep+1 candidate grids, keeping the lowest weighted error (absolute when use_mad). Returns the scale and
/// writes -min.
fn makeQkx2Quants(comptime n: usize, nmax: i32, x: *const [n]f32, weights: *const [n]f32, l_out: *[n]u8, the_min: *f32, rmin: f32, rdelta: f32, nstep: i32, use_mad: bool) f32 {
    var min = x[0];
    var max = x[0];
    var sum_w = weights[0];
    var sum_x = sum_w * x[0];
    for (1..n) |i| {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        sum_w += weights[i];
        sum_x += weights[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        @memset(l_out, 0);
        the_min.* = -min;
        return 0;
    }
    var iscale = fl(nmax) / (max - min);
    var scale = 1 / iscale;
    var best_error: f32 = 0;
    for (x, weights, l_out) |v, w, *o| {
        o.* = @intCast(clampInt(nearestInt(iscale * (v - min)), 0, nmax));
        const diff = scale * fl(o.*) + min - v;
        best_error += w * (if (use_mad) @abs(diff) else diff * diff);
    }
    var laux: [n]u8 = undefined;
    var is: i32 = 0;
    while (is <= nstep) : (is += 1) {
        iscale = (rmin + rdelta * fl(is) + fl(nmax)) / (max - min);
        var sum_l: f32 = 0;
        var sum_l2: f32 = 0;
        var sum_xl: f32 = 0;
        for (x, weights, &laux) |v, w, *o| {
            const l = clampInt(nearestInt(iscale * (v - min)), 0, nmax);
            o.* = @intCast(l);
            sum_l += w * fl(l);
            sum_l2 += w * fl(l) * fl(l);
            sum_xl += w * fl(l) * v;
        }
        const det = sum_w * sum_l2 - sum_l * sum_l;
        if (det > 0) {
            var this_scale = (sum_w * sum_xl - sum_x * sum_l) / det;
            var this_min = (sum_l2 * sum_x - sum_l * sum_xl) / det;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            var cur_error: f32 = 0;
            for (x, weights, laux) |v, w, l| {
                const diff = this_scale * fl(l) + this_min - v;
                cur_error += w * (if (use_mad) @abs(diff) else diff * diff);
            }
            if (cur_error < best_error) {
                l_out.* = laux;
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    the_min.* = -min;
    return scale;
}

/// ggml's best_index_int8: the index of the table value nearest x (ties go up), by bisection.
fn bestIndexInt8(values: *const [16]i8, x: f32) u8 {
    if (x <= fl(values[0])) return 0;
    if (x >= fl(values[15])) return 15;
    var ml: usize = 0;
    var mu: usize = 15;
    while (mu - ml > 1) {
        const mav = (ml + mu) / 2;
        if (x < fl(values[mav])) mu = mav else ml = mav;
    }
    return @intCast(if (x - fl(values[mu - 1]) < fl(values[mu]) - x) mu - 1 else mu);
}

// ---- the K-quants -----------------------------------------------------------------------------------------------

/// Packs 2-bit codes: byte l of each 32-byte run holds codes l, l+32, l+64, l+96 of its 128 values.
fn packTwoBit(l: *const [qk_k]u8, qs: *[qk_k / 4]u8) void {
    var j: usize = 0;
    while (j < qk_k) : (j += 128) {
        for (0..32) |i| qs[j / 4 + i] = l[j + i] | (l[j + i + 32] << 2) | (l[j + i + 64] << 4) | (l[j + i + 96] << 6);
    }
}

pub fn quantizeQ2K(x: *const [qk_k]f32, y: *b.BlockQ2_K) void {
    var l: [qk_k]u8 = undefined;
    var mins: [qk_k / 16]f32 = undefined;
    var scales: [qk_k / 16]f32 = undefined;
    const q4scale: f32 = 15;
    var max_scale: f32 = 0;
    var max_min: f32 = 0;
    for (0..qk_k / 16) |j| {
        const xs = x[16 * j ..][0..16];
        var weights: [16]f32 = undefined;
        for (xs, &weights) |v, *w| w.* = @abs(v);
        scales[j] = makeQkx2Quants(16, 3, xs, &weights, l[16 * j ..][0..16], &mins[j], -0.5, 0.1, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    if (max_scale > 0) {
        const iscale = q4scale / max_scale;
        for (0..qk_k / 16) |j| y.scales[j] = lowByte(nearestInt(iscale * scales[j]));
        y.d = @floatCast(max_scale / q4scale);
    } else {
        @memset(&y.scales, 0);
        y.d = 0;
    }
    if (max_min > 0) {
        const iscale = q4scale / max_min;
        for (0..qk_k / 16) |j| y.scales[j] |= lowByte(nearestInt(iscale * mins[j]) << 4);
        y.dmin = @floatCast(max_min / q4scale);
    } else {
        y.dmin = 0;
    }
    for (0..qk_k / 16) |j| {
        const d = @as(f32, y.d) * fl(y.scales[j] & 0xF);
        if (d == 0) continue;
        const dm = @as(f32, y.dmin) * fl(y.scales[j] >> 4);
        for (0..16) |ii| l[16 * j + ii] = @intCast(clampInt(nearestInt((x[16 * j + ii] + dm) / d), 0, 3));
    }
    packTwoBit(&l, &y.qs);
}

pub fn quantizeQ3K(x: *const [qk_k]f32, y: *b.BlockQ3_K) void {
    var l: [qk_k]i8 = undefined;
    var scales: [qk_k / 16]f32 = undefined;
    var max_scale: f32 = 0;
    var amax: f32 = 0;
    for (0..qk_k / 16) |j| {
        scales[j] = makeQ3Quants(16, 4, x[16 * j ..][0..16], l[16 * j ..][0..16]);
        if (@abs(scales[j]) > amax) {
            amax = @abs(scales[j]);
            max_scale = scales[j];
        }
    }
    @memset(&y.scales, 0);
    if (max_scale != 0) {
        const iscale = -32.0 / max_scale;
        for (0..qk_k / 16) |j| {
            const sl: u8 = @intCast(clampInt(nearestInt(iscale * scales[j]), -32, 31) + 32);
            if (j < 8) y.scales[j] = sl & 0xF else y.scales[j - 8] |= (sl & 0xF) << 4;
            y.scales[j % 4 + 8] |= (sl >> 4) << @intCast(2 * (j / 4));
        }
        y.d = @floatCast(1 / iscale);
    } else {
        y.d = 0;
    }
    for (0..qk_k / 16) |j| {
        const low: i32 = if (j < 8) y.scales[j] & 0xF else y.scales[j - 8] >> 4;
        const sc = (low | (((y.scales[8 + j % 4] >> @intCast(2 * (j / 4))) & 3) << 4)) - 32;
        const d = @as(f32, y.d) * fl(sc);
        if (d == 0) continue;
        for (0..16) |ii| l[16 * j + ii] = @intCast(clampInt(nearestInt(x[16 * j + ii] / d), -4, 3) + 4);
    }
    // The high bit of code j goes to bit (j / 32) of hmask[j % 32]; the low two bits are packed like Q2_K.
    @memset(&y.hmask, 0);
    var codes: [qk_k]u8 = undefined;
    for (l, 0..) |v, j| {
        var c: u8 = @intCast(v);
        if (c > 3) {
            y.hmask[j % (qk_k / 8)] |= @as(u8, 1) << @intCast(j / (qk_k / 8));
            c -= 4;
        }
        codes[j] = c;
    }
    packTwoBit(&codes, &y.qs);
}

/// Q4_K and Q5_K share everything but the code width and the search grid.
fn quantizeQ45K(comptime nmax: i32, x: *const [qk_k]f32, d_out: *f16, dmin_out: *f16, packed_scales: *[b.k_scale_size]u8, l: *[qk_k]u8) void {
    var mins: [qk_k / 32]f32 = undefined;
    var scales: [qk_k / 32]f32 = undefined;
    var max_scale: f32 = 0;
    var max_min: f32 = 0;
    for (0..qk_k / 32) |j| {
        const xs = x[32 * j ..][0..32];
        var sum_x2: f32 = 0;
        for (xs) |v| sum_x2 += v * v;
        const av_x = @sqrt(sum_x2 / 32);
        var weights: [32]f32 = undefined;
        for (xs, &weights) |v, *w| w.* = av_x + @abs(v);
        scales[j] = if (nmax == 15)
            makeQkx2Quants(32, nmax, xs, &weights, l[32 * j ..][0..32], &mins[j], -1.0, 0.1, 20, false)
        else
            makeQkx2Quants(32, nmax, xs, &weights, l[32 * j ..][0..32], &mins[j], -0.5, 0.1, 15, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const inv_scale: f32 = if (max_scale > 0) 63.0 / max_scale else 0;
    const inv_min: f32 = if (max_min > 0) 63.0 / max_min else 0;
    for (0..qk_k / 32) |j| {
        const ls: u8 = @min(63, lowByte(nearestInt(inv_scale * scales[j])));
        const lm: u8 = @min(63, lowByte(nearestInt(inv_min * mins[j])));
        if (j < 4) {
            packed_scales[j] = ls;
            packed_scales[j + 4] = lm;
        } else {
            packed_scales[j + 4] = (ls & 0xF) | ((lm & 0xF) << 4);
            packed_scales[j - 4] |= (ls >> 4) << 6;
            packed_scales[j] |= (lm >> 4) << 6;
        }
    }
    d_out.* = @floatCast(max_scale / 63.0);
    dmin_out.* = @floatCast(max_min / 63.0);
    const getScaleMinK4 = @import("reference.zig").getScaleMinK4;
    for (0..qk_k / 32) |j| {
        const sm = getScaleMinK4(j, packed_scales);
        const d = @as(f32, d_out.*) * fl(sm.scale);
        if (d == 0) continue;
        const dm = @as(f32, dmin_out.*) * fl(sm.min);
        for (0..32) |ii| l[32 * j + ii] = @intCast(clampInt(nearestInt((x[32 * j + ii] + dm) / d), 0, nmax));
    }
}

pub fn quantizeQ4K(x: *const [qk_k]f32, y: *b.BlockQ4_K) void {
    var l: [qk_k]u8 = undefined;
    quantizeQ45K(15, x, &y.d, &y.dmin, &y.scales, &l);
    var j: usize = 0;
    while (j < qk_k) : (j += 64) {
        for (0..32) |i| y.qs[j / 2 + i] = l[j + i] | (l[j + i + 32] << 4);
    }
}

pub fn quantizeQ5K(x: *const [qk_k]f32, y: *b.BlockQ5_K) void {
    var l: [qk_k]u8 = undefined;
    quantizeQ45K(31, x, &y.d, &y.dmin, &y.scales, &l);
    @memset(&y.qh, 0);
    var m1: u8 = 1;
    var m2: u8 = 2;
    var n: usize = 0;
    while (n < qk_k) : (n += 64) {
        for (0..32) |j| {
            var l1 = l[n + j];
            if (l1 > 15) {
                l1 -= 16;
                y.qh[j] |= m1;
            }
            var l2 = l[n + j + 32];
            if (l2 > 15) {
                l2 -= 16;
                y.qh[j] |= m2;
            }
            y.qs[n / 2 + j] = l1 | (l2 << 4);
        }
        m1 <<= 2;
        m2 <<= 2;
    }
}

pub fn quantizeQ6K(x: *const [qk_k]f32, y: *b.BlockQ6_K) void {
    var l: [qk_k]i8 = undefined;
    var scales: [qk_k / 16]f32 = undefined;
    var max_scale: f32 = 0;
    var max_abs_scale: f32 = 0;
    for (0..qk_k / 16) |ib| {
        scales[ib] = makeQxQuants(16, 32, x[16 * ib ..][0..16], l[16 * ib ..][0..16]);
        if (@abs(scales[ib]) > max_abs_scale) {
            max_abs_scale = @abs(scales[ib]);
            max_scale = scales[ib];
        }
    }
    if (max_abs_scale < group_max_eps) {
        y.* = std.mem.zeroes(b.BlockQ6_K);
        return;
    }
    const iscale = -128.0 / max_scale;
    y.d = @floatCast(1 / iscale);
    for (0..qk_k / 16) |ib| y.scales[ib] = @bitCast(lowByte(@min(127, nearestInt(iscale * scales[ib]))));
    for (0..qk_k / 16) |j| {
        const d = @as(f32, y.d) * fl(y.scales[j]);
        if (d == 0) continue;
        for (0..16) |ii| l[16 * j + ii] = @intCast(clampInt(nearestInt(x[16 * j + ii] / d), -32, 31) + 32);
    }
    var j: usize = 0;
    while (j < qk_k) : (j += 128) {
        const ql = y.ql[j / 2 ..][0..64];
        const qh = y.qh[j / 4 ..][0..32];
        for (0..32) |i| {
            const c = [4]u8{ @intCast(l[j + i]), @intCast(l[j + i + 32]), @intCast(l[j + i + 64]), @intCast(l[j + i + 96]) };
            ql[i] = (c[0] & 0xF) | ((c[2] & 0xF) << 4);
            ql[i + 32] = (c[1] & 0xF) | ((c[3] & 0xF) << 4);
            qh[i] = (c[0] >> 4) | ((c[1] >> 4) << 2) | ((c[2] >> 4) << 4) | ((c[3] >> 4) << 6);
        }
    }
}

// ---- IQ4_NL / IQ4_XS ----------------------------------------------------------------------------------------------

/// ggml's quantize_row_iq4_nl_impl with llama-quantize's settings (no importance weights, ntry = 7): per group
/// of 32, the scale maximising the x²-weighted fit to the non-linear table; IQ4_XS then quantizes the eight
/// group scales to 6 bits against one f16 super-scale and re-picks each value's level.
fn quantizeIq4(comptime super: usize, x: *const [super]f32, dh: *f16, q4: *[super / 2]u8, scales_h: ?*u16, scales_l: ?*[super / 64]u8) void {
    const values = &b.kvalues_iq4nl;
    const ntry = 7;
    const groups = super / 32;
    var l: [super]u8 = undefined;
    var scales: [groups]f32 = undefined;
    @memset(q4, 0);
    dh.* = 0;
    var max_scale: f32 = 0;
    var amax_scale: f32 = 0;
    for (0..groups) |ib| {
        const xb = x[ib * 32 ..][0..32];
        const m = signedMax(xb);
        if (m.amax < group_max_eps) {
            scales[ib] = 0;
            continue;
        }
        var sumqx: f32 = 0;
        var sumq2: f32 = 0;
        var id = 1 / (-m.max / fl(values[0]));
        for (xb) |v| {
            const q = fl(values[bestIndexInt8(values, id * v)]);
            const w = v * v;
            sumqx += w * q * v;
            sumq2 += w * q * q;
        }
        var d: f32 = if (sumq2 > 0) sumqx / sumq2 else 0;
        var best = d * sumqx;
        var itry: i32 = -ntry;
        while (itry <= ntry) : (itry += 1) {
            id = fl(itry + values[0]) / m.max;
            sumqx = 0;
            sumq2 = 0;
            for (xb) |v| {
                const q = fl(values[bestIndexInt8(values, id * v)]);
                const w = v * v;
                sumqx += w * q * v;
                sumq2 += w * q * q;
            }
            if (sumq2 > 0 and sumqx * sumqx > best * sumq2) {
                d = sumqx / sumq2;
                best = d * sumqx;
            }
        }
        scales[ib] = d;
        if (@abs(d) > amax_scale) {
            amax_scale = @abs(d);
            max_scale = d;
        }
    }
    if (groups > 1) {
        scales_h.?.* = 0;
        const sl = scales_l.?;
        const d = -max_scale / 32;
        dh.* = @floatCast(d);
        const id: f32 = if (d != 0) 1 / d else 0;
        for (0..groups) |ib| {
            const li = clampInt(nearestInt(id * scales[ib]), -32, 31);
            const dl = d * fl(li);
            const idl: f32 = if (dl != 0) 1 / dl else 0;
            for (x[ib * 32 ..][0..32], l[ib * 32 ..][0..32]) |v, *o| o.* = bestIndexInt8(values, idl * v);
            const code: u8 = @intCast(li + 32);
            if (ib % 2 == 0) sl[ib / 2] = code & 0xF else sl[ib / 2] |= (code & 0xF) << 4;
            scales_h.?.* |= @as(u16, code >> 4) << @intCast(2 * (ib % 8));
        }
    } else {
        dh.* = @floatCast(scales[0]);
        const id: f32 = if (scales[0] != 0) 1 / scales[0] else 0;
        for (x, &l) |v, *o| o.* = bestIndexInt8(values, id * v);
    }
    for (0..super / 32) |i| {
        for (0..16) |j| q4[16 * i + j] = l[32 * i + j] | (l[32 * i + 16 + j] << 4);
    }
}

pub fn quantizeIq4Nl(x: *const [qk]f32, y: *b.BlockIQ4_NL) void {
    quantizeIq4(qk, x, &y.d, &y.qs, null, null);
}

pub fn quantizeIq4Xs(x: *const [qk_k]f32, y: *b.BlockIQ4_XS) void {
    var scales_h: u16 = 0;
    quantizeIq4(qk_k, x, &y.d, &y.qs, &scales_h, &y.scales_l);
    y.scales_h = scales_h;
}

// ---- ternary --------------------------------------------------------------------------------------------------------

/// -1, 0, 1 → 0, 1, 2, rounding half away from zero (lroundf).
fn tritOf(v: f32, id: f32) u8 {
    return @intCast(@as(i32, @intFromFloat(@round(v * id))) + 1);
}

/// n trits in base 3 (first most significant), scaled to a byte with ceiling division so that multiplying by
/// 3^k and taking the top bits (the dequantizer's trick) recovers trit k.
fn packTrits(trits: []const u8, pad_to_five: bool) u8 {
    var q: u16 = 0;
    for (trits) |t| q = q * 3 + t;
    if (pad_to_five) q *= 3;
    return @intCast((q * 256 + (243 - 1)) / 243);
}

pub fn quantizeTq1(x: *const [qk_k]f32, y: *b.BlockTQ1_0) void {
    var amax: f32 = 0;
    for (x) |v| amax = @max(amax, @abs(v));
    const id: f32 = if (amax != 0) 1 / amax else 0;
    y.d = @floatCast(amax);
    var off: usize = 0;
    // 5 trits per byte: 32-byte runs over 160 values, then one 16-byte run over 80, then 4 per byte in qh.
    const full = y.qs.len - y.qs.len % 32;
    var j: usize = 0;
    while (j < full) : (j += 32) {
        for (0..32) |m| {
            var t: [5]u8 = undefined;
            for (0..5) |n| t[n] = tritOf(x[off + m + n * 32], id);
            y.qs[j + m] = packTrits(&t, false);
        }
        off += 5 * 32;
    }
    while (j < y.qs.len) : (j += 16) {
        for (0..16) |m| {
            var t: [5]u8 = undefined;
            for (0..5) |n| t[n] = tritOf(x[off + m + n * 16], id);
            y.qs[j + m] = packTrits(&t, false);
        }
        off += 5 * 16;
    }
    for (0..y.qh.len) |jj| {
        var t: [4]u8 = undefined;
        for (0..4) |m| t[m] = tritOf(x[off + jj + m * y.qh.len], id);
        y.qh[jj] = packTrits(&t, true);
    }
}

pub fn quantizeTq2(x: *const [qk_k]f32, y: *b.BlockTQ2_0) void {
    var amax: f32 = 0;
    for (x) |v| amax = @max(amax, @abs(v));
    const id: f32 = if (amax != 0) 1 / amax else 0;
    y.d = @floatCast(amax);
    var j: usize = 0;
    while (j < y.qs.len) : (j += 32) {
        for (0..32) |m| {
            var q: u8 = 0;
            for (0..4) |n| q += (tritOf(x[j * 4 + m + n * 32], id) & 3) << @intCast(2 * n);
            y.qs[j + m] = q;
        }
    }
}
