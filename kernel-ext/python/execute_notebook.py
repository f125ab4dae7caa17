"""Execute one notebook headlessly with nbclient and the ecotrain kernel.

Usage: execute_notebook.py IN.ipynb OUT.ipynb --kernel NAME --cwd DIR --timeout SECONDS [--startup-timeout SECONDS] [--probe CODE]

Writes the executed notebook to OUT (atomically, also when a cell fails, with the outputs up to the
failure) and prints one JSON line on stdout:
  {"status": "ok"|"failed", "seconds": s, "cells": n, "failed_cell": {...} | null}
A cell fails when the kernel replies with an error, or when its output shows an unhandled promise
rejection or an uncaught exception printed by tslab. After the last cell, the optional probe code
runs in the same kernel (it is not saved in the notebook) so that async failures after the last
cell are caught too.
"""
import argparse
import json
import os
import re
import sys
import signal
import subprocess
import threading
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from normal_form import merge_streams, write_atomic as write_text_atomic  # noqa: E402

ASYNC_FAILURE = re.compile(r"^(UnhandledPromiseRejection|UncaughtException)\b", re.M)

# TensorFlow's start-up lines, written by its C++ logger to the kernel's stderr before any log level applies
# (TF_CPP_MIN_LOG_LEVEL does not reach them): dropped from the kernel's stderr; the session banner names the kernels.
TF_STARTUP = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "port.cc:153] oneDNN custom operations are on",
)


def forward_kernel_stderr(stream, out=None):
    """Copies the kernel's stderr line by line to ours, without TensorFlow's start-up lines."""
    out = out or sys.stderr
    for raw in iter(stream.readline, b""):
        line = raw.decode("utf-8", "replace")
        if any(marker in line for marker in TF_STARTUP):
            continue
        out.write(line)
        out.flush()


def printed_failure(cell):
    """An async failure tslab only printed on stderr, or None."""
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            m = ASYNC_FAILURE.search(out.get("text", ""))
            if m:
                return out["text"][m.start():].strip()
    return None


def error_text(cell):
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    stderr = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("name") == "stderr")
    return "Error", stderr.strip()[-2000:]


def write_atomic(nb, path):
    """Writes `nb` as nbformat writes it (a final newline), atomically, creating the folder."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = nbformat.writes(nb)
    write_text_atomic(text if text.endswith("\n") else text + "\n", path)


class EchoingClient(NotebookClient):
    """Echoes stream output to stderr as it arrives, so long cells show progress in the run log."""

    echo_prefix = ""

    def output(self, outs, msg, display_id, cell_index):
        if msg["msg_type"] == "stream":
            text = msg["content"].get("text", "")
            for line in text.splitlines():
                sys.stderr.write(f"{self.echo_prefix}{line}\n")
            sys.stderr.flush()
        return super().output(outs, msg, display_id, cell_index)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--kernel", required=True)
    ap.add_argument("--cwd", required=True)
    ap.add_argument("--timeout", type=int, default=3600)
    # How long the kernel may take to start. 120 s was not enough on 2 cores with two lite runs and vitest's
    # workers all busy (a kernel test failed with "Kernel didn't respond in 120 seconds"); a kernel that has not
    # started in 5 minutes is still reported as a KernelStartError.
    ap.add_argument("--startup-timeout", type=int, default=300)
    ap.add_argument("--probe", default=None)
    ap.add_argument("--echo-prefix", default="")
    args = ap.parse_args()
    if args.startup_timeout <= 0:
        ap.error(f"--startup-timeout {args.startup_timeout}: expected a positive number of seconds")

    nb = nbformat.read(args.input, as_version=4)
    EchoingClient.echo_prefix = args.echo_prefix
    client = EchoingClient(
        nb,
        kernel_name=args.kernel,
        timeout=args.timeout,
        startup_timeout=args.startup_timeout,
        allow_errors=False,
        resources={"metadata": {"path": args.cwd}},
    )
    failed = None
    current = None
    shard_stop = None
    t0 = time.time()

    def kill_kernel_and_exit(reason):
        # The kernel would outlive this process (it keeps training) unless it is stopped here.
        try:
            pid = getattr(getattr(client.km, "provisioner", None), "pid", None)
            if pid:
                os.kill(pid, signal.SIGKILL)
        except Exception:
            pass
        sys.stderr.write(f"execute_notebook: {reason}: kernel stopped\n")
        os._exit(3)

    parent = os.getppid()

    def watch_parent():
        # The runner that started this executor died (killed, Ctrl-C): stop the kernel rather than leave it running.
        while True:
            time.sleep(2)
            if os.getppid() != parent:
                kill_kernel_and_exit("the runner exited")

    threading.Thread(target=watch_parent, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: kill_kernel_and_exit(f"signal {signum}"))
    try:
        with client.setup_kernel(stderr=subprocess.PIPE):
            process = getattr(getattr(client.km, "provisioner", None), "process", None)
            if process is not None and process.stderr is not None:
                threading.Thread(target=forward_kernel_stderr, args=(process.stderr,), daemon=True).start()
            # The kernel's language_info in the notebook's metadata, as nbclient's execute() and JupyterLab record it
            # (otherwise opening the executed notebook in JupyterLab changes it).
            info = client.wait_for_reply(client.kc.kernel_info())
            if info is not None and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                current = index
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError:
                    ename, evalue = error_text(cell)
                    if ename == "ShardSliceDone":
                        # A shard's notebook ends where it needs another shard's outcome: its slice is computed.
                        shard_stop = index
                        break
                    failed = {"index": index, "ename": ename, "evalue": evalue}
                except CellTimeoutError:
                    failed = {"index": index, "ename": "CellTimeoutError", "evalue": f"cell did not finish within {args.timeout} s"}
                if failed is None:
                    text = printed_failure(cell)
                    if text:
                        failed = {"index": index, "ename": "AsyncFailure", "evalue": text[:2000]}
                if failed is not None:
                    failed["source"] = cell.source[:300]
                    break
            if failed is None and args.probe:
                time.sleep(0.3)  # let timers scheduled by the last cell fire
                probe = nbformat.v4.new_code_cell(args.probe)
                nb.cells.append(probe)
                current = None
                try:
                    client.execute_cell(probe, len(nb.cells) - 1)
                    text = printed_failure(probe)
                    if text:
                        failed = {"index": len(nb.cells) - 1, "ename": "AsyncFailure", "evalue": text[:2000]}
                except CellExecutionError:
                    ename, evalue = error_text(probe)
                    failed = {"index": len(nb.cells) - 1, "ename": ename, "evalue": evalue}
                if failed is not None:
                    failed["source"] = "(end-of-notebook check: async work of the last cells failed)"
                nb.cells.pop()
    except DeadKernelError as e:
        # The cell that was running when the kernel died (e.g. it called process.exit), when one was.
        cell = nb.cells[current] if current is not None and current < len(nb.cells) else None
        failed = {
            "index": current,
            "ename": "DeadKernelError",
            "evalue": (
                f"the kernel died while {'this cell' if cell is not None else 'the end-of-notebook check'} ran"
                f" (process.exit, a crash or out of memory): {str(e)[:1800]}"
            ),
            "source": cell.source[:300] if cell is not None else "",
        }
    except RuntimeError as e:  # kernel did not start
        failed = {"index": None, "ename": "KernelStartError", "evalue": str(e)[:2000], "source": ""}
    seconds = time.time() - t0
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    write_atomic(nb, args.output)
    print(json.dumps({"status": "failed" if failed else "ok", "seconds": seconds, "cells": len(nb.cells), "failed_cell": failed, "shard_stop": shard_stop}))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
