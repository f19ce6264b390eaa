/**
 * The results registry: `zinc bench` and `zinc perplexity` append one JSON line per run to a results file, so
 * speed and quality can be compared across models, quantizations, kernel variants and machines later
 * (`zinc report`). A record says what ran (model, quant, bits per weight, file size), where (CPU, variant,
 * threads), what it measured (pp/tg tok/s, TTFT, peak RSS, perplexity), when, and with which zinc.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { basename, dirname, join } from "node:path";
import { ZincError } from "../errors.ts";
import { metaNumber, metaString, type GgufFile } from "../gguf/reader.ts";
import { quantizeTargets } from "../gguf/quantize.ts";

export interface ResultRecord {
  kind: "bench" | "perplexity";
  /** Model name (general.name, else the file name without its quant suffix) and the file. */
  model: string;
  file: string;
  quant: string;
  bits_per_weight: number;
  file_size_mb: number;
  cpu: string;
  variant: string;
  threads: number;
  pp_tok_s?: number | null;
  tg_tok_s?: number | null;
  ttft_ms?: number | null;
  peak_rss_mb?: number | null;
  ppl?: number;
  ppl_ctx?: number;
  date: string;
  zinc_version: string;
}

export const zincVersion = "0.1.0";

/** Where records go: --results, else ZINC_RESULTS, else ~/.cache/zinc/results.jsonl. */
export function resultsPath(flag?: string): string {
  return flag ?? process.env.ZINC_RESULTS ?? join(homedir(), ".cache", "zinc", "results.jsonl");
}

function cpuName(): string {
  try {
    return /model name\s*:\s*(.+)/.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

/** The quant mix's name: general.file_type as llama.cpp names it, else the type holding most bytes. */
function quantName(file: GgufFile): string {
  const fileType = metaNumber(file, "general.file_type");
  const named = Object.entries(quantizeTargets).find(([, t]) => t.fileType === fileType);
  if (named) return named[0];
  const bytes = new Map<string, number>();
  for (const t of file.tensors) bytes.set(t.type.name, (bytes.get(t.type.name) ?? 0) + t.byteSize);
  return [...bytes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "unknown";
}

/** What every record says about the model file and the machine. */
export function describeRun(file: GgufFile, variant: string, threads: number) {
  const parameters = file.tensors.reduce((n, t) => n + t.elementCount, 0);
  const weightBytes = file.tensors.reduce((n, t) => n + t.byteSize, 0);
  const quant = quantName(file);
  const name = metaString(file, "general.name") ?? basename(file.path).replace(/\.gguf$/i, "").replace(new RegExp(`[-._]${quant}$`, "i"), "");
  return {
    model: name,
    file: basename(file.path),
    quant,
    bits_per_weight: Math.round(((weightBytes * 8) / Math.max(1, parameters)) * 1000) / 1000,
    file_size_mb: Math.round((file.fileSize / 1048576) * 10) / 10,
    cpu: cpuName(),
    variant,
    threads,
    date: new Date().toISOString(),
    zinc_version: zincVersion,
  };
}

export function appendResult(path: string, record: ResultRecord): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    appendFileSync(path, `${JSON.stringify(record)}\n`);
  } catch (e) {
    throw new ZincError(`cannot append to the results file ${path}: ${(e as Error).message}`, "pass --results FILE or --no-record");
  }
}

export function readResults(path: string): ResultRecord[] {
  if (!existsSync(path)) throw new ZincError(`no results file at ${path}`, "run zinc bench or zinc perplexity first, or pass --results FILE");
  const records: ResultRecord[] = [];
  readFileSync(path, "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (!line.trim()) return;
      try {
        records.push(JSON.parse(line));
      } catch {
        throw new ZincError(`${path} line ${i + 1} is not a JSON record`, "fix or remove that line");
      }
    });
  return records;
}
