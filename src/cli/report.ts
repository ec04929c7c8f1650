/** `simclr report --run DIR --out report.html [--checkpoint FILE] [--bank N] [--map-points N] [--set data.*=...]` */
import { parseArgs } from "node:util";
import { evaluationConfig } from "../jobs/evaluation-config.js";
import { runReport } from "../jobs/run-report.js";
import { UsageError, integerFlag, printResult } from "./common.js";

export const REPORT_HELP = `simclr report --run DIR --out FILE.html [--checkpoint FILE] [--bank N] [--map-points N] [--allow-non-finite] [--set data.*=...]

Writes one self-contained HTML page about the run (it opens offline; nothing is loaded from
the network): training curves from metrics.jsonl, the evaluation table from results.jsonl, a
grid of augmented views, a nearest-neighbour gallery (8 test images and their 8 nearest
training images by cosine similarity of h, among the first --bank training images, 5000 by
default) and a UMAP map of the first --map-points test embeddings (1000) coloured by class.
For several runs side by side: simclr compare --html FILE DIR...`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      run: { type: "string" },
      out: { type: "string" },
      checkpoint: { type: "string" },
      "allow-non-finite": { type: "boolean" },
      bank: { type: "string" },
      "map-points": { type: "string" },
      set: { type: "string", multiple: true },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    process.stdout.write(`${REPORT_HELP}\n`);
    return 0;
  }
  if (!values.run) throw new UsageError("report needs --run DIR (a pretraining run)");
  if (!values.out) throw new UsageError("report needs --out FILE.html");
  const bank = values.bank === undefined ? undefined : integerFlag("bank", values.bank, 0);
  const mapPoints = values["map-points"] === undefined ? undefined : integerFlag("map-points", values["map-points"], 0);
  const config = evaluationConfig(values.run, { set: values.set ?? [], setSource: "--set" });
  const result = await runReport(values.run, config, {
    out: values.out,
    ...(values.checkpoint !== undefined ? { checkpoint: values.checkpoint } : {}),
    allowNonFinite: values["allow-non-finite"] ?? false,
    ...(bank !== undefined ? { bank } : {}),
    ...(mapPoints !== undefined ? { mapPoints } : {}),
  });
  printResult({ out: result.out, bytes: result.bytes, sections: result.sections.join(", "), charts: result.charts });
  return 0;
}
