"""The PyTorch side of bench/resnet-step.ts: the same ResNet forward+backward, timed the same way.

Prints one JSON line. Run by the TS benchmark; by hand:
  /usr/bin/python3 bench/pytorch/resnet_step.py --depth 18 --width 64 --size 32 --channels 3 --batch 256 --steps 3
"""
import argparse, json, time
import torch, torchvision

p = argparse.ArgumentParser()
p.add_argument("--depth", type=int, default=18)
p.add_argument("--width", type=int, default=64)
p.add_argument("--size", type=int, default=32)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
block = {18: torchvision.models.resnet.BasicBlock, 34: torchvision.models.resnet.BasicBlock}.get(a.depth, torchvision.models.resnet.Bottleneck)
layers = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3]}[a.depth]


class Net(torchvision.models.resnet.ResNet):
    def __init__(self):
        super().__init__(block, layers)
        # width and CIFAR stem as in src/models/resnet.ts
        self.inplanes = a.width
        self.conv1 = torch.nn.Conv2d(a.channels, a.width, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(a.width)
        self.maxpool = torch.nn.Identity()
        self.layer1 = self._make_layer(block, a.width, layers[0])
        self.layer2 = self._make_layer(block, a.width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, a.width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, a.width * 8, layers[3], stride=2)
        self.fc = torch.nn.Identity()


model = Net().train()
x = torch.randn(a.batch, a.channels, a.size, a.size)


def step():
    h = model(x)
    loss = (h * h).mean()
    loss.backward()
    model.zero_grad(set_to_none=True)


for _ in range(a.warmup):
    step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(),
                  "step_ms": [round(t * 1000, 1) for t in times], "images_per_s": a.batch / median}))
