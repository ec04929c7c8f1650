/**
 * Where this package's own built files are, without loading the addon: `simclr doctor` reads
 * them when the addon is missing or broken, and src/native.ts loads the addon from here.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's root folder (this file is dist/src/native/paths.js in it). */
export const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** The addon to load: SIMCLR_ADDON names another build (scripts/no-gloo-check.sh loads one built without Gloo). */
export function addonPath(): string {
  return process.env.SIMCLR_ADDON || join(PACKAGE_ROOT, "build", "Release", "simclr_native.node");
}

/** The engine the addon was built against, as scripts/install.mjs records it. */
export const ENGINE_RECORD = join(PACKAGE_ROOT, "build", "engine.json");
