//! Read-only memory mapping of model files, page advice and residency measurement. The weights are used in
//! place from the mapping: nothing is copied, and the kernel can drop clean pages under memory pressure.
const std = @import("std");
const posix = std.posix;
const linux = std.os.linux;

pub fn mapFile(path: [*:0]const u8) ![]align(std.heap.page_size_min) const u8 {
    const fd = try posix.openZ(path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true }, 0);
    defer posix.close(fd);
    const st = try posix.fstat(fd);
    const size: usize = @intCast(st.size);
    if (size == 0) return error.EmptyFile;
    // No MADV_HUGEPAGE here: a resident model asks for it (src/model/huge-pages.ts); streaming must not, as
    // its faults would then read 2 MiB around every small tensor they touch.
    return try posix.mmap(null, size, posix.PROT.READ, .{ .TYPE = .PRIVATE }, fd, 0);
}

pub fn errnoOf(err: anyerror) i32 {
    return switch (err) {
        error.FileNotFound => @intFromEnum(posix.E.NOENT),
        error.AccessDenied => @intFromEnum(posix.E.ACCES),
        error.IsDir => @intFromEnum(posix.E.ISDIR),
        error.EmptyFile => @intFromEnum(posix.E.INVAL),
        error.OutOfMemory => @intFromEnum(posix.E.NOMEM),
        error.ProcessFdQuotaExceeded, error.SystemFdQuotaExceeded => @intFromEnum(posix.E.MFILE),
        else => @intFromEnum(posix.E.IO),
    };
}

pub fn unmap(address: usize, size: u64) void {
    const ptr: [*]align(std.heap.page_size_min) const u8 = @ptrFromInt(address);
    posix.munmap(ptr[0..size]);
}

fn pageRange(address: usize, size: u64) struct { start: usize, len: usize } {
    const page = std.heap.pageSize();
    const start = address & ~(page - 1);
    const end = std.mem.alignForward(usize, address + size, page);
    return .{ .start = start, .len = end - start };
}

/// madvise over the pages covering the range; returns 0 or the errno.
pub fn advise(address: usize, size: u64, advice: u32) i32 {
    const r = pageRange(address, size);
    const rc = linux.madvise(@ptrFromInt(r.start), r.len, advice);
    const e = linux.E.init(rc);
    return @intFromEnum(e);
}

/// Drops clean, unmapped pages of [offset, offset + len) of a file from the page cache (posix_fadvise
/// DONTNEED; len 0 = to the end): what another process or the kernel's readahead left cached would otherwise
/// stay resident. Mapped pages are left alone (MADV_PAGEOUT releases those). Returns 0 or the errno.
pub fn dropFileCache(path: [*:0]const u8, offset: u64, len: u64) i32 {
    const fd = posix.openZ(path, .{ .ACCMODE = .RDONLY, .CLOEXEC = true }, 0) catch |e| return errnoOf(e);
    defer posix.close(fd);
    // A file written moments ago (a fresh download) has dirty pages, which DONTNEED cannot drop: write them
    // back first. Only for the whole-file drop at the start; later ranges were read, never written.
    if (offset == 0 and len == 0) posix.fdatasync(fd) catch {};
    const rc = linux.fadvise(fd, @intCast(offset), @intCast(len), linux.POSIX_FADV.DONTNEED);
    return @intFromEnum(linux.E.init(rc));
}

pub fn residentBytes(address: usize, size: u64) i64 {
    const page = std.heap.pageSize();
    const r = pageRange(address, size);
    var vec: [4096]u8 = undefined;
    var total: i64 = 0;
    var offset: usize = 0;
    while (offset < r.len) {
        const pages = @min(vec.len, (r.len - offset) / page);
        const rc = linux.syscall3(.mincore, r.start + offset, pages * page, @intFromPtr(&vec));
        if (linux.E.init(rc) != .SUCCESS) return -1;
        for (vec[0..pages]) |v| total += @intCast(v & 1);
        offset += pages * page;
    }
    return total * @as(i64, @intCast(page));
}

test "map a file, read it, measure residency" {
    var tmp = std.testing.tmpDir(.{});
    defer tmp.cleanup();
    try tmp.dir.writeFile(.{ .sub_path = "x.bin", .data = "hello mapping" });
    var buf: [std.fs.max_path_bytes]u8 = undefined;
    const path = try tmp.dir.realpath("x.bin", &buf);
    var zpath: [std.fs.max_path_bytes + 1]u8 = undefined;
    @memcpy(zpath[0..path.len], path);
    zpath[path.len] = 0;
    const m = try mapFile(@ptrCast(&zpath));
    defer unmap(@intFromPtr(m.ptr), m.len);
    try std.testing.expectEqualStrings("hello mapping", m);
    try std.testing.expect(residentBytes(@intFromPtr(m.ptr), m.len) > 0);
    try std.testing.expectError(error.FileNotFound, mapFile("/nonexistent/zinc"));
}
