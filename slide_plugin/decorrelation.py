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

With ``class_mass`` (beyond the paper) the weights of step 5 are rescaled within each class so that every
class keeps its share of the batch.

``rff_input`` chooses what step 1 maps (:meth:`SampleReweighter.rff_rows`): the raw embeddings (``"raw"``,
the official code), each dimension standardised with the mean and standard deviation of batch plus memory
(``"standardised"``), or each row L2-normalised (``"l2"``). Embeddings whose dimensions barely vary (GraphMAE's,
std ≈ 0.004) give raw RFF features that barely vary either, and the learned weights stay uniform. The memory
keeps raw embeddings; for ``"standardised"`` its rows are bias-corrected as Adam corrects its moments (an EMA
started at zero, divided by 1 − ratio^updates) and rows never written stay out of the statistics, so the
zero start does not dominate the per-dimension spread. Statistics are detached, like everything the learner sees.

The memory is plain detached tensors held by :class:`SampleReweighter`, never module buffers, so it
neither leaks autograd graphs nor enters a model's state dict (the official code's defects, paper.md §5.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor


def draw_rff(dim: int, num_f: int, sigma: float = 1.0, device: torch.device | None = None,
             draws: int | None = None) -> tuple[Tensor, Tensor]:
    """RFF parameters: frequencies ``omega [num_f]`` ~ N(0, 1/sigma²) shared by all dimensions and phases
    ``phi [dim, num_f]`` ~ U(0, 2π), one per dimension and Fourier index; with ``draws``, that many
    independent draws stacked along a new first dimension."""
    shape = () if draws is None else (draws,)
    omega = torch.randn(*shape, num_f, device=device) / sigma
    phi = 2 * math.pi * torch.rand(*shape, dim, num_f, device=device)
    return omega, phi


def rff_map(z: Tensor, omega: Tensor, phi: Tensor) -> Tensor:
    r"""``z [n, d]`` → ``[..., n, d, num_f]`` for ``omega [..., num_f]`` and ``phi [..., d, num_f]`` (leading
    dimensions: independent draws): :math:`m = \omega z + \varphi`, min-max normalised per row and Fourier
    index across the ``d`` dimensions onto :math:`[0, \pi/2]`, then :math:`\sqrt{2/F}\,(\cos m + \sin m)`;
    every value lies in :math:`[\sqrt{2/F}, 2/\sqrt{F}]`."""
    mid = z.unsqueeze(-1) * omega.unsqueeze(-2).unsqueeze(-2) + phi.unsqueeze(-3)
    mid = mid - mid.amin(dim=-2, keepdim=True)
    mid = mid / mid.amax(dim=-2, keepdim=True).clamp_min(1e-12) * (math.pi / 2)
    return (2.0 / math.sqrt(omega.size(-1))) * torch.sin(mid + math.pi / 4)  # √2 (cos + sin) = 2 sin(· + π/4)


RFF_INPUTS = ("raw", "standardised", "l2")


def standardise(rows: Tensor, reference: Tensor, eps: float = 1e-12) -> Tensor:
    """``rows [n, d]`` standardised per dimension with the mean and (biased) standard deviation of ``reference``."""
    std = reference.std(dim=0, unbiased=False, keepdim=True).clamp_min(eps)
    return (rows - reference.mean(dim=0, keepdim=True)) / std


def weighted_covariance(u: Tensor, p: Tensor) -> Tensor:
    """Weighted covariance ``[..., d, d]`` of rows ``u [..., n, d]`` under weights ``p [n]`` summing to 1."""
    mean = p @ u
    return (u * p.unsqueeze(-1)).transpose(-2, -1) @ u - mean.unsqueeze(-1) * mean.unsqueeze(-2)


def _off_diagonal(cov: Tensor) -> Tensor:
    off = cov.clone()
    off.diagonal(dim1=-2, dim2=-1).zero_()
    return off


def use_gram(n: int, d: int) -> bool:
    """Whether the ``n × n`` Gram form of the balance loss is cheaper than the ``d × d`` covariance form
    (one ``n²d`` product per draw, made once per batch, against two ``nd²`` ones per step)."""
    return n < 2 * d


def centred(features: Tensor) -> Tensor:
    r"""``features [..., n, d, F]`` minus their unweighted row mean. For weights on the simplex the
    covariance, hence the balance loss, does not change (:math:`S\mathbf{1} = 0`), and its gradient changes
    by a constant, which the softmax over the weights removes; float32 sums stay small (the Gram form
    would otherwise cancel terms of size ``d``)."""
    return features - features.mean(dim=-3, keepdim=True)


class GramTerms(NamedTuple):
    """What the Gram form of the balance loss needs that does not depend on the weights, for centred
    features ``U_f [n, d]`` (one per Fourier index f): ``grams [..., F, 2n, n]`` holds the row Gram matrix
    ``G_f = U_f U_fᵀ`` above ``G_f ∘ G_f``; ``powers [..., n, F, 2d]`` holds ``U_f²`` beside ``U_f``."""

    grams: Tensor
    powers: Tensor


def gram_terms(features: Tensor) -> GramTerms:
    """:class:`GramTerms` of ``features [..., n, d, F]`` (leading dimensions: independent draws), centred."""
    u = centred(features).transpose(-2, -1)  # [..., n, F, d]
    per_f = u.movedim(-3, -2)  # [..., F, n, d]
    gram = per_f @ per_f.transpose(-2, -1)
    return GramTerms(torch.cat([gram, gram * gram], dim=-2), torch.cat([u * u, u], dim=-1))


def _moments(powers: Tensor, p: Tensor) -> tuple[Tensor, Tensor]:
    """Weighted means ``[F, d]`` and variances ``[F, d]`` from ``powers [n, F, 2d]``."""
    squares, mean = (p @ powers.flatten(1)).view(powers.shape[1:]).chunk(2, dim=-1)
    return mean, squares - mean * mean


def balance_loss(features: Tensor, p: Tensor) -> Tensor:
    r"""Σ over Fourier indices of Σ_{i≠j} C_ij², with ``features [n, d, num_f]`` and weights ``p [n]`` (sum 1).
    For ``n < 2d`` it is computed as :math:`\mathrm{tr}((SG)^2) - \sum_i C_{ii}^2` with the Gram matrix
    :math:`G = UU^\top` and :math:`S = \mathrm{diag}(p) - pp^\top` (since :math:`C = U^\top S U`)."""
    if not use_gram(*features.shape[:2]):
        return _off_diagonal(weighted_covariance(features.permute(2, 0, 1), p)).pow(2).sum()
    terms = gram_terms(features)
    gram = terms.grams[:, : p.numel()]  # [F, n, n]
    sg = p.unsqueeze(-1) * (gram - (p @ gram).unsqueeze(-2))
    return (sg * sg.transpose(-2, -1)).sum() - _moments(terms.powers, p)[1].pow(2).sum()


def balance_loss_grad(features: Tensor, p: Tensor) -> Tensor:
    r"""Gradient ``[n]`` of :func:`balance_loss` with respect to ``p`` (what autograd gives, without its
    per-step overhead), for ``features [n, d, num_f]``, in the covariance form:
    :math:`\partial L / \partial p_k = \sum_f (u_k - 2\bar u)^\top G\, u_k` with :math:`G = 2\,\mathrm{offdiag}(C)`."""
    u = features.permute(2, 0, 1)  # [F, n, d]
    mean = p @ u
    grad_cov = 2 * _off_diagonal(weighted_covariance(u, p))
    return ((u @ grad_cov) * (u - 2 * mean.unsqueeze(-2))).sum(dim=(0, 2))


def gram_balance_loss_grad(terms: GramTerms, p: Tensor) -> Tensor:
    r""":func:`balance_loss_grad` in the ``n × n`` form, from the features' :class:`GramTerms` (one draw):
    :math:`2\,\mathrm{diag}(H) - 4Hp` with :math:`H = GSG`, so :math:`\mathrm{diag}(H) = (G \circ G)p - g^{\circ 2}`
    and :math:`Hp = G(p \circ g) - (p^\top g)\, g` for :math:`g = Gp`, minus the diagonal's share
    :math:`2\,(u_k^{\circ 2} - 2 m \circ u_k)^\top a` (``m``, ``a``: the weighted means and variances).
    The features are centred, so it differs from autograd's by a constant (see :func:`centred`)."""
    n = p.numel()
    g, gram_squared_p = (terms.grams @ p).split(n, dim=-1)  # [F, n] each
    g_p = (terms.grams[:, :n] @ (p * g).unsqueeze(-1)).squeeze(-1)  # G (p ∘ g)
    mean, variances = _moments(terms.powers, p)
    coefficients = torch.cat([variances, -2 * variances * mean], dim=-1)  # [F, 2d]
    diagonal = (terms.powers.transpose(0, 1) @ coefficients.unsqueeze(-1)).squeeze(-1)  # [F, n]
    total = (gram_squared_p - diagonal).sub_(g_p, alpha=2).addcmul_(g, (2 * (g @ p)).unsqueeze(-1) - g)
    return 2 * total.sum(dim=0)


def class_shift(weights: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """Total variation distance (0-dim, in [0, 1]) between the batch's class distribution under ``weights [b]``
    and under uniform weights, for class ``labels [b]``: how much label mass the weights move between classes.
    On a class-balanced training set the unweighted loss gives a linear classifier's bias no gradient; a shift
    gives it one, whatever the embeddings say."""
    weighted = weights.new_zeros(num_classes).index_add_(0, labels, weights) / weights.sum()
    uniform = torch.bincount(labels, minlength=num_classes).to(weights.dtype) / labels.numel()
    return (weighted - uniform).abs().sum() / 2


def keep_class_mass(weights: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``weights [b]`` rescaled within each class so that every class weighs as many samples as it has
    (Σ over class c of the weights = n_c): the ratios inside a class stay, :func:`class_shift` becomes 0."""
    mass = weights.new_zeros(num_classes).index_add_(0, labels, weights)
    count = torch.bincount(labels, minlength=num_classes).to(weights.dtype)
    return weights * (count / mass.clamp_min(torch.finfo(weights.dtype).tiny))[labels]


def effective_sample_size(w: Tensor) -> Tensor:
    """(Σw)² / Σw² (0-dim): equals n for uniform weights, 1 when one sample takes all the weight."""
    return w.sum() ** 2 / w.pow(2).sum()


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
        rff_input (str): what the RFF map sees: ``"raw"``, ``"standardised"`` or ``"l2"`` (:meth:`rff_rows`).
        class_mass (bool): rescale the learned weights within each class so every class keeps its share of the
            batch (:func:`keep_class_mass`; beyond the paper); the call must then pass the batch's labels.
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
    rff_input: str = "raw"
    class_mass: bool = False
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def __post_init__(self) -> None:
        if self.rff_input not in RFF_INPUTS:
            raise ValueError(f"rff_input must be one of {', '.join(RFF_INPUTS)}, got {self.rff_input!r}")
        self.reset()

    def reset(self) -> None:
        """Empty memory: features 0, logits 1 (as at the start of a run)."""
        self.features = torch.zeros(self.memory_size, self.dim, device=self.device)
        self.logits = torch.ones(self.memory_size, device=self.device)
        self.updates = torch.zeros(self.memory_size, device=self.device)  # EMA updates per memory row

    def rff_rows(self, z: Tensor) -> Tensor:
        """The rows ``[b + M, d]`` the RFF map sees: batch ``z`` then memory, as ``rff_input`` says."""
        rows = torch.cat([z.detach(), self.features])
        if self.rff_input == "l2":
            return torch.nn.functional.normalize(rows, dim=1)
        if self.rff_input == "standardised":
            written = self.updates > 0
            memory = self.features / (1 - self.presave_ratio ** self.updates).clamp_min(1e-12).unsqueeze(1)
            memory = torch.where(written.unsqueeze(1), memory, self.features)
            rows = torch.cat([z.detach(), memory])
            return standardise(rows, torch.cat([z.detach(), memory[written]]))
        return rows

    def lambda_at(self, epoch: int) -> float:
        return self.lambda0 * max(self.lambda_decay_rate ** (epoch // self.lambda_decay_epoch), self.min_lambda_times)

    @torch.inference_mode()
    def learn(self, z: Tensor, epoch: int) -> Tensor:
        """Optimal logits ``θ [b]`` for the batch ``z [b, d]`` (detached) given the memory: ``epochb``
        steps of SGD with momentum 0.9 (as ``torch.optim.SGD``) on closed-form gradients. Each step has
        its own RFF draw; the draws are taken up front so that, in the Gram form, every step's features
        and Gram matrices come from one batched product. Runs in inference mode (no autograd bookkeeping
        on its hundreds of small operations); the logits come back as an inference tensor."""
        b = z.size(0)
        features = self.rff_rows(z)
        omegas, phis = draw_rff(features.size(1), self.num_f, self.sigma, z.device, draws=self.epochb)
        if use_gram(*features.shape):
            terms = gram_terms(rff_map(features, omegas, phis))  # every step's draw at once

            def grad_at(step: int, p: Tensor) -> Tensor:
                return gram_balance_loss_grad(GramTerms(terms.grams[step], terms.powers[step]), p)
        else:  # one draw's features at a time: n may be large

            def grad_at(step: int, p: Tensor) -> Tensor:
                return balance_loss_grad(rff_map(features, omegas[step], phis[step]), p)

        theta = torch.ones(b, device=z.device)
        velocity = torch.zeros_like(theta)
        lam = self.lambda_at(epoch)
        for step in range(self.epochb):
            lr = self.lrbl * 0.1 ** int(step // (self.epochb * 0.5))
            p = torch.softmax(torch.cat([theta, self.logits]), dim=0)
            grad_p = grad_at(step, p)
            grad = p[:b] * (grad_p[:b] - p @ grad_p)  # through the softmax over batch and memory
            grad.div_(lam)
            s = torch.softmax(theta, dim=0)
            grad_s = s.pow(self.decay_pow - 1).mul_(self.decay_pow)  # Σ s^q regulariser
            grad.addcmul_(s, grad_s - s @ grad_s)
            velocity.mul_(0.9).add_(grad)  # torch.optim.SGD's momentum (the first step sets it to grad)
            theta.sub_(velocity, alpha=lr)
        return theta

    def update_memory(self, z: Tensor, theta: Tensor) -> None:
        """EMA of the first ``min(b, M)`` memory rows with the batch's embeddings and logits."""
        n = min(z.size(0), self.memory_size)
        if n == 0:
            return
        r = self.presave_ratio
        self.features[:n] = r * self.features[:n] + (1 - r) * z[:n].detach()
        self.logits[:n] = r * self.logits[:n] + (1 - r) * theta[:n].detach()
        self.updates[:n] += 1

    def __call__(self, z: Tensor, epoch: int, labels: Tensor | None = None,
                 num_classes: int = 0) -> tuple[Tensor, dict[str, Tensor]]:
        """Weights ``w [b]`` (non-negative, Σw = b) for the batch ``z [b, d]`` at outer epoch ``epoch``,
        and diagnostics as 0-dim tensors on ``z``'s device (no host transfer per batch): weight
        min/max/std, effective sample size over b, and the batch's balance loss under uniform and under
        the learned weights (same RFF draws for both, averaged), on the batch rows as the RFF map saw them
        (:meth:`rff_rows` before the memory update); with class ``labels [b]`` of ``num_classes`` classes,
        also the :func:`class_shift` of the weights (after :func:`keep_class_mass` when ``class_mass``)."""
        if self.class_mass and labels is None:
            raise ValueError("class_mass rescales the weights per class: pass the batch's labels")
        seen = self.rff_rows(z)[: z.size(0)]
        theta = self.learn(z, epoch).clone()  # a normal tensor, so the loss may save the weights for backward
        self.update_memory(z, theta)
        b = z.size(0)
        w = b * torch.softmax(theta, dim=0)
        if self.class_mass:
            w = keep_class_mass(w, labels, num_classes)
        p = w / b
        with torch.inference_mode():  # the draws side by side as extra Fourier indices: one batched loss
            omegas, phis = draw_rff(z.size(1), self.num_f, self.sigma, z.device, draws=self.diagnostic_draws)
            rff = rff_map(seen, omegas, phis).movedim(0, -2).flatten(-2)  # [b, d, draws * num_f]
            diagnostics = dict(weight_min=w.min(), weight_max=w.max(), weight_std=w.std() if b > 1 else w.new_zeros(()),
                               ess_ratio=effective_sample_size(w) / b,
                               balance_uniform=balance_loss(rff, torch.full_like(p, 1.0 / b)) / self.diagnostic_draws,
                               balance_learned=balance_loss(rff, p) / self.diagnostic_draws)
            if labels is not None:
                diagnostics["class_shift"] = class_shift(w, labels, num_classes)
        return w, diagnostics
