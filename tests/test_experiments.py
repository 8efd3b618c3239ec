"""End-to-end runs of the experiment commands at tiny sizes, and the HTML report."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from soilbinn.cli import main
from soilbinn.experiments.common import scores

pytestmark = pytest.mark.usefixtures("one_thread")


TINY = ["--epochs", "2", "--proda-iterations", "10", "20", "--seed", "1"]
#: PRODA's network step, 2 bootstrap members of at most 20 epochs (its accuracy is tested in
#: tests/test_proda_*.py; here only what the experiments write)
TINY_NETWORK = ["--network-epochs", "20", "--network-members", "2"]


def _tiny_binn(tmp_path) -> list[str]:
    """``--binn-config`` of the packaged demo with 2 polishing steps (keeps the run short)."""
    import yaml

    from soilbinn.training.config import packaged_config_path

    cfg = yaml.safe_load(packaged_config_path("demo").read_text())
    cfg["train"]["polish"]["iterations"] = 2
    path = tmp_path / "demo_tiny.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return ["--binn-config", str(path)]


def test_scores_reference_values():
    s = scores([1.0, 2.0, 3.0, float("nan")], [1.0, 2.0, 4.0, 5.0])
    assert s["n"] == 3
    assert s["rmse"] == pytest.approx((1 / 3) ** 0.5)
    assert s["r2"] == pytest.approx(1 - 1 / (14 / 3))
    assert s["r"] == pytest.approx(0.9819805060619657)
    assert s["slope"] == pytest.approx(9 / 14)  # cov(p, t) = 1, var(t) = 14/9
    assert s["bias"] == pytest.approx(-1 / 3)
    shrunk = scores(0.3 + 0.6 * np.linspace(0, 1, 11), np.linspace(0, 1, 11))
    assert shrunk["slope"] == pytest.approx(0.6) and shrunk["r"] == pytest.approx(1.0)
    assert shrunk["r2"] < 0.9  # a perfect ranking, yet R2 loses what the shrinkage costs
    assert scores([1.0], [2.0])["n"] == 1


@pytest.mark.slow
def test_recovery_compare_efficiency_and_report(tmp_path):
    rec = tmp_path / "rec"
    assert main(["experiment", "recovery", "--out", str(rec), "--sites", "16",
                 "--proda-sites", "2", "--variants", "paper4", "--profile", "4", *TINY,
                 *_tiny_binn(tmp_path)]) == 0  # fmt: skip
    params = pd.read_csv(rec / "parameters.csv")
    # only the learned parameters are scored, per parameter
    assert set(params.query("method == 'binn'")["parameter"]) == {
        "efolding", "tau4s3", "fs1s3", "w_scaling"}  # fmt: skip
    assert set(params["method"]) == {"binn", "proda"}
    proc = pd.read_csv(rec / "processes.csv")
    assert len(proc) == 12
    # carbon input is forcing and input allocation depends on beta only (fixed): trivial
    trivial = set(proc.loc[proc["trivial"], "process"])
    assert trivial == {"carbon_input", "input_allocation"}
    assert params["fraction_constrained"].between(0, 1).all()
    assert params["within_2sd"].between(0, 1).all()
    # a site constrained globally is constrained locally
    assert (params["fraction_constrained_global"] <= params["fraction_constrained"]).all()
    assert params["site_information_r2"].between(-1e-9, 1).all()
    assert (params["median_posterior_sd"] <= 12**-0.5 + 1e-12).all()
    info = json.loads((rec / "experiment.json").read_text())["results"]
    assert info["split"] == "spatial" and "ident_statement" in info["summary"]["paper4"]
    assert "w_scaling:" in info["summary"]["paper4"]["ident_global_statement"]
    assert (rec / "sites_paper4.nc").exists() and (
        rec / "figures" / "parameters_paper4.png"
    ).exists()

    cmp_ = tmp_path / "cmp"
    assert main(["experiment", "compare", "--out", str(cmp_), "--sites", "14",
                 "--proda-sites", "3", "--grid-resolution", "5", *TINY, *TINY_NETWORK,
                 *_tiny_binn(tmp_path)]) == 0  # fmt: skip
    res = json.loads((cmp_ / "experiment.json").read_text())["results"]
    site = pd.read_csv(cmp_ / "site_correlations.csv")
    proc = site[site.kind == "process"].set_index("quantity")["r"]
    # headline without carbon input (forcing, r = 1 by construction), reported apart
    # the CSV holds 6 significant digits: a mean near 0 (r of both signs) agrees to ~1e-6
    assert res["mean_process_r_sites"] == pytest.approx(proc.drop("carbon_input").mean(), abs=1e-6)
    assert res["carbon_input_r_sites"] == pytest.approx(proc["carbon_input"])
    assert res["compared_sites_held_out_from_binn"] and res["n_sites_compared"] == 3
    # 10 + 20 steps cannot converge: the run says so loudly
    assert any("PRODA NOT CONVERGED" in w for w in res["warnings"])
    assert len(pd.read_csv(cmp_ / "proda_sites.csv")) == 3
    if "map_skipped" not in res:
        assert len(pd.read_csv(cmp_ / "map_correlations.csv")) == 6 + 21

    eff = tmp_path / "eff"
    assert main(["experiment", "efficiency", "--out", str(eff), "--sites", "6", *TINY,
                 *TINY_NETWORK, *_tiny_binn(tmp_path)]) == 0  # fmt: skip
    table = pd.read_csv(eff / "efficiency.csv")
    mcmc = table[(table.method == "PRODA (soilbinn)") & (table.component == "MCMC")]
    # two sizes; at least chains x steps per site (failed uniform phases add steps)
    assert mcmc["sites"].tolist() == [6, 12]
    assert (mcmc["model_evaluations"].to_numpy() >= [6 * 3 * 30, 12 * 3 * 30]).all()
    assert set(table.component) >= {"MCMC", "network", "training", "prediction", "total"}
    assert (table.dropna(subset=["cpu_s"])["cpu_s"] > 0).all()
    info = json.loads((eff / "experiment.json").read_text())["results"]
    assert info["ratio_proda_over_binn_cpu"] == pytest.approx(
        info["proda_cpu_s_per_site"] / info["binn_cpu_s_per_site"]
    )
    assert len(info["linearity_check_per_site_cpu"]["BINN"]) == 2

    html = tmp_path / "report.html"
    assert main(["report", str(rec), str(cmp_), str(eff), "--out", str(html)]) == 0
    page = html.read_text()
    assert page.count("data:image/png;base64,") >= 5 and "efficiency.csv" in page
    assert "http://" not in page and "https://" not in page  # opens offline
    assert "class='warn'>WARNING: PRODA NOT CONVERGED" in page
    assert main(["report", str(tmp_path / "missing"), "--out", str(html)]) == 2
    # a run directory is never overwritten
    assert main(["experiment", "efficiency", "--out", str(eff), "--sites", "6", *TINY]) == 2
    # PRODA's network sizes are checked before anything runs
    bad = tmp_path / "bad"
    assert main(["experiment", "efficiency", "--out", str(bad), "--sites", "6", *TINY,
                 "--network-epochs", "0"]) == 2  # fmt: skip


def test_global_statement_names_each_parameter_and_the_empty_case():
    from soilbinn.experiments.recovery import global_statement

    df = pd.DataFrame({"parameter": ["efolding", "w_scaling"],
                       "fraction_constrained": [0.3, 0.1],
                       "fraction_constrained_global": [0.05, 0.0],
                       "within_2sd_constrained_global": [0.98, float("nan")]})  # fmt: skip
    text = global_statement(df)
    assert "efolding: 30% locally, 5% globally (98% within 2 sd there)" in text
    assert "w_scaling: 10% locally, 0% globally (none to test)" in text
