"""SLIDE's weight learner: RFF map, weighted covariance, learned weights, EMA memory, λ schedule."""

import math
import statistics

import pytest
import torch
from scipy import stats

from slide_plugin.decorrelation import (SampleReweighter, _off_diagonal, balance_loss, balance_loss_grad, draw_rff,
                                        effective_sample_size, gram_balance_loss_grad, gram_terms,
                                        rff_map, weighted_covariance)


def test_rff_shape_and_range():
    torch.manual_seed(0)
    for num_f in (1, 3):
        u = rff_map(torch.randn(50, 7), *draw_rff(7, num_f))
        assert u.shape == (50, 7, num_f)
        low, high = math.sqrt(2 / num_f), 2 / math.sqrt(num_f)  # √(2/F)·(cos+sin) on [0, π/2]
        assert u.min() >= low - 1e-5 and u.max() <= high + 1e-5
        # min-max normalisation per row: the two extreme dimensions both map to √(2/F)·1
        ends = torch.isclose(u, torch.full_like(u, low), atol=1e-5).sum(dim=1)
        assert (ends >= 2).all()


def test_rff_parameters_follow_their_distributions():
    torch.manual_seed(0)
    draws = [draw_rff(dim=4, num_f=5) for _ in range(400)]
    omega = torch.cat([o for o, _ in draws]).numpy()
    phi = torch.cat([p.reshape(-1) for _, p in draws]).numpy()
    assert stats.kstest(omega, "norm").pvalue > 1e-3
    assert stats.kstest(phi, "uniform", args=(0, 2 * math.pi)).pvalue > 1e-3
    assert stats.kstest(omega, "uniform", args=(0, 2 * math.pi)).pvalue < 1e-6  # the test can tell them apart


def test_rff_map_matches_the_formula():
    z, omega, phi = torch.randn(3, 5), torch.tensor([0.7]), torch.rand(5, 1) * 2 * math.pi
    m = z * 0.7 + phi[:, 0]
    m = (m - m.min(dim=1, keepdim=True).values) / (m.max(dim=1, keepdim=True).values - m.min(dim=1, keepdim=True).values)
    expected = math.sqrt(2) * (torch.cos(m * math.pi / 2) + torch.sin(m * math.pi / 2))
    torch.testing.assert_close(rff_map(z, omega, phi)[:, :, 0], expected)


def test_weighted_covariance_and_balance_loss():
    u = torch.randn(30, 4)
    uniform = torch.full((30,), 1 / 30)
    torch.testing.assert_close(weighted_covariance(u, uniform), torch.cov(u.t(), correction=0))
    cov = torch.cov(u.t(), correction=0)
    expected = (cov.pow(2).sum() - cov.diagonal().pow(2).sum())
    torch.testing.assert_close(balance_loss(u.unsqueeze(-1), uniform), expected)


def test_balance_loss_sums_fourier_indices():
    u = torch.randn(20, 5, 3)
    p = torch.softmax(torch.randn(20), dim=0)
    expected = sum(balance_loss(u[:, :, f:f + 1], p) for f in range(3))
    torch.testing.assert_close(balance_loss(u, p), expected)


@pytest.mark.parametrize("num_f", [1, 3])
def test_closed_form_gradient_equals_autograd(num_f):
    u = torch.randn(24, 7, num_f, dtype=torch.float64)
    p = torch.softmax(torch.randn(24, dtype=torch.float64), dim=0).requires_grad_()
    balance_loss(u, p).backward()
    torch.testing.assert_close(balance_loss_grad(u, p.detach()), p.grad)


def autograd_learn(learner: SampleReweighter, z: torch.Tensor, epoch: int) -> torch.Tensor:
    """The weight learner written with autograd and torch.optim.SGD: the reference for the closed form."""
    theta = torch.ones(z.size(0), requires_grad=True)
    features = torch.cat([z, learner.features])
    omegas, phis = draw_rff(z.size(1), learner.num_f, learner.sigma, draws=learner.epochb)
    optimizer = torch.optim.SGD([theta], lr=learner.lrbl, momentum=0.9)
    for step in range(learner.epochb):
        optimizer.param_groups[0]["lr"] = learner.lrbl * 0.1 ** int(step // (learner.epochb * 0.5))
        p = torch.softmax(torch.cat([theta, learner.logits]), dim=0)
        rff = rff_map(features, omegas[step], phis[step])
        loss = balance_loss(rff, p) / learner.lambda_at(epoch) + torch.softmax(theta, 0).pow(learner.decay_pow).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return theta.detach()


@pytest.mark.parametrize("memory_size, num_f, dim", [(0, 1, 6), (8, 2, 6), (8, 2, 40)])
def test_learn_matches_autograd_sgd(memory_size, num_f, dim):
    """Covariance form (n ≥ 2d: 16 or 24 rows, 6 dimensions) and Gram form (24 rows, 40 dimensions)."""
    z = correlated_batch(n=16, d=dim)
    learner = SampleReweighter(dim=dim, memory_size=memory_size, lambda0=0.01, epochb=10, num_f=num_f, lrbl=0.5)
    learner.features = torch.randn(memory_size, dim)
    learner.logits = 1 + 0.1 * torch.randn(memory_size)
    torch.manual_seed(5)
    expected = autograd_learn(learner, z, epoch=3)
    torch.manual_seed(5)
    theta = learner.learn(z, epoch=3)
    assert not torch.allclose(expected, torch.ones(16), atol=1e-3)  # the weights did move
    torch.testing.assert_close(theta, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n, dim, num_f", [(24, 7, 3), (10, 30, 1), (12, 40, 2)])
def test_gram_and_covariance_forms_agree_with_autograd(n, dim, num_f):
    """The balance loss in both forms (Gram: n < 2d) equals the definition; the covariance-form gradient
    equals autograd's, the Gram form's (centred features) equals it up to a constant, which the softmax
    over the weights removes."""
    u = 1 + torch.rand(n, dim, num_f, dtype=torch.float64)  # positive, as RFF values
    p = torch.softmax(torch.randn(n, dtype=torch.float64), dim=0).requires_grad_()
    definition = sum(_off_diagonal(weighted_covariance(u[:, :, f], p)).pow(2).sum() for f in range(num_f))
    definition.backward()
    torch.testing.assert_close(balance_loss(u, p.detach()), definition.detach())
    torch.testing.assert_close(balance_loss_grad(u, p.detach()), p.grad)
    shift = gram_balance_loss_grad(gram_terms(u), p.detach()) - p.grad
    torch.testing.assert_close(shift, shift.mean().expand(n))


def test_rff_map_draws_side_by_side():
    """Stacked draws give each draw's features (the weight learner maps all its steps' draws at once)."""
    z = torch.randn(9, 5)
    omegas, phis = draw_rff(5, 2, draws=3)
    assert omegas.shape == (3, 2) and phis.shape == (3, 5, 2)
    stacked = rff_map(z, omegas, phis)
    for i in range(3):
        torch.testing.assert_close(stacked[i], rff_map(z, omegas[i], phis[i]))


def correlated_batch(n: int = 64, d: int = 6) -> torch.Tensor:
    """Dimensions 1 and 2 follow dimension 0 (±) in the first half of the rows, are independent in the rest."""
    g = torch.Generator().manual_seed(1)
    z = torch.randn(n, d, generator=g)
    z[: n // 2, 1] = z[: n // 2, 0] + 0.1 * torch.randn(n // 2, generator=g)
    z[: n // 2, 2] = -z[: n // 2, 0] + 0.1 * torch.randn(n // 2, generator=g)
    return z


def mean_balance(z: torch.Tensor, p: torch.Tensor, draws: int = 50) -> float:
    torch.manual_seed(123)
    return sum(float(balance_loss(rff_map(z, *draw_rff(z.size(1), 1)), p)) for _ in range(draws)) / draws


def test_learned_weights_decorrelate_and_stay_normalised():
    z = correlated_batch()
    torch.manual_seed(0)
    learner = SampleReweighter(dim=z.size(1), memory_size=0, lambda0=1e-3, epochb=20)
    w, diagnostics = learner(z, epoch=1)
    assert (w >= 0).all() and math.isclose(float(w.sum()), z.size(0), rel_tol=1e-5)
    uniform = mean_balance(z, torch.full((64,), 1 / 64))
    assert mean_balance(z, w / w.sum()) < 0.8 * uniform
    assert diagnostics["balance_learned"] < diagnostics["balance_uniform"]
    assert diagnostics["ess_ratio"] < 1.0 and diagnostics["weight_max"] > diagnostics["weight_min"]
    assert math.isclose(diagnostics["ess_ratio"], effective_sample_size(w) / 64, rel_tol=1e-5)
    assert all(isinstance(v, torch.Tensor) and v.dim() == 0 for v in diagnostics.values())  # no host copy per batch


def test_weak_decorrelation_keeps_weights_near_uniform():
    learner = SampleReweighter(dim=6, memory_size=0, lambda0=1e6)
    w, _ = learner(correlated_batch(), epoch=1)
    torch.testing.assert_close(w, torch.ones(64), atol=1e-3, rtol=0)


def test_memory_is_a_detached_ema_of_the_first_rows():
    learner = SampleReweighter(dim=6, memory_size=10, presave_ratio=0.9, epochb=2)
    z = torch.randn(4, 6, requires_grad=True)
    learner(z * 2, epoch=1)
    assert not learner.features.requires_grad and not learner.logits.requires_grad
    torch.testing.assert_close(learner.features[:4], 0.1 * (z * 2).detach())
    assert (learner.features[4:] == 0).all() and (learner.logits[4:] == 1).all()
    learner.reset()
    assert (learner.features == 0).all() and (learner.logits == 1).all()


def test_lambda_schedule():
    learner = SampleReweighter(dim=2, lambda0=0.5, lambda_decay_rate=0.5, lambda_decay_epoch=5)
    assert [learner.lambda_at(e) for e in (0, 4, 5, 10)] == [0.5, 0.5, 0.25, 0.125]
    assert learner.lambda_at(1000) == pytest.approx(0.5 * 0.01)  # floor min_lambda_times


def test_independent_dimensions_leave_little_to_remove():
    """The same strong learner on correlated and on independent dimensions, medians over ten seeds (one
    batch's RFF draws are noisy): on the first the weights move far from uniform and cut the
    cross-covariance; on the second the cross-covariance (sampling noise only) drops much less and the
    weights spread much less."""
    independent = torch.randn(64, 6, generator=torch.Generator().manual_seed(2))
    medians = {}
    for name, z in (("correlated", correlated_batch()), ("independent", independent)):
        runs = []
        for seed in range(10):
            torch.manual_seed(seed)
            runs.append(SampleReweighter(dim=6, memory_size=0, lambda0=1e-3, epochb=20)(z, epoch=1)[1])
        medians[name] = {key: statistics.median(d[key] for d in runs) for key in ("weight_std", "ess_ratio")}
        medians[name]["ratio"] = statistics.median(d["balance_learned"] / d["balance_uniform"] for d in runs)
    assert medians["correlated"]["ratio"] < 0.5 < 0.75 < medians["independent"]["ratio"]
    assert medians["independent"]["weight_std"] < 0.5 * medians["correlated"]["weight_std"]
    assert medians["independent"]["ess_ratio"] > 5 * medians["correlated"]["ess_ratio"]
