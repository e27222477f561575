"""The game of Texas 42: rules and their tables, the batched state and its pure `step`,
what a seat observes (the tokenizer), positions read from JSON, deals consistent with what a
seat has seen (hidden-hand sampling), and the players that need nothing but the rules.

May import: numpy, numba and `zeb_core.atomic_files`; nothing else of zeb's.
"""
