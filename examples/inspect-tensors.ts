// Read logits and capture intermediate tensors by name — what a kernel bug hunt needs.
//   bun examples/inspect-tensors.ts ../shared/fixtures/models/stories260K.gguf
import { loadModel } from "../src/index.ts";

const model = await loadModel(process.argv[2] ?? "smollm2-135m");
const ids = model.tokenize("Once upon a time");
const captured = new Map<string, Float32Array>();
const logits = model.forward(ids, {
  capture: (name, data) => {
    if (name.startsWith("blk.0.") || name === "result_norm") captured.set(name, data.slice());
  },
});
for (const [name, data] of captured) {
  const rms = Math.sqrt(data.reduce((s, v) => s + v * v, 0) / data.length);
  console.log(`${name.padEnd(22)} ${String(data.length).padStart(7)} values, rms ${rms.toFixed(4)}`);
}
const top = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]).slice(0, 5);
console.log("top next tokens:", top.map((id) => `${JSON.stringify(model.detokenize([id]))} ${logits[id].toFixed(2)}`).join(", "));
model.close();
