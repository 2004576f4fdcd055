"""``slide-bench study-report``: verdicts decided from paired comparisons, and a partial store reported as such."""

import pandas as pd
import pytest

from registry.cli import main
from slide_plugin.study import Claim, decide


def runs(label: str, scores: dict[int, list[float]]) -> pd.DataFrame:
    return pd.DataFrame([dict(label=label, dataset="Cora", pretrainer="graphmae", seed=seed, finetune_seed=ft,
                              test_micro_f1=score) for seed, values in scores.items() for ft, score in enumerate(values)])


BASE = {0: [80.0, 80.4], 1: [82.0, 81.6], 2: [79.0, 79.2], 3: [81.0, 80.8], 4: [80.5, 80.1]}


def shifted(by: list[float]) -> dict[int, list[float]]:
    return {seed: [v + by[seed] for v in values] for seed, values in BASE.items()}


@pytest.mark.parametrize("kind,shift,verdict", [
    ("at least", [1.0, 1.2, 0.9, 1.1, 1.0], "holds: A better"),
    ("at least", [-1.0, -1.2, -0.9, -1.1, -1.0], "refuted: A worse"),
    ("at least", [1.0, -1.0, 0.5, -0.5, 0.0], "consistent: no detectable difference"),
    ("better", [1.0, -1.0, 0.5, -0.5, 0.0], "not shown: no detectable difference"),
    ("better", [1.0, 1.2, 0.9, 1.1, 1.0], "holds: A better"),
])
def test_verdicts_follow_the_paired_comparison(kind, shift, verdict):
    row = decide(Claim("c", "A", "B", kind), runs("A", shifted(shift)), runs("B", BASE), alpha=0.05)
    assert row["verdict"] == verdict and row["n seeds"] == 5


def test_share_claim_and_too_little_data():
    share = Claim("Half keeps", "Half LP", "LP", "share")
    keeps = {seed: [0.99 * v for v in values] for seed, values in BASE.items()}
    loses = {seed: [0.90 * v for v in values] for seed, values in BASE.items()}
    assert decide(share, runs("Half LP", keeps), runs("LP", BASE), 0.05)["verdict"] == "holds"
    assert decide(share, runs("Half LP", loses), runs("LP", BASE), 0.05)["verdict"] == "fails"
    one_seed = {0: BASE[0]}
    assert decide(share, runs("Half LP", one_seed), runs("LP", one_seed), 0.05)["verdict"] == "too few paired seeds"
    assert decide(share, runs("Half LP", {}), runs("LP", BASE), 0.05)["verdict"] == "no data yet"


@pytest.mark.filterwarnings("error:'str' is not supported as a fill value")  # pandas: fillna("") on floats
def test_report_of_a_partial_store(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SLIDE_BENCH_CACHE", str(tmp_path / "cache"))
    spec = tmp_path / "mini.toml"
    spec.write_text('\n'.join([
        'name = "mini"', 'datasets = ["Cora"]', 'pretrainers = ["graphmae"]', 'seeds = [0, 1]', 'finetune_seeds = [0]',
        'preset = "quick"', '[set]', 'pretrain.epochs = 1', 'pretrain.num_hidden = 8', 'head.epochs = 2',
        '[labels]', '"original/linear" = "LP"', '"half/linear" = "Half LP"', '"original/full" = "FT"',
        '"2-half/slide" = "SLIDE"', '[[group]]', 'slimmers = ["original", "half"]', 'heads = ["linear"]',
        '[[group]]', 'slimmers = ["original"]', 'heads = ["full"]', '[[group]]', 'slimmers = ["2-half"]',
        'heads = ["slide"]']))
    store = tmp_path / "study.sqlite"
    assert main(["matrix", str(spec), "--only", "linear,slide", "--store", str(store), "--quiet"]) == 0
    out = tmp_path / "study.md"
    assert main(["study-report", "--spec", str(spec), "--store", str(store), "--out", str(out),
                 "--figures", str(tmp_path / "figures")]) == 0
    page = out.read_text()
    assert f"slide-bench study-report --spec {spec} --store {store} --out {out} --figures {tmp_path / 'figures'}" in page
    assert "[png](figures/slide-study-decorrelation.png)" in page  # linked relative to the page
    assert (tmp_path / "figures" / "slide-study-decorrelation.png").read_bytes()[:4] == b"\x89PNG"
    assert "6 of 8 planned runs are in the store" in page
    assert f"`slide-bench matrix {spec} --store {store}`" in page  # how to run what is missing
    assert "- graphmae Cora, FT: 2" in page  # what is missing
    (half,) = [line.split("|") for line in page.splitlines() if line.startswith("| graphmae ") and "Half LP" in line]
    assert [cell.strip() for cell in half[6:7] + half[10:11]] == ["2", "fails"]  # 2 paired seeds; quick runs lose a lot
    rows = {tuple(cell.strip() for cell in line.split("|")[3:6]): line.split("|")[6:11] for line in page.splitlines()
            if line.startswith("| graphmae ")}
    assert rows[("SLIDE ≥ FT", "SLIDE", "FT")][-1].strip() == "no data yet"  # FT is missing
    assert rows[("SLIDE ≥ LP", "SLIDE", "LP")][0].strip() == "2"
    assert "SLIDE (standardised)" not in page  # a claim on methods the spec does not plan is left out
    weights = page.split("### What the sample weights did")[1].split("###")[0]
    assert "| SLIDE " in weights and "graphmae" in weights  # the SLIDE runs' weight diagnostics
    tuned = tmp_path / "tuned.toml"  # a tuned spec none of whose runs is in the store yet
    tuned.write_text(spec.read_text().replace('name = "mini"', 'name = "tuned"').replace("head.epochs = 2", "head.epochs = 3"))
    assert main(["study-report", "--spec", str(spec), "--tuned-spec", str(tuned), "--store", str(store)]) == 0
    tuned_part = capsys.readouterr().out.split("## Equal-trials tuned settings: spec `tuned`")[1]
    assert "0 of 8 planned runs are in the store" in tuned_part and "- graphmae Cora, SLIDE: 2" in tuned_part
    with pytest.raises(SystemExit) as bad:
        main(["study-report", "--spec", str(spec), "--store", str(store), "--alpha", "2"])
    assert bad.value.code == 2 and "--alpha" in capsys.readouterr().err
