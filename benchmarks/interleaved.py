"""Pretraining epoch vs the plain PyG reference, interleaved: on a shared, loaded machine the two suites'
rounds run minutes apart under different loads, so their ratio drifts; here one epoch of each runs in
turn (the order alternating every round) and the ratio is the median of the per-round ratios.

    python -m benchmarks.interleaved --dataset Cora --pretrainer graphmae --rounds 15 --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from benchmarks.conftest import load, resolve
from benchmarks.reference import REFERENCES, plain_pretrain
from benchmarks.stepper import EpochStepper


def interleaved(pretrainer_name: str, dataset: str, rounds: int, device: torch.device) -> dict[str, float]:
    """Median epoch times of ours and the plain reference and the median per-round ratio ours / plain."""
    pretrainer, options = resolve("pretrainer", pretrainer_name, dataset, pretrainer_name, epochs=rounds + 1)
    data = pretrainer.prepare(load(dataset), options)
    steppers = {"ours": EpochStepper(lambda ctx: pretrainer.pretrain(data, options, ctx), device).start(),
                "plain": EpochStepper(lambda ctx: plain_pretrain(pretrainer.name, data, options, ctx), device).start()}
    for stepper in steppers.values():  # warm-up
        stepper.step()
    times: dict[str, list[float]] = {name: [] for name in steppers}
    for round_ in range(rounds):
        for name in (("ours", "plain") if round_ % 2 == 0 else ("plain", "ours")):
            start = time.perf_counter()
            steppers[name].step()
            times[name].append(time.perf_counter() - start)
    for stepper in steppers.values():
        stepper.close()
    ratios = [a / b for a, b in zip(times["ours"], times["plain"])]
    return dict(ours=statistics.median(times["ours"]), plain=statistics.median(times["plain"]),
                ratio=statistics.median(ratios), speedup=1 / statistics.median(ratios))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="Cora")
    parser.add_argument("--pretrainer", default="graphmae", choices=sorted(REFERENCES))
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    result = interleaved(args.pretrainer, args.dataset, args.rounds, torch.device(args.device))
    print(f"{args.pretrainer} {args.dataset} {args.device}, {args.rounds} interleaved rounds, {args.threads} thread(s), "
          f"load average {load_before[0]:.1f} -> {os.getloadavg()[0]:.1f}: ours {result['ours']:.3f} s, "
          f"plain PyG {result['plain']:.3f} s per epoch (medians); ours / plain {result['ratio']:.3f} "
          f"(median of per-round ratios): {result['speedup']:.2f}x faster")


if __name__ == "__main__":
    main()
