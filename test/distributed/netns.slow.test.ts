/**
 * Two "machines" on one: network namespaces joined by a veth pair, where the host name
 * resolves to 127.0.0.1 (as in many containers). Without GLOO_SOCKET_IFNAME, Gloo would
 * advertise loopback and both ranks would time out; the worker picks the interface that routes
 * to the master instead. `--nnodes 2` must then train the one-process curve. Traffic stays on
 * the namespaces' own addresses. Needs root and iproute2 (skipped with the reason otherwise).
 */
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig, pretrain } from "../../src/index.js";
import { CLI, quiet, lossCurve as losses } from "../helpers.js";
import { syntheticSet, writeSyntheticIdx } from "../synthetic.js";
import { interfaceToward, parseRouteTable } from "../../src/distributed/interface.js";

const tmp = (name: string) => mkdtempSync(join(tmpdir(), `simclr-netns-${name}-`));
const tag = String(process.pid % 10000);
const NS = [`simclr-a-${tag}`, `simclr-b-${tag}`];
const subnet = `10.${200 + (process.pid % 50)}.${process.pid % 250}`;
const ADDR = [`${subnet}.1`, `${subnet}.2`];

function ip(args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Makes the two namespaces and the veth pair; the reason it cannot, or null. */
function setUp(): string | null {
  if (process.getuid?.() !== 0) return "needs root (ip netns)";
  try {
    ip(["netns", "add", NS[0]!]);
    ip(["netns", "add", NS[1]!]);
    ip(["link", "add", `sva${tag}`, "type", "veth", "peer", "name", `svb${tag}`]);
    for (const i of [0, 1]) {
      const dev = i === 0 ? `sva${tag}` : `svb${tag}`;
      ip(["link", "set", dev, "netns", NS[i]!]);
      ip(["-n", NS[i]!, "addr", "add", `${ADDR[i]}/24`, "dev", dev]);
      ip(["-n", NS[i]!, "link", "set", dev, "up"]);
      ip(["-n", NS[i]!, "link", "set", "lo", "up"]);
    }
    return null;
  } catch (e) {
    tearDown();
    return `network namespaces with a veth pair are not available here: ${(e as { stderr?: Buffer }).stderr?.toString().trim() || (e as Error).message}`;
  }
}

function tearDown(): void {
  for (const ns of NS) {
    try {
      ip(["netns", "del", ns]);
    } catch {
      // not made
    }
  }
}

function inNamespace(ns: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn("ip", ["netns", "exec", ns, process.execPath, CLI, ...args], { env: { ...process.env, ...env }, stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (d) => (stderr += d));
    child.on("exit", (code) => resolve({ code, stderr }));
  });
}

describe("interfaceToward (ip route get, in code)", () => {
  const interfaces = {
    lo: [{ address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", internal: true, mac: "", cidr: "127.0.0.1/8" }],
    eth0: [{ address: "192.168.1.5", netmask: "255.255.255.0", family: "IPv4", internal: false, mac: "", cidr: "192.168.1.5/24" }],
    eth1: [{ address: "10.0.0.2", netmask: "255.255.0.0", family: "IPv4", internal: false, mac: "", cidr: "10.0.0.2/16" }],
  } as unknown as NodeJS.Dict<import("node:os").NetworkInterfaceInfo[]>;
  // default via eth0; 172.16.0.0/12 via eth1 (little-endian hex, as the kernel writes it)
  const routes = [
    "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT",
    "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0",
    "eth1\t000010AC\t0100000A\t0003\t0\t0\t0\t0000F0FF\t0\t0\t0",
  ].join("\n");

  test("on-link first, then the longest route, the default last; IPv6 and no route give null", () => {
    assert.deepEqual(parseRouteTable(routes)[1], { iface: "eth1", destination: 0xac100000, mask: 0xfff00000, flags: 3, metric: 0 });
    assert.deepEqual(interfaceToward("10.0.77.1", interfaces, routes), { name: "eth1", address: "10.0.0.2", how: "on-link" });
    assert.deepEqual(interfaceToward("192.168.1.200", interfaces, routes), { name: "eth0", address: "192.168.1.5", how: "on-link" });
    assert.deepEqual(interfaceToward("172.20.3.4", interfaces, routes), { name: "eth1", address: "10.0.0.2", how: "route" });
    assert.deepEqual(interfaceToward("8.8.8.8", interfaces, routes), { name: "eth0", address: "192.168.1.5", how: "route" });
    assert.equal(interfaceToward("8.8.8.8", interfaces, routes.split("\n").slice(0, 1).join("\n")), null);
    assert.equal(interfaceToward("fe80::1", interfaces, routes), null);
    // two default routes: the lower metric wins, as the kernel's; a route that is down or a reject route is never taken
    const two = [
      routes.split("\n")[0],
      "eth1\t00000000\t0100000A\t0003\t0\t0\t100\t00000000\t0\t0\t0",
      "eth0\t00000000\t0101A8C0\t0003\t0\t0\t5\t00000000\t0\t0\t0",
    ].join("\n");
    assert.equal(interfaceToward("8.8.8.8", interfaces, two)?.name, "eth0");
    const down = [
      routes.split("\n")[0],
      "eth1\t00000000\t0100000A\t0002\t0\t0\t0\t00000000\t0\t0\t0",
      "eth0\t00000000\t0101A8C0\t0203\t0\t0\t0\t00000000\t0\t0\t0",
    ].join("\n");
    assert.equal(interfaceToward("8.8.8.8", interfaces, down), null);
  });
});

describe("two hosts in network namespaces", () => {
  const reason = setUp();
  after(tearDown);

  test(
    "--nnodes 2 without GLOO_SOCKET_IFNAME, the host name on 127.0.0.1: the interface toward the master is chosen, and the curve is one process's",
    { skip: reason ?? false },
    async () => {
      const data = writeSyntheticIdx(join(tmp("data"), "synthetic"), 512);
      const set = syntheticSet(data, [
        "train.epochs=1",
        "optim.lr=0.05",
        "monitor.knnEvery=0",
        "train.threads=1",
        "train.memoryFormat=contiguous",
        "dist.timeout=20",
      ]);
      const one = tmp("one");
      await pretrain(one, loadConfig({ set }), { progress: quiet(), handleSignals: false });
      const out = tmp("two");
      const port = String(29000 + (process.pid % 1000));
      const env = { GLOO_SOCKET_IFNAME: "" };
      const node = (rank: number) =>
        inNamespace(
          NS[rank]!,
          [
            "pretrain",
            "--out",
            out,
            "--nproc",
            "1",
            "--nnodes",
            "2",
            "--node-rank",
            String(rank),
            "--master-addr",
            ADDR[0]!,
            "--master-port",
            port,
            ...set.flatMap((s) => ["--set", s]),
          ],
          env,
        );
      const [a, b] = await Promise.all([node(0), node(1)]);
      assert.equal(a.code, 0, a.stderr);
      assert.equal(b.code, 0, b.stderr);
      assert.match(
        a.stderr,
        new RegExp(`rank 0: this host's name '.*' resolves to 127\\.0\\.0\\.1 \\(loopback\\); Gloo uses sva${tag} \\(${ADDR[0]!.replace(/\./g, "\\.")}\\)`),
      );
      assert.match(b.stderr, new RegExp(`rank 1: .*Gloo uses svb${tag} \\(${ADDR[1]!.replace(/\./g, "\\.")}\\), which is on the master's network`));
      // a master no interface routes to (the namespaces have no default route): the cause and the variable, at once
      const lost = await inNamespace(
        NS[1]!,
        [
          "pretrain",
          "--out",
          tmp("lost"),
          "--nproc",
          "1",
          "--nnodes",
          "2",
          "--node-rank",
          "1",
          "--master-addr",
          "203.0.113.5",
          ...set.flatMap((s) => ["--set", s]),
        ],
        env,
      );
      assert.equal(lost.code, 1, lost.stderr);
      assert.match(
        lost.stderr,
        /resolves to 127\.0\.0\.1, which the other machines cannot reach, and no interface routes to the master 203\.0\.113\.5 .*: set GLOO_SOCKET_IFNAME/,
      );
      const [x, y] = [losses(one), losses(out)];
      assert.deepEqual([...y.keys()], [...x.keys()]);
      for (const [step, loss] of x) assert.ok(Math.abs(y.get(step)! - loss) <= 1e-4 * Math.abs(loss), `step ${step}: ${y.get(step)} vs ${loss}`);
    },
  );
});
