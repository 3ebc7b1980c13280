"""The Audio Spectrogram Transformer (AudioSet, 527 classes) through `transformers`.

Optional and hub-only: `model` is a local folder saved with `save_pretrained` (config.json,
weights, preprocessor_config.json) or a hub id, looked up in the local cache first and downloaded
only when the hub is allowed. torch and transformers are imported by `load`, never at import time.

Cost: the feature extractor pads every window to its `max_length` frames (1024 = 10.24 s for the
released checkpoints), so a 0.96 s window costs as much as a 10 s clip: ~1200 patches through
12 layers. That is cheap on a GPU and heavy on a CPU, hence YAMNet remains the default.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from assistant.config import ModelSettings
from assistant.errors import ModelError
from assistant.models import _hub_offline, cache_dir

log = logging.getLogger(__name__)

DEFAULT_MODEL = "MIT/ast-finetuned-audioset-10-10-0.4593"
RATE_HZ = 16000
FULL_LENGTH_FRAMES = 1024  # the released checkpoints: 10.24 s
CPU_WINDOW_MS, CPU_HOP_MS = 10240, 5000
INSTALL_HINT = "pip install torch==2.13.0 transformers"
WEIGHTS = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json")
# At most this many CPU threads: Whisper and TTS need the other cores.
CPU_THREADS = 2


def _is_path(name: str) -> bool:
    """Hub ids are `name` or `org/name`; anything absolute, relative or existing is a folder."""
    return (name.startswith(("/", "./", "../", "~", "\\")) or name.count("/") > 1
            or (len(name) > 1 and name[1] == ":") or Path(name).expanduser().exists())


def _check_folder(path: Path) -> None:
    if not path.is_dir():
        raise ModelError(f"{path}: AST model folder not found; give a folder saved with "
                         f"save_pretrained or a hub id such as {DEFAULT_MODEL!r}.")
    missing = [n for n in ("config.json", "preprocessor_config.json") if not (path / n).is_file()]
    if not any((path / n).is_file() for n in WEIGHTS):
        missing.append(" or ".join(WEIGHTS[:2]))
    if missing:
        raise ModelError(f"{path}: not an AST model folder (missing {', '.join(missing)}); "
                         "save one with ASTForAudioClassification/ASTFeatureExtractor"
                         ".save_pretrained.")


class AstClassifier:
    """A WaveformClassifier: feed it the last `window_ms` of audio every `hop_ms`.

    Use from one thread at a time (the sound-event executor); `load` is idempotent.
    """

    window_ms = 960
    hop_ms = 480

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "auto",
                 models: ModelSettings | None = None) -> None:
        self.model = model
        self.device = device
        self._settings = models or ModelSettings()
        self._lock = threading.Lock()
        self._extractor: Any = None
        self._model: Any = None
        self._torch: Any = None
        self._dtype: Any = None
        self.labels: list[str] = []

    def load(self) -> None:
        with self._lock:
            if self._model is not None:
                return
            try:
                import torch
                from transformers import ASTFeatureExtractor, ASTForAudioClassification
            except ImportError as exc:
                raise ModelError(f"the AST sound-event model needs torch and transformers "
                                 f"({exc}); install them with: {INSTALL_HINT}") from exc
            device = self._device(torch)
            dtype = torch.float16 if device.startswith("cuda") else torch.float32
            if device == "cpu" and torch.get_num_threads() > CPU_THREADS:
                torch.set_num_threads(CPU_THREADS)  # process-wide; never raised, only lowered
            extractor, model = self._from_pretrained(ASTFeatureExtractor,
                                                     ASTForAudioClassification, dtype)
            if extractor.sampling_rate != RATE_HZ:
                raise ModelError(f"{self.model}: expects {extractor.sampling_rate} Hz audio; "
                                 f"the daemon gives {RATE_HZ} Hz.")
            id2label = model.config.id2label
            self.labels = [str(id2label[i]) for i in range(len(id2label))]
            self._extractor = extractor
            self._dtype = dtype
            self._torch = torch
            self._model = model.to(device).eval()
            log.info("AST %s on %s: %d labels, %d frames per window", self.model, device,
                     len(self.labels), extractor.max_length)
            if device == "cpu" and extractor.max_length >= FULL_LENGTH_FRAMES:
                # Every window costs a full 10.24 s input (3-5 s of CPU for the real model):
                # classify the last 10.24 s every 5 s instead of 0.96 s every 0.48 s.
                self.window_ms, self.hop_ms = CPU_WINDOW_MS, CPU_HOP_MS
                log.warning("AST on CPU: one 10 s window every %.0f s (sound events come "
                            "late); use a GPU, or sounds.model: yamnet", CPU_HOP_MS / 1000)

    def _device(self, torch: Any) -> str:
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"AST device {self.device!r}: no CUDA GPU is available; "
                             "use device 'auto' or 'cpu'.")
        return self.device

    def _from_pretrained(self, extractor_cls: Any, model_cls: Any, dtype: Any) -> tuple[Any, Any]:
        def both(location: str, **kwargs: Any) -> tuple[Any, Any]:
            return (extractor_cls.from_pretrained(location, **kwargs),
                    model_cls.from_pretrained(location, dtype=dtype, **kwargs))

        if _is_path(self.model):
            path = Path(self.model).expanduser()
            _check_folder(path)
            try:
                return both(str(path), local_files_only=True)
            except (OSError, ValueError) as exc:
                raise ModelError(f"{path}: cannot load the AST model: {exc}") from exc
        cache = cache_dir(self._settings) / "huggingface"
        try:
            return both(self.model, cache_dir=str(cache), local_files_only=True)
        except (OSError, ValueError) as exc:
            cached_error: Exception = exc
        if self._settings.offline or _hub_offline():
            raise ModelError(
                f"AST model {self.model!r} is not available offline: give a local folder saved "
                f"with save_pretrained, or download it once into {cache} with the hub allowed "
                "(models.offline: false, HF_HUB_OFFLINE unset)."
            ) from cached_error
        log.info("downloading AST model %s to %s", self.model, cache)
        try:
            return both(self.model, cache_dir=str(cache))
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot download AST model {self.model!r}: {exc}") from exc

    def scores_waveform(self, samples: np.ndarray) -> np.ndarray:
        """16 kHz mono float samples in [-1, 1] -> [len(labels)] sigmoid probabilities.

        Windows longer than the extractor's `max_length` frames are cut to their start.
        """
        if self._model is None:
            self.load()
        torch, model = self._torch, self._model
        features = self._extractor(np.asarray(samples, dtype=np.float32).reshape(-1),
                                   sampling_rate=RATE_HZ, return_tensors="pt")
        values = features["input_values"].to(device=model.device, dtype=self._dtype)
        with torch.inference_mode():
            logits = model(input_values=values).logits[0]
        # AudioSet is multi-label: an independent sigmoid per class, not a softmax.
        return np.asarray(torch.sigmoid(logits.float()).cpu().numpy(), dtype=np.float32)
