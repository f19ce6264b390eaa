/**
 * A model's hyper-parameters, read from GGUF metadata (`<arch>.*` keys), and the per-family differences of
 * the one decoder skeleton in model.ts, made explicit as data: which norms, activation, RoPE ordering,
 * biases, soft-caps and sliding-window layers a family uses.
 */
import { ZincError } from "../errors.ts";
import { metaArray, metaNumber, metaString, type GgufFile } from "../gguf/reader.ts";

export type Architecture = "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3" | "phi3" | "gpt2";
export const supportedArchitectures: Architecture[] = ["llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3", "gpt2"];

export interface LayerConfig {
  ropeBase: number;
  ropeScale: number;
  /** Sliding attention window in tokens; 0 for full attention. */
  window: number;
}

export interface ModelConfig {
  arch: Architecture;
  name: string;
  layerCount: number;
  embedding: number;
  headCount: number;
  kvHeadCount: number;
  headDim: number;
  valueDim: number;
  feedForward: number;
  vocabSize: number;
  trainedContext: number;
  normEps: number;
  norm: "rms" | "layer";
  activation: "silu" | "gelu";
  ropeNeox: boolean;
  ropeDims: number;
  /** Multiplies token embeddings (Gemma: sqrt(n_embd)). */
  embeddingScale: number;
  /** Applied to Q before attention (Gemma, Phi-3: 1/sqrt(head_dim)); the attention itself then uses `attentionScale`. */
  queryScale: number;
  attentionScale: number;
  attentionSoftcap: number;
  finalSoftcap: number;
  /** Per-head RMS norm of Q and K (Qwen3, Gemma 3). */
  qkNorm: boolean;
  /** RMS norms after attention and after the FFN, before the residual add (Gemma 2/3). */
  postNorms: boolean;
  layers: LayerConfig[];
}

function required(file: GgufFile, key: string): number {
  const v = metaNumber(file, key);
  if (v === undefined) throw new ZincError(`${file.path}: metadata ${key} is missing`, "the file is not a complete model");
  return v;
}

export function readConfig(file: GgufFile): ModelConfig {
  const arch = metaString(file, "general.architecture");
  if (arch === undefined) throw new ZincError(`${file.path}: general.architecture is missing`, "the file is not a model (a vocab-only file?)");
  if (!supportedArchitectures.includes(arch as Architecture)) {
    throw new ZincError(`architecture "${arch}" of ${file.path} is not supported`, `zinc runs ${supportedArchitectures.join(", ")}`);
  }
  const a = arch as Architecture;
  const k = (name: string) => `${a}.${name}`;
  const layerCount = required(file, k("block_count"));
  const embedding = required(file, k("embedding_length"));
  const headCountValue = file.metadata.get(k("attention.head_count"));
  const headCount = Array.isArray(headCountValue) ? Number(headCountValue[0]) : required(file, k("attention.head_count"));
  const kvValue = file.metadata.get(k("attention.head_count_kv"));
  const kvHeadCount = Array.isArray(kvValue) ? Number(kvValue[0]) : (metaNumber(file, k("attention.head_count_kv")) ?? headCount);
  const headDim = metaNumber(file, k("attention.key_length")) ?? embedding / headCount;
  const valueDim = metaNumber(file, k("attention.value_length")) ?? headDim;
  const ffValue = file.metadata.get(k("feed_forward_length"));
  const feedForward = Array.isArray(ffValue) ? Number(ffValue[0]) : required(file, k("feed_forward_length"));
  const tokens = metaArray(file, "tokenizer.ggml.tokens");
  const vocabSize = metaNumber(file, k("vocab_size")) ?? tokens?.length ?? 0;
  const isGemma = a === "gemma2" || a === "gemma3";

  const ropeBase = metaNumber(file, k("rope.freq_base")) ?? 10000;
  const ropeScalingType = metaString(file, k("rope.scaling.type")) ?? "none";
  const ropeFactor = metaNumber(file, k("rope.scaling.factor")) ?? 1;
  const ropeScale = ropeScalingType === "linear" && ropeFactor > 0 ? 1 / ropeFactor : 1;
  // Gemma 2 files without the key use Gemma 2's 4096. llama.cpp ignores the key for the llama family
  // (Mistral), and so does zinc, to produce the same output.
  const window = a === "llama" ? 0 : (metaNumber(file, k("attention.sliding_window")) ?? (a === "gemma2" ? 4096 : 0));

  // Which layers use the sliding window: Gemma 3 every layer but each sixth, Gemma 2 every other one.
  const pattern = metaNumber(file, k("attention.sliding_window_pattern")) ?? (a === "gemma3" ? 6 : a === "gemma2" ? 2 : 0);
  // Sliding layers take their own RoPE base: Gemma 3 defaults to 10000, Gemma 2 to the global one.
  const ropeBaseSwa = metaNumber(file, k("rope.freq_base_swa")) ?? (a === "gemma3" ? 10000 : ropeBase);
  const layers: LayerConfig[] = [];
  for (let il = 0; il < layerCount; il++) {
    const swa = window > 0 && pattern > 0 && il % pattern < pattern - 1;
    if (swa) layers.push({ ropeBase: ropeBaseSwa, ropeScale: a === "gemma3" ? 1 : ropeScale, window });
    else layers.push({ ropeBase, ropeScale, window: 0 });
  }

  // Where llama.cpp scales Q before attention (Gemma, Phi-3) rather than the scores, so does zinc: the f16
  // rounding of Q differs between the two. Gemma's 27B sizes use n_embd / n_head instead of head_dim.
  const scaleQ = a === "gemma2" || a === "gemma3" || a === "phi3";
  const gemmaScaleDim = (a === "gemma2" && layerCount === 46) || (a === "gemma3" && layerCount === 62) ? embedding / headCount : headDim;
  // 1.0f / sqrtf(float(d)) exactly as C computes it in f32.
  const inverseSqrtF32 = (d: number) => Math.fround(1 / Math.fround(Math.sqrt(d)));
  const queryScale = scaleQ ? inverseSqrtF32(a === "phi3" ? headDim : gemmaScaleDim) : 1;
  const attentionScale = scaleQ ? 1 : inverseSqrtF32(headDim);

  return {
    arch: a,
    name: metaString(file, "general.name") ?? a,
    layerCount,
    embedding,
    headCount,
    kvHeadCount,
    headDim,
    valueDim,
    feedForward,
    vocabSize,
    trainedContext: metaNumber(file, k("context_length")) ?? 2048,
    normEps: metaNumber(file, k("attention.layer_norm_rms_epsilon")) ?? metaNumber(file, k("attention.layer_norm_epsilon")) ?? 1e-5,
    norm: a === "gpt2" ? "layer" : "rms",
    activation: isGemma || a === "gpt2" ? "gelu" : "silu",
    ropeNeox: a !== "llama",
    ropeDims: metaNumber(file, k("rope.dimension_count")) ?? headDim,
    embeddingScale: isGemma ? Math.fround(Math.sqrt(embedding)) : 1,
    queryScale,
    attentionScale,
    attentionSoftcap: metaNumber(file, k("attn_logit_softcapping")) ?? 0,
    finalSoftcap: metaNumber(file, k("final_logit_softcapping")) ?? 0,
    qkNorm: a === "qwen3" || a === "gemma3",
    postNorms: isGemma,
    layers,
  };
}
