"""The PyTorch side of bench/backbone-step.ts: torchvision's encoder (classifier removed),
forward + backward of mean(h^2), timed the same way. Prints one JSON line. By hand:
  python3 bench/pytorch/backbone_step.py --arch mobilenet_v3_small --size 32 --batch 128 --steps 3
--compile true times torch.compile(encoder) (PyTorch 2.x; its first steps compile, so the warm-up
is at least 2 steps and compile time is not timed).
"""
import argparse, json, time
import torch, torchvision

p = argparse.ArgumentParser()
p.add_argument("--arch", default="mobilenet_v3_small")
p.add_argument("--size", type=int, default=32)
p.add_argument("--channels", type=int, default=3)
p.add_argument("--batch", type=int, default=128)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--warmup", type=int, default=1)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--cifar-stem", default="true")
p.add_argument("--compile", default="false")
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(0)
cifar = a.cifar_stem == "true"
if a.arch.startswith("resnet"):
    # width 16 and the CIFAR stem, as src/models/resnet.ts builds them (bench/pytorch/resnet_step.py)
    block = torchvision.models.resnet.BasicBlock
    net = torchvision.models.resnet.ResNet(block, [2, 2, 2, 2])
    net.inplanes = 16
    net.conv1 = torch.nn.Conv2d(a.channels, 16, 3, 1, 1, bias=False) if cifar else torch.nn.Conv2d(a.channels, 16, 7, 2, 3, bias=False)
    net.bn1 = torch.nn.BatchNorm2d(16)
    if cifar:
        net.maxpool = torch.nn.Identity()
    net.layer1 = net._make_layer(block, 16, 2)
    net.layer2 = net._make_layer(block, 32, 2, stride=2)
    net.layer3 = net._make_layer(block, 64, 2, stride=2)
    net.layer4 = net._make_layer(block, 128, 2, stride=2)
    net.fc = torch.nn.Identity()
    encoder = net
else:
    net = getattr(torchvision.models, a.arch)()
    first = net.features[0][0]
    net.features[0][0] = torch.nn.Conv2d(a.channels, first.out_channels, 3, 1 if cifar else 2, 1, bias=False)
    encoder = torch.nn.Sequential(net.features, net.avgpool, torch.nn.Flatten(1))
encoder.train()
parameters = sum(p.numel() for p in encoder.parameters())
if a.compile == "true":
    encoder = torch.compile(encoder)
    a.warmup = max(a.warmup, 2)
x = torch.randn(a.batch, a.channels, a.size, a.size)


def step():
    h = encoder(x)
    (h * h).mean().backward()
    encoder.zero_grad(set_to_none=True)


for _ in range(a.warmup):
    step()
times = []
for _ in range(a.steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
times.sort()
median = times[len(times) // 2]
print(
    json.dumps(
        {
            "arch": a.arch,
            "images_per_s": a.batch / median,
            "parameters": parameters,
            "compiled": a.compile == "true",
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        }
    )
)
