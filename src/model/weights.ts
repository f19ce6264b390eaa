/**
 * The tensors of a decoder model, looked up by GGUF name and checked against the shapes the config implies.
 * A weight is a view into the mapped file: its native address, type and shape — never a copy.
 */
import { ZincError } from "../errors.ts";
import type { GgufFile, TensorInfo } from "../gguf/reader.ts";
import { isComputeType, type TensorTypeInfo } from "../gguf/types.ts";
import type { ModelConfig } from "./config.ts";

export interface Weight {
  name: string;
  type: TensorTypeInfo;
  /** Native address of the first byte. */
  address: number;
  byteSize: number;
  /** Row length (ggml ne0). */
  cols: number;
  rows: number;
}

/** A small f32 vector (norm weight, bias) dequantized once at load: these are KBs, not the weights. */
export type Vector = Float32Array;

export interface LayerWeights {
  attnNorm: Vector;
  attnNormBias: Vector | null;
  q: Weight | null;
  k: Weight | null;
  v: Weight | null;
  qkv: Weight | null;
  qBias: Vector | null;
  kBias: Vector | null;
  vBias: Vector | null;
  qkvBias: Vector | null;
  qNorm: Vector | null;
  kNorm: Vector | null;
  output: Weight;
  outputBias: Vector | null;
  postAttentionNorm: Vector | null;
  ffnNorm: Vector;
  ffnNormBias: Vector | null;
  gate: Weight | null;
  up: Weight;
  upBias: Vector | null;
  down: Weight;
  downBias: Vector | null;
  postFfnNorm: Vector | null;
}

export interface ModelWeights {
  tokenEmbedding: Weight;
  positionEmbedding: Weight | null;
  outputNorm: Vector;
  outputNormBias: Vector | null;
  /** The LM head: output.weight, or the token embedding when tied. */
  output: Weight;
  ropeFactors: Vector | null;
  layers: LayerWeights[];
}

export function loadWeights(file: GgufFile, config: ModelConfig, dequantize: (t: TensorInfo, out: Float32Array) => void): ModelWeights {
  const find = (name: string) => file.tensorsByName.get(name);
  const matrix = (name: string, cols: number, rows?: number): Weight => {
    const t = find(name);
    if (!t) throw new ZincError(`${file.path}: tensor ${name} is missing`, "the file is incomplete or not this architecture");
    return asWeight(file, t, cols, rows);
  };
  const optionalMatrix = (name: string, cols: number, rows?: number) => (find(name) ? matrix(name, cols, rows) : null);
  const vector = (name: string, length: number): Vector => {
    const t = find(name);
    if (!t) throw new ZincError(`${file.path}: tensor ${name} is missing`, "the file is incomplete or not this architecture");
    if (t.elementCount !== length) throw new ZincError(`${file.path}: tensor ${name} has ${t.elementCount} values, expected ${length}`);
    const out = new Float32Array(length);
    dequantize(t, out);
    return out;
  };
  const optionalVector = (name: string, length: number) => (find(name) ? vector(name, length) : null);

  const c = config;
  const qWidth = c.headCount * c.headDim;
  const kWidth = c.kvHeadCount * c.headDim;
  const vWidth = c.kvHeadCount * c.valueDim;
  const tokenEmbedding = matrix("token_embd.weight", c.embedding, c.vocabSize);
  const layers: LayerWeights[] = [];
  for (let i = 0; i < c.layerCount; i++) {
    const p = `blk.${i}.`;
    const fusedQkv = find(`${p}attn_qkv.weight`) !== undefined;
    const fusedGateUp = c.arch === "phi3";
    layers.push({
      attnNorm: vector(`${p}attn_norm.weight`, c.embedding),
      attnNormBias: optionalVector(`${p}attn_norm.bias`, c.embedding),
      q: fusedQkv ? null : matrix(`${p}attn_q.weight`, c.embedding, qWidth),
      k: fusedQkv ? null : matrix(`${p}attn_k.weight`, c.embedding, kWidth),
      v: fusedQkv ? null : matrix(`${p}attn_v.weight`, c.embedding, vWidth),
      qkv: fusedQkv ? matrix(`${p}attn_qkv.weight`, c.embedding, qWidth + kWidth + vWidth) : null,
      qBias: optionalVector(`${p}attn_q.bias`, qWidth),
      kBias: optionalVector(`${p}attn_k.bias`, kWidth),
      vBias: optionalVector(`${p}attn_v.bias`, vWidth),
      qkvBias: optionalVector(`${p}attn_qkv.bias`, qWidth + kWidth + vWidth),
      qNorm: c.qkNorm ? vector(`${p}attn_q_norm.weight`, c.headDim) : null,
      kNorm: c.qkNorm ? vector(`${p}attn_k_norm.weight`, c.headDim) : null,
      output: matrix(`${p}attn_output.weight`, c.headCount * c.valueDim, c.embedding),
      outputBias: optionalVector(`${p}attn_output.bias`, c.embedding),
      postAttentionNorm: c.postNorms ? vector(`${p}post_attention_norm.weight`, c.embedding) : null,
      ffnNorm: vector(`${p}ffn_norm.weight`, c.embedding),
      ffnNormBias: optionalVector(`${p}ffn_norm.bias`, c.embedding),
      gate: c.arch === "gpt2" || fusedGateUp ? null : matrix(`${p}ffn_gate.weight`, c.embedding, c.feedForward),
      up: matrix(`${p}ffn_up.weight`, c.embedding, fusedGateUp ? 2 * c.feedForward : c.feedForward),
      upBias: optionalVector(`${p}ffn_up.bias`, c.feedForward),
      down: matrix(`${p}ffn_down.weight`, c.feedForward, c.embedding),
      downBias: optionalVector(`${p}ffn_down.bias`, c.embedding),
      postFfnNorm: c.postNorms ? vector(`${p}post_ffw_norm.weight`, c.embedding) : null,
    });
  }
  return {
    tokenEmbedding,
    positionEmbedding: optionalMatrix("position_embd.weight", c.embedding),
    outputNorm: vector("output_norm.weight", c.embedding),
    outputNormBias: optionalVector("output_norm.bias", c.embedding),
    output: optionalMatrix("output.weight", c.embedding, c.vocabSize) ?? tokenEmbedding,
    ropeFactors: optionalVector("rope_freqs.weight", c.ropeDims / 2),
    layers,
  };
}

function asWeight(file: GgufFile, t: TensorInfo, cols: number, rows?: number): Weight {
  if (t.shape[0] !== cols || (rows !== undefined && (t.shape[1] ?? 1) !== rows) || t.shape.length > 2) {
    throw new ZincError(`${file.path}: tensor ${t.name} has shape [${t.shape.join(", ")}], expected [${cols}, ${rows ?? "?"}]`, "the file does not match its own metadata");
  }
  if (!isComputeType(t.type)) {
    throw new ZincError(`${file.path}: tensor ${t.name} has type ${t.type.name}, which zinc cannot compute with yet`, "requantize it with `zinc quantize` to Q8_0, Q4_K_M or another supported type");
  }
  return { name: t.name, type: t.type, address: file.address + t.offset, byteSize: t.byteSize, cols, rows: t.shape[1] ?? 1 };
}
