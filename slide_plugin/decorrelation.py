r"""SLIDE's sample re-weighting: learn per-sample weights that de-correlate the embedding dimensions.

A port of the weight learner of the official SLIDE code (itself StableNet's, Zhang et al., CVPR 2021),
paper.md §1b. For a batch of embeddings :math:`Z \in \mathbb{R}^{b \times d}` and an EMA memory of
past batches (:math:`M` rows):

1. every dimension is mapped by random Fourier features (fresh :math:`\omega \sim N(0, \sigma^{-2})`
   per Fourier index and :math:`\varphi_j \sim U(0, 2\pi)` per dimension at every inner step;
   per row min-max normalised across dimensions to :math:`[0, \pi/2]`; :math:`\sqrt{2/F}(\cos + \sin)`);
2. the weights are :math:`p = \mathrm{softmax}([\theta; \theta_{mem}])` over batch and memory rows;
3. the balance loss is the squared Frobenius norm of the off-diagonal part of the weighted
   covariance :math:`C = \sum_k p_k u_k u_k^\top - \bar u \bar u^\top`, :math:`\bar u = \sum_k p_k u_k`;
4. :math:`\theta` (initialised to ones) takes ``epochb`` SGD steps (momentum 0.9, learning rate
   ``lrbl`` for the first half of the steps and ``lrbl / 10`` after) on
   :math:`L_b / \lambda(e) + \sum_{k \in batch} \mathrm{softmax}(\theta)_k^{q}`, with
   :math:`\lambda(e) = \lambda_0 \max(\rho^{\lfloor e / E_d \rfloor}, 0.01)`;
5. the batch weights are :math:`w = b \cdot \mathrm{softmax}(\theta)`: non-negative, summing to :math:`b`;
6. the memory is updated by EMA (ratio ``presave_ratio``) with the batch's embeddings and raw logits.

The memory is plain detached tensors held by :class:`SampleReweighter`, never module buffers, so it
neither leaks autograd graphs nor enters a model's state dict (the official code's defects, paper.md §5.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor


def draw_rff(dim: int, num_f: int, sigma: float = 1.0, device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """One draw of the RFF parameters: frequencies ``omega [num_f]`` ~ N(0, 1/sigma²) shared by all
    dimensions and phases ``phi [dim, num_f]`` ~ U(0, 2π), one per dimension and Fourier index."""
    omega = torch.randn(num_f, device=device) / sigma
    phi = 2 * math.pi * torch.rand(dim, num_f, device=device)
    return omega, phi


def rff_map(z: Tensor, omega: Tensor, phi: Tensor) -> Tensor:
    r"""``z [n, d]`` → ``[n, d, num_f]``: :math:`m = \omega z + \varphi`, min-max normalised per row
    and Fourier index across the ``d`` dimensions onto :math:`[0, \pi/2]`, then
    :math:`\sqrt{2/F}\,(\cos m + \sin m)`; every value lies in :math:`[\sqrt{2/F}, 2/\sqrt{F}]`."""
    mid = z.unsqueeze(-1) * omega + phi
    mid = mid - mid.amin(dim=1, keepdim=True)
    mid = mid / mid.amax(dim=1, keepdim=True).clamp_min(1e-12) * (math.pi / 2)
    return math.sqrt(2.0 / omega.numel()) * (torch.cos(mid) + torch.sin(mid))


def random_fourier_features(z: Tensor, num_f: int = 1, sigma: float = 1.0) -> Tensor:
    """:func:`rff_map` with a fresh :func:`draw_rff` (global torch RNG): ``[n, d]`` → ``[n, d, num_f]``."""
    return rff_map(z, *draw_rff(z.size(1), num_f, sigma, z.device))


def weighted_covariance(u: Tensor, p: Tensor) -> Tensor:
    """Weighted covariance ``[..., d, d]`` of rows ``u [..., n, d]`` under weights ``p [n]`` summing to 1."""
    mean = p @ u
    return (u * p.unsqueeze(-1)).transpose(-2, -1) @ u - mean.unsqueeze(-1) * mean.unsqueeze(-2)


def _off_diagonal(cov: Tensor) -> Tensor:
    off = cov.clone()
    off.diagonal(dim1=-2, dim2=-1).zero_()
    return off


def balance_loss(features: Tensor, p: Tensor) -> Tensor:
    """Σ over Fourier indices of Σ_{i≠j} C_ij², with ``features [n, d, num_f]`` and weights ``p [n]`` (sum 1)."""
    return _off_diagonal(weighted_covariance(features.permute(2, 0, 1), p)).pow(2).sum()


def balance_loss_grad(features: Tensor, p: Tensor) -> Tensor:
    r"""Gradient ``[n]`` of :func:`balance_loss` with respect to ``p``, in closed form:
    :math:`\partial L / \partial p_k = \sum_f (u_k - 2\bar u)^\top G\, u_k` with
    :math:`G = 2\,\mathrm{offdiag}(C)` (what autograd gives, without its per-step overhead)."""
    u = features.permute(2, 0, 1)  # [F, n, d]
    mean = p @ u
    grad_cov = 2 * _off_diagonal(weighted_covariance(u, p))
    return ((u @ grad_cov) * (u - 2 * mean.unsqueeze(-2))).sum(dim=(0, 2))


def effective_sample_size(w: Tensor) -> float:
    """(Σw)² / Σw²: equals n for uniform weights, 1 when one sample takes all the weight."""
    return float(w.sum() ** 2 / w.pow(2).sum())


@dataclass
class SampleReweighter:
    """Learns the weights of one mini-batch at a time; keeps the EMA memory between calls.

    Args:
        dim (int): embedding dimension ``d``.
        memory_size (int): rows ``M`` of the memory of past batches (0: none).
        lrbl (float): SGD learning rate of the weight logits.
        epochb (int): inner SGD steps per batch (learning rate ÷10 for the second half).
        presave_ratio (float): EMA ratio of the memory update (share kept from the memory).
        lambda0 (float): λ0; the balance loss is divided by λ(e), so a smaller λ0 de-correlates harder.
        lambda_decay_rate (float): ρ of λ(e) = λ0 · max(ρ^⌊e/E_d⌋, min_lambda_times).
        lambda_decay_epoch (int): E_d.
        min_lambda_times (float): floor of the λ decay factor.
        num_f (int): Fourier functions per dimension.
        decay_pow (float): power q of the Σ softmax(θ)^q regulariser.
        sigma (float): RFF bandwidth (ω ~ N(0, 1/σ²)).
        diagnostic_draws (int): RFF draws averaged by the before/after balance diagnostics.
    """

    dim: int
    memory_size: int = 16
    lrbl: float = 1.0
    epochb: int = 20
    presave_ratio: float = 0.9
    lambda0: float = 0.1
    lambda_decay_rate: float = 1.0
    lambda_decay_epoch: int = 5
    min_lambda_times: float = 0.01
    num_f: int = 1
    decay_pow: float = 2.0
    sigma: float = 1.0
    diagnostic_draws: int = 8
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Empty memory: features 0, logits 1 (as at the start of a run)."""
        self.features = torch.zeros(self.memory_size, self.dim, device=self.device)
        self.logits = torch.ones(self.memory_size, device=self.device)

    def lambda_at(self, epoch: int) -> float:
        return self.lambda0 * max(self.lambda_decay_rate ** (epoch // self.lambda_decay_epoch), self.min_lambda_times)

    def learn(self, z: Tensor, epoch: int) -> Tensor:
        """Optimal logits ``θ [b]`` for the batch ``z [b, d]`` (detached) given the memory: ``epochb``
        steps of SGD with momentum 0.9 (as ``torch.optim.SGD``) on closed-form gradients."""
        b = z.size(0)
        features = torch.cat([z.detach(), self.features])
        theta = torch.ones(b, device=z.device)
        velocity = torch.zeros_like(theta)
        lam = self.lambda_at(epoch)
        for step in range(self.epochb):
            lr = self.lrbl * 0.1 ** int(step // (self.epochb * 0.5))
            p = torch.softmax(torch.cat([theta, self.logits]), dim=0)
            rff = random_fourier_features(features, self.num_f, self.sigma)
            grad_p = balance_loss_grad(rff, p) / lam
            grad = p[:b] * (grad_p[:b] - p @ grad_p)  # through the softmax over batch and memory
            s = torch.softmax(theta, dim=0)
            grad_s = self.decay_pow * s.pow(self.decay_pow - 1)  # Σ s^q regulariser
            grad = grad + s * (grad_s - s @ grad_s)
            velocity = grad if step == 0 else 0.9 * velocity + grad
            theta = theta - lr * velocity
        return theta

    def update_memory(self, z: Tensor, theta: Tensor) -> None:
        """EMA of the first ``min(b, M)`` memory rows with the batch's embeddings and logits."""
        n = min(z.size(0), self.memory_size)
        if n == 0:
            return
        r = self.presave_ratio
        self.features[:n] = r * self.features[:n] + (1 - r) * z[:n].detach()
        self.logits[:n] = r * self.logits[:n] + (1 - r) * theta[:n].detach()

    def __call__(self, z: Tensor, epoch: int) -> tuple[Tensor, dict[str, float]]:
        """Weights ``w [b]`` (non-negative, Σw = b) for the batch ``z [b, d]`` at outer epoch ``epoch``,
        and diagnostics: weight min/max/std, effective sample size over b, and the batch's balance loss
        under uniform and under the learned weights (same RFF draws for both, averaged)."""
        theta = self.learn(z, epoch)
        self.update_memory(z, theta)
        b = z.size(0)
        p = torch.softmax(theta, dim=0)
        w = b * p
        with torch.no_grad():  # the draws side by side as extra Fourier indices: one batched covariance
            rff = torch.cat([random_fourier_features(z.detach(), self.num_f, self.sigma)
                             for _ in range(self.diagnostic_draws)], dim=-1)
            before = float(balance_loss(rff, torch.full_like(p, 1.0 / b))) / self.diagnostic_draws
            after = float(balance_loss(rff, p)) / self.diagnostic_draws
        diagnostics = dict(weight_min=float(w.min()), weight_max=float(w.max()), weight_std=float(w.std()) if b > 1 else 0.0,
                           ess_ratio=effective_sample_size(w) / b, balance_uniform=before, balance_learned=after,
                           lambda_p=self.lambda_at(epoch))
        return w, diagnostics
