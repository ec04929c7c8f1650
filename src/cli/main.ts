#!/usr/bin/env node
/**
 * The `simclr` command line. `simclr doctor` is dispatched before the other commands are
 * loaded: they load the native addon, and doctor is what says why that fails.
 */
import { runCommand, UsageError } from "./common.js";

const [name, ...rest] = process.argv.slice(2);
if (name === "doctor") {
  const { doctorCommand } = await import("./doctor.js");
  await runCommand(() => doctorCommand(rest));
} else {
  const { COMMANDS } = await import("./commands.js");
  const USAGE = `usage: simclr <command> [options]

commands:
${Object.values(COMMANDS)
  .map((c) => `  ${c.help.split("\n")[0]}`)
  .join("\n")}

simclr <command> --help for details.`;

  await runCommand(async () => {
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      process.stdout.write(`${USAGE}\n`);
      return name === undefined ? 2 : 0;
    }
    const command = COMMANDS[name];
    if (command === undefined) throw new UsageError(`unknown command '${name}'\n${USAGE}`);
    return command.run(rest);
  });
}
