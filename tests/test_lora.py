"""LoRA adapters and the lora / slide-lora heads."""

import pytest
import torch
from torch import nn
from torch_geometric.nn import GCNConv

from registry import RunContext
from registry.config import resolve_options
from registry.errors import ConfigError
from slide_plugin.heads.lora import LoraHead, LoraOptions, SlideLoraHead
from slide_plugin.lora import LoRALinear, apply_lora
from test_slide_head import tiny_encoder, tiny_graph


def test_lora_linear_starts_equal_and_trains_only_adapters():
    base = nn.Linear(6, 4)
    lora = LoRALinear(base, rank=2, alpha=4.0)
    x = torch.randn(5, 6)
    torch.testing.assert_close(lora(x), base(x))
    assert [n for n, p in lora.named_parameters() if p.requires_grad] == ["lora_a", "lora_b"]
    with torch.no_grad():
        lora.lora_b.fill_(0.1)
    torch.testing.assert_close(lora(x), x @ lora.weight.t() + base.bias)
    torch.testing.assert_close(lora.weight, base.weight + 2.0 * lora.lora_b @ lora.lora_a)


def test_apply_lora_adds_rank_times_in_plus_out_per_linear_map():
    encoder = tiny_encoder()  # GAT lin maps: 12 -> 16 and 16 -> 8
    frozen = sum(p.numel() for p in encoder.parameters())
    adapters = apply_lora(encoder, rank=3, alpha=6.0)
    assert sum(p.numel() for p in adapters) == 3 * (12 + 16) + 3 * (16 + 8)
    assert sum(p.numel() for p in encoder.parameters() if p.requires_grad) == 3 * (28 + 24)
    assert sum(p.numel() for p in encoder.parameters()) == frozen + 3 * (28 + 24)
    gcn = GCNConv(12, 5)
    assert sum(p.numel() for p in apply_lora(gcn, rank=2, alpha=2.0)) == 2 * (12 + 5)


def fit(head, **changes):
    torch.manual_seed(0)
    options = head.Options(**(dict(epochs=3, batch_size=8, memory_size=8, epochb=4, encoder_lr=0.05) | changes))
    encoder = tiny_encoder()
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    result = head.fit(encoder, tiny_graph(), options, RunContext(torch.device("cpu"), seed=0))
    return result, encoder, before


@pytest.mark.parametrize("head", [LoraHead(), SlideLoraHead()])
def test_training_leaves_frozen_weights_bit_identical(head):
    result, encoder, before = fit(head, rank=2)
    after = encoder.state_dict()
    adapters = [k for k in after if "lora_" in k]
    assert len(adapters) == 4 and any(after[k].abs().sum() > 0 for k in adapters if "lora_b" in k)
    for key, value in before.items():
        key = key.replace("conv.lin.", "conv.lin.base.")
        assert torch.equal(after[key], value), key
    assert result["trainable_params"] == 2 * (12 + 16) + 2 * (16 + 8) + 8 * 3 + 3
    assert result["total_params"] == sum(v.numel() for v in before.values()) + 2 * 52 + 8 * 3 + 3


def test_rank_zero_is_a_classifier_only_probe():
    result, encoder, before = fit(LoraHead(), rank=0)
    assert result["trainable_params"] == 8 * 3 + 3
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in before.items())
    assert not any(p.requires_grad for p in encoder.parameters())


def test_options():
    assert LoraOptions().decorrelation is False and SlideLoraHead.Options().decorrelation is True
    assert SlideLoraHead.default_slimmer == "2-half" and LoraHead.default_slimmer == "original"
    assert "encoder_lr" not in LoraHead.overrides["graphmae/Cora"]  # SLIDE's 1e-7 would freeze the adapters
    with pytest.raises(ConfigError, match=r"head 'lora' option 'rank' = -1 is invalid \(valid: int ≥ 0\)"):
        resolve_options(LoraHead(), "Cora", "graphmae", sets={"rank": -1})
