// Stream a completion from the default model (downloaded on first use).
//   bun examples/generate.ts "Once upon a time"
import { loadModel } from "../src/index.ts";

const model = await loadModel("smollm2-135m");
const prompt = process.argv[2] ?? "The three primary colors are";
process.stdout.write(prompt);
for await (const piece of model.generate(prompt, { maxTokens: 48, temperature: 0 })) process.stdout.write(piece);
process.stdout.write("\n");
model.close();
