/**
 * The project's one error family. Every error it throws on purpose is a SimclrError with a
 * stable `code` (like Node's ERR_* codes) and a message that names the file, key or value
 * at fault. Subclasses exist where a caller needs to tell errors apart:
 *   ArgumentError       a library function or constructor was called with a bad argument
 *   ConfigError         a setting is unknown or out of range (`key`, `source`)
 *   DataError           a data file or folder is missing or malformed (`source`)
 *   CheckpointError     a run directory or checkpoint is missing or does not fit (`path`)
 *   FileWriteError      a file could not be written: disk full, no permission (`path`)
 *   StateDictError      a state dict does not fit a module or optimizer (`key`)
 *   DistributedError    rendezvous or a collective failed, a rank died or disagrees (`rank`)
 *   NonFiniteLossError  training diverged (`step`)
 *   LockedError         another live process writes it: an index (RunLockedError: a run directory)
 *   StoppedError        a signal stopped a job before its work began (`signal`); nothing was kept
 * Library code never names a command-line flag: the CLI translates keys into flags.
 */

export class SimclrError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A function, method or constructor of the library was given an argument of the wrong type,
 * shape or range. The message starts with the function and names the argument
 * ("ntXentLoss: temperature must be > 0, got 0").
 */
export class ArgumentError extends SimclrError {
  constructor(message: string) {
    super("ERR_SIMCLR_ARGUMENT", message);
  }
}

/** A configuration value is unknown, of the wrong type or out of range. */
export class ConfigError extends SimclrError {
  constructor(
    message: string,
    /** The dotted key at fault (e.g. "train.epochs"), when one is. */
    readonly key?: string,
  ) {
    super("ERR_SIMCLR_CONFIG", message);
  }
}

/** A data file or folder (IDX, CIFAR, images, safetensors, a subset file) is missing or malformed. */
export class DataError extends SimclrError {
  constructor(
    /** The file or folder at fault. */
    readonly source: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("ERR_SIMCLR_DATA", `${source}: ${message}`, options);
  }
}

/** A run directory or checkpoint is missing, incomplete, or does not fit the model. */
export class CheckpointError extends SimclrError {
  constructor(
    /** The run directory, checkpoint folder or weights file at fault. */
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("ERR_SIMCLR_CHECKPOINT", message, options);
  }
}

/**
 * A run directory already holds a run and starting afresh was not asked for. `forceBy` names
 * how to ask (the library's option "force"; the CLI says "--force").
 */
export class RunExistsError extends CheckpointError {
  constructor(
    path: string,
    /** What the directory holds (checkpoints, results, ...). */
    readonly entries: string[],
    readonly forceBy = "the force option",
  ) {
    super(
      path,
      `${path} already holds a run (${entries.join(", ")}): resume it, choose another run directory, or replace it (${forceBy} moves the old run aside)`,
    );
  }
}

/**
 * A file could not be written: disk full (ENOSPC), no permission, a missing folder. Writes
 * are atomic, so the file's previous version (if any) is unchanged and no partial file is left.
 */
export class FileWriteError extends SimclrError {
  constructor(
    /** The file that could not be written. */
    readonly path: string,
    cause: unknown,
  ) {
    const e = cause as { code?: string; message?: string };
    const reason =
      e.code === "ENOSPC" ? "the disk is full (ENOSPC)" : e.code === "EDQUOT" ? "the disk quota is exceeded (EDQUOT)" : (e.message ?? String(cause));
    super("ERR_SIMCLR_WRITE", `cannot write ${path}: ${reason}; its previous version, if any, is unchanged`, { cause });
  }
}

/** Another live process holds a lock: a search index's, or (RunLockedError) a run directory's. The lock file names it. */
export class LockedError extends SimclrError {
  constructor(
    /** What is locked: the run directory, study folder or index file. */
    readonly path: string,
    /** The holder, as its lock file records it. */
    readonly holder: { pid: number; host: string; since: string },
    message: string,
    code = "ERR_SIMCLR_LOCKED",
  ) {
    super(code, message);
  }
}

/** Another live process holds the run directory (or ablation study folder). */
export class RunLockedError extends LockedError {
  constructor(path: string, holder: { pid: number; host: string; since: string }, message: string) {
    super(path, holder, message, "ERR_SIMCLR_RUN_LOCKED");
  }
}

/** The training loss became NaN or infinite. */
export class NonFiniteLossError extends SimclrError {
  constructor(
    readonly step: number,
    message: string,
  ) {
    super("ERR_SIMCLR_NON_FINITE_LOSS", message);
  }
}

/**
 * An encoder gave NaN or infinite features (h or z) for `rows` of its inputs: its weights are
 * finite but so large that the forward overflows (a diverged run). Embeddings, indexes and
 * exports refuse them; `allowNonFinite` opts out.
 */
export class NonFiniteFeaturesError extends SimclrError {
  constructor(
    readonly rows: number,
    message: string,
  ) {
    super("ERR_SIMCLR_NON_FINITE_FEATURES", message);
  }
}

/** A state dict does not fit a module or optimizer: missing, unexpected or misshapen keys (`key`: the first at fault). */
export class StateDictError extends SimclrError {
  constructor(
    message: string,
    readonly key?: string,
  ) {
    super("ERR_SIMCLR_STATE_DICT", message);
  }
}

/** A distributed run failed: rendezvous, a collective, a dead or stuck rank, ranks that disagree (`rank`: this process's). */
export class DistributedError extends SimclrError {
  constructor(
    readonly rank: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("ERR_SIMCLR_DISTRIBUTED", message, options);
  }
}

/**
 * SIGINT or SIGTERM (or a launcher gone) stopped a job while it was setting up, before its
 * first step: what it had written is removed (a run directory is as it was). The command
 * exits 130, as for a stop during training.
 */
export class StoppedError extends SimclrError {
  constructor(
    /** What stopped it: "SIGINT", "SIGTERM", or "the launcher is gone". */
    readonly signal: string,
    message: string,
  ) {
    super("ERR_SIMCLR_STOPPED", message);
  }
}
