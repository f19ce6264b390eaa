/** `zinc quantize IN.gguf OUT.gguf TYPE`: rewrite a model's matrices in another type (written atomically). */
import type { Command } from "commander";
import { existsSync, statSync } from "node:fs";
import { ZincError } from "../errors.ts";
import { quantizeModel, quantizeTargets } from "../gguf/quantize.ts";
import { openGguf } from "../gguf/reader.ts";
import { loadKernels } from "../native/index.ts";
import { locateModel } from "../registry/registry.ts";
import { formatBytes } from "./common.ts";

export function registerQuantize(program: Command): void {
  program
    .command("quantize")
    .description(`re-quantize a GGUF model with llama-quantize's type mixes (${Object.keys(quantizeTargets).join(", ")}); written atomically`)
    .argument("<input>", "input GGUF (path or alias)")
    .argument("<output>", "output GGUF path")
    .argument("<type>", "target type")
    .action((input: string, output: string, type: string) => {
      if (!quantizeTargets[type.toUpperCase()]) throw new ZincError(`cannot quantize to "${type}"`, `zinc quantize supports ${Object.keys(quantizeTargets).join(", ")}`);
      const source = openGguf(locateModel(input).path);
      if (existsSync(output) && statSync(output).isDirectory()) throw new ZincError(`${output} is a directory`);
      try {
        const t0 = performance.now();
        const result = quantizeModel(source, output, type, loadKernels(), (done, total) => {
          if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2Kquantizing ${done}/${total}`);
        });
        if (process.stderr.isTTY) process.stderr.write("\n");
        console.log(`wrote ${output}: ${result.tensors} tensors, ${formatBytes(statSync(output).size)} (from ${formatBytes(source.fileSize)}) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
      } finally {
        source.close();
      }
    });
}
