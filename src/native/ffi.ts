/**
 * The only module that imports bun:ffi. It declares the C ABI of zig/ffi.zig once, opens a variant's library
 * and hands back its typed symbol table. Everything above this file works with TypedArrays and numbers.
 *
 * ZINC_TRACE_FFI=1 logs every native call with its arguments to stderr.
 */
import { dlopen, FFIType, ptr as pointerOf, toArrayBuffer, type Pointer } from "bun:ffi";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { ZincError } from "../errors.ts";

const { u32, i32, u64, f32, ptr, cstring } = FFIType;

const symbolTable = {
  zinc_abi_version: { args: [], returns: u32 },
  zinc_variant_name: { args: [], returns: cstring },
  zinc_cpu_features: { args: [], returns: u64 },
  zinc_pool_init: { args: [u32], returns: i32 },
  zinc_pool_threads: { args: [], returns: u32 },
  zinc_pool_deinit: { args: [], returns: FFIType.void },

  zinc_dot_f32: { args: [ptr, ptr, u64], returns: f32 },
  zinc_dot_f32_reference: { args: [ptr, ptr, u64], returns: f32 },

  zinc_read_checksum: { args: [ptr, u64], returns: u64 },
  zinc_read_checksum_reference: { args: [ptr, u64], returns: u64 },
  zinc_expf_mismatches: { args: [u64, u64, u64], returns: u64 },

  zinc_dequantize_row: { args: [u32, ptr, ptr, u64], returns: i32 },
  zinc_quantize_rows: { args: [u32, ptr, ptr, u64, u64], returns: i32 },
  zinc_quantize_weights: { args: [u32, ptr, ptr, u64, u64], returns: i32 },
  zinc_matmul: { args: [u32, ptr, ptr, ptr, u64, u64, u64, u32], returns: i32 },
  zinc_vec_dot_reference: { args: [u32, ptr, ptr, u64, ptr], returns: i32 },

  zinc_rms_norm: { args: [ptr, ptr, ptr, u64, u64, f32], returns: FFIType.void },
  zinc_layer_norm: { args: [ptr, ptr, ptr, ptr, u64, u64, f32], returns: FFIType.void },
  zinc_rope_table: { args: [u64, ptr, ptr, ptr, ptr], returns: i32 },
  zinc_rope_apply: { args: [ptr, u64, u64, u64, ptr, ptr], returns: i32 },
  zinc_swiglu: { args: [ptr, ptr, ptr, u64], returns: FFIType.void },
  zinc_geglu: { args: [ptr, ptr, ptr, u64], returns: FFIType.void },
  zinc_gelu: { args: [ptr, ptr, u64], returns: FFIType.void },
  zinc_add: { args: [ptr, ptr, ptr, u64], returns: FFIType.void },
  zinc_add_rows: { args: [ptr, ptr, u64, u64], returns: FFIType.void },
  zinc_mul: { args: [ptr, ptr, ptr, u64], returns: FFIType.void },
  zinc_scale: { args: [ptr, f32, u64], returns: FFIType.void },
  zinc_softcap: { args: [ptr, f32, u64], returns: FFIType.void },
  zinc_softmax: { args: [ptr, u64, u64], returns: FFIType.void },
  zinc_f32_to_f16: { args: [ptr, ptr, u64], returns: FFIType.void },
  zinc_attention: { args: [ptr, ptr, ptr, ptr, ptr, ptr], returns: i32 },

  zinc_map_file: { args: [ptr, ptr, ptr], returns: FFIType.u64_fast },
  zinc_unmap: { args: [u64, u64], returns: FFIType.void },
  zinc_madvise: { args: [u64, u64, u32], returns: i32 },
  zinc_resident_bytes: { args: [u64, u64], returns: FFIType.i64_fast },
  zinc_drop_file_cache: { args: [ptr, u64, u64], returns: i32 },
} as const;

/** Must equal `abi_version` in zig/ffi.zig. */
export const expectedAbiVersion = 9;

export type NativeSymbols = ReturnType<typeof dlopen<typeof symbolTable>>["symbols"];

export interface NativeLibrary {
  path: string;
  symbols: NativeSymbols;
  close(): void;
}

export function libraryDirectory(): string {
  return process.env.ZINC_LIB_DIR ?? join(import.meta.dir, "..", "..", "zig-out", "lib");
}

export function libraryPath(variant: string): string {
  return join(libraryDirectory(), `libzinc-${variant}.so`);
}

export function openLibrary(variant: string): NativeLibrary {
  const path = libraryPath(variant);
  if (!existsSync(path)) {
    throw new ZincError(`kernel library ${path} is missing`, "run `npm install` (or `npm run build`) to build the kernels");
  }
  let handle;
  try {
    handle = dlopen(path, symbolTable);
  } catch (err) {
    throw new ZincError(`cannot load kernel library ${path}: ${(err as Error).message}`, "rebuild with `npm run build`");
  }
  const abi = handle.symbols.zinc_abi_version();
  if (abi !== expectedAbiVersion) {
    handle.close();
    throw new ZincError(`kernel library ${path} has ABI version ${abi}, this zinc needs ${expectedAbiVersion}`, "rebuild with `npm run build`");
  }
  const symbols = process.env.ZINC_TRACE_FFI ? traced(handle.symbols) : handle.symbols;
  return { path, symbols, close: () => handle.close() };
}

function traced(symbols: NativeSymbols): NativeSymbols {
  const wrapped: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(symbols) as [string, (...a: unknown[]) => unknown][]) {
    wrapped[name] = (...args: unknown[]) => {
      const shown = args.map((a) => (ArrayBuffer.isView(a) ? `${a.constructor.name}(${a.byteLength} bytes)` : String(a)));
      const result = fn(...args);
      process.stderr.write(`[ffi] ${name}(${shown.join(", ")}) -> ${String(result)}\n`);
      return result;
    };
  }
  return wrapped as NativeSymbols;
}

/** A view of native memory (an mmapped file, a native buffer) as bytes, without copying. */
export function viewNativeMemory(address: number, byteLength: number): Uint8Array {
  return new Uint8Array(toArrayBuffer(address as Pointer, 0, byteLength));
}

/** What a kernel argument of pointer type accepts: a native address or a typed array (passed by pointer). */
export type NativeBuffer = Pointer | Uint8Array | Float32Array | Uint16Array | Int32Array;

/** Where a typed array's bytes start, plus `offset`: a pointer into it without making a view (a view per call
 * allocates). The caller checks offset + length against the array before the pointer crosses. */
export function addressInside(view: Uint8Array, offset: number): Pointer {
  return (pointerOf(view) + offset) as Pointer;
}

/** Marks a number as a native address (an offset into a mapping the caller has bounds-checked). */
export function nativeAddress(address: number): Pointer {
  return address as Pointer;
}
