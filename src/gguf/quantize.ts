/**
 * `zinc quantize`: rewrite a GGUF model with its matrices in another type. Each tensor is read from the
 * mapped input, dequantized to f32 and quantized with the reference (ggml-compatible) quantizers, one tensor
 * in memory at a time; the output is written to a temporary file and renamed into place.
 *
 * Which type each tensor gets follows llama-quantize (llama_tensor_get_type in llama.cpp's llama-quant.cpp,
 * without an importance matrix) rule for rule, so `zinc quantize M OUT Q4_K_M` gives the same types — and, the
 * quantizers being byte-exact, the same tensor bytes — as `llama-quantize M OUT Q4_K_M`. In short: norms, biases
 * and other 1-D tensors keep their type; the output matrix (and a tied embedding) goes to Q6_K; the _M mixes
 * spend more bits on attn_v and ffn_down in the first and last eighth of the layers and every third layer
 * between; Q2_K/Q3_K raise attn_v, ffn_down and attn_output; rows that do not divide into the type's blocks
 * fall back to a 32-block type, then F16.
 */
import { ZincError } from "../errors.ts";
import { dropFileCache, nativeAddress, type Kernels } from "../native/index.ts";
import { metaArray, metaNumber, metaString, type GgufFile, type GgufValue, type TensorInfo } from "./reader.ts";
import { tensorType, type TensorTypeInfo } from "./types.ts";
import { writeGguf, type MetadataValue, type TensorToWrite, type TypedValue } from "./writer.ts";

/** Target name → GGUF general.file_type (llama_ftype) and the default tensor type of that mix. */
export const quantizeTargets: Record<string, { fileType: number; type: string }> = {
  F32: { fileType: 0, type: "F32" },
  F16: { fileType: 1, type: "F16" },
  BF16: { fileType: 32, type: "BF16" },
  Q8_0: { fileType: 7, type: "Q8_0" },
  Q6_K: { fileType: 18, type: "Q6_K" },
  Q5_K_M: { fileType: 17, type: "Q5_K" },
  Q5_K_S: { fileType: 16, type: "Q5_K" },
  Q5_1: { fileType: 9, type: "Q5_1" },
  Q5_0: { fileType: 8, type: "Q5_0" },
  Q4_K_M: { fileType: 15, type: "Q4_K" },
  Q4_K_S: { fileType: 14, type: "Q4_K" },
  Q4_1: { fileType: 3, type: "Q4_1" },
  Q4_0: { fileType: 2, type: "Q4_0" },
  IQ4_NL: { fileType: 25, type: "IQ4_NL" },
  IQ4_XS: { fileType: 30, type: "IQ4_XS" },
  Q3_K_L: { fileType: 13, type: "Q3_K" },
  Q3_K_M: { fileType: 12, type: "Q3_K" },
  Q3_K_S: { fileType: 11, type: "Q3_K" },
  Q2_K: { fileType: 10, type: "Q2_K" },
  TQ2_0: { fileType: 37, type: "TQ2_0" },
  TQ1_0: { fileType: 36, type: "TQ1_0" },
};

/** What llama-quantize needs to know about the whole model to choose a tensor's type. */
export interface MixContext {
  target: string;
  layers: number;
  /** Query heads per KV head (hparams.n_gqa()). */
  gqa: number;
  /** No output.weight: the token embedding doubles as the output matrix. */
  tied: boolean;
  /** Number of attn_v-like tensors (attn_v, attn_qkv, attn_kv_b) in the model. */
  attentionV: number;
  /** Running counters, advanced in llama.cpp's tensor order (see `quantizeOrder`). */
  seenAttentionV: number;
  seenFfnDown: number;
}

const isAttentionV = (name: string) => name.includes("attn_v.weight") || name.includes("attn_qkv.weight") || name.includes("attn_kv_b.weight");

/** llama.cpp's tensor_allows_quantization, for the tensors of the architectures zinc runs. */
function allowsQuantization(t: TensorInfo): boolean {
  if (t.shape.length < 2 || !t.name.endsWith("weight")) return false;
  if (t.name.includes("_norm.weight") || t.name.includes("ffn_gate_inp.weight")) return false;
  return t.name !== "position_embd.weight" && t.name !== "token_types.weight";
}

/** Layer first, then name: the order of llama.cpp's weights_map, in which its per-tensor counters advance. */
export function quantizeOrder(tensors: TensorInfo[]): TensorInfo[] {
  const layer = (name: string) => Number(/^blk\.(\d+)\./.exec(name)?.[1] ?? -1);
  return [...tensors].sort((a, b) => layer(a.name) - layer(b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function mixContext(input: GgufFile, target: string): MixContext {
  const arch = metaString(input, "general.architecture") ?? "";
  const first = (key: string) => metaNumber(input, key) ?? Number(metaArray(input, key)?.[0] ?? 0);
  const heads = first(`${arch}.attention.head_count`);
  const kvHeads = first(`${arch}.attention.head_count_kv`) || heads;
  return {
    target,
    layers: metaNumber(input, `${arch}.block_count`) ?? 0,
    gqa: kvHeads > 0 ? Math.trunc(heads / kvHeads) : 1,
    tied: !input.tensors.some((t) => t.name === "output.weight"),
    attentionV: input.tensors.filter((t) => isAttentionV(t.name)).length,
    seenAttentionV: 0,
    seenFfnDown: 0,
  };
}

const div = (a: number, b: number) => Math.trunc(a / b);
/** The _M mixes' "more bits" layers: the first and last eighth, and every third layer between. */
const useMoreBits = (i: number, n: number) => i < div(n, 8) || i >= div(7 * n, 8) || (i - div(n, 8)) % 3 === 2;

/** llama_tensor_get_type_impl for the mixes above (dense models; no importance matrix). */
function mixType(t: TensorInfo, type: string, ctx: MixContext): string {
  const f = ctx.target;
  const name = t.name;
  if (name === "output.weight" || (ctx.tied && name === "token_embd.weight")) {
    if (t.shape[0] % tensorType(type).blockValues !== 0) return "Q8_0";
    return type === "Q8_0" ? type : "Q6_K";
  }
  if (name === "token_embd.weight") return f === "TQ1_0" || f === "TQ2_0" ? "Q4_K" : type;
  if (isAttentionV(name)) {
    const i = ctx.seenAttentionV++;
    if (f === "Q2_K") return ctx.gqa >= 4 ? "Q4_K" : "Q3_K";
    if (f === "Q3_K_M") return i < 2 ? "Q5_K" : "Q4_K";
    if (f === "Q3_K_L") return "Q5_K";
    if ((f === "IQ4_NL" || f === "IQ4_XS") && ctx.gqa >= 4) return "Q5_K";
    if ((f === "Q4_K_M" || f === "Q5_K_M") && useMoreBits(i, ctx.attentionV)) return "Q6_K";
    if (f === "Q4_K_S" && i < 4) return "Q5_K";
    return type;
  }
  if (name.includes("ffn_down")) {
    const i = ctx.seenFfnDown++;
    const n = ctx.layers;
    if (f === "Q2_K") return "Q3_K";
    if (f === "Q3_K_M") return i < div(n, 16) ? "Q5_K" : "Q4_K";
    if (f === "Q3_K_L") return "Q5_K";
    if (f === "Q4_K_M") return useMoreBits(i, n) ? "Q6_K" : type;
    if (i < div(n, 8) && (f === "IQ4_NL" || f === "IQ4_XS")) return "Q5_K";
    if (f === "Q5_K_M" && useMoreBits(i, n)) return "Q6_K";
    if (f === "Q4_K_S" && i < div(n, 8)) return "Q5_K";
    return type;
  }
  if (name.includes("attn_output.weight")) {
    if (f === "Q2_K") return "Q3_K";
    if (f === "Q3_K_M") return "Q4_K";
    if (f === "Q3_K_L") return "Q5_K";
  }
  return type;
}

/** llama.cpp's tensor_type_fallback: a type whose blocks divide the row, else F16. */
const fallbacks: Record<string, string> = { IQ4_XS: "IQ4_NL", Q2_K: "Q4_0", Q3_K: "Q4_0", TQ1_0: "Q4_0", TQ2_0: "Q4_0", Q4_K: "Q5_0", Q5_K: "Q5_1", Q6_K: "Q8_0" };

/** The type a tensor gets under the mix; call in `quantizeOrder` (the counters in ctx advance). */
export function chooseTensorType(t: TensorInfo, ctx: MixContext): TensorTypeInfo {
  if (!allowsQuantization(t)) return t.type;
  const base = quantizeTargets[ctx.target].type;
  if (["F32", "F16", "BF16"].includes(base)) return tensorType(base);
  let type = mixType(t, base, ctx);
  if (t.shape[0] % tensorType(type).blockValues !== 0) {
    type = fallbacks[type] ?? type;
    if (t.shape[0] % tensorType(type).blockValues !== 0) type = "F16";
  }
  return tensorType(type);
}

/** The value as the writer needs it, with the GGUF type it had in the input (f32 stays f32 even when integral). */
function typedValue(value: GgufValue, types: { type: string; elementType?: string }): MetadataValue {
  if (types.type === "array") {
    // Nested arrays are rare in model files; their elements are written with their own plain types.
    return { type: "array", elementType: (types.elementType ?? "string") as TypedValue["type"], value: value as (number | string | bigint | boolean)[] } as TypedValue;
  }
  if (types.type === "string") return value as string;
  if (types.type === "bool") return value as boolean;
  return { type: types.type, value } as TypedValue;
}

export function quantizeModel(input: GgufFile, outputPath: string, targetName: string, kernels: Kernels, progress?: (done: number, total: number) => void): { tensors: number; bytes: number; types: Map<string, string> } {
  const target = targetName.toUpperCase();
  if (!quantizeTargets[target]) throw new ZincError(`cannot quantize to "${targetName}"`, `zinc quantize supports ${Object.keys(quantizeTargets).join(", ")}`);
  const metadata: Record<string, MetadataValue> = {};
  for (const [key, value] of input.metadata) {
    if (key === "general.alignment") continue;
    metadata[key] = typedValue(value, input.metadataTypes.get(key)!);
  }
  metadata["general.file_type"] = { type: "u32", value: quantizeTargets[target].fileType };
  metadata["general.quantization_version"] = { type: "u32", value: 2 };
  const ctx = mixContext(input, target);
  const chosen = new Map(quantizeOrder(input.tensors).map((t) => [t.name, chooseTensorType(t, ctx)]));
  let done = 0;
  const tensors: TensorToWrite[] = input.tensors.map((t) => {
    const type = chosen.get(t.name)!;
    return {
      name: t.name,
      type,
      shape: t.shape,
      data: () => {
        progress?.(++done, input.tensors.length);
        const source = input.tensorBytes(t);
        if (type.id === t.type.id) return source;
        const values = new Float32Array(t.elementCount);
        kernels.dequantizeRow(t.type, nativeAddress(input.address + t.offset), t.byteSize, values);
        const out = new Uint8Array((t.elementCount / type.blockValues) * type.blockBytes);
        kernels.quantizeWeights(type, values, t.elementCount / t.shape[0], t.shape[0], out);
        return out;
      },
    };
  });
  writeGguf(outputPath, metadata, tensors, input.alignment);
  // The page cache now holds the new file as it was written, in small folios, and a model mapped from those
  // is read through 4 KiB pages (decode of a 7B Q4_K_M file: 5.1 → 7.2 tok/s once it maps as 2 MiB pages).
  // Dropping them lets its first load fault it in again through readahead, in 2 MiB folios (as pullModel).
  dropFileCache(outputPath);
  return {
    tensors: tensors.length,
    bytes: tensors.reduce((n, t) => n + (t.shape.reduce((a, b) => a * b, 1) / t.type.blockValues) * t.type.blockBytes, 0),
    types: new Map([...chosen].map(([name, type]) => [name, type.name])),
  };
}
