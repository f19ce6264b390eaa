/** Pieces every command shares: option parsing with clear errors, model opening, memory and timing facts. */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { freemem } from "node:os";
import { ZincError } from "../errors.ts";
import { openLoadedModel, type LoadedModel } from "../index.ts";
import { defaultModelAlias, locateModel } from "../registry/registry.ts";
import { pullModel } from "../registry/pull.ts";

export function parseInteger(text: string, flag: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new ZincError(`${flag} must be a whole number from ${min} to ${max}, got "${text}"`);
  return n;
}

export function parseFloatOption(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new ZincError(`${flag} must be a number from ${min} to ${max}, got "${text}"`);
  return n;
}

const sizeUnits: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, t: 1024 ** 4 };

/** "6G", "512M", "1.5GB", "1000000" → bytes. */
export function parseSize(text: string, flag: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? sizeUnits[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ZincError(`${flag} must be a size like 6G or 512M, got "${text}"`);
  return Math.round(Number(m[1]) * unit);
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(2)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024).toFixed(1)} KiB`;
}

/** Available memory (MemAvailable), the default budget. */
export function availableMemory(): number {
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync("/proc/meminfo", "utf8"));
    if (m) return Number(m[1]) * 1024;
  } catch {}
  return freemem();
}

/** A memory figure of this process from /proc/self/status in MB (the current RSS where there is no /proc). */
function statusMb(field: "VmRSS" | "VmHWM"): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync("/proc/self/status", "utf8"));
    if (m) return Math.round(Number(m[1]) / 1024);
  } catch {}
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}

export const currentRssMb = () => statusMb("VmRSS");
export const peakRssMb = () => statusMb("VmHWM");

/** Written to a temporary name and renamed, so the file is either whole or absent. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export interface ModelFlags {
  model?: string;
  ctx?: string;
  chatTemplate?: string;
  memBudget?: string;
  kvType?: string;
  /** false with --no-huge-pages. */
  hugePages?: boolean;
}

export function parseKvType(text: string | undefined): "f16" | "q8_0" {
  if (text === undefined || text === "f16") return "f16";
  if (text === "q8_0") return "q8_0";
  throw new ZincError(`--kv-type must be f16 or q8_0, got "${text}"`);
}

/** Resolves --model (alias, pulling it if needed, or path) and opens it; `loadMs` is the open time. */
export async function openFromFlags(flags: ModelFlags): Promise<{ model: LoadedModel; loadMs: number; path: string }> {
  const name = flags.model ?? defaultModelAlias;
  const location = locateModel(name);
  let path = location.path;
  if (location.kind === "alias" && !location.downloaded) path = await pullModel(location.entry);
  const contextLength = flags.ctx ? parseInteger(flags.ctx, "--ctx", 16, 1 << 20) : 4096;
  const memoryBudget = flags.memBudget ? parseSize(flags.memBudget, "--mem-budget") : availableMemory();
  const t0 = performance.now();
  const kvType = parseKvType(flags.kvType);
  const model = openLoadedModel(path, { contextLength, chatTemplateFile: flags.chatTemplate, memoryBudget, kvType, hugePages: flags.hugePages });
  return { model, loadMs: performance.now() - t0, path };
}

export function dim(text: string): string {
  return process.stderr.isTTY ? `\x1b[2m${text}\x1b[0m` : text;
}

/** --draft: "lookup", or a draft model opened with the target's context length (vocabulary checked on use). */
export async function openDraft(flags: { draft?: string; ctx?: string }, target: LoadedModel): Promise<LoadedModel | "lookup" | undefined> {
  if (!flags.draft) return undefined;
  if (flags.draft === "lookup") return "lookup";
  const { model } = await openFromFlags({ model: flags.draft, ctx: String(target.model.contextLength) });
  const a = target.tokenizer.vocab.tokens;
  const b = model.tokenizer.vocab.tokens;
  if (a.length !== b.length) {
    model.close();
    throw new ZincError(`the draft model's vocabulary (${b.length} tokens) is not the model's (${a.length} tokens)`, "use a draft from the same family (zinc models shows the pairings) or --draft lookup");
  }
  return model;
}
