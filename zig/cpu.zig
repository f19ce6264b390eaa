//! Run-time CPU feature probe. The TypeScript loader calls this through the baseline library (which runs on
//! any x86-64) before it decides which variant to dlopen, so this file must not assume any feature itself.
//! The bit positions are an ABI shared with src/native/cpu.ts.
const std = @import("std");
const builtin = @import("builtin");

pub const Feature = enum(u6) {
    sse3 = 0,
    ssse3 = 1,
    avx = 2,
    avx2 = 3,
    fma = 4,
    f16c = 5,
    avx512f = 6,
    avx512bw = 7,
    avx512vl = 8,
    avx512dq = 9,
    avx512cd = 10,
    avx512vnni = 11,
    avx512bf16 = 12,
    avx512vbmi = 13,
    avxvnni = 14,
    neon = 16,
    dotprod = 17,
    /// The OS saves and restores YMM state (XCR0 bits 1 and 2): without it AVX instructions fault.
    os_avx = 24,
    /// The OS saves and restores opmask and ZMM state (XCR0 bits 5, 6, 7).
    os_avx512 = 25,
};

fn bit(f: Feature) u64 {
    return @as(u64, 1) << @intFromEnum(f);
}

const CpuidResult = struct { eax: u32, ebx: u32, ecx: u32, edx: u32 };

fn cpuid(leaf: u32, subleaf: u32) CpuidResult {
    var eax: u32 = undefined;
    var ebx: u32 = undefined;
    var ecx: u32 = undefined;
    var edx: u32 = undefined;
    asm volatile ("cpuid"
        : [eax] "={eax}" (eax),
          [ebx] "={ebx}" (ebx),
          [ecx] "={ecx}" (ecx),
          [edx] "={edx}" (edx),
        : [leaf] "{eax}" (leaf),
          [subleaf] "{ecx}" (subleaf),
    );
    return .{ .eax = eax, .ebx = ebx, .ecx = ecx, .edx = edx };
}

fn xgetbv0() u64 {
    var lo: u32 = undefined;
    var hi: u32 = undefined;
    asm volatile ("xgetbv"
        : [lo] "={eax}" (lo),
          [hi] "={edx}" (hi),
        : [index] "{ecx}" (@as(u32, 0)),
    );
    return (@as(u64, hi) << 32) | lo;
}

fn probeX86() u64 {
    var mask: u64 = 0;
    const max_leaf = cpuid(0, 0).eax;
    const l1 = cpuid(1, 0);
    const has = struct {
        fn f(reg: u32, b: u5) bool {
            return (reg >> b) & 1 == 1;
        }
    }.f;
    if (has(l1.ecx, 0)) mask |= bit(.sse3);
    if (has(l1.ecx, 9)) mask |= bit(.ssse3);
    if (has(l1.ecx, 12)) mask |= bit(.fma);
    if (has(l1.ecx, 28)) mask |= bit(.avx);
    if (has(l1.ecx, 29)) mask |= bit(.f16c);
    // XGETBV is only legal when the OS has enabled XSAVE (OSXSAVE, leaf 1 ECX bit 27).
    if (has(l1.ecx, 27)) {
        const xcr0 = xgetbv0();
        if (xcr0 & 0x6 == 0x6) mask |= bit(.os_avx);
        if (xcr0 & 0xE6 == 0xE6) mask |= bit(.os_avx512);
    }
    if (max_leaf >= 7) {
        const l7 = cpuid(7, 0);
        if (has(l7.ebx, 5)) mask |= bit(.avx2);
        if (has(l7.ebx, 16)) mask |= bit(.avx512f);
        if (has(l7.ebx, 17)) mask |= bit(.avx512dq);
        if (has(l7.ebx, 28)) mask |= bit(.avx512cd);
        if (has(l7.ebx, 30)) mask |= bit(.avx512bw);
        if (has(l7.ebx, 31)) mask |= bit(.avx512vl);
        if (has(l7.ecx, 1)) mask |= bit(.avx512vbmi);
        if (has(l7.ecx, 11)) mask |= bit(.avx512vnni);
        if (l7.eax >= 1) {
            const l7s1 = cpuid(7, 1);
            if (has(l7s1.eax, 4)) mask |= bit(.avxvnni);
            if (has(l7s1.eax, 5)) mask |= bit(.avx512bf16);
        }
    }
    return mask;
}

fn probeAarch64() u64 {
    // AT_HWCAP bits from the Linux arm64 ABI: HWCAP_ASIMD = 1 << 1, HWCAP_ASIMDDP = 1 << 20.
    const hwcap = std.os.linux.getauxval(std.elf.AT_HWCAP);
    var mask: u64 = 0;
    if (hwcap & (1 << 1) != 0) mask |= bit(.neon);
    if (hwcap & (1 << 20) != 0) mask |= bit(.dotprod);
    return mask;
}

pub fn probe() u64 {
    return switch (builtin.cpu.arch) {
        .x86_64 => probeX86(),
        .aarch64 => probeAarch64(),
        else => 0,
    };
}

test "probe reports what this build itself relies on" {
    const mask = probe();
    switch (builtin.cpu.arch) {
        .x86_64 => {
            // Every x86-64 has SSE2; a build for AVX2 can only be running where AVX2 is present and enabled.
            if (std.Target.x86.featureSetHas(builtin.cpu.features, .avx2)) {
                try std.testing.expect(mask & bit(.avx2) != 0);
                try std.testing.expect(mask & bit(.os_avx) != 0);
            }
            if (std.Target.x86.featureSetHas(builtin.cpu.features, .avx512f)) {
                try std.testing.expect(mask & bit(.avx512f) != 0);
                try std.testing.expect(mask & bit(.os_avx512) != 0);
            }
        },
        .aarch64 => try std.testing.expect(mask & bit(.neon) != 0),
        else => {},
    }
}
