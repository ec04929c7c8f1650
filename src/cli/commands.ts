/** The sub-commands of `simclr`, one per file in src/cli (but doctor: see main.ts). */
import { ablateCommand, ABLATE_HELP } from "./ablate.js";
import { augmentPreviewCommand, PREVIEW_HELP } from "./augment-preview.js";
import { benchCommand, BENCH_HELP } from "./bench.js";
import { cacheCommand, CACHE_HELP } from "./cache.js";
import { configCommand, CONFIG_HELP } from "./config.js";
import { evalCommand, EVAL_HELP } from "./eval.js";
import { compareCommand, COMPARE_HELP } from "./compare.js";
import { finetuneCommand, FINETUNE_HELP } from "./finetune.js";
import { supervisedCommand, SUPERVISED_HELP } from "./supervised.js";
import { pretrainCommand, PRETRAIN_HELP } from "./pretrain.js";
import { distillCommand, DISTILL_HELP } from "./distill.js";
import { exportCommand, EXPORT_HELP } from "./export.js";
import { embedCommand, EMBED_HELP } from "./embed.js";
import { importCommand, IMPORT_HELP } from "./import.js";
import { reportCommand, REPORT_HELP } from "./report.js";
import { indexCommand, INDEX_HELP } from "./index-images.js";
import { serveCommand, SERVE_HELP } from "./serve.js";
import { DOCTOR_HELP, doctorCommand } from "./doctor.js";
import { duplicatesCommand, DUPLICATES_HELP, searchCommand, SEARCH_HELP } from "./search.js";

export const COMMANDS: Record<string, { run: (argv: string[]) => Promise<number>; help: string }> = {
  pretrain: { run: pretrainCommand, help: PRETRAIN_HELP },
  distill: { run: distillCommand, help: DISTILL_HELP },
  bench: { run: benchCommand, help: BENCH_HELP },
  ablate: { run: ablateCommand, help: ABLATE_HELP },
  "augment-preview": { run: augmentPreviewCommand, help: PREVIEW_HELP },
  eval: { run: evalCommand, help: EVAL_HELP },
  finetune: { run: finetuneCommand, help: FINETUNE_HELP },
  supervised: { run: supervisedCommand, help: SUPERVISED_HELP },
  compare: { run: compareCommand, help: COMPARE_HELP },
  export: { run: exportCommand, help: EXPORT_HELP },
  embed: { run: embedCommand, help: EMBED_HELP },
  import: { run: importCommand, help: IMPORT_HELP },
  report: { run: reportCommand, help: REPORT_HELP },
  index: { run: indexCommand, help: INDEX_HELP },
  search: { run: searchCommand, help: SEARCH_HELP },
  duplicates: { run: duplicatesCommand, help: DUPLICATES_HELP },
  serve: { run: serveCommand, help: SERVE_HELP },
  cache: { run: cacheCommand, help: CACHE_HELP },
  config: { run: configCommand, help: CONFIG_HELP },
  doctor: { run: doctorCommand, help: DOCTOR_HELP },
};
