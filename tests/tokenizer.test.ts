import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { openGguf } from "../src/gguf/reader.ts";
import { Tokenizer } from "../src/tokenizer/tokenizer.ts";
import { readVocab } from "../src/tokenizer/vocab.ts";
import { sharedDir } from "./helpers.ts";

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
