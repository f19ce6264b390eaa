/**
 * Weights in 2 MiB pages. Decode streams every weight once per token, and a mapping made of 2 MiB pages runs
 * it 30–40% faster than one made of 4 KiB pages (measured: the Qwen2.5-7B-shape Q4_K_M file at 5.1 tok/s
 * with 57% of its mapping in 2 MiB pages, 7.2 tok/s at 100%): the TLB misses 512× less often, and the
 * hardware prefetchers are not stopped at every 4 KiB boundary.
 *
 * Whether a file maps through 2 MiB pages is decided by the page cache, not by us: the kernel maps a 2 MiB
 * folio with one PMD entry, and small folios with 4 KiB entries. Pages read in through this process's faults
 * come in 2 MiB folios (the mapping is advised MADV_HUGEPAGE, adviseHugePages); but a file still cached as it
 * was written (a download, a copy, a quantize) or as another program read it (llama.cpp's WILLNEED readahead)
 * sits in small folios, and stays so for as long as it stays cached. The kernel offers no way to merge a
 * regular file's folios in place (MADV_COLLAPSE needs CONFIG_READ_ONLY_THP_FOR_FS, which distributions leave
 * off), so the remedy is to read the file again: drop its cached pages and fault them back in.
 *
 * That costs one read of the file (about 2.5 s for a 4.4 GiB file on this machine's disk), once — afterwards
 * the cache holds large folios, for every later load too. It is done only when the file is mostly cached
 * already (so looking costs no I/O) and mostly in small pages, when re-reading its first 4 MiB showed that it
 * gives 2 MiB folios, and never in streaming mode.
 */
import { readFileSync } from "node:fs";
import type { GgufFile } from "../gguf/reader.ts";
import { adviseMemory, dropFileCache, madvice, mapFile, residentBytes } from "../native/index.ts";

/** Files below this size fit in the caches well enough that their page size does not show. */
const smallestWorthIt = 32 << 20;
/** Look (which faults the mapping in) only when this share of the file is cached: no I/O to find out. */
const cachedShareToLook = 0.5;
/** Re-read when less than this share of the mapped bytes is in 2 MiB pages. */
const hugeShareWanted = 0.5;

export interface MappedPages {
  /** Bytes of the range mapped in this process. */
  rss: number;
  /** Of those, bytes mapped through 2 MiB page-cache folios (FilePmdMapped). */
  huge: number;
}

/**
 * The mapped and huge-mapped bytes of the mappings inside [address, address + size), from /proc/self/smaps
 * (several entries when advice split the mapping); null where there is no smaps (not Linux).
 */
export function mappedPages(address: number, size: number): MappedPages | null {
  let text: string;
  try {
    text = readFileSync("/proc/self/smaps", "utf8");
  } catch {
    return null;
  }
  const end = address + size;
  let inside = false;
  const pages = { rss: 0, huge: 0 };
  for (const line of text.split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      const start = parseInt(range[1], 16);
      inside = start >= address && start < end;
      continue;
    }
    if (!inside) continue;
    const field = /^(Rss|FilePmdMapped):\s+(\d+) kB/.exec(line);
    if (field) pages[field[1] === "Rss" ? "rss" : "huge"] += Number(field[2]) * 1024;
  }
  return pages;
}

/**
 * Asks for 2 MiB pages on a resident model's mapping (MADV_HUGEPAGE), before its weights are first touched:
 * the readahead for its faults then reads 2 MiB folios throughout (a cold file maps 100% in 2 MiB pages
 * instead of ~96%). Not in streaming mode: there each fault on a small tensor (a norm) would read the 2 MiB
 * around it and keep it mapped, every layer resident at once (measured: Gemma-3-270M under a 64 MiB budget,
 * 70 MB of weights resident instead of 28). Advice only: a kernel without transparent huge pages refuses it.
 */
function adviseHugePages(file: Pick<GgufFile, "address" | "fileSize">): void {
  if (process.platform === "linux" && file.address !== 0) adviseMemory(file.address, file.fileSize, madvice.hugePage);
}

/** The window the probe re-reads: two 2 MiB pages. */
const probeBytes = 4 << 20;

/**
 * Whether reading the file again brings it in 2 MiB folios: its first 4 MiB are dropped and read back through a
 * second mapping, whose own smaps entry then tells. Where it does not (a filesystem without large folios, a
 * tmpfs, whose pages a drop does not release) the whole file would otherwise be read again at every load,
 * for nothing.
 */
function rereadGivesHugePages(file: Pick<GgufFile, "path" | "address" | "fileSize">): boolean {
  // Out of this mapping first: the cache drops only pages no one maps. The drop writes back a file still
  // dirty from being written (a fresh copy) first.
  adviseMemory(file.address, probeBytes, madvice.dontNeed);
  dropFileCache(file.path);
  const probe = mapFile(file.path);
  try {
    adviseHugePages({ address: probe.address, fileSize: probe.size });
    if (adviseMemory(probe.address, probeBytes, madvice.populateRead) !== 0) return false;
    const pages = mappedPages(probe.address, probe.size);
    return pages !== null && pages.huge >= 2 << 20;
  } finally {
    probe.unmap();
  }
}

export interface HugePageReport {
  /** The share of the mapping in 2 MiB pages when looked at (before any re-read); null when not looked. */
  hugeShareBefore: number | null;
  /** The share after the re-read; null when there was none. */
  hugeShareAfter: number | null;
}

/**
 * Makes a resident model's weights map through 2 MiB pages: advises the mapping (before the load touches it),
 * and re-reads the file where the page cache holds it in small folios (see the file comment). Advice and reads
 * only: on a kernel that refuses any of it the mapping works as it was.
 */
export function mapWeightsInHugePages(file: Pick<GgufFile, "path" | "address" | "fileSize">): HugePageReport {
  const report = (hugeShareBefore: number | null, hugeShareAfter: number | null): HugePageReport => ({ hugeShareBefore, hugeShareAfter });
  const { address, fileSize: size } = file;
  if (process.platform !== "linux" || address === 0) return report(null, null);
  adviseHugePages(file);
  if (size < smallestWorthIt) return report(null, null);
  if (residentBytes(address, size) < cachedShareToLook * size) return report(null, null);
  // Fault the whole mapping in from the cache (MADV_POPULATE_READ, Linux 5.14): cheap for cached pages, and it
  // is the work the first token would do anyway. Only then does smaps say how the pages are mapped.
  if (adviseMemory(address, size, madvice.populateRead) !== 0) return report(null, null);
  const before = mappedPages(address, size);
  if (!before || before.rss === 0) return report(null, null);
  const shareBefore = before.huge / before.rss;
  if (shareBefore >= hugeShareWanted || !rereadGivesHugePages(file)) return report(shareBefore, null);
  // Unmap the pages from this process (a read-only private mapping: nothing of ours is lost), drop them from the
  // page cache (pages another process maps stay, and stay small), and fault them back in: the readahead for
  // these faults reads 2 MiB folios.
  adviseMemory(address, size, madvice.dontNeed);
  dropFileCache(file.path);
  adviseMemory(address, size, madvice.populateRead);
  const after = mappedPages(address, size);
  return report(shareBefore, after && after.rss > 0 ? after.huge / after.rss : null);
}

/** The share of a file's mapped bytes in 2 MiB pages now; null when nothing is mapped or there is no smaps. */
export function hugePageShare(file: Pick<GgufFile, "address" | "fileSize">): number | null {
  if (file.address === 0) return null;
  const pages = mappedPages(file.address, file.fileSize);
  return pages && pages.rss > 0 ? Math.round((pages.huge / pages.rss) * 100) / 100 : null;
}
