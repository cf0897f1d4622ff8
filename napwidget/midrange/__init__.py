"""Mid-range activations: what else a model associates with a class, and curation to undo it.

After O'Mahony, Nikolov & O'Sullivan, "Towards Utilising a Range of Neural Activations for Comprehending
Representational Associations" (WACV 2025): inputs whose logit for a class sits in the middle of that
logit's range reveal what the penultimate layer associates with the class (confounders), and retraining
the head on such inputs weakens spurious correlations.

- :func:`logit_bands`: low / mid / high bands of one logit.
- :func:`band_naps`: NAPs of a layer among one band's inputs, mapped back to the original indices.
- :func:`curate`: a curation set (indices, weights): "midrange", "top", "random", their weighted forms, "jtt".
- :func:`retrain_last_layer`: refit the classifier head on a curation set.
- :func:`evaluate_midrange`: the first, small spurious-digits benchmark (average and worst-group accuracy).
- :mod:`napwidget.midrange.benchmark`: the curation benchmark with the power to decide (cached features per
  seed, every row a head refit, paired bootstrap CIs); run by ``benchmarks/bench_midrange.py``.
"""

from napwidget.midrange.bands import BandNAPs, LogitBands, band_naps, logit_bands
from napwidget.midrange.curate import Curation, curate
from napwidget.midrange.evaluate import GroupAccuracy, evaluate_midrange, group_accuracy
from napwidget.midrange.retrain import find_head, head_features, head_predict, retrain_last_layer

__all__ = [
    "BandNAPs",
    "Curation",
    "GroupAccuracy",
    "LogitBands",
    "band_naps",
    "curate",
    "evaluate_midrange",
    "find_head",
    "group_accuracy",
    "head_features",
    "head_predict",
    "logit_bands",
    "retrain_last_layer",
]
