"""Time the GP stage's kernels and evidence on captured inputs (lab).

usage: python mb.py [gp_prior.py to load instead of the package's] [out.pt]"""

import importlib.util
import sys
import time

import torch

torch.set_num_threads(1)
if len(sys.argv) > 1:
    spec = importlib.util.spec_from_file_location("gpx", sys.argv[1])
    gp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gp)
else:
    import soilbinn.nn.gp_prior as gp
g = torch.load("cap.pt", weights_only=False)


def timed(f, repeat=3):
    best, out = 1e9, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


a, b, ls, kern = g["k2550"]
with torch.no_grad():
    tb, K = timed(lambda: gp.rbf_stack(a, a, ls, *kern), 2)
print(f"kernel 2550 no grad {tb:.3f} s")
a4, _, ls4, kern4 = g["k400"]
ev = g["ev"]


def closure():
    t = ls4.clone().requires_grad_(True)
    ks = gp.rbf_stack(a4, a4, t, *kern4) * 0.7 + 0.01
    e, _, dks, _ = gp.laplace_evidence_gradients_separate(ks.detach(), *ev[1:])
    (-(dks * ks).sum()).backward()
    return t.grad, e, ks.detach(), dks


def forward_backward():
    t = ls4.clone().requires_grad_(True)
    gp.rbf_stack(a4, a4, t, *kern4).sum().backward()


tc, (grad, e, ks, dks) = timed(closure, 5)
tk, _ = timed(forward_backward, 5)
te, _ = timed(lambda: gp.laplace_evidence_gradients_separate(*ev), 5)
print(f"closure 400 {tc:.3f} s, kernel fwd+bwd {tk:.3f} s, evidence {te:.3f} s")
out = sys.argv[2] if len(sys.argv) > 2 else "mb_out.pt"
torch.save({"K": K, "grad": grad, "e": e, "ks": ks, "dks": dks}, out)
