"""The SLIDE plugin for slide-bench: GraphMAE/GRACE/MaskGAE pretrainers, slimming strategies,
fine-tune heads (linear probe, full fine-tuning, LoRA, SLIDE) and CKA redundancy analysis."""
