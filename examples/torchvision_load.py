"""Load `simclr export --format safetensors` into torchvision's ResNet and compute h.

    python3 examples/torchvision_load.py encoder.safetensors

torchvision's ResNet hard-codes a width of 64 and the ImageNet stem; this builds the same
network at the exported width and stem from the file's metadata (ResNet-18/34, BasicBlock),
loads the weights with strict=False (only fc is missing) and prints h for random images.
Needs torch and torchvision (Debian: python3-torch python3-torchvision); the safetensors file
is read with numpy, so the `safetensors` package is not needed.
"""
import json
import struct
import sys

import numpy as np
import torch
from torchvision.models.resnet import BasicBlock, ResNet


def load_file(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    dtypes = {"F32": np.float32, "I64": np.int64}
    tensors = {}
    for key, v in header.items():
        if key == "__metadata__":
            continue
        a, b = v["data_offsets"]
        tensors[key] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtypes[v["dtype"]]).reshape(v["shape"]).copy())
    return tensors, header.get("__metadata__", {})


class SimclrResNet(ResNet):
    """torchvision's ResNet with a given width, input channels and stem."""

    def __init__(self, counts, width, in_channels, cifar_stem):
        torch.nn.Module.__init__(self)
        self._norm_layer, self.inplanes, self.dilation, self.groups, self.base_width = torch.nn.BatchNorm2d, width, 1, 1, 64
        if cifar_stem:
            self.conv1, self.maxpool = torch.nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), torch.nn.Identity()
        else:
            self.conv1, self.maxpool = torch.nn.Conv2d(in_channels, width, 7, 2, 3, bias=False), torch.nn.MaxPool2d(3, 2, 1)
        self.bn1, self.relu = torch.nn.BatchNorm2d(width), torch.nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(BasicBlock, width, counts[0])
        self.layer2 = self._make_layer(BasicBlock, 2 * width, counts[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, counts[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, counts[3], stride=2)
        self.avgpool, self.fc = torch.nn.AdaptiveAvgPool2d(1), torch.nn.Linear(8 * width, 1000)


state, meta = load_file(sys.argv[1] if len(sys.argv) > 1 else "encoder.safetensors")
counts = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}[meta["simclr.arch"]]
width, channels, side = int(meta["simclr.width"]), int(meta["simclr.in_channels"]), int(meta["simclr.input_size"])
model = SimclrResNet(counts, width, channels, meta["simclr.cifar_stem"] == "true")
result = model.load_state_dict(state, strict=False)
assert result.missing_keys == ["fc.weight", "fc.bias"] and result.unexpected_keys == [], result
model.fc = torch.nn.Identity()  # h, the representation
x = torch.rand(4, channels, side, side)  # float32 pixels / 255, no normalisation (simclr.input)
with torch.no_grad():
    h = model.eval()(x)
print(f"loaded {meta['simclr.arch']} width {width}: missing only fc; h {tuple(h.shape)}")
