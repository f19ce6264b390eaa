#!/usr/bin/env bun
/**
 * Writes a GGUF model with random weights in a family's exact tensor layout and metadata, for the families
 * and sizes whose real weights cannot be downloaded here. Speed depends on shapes and types, not on values;
 * agreement tests only need llama.cpp and zinc to read the same file.
 *
 *   bun scripts/synthetic-model.ts FAMILY OUT.gguf [--type Q8_0] [--seed 1]
 *
 * FAMILY is one of the tiny test shapes (tiny-llama, tiny-qwen2, tiny-qwen3, tiny-gemma2, tiny-gemma3,
 * tiny-phi3, tiny-gpt2) or a real shape (qwen2.5-0.5b, llama-3.2-1b, qwen2.5-7b, …; see `shapes`).
 * Real shapes need a vocabulary of their size: the tokenizer is a synthetic byte-level one.
 */
import { join } from "node:path";
import { openGguf, type GgufValue } from "../src/gguf/reader.ts";
import { rowBytes, tensorType, type TensorTypeInfo } from "../src/gguf/types.ts";
import { writeGguf, type MetadataValue, type TensorToWrite } from "../src/gguf/writer.ts";
import { loadKernels } from "../src/native/index.ts";

export interface Shape {
  arch: "llama" | "qwen2" | "qwen3" | "gemma2" | "gemma3" | "phi3" | "gpt2";
  layers: number;
  embedding: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  feedForward: number;
  vocab: number;
  context: number;
  tied: boolean;
}

export const shapes: Record<string, Shape> = {
  "tiny-llama": { arch: "llama", layers: 2, embedding: 128, heads: 4, kvHeads: 2, headDim: 32, feedForward: 256, vocab: 512, context: 256, tied: false },
  "tiny-qwen2": { arch: "qwen2", layers: 2, embedding: 128, heads: 4, kvHeads: 2, headDim: 32, feedForward: 256, vocab: 512, context: 256, tied: true },
  "tiny-qwen3": { arch: "qwen3", layers: 2, embedding: 128, heads: 4, kvHeads: 1, headDim: 64, feedForward: 256, vocab: 512, context: 256, tied: true },
  "tiny-gemma2": { arch: "gemma2", layers: 3, embedding: 128, heads: 4, kvHeads: 2, headDim: 32, feedForward: 256, vocab: 512, context: 256, tied: true },
  "tiny-gemma3": { arch: "gemma3", layers: 7, embedding: 128, heads: 2, kvHeads: 1, headDim: 64, feedForward: 256, vocab: 512, context: 256, tied: true },
  "tiny-phi3": { arch: "phi3", layers: 2, embedding: 128, heads: 4, kvHeads: 4, headDim: 32, feedForward: 256, vocab: 512, context: 256, tied: false },
  "tiny-gpt2": { arch: "gpt2", layers: 2, embedding: 128, heads: 4, kvHeads: 4, headDim: 32, feedForward: 512, vocab: 512, context: 256, tied: false },
  // Rows of 256 so the K-quant mixes apply: the quantize tests compare zinc's mixes with llama-quantize's.
  "mix-llama": { arch: "llama", layers: 8, embedding: 256, heads: 4, kvHeads: 1, headDim: 64, feedForward: 512, vocab: 512, context: 256, tied: false },
  "mix-qwen2": { arch: "qwen2", layers: 16, embedding: 256, heads: 4, kvHeads: 2, headDim: 64, feedForward: 256, vocab: 512, context: 256, tied: true },
  "qwen2.5-0.5b": { arch: "qwen2", layers: 24, embedding: 896, heads: 14, kvHeads: 2, headDim: 64, feedForward: 4864, vocab: 151936, context: 32768, tied: true },
  "qwen2.5-1.5b": { arch: "qwen2", layers: 28, embedding: 1536, heads: 12, kvHeads: 2, headDim: 128, feedForward: 8960, vocab: 151936, context: 32768, tied: true },
  "qwen2.5-7b": { arch: "qwen2", layers: 28, embedding: 3584, heads: 28, kvHeads: 4, headDim: 128, feedForward: 18944, vocab: 152064, context: 32768, tied: false },
  "llama-3.2-1b": { arch: "llama", layers: 16, embedding: 2048, heads: 32, kvHeads: 8, headDim: 64, feedForward: 8192, vocab: 128256, context: 131072, tied: true },
  "llama-3.2-3b": { arch: "llama", layers: 28, embedding: 3072, heads: 24, kvHeads: 8, headDim: 128, feedForward: 8192, vocab: 128256, context: 131072, tied: true },
  "llama-3.1-8b": { arch: "llama", layers: 32, embedding: 4096, heads: 32, kvHeads: 8, headDim: 128, feedForward: 14336, vocab: 128256, context: 131072, tied: false },
  "smollm2-135m": { arch: "llama", layers: 30, embedding: 576, heads: 9, kvHeads: 3, headDim: 64, feedForward: 1536, vocab: 49152, context: 8192, tied: true },
  "smollm2-1.7b": { arch: "llama", layers: 24, embedding: 2048, heads: 32, kvHeads: 32, headDim: 64, feedForward: 8192, vocab: 49152, context: 8192, tied: true },
  "gemma-2-9b": { arch: "gemma2", layers: 42, embedding: 3584, heads: 16, kvHeads: 8, headDim: 256, feedForward: 14336, vocab: 256000, context: 8192, tied: true },
  "phi-3.5-mini": { arch: "phi3", layers: 32, embedding: 3072, heads: 32, kvHeads: 32, headDim: 96, feedForward: 8192, vocab: 32064, context: 4096, tied: false },
};

/** Deterministic normal samples (Box-Muller over mulberry32). */
function normals(n: number, seed: number, scale: number): Float32Array {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(Math.max(next(), 1e-12))) * Math.cos(2 * Math.PI * next());
  return out;
}

/** The stories260K SentencePiece vocabulary for the tiny shapes; a byte-level stand-in for real shapes. */
function tokenizerMetadata(vocab: number): Record<string, MetadataValue> {
  if (vocab === 512) {
    const stories = openGguf(join(import.meta.dir, "..", "..", "shared", "fixtures", "models", "stories260K.gguf"));
    const meta: Record<string, MetadataValue> = {};
    for (const key of ["tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id"]) {
      const v = stories.metadata.get(key) as GgufValue;
      if (key === "tokenizer.ggml.scores") meta[key] = { type: "array", elementType: "f32", value: v as number[] };
      else if (key === "tokenizer.ggml.token_type") meta[key] = { type: "array", elementType: "i32", value: v as number[] };
      else if (key.endsWith("_id")) meta[key] = { type: "u32", value: v as number };
      else meta[key] = v as MetadataValue;
    }
    stories.close();
    return meta;
  }
  const tokens = Array.from({ length: vocab }, (_, i) => (i < 3 ? ["<unk>", "<s>", "</s>"][i] : i < 259 ? `<0x${(i - 3).toString(16).toUpperCase().padStart(2, "0")}>` : `t${i}`));
  return {
    "tokenizer.ggml.model": "llama",
    "tokenizer.ggml.tokens": tokens,
    "tokenizer.ggml.scores": { type: "array", elementType: "f32", value: tokens.map((_, i) => -i) },
    "tokenizer.ggml.token_type": { type: "array", elementType: "i32", value: tokens.map((_, i) => (i < 3 ? 3 : i < 259 ? 6 : 1)) },
    "tokenizer.ggml.bos_token_id": { type: "u32", value: 1 },
    "tokenizer.ggml.eos_token_id": { type: "u32", value: 2 },
  };
}

export function writeSyntheticModel(name: string, path: string, typeName = "Q8_0", seed = 1): void {
  const s = shapes[name];
  if (!s) throw new Error(`unknown shape ${name}; known: ${Object.keys(shapes).join(", ")}`);
  const kernels = loadKernels();
  const f32 = tensorType("F32");
  const type = tensorType(typeName);
  const tensors: TensorToWrite[] = [];
  let counter = seed * 1000;
  const matrix = (name: string, cols: number, rows: number, as: TensorTypeInfo = type) => {
    const values = normals(cols * rows, counter++, 1 / Math.sqrt(cols));
    const data = new Uint8Array(rows * rowBytes(as, cols));
    if (as.name === "F32") data.set(new Uint8Array(values.buffer));
    else kernels.quantizeRows(as, values, rows, cols, data);
    tensors.push({ name, type: as, shape: [cols, rows], data });
  };
  const vector = (name: string, n: number, mean = 1, spread = 0.1) => {
    const v = normals(n, counter++, spread).map((x) => x + mean);
    tensors.push({ name, type: f32, shape: [n], data: new Uint8Array(v.buffer) });
  };
  const E = s.embedding;
  const q = s.heads * s.headDim;
  const kv = s.kvHeads * s.headDim;
  // Gemma stores norms as offsets from 1 in HF but GGUF holds 1 + w already; plain weights near 1 suit all.
  matrix("token_embd.weight", E, s.vocab, s.arch === "gpt2" ? f32 : type);
  if (s.arch === "gpt2") matrix("position_embd.weight", E, s.context, f32);
  vector("output_norm.weight", E);
  if (s.arch === "gpt2") vector("output_norm.bias", E, 0, 0.02);
  if (!s.tied) matrix("output.weight", E, s.vocab);
  for (let i = 0; i < s.layers; i++) {
    const p = `blk.${i}.`;
    vector(`${p}attn_norm.weight`, E);
    if (s.arch === "gpt2") vector(`${p}attn_norm.bias`, E, 0, 0.02);
    if (s.arch === "phi3" || s.arch === "gpt2") {
      matrix(`${p}attn_qkv.weight`, E, q + 2 * kv);
      if (s.arch === "gpt2") vector(`${p}attn_qkv.bias`, q + 2 * kv, 0, 0.02);
    } else {
      matrix(`${p}attn_q.weight`, E, q);
      matrix(`${p}attn_k.weight`, E, kv);
      matrix(`${p}attn_v.weight`, E, kv);
      if (s.arch === "qwen2") {
        vector(`${p}attn_q.bias`, q, 0, 0.1);
        vector(`${p}attn_k.bias`, kv, 0, 0.1);
        vector(`${p}attn_v.bias`, kv, 0, 0.1);
      }
    }
    if (s.arch === "qwen3" || s.arch === "gemma3") {
      vector(`${p}attn_q_norm.weight`, s.headDim);
      vector(`${p}attn_k_norm.weight`, s.headDim);
    }
    matrix(`${p}attn_output.weight`, q, E);
    if (s.arch === "gpt2") vector(`${p}attn_output.bias`, E, 0, 0.02);
    if (s.arch === "gemma2" || s.arch === "gemma3") vector(`${p}post_attention_norm.weight`, E);
    vector(`${p}ffn_norm.weight`, E);
    if (s.arch === "gpt2") vector(`${p}ffn_norm.bias`, E, 0, 0.02);
    if (s.arch === "phi3") {
      matrix(`${p}ffn_up.weight`, E, 2 * s.feedForward);
    } else if (s.arch === "gpt2") {
      matrix(`${p}ffn_up.weight`, E, s.feedForward);
      vector(`${p}ffn_up.bias`, s.feedForward, 0, 0.02);
    } else {
      matrix(`${p}ffn_gate.weight`, E, s.feedForward);
      matrix(`${p}ffn_up.weight`, E, s.feedForward);
    }
    matrix(`${p}ffn_down.weight`, s.feedForward, E);
    if (s.arch === "gpt2") vector(`${p}ffn_down.bias`, E, 0, 0.02);
    if (s.arch === "gemma2" || s.arch === "gemma3") vector(`${p}post_ffw_norm.weight`, E);
  }
  const a = s.arch;
  const metadata: Record<string, MetadataValue> = {
    "general.architecture": a,
    // Not "phi3" in the name: llama.cpp keys Phi-3 tokenizer quirks on it, which need Phi-3's own tokens.
    "general.name": `synthetic ${name.replace("phi3", "phi-three")}`,
    [`${a}.block_count`]: s.layers,
    [`${a}.context_length`]: s.context,
    [`${a}.embedding_length`]: E,
    [`${a}.feed_forward_length`]: s.feedForward,
    [`${a}.attention.head_count`]: s.heads,
    [`${a}.attention.head_count_kv`]: s.kvHeads,
    [`${a}.attention.key_length`]: s.headDim,
    [`${a}.attention.value_length`]: s.headDim,
    [`${a}.rope.dimension_count`]: s.headDim,
    [`${a}.rope.freq_base`]: { type: "f32", value: a === "gemma3" ? 1000000 : 10000 },
    ...(a === "gpt2"
      ? { [`${a}.attention.layer_norm_epsilon`]: { type: "f32", value: 1e-5 } }
      : { [`${a}.attention.layer_norm_rms_epsilon`]: { type: "f32", value: 1e-6 } }),
    ...(a === "gemma2"
      ? {
          [`${a}.attention.sliding_window`]: 8,
          [`${a}.attn_logit_softcapping`]: { type: "f32", value: 50 },
          [`${a}.final_logit_softcapping`]: { type: "f32", value: 30 },
        }
      : {}),
    ...(a === "gemma3" ? { [`${a}.attention.sliding_window`]: 8 } : {}),
    ...tokenizerMetadata(s.vocab),
  };
  writeGguf(path, metadata, tensors);
}

if (import.meta.main) {
  const [name, out, ...rest] = process.argv.slice(2);
  if (!name || !out) {
    console.error(`usage: bun scripts/synthetic-model.ts SHAPE OUT.gguf [--type Q8_0] [--seed N]\nshapes: ${Object.keys(shapes).join(", ")}`);
    process.exit(2);
  }
  const typeAt = rest.indexOf("--type");
  const seedAt = rest.indexOf("--seed");
  writeSyntheticModel(name, out, typeAt >= 0 ? rest[typeAt + 1] : "Q8_0", seedAt >= 0 ? Number(rest[seedAt + 1]) : 1);
  console.log(`wrote ${out}`);
}
