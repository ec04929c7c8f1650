/** `simclr doctor [--json]`: what this installation runs on, and what is missing. */
import { parseArgs } from "node:util";
import { doctor, formatDoctor } from "../jobs/doctor.js";

export const DOCTOR_HELP = `simclr doctor [--json]

Reports the engine: the libtorch the addon was built against and loaded (version, path), CUDA,
cuDNN and NCCL with the visible GPUs, Gloo, threads and OpenMP, BLAS, oneDNN, the CPU's ISA
(AVX2, AVX-512, avx512_bf16, AMX), Node and its addon ABI; for each missing piece, the line
that installs it. Exit code 1 when the addon is not built or does not load.`;

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { json: { type: "boolean" }, help: { type: "boolean" } } });
  if (values.help) {
    process.stdout.write(`${DOCTOR_HELP}\n`);
    return 0;
  }
  const report = await doctor();
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatDoctor(report)}\n`);
  return report.libtorch === null ? 1 : 0;
}
