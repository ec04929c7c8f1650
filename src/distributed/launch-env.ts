/**
 * A worker's place in a distributed job, from the variables torchrun sets (and Slurm or
 * Kubernetes launchers that follow it): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
 * MASTER_ADDR, MASTER_PORT. `simclr pretrain --nproc N` sets the same variables for the
 * workers it starts.
 */
import { ConfigError } from "../errors.js";

export interface LaunchEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** torchrun's agent already serves the store at MASTER_ADDR:MASTER_PORT (TORCHELASTIC_USE_AGENT_STORE). */
  agentStore: boolean;
  /**
   * The launcher this worker must not outlive: `simclr pretrain --nproc` (SIMCLR_LAUNCHER_PID)
   * or torchrun's agent (TORCHELASTIC_RUN_ID); null when the worker was started by hand.
   */
  launcher: "simclr" | "torchrun" | null;
}

/** The job's variables, or null when WORLD_SIZE is unset or 1 (a single process). */
export function launchEnv(env: NodeJS.ProcessEnv = process.env): LaunchEnv | null {
  const text = env.WORLD_SIZE;
  if (text === undefined || text === "" || text === "1") return null;
  const int = (name: string, min: number, fallback?: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === "") {
      if (fallback !== undefined) return fallback;
      throw new ConfigError(`environment: ${name} is not set, but WORLD_SIZE=${text} says this is one process of a distributed job`);
    }
    const value = Number(raw);
    if (!Number.isInteger(value) || value < min) throw new ConfigError(`environment: ${name} must be an integer >= ${min}, got '${raw}'`);
    return value;
  };
  const worldSize = int("WORLD_SIZE", 1);
  const rank = int("RANK", 0);
  if (rank >= worldSize) throw new ConfigError(`environment: RANK ${rank} is not below WORLD_SIZE ${worldSize}`);
  const localWorldSize = int("LOCAL_WORLD_SIZE", 1, worldSize);
  const localRank = int("LOCAL_RANK", 0, rank % localWorldSize);
  if (localRank >= localWorldSize) throw new ConfigError(`environment: LOCAL_RANK ${localRank} is not below LOCAL_WORLD_SIZE ${localWorldSize}`);
  const masterPort = int("MASTER_PORT", 1);
  if (masterPort > 65535) throw new ConfigError(`environment: MASTER_PORT must be at most 65535, got ${masterPort}`);
  const masterAddr = env.MASTER_ADDR;
  if (masterAddr === undefined || masterAddr === "")
    throw new ConfigError(`environment: MASTER_ADDR is not set, but WORLD_SIZE=${text} says this is one process of a distributed job`);
  const launcher = env.SIMCLR_LAUNCHER_PID ? "simclr" : env.TORCHELASTIC_RUN_ID ? "torchrun" : null;
  return { rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, agentStore: env.TORCHELASTIC_USE_AGENT_STORE === "True", launcher };
}
