"""Google Speech Commands (Warden 2018; the paper's §3.3) from a local folder, as normalized log
spectrograms computed on the device in batches. mixgan never downloads.

Layout of v0.01 and v0.02 alike: <root>/<word>/<clip>.wav (16 kHz mono), <root>/validation_list.txt
and <root>/testing_list.txt naming clips as <word>/<clip>.wav; a clip in neither list is training
data. Folders whose name starts with "_" (_background_noise_) are not classes. Every clip is padded
with zeros or cut to 1 s before its spectrogram is taken, so every input has 101 frames.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from mixgan.errors import DataError

SAMPLE_RATE = 16_000
CLIP = SAMPLE_RATE  # samples in 1 s
WIN = 320  # 20 ms Hamming window and
HOP = 160  # 10 ms hop, as GCommandsPytorch (the paper's 160 x 101 inputs): 1 + 16000/160 = 101 frames
N_FFT_MEL = 512  # the 20 ms window zero-padded to 512 points: 257 bins under the mel filters
LISTS = {"val": "validation_list.txt", "test": "testing_list.txt"}
CHUNK = 2048  # clips per batch on the device
_NEVER = "mixgan never downloads"


def expected(root: Path) -> str:
    """What the folder must hold, for error messages."""
    return (f"expected {root}/<word>/*.wav (16 kHz mono), {root}/validation_list.txt and "
            f"{root}/testing_list.txt (Speech Commands v0.01 or v0.02); {_NEVER}")


def find_clips(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]]]:
    """Class names (sorted word folders) and the (path, label) clips of each split, in sorted order."""
    if not root.is_dir():
        raise DataError(f"speech_commands: no data in {root}: {expected(root)}")
    missing = [name for name in LISTS.values() if not (root / name).is_file()]
    if missing:
        raise DataError(f"speech_commands: missing {', '.join(missing)} in {root}: {expected(root)}")
    from mixgan.config.untrusted import read_text  # a list that is not UTF-8 text: one line naming it

    listed = {split: {line.strip() for line in read_text(root / name, 2**28, "speech_commands:").splitlines()
                      if line.strip()} for split, name in LISTS.items()}
    words = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name[0] not in "_.")
    splits: dict[str, list[tuple[Path, int]]] = {"train": [], "val": [], "test": []}
    seen: set[str] = set()
    for label, word in enumerate(words):
        for path in sorted((root / word).glob("*.wav")):
            rel = f"{word}/{path.name}"
            seen.add(rel)
            split = "val" if rel in listed["val"] else "test" if rel in listed["test"] else "train"
            splits[split].append((path, label))
    for split, names in listed.items():
        absent = sorted(names - seen)
        if absent:  # a list from another version, or the wrong root
            raise DataError(f"speech_commands: {LISTS[split]} names {len(absent)} clips not in {root} "
                            f"(first: {absent[0]}): {expected(root)}")
    empty = [split for split, clips in splits.items() if not clips]
    if empty:
        raise DataError(f"speech_commands: no {'/'.join(empty)} clips in {root}: {expected(root)}")
    return words, splits


def read_clip(path: Path) -> np.ndarray:
    """One WAV file as float32 samples in [-1, 1], zero-padded or cut to 1 s at 16 kHz."""
    import soundfile

    try:
        samples, rate = soundfile.read(str(path), dtype="float32")
    except (RuntimeError, OSError) as err:  # soundfile.LibsndfileError is a RuntimeError
        raise DataError(f"speech_commands: unreadable WAV {path} ({' '.join(str(err).split())})") from err
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    if rate != SAMPLE_RATE or channels != 1:
        raise DataError(f"speech_commands: {path} is {rate} Hz with {channels} channels; "
                        f"accepted: 16000 Hz mono (mixgan does not resample)")
    out = np.zeros(CLIP, dtype=np.float32)
    out[: min(CLIP, samples.shape[0])] = samples[:CLIP]
    return out


class Spectrogram:
    """(B, 16000) waveforms → (B, 1, F, 101) log spectrograms, each z-scored over its own values
    (the paper's "normalized spectrograms"), on the waveforms' device.

    n_mels > 0: log mel power, log(M·|STFT|² + 1e-6), with librosa's (Slaney) mel filterbank M;
    n_mels = 0: GCommandsPytorch's log(1 + |STFT|) of the 20 ms window, 161 linear bins.
    """

    def __init__(self, n_mels: int, device: torch.device) -> None:
        self.n_mels, self.n_fft = n_mels, (N_FFT_MEL if n_mels > 0 else WIN)
        self.window = torch.hamming_window(WIN, device=device)
        self.filters = None
        if n_mels > 0:
            import librosa.filters

            fb = librosa.filters.mel(sr=SAMPLE_RATE, n_fft=self.n_fft, n_mels=n_mels)  # (n_mels, 257)
            self.filters = torch.as_tensor(fb, device=device)

    @property
    def bins(self) -> int:
        return self.n_mels if self.n_mels > 0 else self.n_fft // 2 + 1

    def __call__(self, wave: Tensor) -> Tensor:
        mag = torch.stft(wave, self.n_fft, hop_length=HOP, win_length=WIN, window=self.window, center=True,
                         pad_mode="constant", return_complex=True).abs()  # (B, n_fft/2 + 1, 101)
        if self.filters is not None:
            feat = torch.log(self.filters @ mag.square() + 1e-6)
        else:
            feat = torch.log1p(mag)
        mean = feat.mean(dim=(1, 2), keepdim=True)
        std = feat.std(dim=(1, 2), keepdim=True)
        scale = torch.where(std > 1e-3, 1 / std, 0.0)  # a silent (constant) clip becomes zeros, not NaN
        return ((feat - mean) * scale).unsqueeze(1)


def spectrograms(paths: list[Path], front: Spectrogram, device: torch.device, threads: int = 4,
                 read: Callable[[Path], np.ndarray] = read_clip) -> Tensor:
    """Read the clips (a thread pool: libsndfile releases the GIL) and take their spectrograms on the
    device, CHUNK clips at a time, so that only one chunk of waveforms is ever in memory."""
    out = torch.empty(len(paths), 1, front.bins, 1 + CLIP // HOP, device=device)
    with ThreadPoolExecutor(max(1, threads)) as pool:
        for start in range(0, len(paths), CHUNK):
            waves = np.stack(list(pool.map(read, paths[start:start + CHUNK])))
            out[start:start + waves.shape[0]] = front(torch.from_numpy(waves).to(device))
    return out


def load_speech_commands(root: str | Path, n_mels: int, device: torch.device,
                         threads: int = 4) -> dict[str, Tensor | int | list[str]]:
    """The three splits as spectrogram tensors on `device` (x_train, y_train, x_val, ..., y_test),
    with the class names (`classes`) and their number (`num_classes`)."""
    root = Path(root).expanduser()
    words, splits = find_clips(root)
    front = Spectrogram(n_mels, device)
    out: dict[str, Tensor | int | list[str]] = {"classes": words, "num_classes": len(words)}
    for split, clips in splits.items():
        out[f"x_{split}"] = spectrograms([p for p, _ in clips], front, device, threads)
        out[f"y_{split}"] = torch.tensor([c for _, c in clips], dtype=torch.int64, device=device)
    return out
