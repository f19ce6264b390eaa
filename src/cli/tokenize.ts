/** `zinc tokenize`: text → token ids with a model's tokenizer (vocab-only GGUF files work too). */
import type { Command } from "commander";
import { openGguf } from "../gguf/reader.ts";
import { locateModel } from "../registry/registry.ts";
import { Tokenizer } from "../tokenizer/tokenizer.ts";
import { readVocab } from "../tokenizer/vocab.ts";

export function registerTokenize(program: Command): void {
  program
    .command("tokenize")
    .description("print the token ids of a text (from --text or stdin)")
    .requiredOption("-m, --model <file|alias>", "GGUF file (a vocab-only file is enough) or model alias")
    .option("--text <text>", "the text (default: read stdin)")
    .option("--no-bos", "do not add BOS/EOS even if the model asks for them")
    .option("--special", "recognise control tokens written in the text (e.g. <|im_start|>)")
    .option("--json", "print {\"ids\": [...]} (the default output is one id per line)")
    .action(async (flags: { model: string; text?: string; bos: boolean; special?: boolean; json?: boolean }) => {
      const file = openGguf(locateModel(flags.model).path);
      try {
        const tokenizer = new Tokenizer(readVocab(file));
        const text = flags.text ?? (await Bun.stdin.text());
        const ids = tokenizer.encode(text, { addSpecial: flags.bos, parseSpecial: Boolean(flags.special) });
        if (flags.json) console.log(JSON.stringify({ ids }));
        else for (const id of ids) console.log(`${id}\t${JSON.stringify(tokenizer.decode([id], { special: true }))}`);
      } finally {
        file.close();
      }
    });
}
