"""Prints the scalar summaries TensorBoard reads from an event-file folder, as JSON {tag: [[step, value], ...]}.

Used by the tests to check that a run's summaries read back through TensorBoard's own loader.
Usage: read_events.py <logdir>
"""

import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util


def main(logdir: str) -> None:
    acc = EventAccumulator(logdir, size_guidance={"tensors": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    out = {}
    for tag in tags.get("tensors", []):
        out[tag] = [[e.step, float(tensor_util.make_ndarray(e.tensor_proto))] for e in acc.Tensors(tag)]
    for tag in tags.get("scalars", []):
        out[tag] = [[e.step, float(e.value)] for e in acc.Scalars(tag)]
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: read_events.py <logdir>")
    main(sys.argv[1])
