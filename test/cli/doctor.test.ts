/** `simclr doctor`: reports the engine this process really loaded, and works without an addon. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { native } from "../../src/native.js";
import type { DoctorReport } from "../../src/jobs/doctor.js";
import { BUILT_ENGINE, runCli } from "../helpers.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

test("doctor --json names the libtorch this process loads, its build, Gloo and the CPU", async () => {
  const r = await runCli(["doctor", "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as DoctorReport;
  const v = native.version();
  assert.equal(report.libtorch?.version, v.torch);
  assert.equal(report.libtorch?.library, v.library);
  assert.ok(report.libtorch?.library && existsSync(report.libtorch.library), `${report.libtorch?.library} does not exist`);
  assert.equal(report.libtorch?.gloo, native.distHasGloo());
  assert.equal(report.libtorch?.cuda.nccl, native.distHasNccl());
  // the addon was built against the engine the install step recorded, and it is the one loaded
  assert.deepEqual(report.addon.builtFor?.prefix, BUILT_ENGINE.prefix);
  const flags = readFileSync("/proc/cpuinfo", "utf-8");
  assert.equal(report.cpu.avx512, /\bavx512f\b/.test(flags));
  assert.equal(report.cpu.avx2, /\bavx2\b/.test(flags));
  // every missing piece comes with a line to run
  for (const m of report.missing) assert.ok(m.fix.length > 0, m.what);
  assert.equal(
    report.missing.some((m) => m.what.startsWith("Gloo")),
    !native.distHasGloo(),
  );
  const text = await runCli(["doctor"]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`libtorch +${v.torch.replaceAll(".", "\\.")} at `));
});

test("doctor without a built addon says so, with the command that builds it, and exits 1", async () => {
  const pkg = mkdtempSync(join(tmpdir(), "simclr-doctor-"));
  cpSync(join(ROOT, "dist", "src"), join(pkg, "dist", "src"), { recursive: true });
  mkdirSync(join(pkg, "scripts"));
  cpSync(join(ROOT, "scripts", "install.mjs"), join(pkg, "scripts", "install.mjs"));
  cpSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"));
  const r = await promisify(execFile)(process.execPath, [join(pkg, "dist", "src", "cli", "main.js"), "doctor"], { encoding: "utf-8" }).then(
    (x) => ({ code: 0, ...x }),
    (e: { code: number; stdout: string; stderr: string }) => e,
  );
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /addon +not built/);
  assert.match(r.stdout, /bash scripts\/setup\.sh/);
});
