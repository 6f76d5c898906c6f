"""RobustBench-format leaderboards (`board`): model_info entries from results files, Markdown and
HTML tables (templates/), and the submission to RobustBench."""
