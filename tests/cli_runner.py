"""Run many `supernet` command lines, each in its own process, without paying the torch import each time.

A server process imports the CLI and its heavy libraries once; for every request (one JSON line on
stdin: argv and cwd) it forks a child that runs `supernet_cli.main(argv)` exactly as the console script
does (stdout/stderr to files, an uncaught exception printed as a traceback with exit code 1) and
answers one JSON line with the exit code, stdout and stderr. Each case gets a fresh process, so no
state leaks between cases, as with `subprocess.run(["supernet", ...])`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path


def _child(argv: list[str], cwd: str, out: str, err: str) -> None:
    os.chdir(cwd)
    for fd, path in ((1, out), (2, err)):
        f = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(f, fd)
        os.close(f)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    import supernet_cli

    try:
        code = supernet_cli.main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(int(code or 0))


def serve() -> None:
    import timm  # noqa: F401
    import torch  # noqa: F401

    import extract.cli  # noqa: F401  (the heavy imports, done once)
    import latency.cli  # noqa: F401
    import supernet.cli  # noqa: F401
    import supernet_cli  # noqa: F401

    tmp = tempfile.mkdtemp()
    out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
    print("ready", flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request["cwd"], out, err)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        answer = {"returncode": code, "stdout": Path(out).read_text(), "stderr": Path(err).read_text()}
        print(json.dumps(answer), flush=True)


class CliRunner:
    """`run(argv, cwd)` -> (returncode, stdout, stderr), each command in a fresh forked process."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self, argv: list[str], cwd: str | Path) -> tuple[int, str, str]:
        self.proc.stdin.write(json.dumps({"argv": argv, "cwd": str(cwd)}) + "\n")
        self.proc.stdin.flush()
        answer = json.loads(self.proc.stdout.readline())
        return answer["returncode"], answer["stdout"], answer["stderr"]

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


if __name__ == "__main__":
    serve()
