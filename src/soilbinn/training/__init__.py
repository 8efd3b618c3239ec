"""Training of BINN and the pure-NN baseline.

Python API:

- :func:`soilbinn.training.config.load_config` -- strict YAML config (+ ``key=value``
  overrides); the default is the BINN paper's configuration.
- :func:`soilbinn.training.trainer.train` -- ``train(config, dataset, run_dir=None,
  train_idx=None, val_idx=None, test_idx=None, resume=False) -> TrainResult``.
- :func:`soilbinn.training.predict.load_run` and
  :func:`soilbinn.training.predict.predict_dataset` -- parameters, SOC, stocks and
  processes at any sites or grid with covariates and forcing.
- :func:`soilbinn.training.cv.cross_validate`, :func:`soilbinn.training.cv.evaluate_run`.

Command line: ``soilbinn demo | train | evaluate | cv | predict | map`` (see
:mod:`soilbinn.training.commands`); distributed: ``torchrun --nproc_per_node N -m
soilbinn train ...``.
"""
