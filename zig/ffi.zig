//! The C ABI of a zinc kernel library: the only file with `export`. TypeScript (src/native/) binds exactly
//! these symbols. Conventions: lengths are u64 element counts, pointers are checked for size on the TypeScript
//! side before they get here, and fallible calls return a `Status` code rather than trapping.
const std = @import("std");
const build_options = @import("build_options");
const cpu = @import("cpu.zig");
const runtime = @import("runtime.zig");
const threadpool = @import("threadpool.zig");
const dot = @import("dot.zig");
const matmul = @import("matmul.zig");
const blocks = @import("quants/blocks.zig");
const reference = @import("quants/reference.zig");
const vec_dot = @import("quants/vec_dot.zig");
const ops = @import("ops.zig");
const attention = @import("attention.zig");
const mapping = @import("mapping.zig");
const bandwidth = @import("bandwidth.zig");
const simd = @import("simd.zig");

/// Bumped whenever an exported signature or a shared constant changes; the loader refuses a mismatch
/// (a stale zig-out/ from an older checkout) instead of calling with the wrong arguments.
pub const abi_version: u32 = 9;

pub const Status = enum(i32) {
    ok = 0,
    out_of_memory = 1,
    thread_spawn_failed = 2,
    invalid_argument = 3,
    unsupported_type = 4,
};

fn status(s: Status) i32 {
    return @intFromEnum(s);
}

export fn zinc_abi_version() u32 {
    return abi_version;
}

export fn zinc_variant_name() [*:0]const u8 {
    return build_options.variant;
}

export fn zinc_cpu_features() u64 {
    return cpu.probe();
}

export fn zinc_pool_init(thread_count: u32) i32 {
    simd.initLibm();
    if (thread_count == 0 or thread_count > 1024) return @intFromEnum(Status.invalid_argument);
    runtime.initPool(thread_count) catch |err| return @intFromEnum(switch (err) {
        error.OutOfMemory => Status.out_of_memory,
        else => Status.thread_spawn_failed,
    });
    return @intFromEnum(Status.ok);
}

export fn zinc_pool_threads() u32 {
    return @intCast(runtime.pool().thread_count);
}

/// How many f32 bit patterns first, first + stride, … (count of them) simd.expfLanes rounds differently from the
/// C library's expf: its test, which can sweep all 2^32.
export fn zinc_expf_mismatches(first: u64, count: u64, stride: u64) u64 {
    var bad: u64 = 0;
    var i: u64 = 0;
    while (i < count) : (i += 8) {
        var x: @Vector(8, f32) = undefined;
        inline for (0..8) |k| x[k] = @bitCast(@as(u32, @truncate(first +% (i + k) *% stride)));
        const y = simd.expfLanes(8, x);
        inline for (0..8) |k| {
            const want = simd.expf(x[k]);
            const same = @as(u32, @bitCast(y[k])) == @as(u32, @bitCast(want)) or (want != want and y[k] != y[k]);
            if (i + k < count and !same) bad += 1;
        }
    }
    return bad;
}

export fn zinc_pool_deinit() void {
    runtime.deinitPool();
}

// ---- dot products -------------------------------------------------------------------------------------------

export fn zinc_dot_f32(a: [*]const f32, b: [*]const f32, n: u64) f32 {
    return dot.dotF32(a[0..n], b[0..n]);
}

export fn zinc_dot_f32_reference(a: [*]const f32, b: [*]const f32, n: u64) f32 {
    return dot.dotF32Reference(a[0..n], b[0..n]);
}

// ---- memory bandwidth ---------------------------------------------------------------------------------------

/// Reads `len` bytes once across the pool (each thread its own contiguous part) and returns their checksum;
/// timed by benchmarks as the machine's read bandwidth.
export fn zinc_read_checksum(bytes: [*]const u8, len: u64) u64 {
    return bandwidth.parallelChecksum(runtime.pool(), bytes[0..len]);
}

/// The same checksum in scalar code, one thread: the reference the tests compare against.
export fn zinc_read_checksum_reference(bytes: [*]const u8, len: u64) u64 {
    return bandwidth.checksumReference(bytes[0..len]);
}

// ---- any tensor type ------------------------------------------------------------------------------------------

/// Calls `func(comptime t)` for the runtime type id, or reports an unsupported type.
fn dispatch(type_id: u32, comptime types: []const blocks.TensorType, comptime Func: type, args: anytype) i32 {
    inline for (types) |t| {
        if (type_id == @intFromEnum(t)) {
            @call(.auto, Func.call, .{t} ++ args);
            return status(.ok);
        }
    }
    return status(.unsupported_type);
}

const activation_types = [_]blocks.TensorType{ .f32, .f16, .bf16, .q8_0, .q8_1, .q8_k };
const all_types = blocks.weight_types ++ [_]blocks.TensorType{ .q8_1, .q8_k };

export fn zinc_dequantize_row(type_id: u32, src: [*]const u8, dst: [*]f32, n: u64) i32 {
    return dispatch(type_id, &all_types, struct {
        fn call(comptime t: blocks.TensorType, s: [*]const u8, d: [*]f32, count: u64) void {
            const nb = count / blocks.blockValues(t);
            const x: [*]const blocks.Block(t) = @ptrCast(@alignCast(s));
            reference.dequantizeRow(t, x[0..nb], d[0..count]);
        }
    }, .{ src, dst, n });
}

/// Quantizes `rows` rows of `cols` f32 values to an activation or simple weight type.
export fn zinc_quantize_rows(type_id: u32, x: [*]const f32, out: [*]u8, rows: u64, cols: u64) i32 {
    return dispatch(type_id, &(activation_types ++ [_]blocks.TensorType{ .q4_0, .q4_1, .q5_0, .q5_1 }), struct {
        fn call(comptime t: blocks.TensorType, src: [*]const f32, dst: [*]u8, r: u64, c: u64) void {
            matmul.QuantizeRows(t, .activations).run(runtime.pool(), src, @ptrCast(@alignCast(dst)), r, c);
        }
    }, .{ x, out, rows, cols });
}

/// Weights, not activations: ggml's reference quantizers (as llama-quantize uses), rows split over the pool.
export fn zinc_quantize_weights(type_id: u32, x: [*]const f32, out: [*]u8, rows: u64, cols: u64) i32 {
    return dispatch(type_id, &blocks.weight_types, struct {
        fn call(comptime t: blocks.TensorType, src: [*]const f32, dst: [*]u8, r: u64, c: u64) void {
            matmul.QuantizeRows(t, .weights).run(runtime.pool(), src, @ptrCast(@alignCast(dst)), r, c);
        }
    }, .{ x, out, rows, cols });
}

/// y[t][r] = dot(weights[r], x_quantized[t]); x must already be in the weight type's activation type.
/// flags bit 0: sum every token as a one-token product would (speculative verification must reproduce plain
/// decoding bit for bit); otherwise a batch sums as llama.cpp's batched path does. Bit 1: Q4_0, IQ4_NL and Q4_K
/// matrices of rows in multiples of 8 in llama.cpp's repacked order (vec_dot.vecDotRepacked4Bit, vecDotRepackedQ4_K).
export fn zinc_matmul(type_id: u32, weights: [*]const u8, x_quantized: [*]const u8, y: [*]f32, rows: u64, cols: u64, tokens: u64, flags: u32) i32 {
    return dispatch(type_id, &blocks.weight_types, struct {
        fn call(comptime t: blocks.TensorType, w: [*]const u8, x: [*]const u8, out: [*]f32, r: u64, c: u64, n: u64, f: u32) void {
            matmul.Matmul(t).run(runtime.pool(), @ptrCast(@alignCast(w)), @ptrCast(@alignCast(x)), out, r, c, n, .{ .one_token = f & 1 != 0, .repacked = f & 2 != 0 });
        }
    }, .{ weights, x_quantized, y, rows, cols, tokens, flags });
}

/// The scalar reference of one row dot, for tests of the SIMD path through the whole FFI.
export fn zinc_vec_dot_reference(type_id: u32, weights: [*]const u8, x_quantized: [*]const u8, cols: u64, out: *f32) i32 {
    return dispatch(type_id, &blocks.weight_types, struct {
        fn call(comptime t: blocks.TensorType, w: [*]const u8, x: [*]const u8, c: u64, o: *f32) void {
            const wb: [*]const blocks.Block(t) = @ptrCast(@alignCast(w));
            const xb: [*]const blocks.Block(blocks.activationType(t)) = @ptrCast(@alignCast(x));
            o.* = vec_dot.vecDotReference(t, wb[0 .. c / blocks.blockValues(t)], xb[0 .. c / blocks.blockValues(blocks.activationType(t))]);
        }
    }, .{ weights, x_quantized, cols, out });
}

// ---- ops ------------------------------------------------------------------------------------------------------

/// Splits [0, units) across the pool and runs body(ctx, start, end) on each part, or on the calling thread
/// alone when there is too little work (`values` in all) to pay for waking the others (a few µs): decode's
/// single rows stay inline, a prefill batch's rows are shared.
fn splitAcrossPool(comptime Ctx: type, ctx: *const Ctx, units: usize, values: usize, comptime body: fn (*const Ctx, usize, usize) void) void {
    const min_parallel_values = 16384;
    const p = runtime.pool();
    if (units < 2 or values < min_parallel_values or p.thread_count == 1) return body(ctx, 0, units);
    const Split = struct {
        ctx: *const Ctx,
        units: usize,
        fn work(self: *const @This(), index: usize, count: usize) void {
            const r = threadpool.splitRange(self.units, index, count);
            if (r.start < r.end) body(self.ctx, r.start, r.end);
        }
    };
    p.parallel(Split, &.{ .ctx = ctx, .units = units }, Split.work);
}

const RmsNormRows = struct {
    x: [*]const f32,
    weight: ?[*]const f32,
    y: [*]f32,
    n: usize,
    eps: f32,
    fn rows(self: *const RmsNormRows, start: usize, end: usize) void {
        const n = self.n;
        ops.rmsNormRows(self.x[start * n .. end * n], if (self.weight) |w| w[0..n] else null, self.y[start * n .. end * n], n, self.eps);
    }
};

export fn zinc_rms_norm(x: [*]const f32, weight: ?[*]const f32, y: [*]f32, rows: u64, n: u64, eps: f32) void {
    if (n == 0) return;
    const ctx = RmsNormRows{ .x = x, .weight = weight, .y = y, .n = n, .eps = eps };
    splitAcrossPool(RmsNormRows, &ctx, rows, rows * n, RmsNormRows.rows);
}

export fn zinc_layer_norm(x: [*]const f32, weight: ?[*]const f32, bias: ?[*]const f32, y: [*]f32, rows: u64, n: u64, eps: f32) void {
    for (0..rows) |r| ops.layerNorm(x[r * n ..][0..n], if (weight) |w| w[0..n] else null, if (bias) |c| c[0..n] else null, y[r * n ..][0..n], eps);
}

/// The rotation table of `tokens` positions (n_rot floats each) for zinc_rope_apply.
export fn zinc_rope_table(tokens: u64, positions: [*]const i32, params: *const ops.RopeParams, freq_factors: ?[*]const f32, table: [*]f32) i32 {
    if (params.n_rot % 2 != 0 or params.n_rot > attention.max_head_dim) return status(.invalid_argument);
    ops.ropeTable(params.*, positions[0..tokens], if (freq_factors) |f| f[0 .. params.n_rot / 2] else null, table[0 .. tokens * params.n_rot]);
    return status(.ok);
}

const RopeRows = struct {
    x: [*]f32,
    head_count: usize,
    head_dim: usize,
    params: ops.RopeParams,
    table: [*]const f32,
    fn rows(self: *const RopeRows, start: usize, end: usize) void {
        const width = self.head_count * self.head_dim;
        const n_rot = self.params.n_rot;
        for (start..end) |t| ops.ropeHeads(self.x[t * width ..][0..width], self.head_count, self.head_dim, self.params, self.table[t * n_rot ..][0..n_rot]);
    }
};

/// Rotates `tokens` rows of `head_count` heads in place; row t by row t of `table` (zinc_rope_table).
export fn zinc_rope_apply(x: [*]f32, tokens: u64, head_count: u64, head_dim: u64, params: *const ops.RopeParams, table: [*]const f32) i32 {
    if (params.n_rot > head_dim or params.n_rot % 2 != 0) return status(.invalid_argument);
    const ctx = RopeRows{ .x = x, .head_count = head_count, .head_dim = head_dim, .params = params.*, .table = table };
    splitAcrossPool(RopeRows, &ctx, tokens, tokens * head_count * head_dim, RopeRows.rows);
    return status(.ok);
}

/// An element-wise op of two inputs over n values (a gated activation, an add), split across the pool in runs
/// of 8 values so that every value takes the same (vector or tail) path as it would in one call.
fn ElementwiseRuns(comptime op: fn ([]const f32, []const f32, []f32) void) type {
    return struct {
        a: [*]const f32,
        c: [*]const f32,
        y: [*]f32,
        n: usize,
        fn runs(self: *const @This(), start: usize, end: usize) void {
            const from = start * 8;
            const to = @min(self.n, end * 8);
            if (from < to) op(self.a[from..to], self.c[from..to], self.y[from..to]);
        }
        fn run(a: [*]const f32, c: [*]const f32, y: [*]f32, n: usize) void {
            const ctx = @This(){ .a = a, .c = c, .y = y, .n = n };
            splitAcrossPool(@This(), &ctx, (n + 7) / 8, n, runs);
        }
    };
}

export fn zinc_swiglu(gate: [*]const f32, up: [*]const f32, y: [*]f32, n: u64) void {
    ElementwiseRuns(ops.swiglu).run(gate, up, y, n);
}

export fn zinc_geglu(gate: [*]const f32, up: [*]const f32, y: [*]f32, n: u64) void {
    ElementwiseRuns(ops.geglu).run(gate, up, y, n);
}

export fn zinc_gelu(x: [*]const f32, y: [*]f32, n: u64) void {
    for (x[0..n], y[0..n]) |v, *o| o.* = ops.gelu(v);
}

/// x[r] += bias for each of `rows` rows.
export fn zinc_add_rows(x: [*]f32, bias: [*]const f32, rows: u64, n: u64) void {
    ops.addRows(x[0 .. rows * n], bias[0..n]);
}

export fn zinc_add(a: [*]const f32, c: [*]const f32, y: [*]f32, n: u64) void {
    ElementwiseRuns(ops.add).run(a, c, y, n);
}

export fn zinc_mul(a: [*]const f32, c: [*]const f32, y: [*]f32, n: u64) void {
    ops.mul(a[0..n], c[0..n], y[0..n]);
}

export fn zinc_scale(x: [*]f32, s: f32, n: u64) void {
    ops.scale(x[0..n], s);
}

export fn zinc_softcap(x: [*]f32, cap: f32, n: u64) void {
    ops.softcap(x[0..n], cap);
}

export fn zinc_softmax(x: [*]f32, rows: u64, n: u64) void {
    for (0..rows) |r| ops.softmaxInPlace(x[r * n ..][0..n]);
}

export fn zinc_f32_to_f16(x: [*]const f32, y: [*]f16, n: u64) void {
    for (x[0..n], y[0..n]) |v, *o| o.* = @floatCast(v);
}

export fn zinc_attention(params: *const attention.AttentionParams, q: [*]const f32, positions: [*]const i32, k_cache: [*]const u8, v_cache: [*]const u8, out: [*]f32) i32 {
    const p = params.*;
    if (p.head_dim == 0 or p.head_dim > attention.max_head_dim or p.kv_head_count == 0 or p.head_count % p.kv_head_count != 0) {
        return status(.invalid_argument);
    }
    switch (p.kv_type) {
        @intFromEnum(attention.KvType.f16) => if (attention.usesTiled(p)) {
            var next = std.atomic.Value(usize).init(0);
            const att = attention.Tiled.init(p, q, positions, k_cache, v_cache, out, runtime.pool(), &next);
            att.run(runtime.pool());
        } else {
            const chunks = attention.splitChunks(p, runtime.pool().thread_count);
            const att = attention.AttentionOf(.f16){ .params = p, .q = q, .positions = positions, .k_cache = k_cache, .v_cache = v_cache, .out = out, .chunks = chunks };
            att.run(runtime.pool());
        },
        @intFromEnum(attention.KvType.q8_0) => {
            if (p.head_dim % blocks.qk != 0) return status(.invalid_argument);
            const att = attention.AttentionOf(.q8_0){ .params = p, .q = q, .positions = positions, .k_cache = k_cache, .v_cache = v_cache, .out = out };
            att.run(runtime.pool());
        },
        else => return status(.unsupported_type),
    }
    return status(.ok);
}

// ---- file mapping ---------------------------------------------------------------------------------------------

/// Maps a whole file read-only. Returns its address (0 on failure, with errno in `err`) and size in `size`.
export fn zinc_map_file(path: [*:0]const u8, size: *u64, err: *i32) usize {
    const m = mapping.mapFile(path) catch |e| {
        err.* = mapping.errnoOf(e);
        return 0;
    };
    size.* = m.len;
    return @intFromPtr(m.ptr);
}

export fn zinc_unmap(address: usize, size: u64) void {
    mapping.unmap(address, size);
}

export fn zinc_madvise(address: usize, size: u64, advice: u32) i32 {
    return mapping.advise(address, size, advice);
}

/// Drops a file range's unmapped pages from the page cache (posix_fadvise DONTNEED; len 0: to the end).
export fn zinc_drop_file_cache(path: [*:0]const u8, offset: u64, len: u64) i32 {
    return mapping.dropFileCache(path, offset, len);
}

/// Bytes of [address, address + size) resident in RAM, measured with mincore; -1 on error.
export fn zinc_resident_bytes(address: usize, size: u64) i64 {
    return mapping.residentBytes(address, size);
}

test {
    // The kernels' own tests ride along with `zig build test`.
    _ = @import("cpu.zig");
    _ = @import("threadpool.zig");
    _ = @import("dot.zig");
    _ = @import("matmul.zig");
    _ = @import("quants/reference.zig");
    _ = @import("quants/vec_dot.zig");
    _ = @import("ops.zig");
    _ = @import("attention.zig");
    _ = @import("mapping.zig");
    _ = @import("bandwidth.zig");
}
