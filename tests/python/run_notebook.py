"""Execute a notebook with nbclient, as `jupyter nbconvert --execute` would, for the test suite.

Usage:
  run_notebook.py NOTEBOOK [OUT_NOTEBOOK]
      Run every cell on a `python3` kernel of this interpreter (jupyter_client starts it as
      sys.executable), in the current working directory, 300 s per cell at most. Exit 1 with
      the failing cell's error on stderr; 0 when every cell ran. The executed copy (with
      outputs) goes to OUT_NOTEBOOK when given; the input is never written.
"""
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def main(path: str, out: str | None = None) -> int:
    nb = nbformat.read(path, as_version=4)
    # Plots are rendered into the notebook, never to a display.
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": os.getcwd()}}
    )
    try:
        client.execute()
    except CellExecutionError as e:
        print(f"notebook {path} failed:\n{e}", file=sys.stderr)
        return 1
    finally:
        if out:
            nbformat.write(nb, out)
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    if errors:
        print(f"notebook {path} has error outputs: {errors}", file=sys.stderr)
        return 1
    ran = sum(1 for c in nb.cells if c.cell_type == "code")
    print(f"executed {ran} code cells of {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
