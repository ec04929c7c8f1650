/**
 * The cost of one call of a tiny op (add of two 1-element tensors, result disposed):
 * the binding's overhead, since the kernel itself is nanoseconds. Prints one JSON line.
 *   node dist/bench/op-overhead.js
 */
import { libtorchInfo, ones, setNumThreads, type Tensor } from "../src/index.js";
import { pythonWithTorch, runPytorch } from "./python.js";

setNumThreads(1);
const a = ones([1]);
const run = (n: number) => {
  for (let i = 0; i < n; i++) (a.add(a) as Tensor).dispose();
};
run(20_000);
const n = 200_000;
let best = Infinity;
for (let r = 0; r < 5; r++) {
  const t0 = process.hrtime.bigint();
  run(n);
  best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e3 / n);
}
const python = pythonWithTorch();
const pytorch = python === null ? null : runPytorch(python, "op_overhead.py", []);
console.log(
  JSON.stringify({
    bench: "op-overhead",
    op: "add(1-element) + dispose",
    us_per_call: Number(best.toFixed(3)),
    pytorch_us_per_call: pytorch === null ? null : Number((pytorch.us_per_call as number).toFixed(3)),
    libtorch: libtorchInfo().torch,
  }),
);
