"""zeb's pure core: rules, tokenizer, model, search, solver, players. No I/O frameworks here."""

__version__ = "0.1.0"
