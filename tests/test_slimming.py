"""Slimming correctness: the slim model equals the full model with the removed neurons masked out,
parameter counts follow the closed form of paper.md §2, and GraphMAE's derived Change-Param row."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from registry.config import resolve_options
from registry.errors import ConfigError
from registry.metrics import count_parameters
from slide_plugin.nn import GATBlock, StackEncoder
from slide_plugin.pretrainers.graphmae import GraphMAE
from slide_plugin.pretrainers.graphmae_model import GraphMAEModel
from registry.slimming import SelectionOptions, select_units
from slide_plugin.slimming import BUILTIN, CustomOptions

SLIMMERS = {s.name: s for s in BUILTIN}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is ~20x faster than two on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# Kept units per kept layer as a fraction of the original width (paper.md §1a); None: layer dropped.
STRATEGIES = {
    "original": [1, 1, 1],
    "half": [1 / 2, 1 / 2, 1 / 2],
    "quarter": [1 / 4, 1 / 4, 1 / 4],
    "2-original": [1, 1, None],
    "2-half": [1, 1 / 2, None],
    "2-quarter": [1, 1 / 4, None],
}
CUSTOM = CustomOptions(ratios=[0.75, 0.25], layers=2)


def make_encoder(norm: str | None, layers: int = 3, heads: int = 2, units: int = 8, in_dim: int = 12,
                 readout: str = "last", l2: bool = False, activation: str = "prelu") -> StackEncoder:
    """A small float64 GAT encoder in eval mode with every tensor (and running statistic) randomised."""
    torch.manual_seed(0)
    blocks = [GATBlock(in_dim if i == 0 else heads * units, units, heads, 0.2, 0.1, norm, activation)
              for i in range(layers)]
    encoder = StackEncoder(blocks, readout, l2).double()
    with torch.no_grad():
        for name, tensor in [*encoder.named_parameters(), *encoder.named_buffers()]:
            if tensor.is_floating_point():  # running_var must stay positive
                tensor.copy_(torch.rand_like(tensor) + 0.5 if name.endswith("running_var") else torch.randn_like(tensor))
    return encoder.eval()


def graph(in_dim: int = 12, n: int = 30, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, in_dim, generator=g, dtype=torch.float64)
    edge_index = torch.randint(0, n, (2, 4 * n), generator=g)
    return x, edge_index


def kept_units(full: StackEncoder, slim: StackEncoder) -> list[torch.Tensor]:
    """Recover each kept layer's kept units from the values of head 0's attention vector (all distinct),
    independently of how the slimmer chose them."""
    keeps = []
    for big, small in zip(full.blocks, slim.blocks):
        values = big.conv.att_src[0, 0]
        keeps.append(torch.tensor([int((values == v).nonzero()) for v in small.conv.att_src[0, 0]]))
    return keeps


def flat_index(units: int, heads: int, keep: torch.Tensor) -> torch.Tensor:
    """Head-major flat indices of ``keep`` in every head (written here, not taken from the library)."""
    return torch.cat([h * units + keep for h in range(heads)])


def masked_outputs(encoder: StackEncoder, keeps: list[torch.Tensor], x, edge_index) -> list[torch.Tensor]:
    """The full model's layer outputs with the removed neurons masked out: removed rows of each linear
    weight zeroed (which also removes them from the attention logits) and removed outputs zeroed after
    each layer (so the next layer sees zero input columns)."""
    reference = copy.deepcopy(encoder)
    handles, outputs = [], []
    for block, keep in zip(reference.blocks, keeps):
        mask = torch.zeros(block.heads * block.units, dtype=torch.bool)
        mask[flat_index(block.units, block.heads, keep)] = True
        with torch.no_grad():
            block.conv.lin.weight[~mask] = 0.0
        handles.append(block.register_forward_hook(lambda module, inputs, out, mask=mask: out * mask))
    with torch.no_grad():
        for block in reference.blocks[:len(keeps)]:
            x = block(x, edge_index)
            outputs.append(x)
    for handle in handles:
        handle.remove()
    return outputs


def slim_with(name: str, encoder: StackEncoder, selection: str, seed: int = 3) -> StackEncoder:
    if name == "custom":
        return SLIMMERS[name].slim(encoder, CustomOptions(selection, CUSTOM.ratios, CUSTOM.layers), seed)
    return SLIMMERS[name].slim(encoder, SelectionOptions(selection), seed)


def expected_fractions(name: str) -> list[float]:
    return CUSTOM.ratios if name == "custom" else [r for r in STRATEGIES[name] if r is not None]


@pytest.mark.parametrize("selection", ["stride", "random"])
@pytest.mark.parametrize("name", [*STRATEGIES, "custom"])
@pytest.mark.parametrize("config", [
    dict(norm=None, heads=4, activation="prelu"),
    dict(norm="batchnorm", heads=2, activation="elu", readout="cat", l2=True),
], ids=["plain-prelu-4heads", "batchnorm-elu-cat-l2"])
def test_slim_equals_masked_full_model(config, name, selection):
    encoder = make_encoder(**config)
    before = copy.deepcopy(encoder.state_dict())
    x, edge_index = graph()
    slim = slim_with(name, encoder, selection).eval()

    fractions = expected_fractions(name)
    assert len(slim.blocks) == len(fractions)
    keeps = kept_units(encoder, slim)
    for block, keep, fraction in zip(encoder.blocks, keeps, fractions):
        assert len(keep) == round(block.units * fraction)
        assert keep.unique().numel() == len(keep)
        if selection == "stride":  # paper.md §1a: 0, s, 2s, … with s = N / k
            n, k = block.units, len(keep)
            stride = range(0, n, n // k) if n % k == 0 else torch.linspace(0, n - 1, k).round().long().tolist()
            assert keep.tolist() == list(stride)

    with torch.no_grad():
        slim_layers = slim.layer_outputs(x, edge_index)
        reference = masked_outputs(encoder, keeps, x, edge_index)
        for block, keep, got, full in zip(encoder.blocks, keeps, slim_layers, reference):
            assert got.dtype == torch.float64
            torch.testing.assert_close(got, full[:, flat_index(block.units, block.heads, keep)], rtol=1e-10, atol=1e-10)
        # The embedding (last or concatenated layers, L2-normalised): zeros do not change a norm.
        kept_cols, offset = [], 0
        for block, keep in zip(encoder.blocks, keeps):
            kept_cols.append(offset + flat_index(block.units, block.heads, keep))
            offset += block.heads * block.units
        if encoder.readout == "cat":
            z_full, cols = torch.cat(reference, dim=-1), torch.cat(kept_cols)
        else:
            z_full, cols = reference[-1], flat_index(encoder.blocks[len(keeps) - 1].units, encoder.blocks[0].heads, keeps[-1])
        z_full = F.normalize(z_full, dim=-1) if encoder.l2_normalize else z_full
        torch.testing.assert_close(slim(x, edge_index), z_full[:, cols], rtol=1e-10, atol=1e-10)

    assert slim is not encoder
    for key, value in encoder.state_dict().items():  # the original is untouched
        assert torch.equal(value, before[key]), key
    with torch.no_grad():  # and shares no storage with the slim copy
        for p in slim.parameters():
            p.add_(1.0)
    for key, value in encoder.state_dict().items():
        assert torch.equal(value, before[key]), key


@pytest.mark.parametrize("name", ["half", "2-quarter", "custom"])
def test_layernorm_encoder_shapes_and_kept_values(name):
    """LayerNorm statistics change when features are removed, so compare tensors, not outputs."""
    encoder = make_encoder("layernorm", layers=3, heads=2, units=8)
    slim = slim_with(name, encoder, "random")
    keeps = kept_units(encoder, slim)
    in_cols = None
    for big, small, keep in zip(encoder.blocks, slim.blocks, keeps):
        rows = flat_index(big.units, big.heads, keep)
        weight = big.conv.lin.weight[rows]
        weight = weight if in_cols is None else weight[:, in_cols]
        assert small.conv.lin.weight.shape == weight.shape
        assert torch.equal(small.conv.lin.weight, weight)
        assert torch.equal(small.conv.att_src, big.conv.att_src[:, :, keep])
        assert torch.equal(small.conv.att_dst, big.conv.att_dst[:, :, keep])
        assert torch.equal(small.conv.bias, big.conv.bias[rows])
        assert torch.equal(small.norm.weight, big.norm.weight[rows])
        assert torch.equal(small.norm.bias, big.norm.bias[rows])
        assert small.norm.normalized_shape == (len(rows),)
        assert torch.equal(small.activation.weight, big.activation.weight)
        in_cols = rows
    x, edge_index = graph()
    assert slim(x, edge_index).shape == (30, slim.blocks[-1].heads * len(keeps[-1]))


def test_batchnorm_running_statistics_are_sliced():
    encoder = make_encoder("batchnorm", layers=2)
    slim = slim_with("half", encoder, "random")
    for big, small, keep in zip(encoder.blocks, slim.blocks, kept_units(encoder, slim)):
        rows = flat_index(big.units, big.heads, keep)
        assert torch.equal(small.norm.running_mean, big.norm.running_mean[rows])
        assert torch.equal(small.norm.running_var, big.norm.running_var[rows])


def test_random_selection_is_seeded():
    assert torch.equal(select_units(64, 16, "random", seed=5), select_units(64, 16, "random", seed=5))
    assert not torch.equal(select_units(64, 16, "random", seed=5), select_units(64, 16, "random", seed=6))
    encoder = make_encoder(None, layers=2, units=16)
    same = [kept_units(encoder, slim_with("half", encoder, "random", seed=s)) for s in (7, 7, 8)]
    assert all(torch.equal(a, b) for a, b in zip(same[0], same[1]))
    assert any(not torch.equal(a, b) for a, b in zip(same[0], same[2]))
    stride = kept_units(encoder, slim_with("half", encoder, "stride", seed=7))
    other = kept_units(encoder, slim_with("half", encoder, "stride", seed=8))  # stride ignores the seed
    assert all(torch.equal(a, b) for a, b in zip(stride, other))


# ---- parameter counts: closed form (paper.md §2) and GraphMAE's derived Change-Param (paper.md §2.1)

def gat_params(in_dim: int, heads: int, units: int, layernorm: bool) -> int:
    """GAT layer = in·H·o (weights) + 3·H·o (attention vectors, bias) (+ 2·H·o LayerNorm) + 1 (PReLU)."""
    return in_dim * heads * units + 3 * heads * units + (2 * heads * units if layernorm else 0) + 1


def closed_form(in_dim: int, heads: int, units: int, layers: int, layernorm: bool, fractions: list[float]) -> int:
    """Parameters of an encoder keeping ``fractions[i]`` of layer ``i``'s units (first len(fractions) layers)."""
    total, dim = 0, in_dim
    for fraction in fractions[:layers]:
        kept = int(units * fraction)
        total += gat_params(dim, heads, kept, layernorm)
        dim = heads * kept
    return total


NUM_FEATURES = {"Cora": 1433, "CiteSeer": 3703, "Computers": 767}  # paper.md §2.7 (dataset statistics)
# paper.md §2.1, Table 1 Change-Param [derived]: Original count, then Half, Quarter, 2-Original, 2-Half, 2-Quarter.
CHANGE_PARAM = {
    "Cora": (998_914, -56.6, -79.9, 0.0, -13.2, -19.8),
    "CiteSeer": (2_161_154, -53.0, -77.3, 0.0, -6.1, -9.2),
    "Computers": (1_844_226, -64.2, -85.7, 0.0, -28.6, -42.9),
}


@pytest.mark.parametrize("dataset", list(CHANGE_PARAM))
def test_graphmae_parameter_counts_match_closed_form_and_paper(dataset):
    options = resolve_options(GraphMAE(), dataset, "graphmae")  # the official config
    encoder = GraphMAEModel(NUM_FEATURES[dataset], options).encoder
    heads, units = options.num_heads, options.num_hidden // options.num_heads
    layernorm = options.norm == "layernorm"
    original = count_parameters(encoder)
    assert original == closed_form(NUM_FEATURES[dataset], heads, units, options.num_layers, layernorm, [1, 1, 1])
    assert original == CHANGE_PARAM[dataset][0]
    for name, paper_change in zip(["half", "quarter", "2-original", "2-half", "2-quarter"], CHANGE_PARAM[dataset][1:]):
        slim = SLIMMERS[name].slim(encoder, SelectionOptions(), seed=0)
        fractions = [r for r in STRATEGIES[name] if r is not None]
        count = count_parameters(slim)
        assert count == closed_form(NUM_FEATURES[dataset], heads, units, options.num_layers, layernorm, fractions), name
        assert round(100 * (count - original) / original, 1) == paper_change, name


def test_custom_counts_follow_closed_form():
    encoder = make_encoder("layernorm", layers=3, heads=2, units=8)
    slim = SLIMMERS["custom"].slim(encoder, CustomOptions(ratios=[0.5, 0.25, 0.75]), seed=0)
    expected = (gat_params(12, 2, 4, True) + gat_params(8, 2, 2, True) + gat_params(4, 2, 6, True))
    assert count_parameters(slim) == expected


@pytest.mark.parametrize("options, message", [
    (dict(ratios=[0.5, 0.5, 0.5, 0.5]), "4 ratios for 3"),
    (dict(ratios=[0.5], layers=4), "cannot keep 4"),
])
def test_slimmer_rejects_what_the_encoder_cannot_take(options, message):
    with pytest.raises(ValueError, match=message):
        SLIMMERS["custom"].slim(make_encoder(None, layers=3), CustomOptions(**options), seed=0)


@pytest.mark.parametrize("options", [dict(ratios=[0.0]), dict(ratios=[1.5]), dict(ratios=[]),
                                     dict(ratios=[0.5, 0.5, 0.5], layers=2), dict(layers=0),
                                     dict(selection="strided")])
def test_custom_options_validate(options):
    with pytest.raises(ConfigError, match="slimmer 'custom'"):
        resolve_options(SLIMMERS["custom"], "Cora", "graphmae", sets=options)


def test_graphmae_uses_the_official_gat_initialisation():
    """Regression: PyG's GATConv starts from Glorot-uniform (gain 1); official GraphMAE from
    Xavier-normal with gain sqrt(2) and zero bias. The std of the weights tells them apart."""
    import math

    from slide_plugin.pretrainers.graphmae import GraphMAEOptions
    from slide_plugin.pretrainers.graphmae_model import GraphMAEModel

    torch.manual_seed(0)
    model = GraphMAEModel(1433, GraphMAEOptions())
    weight = model.encoder.blocks[0].conv.lin.weight  # [512, 1433]
    expected = math.sqrt(2) * math.sqrt(2.0 / (weight.size(0) + weight.size(1)))
    assert abs(weight.std().item() - expected) / expected < 0.02
    assert torch.count_nonzero(model.encoder.blocks[0].conv.bias) == 0
