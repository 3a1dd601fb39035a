"""High-dose alerts (issue 18): the rule catalogue (rules.py), evaluating rules at import and over
every study when a rule changes (evaluate.py), the re-evaluation job (jobs.py) and reviewing
alerts (review.py). See docs/alerts.md."""
