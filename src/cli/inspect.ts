/** `zinc inspect`: what a GGUF file holds and what running it would need. */
import type { Command } from "commander";
import { metaArray, metaString, openGguf, type GgufFile } from "../gguf/reader.ts";
import { readConfig } from "../model/config.ts";
import { defaultBatchSize, estimateMemory, memoryModeFor, streamingBytes } from "../model/memory.ts";
import { streamingWindowBytes } from "../model/streaming.ts";
import { locateModel } from "../registry/registry.ts";
import { availableMemory, formatBytes, parseInteger, parseSize } from "./common.ts";

export function inspectSummary(file: GgufFile, ctx: number, ram: number) {
  const arch = metaString(file, "general.architecture");
  const quantMix: Record<string, { tensors: number; bytes: number }> = {};
  let parameters = 0;
  let weightBytes = 0;
  for (const t of file.tensors) {
    quantMix[t.type.name] ??= { tensors: 0, bytes: 0 };
    quantMix[t.type.name].tensors++;
    quantMix[t.type.name].bytes += t.byteSize;
    parameters += t.elementCount;
    weightBytes += t.byteSize;
  }
  let config = null;
  let memory = null;
  if (arch && file.tensors.length > 0) {
    try {
      config = readConfig(file);
    } catch {
      config = null;
    }
  }
  if (config) {
    // The same estimate the loader checks a budget against (default batch).
    const f16 = estimateMemory(config, weightBytes, ctx, Math.min(defaultBatchSize, ctx), "f16");
    const q8 = estimateMemory(config, weightBytes, ctx, Math.min(defaultBatchSize, ctx), "q8_0");
    const kvF16 = f16.kvCacheBytes;
    const kvQ8 = q8.kvCacheBytes;
    const scratch = f16.scratchBytes;
    const total = f16.totalBytes;
    // Streaming keeps the KV cache, the scratch and a window of two layers plus an output chunk resident.
    const window = streamingWindowBytes(file, config.layerCount);
    const streamF16 = streamingBytes(f16, window);
    const streamQ8 = streamingBytes(q8, window);
    memory = {
      weights_bytes: weightBytes,
      kv_cache_f16_bytes: kvF16,
      kv_cache_q8_0_bytes: kvQ8,
      scratch_bytes: scratch,
      total_f16_bytes: total,
      total_q8_0_bytes: weightBytes + kvQ8 + scratch,
      streaming_f16_bytes: streamF16,
      ram_bytes: ram,
      mode: memoryModeFor(f16, window, ram),
      verdict:
        total <= ram
          ? "fits"
          : weightBytes + kvQ8 + scratch <= ram
            ? "fits with --kv-type q8_0; without it, streams the weights layer by layer"
            : streamF16 <= ram
              ? `streams the weights layer by layer (${formatBytes(streamF16)} resident; slower: every token reads the weights from disk)`
              : streamQ8 <= ram
                ? "streams the weights only with --kv-type q8_0"
                : "does not fit even streaming: use a smaller quant or a shorter context",
    };
  }
  const vocab = metaArray(file, "tokenizer.ggml.tokens");
  return {
    path: file.path,
    gguf_version: file.version,
    architecture: arch ?? null,
    name: metaString(file, "general.name") ?? null,
    parameters,
    file_size_bytes: file.fileSize,
    layers: config?.layerCount ?? null,
    embedding: config?.embedding ?? null,
    heads: config?.headCount ?? null,
    kv_heads: config?.kvHeadCount ?? null,
    head_dim: config?.headDim ?? null,
    feed_forward: config?.feedForward ?? null,
    vocab_size: vocab?.length ?? null,
    context_length: config?.trainedContext ?? null,
    tokenizer: metaString(file, "tokenizer.ggml.model") ?? null,
    pre_tokenizer: metaString(file, "tokenizer.ggml.pre") ?? null,
    chat_template: metaString(file, "tokenizer.chat_template") !== undefined,
    quant_mix: quantMix,
    memory,
    ctx,
    tensors: file.tensors.map((t) => ({ name: t.name, type: t.type.name, shape: t.shape, offset: t.offset, bytes: t.byteSize })),
  };
}

export function registerInspect(program: Command): void {
  program
    .command("inspect")
    .description("show a GGUF file's architecture, parameters, quant mix, tensors and memory needs")
    .argument("<model>", "GGUF path or model alias")
    .option("--json", "print one JSON object")
    .option("--ctx <n>", "context length for the memory estimate", "4096")
    .option("--ram <size>", "memory budget for the verdict (default: available memory)")
    .option("--tensors", "list every tensor (text output)")
    .action((model: string, flags: { json?: boolean; ctx: string; ram?: string; tensors?: boolean }) => {
      const location = locateModel(model);
      const ctx = parseInteger(flags.ctx, "--ctx", 1, 1 << 22);
      const ram = flags.ram ? parseSize(flags.ram, "--ram") : availableMemory();
      const file = openGguf(location.path);
      try {
        const s = inspectSummary(file, ctx, ram);
        if (flags.json) {
          console.log(JSON.stringify(s, null, 2));
          return;
        }
        console.log(`${s.path}  (GGUF v${s.gguf_version}, ${formatBytes(s.file_size_bytes)})`);
        console.log(`architecture  ${s.architecture ?? "none (vocabulary only)"}${s.name ? `  "${s.name}"` : ""}`);
        console.log(`parameters    ${(s.parameters / 1e6).toFixed(1)} M`);
        if (s.layers !== null) console.log(`shape         ${s.layers} layers, embedding ${s.embedding}, ${s.heads} heads / ${s.kv_heads} KV heads × ${s.head_dim}, FFN ${s.feed_forward}, context ${s.context_length}`);
        console.log(`tokenizer     ${s.tokenizer ?? "none"}${s.pre_tokenizer ? ` (${s.pre_tokenizer})` : ""}, ${s.vocab_size ?? 0} tokens, chat template: ${s.chat_template ? "yes" : "no"}`);
        console.log(`quant mix     ${Object.entries(s.quant_mix).map(([t, q]) => `${t} ×${q.tensors} (${formatBytes(q.bytes)})`).join(", ")}`);
        if (s.memory) {
          const m = s.memory;
          console.log(`memory @ctx ${ctx}  weights ${formatBytes(m.weights_bytes)} + KV ${formatBytes(m.kv_cache_f16_bytes)} (f16; q8_0 ${formatBytes(m.kv_cache_q8_0_bytes)}) + scratch ${formatBytes(m.scratch_bytes)} = ${formatBytes(m.total_f16_bytes)}`);
          console.log(`budget ${formatBytes(ram)}: ${m.verdict}`);
        }
        if (flags.tensors) for (const t of s.tensors) console.log(`  ${t.name.padEnd(32)} ${t.type.padEnd(6)} [${t.shape.join(", ")}]`);
      } finally {
        file.close();
      }
    });
}
