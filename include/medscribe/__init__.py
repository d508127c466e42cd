"""medscribe-pipelines: nightly clinical-audio pipelines and the offline engine."""
