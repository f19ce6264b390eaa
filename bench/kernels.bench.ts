/**
 * `bun bench` (npm run bench): kernel throughput per weight type × shape × kernel variant, and tokenizer
 * speed. Prints a table (GB/s of weights streamed, GFLOP/s, speedup over baseline) and, with --json, one JSON
 * record per measurement.
 *
 *   npm run bench                        # everything
 *   npm run bench -- --types Q4_K,Q8_0 --shapes 2048x8192 --tokens 1
 *   npm run bench -- --filter tokenize
 *   npm run bench -- --types Q4_0,Q4_0/repacked  # Q4_0 in the plain and in llama.cpp's repacked order (Q4_K too)
 *   npm run bench -- --types Q4_0/repacked --shapes 4096x64 --tokens 1 --threads 1 --in-cache   # the kernel's own pace
 *   npm run bench -- --filter attention --keys 64,1024,4096    # decode attention over an f16 cache
 */
import { bench, do_not_optimize, run } from "mitata";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";
import { rowBytes, tensorType } from "../src/gguf/types.ts";
import { loadKernels, probeCpu, type Kernels } from "../src/native/index.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { readVocab } from "../src/tokenizer/vocab.ts";
import { randomNormal, randomWeights, sharedDir } from "../tests/helpers.ts";

const args = process.argv.slice(2);
const flag = (name: string, fallback: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const json = args.includes("--json");
// --in-cache: every call multiplies the same matrix, so a shape that fits the caches measures the kernel's own
// pace with no memory in the way (what a core could do if the memory kept up); by default calls cycle
// through copies, as a forward pass reads each matrix from memory.
const inCache = args.includes("--in-cache");
const filter = new RegExp(flag("filter", "."));
// A type, or Q4_0/repacked, Q4_K/repacked or IQ4_NL/repacked: summed in llama.cpp's repacked order (what such
// models run; see repackedOrderFor).
const repackable = ["Q4_0", "Q4_K", "IQ4_NL"];
const types = flag("types", "Q4_0,Q4_0/repacked,Q4_1,Q5_0,Q8_0,Q4_K,Q4_K/repacked,Q6_K").split(",");
const shapes = flag("shapes", "896x4864,2048x8192,3584x18944,896x151936").split(",").map((s) => s.split("x").map(Number) as [number, number]);
const tokenCounts = flag("tokens", "1,32").split(",").map(Number);
const threads = Number(flag("threads", "2"));
const runnable = probeCpu().candidates.filter((c) => c.score > 0).map((c) => c.name);
const variants = flag("variants", runnable.join(",")).split(",");

interface Case {
  name: string;
  type: string;
  shape: string;
  variant: string;
  tokens: number;
  bytes: number;
  flops: number;
}
const cases = new Map<string, Case>();
const copiedBytes = 256e6;

// The machine's read bandwidth, timed in this run (first and last, since a shared machine drifts): every
// kernel thread streams its part of 1 GiB once, as a decode kernel streams weights. Matrix × vector figures
// are reported as a share of it.
const bandwidthBytes = 1 << 30;
const bandwidthKernels = loadKernels({ variant: variants[0], threads });
const bandwidthBuffer = new Uint8Array(bandwidthBytes).fill(1);
const bandwidthCase = (label: string) => {
  if (!filter.test(label)) return;
  bench(label, () => do_not_optimize(bandwidthKernels.readChecksum(bandwidthBuffer)));
};
bandwidthCase("read bandwidth (before)");

for (const typeName of types) {
  const [baseType, order] = typeName.split("/");
  if (order !== undefined && !(order === "repacked" && repackable.includes(baseType))) throw new Error(`--types: unknown order in ${typeName} (only ${repackable.map((t) => `${t}/repacked`).join(", ")})`);
  const repacked = order === "repacked";
  const type = tensorType(baseType);
  const act = tensorType(type.activation!);
  for (const [cols, rows] of shapes) {
    if (!variants.some((v) => tokenCounts.some((t) => filter.test(`${typeName} ${cols}x${rows} t${t} ${v}`)))) continue;
    // Rows must be whole blocks (K-quants: 256 values; llama-quantize gives 896-wide matrices another type).
    if (cols % type.blockValues !== 0) continue;
    // Weights are generated once per type and shape (with the first variant's kernels) and shared. Calls cycle
    // through copies of them totalling at least 256 MB, 8× the last-level cache here, as a forward pass moves
    // from matrix to matrix: a matrix read again at once would partly come from L3 (its replacement is not
    // strict LRU), which inflated the GB/s of 40–70 MB matrices past the memory's read bandwidth.
    const weights = randomWeights(loadKernels({ variant: variants[0], threads }), type, rows, cols, rows + cols);
    const copies = inCache ? [weights] : Array.from({ length: Math.min(64, Math.ceil(copiedBytes / weights.byteLength)) }, (_, i) => (i === 0 ? weights : weights.slice()));
    let next = 0;
    for (const tokens of tokenCounts) {
      const x = randomNormal(tokens * cols, 5);
      for (const variant of variants) {
        const k: Kernels = loadKernels({ variant, threads });
        const xq = new Uint8Array(tokens * rowBytes(act, cols));
        const y = new Float32Array(tokens * rows);
        const name = `${typeName} ${cols}x${rows} t${tokens} ${variant}`;
        if (!filter.test(name)) continue;
        cases.set(name, { name, type: typeName, shape: `${cols}x${rows}`, variant, tokens, bytes: weights.byteLength, flops: 2 * rows * cols * tokens });
        bench(name, () => {
          const w = copies[next++ % copies.length];
          k.quantizeRows(act, x, tokens, cols, xq);
          k.matmul(type, w, w.byteLength, xq, y, rows, cols, tokens, false, repacked);
          do_not_optimize(y);
        });
      }
    }
  }
}

bandwidthCase("read bandwidth (after)");

// Decode attention: one query of Qwen2.5-0.5B's shape (14 heads over 2 KV heads × 64) over an f16 cache of
// `keys` positions (from 512 llama.cpp's split path), per variant; µs per call.
const attentionKeys = flag("keys", "64,1024,4096").split(",").map(Number);
const attentionNames = new Set<string>();
for (const keys of attentionKeys) {
  const [heads, kvHeads, dim] = [14, 2, 64];
  const cache = () => new Uint8Array(new Uint16Array(keys * kvHeads * dim).map((_, i) => 0x3000 + ((i * 7919) % 2048)).buffer);
  const [kCache, vCache] = [cache(), cache()];
  const q = randomNormal(heads * dim, 7);
  const out = new Float32Array(heads * dim);
  const positions = new Int32Array([keys - 1]);
  for (const variant of variants) {
    const name = `attention ${heads}/${kvHeads}x${dim} ${keys} keys ${variant}`;
    if (!filter.test(name)) continue;
    const k: Kernels = loadKernels({ variant, threads });
    const params = { tokens: 1, headCount: heads, kvHeadCount: kvHeads, headDim: dim, kvLength: keys, window: 0, scale: 0.125, softcap: 0, kvType: "f16" as const, ringRows: 0, kvCells: keys };
    attentionNames.add(name);
    bench(name, () => {
      k.attention(params, q, positions, kCache, vCache, out);
      do_not_optimize(out);
    });
  }
}

// Tokenizer: 1 MB of English from the machine's license texts (varied prose; nothing to download).
const corpus = englishCorpus(1 << 20);
for (const [label, path] of [
  ["tokenize 1MB BPE (llama-bpe)", join(sharedDir, "fixtures", "vocab", "ggml-vocab-llama-bpe.gguf")],
  ["tokenize 1MB SPM (llama-spm)", join(sharedDir, "fixtures", "vocab", "ggml-vocab-llama-spm.gguf")],
] as const) {
  if (!filter.test(label)) continue;
  const tokenizer = new Tokenizer(readVocab(openGguf(path)));
  bench(label, () => do_not_optimize(new Tokenizer(tokenizer.vocab).encode(corpus))).gc("inner");
}

const result = await run({ format: json ? "quiet" : "mitata", colors: process.stdout.isTTY });

type KernelRecord = Case & { ms: number; gb_s: number; gflop_s: number };
type BandwidthRecord = { name: string; ms: number; read_gb_s: number };
type TokenizerRecord = { name: string; ms: number; mb_s: number };
type AttentionRecord = { name: string; ms: number; us_per_call: number };
const records = result.benchmarks.flatMap((b) =>
  b.runs.map((r): KernelRecord | BandwidthRecord | TokenizerRecord | AttentionRecord => {
    const ms = (r.stats?.avg ?? 0) / 1e6;
    const c = cases.get(r.name);
    if (c) return { ...c, ms, gb_s: c.bytes / (ms / 1000) / 1e9, gflop_s: c.flops / (ms / 1000) / 1e9 };
    // The probe's fastest pass, as STREAM reports bandwidth: the ceiling, against which the kernels' mean is a
    // conservative share.
    if (r.name.startsWith("read bandwidth")) return { name: r.name, ms, read_gb_s: bandwidthBytes / ((r.stats?.min ?? 0) / 1e9) / 1e9 };
    if (attentionNames.has(r.name)) return { name: r.name, ms, us_per_call: ms * 1000 };
    return { name: r.name, ms, mb_s: corpus.length / 1e6 / (ms / 1000) };
  }),
);
const bandwidths = records.flatMap((r) => ("read_gb_s" in r ? [r.read_gb_s] : []));
const readGbS = bandwidths.length ? bandwidths.reduce((a, b) => a + b, 0) / bandwidths.length : undefined;
const shareOfBandwidth = (r: { gb_s: number; tokens: number }) => (readGbS && r.tokens === 1 ? r.gb_s / readGbS : undefined);
if (json) {
  const withShare = records.map((r) => ("gb_s" in r ? { ...r, share_of_read_bandwidth: shareOfBandwidth(r) } : r));
  console.log(JSON.stringify({ cpu: result.context.cpu.name, threads, read_gb_s: readGbS, records: withShare }, null, 2));
} else {
  console.log(`\nthreads ${threads}; GB/s counts weight bytes streamed per call${inCache ? "; --in-cache: the same matrix every call (from the caches where it fits)" : ""}`);
  if (readGbS) console.log(`read bandwidth measured in this run: ${bandwidths.map((b) => b.toFixed(1)).join(" and ")} GB/s (mean ${readGbS.toFixed(1)})`);
  console.log("| case | ms (mean) | GB/s | % of read bandwidth | GFLOP/s | vs baseline |");
  console.log("|---|---|---|---|---|---|");
  for (const r of records) {
    if ("read_gb_s" in r) {
      console.log(`| ${r.name} (best pass) | ${r.ms.toFixed(1)} | ${r.read_gb_s.toFixed(1)} | | | |`);
      continue;
    }
    if ("us_per_call" in r) {
      console.log(`| ${r.name} | ${r.ms.toFixed(4)} | | | | ${r.us_per_call.toFixed(1)} µs a call |`);
      continue;
    }
    if (!("gb_s" in r)) {
      console.log(`| ${r.name} | ${r.ms.toFixed(1)} | | | | ${r.mb_s.toFixed(2)} MB/s |`);
      continue;
    }
    const share = shareOfBandwidth(r);
    const base = records.find((o) => "gb_s" in o && o.type === r.type && o.shape === r.shape && o.tokens === r.tokens && o.variant === "baseline");
    const speedup = base ? `${(base.ms / r.ms).toFixed(2)}×` : "";
    console.log(`| ${r.name} | ${r.ms.toFixed(3)} | ${r.gb_s.toFixed(1)} | ${share ? `${(share * 100).toFixed(0)}%` : ""} | ${r.gflop_s.toFixed(1)} | ${speedup} |`);
  }
}

function englishCorpus(size: number): string {
  const parts: string[] = [];
  let total = 0;
  const visit = (dir: string) => {
    let entries: string[] = [];
    try {
      entries = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const e of entries) {
      if (total >= size) return;
      const p = join(dir, e);
      try {
        const st = statSync(p);
        if (st.isDirectory()) visit(p);
        else if (st.isFile() && st.size < 200_000 && (e === "copyright" || dir.endsWith("common-licenses"))) {
          const text = readFileSync(p, "utf8");
          parts.push(text);
          total += text.length;
        }
      } catch {}
    }
  };
  visit("/usr/share/common-licenses");
  visit("/usr/share/doc");
  let text = parts.join("\n");
  while (text.length < size) text += `\n${text}`;
  return text.slice(0, size);
}
