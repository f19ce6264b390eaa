//! The C ABI of a zinc kernel library: the only file with `export`. TypeScript (src/native/) binds exactly
//! these symbols. Conventions: lengths are u64 element counts, pointers are checked for size on the TypeScript
//! side before they get here, and fallible calls return a `Status` code rather than trapping.
const std = @import("std");
const build_options = @import("build_options");
const cpu = @import("cpu.zig");
const runtime = @import("runtime.zig");
const dot = @import("dot.zig");
const matmul = @import("matmul.zig");
const blocks = @import("quants/blocks.zig");
const q8_0 = @import("quants/q8_0.zig");

/// Bumped whenever an exported signature or a shared constant changes; the loader refuses a mismatch
/// (a stale zig-out/ from an older checkout) instead of calling with the wrong arguments.
pub const abi_version: u32 = 1;

pub const Status = enum(i32) {
    ok = 0,
    out_of_memory = 1,
    thread_spawn_failed = 2,
    invalid_argument = 3,
};

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

export fn zinc_vec_dot_q8_0_q8_0(x: [*]const blocks.BlockQ8_0, y: [*]const blocks.BlockQ8_0, block_count: u64) f32 {
    return dot.vecDotQ8_0Q8_0(x[0..block_count], y[0..block_count]);
}

export fn zinc_vec_dot_q8_0_q8_0_reference(x: [*]const blocks.BlockQ8_0, y: [*]const blocks.BlockQ8_0, block_count: u64) f32 {
    return dot.vecDotQ8_0Q8_0Reference(x[0..block_count], y[0..block_count]);
}

export fn zinc_quantize_row_q8_0(x: [*]const f32, y: [*]blocks.BlockQ8_0, n: u64) void {
    q8_0.quantizeRowQ8_0(x[0..n], y[0 .. n / blocks.qk]);
}

export fn zinc_dequantize_row_q8_0(x: [*]const blocks.BlockQ8_0, y: [*]f32, n: u64) void {
    q8_0.dequantizeRowQ8_0(x[0 .. n / blocks.qk], y[0..n]);
}

// ---- matrix × vector ----------------------------------------------------------------------------------------

export fn zinc_matvec_f32(weights: [*]const f32, x: [*]const f32, y: [*]f32, rows: u64, cols: u64) void {
    matmul.matvecF32(runtime.pool(), weights[0 .. rows * cols], x[0..cols], y[0..rows]);
}

/// `x_scratch` holds cols / 32 Q8_0 blocks: the activation is quantized once here, then shared by all rows.
export fn zinc_matvec_q8_0(weights: [*]const blocks.BlockQ8_0, x: [*]const f32, x_scratch: [*]blocks.BlockQ8_0, y: [*]f32, rows: u64, cols: u64) void {
    const nb = cols / blocks.qk;
    q8_0.quantizeRowQ8_0(x[0..cols], x_scratch[0..nb]);
    matmul.matvecQ8_0(runtime.pool(), weights[0 .. rows * nb], x_scratch[0..nb], y[0..rows]);
}

test {
    // The kernels' own tests ride along with `zig build test`.
    _ = @import("cpu.zig");
    _ = @import("threadpool.zig");
    _ = @import("dot.zig");
    _ = @import("matmul.zig");
    _ = @import("quants/q8_0.zig");
}
