"""Build the chapter's data that ships inside numpy_impl: the first 1000 MNIST training
images and all 10000 test images, as gzipped IDX files (about 2 MB).

    python tools/build_data.py --source ~/mnist     # a folder with the full MNIST

Checks the four source files against MNIST's published MD5s (of the uncompressed files)
first, and writes byte-for-byte reproducible gzip files (no timestamp), each atomically.
"""

from __future__ import annotations

import gzip
import hashlib
import sys
from pathlib import Path

from ch9_shared.data import FILES, SHIPPED, DataError, find_idx_folder, idx_path
from ch9_shared.files import OutputError, distinct, writable_files, write_atomically
from scripts.cli import Parser, about, idx_files

MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
KEEP = {"train": 1000, "t10k": 10000}
"""How many items of each split the chapter uses."""


def read_verified(folder: Path, name: str) -> bytes:
    path = idx_path(folder, name)
    if path is None:
        raise DataError(f"{folder}: {name}[.gz] is missing")
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    if hashlib.md5(raw).hexdigest() != MD5[name]:
        raise DataError(f"{path}: MD5 differs from MNIST's published {MD5[name]}: "
                        "not the original MNIST file")
    return raw


def first_items(raw: bytes, count: int) -> bytes:
    """The IDX file cut to its first `count` items: header with the new count, then data."""
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    item_bytes = 1
    for d in dims[1:]:
        item_bytes *= d
    header = raw[:4] + count.to_bytes(4, "big") + raw[8: 4 + 4 * ndim]
    return header + raw[4 + 4 * ndim: 4 + 4 * ndim + count * item_bytes]


def write_gzip(path: Path, data: bytes) -> None:
    """gzip with no name and no timestamp (reproducible), written beside and renamed."""
    def write(f) -> None:
        with gzip.GzipFile(fileobj=f, mode="wb", filename="", compresslevel=9, mtime=0) as gz:
            gz.write(data)

    write_atomically(path, write)


def build(source: Path, out: Path) -> list[Path]:
    folder = find_idx_folder(source)
    raws = {name: read_verified(folder, name) for name in FILES.values()}
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, raw in raws.items():
        path = out / f"{name}.gz"
        write_gzip(path, first_items(raw, KEEP[name.split("-")[0]]))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="tools/build_data.py", description=about(__doc__))
    parser.add_argument("--source", type=Path, required=True,
                        help="folder with the full MNIST IDX files (flat or in MNIST/raw/)")
    parser.add_argument("--out", type=Path, default=SHIPPED,
                        help="where to write (default: the package's ch9_shared/mnist)")
    args = parser.parse_args(argv)
    try:
        outputs = writable_files("--out", args.out, [f"{name}.gz" for name in FILES.values()])
        distinct({"--out": outputs}, {"--source": idx_files(args.source)})
        for path in build(args.source, args.out):
            print(f"wrote {path} ({path.stat().st_size} bytes)", file=sys.stderr)
    except (DataError, OutputError) as e:
        print(f"tools/build_data.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
