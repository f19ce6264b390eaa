/**
 * Weights in 2 MiB pages (src/model/huge-pages.ts). A copied file stays cached as it was written, in 4 KiB
 * folios, and maps through 4 KiB pages; the load re-reads it so that it maps through 2 MiB pages, and leaves a
 * file alone that already does, or that is not cached (looking would cost a read).
 */
import { describe, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hugePageShare, mapWeightsInHugePages } from "../src/model/huge-pages.ts";
import { dropFileCache, mapFile, residentBytes } from "../src/native/index.ts";
import { runCli, scratchDir, seededRandom, testModel } from "./helpers.ts";

const dir = scratchDir("huge-pages");
// The kernel maps file pages through 2 MiB pages only with transparent huge pages on ("always" or "madvise":
// the mapping is advised MADV_HUGEPAGE). Machines of this project's kind have them on.
const thpOn = !readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").includes("[never]");

function writeRandomFile(path: string, bytes: number): Uint8Array {
  const rand = seededRandom(7);
  const data = new Uint8Array(bytes);
  const words = new Uint32Array(data.buffer);
  for (let i = 0; i < words.length; i++) words[i] = rand() * 2 ** 32;
  writeFileSync(path, data);
  return data;
}


describe("weights mapped in 2 MiB pages", () => {
  test("a cached file in 4 KiB folios is re-read into 2 MiB ones, its bytes unchanged; then left alone", () => {
    expect(thpOn).toBe(true);
    const original = join(dir, "original.bin");
    const data = writeRandomFile(original, 64 << 20);
    const path = join(dir, "weights.bin");
    // A copy (copy_file_range) stays cached as written, in 4 KiB folios, as `cp` leaves a model file.
    copyFileSync(original, path);
    const m = mapFile(path);
    try {
      const file = { path, address: m.address, fileSize: m.size };
      const first = mapWeightsInHugePages(file);
      expect(first.hugeShareBefore).not.toBeNull();
      expect(first.hugeShareBefore!).toBeLessThan(0.1);
      expect(first.hugeShareAfter!).toBeGreaterThanOrEqual(0.9);
      expect(hugePageShare(file)!).toBeGreaterThanOrEqual(0.9);
      expect(Buffer.from(m.bytes).equals(Buffer.from(data))).toBe(true);
      const again = mapWeightsInHugePages(file);
      expect(again.hugeShareBefore!).toBeGreaterThanOrEqual(0.9);
      expect(again.hugeShareAfter).toBeNull();
    } finally {
      m.unmap();
    }
  });

  test("a file that is not cached is not looked at (no read at load), nor one below 32 MiB", () => {
    const path = join(dir, "cold.bin");
    writeRandomFile(path, 40 << 20);
    dropFileCache(path);
    const m = mapFile(path);
    try {
      expect(residentBytes(m.address, m.size)).toBeLessThan(m.size / 2);
      const report = mapWeightsInHugePages({ path, address: m.address, fileSize: m.size });
      expect(report.hugeShareBefore).toBeNull();
      expect(residentBytes(m.address, m.size)).toBeLessThan(m.size / 2);
    } finally {
      m.unmap();
    }
    const small = join(dir, "small.bin");
    writeRandomFile(join(dir, "small-original.bin"), 16 << 20);
    copyFileSync(join(dir, "small-original.bin"), small);
    const s = mapFile(small);
    try {
      expect(mapWeightsInHugePages({ path: small, address: s.address, fileSize: s.size }).hugeShareBefore).toBeNull();
    } finally {
      s.unmap();
    }
  });

  test("zinc bench on a copied model: re-read at load and in 2 MiB pages; with --no-huge-pages as the cache holds it", async () => {
    const model = await testModel("gemma3-270m");
    const bench = (path: string, ...flags: string[]) => {
      const out = runCli(["bench", "-m", path, "-p", "0", "-n", "4", "-r", "1", "--no-record", "--json", ...flags]);
      expect(out.exitCode).toBe(0);
      return JSON.parse(out.stdout);
    };
    const copied = join(dir, "gemma-copy.gguf");
    copyFileSync(model, copied);
    const plain = bench(copied, "--no-huge-pages");
    expect(plain.huge_pages_reread).toBe(false);
    expect(plain.huge_page_share).toBeLessThan(0.1);
    const reread = bench(copied);
    expect(reread.huge_pages_reread).toBe(true);
    expect(reread.huge_page_share).toBeGreaterThanOrEqual(0.9);
  }, 120_000);

  test("a file whose re-read gives no 2 MiB folios (tmpfs) is not read again: the 4 MiB probe tells", () => {
    // tmpfs keeps its pages in small folios here (shmem huge pages off), and a drop does not release them.
    expect(readFileSync("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "utf8")).toContain("[never]");
    const shm = mkdtempSync(join("/dev/shm", "zinc-huge-pages-"));
    try {
      const path = join(shm, "weights.bin");
      writeRandomFile(path, 64 << 20);
      const m = mapFile(path);
      try {
        const report = mapWeightsInHugePages({ path, address: m.address, fileSize: m.size });
        expect(report.hugeShareBefore).toBe(0);
        expect(report.hugeShareAfter).toBeNull();
      } finally {
        m.unmap();
      }
    } finally {
      rmSync(shm, { recursive: true, force: true });
    }
  });
});
