/**
 * scripts/read-bandwidth.ts: reads a whole model file through the kernel threads and reports its pace; bad
 * input is one line.
 */
import { describe, expect, test } from "bun:test";
import { statSync } from "node:fs";
import { join } from "node:path";
import { repoRoot, scratchDir, sharedDir } from "./helpers.ts";

const script = join(repoRoot, "scripts", "read-bandwidth.ts");
const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const run = (...args: string[]) => Bun.spawnSync([process.execPath, script, ...args], { stderr: "pipe" });

describe("scripts/read-bandwidth.ts", () => {
  test("reads the whole file with the asked threads and passes, and reports GB/s", () => {
    const proc = run(stories, "-t", "1", "--passes", "2", "--json");
    expect(proc.exitCode).toBe(0);
    const r = JSON.parse(proc.stdout.toString());
    expect(r.bytes).toBe(statSync(stories).size);
    expect(r.threads).toBe(1);
    expect(r.passes).toBe(2);
    expect(r.read_gb_s).toBeGreaterThan(0);
    const text = run("--passes", "1", stories);
    expect(text.exitCode).toBe(0);
    expect(text.stdout.toString()).toMatch(/stories260K\.gguf: read at [\d.]+ GB\/s \(best of 1 passes over [\d.]+ MiB, 2 threads, \w+\)/);
  });

  test("a missing file, a bad thread count or pass count, or no file: one line and exit 1", () => {
    const cases: [string[], string][] = [
      [[join(scratchDir("read-bandwidth"), "none.gguf")], "no such file"],
      [[stories, "-t", "x"], "--threads must be a whole number"],
      [[stories, "--passes", "0"], "--passes 0: give a whole number from 1 to 100"],
      [[], "usage:"],
    ];
    for (const [args, message] of cases) {
      const proc = run(...args);
      expect(proc.exitCode).toBe(1);
      const err = proc.stderr.toString();
      expect(err.trim().split("\n")).toHaveLength(1);
      expect(err).toContain(message);
    }
  });
});
