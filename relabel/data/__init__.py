"""The dataset edge: reading manifests and image folders (:mod:`~relabel.data.manifest`),
validating rows (:mod:`~relabel.data.validate`), THE image decoder and the image checks
(:mod:`~relabel.data.images`), and (for demos and benchmarks) injecting label noise
(:mod:`~relabel.data.noise_injection`)."""

from relabel.data.images import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    IMAGE_FORMATS,
    UnreadableImageError,
    check_image,
    check_image_files,
    decode_image,
)
from relabel.data.manifest import (
    is_url,
    load_records,
    read_folder,
    read_manifest,
    read_manifest_frame,
)
from relabel.data.records import Record, Validated
from relabel.data.validate import validate_records, write_problems

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_EXTENSIONS",
    "IMAGE_FORMATS",
    "Record",
    "UnreadableImageError",
    "Validated",
    "check_image",
    "check_image_files",
    "decode_image",
    "is_url",
    "load_records",
    "read_folder",
    "read_manifest",
    "read_manifest_frame",
    "validate_records",
    "write_problems",
]
