//! Element-wise and row-wise ops of a transformer block, on f32 rows. Each follows the arithmetic of the ggml
//! CPU op it stands in for (operation order included), because greedy decoding is compared token for token
//! with llama.cpp and a different rounding can flip a near-tie.
const std = @import("std");
const builtin = @import("builtin");
const simd = @import("simd.zig");

/// ggml_rms_norm then ggml_mul: y = (x * 1/sqrt(mean(x²) + eps)) * weight. The sum is in f64 like ggml_float.
pub fn rmsNorm(x: []const f32, weight: ?[]const f32, y: []f32, eps: f32) void {
    // ggml squares in f32 and accumulates in f64 (ggml_float).
    var sum: f64 = 0;
    for (x) |v| sum += v * v;
    const mean: f32 = @floatCast(sum / @as(f64, @floatFromInt(x.len)));
    scaleRow(x, weight, y, 1.0 / @sqrt(mean + eps));
}

/// rmsNorm of each n-value row of x, four rows at a time: each row's f64 sum is still one sequential chain in
/// ggml's order (so the same bits), but four independent chains overlap, where one row alone waits on the
/// latency of every add.
pub fn rmsNormRows(x: []const f32, weight: ?[]const f32, y: []f32, n: usize, eps: f32) void {
    const rows = x.len / n;
    var r: usize = 0;
    while (r + 4 <= rows) : (r += 4) {
        var sums: [4]f64 = @splat(0);
        for (0..n) |i| {
            inline for (0..4) |k| {
                const v = x[(r + k) * n + i];
                sums[k] += v * v;
            }
        }
        inline for (0..4) |k| {
            const mean: f32 = @floatCast(sums[k] / @as(f64, @floatFromInt(n)));
            scaleRow(x[(r + k) * n ..][0..n], weight, y[(r + k) * n ..][0..n], 1.0 / @sqrt(mean + eps));
        }
    }
    while (r < rows) : (r += 1) rmsNorm(x[r * n ..][0..n], weight, y[r * n ..][0..n], eps);
}

fn scaleRow(x: []const f32, weight: ?[]const f32, y: []f32, inv_rms: f32) void {
    if (weight) |w| {
        for (x, w, y) |v, g, *o| o.* = (v * inv_rms) * g;
    } else {
        for (x, y) |v, *o| o.* = v * inv_rms;
    }
}

/// ggml_norm then mul and add: y = ((x - mean) / sqrt(var + eps)) * weight + bias.
pub fn layerNorm(x: []const f32, weight: ?[]const f32, bias: ?[]const f32, y: []f32, eps: f32) void {
    var sum: f64 = 0;
    for (x) |v| sum += v;
    const mean: f32 = @floatCast(sum / @as(f64, @floatFromInt(x.len)));
    var sum2: f64 = 0;
    for (x, y) |v, *o| {
        o.* = v - mean;
        sum2 += @as(f64, o.*) * o.*;
    }
    const variance: f32 = @floatCast(sum2 / @as(f64, @floatFromInt(x.len)));
    const inv_std = 1.0 / @sqrt(variance + eps);
    for (y, 0..) |*o, i| {
        var v = o.* * inv_std;
        if (weight) |w| v *= w[i];
        if (bias) |c| v += c[i];
        o.* = v;
    }
}

pub const RopeMode = enum(u32) { normal = 0, neox = 2 };

/// Everything that fixes a rotation angle, as ggml_rope_ext takes it.
pub const RopeParams = extern struct {
    n_rot: u32,
    mode: RopeMode,
    freq_base: f32,
    freq_scale: f32,
    ext_factor: f32,
    attn_factor: f32,
    corr_low: f32,
    corr_high: f32,
};

fn yarnRamp(low: f32, high: f32, pair: usize) f32 {
    const y = (@as(f32, @floatFromInt(pair / 2)) - low) / @max(0.001, high - low);
    return 1.0 - @min(1.0, @max(0.0, y));
}

/// The cos/sin table of one position: ggml_rope_cache_init, with its float recurrence theta *= theta_scale.
const cosf = simd.cosf;
const sinf = simd.sinf;
const powf = simd.powf;

pub fn ropeCache(p: RopeParams, position: i32, freq_factors: ?[]const f32, cache: []f32) void {
    const theta_scale = powf(p.freq_base, -2.0 / @as(f32, @floatFromInt(p.n_rot)));
    var theta: f32 = @floatFromInt(position);
    var pair: usize = 0;
    while (pair < p.n_rot) : (pair += 2) {
        const ff: f32 = if (freq_factors) |f| f[pair / 2] else 1.0;
        const theta_extrap = theta / ff;
        var theta_final = p.freq_scale * theta_extrap;
        var mscale = p.attn_factor;
        if (p.ext_factor != 0) {
            const ramp_mix = yarnRamp(p.corr_low, p.corr_high, pair) * p.ext_factor;
            theta_final = theta_final * (1 - ramp_mix) + theta_extrap * ramp_mix;
            mscale *= 1.0 + 0.1 * @log(1.0 / p.freq_scale);
        }
        cache[pair] = cosf(theta_final) * mscale;
        cache[pair + 1] = sinf(theta_final) * mscale;
        theta *= theta_scale;
    }
}

/// ropeCache for each of `positions`, one n_rot row per token: the table every layer with these parameters
/// (and both Q and K) rotates by, computed once per chunk of tokens instead of once per rope call.
pub fn ropeTable(p: RopeParams, positions: []const i32, freq_factors: ?[]const f32, table: []f32) void {
    for (positions, 0..) |pos, t| ropeCache(p, pos, freq_factors, table[t * p.n_rot ..][0..p.n_rot]);
}

/// Rotates the first n_rot dims of each head in place; the rest pass through (partial rotary).
pub fn ropeHeads(x: []f32, head_count: usize, head_dim: usize, p: RopeParams, cache: []const f32) void {
    const n_rot = p.n_rot;
    for (0..head_count) |hd| {
        const v = x[hd * head_dim ..][0..head_dim];
        var pair: usize = 0;
        while (pair < n_rot) : (pair += 2) {
            const c = cache[pair];
            const s = cache[pair + 1];
            const a_index = if (p.mode == .neox) pair / 2 else pair;
            const b_index = if (p.mode == .neox) pair / 2 + n_rot / 2 else pair + 1;
            const x0 = v[a_index];
            const x1 = v[b_index];
            // llama.cpp is built with FMA contraction (GCC's default): match its roundings.
            v[a_index] = simd.fusedMulAdd(f32, x0, c, -(x1 * s));
            v[b_index] = simd.fusedMulAdd(f32, x0, s, x1 * c);
        }
    }
}

pub fn silu(x: f32) f32 {
    return x / (1.0 + @exp(-x));
}

const vexp = simd.vexp;

/// ggml_swiglu: y = silu(gate) * up, with ggml's vector exp so results match llama.cpp to the ulp.
pub fn swiglu(gate: []const f32, up: []const f32, y: []f32) void {
    const n = 8;
    const V = @Vector(n, f32);
    var i: usize = 0;
    while (i + n <= y.len) : (i += n) {
        const g: V = gate[i..][0..n].*;
        const s = g / (@as(V, @splat(1)) + vexp(n, -g));
        y[i..][0..n].* = s * @as(V, up[i..][0..n].*);
    }
    while (i < y.len) : (i += 1) y[i] = silu(gate[i]) * up[i];
}

const gelu_coef_a: f32 = 0.044715;
const sqrt_2_over_pi: f32 = 0.79788456080286535587989211986876;

/// ggml_gelu_f32, including the fma GCC contracts `1 + a*x*x` into and libm's tanhf.
pub fn geluExact(x: f32) f32 {
    const inner = simd.fusedMulAdd(f32, gelu_coef_a * x, x, 1.0);
    return 0.5 * x * (1.0 + simd.tanhf(sqrt_2_over_pi * x * inner));
}

/// GELU of every f16 value, stored as f16: ggml's table_gelu_f16, built the same way on first use (64K
/// tanhf calls once, instead of one per activation).
var gelu_table: [1 << 16]f16 = undefined;
var gelu_table_once = std.once(buildGeluTable);

fn buildGeluTable() void {
    for (&gelu_table, 0..) |*entry, i| {
        const h: f16 = @bitCast(@as(u16, @intCast(i)));
        entry.* = @floatCast(geluExact(h));
    }
}

/// ggml's GELU (tanh approximation) as its CPU backend evaluates it: through an f16 table — the input is
/// rounded to f16 and the result stored as f16 — and exact outside [-10, 10].
pub fn gelu(x: f32) f32 {
    if (x <= -10.0) return 0;
    if (x >= 10.0) return x;
    gelu_table_once.call();
    const h: f16 = @floatCast(x);
    return gelu_table[@as(u16, @bitCast(h))];
}

/// ggml_geglu: y = gelu(gate) * up. Eight at a time: one conversion to f16 for all eight, eight table loads,
/// and the two exact ranges by select — per value, exactly gelu's result.
pub fn geglu(gate: []const f32, up: []const f32, y: []f32) void {
    gelu_table_once.call();
    const V = @Vector(8, f32);
    var i: usize = 0;
    while (i + 8 <= y.len) : (i += 8) {
        const g: V = gate[i..][0..8].*;
        const halves: @Vector(8, u16) = @bitCast(@as(@Vector(8, f16), @floatCast(g)));
        var looked_up: V = undefined;
        inline for (0..8) |k| looked_up[k] = gelu_table[halves[k]];
        const inside = @select(f32, g <= @as(V, @splat(-10.0)), @as(V, @splat(0)), looked_up);
        const activated = @select(f32, g >= @as(V, @splat(10.0)), g, inside);
        y[i..][0..8].* = activated * @as(V, up[i..][0..8].*);
    }
    for (gate[i..], up[i..], y[i..]) |g, u, *o| o.* = gelu(g) * u;
}

pub fn softmaxInPlace(x: []f32) void {
    var max: f32 = -std.math.inf(f32);
    for (x) |v| max = @max(max, v);
    var sum: f64 = 0;
    for (x) |*v| {
        v.* = @exp(v.* - max);
        sum += v.*;
    }
    const inv: f32 = @floatCast(1.0 / sum);
    for (x) |*v| v.* *= inv;
}

/// Gemma's logit soft-capping: x = cap * tanh(x / cap).
pub fn softcap(x: []f32, cap: f32) void {
    for (x) |*v| v.* = cap * std.math.tanh(v.* / cap);
}

/// x[r] += bias for each of `rows` rows of bias.len values (a broadcast add, as for QKV biases).
pub fn addRows(x: []f32, bias: []const f32) void {
    var r: usize = 0;
    while (r < x.len) : (r += bias.len) add(x[r..][0..bias.len], bias, x[r..][0..bias.len]);
}

pub fn add(a: []const f32, c: []const f32, y: []f32) void {
    const lanes = simd.f32_lanes;
    var i: usize = 0;
    while (i + lanes <= y.len) : (i += lanes) y[i..][0..lanes].* = simd.load(lanes, f32, a, i) + simd.load(lanes, f32, c, i);
    while (i < y.len) : (i += 1) y[i] = a[i] + c[i];
}

pub fn mul(a: []const f32, c: []const f32, y: []f32) void {
    for (a, c, y) |p, q, *o| o.* = p * q;
}

pub fn scale(x: []f32, s: f32) void {
    for (x) |*v| v.* *= s;
}

test "rmsNorm makes unit RMS and applies the weight" {
    var x = [_]f32{ 1, -2, 3, -4 };
    var y: [4]f32 = undefined;
    rmsNorm(&x, null, &y, 0);
    var ss: f32 = 0;
    for (y) |v| ss += v * v;
    try std.testing.expectApproxEqAbs(@as(f32, 4), ss, 1e-5);
}

test "rope rotates pairs by pos * base^(-2i/n) and keeps norms; neox pairs i with i + n/2" {
    const p = RopeParams{ .n_rot = 4, .mode = .normal, .freq_base = 10000, .freq_scale = 1, .ext_factor = 0, .attn_factor = 1, .corr_low = 0, .corr_high = 0 };
    var cache: [4]f32 = undefined;
    ropeCache(p, 3, null, &cache);
    try std.testing.expectApproxEqAbs(@cos(@as(f32, 3)), cache[0], 1e-6);
    try std.testing.expectApproxEqAbs(@sin(@as(f32, 3) * 0.01), cache[3], 1e-6);
    var x = [_]f32{ 1, 0, 0, 1, 5 }; // head_dim 5, n_rot 4: the last dim passes through
    ropeHeads(&x, 1, 5, p, &cache);
    try std.testing.expectApproxEqAbs(@cos(@as(f32, 3)), x[0], 1e-6);
    try std.testing.expectApproxEqAbs(@sin(@as(f32, 3)), x[1], 1e-6);
    try std.testing.expectEqual(@as(f32, 5), x[4]);
    var n = [_]f32{ 1, 0, 0, 0 };
    var pn = p;
    pn.mode = .neox;
    ropeHeads(&n, 1, 4, pn, &cache);
    try std.testing.expectApproxEqAbs(@sin(@as(f32, 3)), n[2], 1e-6);
}

test "vector exp agrees with @exp within 2 ulp, and swiglu with the scalar formula" {
    const x: [8]f32 = .{ -20, -3.5, -1, -0.001, 0, 0.5, 7, 80 };
    const e = vexp(8, x);
    for (x, 0..) |v, i| try std.testing.expectApproxEqRel(@exp(v), e[i], 3e-7);
    const g: [11]f32 = .{ -9, -2, -1, 0, 1, 2, 3, 4, 5, 6, -120 };
    const u: [11]f32 = .{ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1 };
    var y: [11]f32 = undefined;
    swiglu(&g, &u, &y);
    for (g, u, y) |a, c, o| try std.testing.expectApproxEqAbs(silu(a) * c, o, 1e-5 * @abs(silu(a) * c) + 1e-30);
    try std.testing.expectApproxEqAbs(geluExact(1.3), gelu(1.3), 2e-3);
}

test "the GELU table gives exactly f16(gelu(f16(x))) for every f16 input inside (-10, 10)" {
    for (0..1 << 16) |i| {
        const h: f16 = @bitCast(@as(u16, @intCast(i)));
        const x: f32 = h;
        if (std.math.isNan(x) or x <= -10.0 or x >= 10.0) continue;
        const want: f16 = @floatCast(geluExact(h));
        try std.testing.expectEqual(@as(u16, @bitCast(want)), @as(u16, @bitCast(@as(f16, @floatCast(gelu(x))))));
    }
}

test "rmsNormRows gives each row the bits of rmsNorm" {
    var prng = std.Random.DefaultPrng.init(5);
    const rand = prng.random();
    const n = 37;
    const rows = 7; // one group of four, then three single rows
    var x: [rows * n]f32 = undefined;
    var w: [n]f32 = undefined;
    for (&x) |*v| v.* = rand.floatNorm(f32) * 3;
    for (&w) |*v| v.* = rand.floatNorm(f32);
    var got: [rows * n]f32 = undefined;
    rmsNormRows(&x, &w, &got, n, 1e-6);
    for (0..rows) |r| {
        var want: [n]f32 = undefined;
        rmsNorm(x[r * n ..][0..n], &w, &want, 1e-6);
        try std.testing.expectEqualSlices(u32, @ptrCast(&want), @ptrCast(got[r * n ..][0..n]));
    }
}

test "geglu's vector path gives each value the bits of gelu(gate) * up" {
    var prng = std.Random.DefaultPrng.init(9);
    const rand = prng.random();
    const n = 8 * 64 + 5;
    var gate: [n]f32 = undefined;
    var up: [n]f32 = undefined;
    for (&gate, &up) |*g, *u| {
        g.* = rand.floatNorm(f32) * 6;
        u.* = rand.floatNorm(f32);
    }
    for ([_]f32{ -10.0, 10.0, -10.001, 9.999, 0, -0.0, 1e-8, 30 }, 0..) |edge, k| gate[k] = edge;
    var got: [n]f32 = undefined;
    geglu(&gate, &up, &got);
    for (gate, up, got) |g, u, y| try std.testing.expectEqual(@as(u32, @bitCast(gelu(g) * u)), @as(u32, @bitCast(y)));
}
