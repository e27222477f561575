"""Worker processes: self-play and eval-aux producers that talk to the learner only via the hub."""

# 12 workers x 7.5 commits/h = 90 commits/h: well under Hugging Face's ~128 per hour per repo.
DEFAULT_UPLOAD_INTERVAL_S = 480.0
