/**
 * The memory this process may use: the machine's, or the lowest limit of the cgroups it is in.
 * The pretraining pre-flight (recipe/memory.ts) checks a config against it, and the image cache
 * (image-cache.ts) decides from it whether its file fits in the page cache.
 */
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";

/**
 * The memory limits of the cgroups this process is in, and of their ancestors (a limit set on
 * a parent applies below it), read from `/proc/self/cgroup`: cgroup v2's memory.max and v1's
 * memory.limit_in_bytes. `root` and `procCgroup` are for tests.
 */
export function cgroupMemoryLimits(root = "/sys/fs/cgroup", procCgroup = "/proc/self/cgroup"): number[] {
  let lines: string[];
  try {
    lines = readFileSync(procCgroup, "utf-8").split("\n");
  } catch {
    return [];
  }
  const limits: number[] = [];
  for (const line of lines) {
    const [, controllers, path] = /^\d+:([^:]*):(\/.*)$/.exec(line) ?? [];
    if (path === undefined) continue;
    const v2 = controllers === "";
    if (!v2 && !(controllers ?? "").split(",").includes("memory")) continue;
    const [base, file] = v2 ? [root, "memory.max"] : [`${root}/memory`, "memory.limit_in_bytes"];
    for (let dir = path; ; dir = dir.slice(0, dir.lastIndexOf("/")) || "/") {
      try {
        const value = Number(readFileSync(`${base}${dir === "/" ? "" : dir}/${file}`, "utf-8").trim()); // "max" is NaN: no limit
        if (Number.isFinite(value) && value > 0) limits.push(value);
      } catch {
        // not mounted here, or no such file at this level
      }
      if (dir === "/") break;
    }
  }
  return limits;
}

/** Memory this process may use: the machine's, or its cgroups' lowest limit when lower. */
export function availableMemory(): number {
  return Math.min(totalmem(), ...cgroupMemoryLimits());
}
