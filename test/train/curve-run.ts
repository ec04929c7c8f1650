/**
 * The run behind test/fixtures/pretrain-curve*.json, as a program (`node curve-run.js ROOT`):
 * libtorch picks its CPU kernels when it loads, so recorded-curve.test.ts starts this with
 * them pinned (PINNED_KERNELS) and the curve is the same on any x86-64 CPU with AVX2.
 */
import { join } from "node:path";
import { loadConfig, pretrain } from "../../src/index.js";
import { quiet } from "../helpers.js";
import { writeSyntheticIdx } from "../synthetic.js";

/**
 * The variables that pin the kernel libraries libtorch calls to code every recent x86-64 server
 * CPU runs alike: OpenBLAS (Debian's engine) to its Haswell kernels, MKL (pip's) to its AVX2 code
 * path with conditional numerical reproducibility, oneDNN (2.x reads DNNL_, 3.x ONEDNN_) to at
 * most AVX-512 without AMX or bf16, ATen's own kernels to AVX2, one thread. Unpinned, an Intel
 * Xeon (AVX-512, AMX; OpenBLAS picks a SkylakeX kernel there) and an AMD EPYC Zen 5 (OpenBLAS:
 * Haswell) gave curves that parted at the fifth digit by step 7. oneDNN is not capped at AVX2:
 * under Debian's libtorch 1.13 that cap crashes its convolution (free(): invalid next size).
 */
export const PINNED_KERNELS = {
  OPENBLAS_CORETYPE: "Haswell",
  MKL_CBWR: "AVX2,STRICT",
  MKL_ENABLE_INSTRUCTIONS: "AVX2",
  DNNL_MAX_CPU_ISA: "AVX512_CORE",
  ONEDNN_MAX_CPU_ISA: "AVX512_CORE",
  ATEN_CPU_CAPABILITY: "avx2",
  OMP_NUM_THREADS: "1",
} as const;

async function main(root: string): Promise<void> {
  const data = writeSyntheticIdx(join(root, "data"), 512);
  const config = loadConfig({
    set: [
      "data.name=mnist",
      `data.path=${data}`,
      "model.width=4",
      "train.batchSize=64",
      "train.epochs=2",
      "train.warmupEpochs=0.5",
      "train.logEvery=1",
      "train.threads=1",
      "monitor.knnSamples=400",
    ],
  });
  await pretrain(join(root, "run"), config, { progress: quiet(), handleSignals: false });
}

if (process.argv[1]?.endsWith("curve-run.js")) await main(process.argv[2]!);
