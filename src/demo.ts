/**
 * `npm run demo`: trains a ResNet-18 (width 16, CIFAR stem, 1 input channel) with a linear
 * classifier on a slice of Fashion-MNIST for a few steps and prints the loss falling and the
 * test accuracy before and after. (The SimCLR pretraining demo replaces this.)
 */
import { Linear, SGD, loadIdxDataset, manualSeed, noGrad, randperm, resnet, tidy, F, type Tensor } from "./index.js";

const TRAIN = 4096;
const TEST = 1000;
const BATCH = 128;
const STEPS = 48;

manualSeed(0);
const train = loadIdxDataset({ split: "train", limit: TRAIN });
const test = loadIdxDataset({ split: "test", limit: TEST });
const toFloat = (images: Tensor) => images.to("float32").div(255); // (N, 1, 28, 28) in [0, 1]
const trainX = toFloat(train.images);
const testX = toFloat(test.images);

const encoder = resnet({ depth: 18, width: 16, cifarStem: true, inChannels: 1 });
const classifier = new Linear({ inFeatures: encoder.featureDim, outFeatures: 10 });
const optimizer = new SGD([...encoder.parameters(), ...classifier.parameters()], { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 5e-4 });

function accuracy(): number {
  encoder.eval();
  return tidy(() =>
    noGrad(() => {
      let correct = 0;
      for (let i = 0; i < TEST; i += 250) {
        const logits = classifier.forward(encoder.forward(testX.narrow(0, i, 250)));
        correct += logits.argmax(1).eq(test.labels.narrow(0, i, 250)).sum().item();
      }
      return correct / TEST;
    }),
  );
}

console.log(`demo: ResNet-18 (width 16, ${encoder.parameterCount().toLocaleString()} parameters) on ${TRAIN} Fashion-MNIST images, batch ${BATCH}`);
console.log(`test accuracy before training: ${(accuracy() * 100).toFixed(1)}%`);
const start = performance.now();
let order = randperm(TRAIN);
for (let step = 0; step < STEPS; step++) {
  const offset = (step * BATCH) % TRAIN;
  if (offset === 0 && step > 0) {
    order.dispose();
    order = randperm(TRAIN);
  }
  encoder.train();
  const loss = tidy(() => {
    const idx = order.narrow(0, offset, BATCH);
    const logits = classifier.forward(encoder.forward(trainX.indexSelect(0, idx))); // (B, 10)
    const l = F.crossEntropy(logits, train.labels.indexSelect(0, idx));
    l.backward();
    return l.item();
  });
  optimizer.step();
  optimizer.zeroGrad();
  if (step % 6 === 0 || step === STEPS - 1) {
    const rate = ((step + 1) * BATCH) / ((performance.now() - start) / 1000);
    console.log(`step ${String(step + 1).padStart(2)}/${STEPS}  loss ${loss.toFixed(4)}  ${rate.toFixed(0)} images/s`);
  }
}
console.log(`test accuracy after ${STEPS} steps: ${(accuracy() * 100).toFixed(1)}%`);
