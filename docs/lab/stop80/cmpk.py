"""Compare the kernels between all training sites of two packages' gp_prior (lab).

usage: python cmpk.py (old_gp.py: ``git show 1f84355:src/soilbinn/nn/gp_prior.py``)"""

import importlib.util

import torch

import soilbinn.nn.gp_prior as new

torch.set_num_threads(1)


def load(path, name):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


old = load("old_gp.py", "old")
a, b, ls, kern = torch.load("cap.pt", weights_only=False)["k2550"]
cases = [
    ("rbf", lambda m: m.site_kernel(a, a, ls[0][:31], "squared_exponential", kern[1])),
    ("add", lambda m: m.site_kernel(a, a, ls[0][31:62], "additive")),
    ("sum", lambda m: m.site_kernel(a, a, ls[0], *kern)),
]
with torch.no_grad():
    for name, f in cases:
        ko, kn = f(old), f(new)
        d = (ko - kn).abs()
        nz = torch.nonzero(d)
        print(name, float(d.max()), len(nz), "old asymmetry", float((ko - ko.T).abs().max()))
