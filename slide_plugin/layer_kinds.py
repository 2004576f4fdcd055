"""Names of the norms and activations the GNN blocks build, for option declarations (no torch import)."""

NORMS = ("none", "layernorm", "batchnorm")
ACTIVATIONS = ("none", "relu", "elu", "prelu", "gelu")
