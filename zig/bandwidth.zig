//! The machine's memory read bandwidth, measured the way a decode kernel reads weights: every pool thread
//! streams its own contiguous part of a buffer once, front to back, with wide loads. Benchmarks time this next
//! to the matrix × vector kernels, so "percent of read bandwidth" compares figures taken in the same run on a
//! machine whose bandwidth drifts with its neighbours.
const std = @import("std");
const threadpool = @import("threadpool.zig");

/// One cache line per load (a zmm register with AVX-512): two 32-byte loads per step read a 4 GB mapped file
/// ~5% slower here (30–30.5 against 31–32 GB/s, 2 threads, in the same minutes).
const V = @Vector(8, u64);

/// Wrapping sum of the little-endian u64 words of `bytes` (any alignment) plus its trailing bytes, one at a
/// time. The sum is what keeps the loads from being optimized away; it is also what the tests check.
pub fn checksumReference(bytes: []const u8) u64 {
    var sum: u64 = 0;
    const words = bytes.len / 8;
    for (0..words) |i| sum +%= std.mem.readInt(u64, bytes[i * 8 ..][0..8], .little);
    for (bytes[words * 8 ..]) |c| sum +%= c;
    return sum;
}

/// Streams per thread. One sequential stream per core leaves bandwidth unused on this kind of machine (the
/// probe measured ~16 GB/s with one stream on one core, ~22 with four); the decode kernels read four rows at
/// once, four streams per thread as here, so a one-stream probe would understate the ceiling they are
/// compared against.
const streams = 4;

/// checksumReference, reading `streams` equal parts of `bytes` side by side (64 bytes of each per step), each
/// into its own accumulator, so loads, not add latency, set the pace.
pub fn checksum(bytes: []const u8) u64 {
    const step = @sizeOf(V);
    const part = bytes.len / (streams * step) * step;
    var acc: [streams]V = @splat(@splat(0));
    var i: usize = 0;
    while (i < part) : (i += step) {
        inline for (0..streams) |j| {
            const p = bytes[j * part + i ..][0..step];
            acc[j] +%= @as(V, @bitCast(p.*));
        }
    }
    var total: V = @splat(0);
    for (acc) |a| total +%= a;
    return @reduce(.Add, total) +% checksumReference(bytes[streams * part ..]);
}

/// checksum over the pool: thread k reads the k-th of `thread_count` contiguous parts (split on 128-byte
/// boundaries so every part but the last is whole vectors, which keeps the result equal to the reference).
pub fn parallelChecksum(pool: *threadpool.Pool, bytes: []const u8) u64 {
    const max_threads = 256;
    var partial: [max_threads]u64 = @splat(0);
    const Ctx = struct {
        bytes: []const u8,
        partial: *[max_threads]u64,
        fn work(self: *const @This(), index: usize, count: usize) void {
            if (index >= max_threads) return;
            const used = @min(count, max_threads);
            const chunks = (self.bytes.len + 127) / 128;
            const r = threadpool.splitRange(chunks, index, used);
            const start = @min(self.bytes.len, r.start * 128);
            const end = @min(self.bytes.len, r.end * 128);
            self.partial[index] = checksum(self.bytes[start..end]);
        }
    };
    const ctx = Ctx{ .bytes = bytes, .partial = &partial };
    pool.parallel(Ctx, &ctx, Ctx.work);
    var sum: u64 = 0;
    for (partial) |p| sum +%= p;
    return sum;
}

test "the parallel checksum equals the scalar reference for any length and alignment" {
    var pool: threadpool.Pool = undefined;
    try pool.init(std.testing.allocator, 3);
    defer pool.deinit();
    var prng = std.Random.DefaultPrng.init(5);
    var buf: [5004]u8 = undefined;
    prng.random().bytes(&buf);
    for ([_]usize{ 0, 1, 7, 8, 127, 128, 129, 1000, 4093, 4999 }) |len| {
        for ([_]usize{ 0, 1, 3 }) |offset| {
            const s = buf[offset..][0..len];
            try std.testing.expectEqual(checksumReference(s), checksum(s));
            try std.testing.expectEqual(checksumReference(s), parallelChecksum(&pool, s));
        }
    }
}
