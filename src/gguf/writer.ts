/**
 * GGUF v3 writer, for quantize output, synthetic models and tests. Values carry their GGUF type explicitly
 * where JS cannot tell (u32 vs i32 vs f32); the file is written to a temporary name and renamed into place, so
 * a failed or interrupted write never leaves a half-written model behind.
 */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import type { TensorTypeInfo } from "./types.ts";

export type TypedValue =
  | { type: "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "f64"; value: number }
  | { type: "u64" | "i64"; value: bigint | number }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; elementType: TypedValue["type"]; value: (number | bigint | boolean | string | TypedValue)[] };

/** Plain JS values map to: string → string, boolean → bool, integer → u32 (or i32 when negative), else f32. */
export type MetadataValue = TypedValue | string | boolean | number | string[] | number[];

export interface TensorToWrite {
  name: string;
  type: TensorTypeInfo;
  /** ggml order: shape[0] is the row length. */
  shape: number[];
  /** The bytes, or a function producing them when the writer reaches this tensor (one tensor in memory at a time). */
  data: Uint8Array | (() => Uint8Array);
}

function tensorBytes(t: TensorToWrite): number {
  return t.shape.reduce((a, b) => a * b, 1) / t.type.blockValues * t.type.blockBytes;
}

const typeIds: Record<string, number> = { u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12 };

function normalize(v: MetadataValue): TypedValue {
  if (typeof v === "string") return { type: "string", value: v };
  if (typeof v === "boolean") return { type: "bool", value: v };
  if (typeof v === "number") return Number.isInteger(v) ? (v < 0 ? { type: "i32", value: v } : { type: "u32", value: v }) : { type: "f32", value: v };
  if (Array.isArray(v)) {
    if (v.length > 0 && typeof v[0] === "string") return { type: "array", elementType: "string", value: v };
    const ints = (v as number[]).every((x) => Number.isInteger(x));
    return { type: "array", elementType: ints ? "i32" : "f32", value: v };
  }
  return v;
}

class ByteSink {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(1 << 16);
  private view = new DataView(this.current.buffer);
  private used = 0;
  length = 0;

  private ensure(n: number): void {
    if (this.used + n <= this.current.length) return;
    this.chunks.push(this.current.subarray(0, this.used));
    this.current = new Uint8Array(Math.max(1 << 16, n));
    this.view = new DataView(this.current.buffer);
    this.used = 0;
  }

  u8(v: number) { this.ensure(1); this.view.setUint8(this.used, v); this.used += 1; this.length += 1; }
  i8(v: number) { this.ensure(1); this.view.setInt8(this.used, v); this.used += 1; this.length += 1; }
  u16(v: number) { this.ensure(2); this.view.setUint16(this.used, v, true); this.used += 2; this.length += 2; }
  i16(v: number) { this.ensure(2); this.view.setInt16(this.used, v, true); this.used += 2; this.length += 2; }
  u32(v: number) { this.ensure(4); this.view.setUint32(this.used, v, true); this.used += 4; this.length += 4; }
  i32(v: number) { this.ensure(4); this.view.setInt32(this.used, v, true); this.used += 4; this.length += 4; }
  f32(v: number) { this.ensure(4); this.view.setFloat32(this.used, v, true); this.used += 4; this.length += 4; }
  f64(v: number) { this.ensure(8); this.view.setFloat64(this.used, v, true); this.used += 8; this.length += 8; }
  u64(v: bigint | number) { this.ensure(8); this.view.setBigUint64(this.used, BigInt(v), true); this.used += 8; this.length += 8; }
  i64(v: bigint | number) { this.ensure(8); this.view.setBigInt64(this.used, BigInt(v), true); this.used += 8; this.length += 8; }
  bytes(b: Uint8Array) { this.ensure(b.length); this.current.set(b, this.used); this.used += b.length; this.length += b.length; }
  string(s: string) { const b = new TextEncoder().encode(s); this.u64(b.length); this.bytes(b); }
  pad(alignment: number) { while (this.length % alignment !== 0) this.u8(0); }

  value(v: TypedValue): void {
    switch (v.type) {
      case "u8": return this.u8(v.value);
      case "i8": return this.i8(v.value);
      case "u16": return this.u16(v.value);
      case "i16": return this.i16(v.value);
      case "u32": return this.u32(v.value);
      case "i32": return this.i32(v.value);
      case "f32": return this.f32(v.value);
      case "f64": return this.f64(v.value);
      case "u64": return this.u64(v.value);
      case "i64": return this.i64(v.value);
      case "bool": return this.u8(v.value ? 1 : 0);
      case "string": return this.string(v.value);
      case "array": {
        this.u32(typeIds[v.elementType]);
        this.u64(v.value.length);
        for (const e of v.value) {
          if (typeof e === "object" && e !== null && "type" in e) this.value(e as TypedValue);
          else this.value({ type: v.elementType, value: e } as TypedValue);
        }
      }
    }
  }

  finish(): Uint8Array[] {
    this.chunks.push(this.current.subarray(0, this.used));
    return this.chunks;
  }
}

/** The header (everything before the tensor data) and each tensor's offset in the data section. */
export function encodeHeader(metadata: Record<string, MetadataValue>, tensors: TensorToWrite[], alignment = 32): { header: Uint8Array[]; offsets: number[]; headerLength: number } {
  const sink = new ByteSink();
  sink.u32(0x46554747);
  sink.u32(3);
  sink.u64(tensors.length);
  const entries = Object.entries(metadata);
  if (alignment !== 32 && !("general.alignment" in metadata)) entries.push(["general.alignment", { type: "u32", value: alignment }]);
  sink.u64(entries.length);
  for (const [key, raw] of entries) {
    const v = normalize(raw);
    sink.string(key);
    sink.u32(typeIds[v.type]);
    sink.value(v);
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    sink.string(t.name);
    sink.u32(t.shape.length);
    for (const d of t.shape) sink.u64(d);
    sink.u32(t.type.id);
    sink.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(tensorBytes(t) / alignment) * alignment;
  }
  sink.pad(alignment);
  return { header: sink.finish(), offsets, headerLength: sink.length };
}

/** Writes a complete GGUF file atomically (temporary file, fsync, rename). */
export function writeGguf(path: string, metadata: Record<string, MetadataValue>, tensors: TensorToWrite[], alignment = 32): void {
  const { header } = encodeHeader(metadata, tensors, alignment);
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    for (const chunk of header) writeSync(fd, chunk);
    const zeros = new Uint8Array(alignment);
    for (const t of tensors) {
      const data = typeof t.data === "function" ? t.data() : t.data;
      if (data.length !== tensorBytes(t)) throw new Error(`tensor ${t.name}: ${data.length} bytes, its shape and type need ${tensorBytes(t)}`);
      writeSync(fd, data);
      const padding = (alignment - (data.length % alignment)) % alignment;
      if (padding) writeSync(fd, zeros.subarray(0, padding));
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** The whole file in memory (tests, fuzzing). */
export function encodeGguf(metadata: Record<string, MetadataValue>, tensors: TensorToWrite[], alignment = 32): Uint8Array {
  const { header, headerLength } = encodeHeader(metadata, tensors, alignment);
  const dataLength = tensors.reduce((n, t) => n + Math.ceil(tensorBytes(t) / alignment) * alignment, 0);
  const out = new Uint8Array(headerLength + dataLength);
  let o = 0;
  for (const c of header) {
    out.set(c, o);
    o += c.length;
  }
  for (const t of tensors) {
    out.set(typeof t.data === "function" ? t.data() : t.data, o);
    o += Math.ceil(tensorBytes(t) / alignment) * alignment;
  }
  return out;
}
