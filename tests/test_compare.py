"""Paired comparisons and the variance breakdown, on synthetic stores with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from registry.compare import bootstrap_ci, compare, parse_selector, select, variance_breakdown
from registry.errors import ConfigError


def frame(scores: dict[tuple[str, bool], dict[int, list[float]]]) -> pd.DataFrame:
    """Rows for head/decorrelation → {pretraining seed: [score per fine-tuning seed]}."""
    rows = []
    for (head, decorrelation), by_seed in scores.items():
        for seed, values in by_seed.items():
            for ft, value in enumerate(values):
                config = {"dataset": "Cora", "seed": seed, "finetune_seed": ft,
                          "pretrainer": {"name": "graphmae", "options": {}},
                          "slimmer": {"name": "2-half", "options": {"selection": "stride"}},
                          "head": {"name": head, "options": {"decorrelation": decorrelation}}}
                rows.append(dict(status="ok", dataset="Cora", pretrainer="graphmae", slimmer="2-half", head=head,
                                 seed=seed, finetune_seed=ft, config=config, test_micro_f1=value))
    return pd.DataFrame(rows)


def test_selector_parsing_and_option_matching():
    assert parse_selector("head=slide, slim=2-half") == {"head": "slide", "slim": "2-half"}
    df = frame({("slide", True): {0: [80.0]}, ("slide", False): {0: [79.0]}})
    assert select(df, parse_selector("head=slide,head.decorrelation=false"))["test_micro_f1"].tolist() == [79.0]
    with pytest.raises(ConfigError):
        parse_selector("head")
    with pytest.raises(ConfigError):
        select(df, {"bogus.key": "1"})


def test_clear_improvement_is_detected_and_pairs_by_pretraining_seed():
    # Seeds differ a lot between each other (pretraining variance), A beats B by ~1 point on every seed.
    base = {0: 70.0, 1: 80.0, 2: 75.0, 3: 85.0, 4: 78.0}
    a = {s: [v + 1.0, v + 1.2] for s, v in base.items()}
    b = {s: [v, v + 0.1] for s, v in base.items()}
    (result,) = compare(frame({("slide", True): a, ("full", True): b}), "head=slide", "head=full")
    assert result.seeds == [0, 1, 2, 3, 4]
    assert result.mean_diff == pytest.approx(1.05)
    assert result.ci_low <= result.mean_diff <= result.ci_high
    assert result.p_ttest < 0.001  # paired: the seed offsets cancel
    assert result.verdict == "better"
    # An unpaired test on the same scores is swamped by the seed spread: the pairing is what detects it.
    from scipy import stats

    assert stats.ttest_ind([np.mean(v) for v in a.values()], [np.mean(v) for v in b.values()]).pvalue > 0.5


def test_noise_gives_no_detectable_difference_and_worse_is_worse():
    rng = np.random.default_rng(0)
    a = {s: [70 + rng.normal()] for s in range(5)}
    b = {s: [70 + rng.normal()] for s in range(5)}
    (noise,) = compare(frame({("slide", True): a, ("full", True): b}), "head=slide", "head=full")
    assert noise.verdict == "no detectable difference"
    worse = {s: [v[0] - 3.0 + 0.1 * s] for s, v in a.items()}
    (result,) = compare(frame({("slide", True): worse, ("full", True): a}), "head=slide", "head=full")
    assert result.verdict == "worse" and result.mean_diff < 0


def test_missing_overlap_is_an_error():
    df = frame({("slide", True): {0: [1.0]}, ("full", True): {1: [1.0]}})
    with pytest.raises(ConfigError, match="no pretraining seed"):
        compare(df, "head=slide", "head=full")


def test_bootstrap_interval_is_seeded_and_tightens_with_agreement():
    diffs = np.array([1.0, 1.1, 0.9, 1.05, 0.95])
    assert bootstrap_ci(diffs) == bootstrap_ci(diffs)
    low, high = bootstrap_ci(diffs)
    wide_low, wide_high = bootstrap_ci(np.array([-3.0, 5.0, 1.0, -2.0, 4.0]))
    assert high - low < wide_high - wide_low


def test_variance_breakdown_separates_pretraining_from_finetuning_seeds():
    pretrain_driven = {s: [70.0 + 5 * s, 70.0 + 5 * s + 0.1] for s in range(4)}
    finetune_driven = {s: [70.0, 75.0] for s in range(4)}
    table = variance_breakdown(frame({("slide", True): pretrain_driven, ("full", True): finetune_driven}))
    by_method = table.set_index("method")
    assert by_method.loc["2-half/slide", "pretrain_share"] > 0.99
    assert by_method.loc["2-half/full", "finetune_share"] == pytest.approx(1.0)
    # Methods that differ only by an option are kept apart, named by that option (never by a hash).
    two = variance_breakdown(frame({("slide", True): pretrain_driven, ("slide", False): pretrain_driven}))
    assert two["method"].tolist() == ["2-half/slide head.decorrelation=true", "2-half/slide head.decorrelation=false"]


def test_t_interval_excludes_zero_exactly_when_the_t_test_rejects():
    """The paired t-interval at level 1 − α and the paired t-test at α never contradict each other
    (the bootstrap interval, at two seeds, can: it is labelled as such)."""
    rng = np.random.default_rng(7)
    for trial in range(300):
        n, alpha = int(rng.integers(2, 9)), float(rng.choice([0.01, 0.05, 0.1]))
        a = {s: [70 + rng.normal()] for s in range(n)}
        b = {s: [v[0] - rng.normal(0.5, 1.0)] for s, v in a.items()}
        (c,) = compare(frame({("slide", True): a, ("full", True): b}), "head=slide", "head=full", alpha=alpha)
        assert c.t_low <= c.mean_diff <= c.t_high
        assert (c.t_low > 0 or c.t_high < 0) == (c.p_ttest < alpha), (trial, c)
    (c,) = compare(frame({("slide", True): {0: [81.0], 1: [82.0]}, ("full", True): {0: [80.0], 1: [80.5]}}),
                   "head=slide", "head=full")
    assert c.ci_low > 0 and c.p_ttest > 0.05 and c.t_low < 0 < c.t_high and "only 2 pretraining seeds" in c.warning


def test_a_selector_matching_several_settings_is_refused_not_averaged():
    df = frame({("slide", True): {0: [80.0], 1: [81.0]}, ("slide", False): {0: [70.0], 1: [71.0]},
                ("full", True): {0: [75.0], 1: [76.0]}})
    with pytest.raises(ConfigError, match=r"head.decorrelation = false, true"):
        compare(df, "head=slide", "head=full")
    (result,) = compare(df, "head=slide,head.decorrelation=true", "head=full")
    assert result.mean_diff == pytest.approx(5.0)


def test_component_versions_are_selectable():
    df = frame({("slide", True): {0: [80.0], 1: [81.0]}, ("full", True): {0: [75.0], 1: [76.0]}})
    old = df[df["head"] == "slide"].assign(test_micro_f1=lambda d: d["test_micro_f1"] - 10)
    for frame_ in (df, old):
        frame_["config"] = [c | {"head": c["head"] | {"version": "1" if frame_ is old else "2"}} for c in frame_["config"]]
    both = pd.concat([df, old], ignore_index=True)
    with pytest.raises(ConfigError, match="head.version = 1, 2"):
        compare(both, "head=slide", "head=full")
    (result,) = compare(both, "head=slide,head.version=2", "head=full")
    assert result.mean_diff == pytest.approx(5.0)


def test_table_marks_significant_cells():
    from registry.compare import significance_marker
    from registry.tables import paper_tables, render_tables

    base = {0: 70.0, 1: 80.0, 2: 75.0, 3: 85.0, 4: 78.0}
    rng = np.random.default_rng(3)
    df = frame({("slide", True): {s: [v + 2.0 + 0.1 * rng.normal()] for s, v in base.items()},
                ("lora", True): {s: [v + rng.normal()] for s, v in base.items()},
                ("full", True): {s: [v] for s, v in base.items()}})
    df = df.assign(key=[f"run{i}" for i in range(len(df))], preset="official", param_change_pct=0.0)
    mark = significance_marker(df, "head=full")
    cells = {head: mark(df[df["head"] == head], "test_micro_f1") for head in ("slide", "lora", "full")}
    assert cells == {"slide": " ▲", "lora": " =", "full": ""}
    assert significance_marker(df, "head=slide")(df[df["head"] == "full"], "test_micro_f1") == " ▼"
    text = render_tables(paper_tables(df, ["test_micro_f1"], mark=mark))
    assert "▲" in text and text.count("▼") == 0
