"""`supernet tune`: an ASHA sweep (Ray Tune) over the recipe's hyperparameters.

Each trial is one ordinary single-process `Trainer` run (`cpus_per_trial` threads) that reports after
every epoch the validation accuracy of the smallest and largest subnets, BN recalibrated; the score
is their mean, so a setting that helps the big subnet by starving the small one does not win. ASHA
stops the worse trials at epochs `grace`, `grace x rf`, ... (rf = reduction factor) so most of the
budget goes to the promising ones. The test split is never used to choose.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import SupernetError
from .cluster import check_resources, connect


class TuneError(SupernetError):
    """A sweep option outside its allowed values."""


@dataclass(frozen=True)
class SweepSpace:
    """The searched hyperparameters: log-uniform lr, uniform label smoothing, choices for the rest."""

    lr: tuple[float, float] = (0.01, 0.2)
    num_random: tuple[int, ...] = (1, 2, 3)
    label_smoothing: tuple[float, float] = (0.0, 0.2)
    warmup_epochs: tuple[float, ...] = (0.0, 1.0, 2.0)

    def validate(self) -> SweepSpace:
        lo, hi = self.lr
        if not 0 < lo <= hi:
            raise TuneError(f"--lr needs 0 < MIN <= MAX, got {lo:g} {hi:g}")
        lo, hi = self.label_smoothing
        if not 0 <= lo <= hi < 1:
            raise TuneError(f"--label-smoothing needs 0 <= MIN <= MAX < 1, got {lo:g} {hi:g}")
        for flag, values in (("--num-random", self.num_random), ("--warmup-epochs", self.warmup_epochs)):
            if not values:
                raise TuneError(f"{flag} needs one or more values")
        self._check_each_value_trains()  # the range of each value: `supernet train`'s own checks
        return self

    def _check_each_value_trains(self) -> None:
        """Every value a trial may draw must pass `supernet train`'s own checks (e.g. --lr 0.01 inf, --num-random
        100): refused here in one line, not inside each trial after the cluster has started."""
        import dataclasses

        from ..train.config import TrainConfig, TrainConfigError

        base = TrainConfig()
        for flag, field, values in (
            ("--lr", "lr", self.lr),
            ("--num-random", "num_random", self.num_random),
            ("--label-smoothing", "label_smoothing", self.label_smoothing),
            ("--warmup-epochs", "warmup_epochs", self.warmup_epochs),
        ):
            for value in values:
                try:
                    dataclasses.replace(base, **{field: value}).validate()
                except TrainConfigError as e:
                    raise TuneError(f"{flag}: {e}") from None

    def param_space(self) -> dict:
        from ray import tune

        return {
            "lr": tune.loguniform(*self.lr) if self.lr[0] < self.lr[1] else self.lr[0],
            "num_random": tune.choice(list(self.num_random)),
            "label_smoothing": tune.uniform(*self.label_smoothing),
            "warmup_epochs": tune.choice(list(self.warmup_epochs)),
        }


def score(metrics: dict) -> float:
    """What the sweep maximises: mean validation accuracy of the smallest and largest subnets."""
    return (metrics["val_acc_smallest"] + metrics["val_acc_largest"]) / 2


def _trial(params: dict, base: dict, threads: int) -> None:
    """One Tune trial: the Trainer with `params` over `base`, reporting the score after every epoch."""
    import torch
    from ray import tune

    from .._alias import for_training
    from ..train.config import TrainConfig
    from ..train.onednn import widen_primitive_cache
    from ..train.trainer import Trainer

    widen_primitive_cache()  # before the trial's first convolution (oneDNN reads it once per process)
    for_training()  # sliced weights as aliasing leaves, as `supernet train` uses them (supernet/_alias.py)
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory(prefix="supernet-tune-") as work:
        config = TrainConfig.from_dict({**base, **params, "out": work, "resume": False, "progress": False})

        def report(metrics: dict) -> None:
            keys = ("epoch", "loss", "val_acc_smallest", "val_acc_largest", "images_per_s")
            tune.report({**{k: metrics[k] for k in keys}, "score": score(metrics)})

        Trainer(config, on_epoch_end=report).fit()


def run_sweep(
    base,
    sweep: SweepSpace,
    *,
    num_samples: int,
    cpus_per_trial: int = 1,
    grace_epochs: int = 1,
    reduction_factor: int = 2,
    address: str | None = None,
    storage: str | None = None,
    seed: int = 0,
) -> list[dict]:
    """Sweep `num_samples` configurations of `sweep` over TrainConfig `base`; rows sorted best first.

    Each row holds the sampled hyperparameters, the epochs the trial ran before ASHA stopped it and its
    last validation accuracies and score.
    """
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search import BasicVariantGenerator

    from ..space import SearchSpace
    from ..train.procs import run_data
    from .launch import absolute_paths

    base = base.validate()
    SearchSpace.resolve(base.space)  # a bad space fails here, once, not in every trial
    base = absolute_paths(base)  # trials run in Ray's working directory, on any node
    sweep = sweep.validate()
    if num_samples < 1 or cpus_per_trial < 1 or grace_epochs < 1 or reduction_factor < 2:
        raise TuneError(
            "--samples, --cpus-per-trial and --grace-epochs must be >= 1 and --reduction-factor >= 2, got "
            f"{num_samples}, {cpus_per_trial}, {grace_epochs}, {reduction_factor}"
        )
    if grace_epochs > base.epochs:
        raise TuneError(f"--grace-epochs {grace_epochs} exceeds --epochs {base.epochs}")
    run_data(base)  # a missing or unusable data set fails here, once, as the trials would open it
    owns_connection = not ray.is_initialized()
    resources = connect(address)
    try:
        check_resources(resources, 1, cpus_per_trial, 0)
        trainable = tune.with_resources(
            tune.with_parameters(_trial, base=base.to_dict(), threads=cpus_per_trial), {"cpu": cpus_per_trial}
        )
        tuner = tune.Tuner(
            trainable,
            param_space=sweep.param_space(),
            tune_config=tune.TuneConfig(
                metric="score",
                mode="max",
                num_samples=num_samples,
                scheduler=ASHAScheduler(
                    time_attr="epoch",
                    max_t=base.epochs,
                    grace_period=grace_epochs,
                    reduction_factor=reduction_factor,
                ),
                search_alg=BasicVariantGenerator(random_state=seed),
            ),
            run_config=tune.RunConfig(
                name="supernet-tune",
                storage_path=str(Path(storage).resolve()) if storage and "://" not in storage else storage,
                verbose=0,
            ),
        )
        grid = tuner.fit()
    finally:
        if owns_connection:
            ray.shutdown()
    rows = []
    for result in grid:
        if result.error is not None or "score" not in (result.metrics or {}):
            lines = str(result.error or "it reported nothing").strip().splitlines()
            raise TuneError(
                f"a tune trial failed: {lines[-1] if lines else result.error!r}; its files: {result.path}"
            )
        rows.append(
            {
                **result.config,
                **{k: result.metrics[k] for k in ("epoch", "val_acc_smallest", "val_acc_largest", "score")},
            }
        )
    return sorted(rows, key=lambda r: -r["score"])


def best_config(base, best: dict, epochs: int, out: str):
    """The TrainConfig to train the winner for real: `base` with the best row's hyperparameters, the full
    `epochs` (trials ran fewer), a fresh run directory `out`."""
    import dataclasses

    from ..checks import check_int

    check_int("--train-epochs", epochs, lo=1, hi=100_000, error=TuneError)
    chosen = {k: best[k] for k in ("lr", "num_random", "label_smoothing", "warmup_epochs")}
    return dataclasses.replace(
        base, **chosen, epochs=epochs, out=str(out), resume=False, progress=True
    ).validate()


def train_command(config_path: str | Path) -> str:
    """The exact `supernet train` command for a written best config (`shlex.join`, ready to paste)."""
    from ..cli_common import command_line

    return command_line(["train", "--config", str(config_path)])


def results_table(rows: list[dict], command: str, train: str | None = None) -> str:
    """Markdown table of the sweep, best first, with the command that produced it (and the one that trains
    the best configuration)."""
    lines = [
        "# `supernet tune` results",
        "",
        f"Command: `{command}`",
        "",
        *([f"Train the best configuration: `{train}`", ""] if train else []),
        "Score: mean validation accuracy of the smallest and largest subnets (BN recalibrated) after the "
        "trial's last epoch; ASHA stopped trials with fewer epochs early.",
        "",
        "| rank | lr | num_random | label_smoothing | warmup_epochs | epochs | val smallest | val largest | score |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r['lr']:.4g} | {r['num_random']} | {r['label_smoothing']:.3f} | {r['warmup_epochs']:g} | "
            f"{r['epoch']} | {r['val_acc_smallest']:.4f} | {r['val_acc_largest']:.4f} | {r['score']:.4f} |"
        )
    return "\n".join(lines) + "\n"
