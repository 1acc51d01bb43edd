"""The run path of one paid request: job, pay-or-reuse decision, followers, fal bridge, saving, recovery, fetch by id."""
