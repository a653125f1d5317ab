"""codestral-ls: Mistral's Codestral fill-in-the-middle completions over LSP."""

__version__ = "0.1.0"
