"""resemblyzer's GE2E voice encoder, reimplemented on torch + numpy alone.

resemblyzer itself imports librosa, webrtcvad and scipy (old pins); we only need its weights
(`pretrained.pt`) and its maths, reproduced here: the mel front end (librosa defaults: periodic
Hann window, centred frames, power spectrum, Slaney mel filterbank), the 1.6 s partial slicing
and the LSTM model. Its webrtcvad silence trimming is replaced: the daemon passes utterances that
the endpointer already cut, and enrollment files get a simple energy gate (`trim_silence`).
"""

from __future__ import annotations

import importlib.util
import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from assistant.errors import ModelError

log = logging.getLogger(__name__)

RATE_HZ = 16000
N_FFT = 400  # 25 ms window
HOP = 160  # 10 ms hop
N_MELS = 40
PARTIAL_FRAMES = 160  # 1.6 s per partial utterance
EMBED_SIZE = 256
NORM_TARGET_DBFS = -30.0
INSTALL_HINT = "pip install torch==2.13.0; pip install --no-deps resemblyzer"

Floats = npt.NDArray[np.float32]


def hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Slaney's mel scale (librosa's default, htk=False): linear to 1 kHz, logarithmic above."""
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mels = hz / f_sp
    log_part = hz >= min_log_hz
    mels[log_part] = min_log_mel + np.log(hz[log_part] / min_log_hz) / logstep
    return mels


def mel_to_hz(mels: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    hz = mels * f_sp
    log_part = mels >= min_log_mel
    hz[log_part] = min_log_hz * np.exp(logstep * (mels[log_part] - min_log_mel))
    return hz


def mel_filterbank(rate_hz: int = RATE_HZ, n_fft: int = N_FFT, n_mels: int = N_MELS) -> Floats:
    """librosa.filters.mel(sr, n_fft, n_mels) with fmin=0, fmax=sr/2, norm="slaney": triangles
    on the Slaney mel scale, each scaled by 2 / bandwidth so every band has equal area."""
    fft_hz = np.linspace(0, rate_hz / 2, 1 + n_fft // 2)
    edges = mel_to_hz(np.linspace(hz_to_mel(np.array([0.0]))[0],
                                  hz_to_mel(np.array([rate_hz / 2]))[0], n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


def mel_spectrogram(wav: Floats, filterbank: Floats) -> Floats:
    """(frames, 40) power mel spectrogram, as librosa.feature.melspectrogram with center=True.

    Padding is zeros (librosa >= 0.10's default pad_mode="constant")."""
    padded = np.pad(wav, N_FFT // 2)
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n_frames)[:, None]
    window = np.hanning(N_FFT + 1)[:-1].astype(np.float32)  # periodic Hann, as scipy fftbins=True
    spectrum = np.abs(np.fft.rfft(padded[idx] * window, axis=1)) ** 2
    return (spectrum @ filterbank.T).astype(np.float32)


def normalize_volume(wav: Floats, target_dbfs: float = NORM_TARGET_DBFS) -> Floats:
    """Raise (never lower) the level to `target_dbfs` RMS, as resemblyzer's preprocessing does."""
    if wav.size == 0:
        return wav
    rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
    if rms <= 0:
        return wav
    change_db = target_dbfs - 20 * np.log10(rms)
    return wav if change_db < 0 else (wav * 10 ** (change_db / 20)).astype(np.float32)


def trim_silence(pcm_int16_16k: bytes, frame_ms: int = 30, floor_db: float = -40.0) -> bytes:
    """Drop leading and trailing frames quieter than `floor_db` below the loudest frame.

    An energy gate relative to the clip's peak, so a quiet recording is trimmed like a loud one."""
    samples = np.frombuffer(pcm_int16_16k, dtype="<i2").astype(np.float64)
    size = RATE_HZ * frame_ms // 1000
    n = len(samples) // size
    if n == 0:
        return pcm_int16_16k
    energy = np.mean(samples[: n * size].reshape(n, size) ** 2, axis=1) + 1e-9
    loud = np.flatnonzero(10 * np.log10(energy / energy.max()) > floor_db)
    start, stop = int(loud[0]) * size, (int(loud[-1]) + 1) * size
    if loud[-1] == n - 1:
        stop = len(samples)  # keep the sub-frame tail when the last full frame is speech
    return pcm_int16_16k[2 * start: 2 * stop]


def partial_slices(n_samples: int, rate: float = 1.3, min_coverage: float = 0.75
                   ) -> list[slice]:
    """Mel-frame ranges of the 1.6 s partials, as resemblyzer's compute_partial_slices.

    `rate` partials per second; the last one is kept if at least `min_coverage` of it is audio
    (always at least one partial, zero-padded)."""
    n_frames = int(np.ceil((n_samples + 1) / HOP))
    step = int(np.round((RATE_HZ / rate) / HOP))
    starts = range(0, max(1, n_frames - PARTIAL_FRAMES + step + 1), step)
    slices = [slice(i, i + PARTIAL_FRAMES) for i in starts]
    last = slices[-1]
    coverage = (n_samples - last.start * HOP) / (PARTIAL_FRAMES * HOP)
    if coverage < min_coverage and len(slices) > 1:
        slices.pop()
    return slices


def weights_path() -> Path:
    """resemblyzer's pretrained.pt, found without importing resemblyzer (its imports need
    librosa and webrtcvad, which we do not install)."""
    spec = importlib.util.find_spec("resemblyzer")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "pretrained.pt"
        if path.is_file():
            return path
    raise ModelError(
        "speaker identification needs the resemblyzer voice encoder weights, which were not "
        f"found. Install them with: {INSTALL_HINT}"
    )


class VoiceEncoder:
    """Speech (16 kHz mono int16) -> 256-d L2-normalised voice embedding.

    Loads lazily on first use, under a lock, so building it is free and thread-safe."""

    name = "resemblyzer:ge2e"

    def __init__(self, device: str = "auto", threads: int = 1) -> None:
        self._device_name = device
        self._threads = threads  # few threads: Whisper shares these cores
        self._filterbank = mel_filterbank()
        self._lock = threading.Lock()
        self._model: Any = None
        self._torch: Any = None

    def load(self) -> None:
        """Build the model and run it once (the first run allocates and is slow)."""
        with self._lock:
            if self._model is not None:
                return
            self._model, self._torch = self._build()
            noise = np.random.default_rng(0).normal(0, 300, RATE_HZ).astype("<i2")
            self._embed(noise.tobytes())

    def _build(self) -> tuple[Any, Any]:
        try:
            import torch
        except ImportError as exc:
            raise ModelError(f"speaker identification needs torch. Install: {INSTALL_HINT}"
                             ) from exc
        path = weights_path()
        started = time.perf_counter()
        if self._device_name == "auto":
            device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        else:
            device = torch.device(self._device_name)
        if device.type == "cpu":
            torch.set_num_threads(self._threads)
        model = _ge2e_model(torch)
        try:
            # weights_only: a pickle must not run code; this checkpoint is plain tensors + ints.
            checkpoint = torch.load(path, map_location="cpu", weights_only=True)
            # strict=False: the checkpoint also holds GE2E training-loss scalars we do not use.
            model.load_state_dict(checkpoint["model_state"], strict=False)
        except (OSError, RuntimeError, KeyError) as exc:
            raise ModelError(f"{path}: cannot load the voice encoder ({exc}). Reinstall: "
                             f"{INSTALL_HINT}") from exc
        model.to(device).eval()
        log.info("voice encoder loaded on %s in %.2f s", device.type,
                 time.perf_counter() - started)
        return model, torch

    @property
    def device(self) -> str:
        self.load()
        return str(next(self._model.parameters()).device.type)

    def embed(self, pcm_int16_16k: bytes) -> Floats:
        """Embedding of one utterance: the L2-normalised mean of its partials' embeddings."""
        if self._model is None:
            self.load()
        return self._embed(pcm_int16_16k)

    def _embed(self, pcm_int16_16k: bytes) -> Floats:
        torch = self._torch
        wav = np.frombuffer(pcm_int16_16k, dtype="<i2").astype(np.float32) / 32768.0
        wav = normalize_volume(wav)
        slices = partial_slices(len(wav))
        needed = slices[-1].stop * HOP
        if needed >= len(wav):
            wav = np.pad(wav, (0, needed - len(wav)))
        mel = mel_spectrogram(wav, self._filterbank)
        mels = np.stack([mel[s] for s in slices])
        device = next(self._model.parameters()).device
        with torch.inference_mode():
            partials = self._model(torch.from_numpy(mels).to(device)).cpu().numpy()
        mean = np.nan_to_num(np.mean(partials, axis=0))
        norm = float(np.linalg.norm(mean))
        # Digital silence can zero every ReLU output: a zero vector then matches no one.
        embedding: Floats = (mean / norm if norm > 0 else mean).astype(np.float32)
        return embedding


def _ge2e_model(torch: Any) -> Any:
    """LSTM(40 -> 256, 3 layers) -> Linear(256) -> ReLU -> L2 norm, on the last hidden state.

    Attribute names match the checkpoint's keys (lstm.*, linear.*)."""
    nn = torch.nn

    class GE2E(nn.Module):  # type: ignore[misc, name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.lstm = nn.LSTM(N_MELS, EMBED_SIZE, 3, batch_first=True)
            self.linear = nn.Linear(EMBED_SIZE, EMBED_SIZE)
            self.relu = nn.ReLU()

        def forward(self, mels: Any) -> Any:
            _, (hidden, _) = self.lstm(mels)
            raw = self.relu(self.linear(hidden[-1]))
            return raw / torch.norm(raw, dim=1, keepdim=True)

    return GE2E()
