"""Options, parametrisation and shared fixtures of the benchmark suite.

The suite runs only when asked: ``pytest benchmarks/ --benchmark-only`` (``--benchmark-enable``
also works). A bare ``pytest`` never collects it (``testpaths = ["tests"]``), and a bare
``pytest benchmarks/`` skips every benchmark (``--benchmark-skip`` in ``addopts``, plus the guard
below for runs that clear ``addopts``).

Pretrainers, heads and slimming strategies come from the registry, so whatever plugins are
installed when the suite runs gets benchmarked.
"""

from __future__ import annotations

import copy
import dataclasses
import os
import platform
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
import torch

from benchmarks import synthetic
from benchmarks.reference import REFERENCES
from registry.config import resolve_options
from registry.datasets import load_dataset
from registry.plugins import build_registry
from registry.registry import Registry

REPO = Path(__file__).resolve().parent.parent
SKIP_SLIMMERS = {"custom"}  # needs options of its own; the named strategies cover the matrix


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("slide-bench", "slide-bench benchmark suite")
    group.addoption("--bench-datasets", default="Cora,Computers", help="comma-separated datasets (default: Cora,Computers)")
    group.addoption("--bench-arxiv", action="store_true",
                    help=f"add {synthetic.NAME}, a seeded random graph of ogbn-arxiv's size (slow on CPU)")
    group.addoption("--bench-devices", default="auto", help="cpu, cuda, or auto = cpu plus cuda when present (default)")
    group.addoption("--bench-rounds", type=int, default=5, help="timed rounds per benchmark (default: 5)")
    group.addoption("--bench-arxiv-rounds", type=int, default=2, help=f"timed rounds on {synthetic.NAME} (default: 2)")
    group.addoption("--bench-encoders", default="graphmae",
                    help="pretrainers whose encoders the fine-tuning, slicing, embedding and CKA benchmarks use "
                         "(comma-separated, or 'all'; default: graphmae)")
    group.addoption("--bench-threads", type=int, default=None,
                    help="torch CPU threads (default: torch's); 1 on a shared, loaded machine, where idle cores are "
                         "rare and multi-threaded small operations mostly wait for each other")
    group.addoption("--bench-gat-fractions", default="0.0625",
                    help="fractions of the arXiv-sized graph for the one-GAT-layer benchmark (default: 0.0625)")
    group.addoption("--bench-heads", default="all", help="heads to fine-tune (comma-separated, or 'all')")
    group.addoption("--bench-slimmers", default="all", help="slimming strategies (comma-separated, or 'all')")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "plain_reference: parametrised only over pretrainers with a plain PyG reference")
    if config.getoption("bench_threads"):
        torch.set_num_threads(config.getoption("bench_threads"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("benchmark_only") or config.getoption("benchmark_enable"):
        return
    skip = pytest.mark.skip(reason="benchmarks run only with --benchmark-only (see README, 'Timing benchmarks')")
    for item in items:
        if str(item.fspath).startswith(str(REPO / "benchmarks")):
            item.add_marker(skip)


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict[str, Any]) -> None:
    import torch_geometric

    machine_info.update(torch=torch.__version__, torch_geometric=torch_geometric.__version__,
                        torch_threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
                        load_average=list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
                        cuda=torch.version.cuda, platform=platform.platform())
    if torch.cuda.is_available():
        machine_info["cuda_device"] = torch.cuda.get_device_name()


@lru_cache(maxsize=1)
def bench_registry() -> Registry:
    return build_registry()


def _chosen(config: pytest.Config, option: str, kind: str) -> list[str]:
    registered = bench_registry().names(kind)
    value = config.getoption(option)
    if value == "all":
        return [n for n in registered if n not in SKIP_SLIMMERS]
    return [bench_registry().get(kind, n.strip()).name for n in value.split(",") if n.strip()]


def _devices(config: pytest.Config) -> list[str]:
    value = config.getoption("bench_devices")
    if value == "auto":
        return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [d.strip() for d in value.split(",") if d.strip()]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    config = metafunc.config
    datasets = [d.strip() for d in config.getoption("bench_datasets").split(",") if d.strip()]
    if config.getoption("bench_arxiv"):
        datasets.append(synthetic.NAME)
    axes = {
        "device": _devices(config),
        "dataset": datasets,
        "pretrainer_name": bench_registry().names("pretrainer"),
        "encoder_name": _chosen(config, "bench_encoders", "pretrainer"),
        "head_name": _chosen(config, "bench_heads", "head"),
        "slimmer_name": _chosen(config, "bench_slimmers", "slimmer"),
    }
    if metafunc.definition.get_closest_marker("plain_reference"):
        axes["pretrainer_name"] = [n for n in axes["pretrainer_name"] if n in REFERENCES]
    for name, values in axes.items():
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, values, ids=[str(v) for v in values], scope="function")


def datasets_root() -> Path:
    """``$SLIDE_TEST_DATASETS``, else the first ``shared/datasets`` beside the checkout or its parents."""
    if os.environ.get("SLIDE_TEST_DATASETS"):
        return Path(os.environ["SLIDE_TEST_DATASETS"])
    for parent in REPO.parents:
        if (parent / "shared" / "datasets").is_dir():
            return parent / "shared" / "datasets"
    return REPO.parent / "shared" / "datasets"


@lru_cache(maxsize=None)
def load(dataset: str) -> Any:
    if dataset == synthetic.NAME:
        return synthetic.arxiv_sized_graph()
    return load_dataset(bench_registry().get("dataset", dataset), datasets_root())


def options_dataset(dataset: str) -> str:
    """The dataset whose official configuration sizes the models (ogbn-arxiv's for the synthetic graph)."""
    return synthetic.OPTIONS_DATASET if dataset == synthetic.NAME else dataset


def resolve(kind: str, name: str, dataset: str, pretrainer: str, **values: Any) -> tuple[Any, Any]:
    """The component and its official options for this dataset, with ``values`` replaced."""
    component = bench_registry().get(kind, name)
    options = resolve_options(component, options_dataset(dataset), pretrainer)
    missing = [k for k in values if k not in component.option_names()]
    if missing:
        pytest.skip(f"{kind} '{name}' has no option {missing} to set")
    return component, dataclasses.replace(options, **values)


@lru_cache(maxsize=None)
def encoder_for(pretrainer: str, dataset: str, device: str) -> tuple[torch.nn.Module, Any]:
    """An encoder of the official architecture (pretrained one epoch only: timings do not depend on
    the weights) and the pretrainer-prepared data, both for ``device``."""
    from benchmarks.stepper import EpochStepper

    component, options = resolve("pretrainer", pretrainer, dataset, pretrainer, epochs=1)
    data = component.prepare(load(dataset), options)
    stepper = EpochStepper(lambda ctx: component.pretrain(data, options, ctx), torch.device(device)).start()
    encoder = stepper.close()
    return encoder, copy.copy(data).to(device)  # Data.to works in place: keep the cached data as is


@pytest.fixture
def rounds(request: pytest.FixtureRequest, dataset: str) -> int:
    option = "bench_arxiv_rounds" if dataset == synthetic.NAME else "bench_rounds"
    return request.config.getoption(option)


@pytest.fixture
def torch_device(device: str) -> torch.device:
    if device.startswith("cuda") and not torch.cuda.is_available():
        pytest.skip("CUDA is not available")
    return torch.device(device)
