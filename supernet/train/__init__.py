"""Supernet training with the BigNAS recipe: data, sandwich step, BN recalibration, checkpoints, Trainer.

Import the submodules directly (`from supernet.train.trainer import Trainer`); this package keeps its
top level light so `supernet --help` stays fast.
"""
