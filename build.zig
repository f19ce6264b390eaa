//! Builds one kernel library per CPU feature level (zig-out/lib/libzinc-<variant>.so) and, with `zig build test`,
//! runs the kernel tests for every variant this machine can execute — the aarch64 one under qemu-user.
const std = @import("std");

/// The variant table: the one place that says which CPU levels zinc ships. src/native/variants.ts mirrors the
/// names and the features each needs at run time.
const Variant = struct {
    name: [:0]const u8,
    arch_os_abi: []const u8,
    cpu: []const u8,
    /// Host features needed to run this variant's tests natively (x86 only; aarch64 runs under qemu).
    needs: []const std.Target.x86.Feature,
};

const variants = [_]Variant{
    .{ .name = "baseline", .arch_os_abi = "x86_64-linux-gnu", .cpu = "x86_64", .needs = &.{} },
    .{ .name = "avx2", .arch_os_abi = "x86_64-linux-gnu", .cpu = "x86_64_v3", .needs = &.{ .avx2, .fma, .f16c } },
    .{
        .name = "avx512",
        .arch_os_abi = "x86_64-linux-gnu",
        .cpu = "x86_64_v4+avx512vnni",
        .needs = &.{ .avx512f, .avx512bw, .avx512vl, .avx512dq, .avx512vnni },
    },
    .{ .name = "neon", .arch_os_abi = "aarch64-linux-gnu", .cpu = "generic+neon+dotprod", .needs = &.{} },
};

pub fn build(b: *std.Build) void {
    const optimize = b.standardOptimizeOption(.{ .preferred_optimize_mode = .ReleaseFast });
    const only = b.option([]const u8, "variant", "Build and test only this variant");
    const test_step = b.step("test", "Run kernel tests for every variant this machine can execute (aarch64 under qemu)");
    const host = b.graph.host.result;

    for (variants) |v| {
        if (only) |name| if (!std.mem.eql(u8, name, v.name)) continue;
        const query = std.Target.Query.parse(.{ .arch_os_abi = v.arch_os_abi, .cpu_features = v.cpu }) catch |err|
            std.debug.panic("variant {s}: bad target {s} / {s}: {s}", .{ v.name, v.arch_os_abi, v.cpu, @errorName(err) });
        const target = b.resolveTargetQuery(query);

        const options = b.addOptions();
        options.addOption([:0]const u8, "variant", v.name);

        // The library links libc so that its threads are pthreads, the kind the host process (Bun) expects.
        const lib_module = b.createModule(.{
            .root_source_file = b.path("zig/ffi.zig"),
            .target = target,
            .optimize = optimize,
            .link_libc = true,
        });
        lib_module.addOptions("build_options", options);
        const lib = b.addLibrary(.{ .linkage = .dynamic, .name = b.fmt("zinc-{s}", .{v.name}), .root_module = lib_module, .use_llvm = true });
        b.installArtifact(lib);

        // Tests are static executables (no libc) so that qemu-user runs the aarch64 one without a sysroot.
        const test_module = b.createModule(.{
            .root_source_file = b.path("zig/ffi.zig"),
            .target = target,
            .optimize = optimize,
        });
        test_module.addOptions("build_options", options);
        // LLVM for the tests too: Zig's own x86 backend (the Debug default) cannot assemble all of the kernels'
        // inline assembly.
        const tests = b.addTest(.{ .name = b.fmt("test-{s}", .{v.name}), .root_module = test_module, .use_llvm = true });

        if (target.result.cpu.arch == host.cpu.arch) {
            var runnable = true;
            for (v.needs) |feature| runnable = runnable and std.Target.x86.featureSetHas(host.cpu.features, feature);
            if (runnable) {
                test_step.dependOn(&b.addRunArtifact(tests).step);
            } else {
                // Still compile it, so a variant this machine cannot run cannot rot unnoticed.
                test_step.dependOn(&tests.step);
            }
        } else {
            const qemu_name = b.fmt("qemu-{s}", .{@tagName(target.result.cpu.arch)});
            const qemu = b.findProgram(&.{ qemu_name, b.fmt("{s}-static", .{qemu_name}) }, &.{}) catch {
                test_step.dependOn(&b.addFail(b.fmt("variant {s} needs {s} to run its tests: install Debian's qemu-user-static", .{ v.name, qemu_name })).step);
                continue;
            };
            const run = b.addSystemCommand(&.{ qemu, "-cpu", "max" });
            run.addArtifactArg(tests);
            test_step.dependOn(&run.step);
        }
    }
}
