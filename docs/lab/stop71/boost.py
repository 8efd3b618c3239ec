"""boost.py RUN T.nc NEW [--set ...]: GP-stage rerun, then a tree correction of the GP mode.

After the GP stage, per training site the SOC log likelihood's gradient g (n, k) and
Gauss-Newton Hessian H (n, k, k) in logits at the posterior mode z0 give a quadratic model
of each site's misfit. Newton boosting fits a correction F(x) (shallow regression trees of
the GP's features, one ensemble per parameter, cyclic) that lowers the summed quadratic
model; the number of trees is chosen by spatial-block cross-validation of that model on the
training sites (0 trees: no correction). Writes NEW/boost.npz with the unit-scale
parameters of every site of every split, GP alone and corrected.
"""

import os
import sys

import numpy as np
import torch
from sklearn.tree import DecisionTreeRegressor

sys.path.insert(0, "/work/main/benchmarks")
import gp_stage_rerun  # noqa: E402

import soilbinn.training.trainer as tm  # noqa: E402
from soilbinn.training.polish import site_gradient_hessian  # noqa: E402

LR = float(os.environ.get("BLR", "0.1"))
DEPTH = int(os.environ.get("BDEPTH", "3"))
LEAF = int(os.environ.get("BLEAF", "40"))
TMAX = int(os.environ.get("BTMAX", "150"))
FOLDS = 5
REFRESH = int(os.environ.get("BREFRESH", "1"))
_orig = tm._Trainer.fit_gp_prior


def quad_grad(g, h, f):
    """gradient of the quadratic model at correction f: g + H f  (n, k)"""
    return g + torch.einsum("nij,nj->ni", h, f)


def quad_val(g, h, f):
    return (g * f).sum(1) + 0.5 * torch.einsum("ni,nij,nj->n", f, h, f)


def boost(x, g, h, train_idx, eval_sets, n_trees):
    """Newton boosting on sites train_idx; returns per-iteration eval losses and the trees."""
    n, k = g.shape
    f = torch.zeros(n, k, dtype=torch.float64)
    losses = [[float(quad_val(g[e], h[e], f[e]).sum()) for e in eval_sets]]
    trees = []
    xt = x[train_idx]
    for _ in range(n_trees):
        stage = []
        for j in range(k):
            gr = quad_grad(g[train_idx], h[train_idx], f[train_idx])[:, j]
            hj = h[train_idx, j, j].clamp_min(1e-9)
            w = hj.numpy()
            if w.sum() <= 0:
                stage.append(None)
                continue
            tree = DecisionTreeRegressor(max_depth=DEPTH, min_samples_leaf=LEAF)
            tree.fit(xt, (-gr / hj).numpy(), sample_weight=w)
            f[:, j] += LR * torch.as_tensor(tree.predict(x))
            stage.append(tree)
        trees.append(stage)
        losses.append([float(quad_val(g[e], h[e], f[e]).sum()) for e in eval_sets])
    return np.array(losses), trees, f


def apply(trees, x, k):
    f = np.zeros((x.shape[0], k))
    for stage in trees:
        for j, tree in enumerate(stage):
            if tree is not None:
                f[:, j] += LR * tree.predict(x)
    return f


def fit_gp_prior(self):
    res = _orig(self)
    model = self.model
    prior = model.param_net
    if not hasattr(prior, "logits"):
        return res
    k = len(model.learned_names)
    feats, z0s, ids = {}, {}, {}
    with torch.no_grad():
        for split in ("train", "val", "test"):
            d = self.data.get(split) if isinstance(self.data, dict) else self.data[split]
            if d is None:
                continue
            xs = prior.features(d.numeric, d.categorical, d.lonlat).to(torch.float64)
            feats[split] = xs.numpy()
            z0s[split] = prior.logits(xs).to(torch.float64)
            ids[split] = np.array(d.site_ids)
    train = self.data["train"]
    n_obs = int(torch.isfinite(train.soc).sum())
    with torch.no_grad():
        p_net = prior.net(train.numeric, train.categorical, train.lonlat).to(torch.float64)
        misfit0 = float(self.objective_of_learned(p_net))
    scale = n_obs / (2 * misfit0)
    lon, lat = train.lonlat[:, 0].numpy(), train.lonlat[:, 1].numpy()
    cell = np.floor(lon / 2.0) * 1000 + np.floor(lat / 2.0)
    _, block = np.unique(cell, return_inverse=True)
    perm = np.random.default_rng(0).permutation(block.max() + 1)
    fold = perm[block] % FOLDS
    x = feats["train"]
    n = x.shape[0]
    z = z0s["train"].clone()
    corr = {s: np.zeros((len(ids[s]), k)) for s in feats}
    log = []
    for r in range(REFRESH):
        q = torch.sigmoid(z).clamp(1e-9, 1 - 1e-9)
        with torch.enable_grad():
            m, gq, hq = site_gradient_hessian(self.objective_of_learned, q)
        dq = q * (1 - q)
        g = scale * gq * dq
        h = scale * hq * dq[:, :, None] * dq[:, None, :]
        if r == 0:
            import xarray as xr

            tds = xr.open_dataset(sys.argv[2])
            tn = [str(v) for v in tds.param.values]
            tsite = [str(v) for v in tds.site.values]
            rows = np.array([tsite.index(s) for s in ids["train"]])
            cols = [tn.index(v) for v in model.learned_names]
            zt = torch.logit(
                torch.as_tensor(tds.true_params.values[rows][:, cols]).clamp(1e-6, 1 - 1e-6)
            )
            ft = zt - z
            qt = quad_val(g, h, ft)
            with torch.no_grad():
                mt = float(self.objective_of_learned(torch.sigmoid(zt)))
            log.append(
                f"truth: quadratic model {float(qt.sum()):.1f} nats, exact {scale * (mt - m):.1f}; "
                f"per parameter alone {[round(float(quad_val(g, h, ft * (torch.arange(k) == j)).sum()), 1) for j in range(k)]}"
            )
            fold_q = [round(float(qt[fold == fo].sum()), 1) for fo in range(FOLDS)]
            log.append(f"truth by fold {fold_q}")
        cv = np.zeros(TMAX + 1)
        for fo in range(FOLDS):
            tr = np.where(fold != fo)[0]
            va = np.where(fold == fo)[0]
            losses, _, _ = boost(x, g, h, tr, [va], TMAX)
            cv += losses[:, 0]
        best = int(np.argmin(cv))
        log.append(
            f"refresh {r}: misfit {m:.5g}, cv loss gain at best {cv[0] - cv[best]:.1f} "
            f"nats with {best} trees (of {TMAX}); gain at 25/50/100: "
            f"{[round(float(cv[0] - cv[t]), 1) for t in (5, 10, 25, 50, 100) if t <= TMAX]}"
        )
        if best == 0:
            break
        _, trees, f = boost(x, g, h, np.arange(n), [np.arange(n)], best)
        for s in feats:
            corr[s] += apply(trees, feats[s], k)
        z = z + f
    with torch.no_grad():
        m_end = float(self.objective_of_learned(torch.sigmoid(z)))
    log.append(
        f"misfit after correction {m_end:.5g} (mode {float(self.objective_of_learned(torch.sigmoid(z0s['train']))):.5g})"
    )
    for line in log:
        self.log.info("boost: %s", line)
    out = {}
    for s in feats:
        out[f"{s}_ids"] = ids[s]
        out[f"{s}_gp"] = torch.sigmoid(z0s[s]).numpy()
        out[f"{s}_boost"] = torch.sigmoid(z0s[s] + torch.as_tensor(corr[s])).numpy()
    out["names"] = np.array(model.learned_names)
    np.savez(f"{self.run.path}/boost.npz", **out)
    return res


tm._Trainer.fit_gp_prior = fit_gp_prior
if __name__ == "__main__":
    sys.exit(gp_stage_rerun.main())
