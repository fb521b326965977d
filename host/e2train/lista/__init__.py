"""Sparse recovery by unfolded ISTA (Chen, Liu, Wang, Yin, NeurIPS 2018; ALGORITHMS.md section 3).

Modules, one job each:

- ``config``: the typed configuration of a LISTA run, validated with messages naming the allowed values;
- ``problem``: the sensing matrix, sparse signals and noise, seeded and saved with the run;
- ``shrink``: soft thresholding, support selection and its ``p_k`` schedule;
- ``baselines``: ISTA and FISTA, one output per iteration;
- ``models``: LISTA, LISTA-CP, LISTA-SS, LISTA-CPSS and ALISTA as PyTorch modules;
- ``alista``: ALISTA's analytic weight, computed in PyTorch;
- ``stagewise``: layer-by-layer training with patience, caps, checkpoints and resume;
- ``run``: one run directory (every method, ``nmse.csv``, thresholds, plots, ``summary.json``);
- ``fixed_point``: inference of a trained CP-family network through the gemm kernel on any backend;
- ``energy``: modelled joules per recovered signal from the project's energy model.
"""
