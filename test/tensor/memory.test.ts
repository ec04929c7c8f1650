import assert from "node:assert/strict";
import { test } from "node:test";
import { native } from "../../src/native.js";
import { keep, liveTensorCount, ones, randn, tidy, type Tensor } from "../../src/index.js";

test("10,000 small ops inside tidy leave native handles and RSS flat", () => {
  const a = randn([64, 64]);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      tidy(() => {
        a.add(1).mul(a).sum();
      });
    }
  };
  run(1000); // warm up allocator and JIT
  global.gc?.();
  const handles = liveTensorCount();
  const rss = process.memoryUsage().rss;
  run(10_000);
  global.gc?.();
  assert.equal(liveTensorCount(), handles, "no handle outlives its tidy scope");
  const grown = process.memoryUsage().rss - rss;
  // 10,000 x 3 intermediates of 16 KiB would be ~480 MiB if any leaked
  assert.ok(grown < 32 * 1024 * 1024, `RSS grew by ${(grown / 1048576).toFixed(1)} MiB`);
});

test("explicit dispose frees the native handle", () => {
  const before = liveTensorCount();
  const t = ones([1000]);
  assert.equal(liveTensorCount(), before + 1);
  t.dispose();
  assert.equal(liveTensorCount(), before);
});

test("the grad getter's reference belongs to the enclosing tidy scope", () => {
  const p = randn([8], { requiresGrad: true });
  tidy(() => p.mul(p).sum().backward());
  const before = liveTensorCount();
  for (let i = 0; i < 100; i++) {
    tidy(() => {
      p.grad?.sum();
    });
  }
  assert.equal(liveTensorCount(), before, "each read is freed with its scope");
  let read: Tensor | null = null;
  tidy(() => {
    read = p.grad;
  });
  assert.equal((read as Tensor | null)?.isDisposed, true, "not returned from the scope: disposed with it");
  const kept = tidy(() => p.grad);
  assert.equal(kept?.isDisposed, false, "returned from the scope: the caller's");
  kept?.dispose();
  assert.equal(liveTensorCount(), before);
  assert.ok(
    tidy(() => p.grad !== null),
    "the gradient outlives its references",
  );
  p.dispose();
});

test("V8 is told the bytes of tensors only the GC will free: made outside every scope, kept, or returned from the outermost one", () => {
  const MiB = 1024 * 1024;
  const external = () => native.externalMemory();
  const size = [4 * MiB]; // 16 MiB of float32, far above any other external allocation here
  const base = external();
  const outside = ones(size);
  assert.ok(external() - base >= 15 * MiB, "a tensor made outside every scope is reported");
  outside.dispose();
  assert.ok(external() - base < MiB, "and unreported when disposed");

  tidy(() => {
    ones(size);
    assert.ok(external() - base < MiB, "a scope's intermediate is not reported: the scope frees it");
    tidy(() => keep(ones(size)).dispose());
  });
  assert.ok(external() - base < MiB);

  const returned = tidy(() => tidy(() => ones(size)));
  assert.ok(external() - base >= 15 * MiB, "a tensor returned from the outermost scope is reported");
  returned.dispose();
  let kept: Tensor | undefined;
  tidy(() => {
    kept = keep(ones(size));
    assert.ok(external() - base >= 15 * MiB, "a kept tensor is reported when it leaves the scope");
  });
  kept?.dispose();
  assert.ok(external() - base < MiB, "nothing left reported");
});
