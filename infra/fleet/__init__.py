"""Fleets of workers: `Fleet` has up(n), status(), replace(worker), down()."""
