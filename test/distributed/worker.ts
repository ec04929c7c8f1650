/**
 * One rank of a distributed test: `node worker.js SCENARIO OUT.json [args]`, with RANK,
 * WORLD_SIZE, MASTER_ADDR and MASTER_PORT set by the test. Writes its result as JSON.
 */
import { writeFileSync } from "node:fs";
import { DataParallel, ProcessGroup, buildModel, launchEnv, loadConfig, noGrad, pretrain, randn, resume, syncBatchNorm, tidy } from "../../src/index.js";
import { gatherScenario, syncBnScenario } from "./scenarios.js";
import { quiet } from "../helpers.js";

const [scenario, out, ...rest] = process.argv.slice(2);
const launch = launchEnv();
if (launch === null || scenario === undefined || out === undefined) throw new Error("usage: RANK=.. WORLD_SIZE=.. node worker.js SCENARIO OUT.json");
const silent = quiet();

if (scenario === "gather" || scenario === "gather-naive" || scenario === "syncbn") {
  const group = ProcessGroup.init({ host: launch.masterAddr, port: launch.masterPort, rank: launch.rank, size: launch.worldSize, timeoutMs: 30_000 });
  const result = scenario === "syncbn" ? syncBnScenario(group) : gatherScenario(group, scenario === "gather-naive");
  writeFileSync(out, JSON.stringify(result));
  group.destroy();
} else if (scenario === "ddp-setup") {
  // rank 1 starts from other weights: the broadcast must replace them; then the overlap hooks
  // must launch every bucket during backward
  const group = ProcessGroup.init({ host: launch.masterAddr, port: launch.masterPort, rank: launch.rank, size: launch.worldSize, timeoutMs: 30_000 });
  const model = buildModel(loadConfig({ set: ["model.width=4"] }), 1).train();
  if (launch.rank === 1) noGrad(() => model.encoder.stateDict().get("conv1.weight")!.add_(1));
  syncBatchNorm(model, group);
  const dp = new DataParallel(model, group, 0.02 * 2 ** 20, true);
  dp.broadcastState();
  const weights = Array.from(model.encoder.stateDict().get("conv1.weight")!.dataAsNumbers());
  const late: number[] = [];
  for (let i = 0; i < 2; i++) {
    tidy(() =>
      model
        .forward(randn([8, 1, 16, 16]))
        .z.pow(2)
        .mean()
        .backward(),
    );
    dp.averageGradients();
    late.push(dp.lateBuckets);
    model.zeroGrad();
  }
  writeFileSync(out, JSON.stringify({ weights, buckets: dp.buckets.length, late }));
  dp.dispose();
  group.destroy();
} else if (scenario === "pretrain" || scenario === "resume") {
  // rest: runDir, stopAfterSteps (0: none), then config overrides
  const [runDir, stop, ...set] = rest;
  if (runDir === undefined || stop === undefined) throw new Error("pretrain needs RUN_DIR STOP_AFTER");
  const options = { launch, progress: silent, handleSignals: false, ...(Number(stop) > 0 ? { stopAfterSteps: Number(stop) } : {}) };
  const result = scenario === "pretrain" ? await pretrain(runDir, loadConfig({ set }), options) : await resume(runDir, options);
  writeFileSync(
    out,
    JSON.stringify({
      status: result.status,
      globalStep: result.globalStep,
      weights: Array.from(result.model.encoder.stateDict().get("conv1.weight")!.dataAsNumbers()),
    }),
  );
} else {
  throw new Error(`unknown scenario ${scenario}`);
}
