/**
 * What every job that runs as one rank of a data-parallel job sets up the same way: its
 * intra-op threads, its device, and its process group (pretrain and bench share these).
 */
import { ConfigError } from "../errors.js";
import { createHash } from "node:crypto";
import { lookup } from "node:dns/promises";
import { availableParallelism, hostname } from "node:os";
import { configToYaml } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { interfaceToward, isLoopbackAddress } from "../distributed/interface.js";
import type { LaunchEnv } from "../distributed/launch-env.js";
import { ProcessGroup, type Backend } from "../distributed/process-group.js";
import { DistributedError } from "../errors.js";
import { tensor } from "../tensor/factory.js";
import { setNumThreads } from "../tensor/runtime.js";
import { tidy } from "../tensor/scope.js";

/** Intra-op threads: as configured, else the cores shared among this machine's processes. */
/** More intra-op threads than this multiple of the cores only oversubscribes them (100,000 hung a machine). */
export const MAX_THREADS_PER_CORE = 4;

/** train.threads, checked against the machine: a ConfigError naming the key beyond 4 x the cores. */
export function checkedThreads(config: Config): number | null {
  const threads = config.train.threads;
  const cap = MAX_THREADS_PER_CORE * availableParallelism();
  if (threads !== null && threads > cap) {
    throw new ConfigError(
      `train.threads is ${threads}, more than ${MAX_THREADS_PER_CORE} per core of this machine's ${availableParallelism()} (at most ${cap})`,
      "train.threads",
    );
  }
  return threads;
}

export function setWorkerThreads(config: Config, launch: LaunchEnv | null): void {
  const localWorkers = launch?.localWorldSize ?? 1;
  const threads = checkedThreads(config);
  if (threads !== null) setNumThreads(threads);
  else if (localWorkers > 1) setNumThreads(Math.max(1, Math.floor(availableParallelism() / localWorkers)));
}

/** With several processes on a machine, "cuda" means this process's GPU (LOCAL_RANK). */
export function workerDevice(config: Config, launch: LaunchEnv | null): string {
  return launch !== null && config.train.device === "cuda" ? `cuda:${launch.localRank}` : config.train.device;
}

/**
 * Before a multi-machine Gloo job joins: when GLOO_SOCKET_IFNAME is not set, this host's name
 * resolves to loopback and the master's address does not, Gloo would advertise 127.0.0.1 to
 * the other machines. The interface that routes to the master is chosen instead (set in
 * GLOO_SOCKET_IFNAME for this process, and said on stderr); when none does, a
 * DistributedError names the cause and the variable. Returns the interface chosen, or null.
 */
export async function chooseGlooInterface(config: Config, launch: LaunchEnv, device: string, note: (line: string) => void): Promise<string | null> {
  const backend = config.dist.backend === "auto" ? (device.startsWith("cuda") ? "nccl" : "gloo") : config.dist.backend;
  if (backend !== "gloo" || (process.env.GLOO_SOCKET_IFNAME ?? "") !== "") return null;
  const resolve = async (name: string) => {
    try {
      return (await lookup(name, { family: 4 })).address;
    } catch {
      return null;
    }
  };
  const master = await resolve(launch.masterAddr);
  if (master === null || isLoopbackAddress(master)) return null; // one machine, or the rendezvous will name the address
  const host = hostname();
  const self = await resolve(host);
  if (self !== null && !isLoopbackAddress(self)) return null; // Gloo's default device advertises a reachable address
  const chosen = interfaceToward(master);
  if (chosen === null) {
    throw new DistributedError(
      launch.rank,
      `rank ${launch.rank}: this host's name '${host}' resolves to ${self ?? "nothing"}, which the other machines cannot reach, and no interface routes to the master ${launch.masterAddr} (${master}): set GLOO_SOCKET_IFNAME to the interface of the network the machines share (ip -br addr lists them)`,
    );
  }
  process.env.GLOO_SOCKET_IFNAME = chosen.name;
  note(
    `rank ${launch.rank}: this host's name '${host}' resolves to ${self ?? "nothing"} (loopback); Gloo uses ${chosen.name} (${chosen.address}), which ${chosen.how === "on-link" ? "is on the master's network" : "routes"} to ${launch.masterAddr} (set GLOO_SOCKET_IFNAME to choose another)`,
  );
  return chosen.name;
}

/** Joins the job's process group and checks that every rank resolved the same config. */
export function joinGroup(config: Config, launch: LaunchEnv, device: string): ProcessGroup {
  const backend: Backend = config.dist.backend === "auto" ? (device.startsWith("cuda") ? "nccl" : "gloo") : config.dist.backend;
  // A torchrun restart is a new attempt: its keys must not meet the last attempt's.
  const attempt = process.env.TORCHELASTIC_RESTART_COUNT ?? "0";
  const group = ProcessGroup.init({
    host: launch.masterAddr,
    port: launch.masterPort,
    rank: launch.rank,
    size: launch.worldSize,
    timeoutMs: config.dist.timeout * 1000,
    storeServer: launch.rank === 0 && !launch.agentStore,
    backend,
    device: backend === "nccl" ? device : "cpu",
    prefix: `simclr_pg/attempt_${attempt}`,
  });
  try {
    // Rank 0 compares a hash of every rank's resolved config with its own.
    const hash = Number.parseInt(createHash("sha256").update(configToYaml(config)).digest("hex").slice(0, 12), 16);
    const all = tidy(() => Array.from(group.allGather(tensor([hash], { dtype: "float64", device: group.device })).dataAsNumbers()));
    const differing = all.flatMap((h, r) => (h !== all[0] ? [r] : []));
    if (differing.length > 0) {
      throw new DistributedError(
        launch.rank,
        `rank(s) ${differing.join(", ")} resolved a different config from rank 0's: start every rank with the same config file and overrides`,
      );
    }
  } catch (e) {
    group.destroy();
    throw e;
  }
  return group;
}
