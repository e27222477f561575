"""Worker processes: self-play and eval-aux producers that talk to the learner only via the hub."""
