/**
 * Writes the bad-input corpus out to look at: `node dist/test/bad-inputs/generate.js DIR`.
 * Each case's input goes to DIR/<id>/ (with the fixtures it copies), and DIR/cases.tsv lists
 * id, group, what and the command or call that is run on it.
 */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { CASES } from "./corpus.js";
import { caseContext, makeFixtures } from "./fixtures.js";

const out = resolve(process.argv[2] ?? "bad-inputs");
const shared = await makeFixtures(join(out, "_fixtures"));
const rows = ["id\tgroup\twhat\truns"];
for (const c of CASES) {
  const made = c.setup(caseContext(join(out, c.id), shared));
  rows.push([c.id, c.group, c.what, "argv" in made ? `simclr ${made.argv.join(" ")}` : "a library call (see corpus.ts)"].join("\t"));
}
writeFileSync(join(out, "cases.tsv"), `${rows.join("\n")}\n`);
console.log(`${CASES.length} cases written to ${out} (cases.tsv lists them)`);
