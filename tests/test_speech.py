"""Speech Commands (paper §3.3) on a generated folder of real WAV files: the loader and its splits
from the list files, pad/cut to 1 s, the log spectrograms against their definition, the paper's LeNet and
VGG-11 (ERM = mixup at λ = 1), and short training runs through the CLI."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mixgan.config.core import load_config, to_dict
from mixgan.data.classify import load_classify_data
from mixgan.data.speech import CLIP, HOP, N_FFT_MEL, SAMPLE_RATE, WIN, Spectrogram, find_clips, read_clip
from mixgan.errors import DataError
from mixgan.models.speech import LeNet, SpeechVGG
from mixgan.train import main
from mixgan.trainers.classifier import ClassifierTrainer

from runhelp import assert_mixup_at_one_is_erm, rows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
from synthetic_speech import WORDS, make_speech_folder, signal  # noqa: E402  (a tone, a chirp, a short tone)

PRESET = "configs/classify/speech_commands_lenet.yaml"
SMALL = ["--model.width=4", "--model.hidden=16", "--model.dropout=0", "--train.epochs=3",
         "--train.batch_size=8", "--train.milestones=[]", "--data.workers=2", "--run.progress=false",
         "--metrics.image_every=-1", "--objective.erm_epochs=1"]

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_speech_folder(tmp_path_factory.mktemp("speech") / "speech_commands")


def test_splits_follow_the_list_files(folder):
    words, splits = find_clips(folder)
    assert words == list(WORDS)  # sorted word folders; _background_noise_ is not a class
    rel = {s: {f"{p.parent.name}/{p.name}" for p, _ in clips} for s, clips in splits.items()}
    assert rel["val"] == set((folder / "validation_list.txt").read_text().split())
    assert rel["test"] == set((folder / "testing_list.txt").read_text().split())
    assert [len(rel[s]) for s in ("train", "val", "test")] == [18, 9, 9]
    assert not rel["train"] & (rel["val"] | rel["test"])
    assert all(WORDS[label] == p.parent.name for clips in splits.values() for p, label in clips)


def test_clips_are_padded_or_cut_to_one_second(tmp_path):
    import soundfile

    wave = np.linspace(-0.5, 0.5, 24_000, dtype=np.float32)
    for n in (8_000, 24_000):
        soundfile.write(tmp_path / f"{n}.wav", wave[:n], SAMPLE_RATE, subtype="FLOAT")
        clip = read_clip(tmp_path / f"{n}.wav")
        assert clip.shape == (CLIP,) and np.array_equal(clip[: min(n, CLIP)], wave[: min(n, CLIP)])
        assert not clip[n:].any()  # zero padding after a short clip
    soundfile.write(tmp_path / "8k.wav", wave[:8_000], 8_000)
    with pytest.raises(DataError, match="8000 Hz with 1 channels; accepted: 16000 Hz mono"):
        read_clip(tmp_path / "8k.wav")
    soundfile.write(tmp_path / "stereo.wav", np.stack([wave, wave], 1), SAMPLE_RATE)
    with pytest.raises(DataError, match="2 channels"):
        read_clip(tmp_path / "stereo.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not a wave")
    with pytest.raises(DataError, match="unreadable WAV"):
        read_clip(tmp_path / "junk.wav")


def stft_magnitude(wave: np.ndarray, n_fft: int) -> np.ndarray:
    """|STFT| by its definition (librosa's conventions: periodic Hamming window of WIN points centred
    in n_fft, frames centred on t·HOP with zero padding), in float64: the reference."""
    window = np.zeros(n_fft)
    left = (n_fft - WIN) // 2
    window[left:left + WIN] = np.hamming(WIN + 1)[:-1]
    padded = np.pad(wave.astype(np.float64), n_fft // 2)
    frames = np.stack([padded[i * HOP:i * HOP + n_fft] for i in range(1 + len(wave) // HOP)])
    return np.abs(np.fft.rfft(frames * window, axis=1)).T  # (n_fft/2 + 1, frames)


@pytest.mark.parametrize("n_mels", [64, 0])
def test_spectrograms_match_their_definition(n_mels):
    import librosa.filters

    wave = signal(1, CLIP, np.random.default_rng(1))
    ours = Spectrogram(n_mels, torch.device("cpu"))(torch.from_numpy(wave)[None])[0, 0].double().numpy()
    mag = stft_magnitude(wave, N_FFT_MEL if n_mels else WIN)
    if n_mels:  # what librosa.feature.melspectrogram(power=2) computes, then the log
        ref = np.log(librosa.filters.mel(sr=SAMPLE_RATE, n_fft=N_FFT_MEL, n_mels=n_mels) @ mag**2 + 1e-6)
    else:  # GCommandsPytorch's front-end: log(1 + |STFT|), 20 ms Hamming window, 10 ms hop
        ref = np.log1p(mag)
    ref = (ref - ref.mean()) / ref.std(ddof=1)
    assert ours.shape == ref.shape == ((n_mels or 161), 101)
    assert np.abs(ours - ref).max() < 2e-3


def test_a_tone_lights_the_mel_band_at_its_frequency():
    import librosa

    t = torch.arange(CLIP) / SAMPLE_RATE
    centres = librosa.mel_frequencies(66, fmax=SAMPLE_RATE / 2)[1:-1]  # the 64 bands' centres (Hz)
    front = Spectrogram(64, torch.device("cpu"))
    for hz in (300.0, 1000.0, 4000.0):
        spec = front(torch.sin(2 * torch.pi * hz * t)[None])[0, 0]
        peak = int(spec.mean(1).argmax())
        assert abs(peak - int(np.abs(centres - hz).argmin())) <= 1, hz
    silent = front(torch.zeros(2, CLIP))
    assert torch.equal(silent, torch.zeros_like(silent))  # no NaN from a zero std


def test_loader_gives_spectrogram_splits(folder):
    cfg = load_config(PRESET, [("data.root", str(folder))]).data
    data = load_classify_data(cfg, 0)
    assert data.num_classes == 3 and data.in_shape == (1, 64, 101)
    shapes = [tuple(x.shape) for x in (data.x_train, data.x_val, data.x_test)]
    assert shapes == [(18, 1, 64, 101), (9, 1, 64, 101), (9, 1, 64, 101)]
    assert data.y_val.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    flat = data.x_train.flatten(1)
    assert torch.allclose(flat.mean(1), torch.zeros(18), atol=1e-4)
    assert torch.allclose(flat.std(1), torch.ones(18), atol=1e-4)  # per-clip z-score


@pytest.mark.parametrize("bad,fragment", [
    ("none", "no data in"),
    ("nolists", "missing validation_list.txt, testing_list.txt"),
])
def test_missing_folder_or_lists_is_one_line_exit_2(tmp_path, capsys, bad, fragment):
    root = tmp_path / bad
    if bad == "nolists":
        (root / "yes").mkdir(parents=True)
    runs = tmp_path / "runs"
    code = main([f"--config={PRESET}", f"--data.root={root}", f"--run.dir={runs}", "--run.progress=false"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert fragment in err and "<word>/*.wav" in err and "testing_list.txt" in err
    assert "never downloads" in err
    assert not runs.exists()


def test_a_list_naming_absent_clips_is_an_error(folder, tmp_path):
    import shutil

    copy = shutil.copytree(folder, tmp_path / "copy")
    (copy / "testing_list.txt").write_text("yes/gone_nohash_0.wav\n")
    with pytest.raises(DataError, match="names 1 clips not in .*first: yes/gone_nohash_0.wav"):
        find_clips(copy)


@pytest.mark.parametrize("net", ["lenet", "vgg11"])
def test_mixup_at_lambda_one_is_erm_for_the_speech_nets(monkeypatch, net):
    torch.manual_seed(0)
    model = (LeNet((1, 64, 101), 5, 4, 16, dropout=0.0) if net == "lenet"
             else SpeechVGG((1, 64, 101), 5, 8, 16))
    assert_mixup_at_one_is_erm(monkeypatch, model, torch.randn(6, 1, 64, 101), torch.randint(0, 5, (6,)))


def test_speech_nets_shapes_and_mix_hook():
    torch.manual_seed(0)
    lenet = LeNet((1, 161, 101), 30)  # the paper's input: GCommandsPytorch's fc1 of 16,280 inputs
    assert lenet.fc1.in_features == 16_280
    vgg = SpeechVGG((1, 161, 101), 30)
    assert vgg.fc1.in_features == 7_680  # GCommandsPytorch's VGG-11: 512 x 5 x 3
    small = SpeechVGG((1, 40, 101), 3, width=8, hidden=16).eval()
    x = torch.randn(3, 1, 40, 101)
    with torch.no_grad():
        plain = small(x)
        assert plain.shape == (3, 3)
        for k in range(4):
            assert torch.equal(small(x, mix_layer=k, mix_fn=lambda h: h), plain)
            assert not torch.allclose(small(x, mix_layer=k, mix_fn=lambda h: 0.5 * (h + h.flip(0))), plain)
    with pytest.raises(ValueError, match="at least 32 x 32"):
        SpeechVGG((1, 16, 101), 3)


def test_presets_differ_only_in_the_objective():
    for net in ("lenet", "vgg11"):
        erm = load_config(f"configs/classify/speech_commands_{net}.yaml", [("objective.name", "mixup")])
        assert to_dict(erm) == to_dict(load_config(f"configs/classify/speech_commands_{net}_mixup.yaml"))
        t = erm.train
        assert (t.optimizer, t.lr, t.batch_size, t.epochs, t.milestones) == ("adam", 0.003, 100, 30, [10, 20])
        assert (erm.objective.alpha, erm.objective.erm_epochs) == (0.2, 5)


def test_short_speech_runs_train_and_report_validation_and_test(folder, tmp_path):
    base = [f"--config={PRESET}", f"--data.root={folder}", f"--run.dir={tmp_path}", *SMALL]
    assert main([*base, "--run.name=erm"]) == 0
    assert main([*base, "--run.name=mixup", "--mixup"]) == 0
    for name in ("erm", "mixup"):
        lines = rows(tmp_path / name)
        assert [r["step"] for r in lines] == [1, 2, 3]
        assert {"val/error", "val/loss", "test/error", "train/loss"} <= set(lines[-1])
        assert set(lines[-1]) - {"step"} <= ClassifierTrainer.metric_names(load_config(PRESET))  # sweeps
        summary = json.loads((tmp_path / name / "summary.json").read_text())
        assert summary["status"] == "completed"
        assert lines[-1]["val/error"] < 50 and lines[-1]["test/error"] < 50  # chance: 66.7 %
    erm, mixup = rows(tmp_path / "erm"), rows(tmp_path / "mixup")
    # objective.erm_epochs=1: the first epoch is ERM in both runs, mixup starts at epoch 2
    assert erm[0] == mixup[0] and erm[1]["train/loss"] != mixup[1]["train/loss"]


def test_the_synthetic_folder_script(tmp_path, capsys):
    import synthetic_speech

    assert synthetic_speech.main([str(tmp_path / "s"), "--per-word", "4"]) == 0
    assert len(find_clips(tmp_path / "s")[1]["train"]) == 6  # 2 of every 4 clips per word
    with pytest.raises(SystemExit) as exit_info:
        synthetic_speech.main([str(tmp_path / "s")])  # never writes into an existing folder
    assert exit_info.value.code == 2 and "exists" in capsys.readouterr().err
