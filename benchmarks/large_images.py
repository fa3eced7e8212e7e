"""Memory of decoding large photos: reduced decoding against whole-image decoding.

``python -m benchmarks.large_images [--side 8000] [--images 4]`` writes IMAGES random
photos of SIDE x SIDE pixels as JPEG and as PNG into a temporary folder and decodes each set
with :func:`relabel.training.decode_images` to 32 x 32, in a fresh child process per
measurement: once as relabel does (images above
:data:`relabel.data.images.LARGE_IMAGE_PIXELS` decoded at reduced size) and once with that
threshold lifted, so every image is decoded whole. It prints the
peak resident memory of each child above a child that only imports TensorFlow, and the
seconds. Figures are printed, not asserted; compare them within one run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

_CHILD = """
import json, os, resource, sys, time
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
import relabel.data.images as images
import relabel.training as tr
tr.import_keras()
files, mode = json.loads(sys.argv[1]), sys.argv[2]
if mode == "whole":
    images.LARGE_IMAGE_PIXELS = 10**15
started = time.perf_counter()
if files:
    tr.decode_images(files, tr.TrainSettings((32, 32), 3))
print(json.dumps({"peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
                  "seconds": time.perf_counter() - started}))
"""


def _measure(files: list[str], mode: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(files), mode],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    """Write the images, measure each decoding mode in a child process, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=8000)
    parser.add_argument("--images", type=int, default=4)
    args = parser.parse_args()
    baseline = _measure([], "reduced")["peak_gb"]
    print(f"TensorFlow imported: {baseline:.2f} GB peak resident memory")
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("jpg", "png"):
            files = []
            for i in range(args.images):
                small = np.random.default_rng(i).integers(0, 256, (100, 100, 3), dtype=np.uint8)
                path = Path(tmp) / f"photo{i}.{fmt}"
                Image.fromarray(small).resize((args.side, args.side)).save(path)
                files.append(str(path))
            for mode in ("whole", "reduced"):
                m = _measure(files, mode)
                print(
                    f"{args.images} {fmt.upper()} of {args.side}x{args.side}, decoded {mode}: "
                    f"+{m['peak_gb'] - baseline:.2f} GB above that, {m['seconds']:.1f} s"
                )


if __name__ == "__main__":
    main()
