"""CLI verbs of the process model: ``simulate`` and ``bench``."""

from __future__ import annotations

import argparse
import sys

from soilbinn.cli import Command
from soilbinn.io import add_overwrite_argument, check_output


def _configure_simulate(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="dataset NetCDF (soilbinn schema) with forcing")
    p.add_argument("--out", required=True, help="output NetCDF (written atomically)")
    add_overwrite_argument(p)
    p.add_argument("--params", help="NetCDF with params(site, param); default: the dataset's")
    p.add_argument(
        "--params-var", default="params", help="variable to read (params or true_params)"
    )
    p.add_argument("--preset", default=None, choices=["proda2023", "binn2025"],
                   help="parameter ranges (default: the params variable's preset attribute)")  # fmt: skip
    p.add_argument("--transport", default="clm5", choices=["clm5", "simple", "simple2"],
                   help="vertical transport: CLM5 bio/cryoturbation, or BINN's power laws of depth")  # fmt: skip
    p.add_argument("--solver", default="structured", choices=["structured", "dense"],
                   help="structured block sweep, or the dense 140x140 solve it is tested against")  # fmt: skip
    p.add_argument("--bedrock", default="proda", choices=["proda", "conservative"],
                   help="below bedrock: PRODA's treatment (leaks a little carbon) or mass-conserving")  # fmt: skip
    p.add_argument("--input-allocation", default="robust", choices=["robust", "proda"],
                   help="input-allocation index: robust, or PRODA's round-off-prone form")  # fmt: skip
    p.add_argument("--chunk-size", type=int, default=8192,
                   help="sites per model call (lower it to use less memory)")  # fmt: skip
    p.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...)")
    p.add_argument("--noise", type=float, default=None, metavar="SIGMA",
                   help="also write observations for a recovery study: soc = soc_sim * "
                        "exp(SIGMA * N(0, 1)) (0.1 is about 10%%), with soc_true = soc_sim and "
                        "true_params = the parameters used, so the output is a training "
                        "dataset (default: none)")  # fmt: skip
    p.add_argument("--seed", type=int, default=0, help="seed of the --noise draws (default 0)")


def _run_simulate(args: argparse.Namespace) -> int:
    import torch

    from soilbinn.data.schema import (
        DatasetError,
        forcing_from_dataset,
        load_dataset,
        params_from_dataset,
        save_dataset,
    )
    from soilbinn.process.model import CLM5Model
    from soilbinn.process.outputs import results_to_dataset, with_observations

    check_output(args.out, args.overwrite)
    if args.noise is not None and not args.noise >= 0:
        print(f"soilbinn simulate: --noise must be >= 0, got {args.noise}", file=sys.stderr)
        return 1
    try:
        ds = load_dataset(args.data, require=("forcing",) if args.params else ("forcing", "params"))
        pds = load_dataset(args.params, require=("params",)) if args.params else ds
    except (DatasetError, FileNotFoundError, OSError) as e:
        print(f"soilbinn simulate: {e}", file=sys.stderr)
        return 1
    if args.params_var not in pds.variables:
        print(f"soilbinn simulate: {args.params or args.data}: no variable {args.params_var!r}",
              file=sys.stderr)  # fmt: skip
        return 1
    if args.params and list(pds["site"].values) != list(ds["site"].values):
        print(f"soilbinn simulate: sites of {args.params} differ from those of {args.data}",
              file=sys.stderr)  # fmt: skip
        return 1
    preset = args.preset or pds[args.params_var].attrs.get("preset", "binn2025")
    model = CLM5Model(
        preset, transport=args.transport, solver=args.solver, bedrock=args.bedrock,
        chunk_size=args.chunk_size,
    )  # fmt: skip
    names = [str(n) for n in pds["param"].values]
    if tuple(names) != model.space.names:
        print(f"soilbinn simulate: parameter names {names} do not match the model's "
              f"{list(model.space.names)} (transport {args.transport})", file=sys.stderr)  # fmt: skip
        return 1
    device = torch.device(args.device)
    forcing = forcing_from_dataset(ds, device=device)
    p = params_from_dataset(pds, args.params_var, device=device)
    try:
        with torch.no_grad():
            prepared = model.prepare(forcing)
            out = model(p, prepared)
            proc = model.processes(p, prepared, out, input_allocation=args.input_allocation)
    except ValueError as e:
        print(f"soilbinn simulate: {args.data}: {e}", file=sys.stderr)
        return 1
    soc_obs = None
    if args.noise is not None and "obs_depth" not in ds.variables:
        print(f"soilbinn simulate: {args.data}: --noise needs observation depths (obs_depth)",
              file=sys.stderr)  # fmt: skip
        return 1
    if "obs_depth" in ds.variables:  # SOC at each site's observation depths
        from soilbinn.process.observation import interpolate_to_depths

        depth = torch.from_numpy(ds["obs_depth"].transpose("site", "obs").values.astype(float))
        try:
            soc_obs = interpolate_to_depths(out["soc_layer"], depth, site_ids=forcing.site_ids)
        except ValueError as e:
            print(f"soilbinn simulate: {args.data}: obs_depth: {e}", file=sys.stderr)
            return 1
    res = results_to_dataset(ds, out, proc, model.space.to_physical(p), model.space, p, soc_obs)
    res.attrs.update({"simulated_preset": preset, "simulated_transport": args.transport})
    if args.noise is not None:
        res = with_observations(res, args.noise, args.seed, source=args.params or args.data)
    save_dataset(res, args.out)
    n_ill = int(out["ill_conditioned"].sum())
    print(f"simulated {len(forcing)} sites -> {args.out}"
          + (f" ({n_ill} flagged ill-conditioned)" if n_ill else ""))  # fmt: skip
    return 0


def _configure_bench(p: argparse.ArgumentParser) -> None:
    from soilbinn.process.bench import add_arguments

    add_arguments(p)


def _run_bench(args: argparse.Namespace) -> int:
    from soilbinn.process.bench import run

    return run(args)


COMMANDS = {
    "simulate": Command(_configure_simulate, _run_simulate, "run the process model on a dataset"),
    "bench": Command(_configure_bench, _run_bench, "benchmark the process model"),
}
