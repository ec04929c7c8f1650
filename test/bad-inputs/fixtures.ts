/**
 * The shared inputs of the bad-input corpus, made once per run: a synthetic IDX data set, a
 * finished 1-epoch run and a run stopped after 2 steps, and the CaseContext that hands each
 * case its own copies.
 */
import { cpSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadConfig, pretrain } from "../../src/index.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import type { CaseContext } from "./corpus.js";
import { quiet } from "../helpers.js";

export interface SharedFixtures {
  data: string;
  run: string;
  stopped: string;
}

/** Writes the shared fixtures under `root`. */
export async function makeFixtures(root: string): Promise<SharedFixtures> {
  const data = writeSyntheticIdx(join(root, "data"), 256);
  const set = syntheticSet(data, ["train.epochs=1", "monitor.knnSamples=128", "monitor.knnK=20"]);
  const run = join(root, "run");
  (await pretrain(run, loadConfig({ set }), { progress: quiet(), handleSignals: false })).model.dispose();
  const stopped = join(root, "stopped");
  (await pretrain(stopped, loadConfig({ set }), { progress: quiet(), handleSignals: false, stopAfterSteps: 2 })).model.dispose();
  return { data, run, stopped };
}

/** A case's context: its folder, and copies of the fixtures made when asked for. */
export function caseContext(dir: string, shared: SharedFixtures): CaseContext {
  mkdirSync(dir, { recursive: true });
  const copy = (from: string, name: string) => {
    const to = join(dir, name);
    cpSync(from, to, { recursive: true });
    return to;
  };
  return {
    dir,
    data: shared.data,
    run: () => copy(shared.run, "run"),
    stopped: () => copy(shared.stopped, "stopped"),
    dataCopy: () => copy(shared.data, "data"),
  };
}
