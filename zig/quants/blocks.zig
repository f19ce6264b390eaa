//! GGUF/ggml block layouts, byte for byte. Each struct is `extern` so its layout is the C one ggml writes,
//! and each size is asserted at compile time: a wrong size would silently misread every block after the first.
const std = @import("std");

/// Weights per block of the simple (non-K) quant types.
pub const qk: usize = 32;

/// Q8_0: 32 weights as int8 with one f16 scale. 8.5 bits per weight.
/// Value = d * qs[i].
pub const BlockQ8_0 = extern struct {
    d: f16,
    qs: [qk]i8,
};

comptime {
    std.debug.assert(@sizeOf(BlockQ8_0) == 34);
}
