"""Evaluation of the portal's codecs: rate–distortion sweeps, BD-rate, reports and plots.

`baselines` holds the paper's PCA and K-Means codecs (evaluation baselines, deliberately not in
the portal's codec registry); `evaluator` measures any `Codec` on a set of images; `report`
writes results.json / results.csv / report.md and the RD plots; `paper` reproduces the seed
paper's comparison.
"""
