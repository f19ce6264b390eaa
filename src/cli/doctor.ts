/** `zinc doctor`: what this machine offers and which kernel library zinc picks, for bug reports. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { libraryPath } from "../native/ffi.ts";
import { chooseVariant, defaultThreadCount, loadKernels, probeCpu } from "../native/index.ts";

export function registerDoctor(program: Command): void {
  program
    .command("doctor")
    .description("show CPU features, the kernel variants this machine can run and the one zinc chooses")
    .option("--json", "print one JSON object")
    .action((options: { json?: boolean }) => {
      const report = probeCpu();
      const chosen = chooseVariant();
      const kernels = loadKernels({ variant: chosen });
      const variants = report.candidates.map((c) => ({
        name: c.name,
        runnable: c.score > 0,
        built: existsSync(libraryPath(c.name)),
        missing: c.missing,
      }));
      const summary = {
        arch: report.arch,
        features: [...report.features].sort(),
        variants,
        best: report.best,
        chosen,
        forced: Boolean(process.env.ZINC_KERNELS),
        threads: kernels.threads,
        default_threads: defaultThreadCount(),
        library: kernels.libraryPath,
      };
      if (options.json) {
        console.log(JSON.stringify(summary, null, 2));
        return;
      }
      console.log(`arch       ${summary.arch}`);
      console.log(`features   ${summary.features.join(" ")}`);
      console.log("variants");
      for (const v of variants) {
        const state = v.runnable ? "runs here" : `cannot run: lacks ${v.missing.join(", ")}`;
        console.log(`  ${v.name === chosen ? "*" : " "} ${v.name.padEnd(9)} ${state}${v.built ? "" : " (not built)"}`);
      }
      console.log(`chosen     ${chosen}${summary.forced ? " (forced by ZINC_KERNELS)" : " (best for this CPU)"}`);
      console.log(`threads    ${summary.threads}`);
      console.log(`library    ${summary.library}`);
    });
}
