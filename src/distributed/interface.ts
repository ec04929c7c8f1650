/**
 * Which network interface Gloo should use on a machine of a multi-machine job. Gloo's default
 * device advertises the address this host's name resolves to; in containers that name often
 * resolves to 127.0.0.1, so every rank advertises loopback and the job fails with "Connect
 * timeout [127.0.0.1]:PORT". When GLOO_SOCKET_IFNAME is not set and that is the case, the
 * interface that routes to the master address is chosen, as `ip route get MASTER` would: an
 * interface whose subnet holds the address, else the longest matching route of
 * /proc/net/route (the default route last).
 */
import { readFileSync } from "node:fs";
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";

/** 127.0.0.0/8 and ::1. */
export function isLoopbackAddress(address: string): boolean {
  return address.startsWith("127.") || address === "::1" || address === "localhost";
}

function ipv4ToNumber(address: string): number | null {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0;
}

/** The routes of /proc/net/route: interface, destination and mask as numbers (the file writes them little-endian in hex). */
export function parseRouteTable(text: string): { iface: string; destination: number; mask: number; flags: number; metric: number }[] {
  const swap = (hex: string) => {
    const n = Number.parseInt(hex, 16);
    return (((n & 0xff) << 24) | (((n >>> 8) & 0xff) << 16) | (((n >>> 16) & 0xff) << 8) | ((n >>> 24) & 0xff)) >>> 0;
  };
  return text
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f.length >= 8 && /^[0-9A-Fa-f]{8}$/.test(f[1] ?? "") && /^[0-9A-Fa-f]{8}$/.test(f[7] ?? ""))
    .map((f) => ({
      iface: f[0] as string,
      destination: swap(f[1] as string),
      mask: swap(f[7] as string),
      flags: Number.parseInt(f[3] ?? "0", 16),
      metric: Number(f[6] ?? 0),
    }));
}

export interface ChosenInterface {
  name: string;
  /** The interface's IPv4 address, which Gloo will advertise. */
  address: string;
  /** "on-link" (the subnet holds the target) or "route" (a routing-table entry, perhaps the default). */
  how: "on-link" | "route";
}

/**
 * The interface this host reaches `target` (an IPv4 address) through, or null (IPv6, or no
 * interface or route fits). `interfaces` and `routes` default to the machine's own.
 */
export function interfaceToward(
  target: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
  routes: string | null = readRoutes(),
): ChosenInterface | null {
  const t = ipv4ToNumber(target);
  if (t === null) return null;
  const v4 = (name: string) => (interfaces[name] ?? []).find((a) => a.family === "IPv4" && !a.internal);
  for (const [name, addresses] of Object.entries(interfaces)) {
    for (const a of addresses ?? []) {
      if (a.family !== "IPv4" || a.internal) continue;
      const address = ipv4ToNumber(a.address);
      const mask = ipv4ToNumber(a.netmask);
      if (address !== null && mask !== null && (address & mask) >>> 0 === (t & mask) >>> 0) return { name, address: a.address, how: "on-link" };
    }
  }
  if (routes === null) return null;
  const matching = parseRouteTable(routes)
    // up (RTF_UP 0x1) and not a reject route (RTF_REJECT 0x200), as the kernel chooses
    .filter((r) => (r.flags & 0x1) !== 0 && (r.flags & 0x200) === 0 && (t & r.mask) >>> 0 === r.destination && v4(r.iface) !== undefined)
    .sort((a, b) => b.mask - a.mask || a.metric - b.metric); // the longest prefix first, then the lowest metric; the default route last
  const best = matching[0];
  return best === undefined ? null : { name: best.iface, address: (v4(best.iface) as NetworkInterfaceInfo).address, how: "route" };
}

function readRoutes(): string | null {
  try {
    return readFileSync("/proc/net/route", "utf-8");
  } catch {
    return null;
  }
}
