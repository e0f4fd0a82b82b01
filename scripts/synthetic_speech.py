"""A small folder in the Speech Commands layout, of synthetic signals (not speech): a smoke check of
the speech path without the real data set. Each word is one kind of signal: "down" a 500 Hz tone,
"go" a chirp from 300 Hz to 3.3 kHz, "yes" a short 2.5 kHz tone, with noise and random lengths of
0.75–1.25 s (so clips are padded and cut); one clip in 4 is listed for validation, one in 4 for test.

    python scripts/synthetic_speech.py OUT [--per-word N]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

SAMPLE_RATE = 16_000
WORDS = ("down", "go", "yes")


def signal(word: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n samples of word `word`'s signal, with a little white noise."""
    t = np.arange(n) / SAMPLE_RATE
    if word == 0:
        s = np.sin(2 * np.pi * 500 * t + rng.uniform(0, 2 * np.pi))
    elif word == 1:
        s = np.sin(2 * np.pi * (300 * t + 1500 * t * t))  # instantaneous frequency 300 + 3000 t Hz
    else:
        s = np.sin(2 * np.pi * 2500 * t) * (t < 0.4)
    return (0.5 * s + 0.02 * rng.standard_normal(n)).astype(np.float32)


def make_speech_folder(root: Path, per_word: int = 12, seed: int = 0) -> Path:
    """root/<word>/<id>_nohash_0.wav (16-bit PCM), root/_background_noise_/white.wav (not a class),
    validation_list.txt and testing_list.txt. Returns root."""
    import soundfile

    rng = np.random.default_rng(seed)
    lists: dict[str, list[str]] = {"validation_list.txt": [], "testing_list.txt": []}
    for k, word in enumerate(WORDS):
        (root / word).mkdir(parents=True)
        for i in range(per_word):
            name = f"{k:02d}{i:06x}_nohash_0.wav"
            n = int(rng.integers(12_000, 20_000))
            soundfile.write(root / word / name, signal(k, n, rng), SAMPLE_RATE, subtype="PCM_16")
            if i % 4 in (1, 2):
                lists["validation_list.txt" if i % 4 == 1 else "testing_list.txt"].append(f"{word}/{name}")
    (root / "_background_noise_").mkdir()
    soundfile.write(root / "_background_noise_" / "white.wav", rng.standard_normal(32_000) * 0.1, SAMPLE_RATE)
    for name, clips in lists.items():
        (root / name).write_text("\n".join(clips) + "\n")
    return root


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="folder to create (must not exist)")
    p.add_argument("--per-word", type=int, default=40, help="clips per word (default 40)")
    args = p.parse_args(argv)
    if args.out.exists() or args.per_word < 4:
        p.error(f"{args.out} exists" if args.out.exists() else "--per-word: accepted: an integer >= 4")
    make_speech_folder(args.out, args.per_word)
    print(f"wrote {len(WORDS) * args.per_word} clips to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
