/**
 * What `simclr doctor` reports, the `python -m torch.utils.collect_env` of this project: the
 * engine (libtorch) the addon was built against and loaded, CUDA/cuDNN/NCCL, Gloo, threads,
 * BLAS and oneDNN, the CPU's ISA, Node and its addon ABI; for each missing piece, the line that
 * installs it. It works without a built addon (that is the first thing it checks), so it never
 * imports ../native.js statically.
 */
import { existsSync, readFileSync, realpathSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { addonPath as addonPathOf, ENGINE_RECORD, PACKAGE_ROOT } from "../native/paths.js";

export interface EngineCandidate {
  kind: "libtorch" | "venv" | "system" | "python" | "none";
  prefix: string | null;
  origin: string;
}

export interface DoctorReport {
  node: { version: string; abi: string; napi: string; platform: string };
  addon: { path: string; built: boolean; builtFor: EngineCandidate | null; loadError: string | null };
  /** The engine the install step would pick now (scripts/install.mjs). */
  selected: EngineCandidate | null;
  libtorch: {
    version: string;
    library: string | null;
    cuda: { build: boolean; version: string | null; cudnn: string | null; nccl: boolean; devices: number };
    gloo: boolean;
    threads: number;
    openmp: string | null;
    blas: string | null;
    onednn: string | null;
    cpuCapability: string | null;
  } | null;
  cpu: { model: string; cores: number; avx2: boolean; avx512: boolean; avx512_bf16: boolean; amx: boolean };
  /** What is missing, each with the line that installs it. */
  missing: { what: string; fix: string }[];
}

function cpuFlags(): Set<string> {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf-8")
      .split("\n")
      .find((l) => l.startsWith("flags"));
    return new Set((line?.split(":")[1] ?? "").trim().split(/\s+/));
  } catch {
    return new Set();
  }
}

/** One field of libtorch's build configuration (at::show_config(), as torch.__config__.show()). */
function configField(config: string, pattern: RegExp): string | null {
  return pattern.exec(config)?.[1]?.trim() ?? null;
}

/** "generic" BLAS is the system's libblas.so.3 (Debian's libtorch): name what that resolves to. */
function systemBlas(blas: string | null): string | null {
  if (blas !== "generic") return blas;
  const triplet = { x64: "x86_64", arm64: "aarch64" }[process.arch as string] ?? process.arch;
  try {
    return `generic: libblas.so.3 -> ${realpathSync(`/usr/lib/${triplet}-linux-gnu/libblas.so.3`)}`;
  } catch {
    return blas;
  }
}

function readBuiltFor(): EngineCandidate | null {
  try {
    return JSON.parse(readFileSync(ENGINE_RECORD, "utf-8")) as EngineCandidate;
  } catch {
    return null;
  }
}

function dpkgInstalled(pkg: string): boolean | null {
  try {
    const status = readFileSync("/var/lib/dpkg/status", "utf-8");
    const block = status.split("\n\n").find((b) => b.startsWith(`Package: ${pkg}\n`));
    return block !== undefined && /Status: install ok installed/.test(block);
  } catch {
    return null; // not a Debian system
  }
}

export async function doctor(): Promise<DoctorReport> {
  const addonPath = addonPathOf();
  const flags = cpuFlags();
  const report: DoctorReport = {
    node: {
      version: process.versions.node,
      abi: process.versions.modules,
      napi: process.versions.napi ?? "?",
      platform: `${process.platform}-${process.arch}`,
    },
    addon: { path: addonPath, built: existsSync(addonPath), builtFor: readBuiltFor(), loadError: null },
    selected: null,
    libtorch: null,
    cpu: {
      model: cpus()[0]?.model ?? "?",
      cores: cpus().length,
      avx2: flags.has("avx2"),
      avx512: flags.has("avx512f"),
      avx512_bf16: flags.has("avx512_bf16"),
      amx: flags.has("amx_tile"),
    },
    missing: [],
  };
  const installScript = join(PACKAGE_ROOT, "scripts", "install.mjs");
  if (existsSync(installScript)) {
    const { findEngine } = (await import(pathToFileURL(installScript).href)) as { findEngine: () => EngineCandidate };
    report.selected = findEngine();
  }
  if (!report.addon.built) {
    report.missing.push({
      what: "the native addon is not built",
      fix: "bash scripts/setup.sh   (in a clone; in a project that depends on simclr: npm rebuild simclr)",
    });
    if (report.selected?.kind === "none")
      report.missing.push({
        what: `no libtorch (${report.selected.origin})`,
        fix: "sudo apt-get install --no-install-recommends libtorch-dev libgloo-dev libopenblas0-openmp   (or SIMCLR_ENGINE=pip bash scripts/setup.sh for pip's torch 2.13)",
      });
    return report;
  }
  let native: typeof import("../native.js").native;
  try {
    native = (await import("../native.js")).native;
    await import("../tensor/runtime.js"); // the library's thread default (every core, or SIMCLR_NUM_THREADS)
  } catch (e) {
    report.addon.loadError = e instanceof Error ? e.message : String(e);
    report.missing.push({ what: "the native addon does not load", fix: "bash scripts/setup.sh   (rebuilds it against the engine it finds)" });
    return report;
  }
  const v = native.version();
  const cudaVersion = configField(v.config, /CUDA Runtime ([\d.]+)/) ?? configField(v.config, /CUDA_VERSION=([\d.]+)/);
  report.libtorch = {
    version: v.torch,
    library: v.library,
    cuda: {
      build: cudaVersion !== null,
      version: cudaVersion,
      cudnn: configField(v.config, /CuDNN ([\d.]+)/) ?? configField(v.config, /CUDNN_VERSION=([\d.]+)/),
      nccl: native.distHasNccl(),
      devices: cudaVersion !== null ? native.cudaDeviceCount() : 0,
    },
    gloo: native.distHasGloo(),
    threads: native.getNumThreads(),
    openmp: configField(v.parallel, /(OpenMP \d+)/) ?? configField(v.config, /- (OpenMP \d+)/),
    blas: systemBlas(configField(v.config, /BLAS_INFO=([^,\s]+)/)),
    onednn: configField(v.config, /MKL-DNN (v[\d.]+)/) ?? configField(v.config, /oneDNN (v[\d.]+)/),
    cpuCapability: configField(v.config, /CPU capability usage: (\S+)/),
  };
  if (!report.libtorch.gloo) {
    report.missing.push({
      what: "Gloo (multi-process training on the CPU): the addon was built without Gloo's headers",
      fix: "sudo apt-get install --no-install-recommends libgloo-dev && bash scripts/setup.sh",
    });
  }
  if (report.libtorch.blas?.startsWith("generic") && !/openblas/i.test(report.libtorch.blas) && dpkgInstalled("libopenblas0-openmp") === false) {
    report.missing.push({
      what: "a fast BLAS (Debian's default libblas.so.3 is the reference one)",
      fix: "sudo apt-get install --no-install-recommends libopenblas0-openmp",
    });
  }
  if (!report.libtorch.cuda.build) {
    report.missing.push({
      what: "CUDA (this libtorch is a CPU build; optional)",
      fix: "python3 -m venv .venv-cuda && .venv-cuda/bin/pip install torch==2.14.1 && LIBTORCH=$PWD/.venv-cuda/lib/python3.11/site-packages/torch bash scripts/setup.sh",
    });
  } else if (!report.libtorch.cuda.nccl) {
    report.missing.push({
      what: "NCCL (multi-GPU training): this CUDA build of the addon was made without ProcessGroupNCCL",
      fix: "bash scripts/setup.sh   (with nccl.h findable: pip's nvidia-nccl package ships it)",
    });
  }
  return report;
}

const yes = (b: boolean) => (b ? "yes" : "no");

/** The report as the lines `simclr doctor` prints. */
export function formatDoctor(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`node            ${r.node.version} (${r.node.platform}, module ABI ${r.node.abi}, Node-API ${r.node.napi})`);
  lines.push(`addon           ${r.addon.built ? r.addon.path : "not built"}`);
  if (r.addon.builtFor) lines.push(`built against   ${r.addon.builtFor.origin} [${r.addon.builtFor.kind}]`);
  if (r.selected)
    lines.push(
      `engine now      ${r.selected.origin} [${r.selected.kind}]${r.addon.builtFor && r.selected.prefix !== r.addon.builtFor.prefix ? "  (differs: setup rebuilds)" : ""}`,
    );
  if (r.addon.loadError) lines.push(`load error      ${r.addon.loadError}`);
  const t = r.libtorch;
  if (t) {
    lines.push(`libtorch        ${t.version} at ${t.library ?? "?"}`);
    lines.push(
      `cuda            ${t.cuda.build ? `CUDA ${t.cuda.version}, cuDNN ${t.cuda.cudnn ?? "?"}, NCCL ${yes(t.cuda.nccl)}, ${t.cuda.devices} GPU(s) visible` : "no (CPU build)"}`,
    );
    lines.push(`gloo            ${yes(t.gloo)}`);
    lines.push(`threads         ${t.threads} intra-op (${t.openmp ?? "no OpenMP"})`);
    lines.push(`blas            ${t.blas ?? "?"}`);
    lines.push(`onednn          ${t.onednn ?? "no"}`);
    lines.push(`cpu capability  ${t.cpuCapability ?? "?"} (libtorch's kernels)`);
  }
  const c = r.cpu;
  lines.push(
    `cpu             ${c.model}, ${c.cores} cores: AVX2 ${yes(c.avx2)}, AVX-512 ${yes(c.avx512)}, avx512_bf16 ${yes(c.avx512_bf16)}, AMX ${yes(c.amx)}`,
  );
  if (r.missing.length === 0) lines.push("\nnothing missing");
  else {
    lines.push("\nmissing:");
    for (const m of r.missing) lines.push(`  ${m.what}\n    ${m.fix}`);
  }
  return lines.join("\n");
}
