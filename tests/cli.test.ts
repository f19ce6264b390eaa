/** The real CLI as a subprocess: chat with KV reuse, run --json, and every user error as one line. */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tensorType } from "../src/gguf/types.ts";
import { writeGguf } from "../src/gguf/writer.ts";
import { runCli, scratchDir, sharedDir, testModel } from "./helpers.ts";

const stories = join(sharedDir, "fixtures", "models", "stories260K.gguf");
let smollm = "";
const env = () => ({ ZINC_MODELS: process.env.ZINC_MODELS });

beforeAll(async () => {
  smollm = await testModel("smollm2-135m");
}, 600_000);

function expectOneLineError(out: { exitCode: number; stderr: string }, pattern: RegExp) {
  expect(out.exitCode).not.toBe(0);
  const lines = out.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
  expect(out.stderr).not.toContain("    at ");
}

describe("zinc chat", () => {
  test("a piped three-turn chat reuses the KV cache: later turns only prefill their new tokens", () => {
    const out = runCli(["chat", "-m", "smollm2-135m", "--temp", "0", "-n", "24"], { stdin: "Hi!\nWhat is 2+2?\nThanks!\n", env: env() });
    expect(out.exitCode).toBe(0);
    const stats = [...out.stderr.matchAll(/\[(\d+) new prompt tokens, (\d+) reused · (\d+) generated/g)].map((m) => m.slice(1).map(Number));
    expect(stats).toHaveLength(3);
    const [first, second, third] = stats;
    expect(first[1]).toBe(0);
    // Turn 2 reuses everything turn 1 left in the cache (prompt + answer) and computes only its own text.
    expect(second[1]).toBe(first[0] + first[2]);
    expect(second[0]).toBeLessThan(30);
    expect(third[1]).toBe(second[1] + second[0] + second[2]);
    expect(out.stdout).toContain("4");
  }, 120_000);

  test("/system, /save and /reset work in a piped session", () => {
    const dir = scratchDir("chat");
    const file = join(dir, "conversation.json");
    const out = runCli(["chat", "-m", smollm, "--temp", "0", "-n", "8"], { stdin: `/system You are terse.\nHello\n/save ${file}\n/reset\n`, env: env() });
    expect(out.exitCode).toBe(0);
    const saved = JSON.parse(readFileSync(file, "utf8"));
    expect(saved.system).toBe("You are terse.");
    expect(saved.messages.map((m: { role: string }) => m.role)).toEqual(["user", "assistant"]);
    expect(out.stderr).toContain("[conversation cleared]");
  }, 120_000);
});

describe("zinc models and zinc pull", () => {
  test("models --json lists every alias with size, quant, arch, download state and fit", () => {
    const out = runCli(["models", "--json", "--ram", "1G"], { env: env() });
    expect(out.exitCode).toBe(0);
    const rows = JSON.parse(out.stdout);
    const aliases = rows.map((r: { alias: string }) => r.alias);
    for (const a of ["qwen-0.5b", "qwen-1.5b", "qwen-3b", "qwen-7b", "llama-1b", "llama-3b", "llama-8b", "mistral-7b", "gemma2-9b", "phi3.5-mini", "phi4-mini", "smollm2-135m", "smollm2-360m", "smollm2-1.7b", "gemma3-270m", "qwen2.5-coder-1.5b", "tinyllama", "stories260k"]) {
      expect(aliases).toContain(a);
    }
    const smol = rows.find((r: { alias: string }) => r.alias === "smollm2-135m");
    expect(smol).toMatchObject({ downloaded: true, quant: "Q4_1", arch: "llama", size_bytes: 98362432, fits_ram: true, default: true });
    expect(smol.path).toBe(smollm);
    expect(rows.find((r: { alias: string }) => r.alias === "qwen-7b").fits_ram).toBe(false);
    // The memory mode: from the file's header when downloaded (exact), from the registry size otherwise.
    expect(smol.memory_mode).toBe("resident");
    expect(rows.find((r: { alias: string }) => r.alias === "qwen-7b").memory_mode).toBe("streaming?");
    const tight = JSON.parse(runCli(["models", "--json", "--ram", "150M"], { env: env() }).stdout);
    expect(tight.find((r: { alias: string }) => r.alias === "smollm2-135m").memory_mode).toBe("streaming");
    expect(rows.find((r: { alias: string }) => r.alias === "qwen2.5-coder-1.5b").draft).toBe("qwen2.5-coder-0.5b");
  });

  test("pull of a downloaded model is quick and says so; an unknown alias suggests names", () => {
    const out = runCli(["pull", "smollm2-135m"], { env: env() });
    expect(out.exitCode).toBe(0);
    expect(out.stdout).toContain(`already downloaded: ${smollm}`);
    const bad = runCli(["pull", "qwen-7"], { env: env() });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/unknown model "qwen-7"; did you mean qwen-7b/);
  });
});

describe("Ctrl-C", () => {
  test("stops the current answer without leaving the chat", async () => {
    const proc = Bun.spawn([process.execPath, join(import.meta.dir, "..", "src", "cli", "main.ts"), "chat", "-m", smollm, "--temp", "0", "-n", "400"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env },
    });
    proc.stdin.write("Write a very long poem about the sea.\n");
    proc.stdin.flush();
    // Wait until the answer is streaming, then interrupt it.
    const reader = proc.stdout.getReader();
    let seen = "";
    while (seen.length < 40) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    proc.kill("SIGINT");
    await Bun.sleep(300);
    proc.stdin.write("What is 2+2?\n");
    proc.stdin.end();
    while (!(await reader.read()).done) {}
    const exitCode = await proc.exited;
    const stderr = await new Response(proc.stderr).text();
    expect(exitCode).toBe(0);
    const stats = stderr.match(/\[\d+ new prompt tokens.*\]/g) ?? [];
    expect(stats).toHaveLength(2);
    expect(stats[0]).toContain("· stopped]");
    expect(stats[1]).not.toContain("stopped");
  }, 120_000);
});

describe("running past the context", () => {
  test("a chat longer than the context drops the oldest turns and keeps going", () => {
    const turns = ["Tell me about cats.", "And dogs?", "What about birds?", "Fish?", "Horses?", "And cows?"];
    const out = runCli(["chat", "-m", smollm, "--temp", "0", "-n", "60", "--ctx", "160"], { stdin: `${turns.join("\n")}\n`, env: env() });
    expect(out.exitCode).toBe(0);
    expect(out.stderr.match(/new prompt tokens/g)).toHaveLength(turns.length);
    expect(out.stderr).toContain("[context full: dropped the");
    for (const m of out.stderr.matchAll(/context (\d+)\/160/g)) expect(Number(m[1])).toBeLessThanOrEqual(160);
  }, 120_000);

  test("one generation longer than the context shifts it and finishes", () => {
    const out = runCli(["run", "-m", stories, "-p", "Once upon a time", "-n", "100", "--ctx", "32", "--json"]);
    expect(out.exitCode).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(r.generated_tokens).toHaveLength(100);
    expect(r.stop_reason).toBe("length");
  }, 60_000);
});

describe("zinc run", () => {
  test("--json has the documented fields with sane values", () => {
    const out = runCli(["run", "-m", smollm, "-p", "The capital of France is", "-n", "12", "--json"], { env: env() });
    expect(out.exitCode).toBe(0);
    const r = JSON.parse(out.stdout);
    expect(typeof r.text).toBe("string");
    expect(r.text.startsWith(" Paris")).toBe(true);
    expect(r.prompt_tokens).toEqual([504, 3575, 282, 4649, 314]);
    expect(r.generated_tokens).toHaveLength(12);
    for (const k of ["load_ms", "prefill_ms", "ttft_ms", "prefill_tok_s", "decode_tok_s"]) expect(r.timings[k]).toBeGreaterThan(0);
    expect(r.timings.ttft_ms).toBeGreaterThanOrEqual(r.timings.prefill_ms);
    expect(r.peak_rss_mb).toBeGreaterThan(50);
    expect(["baseline", "avx2", "avx512", "neon"]).toContain(r.kernel_variant);
    expect(r.threads).toBeGreaterThan(0);
  }, 60_000);

  test("the same seed gives the same sampled text", () => {
    const args = ["run", "-m", stories, "-p", "Once upon a time", "-n", "30", "--temp", "1", "--seed", "7", "--json"];
    const a = JSON.parse(runCli(args).stdout);
    const b = JSON.parse(runCli(args).stdout);
    const c = JSON.parse(runCli([...args.slice(0, -3), "--seed", "8", "--json"]).stdout);
    expect(a.generated_tokens).toEqual(b.generated_tokens);
    expect(c.generated_tokens).not.toEqual(a.generated_tokens);
  }, 60_000);
});

describe("zinc bench", () => {
  test("--json reports pp/tg mean and sd, TTFT, load time, peak RSS, variant and threads", () => {
    const out = runCli(["bench", "-m", stories, "-p", "32", "-n", "16", "-r", "2", "--json"]);
    expect(out.exitCode).toBe(0);
    const r = JSON.parse(out.stdout);
    for (const key of ["pp_tok_s", "pp_tok_s_sd", "tg_tok_s", "tg_tok_s_sd", "ttft_ms", "load_ms", "peak_rss_mb"]) expect(r[key]).toBeGreaterThan(0);
    expect(typeof r.variant).toBe("string");
    expect(r.threads).toBeGreaterThan(0);
    expect(r.speculative).toBeNull();
  });

  test("--depth measures after that many tokens of context, as llama-bench's -d, and is not recorded", () => {
    const results = join(scratchDir("bench-depth"), "results.jsonl");
    const run = (depth: string) => runCli(["bench", "-m", stories, "-p", "8", "-n", "16", "-d", depth, "-r", "1", "--results", results, "--json"]);
    const deep = JSON.parse(run("100").stdout);
    expect(deep.depth).toBe(100);
    expect(deep.context_tokens_at_end).toBe(116);
    expect(deep.tg_tok_s).toBeGreaterThan(0);
    expect(existsSync(results)).toBe(false);
    const plain = JSON.parse(run("0").stdout);
    expect(plain.context_tokens_at_end).toBe(16);
    expect(existsSync(results)).toBe(true);
    const table = runCli(["bench", "-m", stories, "-p", "8", "-n", "16", "-d", "40", "-r", "1", "--no-record"]).stdout;
    expect(table).toContain("| pp8 @ d40 |");
    expect(table).toContain("| tg16 @ d40 |");
    expectOneLineError(runCli(["bench", "-m", stories, "-d", "-3"]), /--depth must be a whole number from 0 to \d+, got "-3"/);
  });

  test("--kernels with two variants gives a list; --draft adds the speculative comparison", () => {
    const both = JSON.parse(runCli(["bench", "-m", stories, "-p", "16", "-n", "8", "-r", "1", "--kernels", "baseline,avx2", "--json"]).stdout);
    expect(both.map((r: { variant: string }) => r.variant)).toEqual(["baseline", "avx2"]);
    const out = runCli(["bench", "-m", stories, "-p", "0", "-n", "24", "-r", "1", "--draft", "lookup", "--prompt", "Once upon a time, there was a cat. Once upon a time, there was a", "--json"]);
    expect(out.exitCode).toBe(0);
    const s = JSON.parse(out.stdout).speculative;
    expect(s.draft).toBe("lookup");
    for (const key of ["plain_tok_s", "draft_tok_s", "speedup"]) expect(s[key]).toBeGreaterThan(0);
    expect(s.acceptance_rate).toBeGreaterThanOrEqual(0);
    expect(s.acceptance_rate).toBeLessThanOrEqual(1);
    expect(s.drafted_per_run).toBeGreaterThan(0);
  });
});

describe("user errors are one line and a non-zero exit", () => {
  const dir = scratchDir("errors");

  test("unknown alias suggests the closest names", () => {
    expectOneLineError(runCli(["run", "-m", "smollm2-135", "-p", "x"]), /unknown model "smollm2-135"; did you mean smollm2-135m/);
  });

  test("missing file", () => {
    expectOneLineError(runCli(["run", "-m", "/nonexistent/model.gguf", "-p", "x"]), /model file \/nonexistent\/model\.gguf does not exist/);
  });

  test("not a GGUF file", () => {
    const path = join(dir, "notes.gguf");
    writeFileSync(path, "these are not weights");
    expectOneLineError(runCli(["run", "-m", path, "-p", "x"]), /malformed GGUF file .*notes\.gguf: magic at byte 0: not a GGUF file/);
  });

  test("unsupported architecture is named", () => {
    const path = join(dir, "mamba.gguf");
    writeGguf(path, { "general.architecture": "mamba", "mamba.block_count": 1 }, [{ name: "x", type: tensorType("F32"), shape: [4], data: new Uint8Array(16) }]);
    expectOneLineError(runCli(["run", "-m", path, "-p", "x"]), /architecture "mamba" .* is not supported/);
  });

  test("unsupported tensor type is named", () => {
    const path = join(dir, "iq2.gguf");
    const iq2 = tensorType("IQ2_XXS");
    writeGguf(
      path,
      {
        "general.architecture": "llama", "llama.block_count": 1, "llama.embedding_length": 256, "llama.attention.head_count": 1,
        "llama.feed_forward_length": 256, "llama.context_length": 64, "tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": ["<unk>", "<s>", "</s>"],
      },
      [{ name: "token_embd.weight", type: iq2, shape: [256, 3], data: new Uint8Array(3 * iq2.blockBytes) }],
    );
    expectOneLineError(runCli(["run", "-m", path, "-p", "x"]), /token_embd\.weight has type IQ2_XXS, which zinc cannot compute with yet/);
  });

  test("a prompt longer than the context", () => {
    expectOneLineError(runCli(["run", "-m", stories, "-p", "Once upon a time ".repeat(20), "--ctx", "16"]), /the prompt is \d+ tokens but the context holds 16/);
  });

  test("bad flag values and unknown flags", () => {
    expectOneLineError(runCli(["run", "-m", stories, "-p", "x", "--temp", "hot"]), /--temp must be a number/);
    expectOneLineError(runCli(["run", "-m", stories, "-p", "x", "-n", "-3"]), /-n must be a whole number/);
    const unknown = runCli(["run", "-m", stories, "-p", "x", "--bogus"]);
    expect(unknown.exitCode).not.toBe(0);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
  });

  test("not enough memory for the context says what is needed and the ways out", () => {
    expectOneLineError(runCli(["run", "-m", smollm, "-p", "x", "--mem-budget", "64M"], { env: env() }), /not enough memory: this model needs \d+ MiB \(weights \d+ MiB \+ KV cache \d+ MiB at --ctx 4096.*budget is 64 MiB; use a smaller quant/);
  });
});
