"""``soilbinn demo``: synthetic data -> BINN and the pure NN -> evaluate -> grid -> maps."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd


def run_demo(out: str | Path, n_sites: int = 1500, epochs: int | None = None,
             grid_deg: float = 1.0, seed: int = 0, param_maps: bool = True) -> pd.DataFrame:  # fmt: skip
    """Run the demo into a new folder ``out``; returns the summary table (test metrics)."""
    from soilbinn.evaluation.figures import maps_of_prediction
    from soilbinn.inputs.synth import make_synthetic, make_synthetic_grid
    from soilbinn.io import write_csv
    from soilbinn.training.config import load_config
    from soilbinn.training.predict import predict_dataset, save_prediction
    from soilbinn.training.trainer import train

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ValueError(f"demo output folder {out} exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[demo] synthetic dataset: {n_sites} sites, 10% noise")
    ds = make_synthetic(n_sites, seed=seed, noise=0.1)
    rows = []
    runs = {}
    for kind in ("binn", "nn"):
        # validation sites for the epochs' choice and the NN's monitored polishing
        # (``demo`` itself has none: its GP stage uses every site that is not a test site)
        extra = [f"model.kind={kind}", f"name=demo_{kind}", f"train.seed={seed}",
                 "data.val_fraction=0.15"]  # fmt: skip
        if kind == "binn":  # all 21 parameters learned: a Newton step costs 22 passes
            extra.append("train.polish.iterations=5")
        if kind == "nn":  # no parameters to polish: full-batch L-BFGS on the weights
            extra += [
                "train.polish.method=lbfgs",
                "train.polish.iterations=300",
                "train.polish.start=best",
                "train.polish.monitor=true",
            ]
        if epochs is not None:
            extra.append(f"train.epochs={epochs}")
        cfg = load_config("demo", extra)
        t = time.perf_counter()
        print(f"[demo] training {kind} ...")
        res = train(cfg, ds, run_dir=out / f"run_{kind}")
        runs[kind] = res
        for split in ("train", "val", "test"):
            m = res.metrics.loc[(split, "all")]
            rows.append({"model": kind, "split": split, "nse": m["nse"], "r2": m["r2"],
                         "rmse": m["rmse"], "mae": m["mae"], "epochs": len(res.history),
                         "seconds": round(time.perf_counter() - t, 1)})  # fmt: skip
    print("[demo] predicting the CONUS grid with BINN ...")
    grid = make_synthetic_grid(resolution_deg=grid_deg, seed=seed)
    pred = predict_dataset(runs["binn"].run_dir, grid)
    save_prediction(pred, out / "grid_prediction.nc")
    maps_of_prediction(pred, out / "maps", params=param_maps)
    table = pd.DataFrame(rows)
    write_csv(table, out / "summary.csv", index=False)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"[demo] done in {time.perf_counter() - t0:.0f} s -> {out}")
    return table
