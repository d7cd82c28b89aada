"""Synthetic spoken digits: an offline stand-in for the Spiking Heidelberg Digits (SHD).

:func:`generate_synthetic_digits` writes ``shd_train.h5`` and ``shd_test.h5`` (plus the
``.h5.zip`` archives tonic looks for) in exactly the SHD layout (see
:mod:`sgevent.data.shd_writer`), so the SHD readers and ``tonic.datasets.SHD`` read them
unchanged. Classes are as in SHD: label 0-9 = English "zero".."nine", 10-19 = German
"null".."neun", keys ``english-zero`` .. ``german-neun`` (``fuenf`` spelt in ASCII).

Pipeline for one utterance
--------------------------
1. **Speech** from the eSpeak NG library shipped by the ``espeakng-loader`` wheel, called through
   ctypes (``espeak_Initialize`` with ``AUDIO_OUTPUT_SYNCHRONOUS``, a synth callback collecting the
   16-bit samples, ``espeak_SetVoiceByName("<lang>+<variant>")``, ``espeak_SetParameter`` for rate,
   pitch and pitch range, ``espeak_ng_SetRandSeed`` for its noise sources). Output is 22,050 Hz.
   eSpeak keeps hidden state between utterances inside one process (the glottal-pulse phase and
   the pitch "flutter" index), even across ``espeak_Terminate``/``espeak_Initialize``, so the same
   call after different previous calls gives different samples. Every utterance therefore loads
   the library afresh: ``dlopen`` -> initialise -> synthesise -> terminate -> ``dlclose``, and we
   check with ``RTLD_NOLOAD`` that it really was unloaded (costs ~3 ms). If some other code in the
   process holds the wheel's library, a private copy of the ``.so`` is used instead.
2. **Speaker.** 24 fixed speakers (:data:`SPEAKERS`): an eSpeak voice variant (``m1``.. ``f5``,
   Klatt-synthesiser ``klatt*`` and named variants, all present in the wheel's ``voices/!v``), a
   pitch (0-100), a pitch range (0-100) and a rate of 100-135 words/min, slower than eSpeak's 175
   default so that words last ~0.45-0.7 s as SHD's carefully spoken digits. English alternates
   British (``en``) and American (``en-us``) rules; German uses ``de``. Speakers 20-23 use
   variants no training speaker uses and appear ONLY in the test split (like SHD's two held-out
   speakers); half of the test samples come from them, the other half from the 20 training
   speakers. Each utterance jitters the speaker's pitch by +-4, range by +-8 and rate by +-8 %
   (repetitions of one speaker are never identical).
3. **Recording.** eSpeak's own leading/trailing silence is trimmed (0.5 % of peak), the word is
   scaled to an RMS of 0.05 full scale (-26 dBFS) times a random gain of +-6 dB, placed after a
   random onset of 20-250 ms and followed by 50-200 ms of tail, and white Gaussian background
   noise at a random SNR of 20-40 dB (relative to the word's RMS) is added over the whole sample.
   Samples are capped at 1.4 s (SHD's longest samples are ~1.4 s); typical length ~0.85 s.
4. **Cochlea** (:mod:`sgevent.data.cochlea`): 700 gammatone channels ERB-spaced from 50 Hz to
   8 kHz (SHD has 700 channels; 8 kHz is just below the 11,025 Hz Nyquist frequency, and eSpeak
   produces little above it), half-wave rectification, two cascaded 1 ms one-pole smoothers,
   envelope sampled every 11 audio samples (0.499 ms, finer than float16's 0.5-1 ms time
   resolution), cube-root compression relative to ``env_ref = 0.02`` and a drive gain of 1.75.
5. **Spikes**: one noisy leaky integrate-and-fire unit per channel (``tau_m`` 5 ms, refractory
   2 ms, membrane noise sigma 0.1 threshold) driven by the compressed envelope; threshold drive is
   reached at ``env = env_ref / 1.75**3``. Quiet background noise stays below threshold, so
   silence gives almost no spikes, as in SHD.

The numbers in steps 3-5 were fixed once to resemble SHD's statistics (700 channels, ~1 s
samples, several thousand spikes per sample: here mean ~7,500, median ~6,500) before any model
saw the data; they are never to be tuned to a model's accuracy.

Determinism
-----------
Each utterance's randomness comes from ``numpy.random.SeedSequence([seed, split, 1, index])``
and the split plan (labels, speakers) from ``[seed, split, 0, 0]``; eSpeak is reloaded for every
utterance. The files are therefore byte-identical for a seed whatever the number of worker
processes (``multiprocessing`` "spawn" context).
"""

from __future__ import annotations

import _ctypes
import atexit
import ctypes
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.errors import ConfigError, DataError

from . import cochlea
from .shd_writer import write_shd_h5, write_tonic_zip

__all__ = [
    "Speaker",
    "SPEAKERS",
    "CLASS_KEYS",
    "WORDS",
    "FS_ESPEAK",
    "check_voice_variants",
    "synthesize_word",
    "render_utterance",
    "generate_synthetic_digits",
]

# --------------------------------------------------------------------------- classes and speakers
WORDS: tuple[str, ...] = (
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    "null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
)  # fmt: skip
"""Text spoken for label 0..19 (0-9 English, 10-19 German)."""

CLASS_KEYS: tuple[str, ...] = tuple(
    ("english-" if i < 10 else "german-") + w.replace("ü", "ue") for i, w in enumerate(WORDS)
)
"""``extra/keys`` of the files: ``english-zero`` .. ``german-neun``."""


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
        eSpeak English voice, ``"en"`` (British) or ``"en-us"``.
    test_only : bool
        True for the held-out speakers that appear only in the test split.
    """

    variant: str
    pitch: int
    pitch_range: int
    rate_wpm: int
    english: str
    test_only: bool = False


SPEAKERS: tuple[Speaker, ...] = (
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
"""The 24 speakers; index = ``extra/speaker`` id. 20-23 are held out (test only)."""

_SPLIT_CODE = {"train": 0, "test": 1}

# Recording and front-end parameters (see the module docstring for the reasons).
FS_ESPEAK = 22050
_TRIM_FRACTION = 0.005
_LEVEL_RMS = 0.05
_GAIN_DB = 6.0
_ONSET_S = (0.02, 0.25)
_TAIL_S = (0.05, 0.20)
_SNR_DB = (20.0, 40.0)
_MAX_DURATION_S = 1.4
_JITTER_PITCH, _JITTER_RANGE, _JITTER_RATE = 4, 8, 0.08
_N_CHANNELS, _F_LO, _F_HI = 700, 50.0, 8000.0
_TAU_SMOOTH, _DECIM = 1e-3, 11
_ENV_REF, _EXPONENT, _DRIVE_GAIN = 0.02, 1.0 / 3.0, 1.75
_TAU_M, _T_REF, _SIGMA = 5e-3, 2e-3, 0.1

# --------------------------------------------------------------------------- eSpeak NG via ctypes
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4
_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_lib_state: dict[str, Any] = {}  # per process: chosen library path, data path, private copy dir


def _espeak_paths() -> tuple[str, str]:
    """Library and data paths of the espeakng-loader wheel (checked once per process)."""
    if "lib" not in _lib_state:
        try:
            import espeakng_loader
        except ImportError as exc:
            raise DataError(
                "synthetic digits need eSpeak NG from the 'espeakng-loader' package: "
                "pip install espeakng-loader (or the project's [data] extra)"
            ) from exc
        lib, data = espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
        if not os.path.isfile(lib):
            raise DataError(f"{lib}: eSpeak NG library of espeakng-loader not found")
        if _is_loaded(lib):
            # Someone in this process holds the wheel's library open: we could not reset it
            # between utterances. Use a private copy, which is a separate library instance.
            lib = _private_copy(lib)
        _lib_state["lib"], _lib_state["data"] = lib, data
    return _lib_state["lib"], _lib_state["data"]


def _is_loaded(path: str) -> bool:
    try:
        probe = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LOCAL)
    except OSError:
        return False
    _ctypes.dlclose(probe._handle)
    return True


def _private_copy(path: str) -> str:
    tmp = tempfile.mkdtemp(prefix="sgevent-espeak-")
    dst = os.path.join(tmp, "libespeak-ng-sgevent.so")
    shutil.copyfile(path, dst)
    _lib_state["copy_dir"] = tmp
    atexit.register(shutil.rmtree, tmp, True)
    return dst


def check_voice_variants(speakers: tuple[Speaker, ...] = SPEAKERS) -> None:
    """Raise :class:`~sgevent.errors.DataError` unless every speaker's variant file exists."""
    _, data = _espeak_paths()
    missing = [s.variant for s in speakers if not os.path.isfile(os.path.join(data, "voices", "!v", s.variant))]
    if missing:
        raise DataError(f"{data}/voices/!v: eSpeak voice variants {missing} are missing from espeakng-loader")


def synthesize_word(
    text: str, voice: str, *, rate_wpm: int, pitch: int, pitch_range: int, espeak_seed: int
) -> np.ndarray:
    """Speak ``text`` with eSpeak NG in a freshly loaded library instance.

    Parameters
    ----------
    text : str
        UTF-8 text, e.g. ``"fünf"``.
    voice : str
        eSpeak voice name with variant, e.g. ``"en+m3"`` or ``"de+f2"``.
    rate_wpm : int
        Rate in words per minute, 80-450.
    pitch, pitch_range : int
        Base pitch and pitch range, 0-100.
    espeak_seed : int
        Seed of eSpeak's internal random numbers (breath / fricative noise).

    Returns
    -------
    ndarray of int16, shape (n_samples,)
        Samples at :data:`FS_ESPEAK` Hz. The result depends only on the arguments, never on
        earlier calls: the library is unloaded after each call (verified).

    Raises
    ------
    DataError
        If eSpeak cannot be initialised, the voice does not exist or synthesis fails.
    """
    if not (80 <= rate_wpm <= 450 and 0 <= pitch <= 100 and 0 <= pitch_range <= 100):
        raise ConfigError(
            f"synthesize_word: need rate 80-450 wpm and pitch/range 0-100, got rate={rate_wpm}, "
            f"pitch={pitch}, range={pitch_range}"
        )
    lib_path, data_path = _espeak_paths()
    # eSpeak silently ignores an unknown "+variant" (it only fails on an unknown language).
    variant = voice.partition("+")[2]
    if variant and not os.path.isfile(os.path.join(data_path, "voices", "!v", variant)):
        raise DataError(f"{data_path}/voices/!v: eSpeak voice variant {variant!r} of voice {voice!r} not found")
    chunks: list[bytes] = []

    def collect(wav, n, _events):
        if n > 0:
            chunks.append(ctypes.string_at(wav, 2 * n))
        return 0

    callback = _SYNTH_CALLBACK(collect)
    lib = ctypes.CDLL(lib_path, mode=os.RTLD_LOCAL)
    try:
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                     ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip
        fs = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
        if fs != FS_ESPEAK:
            raise DataError(f"{lib_path}: espeak_Initialize returned {fs}; expected sample rate {FS_ESPEAK} Hz")
        try:
            lib.espeak_SetSynthCallback(callback)
            lib.espeak_ng_SetRandSeed(int(espeak_seed))
            if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                raise DataError(f"{data_path}: eSpeak voice {voice!r} not found")
            for param, value in ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch),
                                 (_PARAM_RANGE, pitch_range), (_PARAM_VOLUME, 100)):  # fmt: skip
                if lib.espeak_SetParameter(param, int(value), 0) != 0:
                    raise DataError(f"eSpeak rejected parameter {param} = {value} for voice {voice!r}")
            raw = text.encode("utf-8") + b"\0"
            err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            if err != 0 or lib.espeak_Synchronize() != 0:
                raise DataError(f"eSpeak failed (error {err}) to speak {text!r} with voice {voice!r}")
        finally:
            lib.espeak_Terminate()
    finally:
        _ctypes.dlclose(lib._handle)
    if _is_loaded(lib_path):
        raise DataError(
            f"{lib_path}: eSpeak NG stayed loaded after dlclose, so the next utterance would "
            "depend on this one (eSpeak keeps hidden state); another module holds the library"
        )
    return np.frombuffer(b"".join(chunks), dtype=np.int16).copy()


# --------------------------------------------------------------------------- one utterance
def _bank() -> cochlea.GammatoneBank:
    if "bank" not in _lib_state:
        _lib_state["bank"] = cochlea.make_filterbank(FS_ESPEAK, _F_LO, _F_HI, _N_CHANNELS)
    return _lib_state["bank"]


def _utterance_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SPLIT_CODE[split], 1, index])))


def render_utterance(
    seed: int, split: str, index: int, label: int, speaker_id: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Synthesise one sample: speech -> recording -> cochlea -> spikes.

    Parameters
    ----------
    seed : int
        Dataset seed.
    split : {"train", "test"}
        Split the sample belongs to (part of its random stream).
    index : int
        Sample index within the split (part of its random stream).
    label : int
        Class 0..19 (:data:`WORDS`).
    speaker_id : int
        Index into :data:`SPEAKERS`.

    Returns
    -------
    times : ndarray of float64, shape (n_spikes,)
        Spike times in seconds, sorted.
    units : ndarray of uint16, shape (n_spikes,)
        Channels 0..699.
    duration : float
        Length of the recording in seconds.
    """
    if split not in _SPLIT_CODE or not (0 <= label < len(WORDS)) or not (0 <= speaker_id < len(SPEAKERS)):
        raise ConfigError(
            f"render_utterance: need split in {sorted(_SPLIT_CODE)}, label in 0..{len(WORDS) - 1} "
            f"and speaker_id in 0..{len(SPEAKERS) - 1}; got {split!r}, {label}, {speaker_id}"
        )
    rng = _utterance_rng(seed, split, index)
    spk = SPEAKERS[speaker_id]
    lang = spk.english if label < 10 else "de"
    audio = synthesize_word(
        WORDS[label],
        f"{lang}+{spk.variant}",
        rate_wpm=int(np.clip(round(spk.rate_wpm * (1 + rng.uniform(-_JITTER_RATE, _JITTER_RATE))), 80, 450)),
        pitch=int(np.clip(spk.pitch + rng.integers(-_JITTER_PITCH, _JITTER_PITCH + 1), 0, 100)),
        pitch_range=int(np.clip(spk.pitch_range + rng.integers(-_JITTER_RANGE, _JITTER_RANGE + 1), 0, 100)),
        espeak_seed=int(rng.integers(1, 2**31 - 1)),
    ).astype(np.float64) / 32768.0
    loud = np.flatnonzero(np.abs(audio) >= _TRIM_FRACTION * np.abs(audio).max()) if audio.size else audio
    if loud.size < 2:
        raise DataError(f"{split} sample {index}: eSpeak produced no audible audio for {WORDS[label]!r}")
    word = audio[loud[0] : loud[-1] + 1]
    level = _LEVEL_RMS * 10.0 ** (rng.uniform(-_GAIN_DB, _GAIN_DB) / 20.0)
    word *= level / np.sqrt(np.mean(word**2))
    onset = int(round(rng.uniform(*_ONSET_S) * FS_ESPEAK))
    tail = int(round(rng.uniform(*_TAIL_S) * FS_ESPEAK))
    n = min(onset + word.size + tail, int(_MAX_DURATION_S * FS_ESPEAK))
    x = np.zeros(n)
    x[onset : onset + word.size] = word[: max(0, n - onset)]
    x += rng.standard_normal(n) * (level * 10.0 ** (-rng.uniform(*_SNR_DB) / 20.0))
    env = cochlea.filterbank_envelope(x, _bank(), tau_smooth=_TAU_SMOOTH, decim=_DECIM)
    drive = _DRIVE_GAIN * cochlea.compress(env, _ENV_REF, _EXPONENT)
    times, units = cochlea.lif_spikes(drive, _DECIM / FS_ESPEAK, rng, tau_m=_TAU_M, t_ref=_T_REF, sigma=_SIGMA)
    return times, units, n / FS_ESPEAK


def _render_job(job: tuple[int, str, int, int, int]) -> tuple[np.ndarray, np.ndarray, float]:
    times, units, duration = render_utterance(*job)
    return times.astype(np.float16), units, duration


# --------------------------------------------------------------------------- the dataset
def _plan(seed: int, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels and speakers of one split (test: half held-out speakers)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SPLIT_CODE[split], 0, 0])))
    labels = rng.permutation(np.arange(n) % len(WORDS))
    seen = np.array([i for i, s in enumerate(SPEAKERS) if not s.test_only])
    held = np.array([i for i, s in enumerate(SPEAKERS) if s.test_only])
    if split == "train":
        speakers = seen[np.arange(n) % seen.size]
    else:
        n_held = (n + 1) // 2
        speakers = np.concatenate([held[np.arange(n_held) % held.size], seen[np.arange(n - n_held) % seen.size]])
    return labels, rng.permutation(speakers)


def _split_stats(counts: np.ndarray, durations: np.ndarray, labels: np.ndarray, speakers: np.ndarray) -> dict:
    return {
        "n_samples": int(counts.size),
        "spikes_mean": float(counts.mean()),
        "spikes_median": float(np.median(counts)),
        "spikes_min": int(counts.min()),
        "spikes_max": int(counts.max()),
        "duration_mean_s": float(durations.mean()),
        "duration_median_s": float(np.median(durations)),
        "duration_min_s": float(durations.min()),
        "duration_max_s": float(durations.max()),
        "classes": sorted(int(v) for v in np.unique(labels)),
        "speakers": sorted(int(v) for v in np.unique(speakers)),
    }


def generate_synthetic_digits(
    out_dir: str | os.PathLike[str],
    n_train: int = 2000,
    n_test: int = 500,
    seed: int = 0,
    n_workers: int | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Generate the synthetic spoken-digits dataset in the SHD file layout.

    Parameters
    ----------
    out_dir : str or path-like
        Folder for ``shd_train.h5``, ``shd_test.h5`` and their ``.h5.zip`` archives (created).
        For tonic, use ``<root>/SHD`` and pass ``save_to=<root>``.
    n_train, n_test : int
        Number of samples per split, >= 1.
    seed : int
        Seed (>= 0); equal seeds give byte-identical files.
    n_workers : int, optional
        Worker processes (spawn context); default ``os.cpu_count()``. 1 runs in this process.
        The result does not depend on it.
    progress : bool
        Show a progress bar and print the per-split spike-count summary.

    Returns
    -------
    dict
        ``{"train": stats, "test": stats, "files": [...], "wall_time_s": float, "seed": int,
        "n_workers": int, "held_out_speakers": [...]}`` where ``stats`` holds ``n_samples``,
        spikes per sample ``spikes_mean/median/min/max``, ``duration_mean/median/min/max_s``,
        the ``classes`` and ``speakers`` present.
    """
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ConfigError(f"generate_synthetic_digits: {name} must be an integer >= 1, got {v!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"generate_synthetic_digits: seed must be an integer >= 0, got {seed!r}")
    if n_workers is None:
        n_workers = os.cpu_count() or 1
    if isinstance(n_workers, bool) or int(n_workers) != n_workers or n_workers < 1:
        raise ConfigError(f"generate_synthetic_digits: n_workers must be an integer >= 1, got {n_workers!r}")
    seed, n_workers = int(seed), int(min(n_workers, n_train + n_test))
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    check_voice_variants()
    t0 = time.perf_counter()
    plans = {s: _plan(seed, s, int(n)) for s, n in (("train", n_train), ("test", n_test))}
    jobs = [(seed, s, i, int(lab), int(spk)) for s, (labels, speakers) in plans.items()
            for i, (lab, spk) in enumerate(zip(labels, speakers))]  # fmt: skip
    results: list[tuple[np.ndarray, np.ndarray, float]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="synth digits", unit="utt")
    if n_workers == 1:
        for job in jobs:
            results.append(_render_job(job))
            if bar is not None:
                bar.update(1)
    else:
        # Compile (or load from cache) the kernels once here, so workers never race to write
        # the numba cache.
        _render_job((seed, "train", 0, 0, 0))
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(n_workers) as pool:
            for r in pool.imap(_render_job, jobs, chunksize=4):
                results.append(r)
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()

    stats: dict[str, Any] = {"seed": seed, "n_workers": n_workers, "files": []}
    start = 0
    for split, (labels, speakers) in plans.items():
        part = results[start : start + labels.size]
        start += labels.size
        path = out / f"shd_{split}.h5"
        write_shd_h5(
            path, [r[0] for r in part], [r[1] for r in part], labels, speakers, CLASS_KEYS,
            n_channels=_N_CHANNELS,
            meta_info={
                "voice": np.array([s.variant for s in SPEAKERS]),
                "pitch": np.array([s.pitch for s in SPEAKERS], dtype=np.uint8),
                "pitch_range": np.array([s.pitch_range for s in SPEAKERS], dtype=np.uint8),
                "rate_wpm": np.array([s.rate_wpm for s in SPEAKERS], dtype=np.uint16),
                "test_only": np.array([s.test_only for s in SPEAKERS], dtype=np.uint8),
            },
            attrs={"generator": "sgevent.data.synth", "seed": seed, "split": split},
        )  # fmt: skip
        stats["files"] += [str(path), str(write_tonic_zip(path))]
        counts = np.array([r[0].size for r in part])
        stats[split] = _split_stats(counts, np.array([r[2] for r in part]), labels, speakers)
        if progress:
            s = stats[split]
            print(
                f"{split}: {s['n_samples']} samples, spikes/sample mean {s['spikes_mean']:.0f} "
                f"median {s['spikes_median']:.0f} max {s['spikes_max']}, duration mean "
                f"{s['duration_mean_s']:.2f} s max {s['duration_max_s']:.2f} s"
            )
    stats["held_out_speakers"] = [i for i, s in enumerate(SPEAKERS) if s.test_only]
    stats["wall_time_s"] = time.perf_counter() - t0
    return stats
