/**
 * scripts/compare-llama-cpp.ts against a stand-in llama-bench (a shell script printing llama-bench's JSON with
 * fixed speeds): the rounds alternate, the medians and ratios come from both engines' figures, and generation's
 * GB/s is tok/s times the bytes a token reads (the token embedding left out when the model has its own output),
 * and each round's plain read of the file gives the highest ratio the memory allowed.
 */
import { describe, expect, test } from "bun:test";
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";
import { repoRoot, scratchDir, sharedDir } from "./helpers.ts";

const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
const dir = scratchDir("compare");

/** A llama-bench that logs its arguments and reports 100 tok/s for pp (none with -p 0, as the real one) and 40,
 * 50, 60… for tg, round after round. */
function fakeLlamaBench(): { path: string; log: string } {
  const path = join(dir, "llama-bench");
  const log = join(dir, "calls.log");
  const state = join(dir, "round");
  writeFileSync(state, "0");
  writeFileSync(
    path,
    `#!/bin/bash
echo "$@" >> ${log}
r=$(cat ${state}); echo $((r + 1)) > ${state}
tg='{"n_prompt": 0, "n_gen": 8, "avg_ts": '$((40 + 10 * r))'}'
if [[ " $* " == *" -p 0 "* ]]; then echo "[$tg]"; else echo '[{"n_prompt": 16, "n_gen": 0, "avg_ts": 100}, '"$tg]"; fi
`,
  );
  chmodSync(path, 0o755);
  return { path, log };
}

/** The compare script with these arguments, its results file in the scratch directory, stderr captured. */
function runCompare(args: string[]) {
  return Bun.spawnSync([process.execPath, join(repoRoot, "scripts", "compare-llama-cpp.ts"), ...args], {
    env: { ...process.env, ZINC_RESULTS: join(dir, "results.jsonl") },
    stderr: "pipe",
  });
}

describe("scripts/compare-llama-cpp.ts", () => {
  test("alternates both engines, prints medians, ratios and generation's GB/s of weights", () => {
    const fake = fakeLlamaBench();
    const proc = runCompare(["--llama-bench", fake.path, "-m", stories, "-p", "16", "-n", "8", "--rounds", "3"]);
    const out = proc.stdout.toString();
    expect(proc.exitCode).toBe(0);
    // One llama-bench run per round, each of one repetition on the asked file and threads.
    const calls = readFileSync(fake.log, "utf8").trim().split("\n");
    expect(calls).toHaveLength(3);
    for (const c of calls) expect(c).toBe(`-m ${stories} -t 2 -p 16 -n 8 -r 1 -o json`);
    expect(proc.stderr.toString().match(/^round \d\/3: /gm)).toHaveLength(3);

    const file = openGguf(stories);
    const tensors = file.tensors.map((t) => ({ name: t.name, bytes: t.byteSize }));
    file.close();
    // stories260K has its own output matrix, so the token embedding is read a row at a time, not whole.
    expect(tensors.some((t) => t.name === "output.weight")).toBe(true);
    const perToken = tensors.filter((t) => t.name !== "token_embd.weight").reduce((n, t) => n + t.bytes, 0);
    expect(out).toContain(`a generated token reads ${(perToken / 2 ** 20).toFixed(1)} MiB of weights`);

    const cells = (test: string) => out.split("\n").find((l) => l.startsWith(`| ${test} |`))!.split("|").slice(2, -1).map((c) => c.trim());
    const [llamaPp, zincPp, ratioPp, gbPpLlama, gbPpZinc] = cells("pp16");
    expect(Number(llamaPp)).toBe(100);
    expect(Number(ratioPp.replace("×", ""))).toBeCloseTo(Number(zincPp) / 100, 2);
    expect([gbPpLlama, gbPpZinc]).toEqual(["", ""]);
    const [llamaTg, zincTg, ratioTg, gbTgLlama, gbTgZinc] = cells("tg8");
    expect(Number(llamaTg)).toBe(50); // the median of 40, 50, 60
    expect(Number(ratioTg.replace("×", ""))).toBeCloseTo(Number(zincTg) / 50, 2);
    expect(Number(gbTgLlama)).toBeCloseTo((50 * perToken) / 1e9, 1);
    expect(Number(gbTgZinc)).toBeCloseTo((Number(zincTg) * perToken) / 1e9, 1);

    // Each round read the file too; the highest ratio the memory allowed is the median over rounds of that
    // round's read GB/s over llama.cpp's GB/s (tg 40, 50, 60 in rounds 1–3).
    const reads = [...proc.stderr.toString().matchAll(/file read at ([\d.]+) GB\/s/g)].map((m) => Number(m[1]));
    expect(reads).toHaveLength(3);
    for (const r of reads) expect(r).toBeGreaterThan(0);
    const allowed = reads.map((r, i) => r / (((40 + 10 * i) * perToken) / 1e9)).sort((a, b) => a - b)[1];
    expect(cells("tg8")[5]).toBe(`${allowed.toFixed(2)}×`);
    expect(cells("pp16")[5]).toBe("");
    expect(out).toContain(`the file read at ${[...reads].sort((a, b) => a - b)[1]} GB/s`);
  });

  test("-d runs both engines after a prefill of that many tokens", () => {
    const fake = fakeLlamaBench();
    const proc = runCompare(["--llama-bench", fake.path, "-m", stories, "-p", "16", "-n", "8", "-d", "32", "--rounds", "1"]);
    const out = proc.stdout.toString();
    expect(proc.exitCode).toBe(0);
    expect(readFileSync(fake.log, "utf8").trim().split("\n").at(-1)).toBe(`-m ${stories} -t 2 -p 16 -n 8 -d 32 -r 1 -o json`);
    const row = out.split("\n").find((l) => l.startsWith("| tg8 @ d32 |"));
    expect(row).toBeDefined();
    // The memory's bound counts the weights alone, which a token at a depth is not limited to: left blank.
    expect(row!.split("|").slice(2, -1).map((c) => c.trim())[5]).toBe("");
    expect(out).toContain("| pp16 @ d32 |");
  });

  test("-p 0 measures generation alone: the round lines and the table name only tg", () => {
    const fake = fakeLlamaBench();
    const proc = runCompare(["--llama-bench", fake.path, "-m", stories, "-p", "0", "-n", "8", "--rounds", "2"]);
    const out = proc.stdout.toString();
    expect(proc.exitCode).toBe(0);
    const rounds = proc.stderr.toString().split("\n").filter((l) => l.startsWith("round "));
    expect(rounds).toHaveLength(2);
    for (const r of rounds) expect(r).toMatch(/^round \d\/2: llama\.cpp tg [\d.]+ · zinc \(\w+\) tg [\d.]+ · file read at [\d.]+ GB\/s$/);
    expect(out).toContain("| tg8 |");
    expect(out).not.toContain("| pp");
  });

  test("a failing llama-bench or a missing model stops it with one line", () => {
    const path = join(dir, "failing-llama-bench");
    writeFileSync(path, "#!/bin/bash\nexit 3\n");
    chmodSync(path, 0o755);
    const proc = runCompare(["--llama-bench", path, "-m", stories, "--rounds", "1"]);
    expect(proc.exitCode).toBe(1);
    expect(proc.stderr.toString()).toBe("compare-llama-cpp: llama-bench failed (exit 3): run it alone to see why\n");
    const missing = runCompare(["--llama-bench", path, "-m", join(dir, "none.gguf")]);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr.toString().trim().split("\n")).toHaveLength(1);
    expect(missing.stderr.toString()).toContain("none.gguf");
  });
});
