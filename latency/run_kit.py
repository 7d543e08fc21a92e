#!/usr/bin/env python3
"""Time a supernet latency kit on this device. Needs only Python 3.8+, numpy and onnxruntime.

    python run_kit.py --provider CPUExecutionProvider --threads 1 --out timings.json

Checks the kit (manifest id and every file's sha256) before timing anything, then times each graph of
`manifest.json` in a fresh onnxruntime session: warm-up runs, then timed runs (layers: --repeats, whole
subnets: twice that), keeping min, median, p90 and p99 of the runs. Progress is saved atomically every
few seconds and after each subnet; running the same command again resumes. Copy timings.json back and
run `supernet latency import KIT timings.json --out table.json`.

This file is copied verbatim into every kit by `supernet latency kit`; it must not import torch or supernet.
"""

import argparse
import errno
import hashlib
import json
import os
import platform
import sys
import time
from pathlib import Path

TIMINGS_FORMAT = "supernet-kit-timings"
TIMINGS_VERSION = 1
STATS = ("median", "min", "p90", "p99")
SAVE_EVERY_S = 5.0
FULL = (errno.ENOSPC, errno.EDQUOT)  # errors that freeing space fixes


class KitError(Exception):
    """Bad input: printed as one line, exit code 2."""


def canonical_sha256(data):
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_manifest(kit):
    path = kit / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise KitError(
            f"{path} is missing or not valid JSON ({e.__class__.__name__}); copy the whole kit folder"
        )
    if not isinstance(manifest, dict) or manifest.get("format") != "supernet-latency-kit":
        raise KitError(f"{path} is not a supernet latency kit manifest")
    body = {k: v for k, v in manifest.items() if k != "kit_id"}
    if canonical_sha256(body) != manifest.get("kit_id"):
        raise KitError(
            f"{path} was edited or is corrupt (its content does not match its kit_id); copy it again"
        )
    return manifest


def check_files(kit, manifest):
    for g in manifest["graphs"]:
        path = kit / g["file"]
        if not path.is_file():
            raise KitError(f"kit file {path} is missing; copy the whole kit folder")
        if file_sha256(path) != g["sha256"]:
            raise KitError(f"kit file {path} does not match its sha256 in the manifest; copy the kit again")


def device_facts(ort, np):
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    facts = {
        "device": cpu,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": {
            "python": platform.python_version(),
            "onnxruntime": ort.__version__,
            "numpy": np.__version__,
        },
        "available_providers": ort.get_available_providers(),
    }
    if hasattr(os, "getloadavg"):
        facts["load_avg_start"] = os.getloadavg()[0]
    return facts


def summarize(times_ns, np):
    x = np.asarray(times_ns, dtype=float) / 1e6
    return {"min": float(x.min()), "median": float(np.median(x)), "p90": float(np.percentile(x, 90.0)),
            "p99": float(np.percentile(x, 99.0))}  # fmt: skip


def time_graph(ort, np, path, *, provider, threads, batch, warmup, repeats):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    session = ort.InferenceSession(str(path), options, providers=providers)
    inp = session.get_inputs()[0]
    shape = [batch if i == 0 else d for i, d in enumerate(inp.shape)]
    feed = {inp.name: np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    for _ in range(warmup):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        session.run(None, feed)
        times.append(time.perf_counter_ns() - start)
    return summarize(times, np)


def save(path, timings):
    """Write atomically, as the project's `supernet.files.atomic_write` does (this file may not import it):
    a temp file beside `path`, flushed, then renamed over it. A failed write removes the temp file, keeps
    the previous `path` and is one line (a full disk, a read-only folder, a folder that holds no files)."""
    body = {k: v for k, v in timings.items() if k != "sha256"}
    timings["sha256"] = canonical_sha256(body)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(json.dumps(timings, indent=1))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            kept = f"the previous {path.name} is unchanged" if _exists(path) else "nothing was written"
            fix = "free space or pass another --out" if e.errno in FULL else "pass another --out"
            raise KitError(f"cannot write {path}: {e.strerror or e}; {kept}; {fix}") from None
        raise


def _exists(path):
    try:
        return path.exists()
    except OSError:
        return False


def start_or_resume(out, header):
    try:
        if not out.exists():
            return {**header, "times": {}, "complete": False}
    except OSError as e:  # e.g. a name longer than the file system allows
        raise KitError(f"--out {out}: {e.strerror}; pass another --out") from None
    try:
        old = json.loads(out.read_text())
    except (OSError, ValueError):
        raise KitError(f"{out} exists and is not a timings file; pass another --out")
    same = {k: old.get(k) for k in header if k != "device"}
    if same != {k: v for k, v in header.items() if k != "device"}:
        diff = [k for k in same if same[k] != header[k]]
        raise KitError(f"{out} holds timings with other settings ({', '.join(diff)}); pass another --out")
    return old


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line and exit code 2, as every other error here."""

    def error(self, message):
        self.exit(2, f"run_kit.py: error: {message} (see run_kit.py --help)\n")


def main(argv=None):
    here = Path(__file__).resolve().parent
    p = _Parser(description="Time a supernet latency kit on this device (numpy + onnxruntime).")
    p.add_argument("--kit", default=str(here), help="kit folder (default: the folder of this file)")
    p.add_argument("--out", required=True, help="timings JSON to write; an unfinished one is resumed")
    p.add_argument("--provider", default="CPUExecutionProvider", help="onnxruntime execution provider")
    p.add_argument("--threads", type=int, default=1, help="intra-op threads (default 1)")
    p.add_argument("--stat", default=None, choices=STATS, help="the table's statistic (default: the kit's)")
    p.add_argument("--warmup", type=int, default=None, help="untimed runs per graph (default: the kit's)")
    p.add_argument("--repeats", type=int, default=None, help="timed runs per layer (default: the kit's)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    args = p.parse_args(argv)
    for name in ("kit", "out", "provider"):
        if not getattr(args, name).strip():
            p.error(f"argument --{name}: an empty value is not allowed")
    try:
        return run(args)
    except KitError as e:
        print(f"run_kit.py: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("run_kit.py: interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    except OSError as e:  # a path the file system refuses that no check named first
        where = f"cannot use {e.filename}: " if e.filename is not None else ""
        print(f"run_kit.py: error: {where}{e.strerror or e}; pass another path", file=sys.stderr)
        return 2


def run(args):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        raise KitError(f"{e.name} is not installed; run `pip install numpy onnxruntime`")
    kit, out = Path(args.kit), Path(args.out)
    manifest = load_manifest(kit)
    check_files(kit, manifest)
    if args.provider not in ort.get_available_providers():
        raise KitError(
            f"provider {args.provider} is not available; available: {', '.join(ort.get_available_providers())}"
        )
    d = manifest["defaults"]
    warmup = d["warmup"] if args.warmup is None else args.warmup
    repeats = d["repeats"] if args.repeats is None else args.repeats
    if not (1 <= args.threads <= 1024 and 1 <= repeats <= 1_000_000 and 0 <= warmup <= 1_000_000):
        raise KitError(
            f"--threads {args.threads}, --repeats {repeats}, --warmup {warmup}: allowed --threads 1-1024, "
            "--repeats 1-1000000, --warmup 0-1000000"
        )
    header = {
        "format": TIMINGS_FORMAT,
        "version": TIMINGS_VERSION,
        "kit_id": manifest["kit_id"],
        "space_fingerprint": manifest["space_fingerprint"],
        "precision": manifest["precision"],
        "provider": args.provider,
        "threads": args.threads,
        "batch": manifest["batch"],
        "stat": args.stat or d["stat"],
        "warmup": warmup,
        "repeats": repeats,
        "subnet_repeats": 2 * repeats,
        "device": device_facts(ort, np),
    }
    timings = start_or_resume(out, header)
    save(out, timings)  # before any timing: an --out that cannot be written fails now, not minutes later
    todo = [g for g in manifest["graphs"] if g["name"] not in timings["times"]]
    total, done, last = len(manifest["graphs"]), len(manifest["graphs"]) - len(todo), time.monotonic()
    if done and not args.quiet:
        print(f"resuming: {done}/{total} graphs already timed", file=sys.stderr)
    for i, g in enumerate(todo, done + 1):
        n = repeats if g["kind"] == "layer" else 2 * repeats
        timings["times"][g["name"]] = time_graph(
            ort, np, kit / g["file"], provider=args.provider, threads=args.threads, batch=manifest["batch"],
            warmup=warmup, repeats=n,
        )  # fmt: skip
        if time.monotonic() - last > SAVE_EVERY_S or g["kind"] != "layer":
            save(out, timings)
            last = time.monotonic()
            if not args.quiet:
                print(f"[{i}/{total}] {g['name']}", file=sys.stderr)
    if hasattr(os, "getloadavg"):
        timings["device"]["load_avg_end"] = os.getloadavg()[0]
    timings["complete"] = True
    save(out, timings)
    if not args.quiet:
        print(
            f"wrote {out}: {total} graphs timed on {args.provider}; copy it back and run `supernet latency import`"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
