"""The PyTorch side of `simclr bench` comparisons: one full SimCLR step doing the same work as
src/train/pretrain.ts (batched augmentation of two views, ResNet + projection head forward
over both, NT-Xent, backward, LARS), timed the same way. Prints one JSON line.

  /usr/bin/python3 bench/pytorch/simclr_step.py --channels 1 --size 28 --width 16 --batch 256 --steps 5
"""
import argparse, json, math, resource, time
import torch, torch.nn.functional as F
nn = torch.nn

p = argparse.ArgumentParser()
p.add_argument("--channels", type=int, default=1)
p.add_argument("--size", type=int, default=28)
p.add_argument("--width", type=int, default=16)
p.add_argument("--batch", type=int, default=256)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--warmup", type=int, default=2)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
p.add_argument("--strength", type=float, default=0.5)
p.add_argument("--lr", type=float, default=0.1)
p.add_argument("--temperature", type=float, default=0.5)
p.add_argument("--memory-format", choices=["contiguous", "channels_last"], default="contiguous", help="channels_last: model and views in NHWC")
p.add_argument("--lean", action="store_true", help="the step as a PyTorch user would write it, not op for op as ours: jitter is brightness and contrast on every view at once (where p 0.8), no per-view random order; torch.optim.SGD (momentum 0.9, foreach) instead of LARS. Compare with simclr bench --set optim.name=sgd")
p.add_argument("--compile", action="store_true", help="torch.compile (inductor) the model + loss (forward and backward) and the LARS update; the augmentation stays eager (torch >= 2.0)")
p.add_argument("--profile", action="store_true", help="add the phases (ms) and torch.autograd.profiler's top operators per step")
p.add_argument("--sync-check", action="store_true", help="on cuda: run a few steps (without the loss read) under torch.cuda.set_sync_debug_mode('error') and report whether one made the host wait, as simclr bench --sync-check does")
p.add_argument("--device", default="cpu", help="cpu or cuda (cuda needs torch >= 2.0: the default device is set)")
a = p.parse_args()
if a.device != "cpu":
    torch.set_default_device(a.device)
def sync():
    if a.device != "cpu":
        torch.cuda.synchronize()
torch.set_num_threads(a.threads)
torch.manual_seed(0)

# ---- augmentation: the same batched ops as src/augment (crop+flip, jitter, grayscale) ----
def crop_boxes(n, h, w, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)):
    area = h * w
    target = torch.rand(n, 10) * (scale[1] - scale[0]) * area + scale[0] * area
    aspect = torch.exp(torch.rand(n, 10) * (math.log(ratio[1]) - math.log(ratio[0])) + math.log(ratio[0]))
    cw = torch.sqrt(target * aspect).round(); ch = torch.sqrt(target / aspect).round()
    fits = (cw > 0) & (cw <= w) & (ch > 0) & (ch <= h)
    first = fits.to(torch.uint8).argmax(1, keepdim=True)
    anyf = fits.any(1)
    cw = torch.where(anyf, cw.gather(1, first).squeeze(1), torch.full((n,), float(w)))
    ch = torch.where(anyf, ch.gather(1, first).squeeze(1), torch.full((n,), float(h)))
    top = torch.where(anyf, (torch.rand(n) * (h - ch + 1)).floor(), torch.zeros(n))
    left = torch.where(anyf, (torch.rand(n) * (w - cw + 1)).floor(), torch.zeros(n))
    return top, left, ch, cw

def resized_crop(x, size):
    n, c, h, w = x.shape
    top, left, ch, cw = crop_boxes(n, h, w)
    sign = torch.where(torch.rand(n) < 0.5, -1.0, 1.0)
    z = torch.zeros(n)
    theta = torch.stack([cw / w * sign, z, (2 * left + cw) / w - 1, z, ch / h, (2 * top + ch) / h - 1], 1).view(n, 2, 3)
    grid = F.affine_grid(theta, [n, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

def gray(x):
    return x if x.shape[1] == 1 else (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])

def rgb2hsv(x):
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    maxc = x.amax(1, keepdim=True); minc = x.amin(1, keepdim=True)
    eqc = maxc == minc; cr = maxc - minc; ones = torch.ones_like(maxc)
    s = cr / torch.where(eqc, ones, maxc); crd = torch.where(eqc, ones, cr)
    rc, gc, bc = (maxc - r) / crd, (maxc - g) / crd, (maxc - b) / crd
    isr = maxc == r; isg = (maxc == g) & ~isr; isb = ~(isr | isg)
    h = ((bc - gc) * isr + (2 + rc - bc) * isg + (4 + gc - rc) * isb) / 6 + 1
    return torch.remainder(h, 1), s, maxc

def hsv2rgb(h, s, v):
    i = torch.floor(h * 6); f = h * 6 - i; i = torch.remainder(i, 6)
    p = (v * (1 - s)).clamp(0, 1); q = (v * (1 - s * f)).clamp(0, 1); t = (v * (1 - s * (1 - f))).clamp(0, 1)
    def pick(vals):
        out = vals[5]
        for k in range(4, -1, -1):
            out = torch.where(i == k, vals[k], out)
        return out
    return torch.cat([pick([v, q, p, p, t, v]), pick([t, v, v, q, p, p]), pick([p, p, t, v, v, q])], 1)

def adjust(op, x, f):
    f = f.view(-1, 1, 1, 1)
    if op == 0: return (x * f).clamp(0, 1)
    if op == 1: return (f * x + (1 - f) * gray(x).mean((1, 2, 3), keepdim=True)).clamp(0, 1)
    if op == 2: return (f * x + (1 - f) * gray(x)).clamp(0, 1)
    h, s, v = rgb2hsv(x)
    return hsv2rgb(torch.remainder(h + f, 1), s, v)

def augment(images, size):
    n, c = images.shape[:2]
    x = resized_crop(images.float() / 255, size)
    ops = [0, 1] if c == 1 else [0, 1, 2, 3]
    s = a.strength
    mags = [0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s]
    factors = [(torch.rand(n) * 2 * mags[o] - mags[o]) if o == 3 else (torch.rand(n) * 2 * mags[o] + max(0, 1 - mags[o])) for o in ops]
    apply = torch.rand(n) < 0.8
    order = torch.rand(n, len(ops)).argsort(1)
    for stage in range(len(ops)):
        for k, op in enumerate(ops):
            idx = ((order[:, stage] == k) & apply).nonzero().flatten()
            if idx.numel() == 0: continue
            x.index_copy_(0, idx, adjust(op, x.index_select(0, idx), factors[k].index_select(0, idx)))
    if c == 3:
        g = torch.rand(n) < 0.2
        x = torch.where(g.view(-1, 1, 1, 1), gray(x).expand_as(x), x)
    return x.clamp(0, 1)

def augment_lean(images, size):
    n, c = images.shape[:2]
    x = resized_crop(images.float() / 255, size)
    s = a.strength
    on = (torch.rand(n, 1, 1, 1) < 0.8).float()
    b = 1 + on * (torch.rand(n, 1, 1, 1) * 1.6 * s - 0.8 * s)
    k = 1 + on * (torch.rand(n, 1, 1, 1) * 1.6 * s - 0.8 * s)
    x = (x * b).clamp(0, 1)
    m = gray(x).mean((1, 2, 3), keepdim=True)
    x = (k * x + (1 - k) * m).clamp(0, 1)
    if c == 3:
        x = torch.where((torch.rand(n) < 0.2).view(-1, 1, 1, 1), gray(x).expand_as(x), x)
    return x

if a.lean:
    augment = augment_lean

# ---- model: ResNet-18 (CIFAR stem, width) + 2-layer head, as src/models ----
# torchvision's BasicBlock/ResNet written out (same modules, names and init), so the script runs on
# a torch without torchvision: pip's 2.13 CPU wheel has no torchvision that imports beside it.
class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
        nn.init.zeros_(self.bn2.weight)  # zero_init_residual
        self.downsample = None if stride == 1 and cin == cout else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)

class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        w = a.width
        self.conv1 = nn.Conv2d(a.channels, w, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(w); self.relu = nn.ReLU(inplace=True)
        layer = lambda cin, cout, stride: nn.Sequential(BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1))
        self.layer1 = layer(w, w, 1); self.layer2 = layer(w, 2 * w, 2); self.layer3 = layer(2 * w, 4 * w, 2); self.layer4 = layer(4 * w, 8 * w, 2)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)

d = a.width * 8
model = torch.nn.Sequential(Encoder(), torch.nn.Linear(d, d, bias=False), torch.nn.BatchNorm1d(d), torch.nn.ReLU(inplace=True),
                            torch.nn.Linear(d, 128, bias=False), torch.nn.BatchNorm1d(128, affine=True)).train()
if a.memory_format == "channels_last":
    model = model.to(memory_format=torch.channels_last)

def nt_xent(z, t):
    z = F.normalize(z, dim=1); m = z.shape[0] // 2
    logits = z @ z.t() / t
    logits.fill_diagonal_(float("-inf"))
    target = torch.cat([torch.arange(m, 2 * m), torch.arange(0, m)])
    return F.cross_entropy(logits, target)

# LARS with the official semantics (as src/optim/lars.ts)
params = list(model.parameters())
velocity = [torch.zeros_like(p) for p in params]
def lars_step(lr=0.1, momentum=0.9, wd=1e-6, eta=0.001):
    with torch.no_grad():
        for p, v in zip(params, velocity):
            g = p.grad
            if p.ndim <= 1:
                upd = g * lr
            else:
                g = g + wd * p
                wn, gn = p.norm(), g.norm()
                trust = torch.where((wn > 0) & (gn > 0), eta * wn / gn, torch.ones_like(wn))
                upd = g * (trust * lr)
            v.mul_(momentum).add_(upd)
            p.sub_(v)
            p.grad = None

images = torch.randint(0, 256, (a.batch, a.channels, a.size, a.size), dtype=torch.uint8)

def views():
    with torch.no_grad():
        x = torch.cat([augment(images, a.size), augment(images, a.size)])
    return x.contiguous(memory_format=torch.channels_last) if a.memory_format == "channels_last" else x

def forward_loss(x):
    if a.precision == "bf16":
        with torch.autocast("cuda" if a.device.startswith("cuda") else "cpu", dtype=torch.bfloat16):
            z = model(x)
    else:
        z = model(x)
    return nt_xent(z.float(), a.temperature)

update = lars_step
if a.lean:
    sgd = torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=1e-6, foreach=True)
    def update():
        sgd.step(); sgd.zero_grad(set_to_none=True)
if a.compile:
    if a.profile:
        # each generated C++ kernel records itself (cpp_fused_<ops>_<n>): which fusions, and their time
        import torch._inductor.config as inductor_config
        inductor_config.cpp.enable_kernel_profile = True
    forward_loss = torch.compile(forward_loss)
    update = torch.compile(update)

def step(read_loss=True):
    x = views()
    loss = forward_loss(x)
    if read_loss:
        loss.item()
    loss.backward()
    update()

baseline_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # interpreter, libtorch, model and images: before any step
for _ in range(a.warmup):
    step()
on_gpu = a.device.startswith("cuda")
if on_gpu:
    torch.cuda.reset_peak_memory_stats()
times = []
for _ in range(a.steps):
    sync(); t0 = time.perf_counter(); step(); sync(); times.append(time.perf_counter() - t0)
peak_rss_mib = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)  # after the steps, before the profiler
cuda_memory = None
if on_gpu:
    stats = torch.cuda.memory_stats()
    cuda_memory = {"peak_allocated_mib": round(torch.cuda.max_memory_allocated() / 2**20), "peak_reserved_mib": round(torch.cuda.max_memory_reserved() / 2**20), "alloc_retries": stats.get("num_alloc_retries", 0)}
host_sync = None
if a.sync_check:
    if not on_gpu:
        raise SystemExit("--sync-check is of a step on a GPU: add --device cuda")
    n = max(2, min(5, a.steps))
    sync(); torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(n):
            step(read_loss=False)
        host_sync = {"synchronises": False, "steps_checked": n}
    except RuntimeError as e:
        if "synchronizing CUDA operation" not in str(e):
            raise
        host_sync = {"synchronises": True, "steps_checked": n, "first": str(e).splitlines()[0]}
    finally:
        torch.cuda.set_sync_debug_mode("default")
aug_times = []
for _ in range(20):
    t0 = time.perf_counter()
    with torch.no_grad():
        augment(images, a.size)
    aug_times.append(time.perf_counter() - t0)
times.sort(); aug_times.sort()
out = {"engine": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "precision": a.precision, "memory_format": a.memory_format, "compile": a.compile, "lean": a.lean,
       "views_per_s": 2 * a.batch / times[len(times) // 2], "augment_views_per_s": a.batch / aug_times[len(aug_times) // 2],
       "step_ms": [round(t * 1000, 1) for t in times],
       # the process's peak resident memory (interpreter, libtorch and the step), as simclr bench reports it
       "peak_rss_mib": peak_rss_mib, "baseline_rss_mib": baseline_rss_mib}
if cuda_memory is not None:
    out["cuda_memory"] = cuda_memory
if host_sync is not None:
    out["host_sync"] = host_sync

def phased_step(laps):
    t = [time.perf_counter()]
    def lap(name):
        now = time.perf_counter(); laps.setdefault(name, []).append((now - t[0]) * 1000); t[0] = now
    x = views(); lap("augment")
    z = model(x); lap("forward")
    loss = nt_xent(z.float(), a.temperature); lap("loss")
    loss.backward(); lap("backward")
    lars_step(); lap("optimizer")

if a.profile:
    laps = {}
    n = max(1, min(3, a.steps))
    if a.compile:
        # the compiled step has no eager phases: profile whole steps, inductor's kernels by name
        with torch.autograd.profiler.profile() as prof:
            for _ in range(n):
                step()
    else:
        for _ in range(a.steps):
            phased_step(laps)
        with torch.autograd.profiler.profile() as prof:
            for _ in range(n):
                phased_step({})
    rows = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:40]
    out["profile"] = {"phases_ms": {k: round(sorted(v)[len(v) // 2], 1) for k, v in laps.items()},
                      "top_ops": [{"name": e.key, "calls": e.count / n, "self_ms": round(e.self_cpu_time_total / 1000 / n, 2), "total_ms": round(e.cpu_time_total / 1000 / n, 2)} for e in rows]}
print(json.dumps(out))
