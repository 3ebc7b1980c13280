"""The AST sound-event model, loaded and run through the same code a hub checkpoint uses.

No network here, so a tiny randomly initialised AST is built and saved with save_pretrained;
the classifier then loads that folder exactly as it would a downloaded checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.audio.files import read_file
from assistant.config import ModelSettings
from assistant.errors import ModelError
from assistant.sed.ast import DEFAULT_MODEL, AstClassifier

# transformers' numpy fbank (used when torchaudio is absent) warns that its lowest of 128 kaldi
# mel filters is empty at a 512-point FFT; the released checkpoints use the same 128 bins, so this
# is the real front end, not a test artefact.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings(
        r"ignore:At least one mel filter has all zero values\. The value for `num_mel_filters` "
        r"\(128\):UserWarning"),
]

LABELS = ["Speech", "Music", "Dog", "Bark", "Smoke detector, smoke alarm", "Glass",
          "Shatter", "Doorbell", "Knock", "Baby cry, infant cry"]
MAX_FRAMES = 128  # the released checkpoints use 1024; the path is the same, only smaller


@pytest.fixture(scope="module")
def tiny_ast(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.ASTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
        num_mel_bins=128, max_length=MAX_FRAMES, id2label=dict(enumerate(LABELS)),
        label2id={name: i for i, name in enumerate(LABELS)})
    folder = tmp_path_factory.mktemp("ast") / "tiny"
    transformers.ASTForAudioClassification(config).save_pretrained(folder)
    transformers.ASTFeatureExtractor(max_length=MAX_FRAMES).save_pretrained(folder)
    return folder


def clip(audio_dir: Path, name: str, ms: int = 960) -> np.ndarray:
    pcm = np.frombuffer(read_file(audio_dir / name), dtype="<i2")
    return (pcm[: 16 * ms].astype(np.float32) / 32768.0)


def test_tiny_checkpoint_loads_and_scores(tiny_ast: Path, audio_dir: Path, tmp_path: Path) -> None:
    classifier = AstClassifier(str(tiny_ast), device="cpu",
                               models=ModelSettings(offline=True, cache_dir=tmp_path))
    classifier.load()
    classifier.load()  # idempotent
    assert classifier.labels == LABELS
    speech = clip(audio_dir, "asr/speechbrain_spk1_snt1.wav")
    assert len(speech) == 16 * classifier.window_ms
    scores = classifier.scores_waveform(speech)
    assert scores.shape == (len(LABELS),) and scores.dtype == np.float32
    assert np.all(np.isfinite(scores)) and np.all((scores >= 0) & (scores <= 1))
    # Multi-label sigmoid: the scores are independent, not a distribution summing to 1.
    assert not np.isclose(scores.sum(), 1.0)
    np.testing.assert_array_equal(classifier.scores_waveform(speech), scores)
    other = classifier.scores_waveform(clip(audio_dir, "sed/ibm_max_thunder.wav"))
    assert not np.allclose(other, scores)


def test_hub_id_offline_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    classifier = AstClassifier(DEFAULT_MODEL, device="cpu",
                               models=ModelSettings(offline=True, cache_dir=tmp_path))
    with pytest.raises(ModelError, match="not available offline"):
        classifier.load()


def test_missing_folder_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    classifier = AstClassifier(str(tmp_path / "missing"), device="cpu",
                               models=ModelSettings(offline=True, cache_dir=tmp_path))
    with pytest.raises(ModelError, match="folder not found"):
        classifier.load()


def test_incomplete_folder_is_a_model_error(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "config.json").write_text("{}")
    classifier = AstClassifier(str(tmp_path / "partial"), device="cpu",
                               models=ModelSettings(offline=True, cache_dir=tmp_path))
    with pytest.raises(ModelError, match="preprocessor_config.json"):
        classifier.load()
