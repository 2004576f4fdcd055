"""Fine-tune heads: linear probe, full fine-tuning (and, through their own modules, SLIDE and LoRA)."""
