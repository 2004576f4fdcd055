import math

import pytest
import torch

from slide_plugin.cka import linear_cka


def gram_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """The N × N kernel form (HSIC of centred linear kernels), as in Kornblith et al. 2019."""
    x, y = x.double(), y.double()
    n = x.size(0)
    h = torch.eye(n, dtype=torch.float64) - 1.0 / n
    k, l = h @ x @ x.T @ h, h @ y @ y.T @ h
    return float((k * l).sum() / (k.norm() * l.norm()))


@pytest.fixture
def reps():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 20, generator=g)
    y = torch.tanh(x @ torch.randn(20, 12, generator=g)) + 0.3 * torch.randn(300, 12, generator=g)
    return x, y


def test_self_similarity_is_one(reps):
    x, y = reps
    assert linear_cka(x, x) == pytest.approx(1.0, abs=1e-12)
    assert linear_cka(y, y) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_orthogonal_transform_and_isotropic_scaling(reps):
    x, y = reps
    q, _ = torch.linalg.qr(torch.randn(20, 20, generator=torch.Generator().manual_seed(1)))
    base = linear_cka(x, y)
    assert 0.1 < base < 0.99
    assert linear_cka(x @ q, y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(7.5 * x, 0.01 * y) == pytest.approx(base, abs=1e-6)
    assert linear_cka(x + 100.0, y - 3.0) == pytest.approx(base, abs=1e-6)  # centring


def test_not_invariant_to_anisotropic_scaling(reps):
    x, y = reps
    scale = torch.linspace(0.1, 10, 20)
    assert abs(linear_cka(x * scale, y) - linear_cka(x, y)) > 1e-3


def test_independent_random_matrices_near_zero():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(4000, 16, generator=g), torch.randn(4000, 16, generator=g)
    assert linear_cka(x, y) < 0.02


@pytest.mark.parametrize("chunk", [7, 64, 8192])
def test_agrees_with_kernel_form_and_chunking(reps, chunk):
    x, y = reps
    assert linear_cka(x, y, chunk=chunk) == pytest.approx(gram_cka(x, y), abs=1e-10)
    assert linear_cka(x[:, :3], y, chunk=chunk) == pytest.approx(gram_cka(x[:, :3], y), abs=1e-10)


def test_symmetric_and_float32_inputs_accumulate_in_float64(reps):
    x, y = reps
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x), abs=1e-12)
    big = x.float() * 1e4 + 1e6  # a large offset that float32 accumulation would lose
    assert linear_cka(big, y) == pytest.approx(gram_cka(big, y), abs=1e-6)


def test_constant_representation_is_nan_and_bad_shapes_raise():
    x = torch.randn(10, 3)
    assert math.isnan(linear_cka(x, torch.ones(10, 4)))
    with pytest.raises(ValueError):
        linear_cka(x, torch.randn(9, 3))
    with pytest.raises(ValueError):
        linear_cka(x[:1], x[:1])
