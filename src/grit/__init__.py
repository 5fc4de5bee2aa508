"""grit — teach multimodal LLMs to think with images (GRIT / GRPO-GR)."""

__version__ = "0.1.0"
