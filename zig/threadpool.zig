//! A fixed pool of worker threads, created once, that every parallel kernel splits its work across.
//!
//! One job runs at a time: the caller publishes a task, bumps `generation`, works on slice 0 itself and then
//! waits for the workers. Between jobs workers spin for a short while before sleeping on a futex, because a
//! forward pass issues hundreds of small kernels in a row and a futex wake per kernel costs microseconds.
const std = @import("std");

pub const Task = *const fn (context: *const anyopaque, thread_index: usize, thread_count: usize) void;

/// Spin iterations before a thread sleeps: at ~25 ns a pause (AMD EPYC here) about 6.5 ms. The gap between
/// two kernels of a forward pass is far shorter, but the thread on the other side is sometimes preempted for a
/// millisecond or more (bun's own threads and the system's share the two cores); a spin limit of 0.4 ms
/// (1 << 14) let the waiting thread fall asleep then, ~0.4 times a token (SmolLM2 Q8_0, 512 tokens: 217
/// worker sleeps and 211 caller sleeps in 200k jobs), and waking it cost the next job hundreds of
/// microseconds. Generation with 1 << 18: 1.045× (SmolLM2 Q8_0) and 1.02× (Qwen2.5-0.5B shape Q4_0), median
/// of 10 alternating pairs; 1 << 20 gained nothing more.
const spin_limit: u32 = 1 << 18;

/// Working memory each thread may use during one job (attention tiles, a matrix product's prepared
/// activation tile), allocated once with the pool so that no kernel allocates per call. Pages are only
/// committed once touched.
pub const scratch_per_thread = 1 << 20;

pub const Pool = struct {
    allocator: std.mem.Allocator,
    workers: []std.Thread,
    thread_count: usize,
    /// thread_count × scratch_per_thread bytes; thread i owns scratchFor(i).
    scratch: []align(64) u8,

    /// Futex word: incremented once per job (and once for shutdown).
    generation: std.atomic.Value(u32) = .init(0),
    /// Workers still running the current job; the caller waits for zero.
    remaining: std.atomic.Value(u32) = .init(0),
    sleeping_workers: std.atomic.Value(u32) = .init(0),
    caller_sleeping: std.atomic.Value(u32) = .init(0),
    shutting_down: bool = false,
    task: Task = undefined,
    context: *const anyopaque = undefined,

    /// `self` must not move after init: the workers hold its address.
    pub fn init(self: *Pool, allocator: std.mem.Allocator, thread_count: usize) !void {
        std.debug.assert(thread_count >= 1);
        const scratch = try allocator.alignedAlloc(u8, .@"64", thread_count * scratch_per_thread);
        errdefer allocator.free(scratch);
        self.* = .{ .allocator = allocator, .workers = &.{}, .thread_count = thread_count, .scratch = scratch };
        const workers = try allocator.alloc(std.Thread, thread_count - 1);
        errdefer allocator.free(workers);
        var started: usize = 0;
        errdefer {
            self.stopWorkers();
            for (workers[0..started]) |w| w.join();
        }
        for (workers, 0..) |*w, i| {
            w.* = try std.Thread.spawn(.{ .stack_size = 256 * 1024 }, workerMain, .{ self, i + 1 });
            started += 1;
        }
        self.workers = workers;
    }

    pub fn deinit(self: *Pool) void {
        self.stopWorkers();
        for (self.workers) |w| w.join();
        self.allocator.free(self.workers);
        self.workers = &.{};
        self.allocator.free(self.scratch);
        self.scratch = &.{};
    }

    pub fn scratchFor(self: *const Pool, index: usize) []align(64) u8 {
        return @alignCast(self.scratch[index * scratch_per_thread ..][0..scratch_per_thread]);
    }

    fn stopWorkers(self: *Pool) void {
        self.shutting_down = true;
        _ = self.generation.fetchAdd(1, .seq_cst);
        std.Thread.Futex.wake(&self.generation, std.math.maxInt(u32));
    }

    /// Runs `task(context, i, n)` for i in 0..n on n threads (the caller is thread 0) and returns when all
    /// are done. Not reentrant: one caller thread at a time.
    pub fn run(self: *Pool, task: Task, context: *const anyopaque) void {
        const n = self.thread_count;
        if (n == 1) return task(context, 0, 1);
        self.task = task;
        self.context = context;
        self.remaining.store(@intCast(n - 1), .seq_cst);
        _ = self.generation.fetchAdd(1, .seq_cst);
        if (self.sleeping_workers.load(.seq_cst) > 0) std.Thread.Futex.wake(&self.generation, std.math.maxInt(u32));

        task(context, 0, n);

        var spins: u32 = 0;
        while (true) {
            const left = self.remaining.load(.seq_cst);
            if (left == 0) break;
            if (spins < spin_limit) {
                std.atomic.spinLoopHint();
                spins += 1;
            } else {
                _ = self.caller_sleeping.fetchAdd(1, .seq_cst);
                std.Thread.Futex.wait(&self.remaining, left);
                _ = self.caller_sleeping.fetchSub(1, .seq_cst);
            }
        }
    }

    /// Typed convenience over `run`: `func(context, thread_index, thread_count)`.
    pub fn parallel(self: *Pool, comptime Context: type, context: *const Context, comptime func: fn (*const Context, usize, usize) void) void {
        const Wrapper = struct {
            fn call(raw: *const anyopaque, i: usize, n: usize) void {
                func(@ptrCast(@alignCast(raw)), i, n);
            }
        };
        self.run(Wrapper.call, context);
    }

    fn workerMain(self: *Pool, index: usize) void {
        var seen: u32 = 0;
        while (true) {
            var spins: u32 = 0;
            var current = self.generation.load(.seq_cst);
            while (current == seen) {
                if (spins < spin_limit) {
                    std.atomic.spinLoopHint();
                    spins += 1;
                } else {
                    _ = self.sleeping_workers.fetchAdd(1, .seq_cst);
                    std.Thread.Futex.wait(&self.generation, seen);
                    _ = self.sleeping_workers.fetchSub(1, .seq_cst);
                }
                current = self.generation.load(.seq_cst);
            }
            seen = current;
            if (self.shutting_down) return;
            self.task(self.context, index, self.thread_count);
            if (self.remaining.fetchSub(1, .seq_cst) == 1 and self.caller_sleeping.load(.seq_cst) > 0) {
                std.Thread.Futex.wake(&self.remaining, 1);
            }
        }
    }
};

/// The half-open range of `total` items that thread `index` of `count` owns, in contiguous chunks.
pub fn splitRange(total: usize, index: usize, count: usize) struct { start: usize, end: usize } {
    const per = total / count;
    const extra = total % count;
    const start = index * per + @min(index, extra);
    return .{ .start = start, .end = start + per + @intFromBool(index < extra) };
}

test "splitRange covers every item exactly once" {
    for ([_]usize{ 0, 1, 7, 64, 1001 }) |total| {
        for (1..5) |count| {
            var next: usize = 0;
            for (0..count) |i| {
                const r = splitRange(total, i, count);
                try std.testing.expectEqual(next, r.start);
                next = r.end;
            }
            try std.testing.expectEqual(total, next);
        }
    }
}

test "pool runs every slice of many jobs exactly once" {
    var pool: Pool = undefined;
    try pool.init(std.testing.allocator, 3);
    defer pool.deinit();
    const Ctx = struct {
        hits: []std.atomic.Value(u32),
        fn work(self: *const @This(), i: usize, n: usize) void {
            const r = splitRange(self.hits.len, i, n);
            for (self.hits[r.start..r.end]) |*h| _ = h.fetchAdd(1, .monotonic);
        }
    };
    var hits: [100]std.atomic.Value(u32) = undefined;
    for (&hits) |*h| h.* = .init(0);
    const ctx = Ctx{ .hits = &hits };
    for (0..2000) |_| pool.parallel(Ctx, &ctx, Ctx.work);
    for (hits) |h| try std.testing.expectEqual(@as(u32, 2000), h.load(.monotonic));
}
