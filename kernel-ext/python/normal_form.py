"""The form in which the project's notebooks are committed: the form JupyterLab writes when it saves a notebook.

JupyterLab's output area merges consecutive stream outputs of the same name when it loads a notebook, and the Jupyter
server writes notebooks with nbformat (one-space indent, sorted keys, lines split, a final newline). A notebook in
this form opens and saves without a change. The runner's `injected-parameters` cell belongs to executed copies in
out/ only: committed notebooks keep their `parameters` cell as the source of truth.

    python normal_form.py --check notebooks/*.ipynb   # exit 1 and list the notebooks not in normal form
    python normal_form.py --write notebooks/*.ipynb   # rewrite them in normal form
    python normal_form.py --adopt out/lite/notebooks/12-e2train-psg.ipynb notebooks/12-e2train-psg.ipynb
"""

import argparse
import os
import sys
import tempfile

import nbformat

INJECTED = "injected-parameters"


def merge_streams(outputs):
    """Consecutive stream outputs of the same name as one output (as JupyterLab's output area holds them)."""
    merged = []
    for out in outputs:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and out.get("output_type") == "stream"
            and prev.get("output_type") == "stream"
            and prev.get("name") == out.get("name")
        ):
            prev["text"] = text_of(prev) + text_of(out)
        else:
            merged.append(out)
    return merged


def text_of(out):
    t = out.get("text", "")
    return "".join(t) if isinstance(t, list) else t


def normal_form(nb, drop_injected=True):
    """`nb` (an nbformat v4 NotebookNode) in normal form, as the text JupyterLab would save."""
    nb = nbformat.from_dict(nb)
    if drop_injected:
        nb.cells = [c for c in nb.cells if INJECTED not in c.get("metadata", {}).get("tags", [])]
    for cell in nb.cells:
        if cell.get("cell_type") == "code":
            cell.outputs = merge_streams(cell.get("outputs", []))
    text = nbformat.writes(nb, version=nbformat.NO_CONVERT)
    return text if text.endswith("\n") else text + "\n"


def write_atomic(text, path):
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def read(path):
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    return raw, nbformat.reads(raw, as_version=4)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", nargs="+", metavar="NOTEBOOK")
    mode.add_argument("--write", nargs="+", metavar="NOTEBOOK")
    mode.add_argument("--adopt", nargs=2, metavar=("EXECUTED", "COMMITTED"))
    args = ap.parse_args()
    if args.adopt:
        src, dst = args.adopt
        _, nb = read(src)
        nbformat.validate(nb)
        write_atomic(normal_form(nb), dst)
        print(f"{dst}: adopted from {src} (injected parameters dropped, streams merged)")
        return 0
    paths = args.check or args.write
    off = []
    for p in paths:
        raw, nb = read(p)
        want = normal_form(nb)
        if raw != want:
            off.append(p)
            if args.write:
                write_atomic(want, p)
    verb = "rewritten" if args.write else "not in normal form (run: npm run notebooks:normalize)"
    for p in off:
        print(f"{p}: {verb}")
    return 1 if off and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
