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
2. **Speaker** (:mod:`sgevent.data.presets`): an eSpeak voice variant, an English accent, a
   pitch, a pitch range, a rate and a vocal-tract-length warp (the waveform resampled so that
   every frequency scales, :func:`sgevent.data.noise.vtl_warp`). Rates are slower than eSpeak's
   175 words/min default so that words last ~0.45-0.7 s as SHD's carefully spoken digits.
   German uses ``de``. Some speakers appear ONLY in the test split (like SHD's two held-out
   speakers). Each utterance jitters the speaker's pitch, range and rate (repetitions of one
   speaker are never identical). The default preset ``hard`` has 48 speakers (10 held out,
   half of the test samples); ``easy`` is sgevent 0.1's 24 (4 held out).
3. **Recording.** eSpeak's own leading/trailing silence is trimmed (0.5 % of peak), the word is
   scaled to an RMS of 0.05 full scale (-26 dBFS) times a random gain (``hard``: +-10 dB),
   placed after a random onset (``hard``: 20-400 ms) and followed by a tail of background
   (50-250 ms), and background noise of one of the preset's kinds (``hard``: white, pink,
   brown, babble-like, mains hum; :mod:`sgevent.data.noise`) at a random SNR (``hard``:
   10-40 dB, relative to the word's RMS) is added over the whole sample. Samples are capped at
   1.4 s (SHD's longest samples are ~1.4 s); typical length ~0.85 s.
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
samples, several thousand spikes per sample: ``hard``, seed 0, 2,000 + 500 samples: mean 6,986,
median 5,617) before any model saw the data, and the ``hard`` preset's spread likewise (see
:mod:`sgevent.data.presets`); they are never to be tuned to a model's accuracy. Measured once
on ``hard`` (seed 0, 2,000 + 500): the logistic baseline on binned counts (``sgevent baseline``)
reaches 61.8 % on the test split (91.1 % on train), against 95.0 % on ``easy``.

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
from pathlib import Path
from typing import Any

import numpy as np

from sgevent.errors import ConfigError, DataError

from . import cochlea
from .noise import make_noise, vtl_warp
from .presets import DEFAULT_PRESET, EASY_SPEAKERS, Preset, Speaker, get_preset
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


SPEAKERS: tuple[Speaker, ...] = EASY_SPEAKERS
"""The 24 speakers of the ``easy`` preset (:data:`sgevent.data.presets.EASY_SPEAKERS`)."""

_SPLIT_CODE = {"train": 0, "test": 1}

# Recording and front-end parameters (see the module docstring for the reasons).
FS_ESPEAK = 22050
_TRIM_FRACTION = 0.005
_LEVEL_RMS = 0.05
_MAX_DURATION_S = 1.4
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
        _declare_argtypes(lib)
        fs = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path.encode(), _INITIALIZE_DONT_EXIT)
        if fs != FS_ESPEAK:
            raise DataError(f"{lib_path}: espeak_Initialize returned {fs}; expected sample rate {FS_ESPEAK} Hz")
        try:
            _speak(lib, callback, text, voice, data_path, espeak_seed,
                   ((_PARAM_RATE, rate_wpm), (_PARAM_PITCH, pitch), (_PARAM_RANGE, pitch_range), (_PARAM_VOLUME, 100)))
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


def _declare_argtypes(lib: ctypes.CDLL) -> None:
    """Argument types of the eSpeak NG functions :func:`synthesize_word` calls."""
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CALLBACK]
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                 ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]  # fmt: skip


def _speak(lib: ctypes.CDLL, callback, text: str, voice: str, data_path: str, espeak_seed: int,
           params: tuple[tuple[int, int], ...]) -> None:
    """Speak ``text`` with an initialised library: the callback receives the samples."""
    lib.espeak_SetSynthCallback(callback)
    lib.espeak_ng_SetRandSeed(int(espeak_seed))
    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise DataError(f"{data_path}: eSpeak voice {voice!r} not found")
    for param, value in params:
        if lib.espeak_SetParameter(param, int(value), 0) != 0:
            raise DataError(f"eSpeak rejected parameter {param} = {value} for voice {voice!r}")
    raw = text.encode("utf-8") + b"\0"
    err = lib.espeak_Synth(raw, len(raw), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
    if err != 0 or lib.espeak_Synchronize() != 0:
        raise DataError(f"eSpeak failed (error {err}) to speak {text!r} with voice {voice!r}")


# --------------------------------------------------------------------------- one utterance
def _bank() -> cochlea.GammatoneBank:
    if "bank" not in _lib_state:
        _lib_state["bank"] = cochlea.make_filterbank(FS_ESPEAK, _F_LO, _F_HI, _N_CHANNELS)
    return _lib_state["bank"]


def _utterance_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SPLIT_CODE[split], 1, index])))


def render_utterance(
    seed: int, split: str, index: int, label: int, speaker_id: int, preset: str = DEFAULT_PRESET
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
        Index into the preset's speakers.
    preset : str
        Name of the preset (:data:`sgevent.data.presets.PRESETS`): speakers and recording conditions.

    Returns
    -------
    times : ndarray of float64, shape (n_spikes,)
        Spike times in seconds, sorted.
    units : ndarray of uint16, shape (n_spikes,)
        Channels 0..699.
    duration : float
        Length of the recording in seconds.
    """
    cfg = get_preset(preset)
    if split not in _SPLIT_CODE or not (0 <= label < len(WORDS)) or not (0 <= speaker_id < len(cfg.speakers)):
        raise ConfigError(
            f"render_utterance: need split in {sorted(_SPLIT_CODE)}, label in 0..{len(WORDS) - 1} "
            f"and speaker_id in 0..{len(cfg.speakers) - 1}; got {split!r}, {label}, {speaker_id}"
        )
    rng = _utterance_rng(seed, split, index)
    word = _spoken_word(cfg, cfg.speakers[speaker_id], label, rng)
    if word.size < 2:
        raise DataError(f"{split} sample {index}: eSpeak produced no audible audio for {WORDS[label]!r}")
    x = _record(cfg, word, rng)
    env = cochlea.filterbank_envelope(x, _bank(), tau_smooth=_TAU_SMOOTH, decim=_DECIM)
    drive = _DRIVE_GAIN * cochlea.compress(env, _ENV_REF, _EXPONENT)
    times, units = cochlea.lif_spikes(drive, _DECIM / FS_ESPEAK, rng, tau_m=_TAU_M, t_ref=_T_REF, sigma=_SIGMA)
    return times, units, x.size / FS_ESPEAK


def _spoken_word(cfg: Preset, spk: Speaker, label: int, rng: np.random.Generator) -> np.ndarray:
    """The word as the speaker says it (jittered), warped and trimmed; float64 full scale 1."""
    lang = spk.english if label < 10 else "de"
    audio = synthesize_word(
        WORDS[label],
        f"{lang}+{spk.variant}",
        rate_wpm=int(np.clip(round(spk.rate_wpm * (1 + rng.uniform(-cfg.jitter_rate, cfg.jitter_rate))), 80, 450)),
        pitch=int(np.clip(spk.pitch + rng.integers(-cfg.jitter_pitch, cfg.jitter_pitch + 1), 0, 100)),
        pitch_range=int(np.clip(spk.pitch_range + rng.integers(-cfg.jitter_range, cfg.jitter_range + 1), 0, 100)),
        espeak_seed=int(rng.integers(1, 2**31 - 1)),
    ).astype(np.float64) / 32768.0
    if spk.vtl_warp != 1.0:
        audio = vtl_warp(audio, spk.vtl_warp)
    loud = np.flatnonzero(np.abs(audio) >= _TRIM_FRACTION * np.abs(audio).max()) if audio.size else audio
    return audio[loud[0] : loud[-1] + 1] if loud.size >= 2 else audio[:0]


def _record(cfg: Preset, word: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Level, onset and tail of background, and background noise at the preset's SNR."""
    level = _LEVEL_RMS * 10.0 ** (rng.uniform(-cfg.gain_db, cfg.gain_db) / 20.0)
    word = word * (level / np.sqrt(np.mean(word**2)))
    onset = int(round(rng.uniform(*cfg.onset_s) * FS_ESPEAK))
    tail = int(round(rng.uniform(*cfg.tail_s) * FS_ESPEAK))
    n = min(onset + word.size + tail, int(_MAX_DURATION_S * FS_ESPEAK))
    x = np.zeros(n)
    x[onset : onset + word.size] = word[: max(0, n - onset)]
    kinds = cfg.noise_kinds
    kind = kinds[0] if len(kinds) == 1 else kinds[int(rng.integers(len(kinds)))]
    noise = make_noise(kind, n, FS_ESPEAK, rng)  # drawn before the SNR, as sgevent 0.1 did
    x += noise * (level * 10.0 ** (-rng.uniform(*cfg.snr_db) / 20.0))
    return x


def _render_job(job: tuple[int, str, int, int, int, str]) -> tuple[np.ndarray, np.ndarray, float]:
    times, units, duration = render_utterance(*job)
    return times.astype(np.float16), units, duration


# --------------------------------------------------------------------------- the dataset
def _plan(seed: int, split: str, n: int, cfg: Preset) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels and speakers of one split (test: ``cfg.held_out_fraction`` held-out speakers)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _SPLIT_CODE[split], 0, 0])))
    labels = rng.permutation(np.arange(n) % len(WORDS))
    seen = np.array([i for i, s in enumerate(cfg.speakers) if not s.test_only])
    held = np.array(cfg.held_out)
    if split == "train":
        speakers = seen[np.arange(n) % seen.size]
    else:
        n_held = int(np.ceil(n * cfg.held_out_fraction))
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
    preset: str = DEFAULT_PRESET,
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
    preset : str
        Speakers and recording conditions (:mod:`sgevent.data.presets`): ``"hard"`` (default) or
        ``"easy"`` (the stand-in of sgevent 0.1).

    Returns
    -------
    dict
        ``{"train": stats, "test": stats, "files": [...], "wall_time_s": float, "seed": int,
        "n_workers": int, "held_out_speakers": [...]}`` where ``stats`` holds ``n_samples``,
        spikes per sample ``spikes_mean/median/min/max``, ``duration_mean/median/min/max_s``,
        the ``classes`` and ``speakers`` present.
    """
    seed, n_workers = _check_generate_args(n_train, n_test, seed, n_workers)
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    cfg = get_preset(preset)
    check_voice_variants(cfg.speakers)
    t0 = time.perf_counter()
    plans = {s: _plan(seed, s, int(n), cfg) for s, n in (("train", n_train), ("test", n_test))}
    jobs = [(seed, s, i, int(lab), int(spk), preset) for s, (labels, speakers) in plans.items()
            for i, (lab, spk) in enumerate(zip(labels, speakers))]  # fmt: skip
    results = _render_all(jobs, seed, n_workers, progress)

    stats: dict[str, Any] = {"seed": seed, "n_workers": n_workers, "files": []}
    start = 0
    for split, (labels, speakers) in plans.items():
        part = results[start : start + labels.size]
        start += labels.size
        path = out / f"shd_{split}.h5"
        _write_split(path, part, labels, speakers, seed, split, cfg)
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
    stats["held_out_speakers"] = cfg.held_out
    stats["preset"] = preset
    stats["wall_time_s"] = time.perf_counter() - t0
    return stats


def _check_generate_args(n_train, n_test, seed, n_workers) -> tuple[int, int]:
    """Validated ``seed`` and worker count (``None``: every core; at most one per sample)."""
    for name, v in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(v, bool) or int(v) != v or v < 1:
            raise ConfigError(f"generate_synthetic_digits: {name} must be an integer >= 1, got {v!r}")
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ConfigError(f"generate_synthetic_digits: seed must be an integer >= 0, got {seed!r}")
    if n_workers is None:
        n_workers = os.cpu_count() or 1
    if isinstance(n_workers, bool) or int(n_workers) != n_workers or n_workers < 1:
        raise ConfigError(f"generate_synthetic_digits: n_workers must be an integer >= 1, got {n_workers!r}")
    return int(seed), int(min(n_workers, n_train + n_test))


def _render_all(jobs: list[tuple], seed: int, n_workers: int,
                progress: bool) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """:func:`_render_job` of every job, in job order, in this process or a spawn pool."""
    results: list[tuple[np.ndarray, np.ndarray, float]] = []
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc="synth digits", unit="utt")
    if n_workers == 1:
        _collect(map(_render_job, jobs), results, bar)
    else:
        # Compile (or load from cache) the kernels once here, so workers never race to write
        # the numba cache.
        _render_job(jobs[0])
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(n_workers) as pool:
            _collect(pool.imap(_render_job, jobs, chunksize=4), results, bar)
    if bar is not None:
        bar.close()
    return results


def _collect(rendered, results: list, bar) -> None:
    """Append every rendered sample to ``results`` (writes it), ticking the progress ``bar`` if any."""
    for r in rendered:
        results.append(r)
        if bar is not None:
            bar.update(1)


def _write_split(path: Path, part: list, labels: np.ndarray, speakers: np.ndarray, seed: int, split: str,
                 cfg: Preset) -> None:
    """One split's SHD-layout file, with the speakers' voice settings and the generator's attributes."""
    spk = cfg.speakers
    write_shd_h5(
        path, [r[0] for r in part], [r[1] for r in part], labels, speakers, CLASS_KEYS,
        n_channels=_N_CHANNELS,
        meta_info={
            "voice": np.array([s.variant for s in spk]),
            "accent": np.array([s.english for s in spk]),
            "pitch": np.array([s.pitch for s in spk], dtype=np.uint8),
            "pitch_range": np.array([s.pitch_range for s in spk], dtype=np.uint8),
            "rate_wpm": np.array([s.rate_wpm for s in spk], dtype=np.uint16),
            "vtl_warp": np.array([s.vtl_warp for s in spk], dtype=np.float32),
            "test_only": np.array([s.test_only for s in spk], dtype=np.uint8),
        },
        attrs={"generator": "sgevent.data.synth", "seed": seed, "split": split, "preset": cfg.name},
    )  # fmt: skip
