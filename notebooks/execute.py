"""Runs the notebooks top to bottom in a fresh Python kernel (nbclient) and fails on the first
cell that raises, assert cells included. The committed notebooks carry no outputs (checked
here too); executed copies go to OUT when given.

    AIOPS_DATA=data AIOPS_BIN=aiops python notebooks/execute.py [--out DIR] [NOTEBOOK ...]

Environment the notebooks read: AIOPS_DATA (the job's data directory), AIOPS_BIN (the aiops
binary), AIOPS_DATABASE_URL (optional: the same run in PostgreSQL), AIOPS_SIM_ARGS (a JSON
list: the simulator options of the run, for notebook 03's reruns).
"""

import argparse
import glob
import os
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def unexecuted(notebook, path):
    for cell in notebook.cells:
        if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
            raise SystemExit(f"{path}: committed with outputs; clear them before committing")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="write executed copies here")
    parser.add_argument("notebooks", nargs="*")
    args = parser.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    paths = args.notebooks or sorted(glob.glob(os.path.join(here, "*.ipynb")))
    failed = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        unexecuted(notebook, path)
        started = time.time()
        try:
            NotebookClient(notebook, timeout=600, kernel_name="python3",
                           resources={"metadata": {"path": here}}).execute()
            status = "ok"
        except CellExecutionError as error:
            status = "FAILED"
            failed.append(f"{os.path.basename(path)}:\n{error}")
        print(f"{os.path.basename(path)}: {status} in {time.time() - started:.1f} s", flush=True)
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            nbformat.write(notebook, os.path.join(args.out, os.path.basename(path)))
    if failed:
        print("\n\n".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
