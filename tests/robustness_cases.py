"""The hostile inputs `test_robustness.py` sweeps: (argv, fragments of the one stderr line) per case.

`{w}` is the shared world the test builds (a trained tiny run, tables, an export, damaged copies).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parents[1]
TINY = ROOT / "tests" / "spaces" / "tiny.yaml"
SMALLEST = "r12_w0.5d1k3e2_w0.5d1k3e2"
LONG = "a name in the path is longer than the file system allows"

TRAIN = ["train", "--space", str(TINY), "--dataset", "synthetic", "--img-size", "16", "--epochs", "1",
         "--batch-size", "48", "-q"]  # fmt: skip
EXPORT = ["export", "--checkpoint", "{w}/run", "--out", "{w}/new-export"]
EXTRACT = [
    "extract",
    "--checkpoint",
    "{w}/run",
    "--lut",
    "{w}/macs.json",
    "--budget",
    "5",
    "--unit",
    "mmacs",
    "--quiet",
]

# (argv, fragments that must all be in the one stderr line: the option or file, what is wrong, what is allowed)
CASES = {
    # numeric options: type, finiteness, range
    "lr-inf": ([*TRAIN, "--lr", "inf", "--out", "{w}/new"], ["lr", "in (0, 1000] and finite", "inf"]),
    "lr-huge": ([*TRAIN, "--lr", "1e308", "--out", "{w}/new"], ["lr must be in (0, 1000]", "1e+308"]),
    "weight-decay-huge": (
        [*TRAIN, "--weight-decay", "1e308", "--out", "{w}/new"],
        ["weight_decay must be in [0, 1]", "1e+308"],
    ),
    "lr-decay-epochs-inf": (
        [*TRAIN, "--lr-decay-epochs", "inf", "--out", "{w}/new"],
        ["lr_decay_epochs", "finite"],
    ),
    "warmup-inf": ([*TRAIN, "--warmup-epochs", "inf", "--out", "{w}/new"], ["warmup_epochs", "finite"]),
    "momentum-nan": ([*TRAIN, "--momentum", "nan", "--out", "{w}/new"], ["momentum", "in [0, 1)"]),
    "eval-batch-0": ([*TRAIN, "--eval-batch-size", "0", "--out", "{w}/new"], ["eval_batch_size", "[1,"]),
    "eval-batch-neg": ([*TRAIN, "--eval-batch-size", "-5", "--out", "{w}/new"], ["eval_batch_size", "-5"]),
    "spike-warmup-neg": (
        [*TRAIN, "--spike-warmup-steps", "-1", "--out", "{w}/new"],
        ["spike_warmup_steps", "[0,", "-1"],
    ),
    "seed-huge": ([*TRAIN, "--seed", str(10**30), "--out", "{w}/new"], ["seed", "[0, 4294967295]"]),
    "img-size-huge": ([*TRAIN, "--img-size", "100000", "--out", "{w}/new"], ["img_size", "[8, 1024]"]),
    "epochs-not-int": ([*TRAIN, "--epochs", "2.5", "--out", "{w}/new"], ["--epochs", "invalid int"]),
    "device-bogus": (
        [*TRAIN, "--device", "bogus", "--out", "{w}/new"],
        ["device 'bogus'", "allowed: auto, cpu"],
    ),
    "threads-0": ([*TRAIN, "--threads", "0", "--out", "{w}/new"], ["--threads", "[1, 1024]", "got 0"]),
    # options the chosen way of training would ignore: Ray's without --num-workers, local ones with it
    "ray-option-alone": (
        [*TRAIN, "--placement-strategy", "SPREAD", "--check-sync", "--out", "{w}/new"],
        ["--placement-strategy, --check-sync only apply to Ray Train", "add --num-workers N"],
    ),
    "ray-verbose-alone": ([*TRAIN, "-v", "--out", "{w}/new"], ["-v only applies to Ray Train"]),
    "nproc-with-ray": (
        [*TRAIN, "--num-workers", "2", "--nproc-per-node", "2", "--threads", "1", "--out", "{w}/new"],
        ["--nproc-per-node, --threads cannot be combined with --num-workers", "--cpus-per-worker"],
    ),
    # training config files
    "config-not-utf8": (
        [*TRAIN, "--config", "{w}/not-utf8.json", "--out", "{w}/new"],
        ["not-utf8.json", "not UTF-8"],
    ),
    "config-null": (
        [*TRAIN, "--config", "{w}/null-lr.json", "--out", "{w}/new"],
        ["null-lr.json", "lr is null", "finite number"],
    ),
    "config-str": (
        [*TRAIN, "--config", "{w}/str-epochs.json", "--out", "{w}/new"],
        ["str-epochs.json", "epochs", "an integer"],
    ),
    "config-unknown": (
        [*TRAIN, "--config", "{w}/unknown-key.json", "--out", "{w}/new"],
        ["unknown-key.json", "learning_rate", "allowed:"],
    ),
    "config-infinity": (
        [*TRAIN, "--config", "{w}/infinity.json", "--out", "{w}/new"],
        ["infinity.json", "Infinity", "finite"],
    ),
    "config-dev-zero": (
        [*TRAIN, "--config", "/dev/zero", "--out", "{w}/new"],
        ["/dev/zero holds more than 64 MiB"],
    ),
    "config-missing": ([*TRAIN, "--config", "{w}/nope.json", "--out", "{w}/new"], ["nope.json", "not found"]),
    "config-yaml-folder": (
        [*TRAIN, "--config", "{w}/folder.yaml", "--out", "{w}/new"],
        ["folder.yaml is a folder", "give a YAML or JSON file"],
    ),
    # YAML files: the training config, a search space, an FPGA description share one reader
    "config-yaml-binary": (
        [*TRAIN, "--config", "{w}/binary.yaml", "--out", "{w}/new"],
        [
            "training config",
            "binary.yaml is not UTF-8 text (byte 0xd0 at offset 8)",
            "allowed: a YAML or JSON",
        ],
    ),
    "space-yaml-binary": (
        ["space", "{w}/binary.yaml"],
        ["search space file", "binary.yaml is not UTF-8 text", "allowed: a YAML or JSON file"],
    ),
    "space-yaml-syntax": (
        ["train", "--space", "{w}/syntax.yaml", "--out", "{w}/new"],
        ["search space file", "syntax.yaml is not valid YAML", "at line 3 column", "while parsing a flow"],
    ),
    "fpga-yaml-binary": (
        [
            "latency",
            "build",
            "--space",
            str(TINY),
            "--target",
            "fpga-int8",
            "--fpga",
            "{w}/binary.yaml",
            "--out",
            "{w}/t.json",
        ],
        ["fpga config file", "binary.yaml is not UTF-8 text", "allowed: a YAML or JSON file"],
    ),  # fmt: skip
    # run directories
    "out-is-file": (
        [*TRAIN, "--out", "{w}/a-file"],
        ["--out", "a-file", "existing file", "allowed: a folder"],
    ),
    "out-under-file": ([*TRAIN, "--out", "{w}/a-file/run"], ["--out", "lies under the file", "a-file"]),
    "run-exists": ([*TRAIN, "--out", "{w}/run"], ["already holds a checkpoint", "--resume"]),
    "out-holds-users-config": (
        [*TRAIN, "--config", "{w}/own-config/config.json", "--out", "{w}/own-config"],
        ["own-config holds config.json, which no run started there wrote", "choose another --out"],
    ),
    "resume-nothing": (
        [*TRAIN, "--resume", "--out", "{w}/empty-run"],
        ["--resume", "empty-run", "no checkpoint"],
    ),
    "resume-contradicts": (
        ["train", "--resume", "--seed", "5", "--batch-size", "16", "--lr", "3", "--out", "{w}/run"],
        ["--resume", "seed (given 5, run used 0)", "batch_size", "lr", "may change"],
    ),  # fmt: skip
    "resume-other-data": (
        ["train", "--resume", "--dataset", "digits", "--out", "{w}/run"],
        ["dataset (given 'digits'", "may change"],
    ),
    "run-locked": (
        ["train", "--resume", "--epochs", "2", "--out", "{w}/run-locked"],
        ["run-locked", "in use by running process"],
    ),
    "imagefolder-no-classes": (
        [*TRAIN[:4], "imagefolder", "--data", "{w}/imagenet", "--out", "{w}/new"],
        ["imagenet/train", "class folders", "allowed:"],
    ),  # fmt: skip
    # damaged checkpoints
    "ckpt-not-utf8": (
        [*EXPORT[:2], "{w}/run-not-utf8", *EXPORT[3:], "--arch", SMALLEST],
        ["checkpoint.json", "not UTF-8"],
    ),
    "ckpt-no-sha": (
        [*EXPORT[:2], "{w}/run-no-sha", *EXPORT[3:], "--arch", SMALLEST],
        ["checkpoint.json", "weights_sha256"],
    ),
    "ckpt-epoch-str": (
        [*EXPORT[:2], "{w}/run-epoch-str", *EXPORT[3:], "--arch", SMALLEST],
        ["checkpoint.json", "epoch", "an integer"],
    ),
    "ckpt-model-kw": (
        [*EXPORT[:2], "{w}/run-model-kw", *EXPORT[3:], "--arch", SMALLEST],
        ["checkpoint.json", "bogus", "allowed:"],
    ),
    "ckpt-classes-str": (
        [*EXPORT[:2], "{w}/run-classes-str", *EXPORT[3:], "--arch", SMALLEST],
        ["num_classes", "an integer"],
    ),
    "ckpt-config-null": (
        [*EXPORT[:2], "{w}/run-config-null", *EXPORT[3:], "--arch", SMALLEST],
        ["checkpoint.json", "lr is null"],
    ),
    "state-no-guard": (
        ["train", "--resume", "--epochs", "2", "--out", "{w}/run-no-guard"],
        ["state-e0001.pt", "'guard'"],
    ),
    "state-bad-shape": (
        ["train", "--resume", "--epochs", "2", "--out", "{w}/run-bad-shape"],
        ["state-e0001.pt", "does not fit"],
    ),
    # archs
    "arch-kernel-55": (
        [*EXPORT, "--arch", "{w}/arch-kernel-55.json"],
        ["arch-kernel-55.json", "kernel_sizes", "allowed: integers"],
    ),
    "arch-depth-float": (
        [*EXPORT, "--arch", "{w}/arch-depth-float.json"],
        ["arch-depth-float.json", "2.7", "integers"],
    ),
    "arch-res-float": (
        [*EXPORT, "--arch", "{w}/arch-res-float.json"],
        ["arch-res-float.json", "12.0", "integers"],
    ),
    "arch-depth-inf": (
        ["space", str(TINY), "--validate", "{w}/arch-depth-inf.json"],
        ["arch-depth-inf.json", "Infinity"],
    ),
    "arch-not-utf8": ([*EXPORT, "--arch", "{w}/arch-not-utf8.json"], ["arch-not-utf8.json", "not UTF-8"]),
    "arch-missing-file": (
        [*EXPORT, "--arch", "runs/digits_arch.json"],
        ["runs/digits_arch.json", "not found", "canonical arch string"],
    ),
    # export and extract options and outputs
    "calib-images-0": ([*EXPORT, "--arch", SMALLEST, "--calib-images", "0"], ["--calib-images", "[2,"]),
    "budget-inf": ([*EXTRACT, "--out", "{w}/new-extract", "--budget", "inf"], ["--budget", "finite"]),
    "evals-0": ([*EXTRACT, "--out", "{w}/new-extract", "--evals", "0"], ["--evals", "[1,"]),
    "extract-threads-0": ([*EXTRACT, "--out", "{w}/new-extract", "--threads", "0"], ["--threads", "[1,"]),
    "export-out-file": ([*EXPORT[:4], "{w}/a-file", "--arch", SMALLEST], ["--out", "existing file"]),
    "extract-out-under-file": ([*EXTRACT, "--out", "{w}/a-file/x"], ["--out", "lies under the file"]),
    "export-exists": (
        [*EXPORT[:4], "{w}/deploy", "--arch", SMALLEST],
        ["deploy", "already holds an export", "--overwrite"],
    ),
    "extract-over-export": (
        [*EXTRACT, "--out", "{w}/deploy"],
        ["deploy", "already holds an export", "--overwrite"],
    ),
    # tune outputs: the same guard, before Ray starts
    "out-name-too-long": ([*TRAIN, "--out", "{w}/" + "a" * 300], ["--out", LONG]),
    "checkpoint-name-too-long": (
        ["export", "--checkpoint", "{w}/" + "a" * 300, "--arch", SMALLEST, "--out", "{w}/new-export"],
        ["cannot use", LONG],
    ),
    "lut-name-too-long": (["latency", "show", "--lut", "{w}/" + "a" * 300, SMALLEST], ["cannot use", LONG]),
    "kit-out-name-too-long": (
        ["latency", "kit", "--space", str(TINY), "--out", "{w}/" + "a" * 300],
        ["--out", LONG],
    ),
    "kit-out-in-proc": (
        ["latency", "kit", "--space", str(TINY), "--out", "/proc/kit"],
        ["/proc/kit", "--out"],
    ),
    "table-out-under-file": (
        ["latency", "build", "--space", str(TINY), "--target", "macs", "--out", "{w}/a-file/t.json"],
        ["--out", "lies under the file", "a-file"],
    ),
    "table-out-in-proc": (  # /proc holds no new files, even for root
        ["latency", "build", "--space", str(TINY), "--target", "macs", "--out", "/proc/t.json"],
        ["/proc", "--out"],
    ),
    "lut-is-a-folder": (
        ["latency", "show", "--lut", "{w}/imagenet", SMALLEST],
        ["latency table is a folder", "imagenet"],
    ),
    "arch-is-a-folder": ([*EXPORT, "--arch", "{w}/imagenet"], ["arch file is a folder", "imagenet"]),
    "extract-provider-typo": (
        [*EXTRACT, "--out", "{w}/new-extract", "--provider", "CUDAExecutionprovider"],
        ["unknown onnxruntime execution provider 'CUDAExecutionprovider'", "CUDAExecutionProvider"],
    ),
    "export-provider-typo": (
        [*EXPORT, "--arch", SMALLEST, "--provider", "Bogus"],
        ["provider 'Bogus'; known:"],
    ),
    "tune-lr-inf": (
        ["tune", "--out", "{w}/new-tune", "--lr", "0.01", "inf", "--address", "127.0.0.1:1"],
        ["--lr: lr must be in (0, 1000] and finite, got inf"],
    ),
    "tune-num-random-100": (
        ["tune", "--out", "{w}/new-tune", "--num-random", "1", "100", "--address", "127.0.0.1:1"],
        ["--num-random: num_random must be an integer in [0, 64], got 100"],
    ),
    "tune-train-epochs-0": (
        ["tune", "--out", "{w}/new-tune", "--train-epochs", "0", "--address", "127.0.0.1:1"],
        ["--train-epochs", "[1, 1000000]", "got 0"],
    ),
    "tune-out-file": (
        ["tune", "--out", "{w}/a-file"],
        ["--out", "a-file", "existing file", "allowed: a folder"],
    ),
    "tune-out-under-file": (["tune", "--out", "{w}/a-file/tune"], ["--out", "lies under the file", "a-file"]),
    "tune-out-not-empty": (["tune", "--out", "{w}/run"], ["--out {w}/run is not empty", "--overwrite"]),
    "tune-out-locked": (
        ["tune", "--out", "{w}/run-locked", "--overwrite", "--address", "127.0.0.1:1"],
        ["run-locked is in use by running process"],
    ),
    "tune-overwrite-passes-the-guard": (  # and the sweep then fails fast on the unreachable cluster
        ["tune", "--out", "{w}/run", "--overwrite", "--address", "127.0.0.1:1"],
        ["no Ray cluster answers at 127.0.0.1:1"],
    ),
    # empty values: '' once meant "not given" (`space --arch ''`, `export --lut ''`) or the current folder
    # (`export --out ''` wrote the model there)
    "empty-out": (
        ["export", "--checkpoint", "{w}/run", "--arch", SMALLEST, "--out", ""],
        ["argument --out: an empty value"],
    ),
    "empty-lut": (
        [*EXPORT, "--arch", SMALLEST, "--lut", ""],
        ["argument --lut: an empty value is not allowed"],
    ),
    "empty-arch": (["space", str(TINY), "--arch", " "], ["argument --arch: an empty value"]),
    "empty-resume": ([*TRAIN, "--resume=", "--out", "{w}/new"], ["argument --resume: an empty value"]),
    "export-target-bogus": (  # was accepted without --lut and written into the card
        [*EXPORT, "--arch", SMALLEST, "--target", "bogus"],
        ["--target: invalid choice: 'bogus'", "ort-cpu"],
    ),
    "arch-dev-null": ([*EXPORT, "--arch", "/dev/null"], ["arch file is not a regular file: /dev/null"]),
    "lut-dev-null": (
        [*EXPORT, "--arch", SMALLEST, "--lut", "/dev/null"],
        ["latency table is not a table file: /dev/null"],
    ),
    # Ray options: NaN passed the checks, huge counts started a cluster before they were refused
    "ray-gpus-nan": (
        [*TRAIN, "--num-workers", "2", "--gpus-per-worker", "nan", "--out", "{w}/new"],
        ["--gpus-per-worker: must be in [0, 1024] and finite, got nan"],
    ),
    "ray-workers-huge": (
        [*TRAIN, "--num-workers", str(10**20), "--out", "{w}/new"],
        ["--num-workers: must be an integer in [1, 100000]"],
    ),
    "tune-samples-0": (
        ["tune", "--out", "{w}/new-tune", "--samples", "0"],
        ["--samples", "[1, 100000]", "got 0"],
    ),
}
