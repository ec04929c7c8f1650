/**
 * The data sets the project keeps beside the repository, in `../shared/datasets/` (see its
 * README.md): CIFAR-10 as JPEG files in an image-folder layout (`cifar10-jpg.tar.gz`,
 * `cifar10-jpg/{train,test}/<class>/NNNN.jpg`). The tarball is unpacked once into the cache
 * folder and read from there with loadImageFolder.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defaultCacheDir } from "./image-folder.js";
import { DataError } from "../errors.js";
import { isAbandonedTemp, parseTempName, tempPath } from "../io/temp.js";

/** The package root: this file is dist/src/data/shared-datasets.js at run time. */
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

/** Where the project keeps the tarball, beside the repository. */
export const SHARED_CIFAR10_JPG_TARBALL = resolve(packageRoot, "..", "shared", "datasets", "cifar10-jpg.tar.gz");

/** The environment variable that points at the tarball elsewhere. */
export const CIFAR10_JPG_ENV = "SIMCLR_CIFAR10_JPG";

const FOLDER = "cifar10-jpg";
/** Temporary extraction folders: `.cifar10-jpg-extract-<pid>-<random>` inside the cache folder. */

export interface SharedDatasetOptions {
  /** Where the tarball is unpacked. Default: defaultCacheDir(). */
  cacheDir?: string;
  /** The tarball. Default: $SIMCLR_CIFAR10_JPG, else ../shared/datasets/cifar10-jpg.tar.gz. */
  tarball?: string;
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** A complete extraction has both splits (the rename below makes it appear all at once). */
function isExtracted(folder: string): boolean {
  return isDir(join(folder, "train")) && isDir(join(folder, "test"));
}

/** The tarball to use and how it was chosen, or null when the default place has none. */
function findTarball(options: SharedDatasetOptions): { path: string; from: string } | null {
  if (options.tarball !== undefined) return { path: resolve(options.tarball), from: "the tarball option" };
  const env = process.env[CIFAR10_JPG_ENV];
  if (env) return { path: resolve(env), from: `$${CIFAR10_JPG_ENV}` };
  return existsSync(SHARED_CIFAR10_JPG_TARBALL) ? { path: SHARED_CIFAR10_JPG_TARBALL, from: "the shared datasets folder" } : null;
}

/** Removes extraction folders left by processes that died mid-way (their pid is in the name). */
function removeAbandonedExtractions(cacheDir: string): void {
  let names: string[];
  try {
    names = readdirSync(cacheDir);
  } catch {
    return;
  }
  for (const name of names) {
    if (parseTempName(name)?.final === FOLDER && isAbandonedTemp(name)) rmSync(join(cacheDir, name), { recursive: true, force: true });
  }
}

function notFoundMessage(target: string): string {
  return (
    `CIFAR-10 JPEG images not found: ${target} has not been extracted and there is no tarball at ${SHARED_CIFAR10_JPG_TARBALL}. ` +
    `Put cifar10-jpg.tar.gz there (the project's shared/datasets folder beside the repository), ` +
    `or set ${CIFAR10_JPG_ENV} to its path, or unpack it yourself so that ${join(target, "train")} and ${join(target, "test")} exist; ` +
    `or use data.name cifar10 with the binary release (https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz) instead.`
  );
}

/**
 * The folder holding CIFAR-10's `train/` and `test/` image folders (class sub-folders of
 * JPEGs), unpacking the tarball into `<cacheDir>/cifar10-jpg` on first use. The tarball is
 * unpacked into a temporary folder inside cacheDir and renamed into place, so an interrupted
 * extraction is never taken for a complete one, and two processes extracting at once both
 * end up with the same complete folder. An already-extracted folder is used without the
 * tarball.
 */
export function cifar10JpgRoot(options: SharedDatasetOptions = {}): string {
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  const target = join(cacheDir, FOLDER);
  if (isExtracted(target)) return target;

  const tarball = findTarball(options);
  if (tarball === null) throw new DataError(target, notFoundMessage(target));
  if (!existsSync(tarball.path)) {
    throw new DataError(tarball.path, `not found (named by ${tarball.from}). ${notFoundMessage(target)}`);
  }
  if (existsSync(target)) {
    throw new DataError(target, `exists but lacks train/ or test/: not a complete extraction; delete it to unpack ${tarball.path} again`);
  }

  mkdirSync(cacheDir, { recursive: true });
  removeAbandonedExtractions(cacheDir);
  const temp = tempPath(target);
  mkdirSync(temp);
  try {
    try {
      execFileSync("tar", ["xzf", tarball.path, "-C", temp], { stdio: ["ignore", "ignore", "pipe"] });
    } catch (e) {
      const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
      throw new DataError(tarball.path, `tar xzf failed: ${stderr || (e as Error).message}`);
    }
    const extracted = join(temp, FOLDER);
    if (!isExtracted(extracted)) {
      throw new DataError(tarball.path, `does not hold ${FOLDER}/train and ${FOLDER}/test (not the CIFAR-10 JPEG tarball?)`);
    }
    try {
      renameSync(extracted, target);
    } catch (e) {
      // Another process finished first: its copy is as good as ours.
      if (!isExtracted(target)) throw new DataError(target, `cannot move the extracted files into place: ${(e as Error).message}`);
    }
  } finally {
    rmSync(temp, { recursive: true, force: true });
  }
  return target;
}

/** Whether cifar10JpgRoot can succeed: an extracted copy in the cache, or a tarball to unpack. */
export function sharedCifar10JpgAvailable(options: SharedDatasetOptions = {}): boolean {
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  if (isExtracted(join(cacheDir, FOLDER))) return true;
  const tarball = findTarball(options);
  return tarball !== null && existsSync(tarball.path);
}
