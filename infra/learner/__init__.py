"""The learner service: ingest shards from the hub, train cycles, publish weights."""
