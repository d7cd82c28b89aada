"""Speakers and recording conditions of the synthetic spoken digits, as named presets.

A preset fixes everything random about *who* speaks and *how* it is recorded; the pipeline itself
(eSpeak NG -> recording -> cochlea -> spikes) is :mod:`sgevent.data.synth`. Two presets:

``hard`` (the default of ``sgevent data synth-digits`` and so of the offline ``make run-shd``)
    Made so that a linear classifier on binned spike counts does not saturate it and models are
    told apart by how well they generalise to new speakers. Its parameters were fixed once, from
    the spread of real speech and recordings, before any model was trained on it; they are never
    to be tuned to a model's accuracy.

    - **48 speakers** (:data:`HARD_SPEAKERS`, drawn once from ``SeedSequence(20261201)`` by
      :func:`_draw_speakers`), each a distinct eSpeak voice variant of :data:`_HUMAN_VARIANTS`
      (human-sounding variants only: no robots, whispers or effects), an English accent of
      :data:`_ACCENTS` (British RP and regional, Scottish, American, New York, Caribbean; German
      is ``de`` for all), base pitch uniform in 10-90 and pitch range in 15-95 (eSpeak's 0-100
      scales, default 50), a rate uniform in 95-170 words/min, and a vocal-tract-length warp
      uniform in 0.86-1.16 (formant and pitch scale, :func:`sgevent.data.noise.vtl_warp`; human
      vocal tracts span about 13-18 cm).
    - **10 held-out speakers** (the last 10) appear only in the test split, and half of the test
      samples come from them (the issue asks for at least 20 %).
    - Per utterance: pitch jitter +-6, range +-10, rate +-12 %; level +-10 dB around -26 dBFS;
      onset 20-400 ms and tail 50-250 ms of background; background noise of one of five kinds
      (white, pink, brown, babble-like, mains hum; :mod:`sgevent.data.noise`), chosen uniformly,
      at an SNR uniform in 10-40 dB relative to the word's RMS.

``easy`` (``--preset easy``; the stand-in of sgevent 0.1, kept byte-identical for the tests)
    24 speakers (:data:`EASY_SPEAKERS`; 4 held out, half of the test samples), white noise at
    20-40 dB SNR, level +-6 dB, onset 20-250 ms, tail 50-200 ms, jitter +-4 / +-8 / +-8 %.
    A logistic regression on binned counts reaches 95 % on it, which is why it is no longer the
    default.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sgevent.errors import ConfigError

from .noise import NOISE_KINDS

__all__ = ["Speaker", "Preset", "EASY_SPEAKERS", "HARD_SPEAKERS", "PRESETS", "DEFAULT_PRESET", "get_preset"]


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker.

    Attributes
    ----------
    variant : str
        eSpeak voice variant (file in ``espeak-ng-data/voices/!v``).
    pitch, pitch_range : int
        eSpeak base pitch and pitch range, 0-100 (eSpeak default 50).
    rate_wpm : int
        Speaking rate in words per minute (eSpeak range 80-450).
    english : str
        eSpeak English voice, e.g. ``"en"`` (British) or ``"en-us"``.
    test_only : bool
        True for the held-out speakers that appear only in the test split.
    vtl_warp : float
        Frequency scale of the vocal tract (1 = eSpeak's own voice).
    """

    variant: str
    pitch: int
    pitch_range: int
    rate_wpm: int
    english: str
    test_only: bool = False
    vtl_warp: float = 1.0


EASY_SPEAKERS: tuple[Speaker, ...] = (
    Speaker("m1", 40, 50, 115, "en"), Speaker("f1", 55, 60, 120, "en-us"),
    Speaker("m2", 35, 40, 110, "en"), Speaker("f2", 50, 70, 125, "en-us"),
    Speaker("m3", 45, 55, 105, "en"), Speaker("f3", 60, 45, 130, "en-us"),
    Speaker("m4", 38, 65, 120, "en"), Speaker("f4", 52, 50, 100, "en-us"),
    Speaker("m5", 42, 35, 135, "en"), Speaker("steph", 48, 60, 115, "en-us"),
    Speaker("m6", 33, 50, 125, "en"), Speaker("linda", 55, 55, 110, "en-us"),
    Speaker("klatt", 45, 60, 120, "en"), Speaker("belinda", 58, 65, 118, "en-us"),
    Speaker("klatt3", 40, 45, 108, "en"), Speaker("aunty", 50, 40, 112, "en-us"),
    Speaker("edward", 36, 55, 128, "en"), Speaker("robert", 44, 70, 102, "en-us"),
    Speaker("klatt4", 50, 50, 122, "en"), Speaker("grandpa", 30, 45, 100, "en-us"),
    Speaker("m7", 42, 55, 118, "en", True), Speaker("f5", 54, 60, 112, "en-us", True),
    Speaker("klatt2", 46, 50, 126, "en", True), Speaker("quincy", 38, 65, 106, "en-us", True),
)  # fmt: skip
"""The 24 speakers of the ``easy`` preset; index = ``extra/speaker`` id. 20-23 are held out."""

_HUMAN_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "klatt5", "klatt6", "steph", "steph2", "steph3",
    "linda", "belinda", "aunty", "edward", "edward2", "robert", "quincy", "grandpa", "grandma",
    "Alex", "Alicia", "Andrea", "Andy", "Annie", "Denis", "Gene", "Henrique", "Hugo", "Jacky",
    "Lee", "Marco", "Michael", "Mike", "Reed", "adam", "anika", "antonio", "benjamin", "boris",
    "caleb", "david", "ed", "gustave", "ian", "iven", "john", "max", "michel", "norbert", "pablo",
    "paul", "pedro", "rob", "sandro", "shelby", "travis", "victor", "zac",
)  # fmt: skip
"""eSpeak variants that sound like people (the wheel ships 104 variants; robots, whispers,
croaks and effects are left out)."""

_ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-us-nyc", "en-029", "en-gb-x-gbclan", "en-gb-x-gbcwmd",
)  # fmt: skip
"""English voices (eSpeak language names) the ``hard`` speakers are spread over."""

_HARD_SEED = 20261201
_N_HARD, _N_HARD_HELD = 48, 10


def _draw_speakers() -> tuple[Speaker, ...]:
    """The ``hard`` speakers, drawn once from a fixed seed (see the module docstring)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(_HARD_SEED)))
    variants = rng.choice(np.array(_HUMAN_VARIANTS), size=_N_HARD, replace=False)
    out = []
    for i, variant in enumerate(variants):
        out.append(
            Speaker(
                variant=str(variant),
                pitch=int(rng.integers(10, 91)),
                pitch_range=int(rng.integers(15, 96)),
                rate_wpm=int(rng.integers(95, 171)),
                english=_ACCENTS[int(rng.integers(len(_ACCENTS)))],
                test_only=i >= _N_HARD - _N_HARD_HELD,
                vtl_warp=round(float(rng.uniform(0.86, 1.16)), 3),
            )
        )
    return tuple(out)


HARD_SPEAKERS: tuple[Speaker, ...] = _draw_speakers()
"""The 48 speakers of the ``hard`` preset; index = ``extra/speaker`` id. 38-47 are held out."""


@dataclass(frozen=True)
class Preset:
    """Speakers and recording conditions of one synthetic data set (see the module docstring).

    Attributes
    ----------
    name : str
    speakers : tuple of Speaker
    jitter_pitch, jitter_range : int
        Per-utterance jitter of pitch and pitch range (+- eSpeak units).
    jitter_rate : float
        Per-utterance relative jitter of the rate.
    gain_db : float
        Per-utterance level change, uniform in +-``gain_db`` dB.
    onset_s, tail_s : (float, float)
        Background before and after the word, uniform in the range (s).
    snr_db : (float, float)
        Background SNR relative to the word's RMS, uniform in the range (dB).
    noise_kinds : tuple of str
        Kinds of background noise (:data:`sgevent.data.noise.NOISE_KINDS`), one chosen uniformly
        per utterance. ``("white",)`` draws no choice (so ``easy`` stays byte-identical).
    held_out_fraction : float
        Fraction of the test samples spoken by the held-out speakers.
    """

    name: str
    speakers: tuple[Speaker, ...]
    jitter_pitch: int
    jitter_range: int
    jitter_rate: float
    gain_db: float
    onset_s: tuple[float, float]
    tail_s: tuple[float, float]
    snr_db: tuple[float, float]
    noise_kinds: tuple[str, ...]
    held_out_fraction: float = 0.5

    def __post_init__(self):
        bad = [k for k in self.noise_kinds if k not in NOISE_KINDS]
        if bad or not self.noise_kinds:
            raise ConfigError(f"preset {self.name!r}: noise_kinds must be among {list(NOISE_KINDS)}, got {bad}")
        held = sum(s.test_only for s in self.speakers)
        if held == 0 or held == len(self.speakers):
            raise ConfigError(f"preset {self.name!r}: need both held-out and training speakers")

    @property
    def held_out(self) -> list[int]:
        """Speaker ids that appear only in the test split."""
        return [i for i, s in enumerate(self.speakers) if s.test_only]


PRESETS: dict[str, Preset] = {
    "easy": Preset("easy", EASY_SPEAKERS, 4, 8, 0.08, 6.0, (0.02, 0.25), (0.05, 0.20), (20.0, 40.0), ("white",)),
    "hard": Preset("hard", HARD_SPEAKERS, 6, 10, 0.12, 10.0, (0.02, 0.40), (0.05, 0.25), (10.0, 40.0), NOISE_KINDS),
}
DEFAULT_PRESET = "hard"


def get_preset(name: str) -> Preset:
    """The preset called ``name`` (:data:`PRESETS`), or a ConfigError listing the names."""
    if name not in PRESETS:
        raise ConfigError(f"synthetic digits: unknown preset {name!r}; expected one of {sorted(PRESETS)}")
    return PRESETS[name]
