"""evcost.py: CPU seconds of one Laplace evidence with its gradients (one thread), one
block of 400 sites against 8 of 200 and 4 of 300 (four parameters, a squared-exponential
kernel on five random features), and the same in float32 against float64."""

import time

import torch

from soilbinn.nn.gp_prior import laplace_evidence_gradients_separate as evidence

torch.set_num_threads(1)


def problem(n, dtype):
    torch.manual_seed(0)
    x = torch.randn(n, 5, dtype=dtype)
    d = torch.cdist(x, x)
    ks = torch.stack([torch.exp(-(d**2) / 4) for _ in range(4)]) + 1e-6 * torch.eye(n, dtype=dtype)
    c, g = torch.randn(n, 4, dtype=dtype), torch.randn(n, 4, dtype=dtype)
    a = torch.randn(n, 4, 4, dtype=dtype)
    h = 30 * (a @ a.transpose(1, 2)) + 0.1 * torch.eye(4, dtype=dtype)
    return ks, c, g, h


def seconds(n, reps, dtype=torch.float64):
    args = problem(n, dtype)
    t = time.process_time()
    for _ in range(reps):
        out = evidence(*args)
    return (time.process_time() - t) / reps, out


one, o64 = seconds(400, 5)
print(
    f"one block of 400: {one:.3f} s; 8 of 200: {8 * seconds(200, 20)[0]:.3f} s; "
    f"4 of 300: {4 * seconds(300, 8)[0]:.3f} s"
)
t32, o32 = seconds(400, 5, torch.float32)
rel = float((o64[2] - o32[2].double()).norm() / o64[2].norm())
print(
    f"float32: {t32:.3f} s; evidence {float(o64[0]):.1f} (float64) against {float(o32[0]):.1f}; "
    f"gradient's relative error {rel:.2f}"
)
