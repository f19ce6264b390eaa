/**
 * GGUF v2/v3 reader. The file is memory-mapped and parsed in place: metadata values are decoded (they are
 * small), tensors stay in the mapping as views {type, shape, offset, size}. Every count, length and offset is
 * checked against the bytes that remain before it is used, so a malformed or hostile file ends in one
 * GgufError naming the field and byte offset — never a crash, a hang or a huge allocation.
 */
import { ZincError } from "../errors.ts";
import { mapFile, viewNativeMemory, type FileMapping } from "../native/index.ts";
import { tensorTypesById, type TensorTypeInfo } from "./types.ts";

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface TensorInfo {
  name: string;
  type: TensorTypeInfo;
  /** ggml order: shape[0] is the row length (ne0). */
  shape: number[];
  elementCount: number;
  /** Absolute byte offset of the data in the file. */
  offset: number;
  byteSize: number;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufValue>;
  /** Each key's GGUF value type name (u8 … f64, string, array) and, for arrays, the element type's. */
  metadataTypes: Map<string, { type: string; elementType?: string }>;
  tensors: TensorInfo[];
  tensorsByName: Map<string, TensorInfo>;
  dataOffset: number;
  fileSize: number;
  /** The file's first min(fileSize, 4 GiB) bytes, mapped read-only (zero-copy): the header always fits. */
  bytes: Uint8Array;
  /** Native address of byte 0 of the mapping (0 when parsed from a JS buffer). */
  address: number;
  /** A tensor's data as bytes, without copying, wherever it lies in the file (past 4 GiB too). */
  tensorBytes(t: TensorInfo): Uint8Array;
  close(): void;
}

export class GgufError extends ZincError {
  constructor(path: string, field: string, offset: number, reason: string) {
    super(`malformed GGUF file ${path}: ${field} at byte ${offset}: ${reason}`, "the file is damaged or not a GGUF model; download it again");
  }
}

/** A name from the file, safe to put in a one-line message: escaped and cut to 64 characters. */
function shown(name: string): string {
  return JSON.stringify(name.length > 64 ? `${name.slice(0, 64)}…` : name);
}

const magic = 0x46554747; // "GGUF" little-endian
const maxDims = 4;
const valueTypeNames = ["u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"];
const fixedSize = [1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8];

class Cursor {
  pos = 0;
  private readonly view: DataView;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

  constructor(
    private readonly bytes: Uint8Array,
    private readonly path: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(field: string, reason: string, at = this.pos): never {
    throw new GgufError(this.path, field, at, reason);
  }

  remaining(): number {
    return this.bytes.byteLength - this.pos;
  }

  need(n: number, field: string): void {
    if (n > this.remaining()) this.fail(field, `needs ${n} bytes but the file ends after ${this.remaining()} (truncated?)`);
  }

  u8(field: string): number {
    this.need(1, field);
    return this.view.getUint8(this.pos++);
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }

  /** A u64 that must be a safe integer no larger than `limit`. */
  count(field: string, limit: number): number {
    this.need(8, field);
    const at = this.pos;
    const v = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    if (v > BigInt(limit)) this.fail(field, `value ${v} is out of range (at most ${limit} here; truncated or corrupt file?)`, at);
    return Number(v);
  }

  string(field: string): string {
    const at = this.pos;
    const length = this.count(`${field} length`, this.remaining() - 8 >= 0 ? this.remaining() - 8 : 0);
    if (length > this.remaining()) this.fail(field, `string of ${length} bytes runs past the end`, at);
    const s = this.decoder.decode(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return s;
  }

  value(type: number, field: string, depth: number): GgufValue {
    const at = this.pos;
    switch (type) {
      case 0: return this.u8(field);
      case 1: this.need(1, field); return this.view.getInt8(this.pos++);
      case 2: this.need(2, field); this.pos += 2; return this.view.getUint16(this.pos - 2, true);
      case 3: this.need(2, field); this.pos += 2; return this.view.getInt16(this.pos - 2, true);
      case 4: return this.u32(field);
      case 5: this.need(4, field); this.pos += 4; return this.view.getInt32(this.pos - 4, true);
      case 6: this.need(4, field); this.pos += 4; return this.view.getFloat32(this.pos - 4, true);
      case 7: {
        const b = this.u8(field);
        if (b > 1) this.fail(field, `bool byte is ${b}`, at);
        return b === 1;
      }
      case 8: return this.string(field);
      case 9: {
        if (depth > 8) this.fail(field, "arrays nested deeper than 8 levels");
        const elementType = this.u32(`${field} element type`);
        if (elementType >= valueTypeNames.length) this.fail(`${field} element type`, `unknown value type ${elementType}`, this.pos - 4);
        // Each element takes at least one byte (strings: 8), which bounds the count by the bytes left.
        const minSize = elementType === 8 ? 8 : elementType === 9 ? 12 : fixedSize[elementType];
        const n = this.count(`${field} count`, Math.floor(this.remaining() / minSize));
        if (elementType !== 8 && elementType !== 9) return this.fixedArray(elementType, n, field);
        const out: GgufValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(elementType, `${field}[${i}]`, depth + 1);
        return out;
      }
      case 10: this.need(8, field); this.pos += 8; return this.view.getBigUint64(this.pos - 8, true);
      case 11: this.need(8, field); this.pos += 8; return this.view.getBigInt64(this.pos - 8, true);
      case 12: this.need(8, field); this.pos += 8; return this.view.getFloat64(this.pos - 8, true);
      default: return this.fail(field, `unknown value type ${type}`, at);
    }
  }

  private fixedArray(type: number, n: number, field: string): GgufValue[] {
    this.need(n * fixedSize[type], field);
    const out: GgufValue[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = this.value(type, field, 0);
    return out;
  }
}

/**
 * Parses a GGUF image already in memory. `address` is its native address, when it is a mapping; then `bytes`
 * may be only the first part of a longer file of `fileSize` bytes (the header is read from it, tensor data
 * is reached through the address).
 */
export function parseGguf(bytes: Uint8Array, path: string, address = 0, close: () => void = () => {}, fileSize = bytes.byteLength): GgufFile {
  const c = new Cursor(bytes, path);
  if (bytes.byteLength < 4) c.fail("magic", "file is shorter than a GGUF header");
  const m = c.u32("magic");
  if (m !== magic) {
    if (m === 0x47475546) c.fail("magic", "big-endian GGUF files are not supported", 0);
    c.fail("magic", `not a GGUF file (magic ${m.toString(16)})`, 0);
  }
  const version = c.u32("version");
  if (version === 1) c.fail("version", "GGUF v1 is not supported (v2 and v3 are)", 4);
  if (version !== 2 && version !== 3) {
    if (version > 0xffff && (version & 0xffff) === 0) c.fail("version", "big-endian GGUF files are not supported", 4);
    c.fail("version", `unknown GGUF version ${version}`, 4);
  }
  // A tensor info takes at least 8 (name length) + 4 (dims) + 8 (one dim) + 4 (type) + 8 (offset) bytes.
  const tensorCount = c.count("tensor_count", Math.floor(c.remaining() / 32));
  const kvCount = c.count("metadata_kv_count", Math.floor(c.remaining() / 13));

  const metadata = new Map<string, GgufValue>();
  const metadataTypes = new Map<string, { type: string; elementType?: string }>();
  for (let i = 0; i < kvCount; i++) {
    const keyAt = c.pos;
    const key = c.string(`metadata key #${i}`);
    if (metadata.has(key)) c.fail(`metadata key ${shown(key)}`, "duplicate key", keyAt);
    const type = c.u32(`metadata ${shown(key)} type`);
    const elementTypeAt = c.pos;
    metadata.set(key, c.value(type, `metadata ${shown(key)}`, 0));
    const elementType = type === 9 ? valueTypeNames[new DataView(bytes.buffer, bytes.byteOffset).getUint32(elementTypeAt, true)] : undefined;
    metadataTypes.set(key, { type: valueTypeNames[type] ?? "?", elementType });
  }

  let alignment = 32;
  const alignValue = metadata.get("general.alignment");
  if (alignValue !== undefined) {
    if (typeof alignValue !== "number" || alignValue < 1 || alignValue > 1 << 20 || (alignValue & (alignValue - 1)) !== 0) {
      c.fail("general.alignment", `alignment ${String(alignValue)} is not a power of two up to 1 MiB`, 0);
    }
    alignment = alignValue as number;
  }

  const raw: { name: string; type: TensorTypeInfo; shape: number[]; relative: number; at: number }[] = [];
  const names = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = c.pos;
    const name = c.string(`tensor #${i} name`);
    if (names.has(name)) c.fail(`tensor ${shown(name)}`, "duplicate tensor name", at);
    names.add(name);
    const dims = c.u32(`tensor ${shown(name)} n_dims`);
    if (dims < 1 || dims > maxDims) c.fail(`tensor ${shown(name)} n_dims`, `${dims} dimensions (1 to ${maxDims} allowed)`, c.pos - 4);
    const shape: number[] = [];
    for (let d = 0; d < dims; d++) {
      const n = c.count(`tensor ${shown(name)} dim ${d}`, 2 ** 40);
      if (n === 0) c.fail(`tensor ${shown(name)} dim ${d}`, "zero-sized dimension", c.pos - 8);
      shape.push(n);
    }
    const typeId = c.u32(`tensor ${shown(name)} type`);
    const type = tensorTypesById.get(typeId);
    if (!type) c.fail(`tensor ${shown(name)} type`, `unknown tensor type ${typeId}`, c.pos - 4);
    const relative = c.count(`tensor ${shown(name)} offset`, 2 ** 52);
    raw.push({ name, type: type!, shape, relative, at });
  }

  const dataOffset = Math.ceil(c.pos / alignment) * alignment;
  if (tensorCount > 0 && dataOffset > fileSize) c.fail("tensor data", "the file ends before its tensor data starts", c.pos);

  const tensors: TensorInfo[] = raw.map((t) => {
    const elementCount = t.shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elementCount) || elementCount > 2 ** 42) c.fail(`tensor ${shown(t.name)} shape`, `absurd element count ${elementCount}`, t.at);
    if (t.shape[0] % t.type.blockValues !== 0) {
      c.fail(`tensor ${shown(t.name)} shape`, `row length ${t.shape[0]} is not a multiple of the ${t.type.name} block size ${t.type.blockValues}`, t.at);
    }
    const byteSize = (elementCount / t.type.blockValues) * t.type.blockBytes;
    if (t.relative % alignment !== 0) c.fail(`tensor ${shown(t.name)} offset`, `offset ${t.relative} is not aligned to ${alignment}`, t.at);
    const offset = dataOffset + t.relative;
    if (offset + byteSize > fileSize) {
      c.fail(`tensor ${shown(t.name)} data`, `bytes ${offset}..${offset + byteSize} run past the end of the ${fileSize}-byte file (truncated?)`, t.at);
    }
    return { name: t.name, type: t.type, shape: t.shape, elementCount, offset, byteSize };
  });

  const byOffset = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < byOffset.length; i++) {
    const prev = byOffset[i - 1];
    if (byOffset[i].offset < prev.offset + prev.byteSize) {
      c.fail(`tensor ${shown(byOffset[i].name)} data`, `overlaps tensor ${shown(prev.name)}`, byOffset[i].offset);
    }
  }

  return {
    path,
    version,
    alignment,
    metadata,
    metadataTypes,
    tensors,
    tensorsByName: new Map(tensors.map((t) => [t.name, t])),
    dataOffset,
    fileSize,
    bytes,
    address,
    tensorBytes: (t) =>
      t.offset + t.byteSize <= bytes.byteLength ? bytes.subarray(t.offset, t.offset + t.byteSize) : viewNativeMemory(address + t.offset, t.byteSize),
    close,
  };
}

/** Maps and parses a GGUF file; the mapping lives until `close()`. */
export function openGguf(path: string): GgufFile {
  const mapping: FileMapping = mapFile(path);
  try {
    return parseGguf(mapping.bytes, path, mapping.address, () => mapping.unmap(), mapping.size);
  } catch (err) {
    mapping.unmap();
    throw err;
  }
}

// ---- typed metadata access ---------------------------------------------------------------------------------

export function metaString(file: GgufFile, key: string): string | undefined {
  const v = file.metadata.get(key);
  return typeof v === "string" ? v : undefined;
}

export function metaNumber(file: GgufFile, key: string): number | undefined {
  const v = file.metadata.get(key);
  if (typeof v === "number") return v;
  if (typeof v === "bigint" && v <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(v);
  return undefined;
}

export function metaBool(file: GgufFile, key: string): boolean | undefined {
  const v = file.metadata.get(key);
  return typeof v === "boolean" ? v : undefined;
}

export function metaArray(file: GgufFile, key: string): GgufValue[] | undefined {
  const v = file.metadata.get(key);
  return Array.isArray(v) ? v : undefined;
}
