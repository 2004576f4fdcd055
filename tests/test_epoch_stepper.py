"""The benchmark suite's epoch stepper: one ``step`` is one epoch of a loop that iterates through ``ctx.progress``."""

from __future__ import annotations

import time

import pytest
import torch

from benchmarks.stepper import EpochStepper

CPU = torch.device("cpu")


def loop(log, epochs=3, fail_at=None):
    def run(ctx):
        log.append("setup")
        for epoch in ctx.progress(range(epochs)):
            for _ in ctx.progress(range(2)):  # inner loops are not gated
                pass
            if epoch == fail_at:
                raise ValueError("boom")
            log.append(epoch)
        log.append("done")
        return "result"
    return run


def test_each_step_runs_one_epoch_and_close_finishes():
    log = []
    stepper = EpochStepper(loop(log), CPU).start()
    assert log == ["setup"]
    stepper.step()
    assert log == ["setup", 0]
    stepper.step()
    assert log == ["setup", 0, 1] and stepper.epochs == 2
    assert stepper.close() == "result" and log == ["setup", 0, 1, 2, "done"]


def test_step_times_the_epoch_body_only():
    def run(ctx):
        time.sleep(0.2)  # setup: not timed
        for _ in ctx.progress(range(2)):
            time.sleep(0.02)

    stepper = EpochStepper(run, CPU).start()
    start = time.perf_counter()
    stepper.step()
    assert 0.015 < time.perf_counter() - start < 0.15
    stepper.close()


def test_errors_reach_the_caller():
    stepper = EpochStepper(loop([], fail_at=1), CPU).start()
    stepper.step()
    with pytest.raises(ValueError, match="boom"):
        stepper.step()


def test_loop_without_progress_is_reported():
    with pytest.raises(RuntimeError, match="ctx.progress"):
        EpochStepper(lambda ctx: None, CPU).start()


def test_stepping_past_the_last_epoch_is_an_error():
    stepper = EpochStepper(loop([], epochs=1), CPU).start()
    stepper.step()
    stepper.close()
    with pytest.raises(RuntimeError, match="ended after 1 epochs"):
        stepper.step()
