"""The link-prediction heads' evaluation and fine-tuning loop (components and options: :mod:`slide_plugin.heads.link`)."""

from __future__ import annotations

import copy
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import Data
from torch_geometric.utils import add_self_loops, negative_sampling

from registry import RunContext
from registry.heads import adam, model_features
from registry.metrics import count_parameters, link_scores
from registry.numerics import FiniteWatch
from slide_plugin.decorrelation import SampleReweighter
from slide_plugin.heads.link import LinkFineTuneOptions
from slide_plugin.heads.weighting import reweighted_loss
from slide_plugin.pretrainers.edge_masking import mask_edge


@torch.no_grad()
def evaluate(predictor: nn.Module, data: Data, device: torch.device) -> dict[str, float]:
    """``val_auc``, ``val_ap`` (encoding the training edges) and ``test_auc``, ``test_ap`` (encoding training
    and validation edges) of the predictor's edge logits, in eval mode; percent."""
    predictor.eval()
    x = model_features(predictor, data.x.to(device))
    out = {}
    for split, graph in (("val", data.edge_index), ("test", data.test_edge_index)):
        z = predictor(x, graph.to(device))
        pos, neg = data[f"{split}_pos_edge_index"].to(device), data[f"{split}_neg_edge_index"].to(device)
        logits = torch.cat([predictor.edge_logits(z, pos), predictor.edge_logits(z, neg)])
        labels = torch.cat([torch.ones(pos.size(1)), torch.zeros(neg.size(1))])
        out |= {f"{split}_{k}": v for k, v in link_scores(logits, labels).items()}
    return out


def fine_tune(predictor: nn.Module, data: Data, o: LinkFineTuneOptions, ctx: RunContext,
              reweighter: SampleReweighter | None, desc: str) -> dict[str, float]:
    """The fine-tuning loop of :mod:`slide_plugin.heads.link` (module docstring); the scores of the
    best-validation epoch, the parameter counts and timings."""
    device, n = ctx.device, data.num_nodes
    x, edge_index = model_features(predictor, data.x.to(device)), data.edge_index.to(device)
    optimizer = adam(predictor.parameters(), o.lr, o.weight_decay)
    best = evaluate(predictor, data, device) | {"best_epoch": 0}
    state = copy.deepcopy(predictor.state_dict())
    watch, times = FiniteWatch(f"{desc} fine-tuning loss", every=10), []
    for epoch in ctx.progress(range(1, o.epochs + 1), desc=desc, unit="epoch", leave=False):
        start = time.perf_counter()
        predictor.train()
        remaining, masked = mask_edge(edge_index, n, o.mask_ratio)
        negatives = negative_sampling(add_self_loops(edge_index)[0], num_nodes=n, num_neg_samples=masked.size(1))
        total = torch.zeros((), device=device)
        for batch in torch.randperm(masked.size(1), device=device).split(o.batch_size):
            edges = torch.cat([masked[:, batch], negatives[:, batch[batch < negatives.size(1)]]], dim=1)
            labels = torch.zeros(edges.size(1), device=device)
            labels[: batch.numel()] = 1.0
            z = predictor(x, remaining)
            pairs = z[edges[0]] * z[edges[1]]  # the edge representations the decoder reads
            losses = F.binary_cross_entropy_with_logits(predictor.decoder(pairs).squeeze(-1), labels, reduction="none")
            loss = reweighted_loss(losses, pairs, reweighter if epoch > 1 else None, epoch - 1)  # as SLIDE: none in epoch 1
            optimizer.zero_grad()
            loss.backward()
            if o.grad_norm > 0:
                nn.utils.clip_grad_norm_(predictor.parameters(), o.grad_norm)
            optimizer.step()
            total = total + loss.detach()
        watch(epoch, total)
        times.append(time.perf_counter() - start)
        scores = evaluate(predictor, data, device)
        ctx.log(epoch=epoch, loss=float(total), val_auc=scores["val_auc"])
        if scores["val_auc"] > best["val_auc"]:
            best, state = scores | {"best_epoch": epoch}, copy.deepcopy(predictor.state_dict())
    watch.check()
    predictor.load_state_dict(state)  # the encoder left behind is the selected one
    return best | {"trainable_params": count_parameters(predictor, trainable_only=True),
                   "total_params": count_parameters(predictor), "epochs": len(times),
                   "finetune_time_s": sum(times)}
