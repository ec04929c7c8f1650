import assert from "node:assert/strict";
import { test } from "node:test";
import { Classifier, cropFlipAugment, noGrad, randint, randn, resnet, trainClassifier } from "../../src/index.js";

test("a fine-tune step changes the encoder's weights", async () => {
  const encoder = resnet({ depth: 18, width: 4, cifarStem: true, inChannels: 1 });
  const before = encoder.conv1.weight.clone();
  const model = new Classifier(encoder, 3);
  const images = randint(0, 256, [16, 1, 12, 12], { dtype: "uint8" });
  await trainClassifier(
    model,
    { images, labels: randint(0, 3, [16]) },
    { epochs: 1, batchSize: 8, lr: 0.1, weightDecay: 0, device: "cpu", augment: cropFlipAugment() },
  );
  assert.ok(noGrad(() => encoder.conv1.weight.sub(before).abs().max().item()) > 0);
  assert.deepEqual(noGrad(() => model.eval().forward(randn([2, 1, 12, 12]))).shape, [2, 3]);
});

test("linear evaluation (frozen encoder) never changes the encoder, BN statistics included", async () => {
  const encoder = resnet({ depth: 18, width: 4, cifarStem: true, inChannels: 1 });
  const before = new Map([...encoder.stateDict()].map(([k, t]) => [k, t.clone()]));
  const model = new Classifier(encoder, 3);
  const fcBefore = model.fc.weight.clone();
  await trainClassifier(
    model,
    { images: randint(0, 256, [16, 1, 12, 12], { dtype: "uint8" }), labels: randint(0, 3, [16]) },
    { epochs: 2, batchSize: 8, lr: 0.5, weightDecay: 0, device: "cpu", freezeEncoder: true, augment: cropFlipAugment() },
  );
  noGrad(() => {
    for (const [k, t] of encoder.stateDict()) assert.ok(t.eq(before.get(k)!).all().item() === 1, `${k} changed`);
    assert.ok(model.fc.weight.sub(fcBefore).abs().max().item() > 0, "the classifier trained");
  });
});
