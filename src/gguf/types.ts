/**
 * ggml tensor types: id (as stored in GGUF), block size in values and bytes. Mirrors zig/quants/blocks.zig;
 * a test checks both against each other through the kernels.
 */
export interface TensorTypeInfo {
  id: number;
  name: string;
  blockValues: number;
  blockBytes: number;
  /** The type activations are quantized to before a dot with this weight type (ggml's vec_dot_type). */
  activation?: string;
}

const list: TensorTypeInfo[] = [
  { id: 0, name: "F32", blockValues: 1, blockBytes: 4, activation: "F32" },
  { id: 1, name: "F16", blockValues: 1, blockBytes: 2, activation: "F16" },
  { id: 2, name: "Q4_0", blockValues: 32, blockBytes: 18, activation: "Q8_0" },
  { id: 3, name: "Q4_1", blockValues: 32, blockBytes: 20, activation: "Q8_1" },
  { id: 6, name: "Q5_0", blockValues: 32, blockBytes: 22, activation: "Q8_0" },
  { id: 7, name: "Q5_1", blockValues: 32, blockBytes: 24, activation: "Q8_1" },
  { id: 8, name: "Q8_0", blockValues: 32, blockBytes: 34, activation: "Q8_0" },
  { id: 9, name: "Q8_1", blockValues: 32, blockBytes: 36 },
  { id: 10, name: "Q2_K", blockValues: 256, blockBytes: 84, activation: "Q8_K" },
  { id: 11, name: "Q3_K", blockValues: 256, blockBytes: 110, activation: "Q8_K" },
  { id: 12, name: "Q4_K", blockValues: 256, blockBytes: 144, activation: "Q8_K" },
  { id: 13, name: "Q5_K", blockValues: 256, blockBytes: 176, activation: "Q8_K" },
  { id: 14, name: "Q6_K", blockValues: 256, blockBytes: 210, activation: "Q8_K" },
  { id: 15, name: "Q8_K", blockValues: 256, blockBytes: 292 },
  { id: 16, name: "IQ2_XXS", blockValues: 256, blockBytes: 66 },
  { id: 17, name: "IQ2_XS", blockValues: 256, blockBytes: 74 },
  { id: 18, name: "IQ3_XXS", blockValues: 256, blockBytes: 98 },
  { id: 19, name: "IQ1_S", blockValues: 256, blockBytes: 50 },
  { id: 20, name: "IQ4_NL", blockValues: 32, blockBytes: 18, activation: "Q8_0" },
  { id: 21, name: "IQ3_S", blockValues: 256, blockBytes: 110 },
  { id: 22, name: "IQ2_S", blockValues: 256, blockBytes: 82 },
  { id: 23, name: "IQ4_XS", blockValues: 256, blockBytes: 136, activation: "Q8_K" },
  { id: 24, name: "I8", blockValues: 1, blockBytes: 1 },
  { id: 25, name: "I16", blockValues: 1, blockBytes: 2 },
  { id: 26, name: "I32", blockValues: 1, blockBytes: 4 },
  { id: 27, name: "I64", blockValues: 1, blockBytes: 8 },
  { id: 28, name: "F64", blockValues: 1, blockBytes: 8 },
  { id: 29, name: "IQ1_M", blockValues: 256, blockBytes: 56 },
  { id: 30, name: "BF16", blockValues: 1, blockBytes: 2, activation: "BF16" },
  { id: 34, name: "TQ1_0", blockValues: 256, blockBytes: 54, activation: "Q8_K" },
  { id: 35, name: "TQ2_0", blockValues: 256, blockBytes: 66, activation: "Q8_K" },
  { id: 39, name: "MXFP4", blockValues: 32, blockBytes: 17 },
];

export const tensorTypesById = new Map(list.map((t) => [t.id, t]));
export const tensorTypesByName = new Map(list.map((t) => [t.name, t]));

export function tensorType(name: string): TensorTypeInfo {
  const t = tensorTypesByName.get(name);
  if (!t) throw new Error(`unknown tensor type ${name}`);
  return t;
}

/** Types zinc has kernels for (a matmul with an activation type). */
export function isComputeType(t: TensorTypeInfo): boolean {
  return t.activation !== undefined;
}

/** Bytes of `values` values of type t; values must be a whole number of blocks. */
export function rowBytes(t: TensorTypeInfo, values: number): number {
  return (values / t.blockValues) * t.blockBytes;
}
