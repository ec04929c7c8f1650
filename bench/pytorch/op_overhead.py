"""Per-call cost of a tiny op in PyTorch (for comparison with bench/op-overhead.ts)."""
import json, time, torch

torch.set_num_threads(1)
a = torch.ones(1)
for _ in range(10000):
    torch.add(a, a)
n = 200000
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(n):
        torch.add(a, a)
    best = min(best, (time.perf_counter() - t0) / n * 1e6)
print(json.dumps({"engine": "pytorch", "op": "add(1-element)", "us_per_call": best}))
