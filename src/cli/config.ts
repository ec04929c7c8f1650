/** `simclr config [--config FILE] [--set key=value ...]`: prints the resolved config and every key. */
import { parseArgs } from "node:util";
import { SCHEMA } from "../config/schema.js";
import { CONFIG_OPTIONS, printConfig, resolveConfig } from "./common.js";

export const CONFIG_HELP = `simclr config [--config FILE.yaml] [--set key=value ...] [--keys]

Prints the resolved configuration as YAML (what pretrain would use), or with --keys every
key with its default and meaning.`;

export async function configCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...CONFIG_OPTIONS, keys: { type: "boolean" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${CONFIG_HELP}\n`);
    return 0;
  }
  if (values.keys) {
    for (const [key, field] of Object.entries(SCHEMA)) {
      const choices = "choices" in field ? ` (${field.choices.join(" | ")})` : "";
      process.stdout.write(`${key} = ${JSON.stringify(field.default)}${choices}\n    ${field.doc}\n`);
    }
    return 0;
  }
  printConfig(resolveConfig(values), process.stdout);
  return 0;
}
