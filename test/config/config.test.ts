/**
 * Configuration: schema defaults (the demo's settings), YAML files, --set overrides, and
 * errors that name the key and the source.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { CONFIG_SCHEMA, ConfigError, configFromYaml, configToYaml, loadConfig, parseOverride, type Config } from "../../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "simclr-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

let fileCount = 0;
function yamlFile(text: string): string {
  const path = join(dir, `config-${fileCount++}.yaml`);
  writeFileSync(path, text);
  return path;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** fn throws a ConfigError whose message matches `pattern`. */
function throwsConfig(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${String(e)}`);
    assert.equal(e.name, "ConfigError");
    assert.match(e.message, pattern);
    return true;
  });
}

describe("loadConfig", () => {
  test("defaults are the demo's settings", () => {
    const c = loadConfig();
    assert.equal(c.data.name, "fashion-mnist");
    assert.equal(c.data.path, null);
    assert.equal(c.data.limit, null);
    assert.equal(c.model.arch, "resnet18");
    assert.equal(c.model.width, 16);
    assert.equal(c.model.cifarStem, true);
    assert.equal(c.head.layers, 2);
    assert.equal(c.head.outDim, 128);
    assert.equal(c.train.batchSize, 256);
    assert.equal(c.loss.temperature, 0.5);
    assert.equal(c.augment.preset, "grayscale");
    assert.equal(c.augment.size, null);
    assert.equal(c.optim.name, "lars");
    assert.equal(c.optim.lrScaling, "linear");
    // every key of the schema is present, with its default, in its section
    const sections = Object.keys(c).sort();
    assert.deepEqual(sections, ["augment", "data", "dist", "distill", "eval", "finetune", "head", "loss", "model", "monitor", "optim", "supervised", "train"]);
    for (const [key, field] of Object.entries(CONFIG_SCHEMA)) {
      const [section, name] = key.split(".") as [keyof Config, string];
      assert.equal((c[section] as Record<string, unknown>)[name], field.default, key);
    }
    const count = Object.values(c).reduce((a, s) => a + Object.keys(s).length, 0);
    assert.equal(count, Object.keys(CONFIG_SCHEMA).length);
  });

  test("a YAML file overrides only its values", () => {
    const file = yamlFile(
      [
        "model:",
        "  width: 32",
        "  cifarStem: false",
        "train:",
        "  batchSize: 128",
        "  warmupEpochs: 0.5",
        "optim:",
        "  name: adamw",
        "  lr: 1.0e-3",
        "data:",
        "  limit: 1000",
        "  path: /tmp/data",
        "",
      ].join("\n"),
    );
    const c = loadConfig({ file });
    assert.equal(c.model.width, 32);
    assert.equal(c.model.cifarStem, false);
    assert.equal(c.train.batchSize, 128);
    assert.equal(c.train.warmupEpochs, 0.5);
    assert.equal(c.optim.name, "adamw");
    assert.equal(c.optim.lr, 0.001);
    assert.equal(c.data.limit, 1000);
    assert.equal(c.data.path, "/tmp/data");
    // untouched keys keep their defaults
    assert.equal(c.model.arch, "resnet18");
    assert.equal(c.loss.temperature, 0.5);
    assert.equal(c.train.epochs, CONFIG_SCHEMA["train.epochs"].default);
    // an empty file is all defaults
    assert.deepEqual(loadConfig({ file: yamlFile("") }), loadConfig());
    assert.deepEqual(loadConfig({ file: yamlFile("# nothing\n") }), loadConfig());
  });

  test("--set wins over the file and parses numbers, booleans and null", () => {
    const file = yamlFile("model:\n  width: 32\ndata:\n  limit: 500\noptim:\n  lr: 2\n");
    const c = loadConfig({
      file,
      set: [
        "model.width=8",
        "model.cifarStem=false",
        "data.limit=null",
        "optim.lr=0.25",
        "optim.weightDecay=1e-4",
        "train.device=cuda:0",
        "loss.temperature=.1",
        "augment.size=40",
      ],
    });
    assert.equal(c.model.width, 8);
    assert.equal(c.model.cifarStem, false);
    assert.equal(c.data.limit, null);
    assert.equal(c.optim.lr, 0.25);
    assert.equal(c.optim.weightDecay, 1e-4);
    assert.equal(c.train.device, "cuda:0");
    assert.equal(c.loss.temperature, 0.1);
    assert.equal(c.augment.size, 40);
    assert.equal(typeof c.model.width, "number");
    // later --set wins over earlier
    assert.equal(loadConfig({ set: ["model.width=8", "model.width=4"] }).model.width, 4);
    // a string setting keeps text that YAML would read as another type
    assert.equal(loadConfig({ set: ["train.device=0"] }).train.device, "0");
    assert.equal(loadConfig({ set: ["data.path=/data/a: b"] }).data.path, "/data/a: b");
    // an empty value is null
    assert.equal(loadConfig({ set: ["data.limit=5", "data.limit="] }).data.limit, null);
    assert.deepEqual(parseOverride("model.cifarStem=true"), ["model.cifarStem", true]);
    assert.deepEqual(parseOverride("train.epochs=3"), ["train.epochs", 3]);
  });

  test("base values come before the file and --set", () => {
    const file = yamlFile("model:\n  width: 32\n");
    const base = loadConfig({ set: ["model.width=64", "train.epochs=9"] });
    const c = loadConfig({ base, file, set: ["train.batchSize=64"] });
    assert.equal(c.model.width, 32);
    assert.equal(c.train.epochs, 9);
    assert.equal(c.train.batchSize, 64);
    throwsConfig(() => loadConfig({ base: { ...base, train: { ...base.train, epochs: 0 } } }), /^saved config: train\.epochs must be >= 1, got 0$/);
  });
});

describe("config errors name the key and the source", () => {
  test("unknown keys: in YAML and in --set, with the section's known keys", () => {
    const file = yamlFile("model:\n  depth: 18\n");
    throwsConfig(
      () => loadConfig({ file }),
      new RegExp(`^${escape(file)}: unknown key 'model\\.depth' \\(known in model: arch, width, widthMult, cifarStem, zeroInitResidual, syncBN, init\\)$`),
    );
    throwsConfig(
      () => loadConfig({ setSource: "--set", set: ["optim.learningRate=0.1"] }),
      /^--set: unknown key 'optim\.learningRate' \(known in optim: name, lr, lrScaling, weightDecay, momentum\)$/,
    );
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["head.dim=64"] }), /^--set: unknown key 'head\.dim' \(known in head: layers, outDim\)$/);
    const section = yamlFile("optimizer:\n  lr: 1\n");
    throwsConfig(
      () => loadConfig({ file: section }),
      /unknown key 'optimizer\.lr' \(known sections: data, model, head, augment, loss, optim, train, monitor, dist, eval, finetune, supervised, distill\)$/,
    );
    throwsConfig(
      () => loadConfig({ setSource: "--set", set: ["width=3"] }),
      /^--set: unknown key 'width' \(known sections: data, model, head, augment, loss, optim, train, monitor, dist, eval, finetune, supervised, distill\)$/,
    );
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["model.width"] }), /^--set 'model\.width': expected key=value, e\.g\. optim\.lr=0\.5$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["=3"] }), /^--set '=3': expected key=value/);
  });

  test("wrong types", () => {
    const file = yamlFile("model:\n  cifarStem: 1\n");
    throwsConfig(() => loadConfig({ file }), new RegExp(`^${escape(file)}: model\\.cifarStem must be true or false, got 1$`));
    throwsConfig(() => loadConfig({ file: yamlFile("optim:\n  lr: fast\n") }), /: optim\.lr must be a number, got "fast"$/);
    throwsConfig(() => loadConfig({ file: yamlFile("train:\n  device: 3\n") }), /: train\.device must be a string, got 3$/);
    throwsConfig(() => loadConfig({ file: yamlFile("model:\n  width: [16]\n") }), /: model\.width must be an integer, got \[16\]$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["model.cifarStem=yes"] }), /^--set: model\.cifarStem must be true or false, got "yes"$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["train.epochs=five"] }), /^--set: train\.epochs must be an integer, got "five"$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["optim.lr=null"] }), /^--set: optim\.lr cannot be null$/);
    throwsConfig(() => loadConfig({ file: yamlFile("model:\n  arch: null\n") }), /: model\.arch cannot be null$/);
  });

  test("out-of-range values, bad choices, non-integers", () => {
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["train.batchSize=1"] }), /^--set: train\.batchSize must be >= 2, got 1$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["optim.momentum=1"] }), /^--set: optim\.momentum must be <= 0\.999999, got 1$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["data.channels=4"] }), /^--set: data\.channels must be one of 1, 3, got 4$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["data.channels=2"] }), /^--set: data\.channels must be one of 1, 3, got 2$/);
    throwsConfig(
      () => loadConfig({ setSource: "--set", set: ["loss.temperature=0"] }),
      /^--set: loss\.temperature must be >= 0\.000001, got 0$|^--set: loss\.temperature must be >= 1e-6, got 0$/,
    );
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["augment.cropMinScale=1.5"] }), /^--set: augment\.cropMinScale must be <= 1, got 1\.5$/);
    throwsConfig(() => loadConfig({ file: yamlFile("optim:\n  lr: -1\n") }), /: optim\.lr must be >= 0, got -1$/);
    throwsConfig(
      () => loadConfig({ setSource: "--set", set: ["model.arch=resnet20"] }),
      /^--set: model\.arch must be one of resnet18, resnet34, resnet50, resnet101, resnet152, mobilenet_v3_small, mobilenet_v3_large, efficientnet_b0, got 'resnet20'$/,
    );
    throwsConfig(
      () => loadConfig({ file: yamlFile("augment:\n  preset: mnist\n") }),
      /: augment\.preset must be one of imagenet, cifar, grayscale, got 'mnist'$/,
    );
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["train.epochs=2.5"] }), /^--set: train\.epochs must be an integer, got 2\.5$/);
    throwsConfig(() => loadConfig({ file: yamlFile("data:\n  limit: 10.5\n") }), /: data\.limit must be an integer, got 10\.5$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["optim.lr=.inf"] }), /^--set: optim\.lr must be a number \(finite\), got Infinity$/);
    // YAML's .inf was reported as "got null" (JSON has no Infinity).
    throwsConfig(() => loadConfig({ file: yamlFile("loss:\n  temperature: .inf\n") }), /: loss\.temperature must be a number \(finite\), got Infinity$/);
    throwsConfig(() => loadConfig({ file: yamlFile("loss:\n  temperature: .nan\n") }), /: loss\.temperature must be a number \(finite\), got NaN$/);
    // Extreme hyper-parameters are refused by range, not left to overflow in aten::add_.
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["optim.lr=1e300"] }), /^--set: optim\.lr must be <= 1000, got 1e\+300$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["optim.weightDecay=5"] }), /^--set: optim\.weightDecay must be <= 1, got 5$/);
    throwsConfig(() => loadConfig({ setSource: "--set", set: ["loss.temperature=1e9"] }), /^--set: loss\.temperature must be <= 10000, got 1000000000$/);
  });

  test("a section that is not a mapping, a top level that is not a mapping", () => {
    const file = yamlFile("train: 5\n");
    throwsConfig(() => loadConfig({ file }), new RegExp(`^${escape(file)}: 'train' must be a mapping of settings`));
    throwsConfig(() => loadConfig({ file: yamlFile("model:\n  - width\n") }), /: 'model' must be a mapping of settings/);
    throwsConfig(() => loadConfig({ file: yamlFile("- model\n- data\n") }), /: the top level must be a mapping of sections \(data, model, \.\.\.\)$/);
    throwsConfig(() => loadConfig({ file: yamlFile("just text\n") }), /: the top level must be a mapping of sections/);
  });

  test("invalid YAML and a missing file name the file", () => {
    const file = yamlFile("model: {width: 3\n");
    throwsConfig(() => loadConfig({ file }), new RegExp(`^${escape(file)}: not valid YAML \\(`));
    const missing = join(dir, "nope.yaml");
    throwsConfig(() => loadConfig({ file: missing }), new RegExp(`^${escape(missing)}: cannot read \\(.*ENOENT`));
  });
});

describe("configToYaml / configFromYaml", () => {
  test("round trip of the defaults and of a changed config", () => {
    const defaults = loadConfig();
    assert.deepEqual(configFromYaml(configToYaml(defaults), "saved.yaml"), defaults);
    const changed = loadConfig({
      set: [
        "data.name=cifar10",
        "data.path=/data/cifar-10",
        "data.limit=1000",
        "model.arch=resnet50",
        "model.width=64",
        "optim.name=adamw",
        "optim.lr=3e-4",
        "optim.weightDecay=0.05",
        "train.device=0",
        "train.threads=2",
        "augment.jitterStrength=1",
        "train.precision=bf16",
      ],
    });
    const text = configToYaml(changed);
    const back = configFromYaml(text, "saved.yaml");
    assert.deepEqual(back, changed);
    assert.equal(back.train.device, "0");
    assert.equal(back.optim.lr, 3e-4);
    // the saved text is a YAML file that loadConfig reads the same way
    assert.deepEqual(loadConfig({ file: yamlFile(text) }), changed);
  });

  test("configFromYaml validates with the given source", () => {
    throwsConfig(() => configFromYaml("model:\n  width: 0\n", "run/config.yaml"), /^run\/config\.yaml: model\.width must be >= 1, got 0$/);
    throwsConfig(() => configFromYaml("model:\n  depth: 18\n", "run/config.yaml"), /^run\/config\.yaml: unknown key 'model\.depth'/);
  });
});

test("warm-up defaults to the paper's 10 epochs, capped at a tenth of the run; or a fraction of the steps; a budget by views sets the length", async () => {
  const { pretrainSchedule } = await import("../../src/recipe/recipe.js");
  const { loadConfig } = await import("../../src/index.js");
  const at = (set: string[], images = 50_000) => pretrainSchedule(loadConfig({ set }), images); // 195 steps an epoch at batch 256
  assert.deepEqual(at([]), { stepsPerEpoch: 195, totalSteps: 390, warmupSteps: 39, peak: 1 });
  assert.equal(at(["train.epochs=100"]).warmupSteps, 1950);
  assert.equal(at(["train.epochs=800"]).warmupSteps, 1950);
  assert.equal(at(["train.epochs=800", "train.warmupEpochs=3"]).warmupSteps, 585);
  // SCIENCE.md's unit: 600k views at batch 256 is round(600000 / 512) = 1172 steps, 5% warm-up
  const u = at(["train.budgetViews=600000", "train.warmupFraction=0.05"]);
  assert.deepEqual(u, { stepsPerEpoch: 195, totalSteps: 1172, warmupSteps: 59, peak: 1 });
  assert.equal(at(["train.budgetViews=1200000", "train.warmupFraction=0.05"]).totalSteps, 2344, "2U is its own run with its own schedule");
  assert.equal(at(["train.budgetViews=600000"]).warmupSteps, 117, "the default warm-up is a tenth of a budgeted run, not of train.epochs");
  assert.equal(at(["train.budgetViews=600000", "optim.lrScaling=sqrt", "train.batchSize=512"]).peak, Math.sqrt(512));
  const { supervisedTraining } = await import("../../src/recipe/recipe.js");
  assert.equal(supervisedTraining(loadConfig({ set: ["supervised.budgetViews=600000"] }), 50_000).epochs, 12, "one view per image per step");
  assert.equal(supervisedTraining(loadConfig({ set: ["supervised.epochs=3"] }), 50_000).epochs, 3);
});

describe("evaluation, fine-tuning and the baseline have their sections", () => {
  test("the paper's Appendix B.5/B.6 defaults", () => {
    const c = loadConfig();
    assert.deepEqual(c.eval, {
      protocol: "fast",
      labels: null,
      seed: 0,
      k: 200,
      temperature: 0.1,
      holdOut: 0.1,
      maxIterations: 200,
      epochs: 90,
      batchSize: 512,
      lr: 0.1,
      weightDecay: 0,
    });
    assert.deepEqual(c.finetune, { labels: "10%", epochs: null, batchSize: 256, lr: 0.05, weightDecay: 0, fromHead: false, seed: 0 });
    assert.deepEqual(c.supervised, { epochs: 2, budgetViews: null, batchSize: 256, lr: 0.1, weightDecay: 5e-4 });
  });

  test("values named by their source (a flag) are checked like --set", () => {
    throwsConfig(
      () => loadConfig({ values: [{ key: "supervised.epochs", text: "abc", source: "--epochs" }] }),
      /^--epochs: supervised\.epochs must be an integer, got "abc"$/,
    );
    throwsConfig(() => loadConfig({ values: [{ key: "eval.k", text: "-3", source: "--k" }] }), /^--k: eval\.k must be >= 1, got -3$/);
    assert.equal(loadConfig({ values: [{ key: "finetune.fromHead", text: "true", source: "--from-head" }] }).finetune.fromHead, true);
    assert.equal(loadConfig({ values: [{ key: "finetune.labels", text: "1%", source: "--labels" }] }).finetune.labels, "1%");
  });

  test("sections limit what may change, and the error carries the key", () => {
    const base = loadConfig();
    assert.throws(
      () => loadConfig({ base, sections: ["data", "eval"], set: ["model.width=8"], setSource: "--set" }),
      (e: unknown) =>
        e instanceof ConfigError && e.key === "model.width" && /^--set: model\.width cannot be changed here \(only data\.\*, eval\.\*\)$/.test(e.message),
    );
    assert.equal(loadConfig({ base, sections: ["data", "eval"], set: ["eval.k=5"] }).eval.k, 5);
  });
});
