//! Process-wide state of one loaded kernel library: the thread pool. It is created once (by the TypeScript
//! loader, with the thread count the user chose) and reused by every kernel call.
const std = @import("std");
const threadpool = @import("threadpool.zig");

var pool_storage: threadpool.Pool = undefined;
var pool_ready = false;
var single_thread_scratch: [threadpool.scratch_per_thread]u8 align(64) = undefined;
var single_thread_pool: threadpool.Pool = .{ .allocator = std.heap.page_allocator, .workers = &.{}, .thread_count = 1, .scratch = &single_thread_scratch };

pub fn initPool(thread_count: usize) !void {
    if (pool_ready) {
        if (pool_storage.thread_count == thread_count) return;
        pool_storage.deinit();
        pool_ready = false;
    }
    try pool_storage.init(std.heap.page_allocator, thread_count);
    pool_ready = true;
}

pub fn deinitPool() void {
    if (!pool_ready) return;
    pool_storage.deinit();
    pool_ready = false;
}

/// The pool kernels run on; before `initPool` a kernel still works, on the calling thread alone.
pub fn pool() *threadpool.Pool {
    return if (pool_ready) &pool_storage else &single_thread_pool;
}
