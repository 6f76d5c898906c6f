"""The statistics behind every interval and verdict, pure functions: one evaluation's test images (`inference`:
Wilson, Newcombe, exact McNemar, Holm, detectable effects) and a method's accuracy over training seeds and test
images together (`mixed_model`: crossed random effects). A basic: the leaderboard, evaluate's summary and the
report all use them."""
