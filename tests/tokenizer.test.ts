import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { readVocab } from "../src/tokenizer/vocab.ts";
import { openLoadedModel } from "../src/index.ts";
import { runCli, sharedDir, testModel } from "./helpers.ts";

const vocabDir = join(sharedDir, "fixtures", "vocab");
const vocabFiles = readdirSync(vocabDir).filter((f) => f.endsWith(".gguf"));

function loadTokenizer(path: string): Tokenizer {
  const file = openGguf(path);
  return new Tokenizer(readVocab(file));
}

describe.each(vocabFiles)("llama.cpp test vectors: %s", (name) => {
  const tokenizer = loadTokenizer(join(vocabDir, name));
  const inputs = readFileSync(join(vocabDir, `${name}.inp`), "utf8").split("\n__ggml_vocab_test__\n");
  const outputs = readFileSync(join(vocabDir, `${name}.out`), "utf8").split("\n");
  test(`${inputs.length} inputs tokenize exactly (no BOS, no special parsing)`, () => {
    expect(inputs.length).toBeGreaterThan(10);
    const failures: string[] = [];
    inputs.forEach((input, i) => {
      const want = outputs[i].trim() === "" ? [] : outputs[i].trim().split(/\s+/).map(Number);
      const got = tokenizer.encode(input, { addSpecial: false });
      if (JSON.stringify(got) !== JSON.stringify(want)) failures.push(`#${i} ${JSON.stringify(input)}: want ${want.join(" ")} got ${got.join(" ")}`);
    });
    expect(failures).toEqual([]);
  });
});

describe("real models against llama.cpp", () => {
  const mixed = readFileSync(join(import.meta.dir, "fixtures", "tokenizer", "mixed.txt"), "utf8");
  const reference = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "tokenizer", "mixed.llama-cpp.json"), "utf8"));
  const chat = JSON.parse(readFileSync(join(import.meta.dir, "fixtures", "tokenizer", "chat.llama-cpp.json"), "utf8"));

  test.each(Object.keys(reference.ids))("%s tokenizes English, code, emoji and CJK exactly as llama.cpp", async (alias) => {
    const tokenizer = loadTokenizer(await testModel(alias));
    expect(tokenizer.encode(mixed)).toEqual(reference.ids[alias]);
  }, 600_000);

  test.each(["smollm2-135m", "gemma3-270m"])("%s: chat prompt renders as llama.cpp's chat formatting", async (alias) => {
    const model = openLoadedModel(await testModel(alias), { contextLength: 64 });
    try {
      const { text, ids } = model.chatPrompt(chat.messages);
      expect(text).toBe(chat[alias]);
      // The template's own markers are control tokens; the same characters typed by the user are not.
      const v = model.tokenizer.vocab;
      const controlIds = new Set(v.specialTokens.filter((id) => v.types[id] === 3));
      const controlsInPrompt = ids.filter((id) => controlIds.has(id)).map((id) => v.tokens[id]);
      const templateMarkers = alias === "gemma3-270m" ? ["<start_of_turn>", "<end_of_turn>"] : ["<|im_start|>", "<|im_end|>"];
      const perTurn = alias === "gemma3-270m" ? 3 + 3 + 1 : 4 + 4 + 1; // opening+closing per turn, plus the generation prompt
      expect(controlsInPrompt.filter((t) => templateMarkers.includes(t)).length).toBe(perTurn);
      const userTurn = model.tokenize("And <|im_start|> times <start_of_turn>?", { addSpecial: false });
      expect(userTurn.some((id) => controlIds.has(id))).toBe(false);
    } finally {
      model.close();
    }
  }, 600_000);

  test("Gemma's byte-order-mark tokens keep their BOM when read and when decoded", async () => {
    // A default TextDecoder drops a leading U+FEFF: read that way, three of Gemma's tokens became duplicates of
    // others (and zinc quantize wrote a Gemma file that llama.cpp refuses for its duplicate tokens).
    const tokenizer = loadTokenizer(await testModel("gemma3-270m"));
    const tokens = tokenizer.vocab.tokens;
    expect(new Set(tokens).size).toBe(tokens.length);
    const bom = tokens.indexOf("\uFEFF");
    expect(bom).toBeGreaterThan(0);
    expect(tokenizer.decode([bom])).toBe("\uFEFF");
    const stream = tokenizer.streamDecoder();
    expect(stream.push(bom) + stream.flush()).toBe("\uFEFF");
  }, 600_000);

  test("streaming detokenization never emits broken UTF-8", async () => {
    const tokenizer = loadTokenizer(await testModel("smollm2-135m"));
    const text = "emoji 🤖🎉👍🏽 and 日本語 and naïve";
    const ids = tokenizer.encode(text);
    const stream = tokenizer.streamDecoder();
    const pieces = ids.map((id) => stream.push(id));
    for (const p of pieces) expect(p).not.toContain("\uFFFD");
    expect(pieces.join("") + stream.flush()).toBe(text);
    // At least one token boundary falls inside a multi-byte character, so the stream had to hold bytes back.
    expect(ids.some((id) => tokenizer.pieceBytes(id).length > 0 && new TextDecoder().decode(tokenizer.pieceBytes(id)).includes("\uFFFD"))).toBe(true);
  }, 600_000);

  test("SentencePiece: the space added after BOS is not printed", () => {
    const tokenizer = loadTokenizer(join(sharedDir, "fixtures", "models", "stories260K.gguf"));
    const ids = tokenizer.encode("Once upon a time");
    const stream = tokenizer.streamDecoder({ previous: ids[0] });
    expect(ids.slice(1).map((id) => stream.push(id)).join("")).toBe("Once upon a time");
  });

  test("zinc tokenize works on a vocab-only file and keeps user text plain", () => {
    const vocabOnly = join(vocabDir, "ggml-vocab-qwen2.gguf");
    const plain = runCli(["tokenize", "-m", vocabOnly, "--text", "<|im_start|>hi", "--json"]);
    expect(plain.exitCode).toBe(0);
    const special = runCli(["tokenize", "-m", vocabOnly, "--text", "<|im_start|>hi", "--json", "--special"]);
    const plainIds = JSON.parse(plain.stdout).ids as number[];
    const specialIds = JSON.parse(special.stdout).ids as number[];
    expect(specialIds[0]).toBe(151644);
    expect(plainIds).not.toContain(151644);
    expect(plainIds.length).toBeGreaterThan(specialIds.length);
  });
});

test("SentencePiece word splitting gives the same ids as merging over the whole text", () => {
  const vocab = readVocab(openGguf(join(vocabDir, "ggml-vocab-llama-spm.gguf")));
  const text = readFileSync(join(import.meta.dir, "..", "README.md"), "utf8") + readFileSync(join(import.meta.dir, "fixtures", "tokenizer", "mixed.txt"), "utf8");
  const fast = new Tokenizer(vocab).encode(text);
  const whole = new Tokenizer(vocab, { wordSplit: false }).encode(text);
  expect(fast.length).toBeGreaterThan(1000);
  expect(fast).toEqual(whole);
});
