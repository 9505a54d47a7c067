"""Published checkpoints: plain state_dicts with the original layer names, read safely
(``weights_only``) and turned into an IN.

The weight shapes give the sizes (h, D_E, D_O) and how many track and SV features a model
reads, never which: a checkpoint with fewer features than the schema is refused unless the
dropped features are named (:func:`config_from_state_dict`).
"""

from __future__ import annotations

import re
import warnings
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from fairhep import schema
from fairhep.errors import FairhepError
from fairhep.model.config import STATE_DICT_KEYS, ModelConfig
from fairhep.model.network import InteractionNetwork


class CheckpointError(FairhepError):
    """A state_dict that is not an IN of the published layout."""


FEATURE_LIST_FIX = ("name them with --metadata META.json (the FAIR repository's "
                    "<label>_model_metadata.json) or with --track-features-dropped LIST / "
                    "--sv-features-dropped LIST (0-based indices in the IN order, or names)")


@dataclass(frozen=True)
class Shapes:
    """What the weight shapes of an IN state_dict say about its variant."""

    p: int  # track features read
    s: int  # SV features read
    hidden: int
    de: int
    do: int

    @property
    def track_dropped(self) -> int:
        return schema.N_TRACK_FEATURES - self.p

    @property
    def sv_dropped(self) -> int:
        return schema.N_SV_FEATURES - self.s


def _check_keys(state: Mapping[str, torch.Tensor], source: str) -> None:
    names = {f"{k}.{t}" for k in STATE_DICT_KEYS for t in ("weight", "bias")}
    missing = sorted(names - set(state))
    extra = sorted(set(state) - names)
    if missing or extra:
        raise CheckpointError(
            f"{source}: not an interaction-network state_dict (missing {missing}, "
            f"unexpected {extra}); expected keys {list(STATE_DICT_KEYS)} with .weight/.bias"
        )


def state_dict_shapes(state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> Shapes:
    """The sizes and input-feature counts the weights of an IN state_dict imply."""
    _check_keys(state, source)
    hidden, two_p = state["fr1.weight"].shape
    if two_p % 2:
        raise CheckpointError(f"{source}: fr1.weight has odd input width {two_p}")
    p = two_p // 2
    shapes = Shapes(p=p, s=state["fr1_pv.weight"].shape[1] - p, hidden=hidden,
                    de=state["fr3.weight"].shape[0], do=state["fo3.weight"].shape[0])
    if not (0 < shapes.p <= schema.N_TRACK_FEATURES and 0 < shapes.s <= schema.N_SV_FEATURES):
        raise CheckpointError(
            f"{source}: fr1.weight / fr1_pv.weight imply {shapes.p} track and {shapes.s} SV "
            f"features; the schema has {schema.N_TRACK_FEATURES} and {schema.N_SV_FEATURES}"
        )
    return shapes


def config_from_state_dict(
    state: Mapping[str, torch.Tensor],
    source: str = "checkpoint",
    track_dropped: Sequence[str] | None = None,
    sv_dropped: Sequence[str] | None = None,
) -> ModelConfig:
    """The variant of a state_dict: sizes from the shapes, dropped features from the lists.

    A list is needed wherever the shapes show fewer features than the schema; a list whose
    length disagrees with the shapes is refused. ``None`` means "not given"."""
    shapes = state_dict_shapes(state, source)
    dropped: dict[str, tuple[str, ...]] = {}
    for kind, given, n, total in (
        ("track", track_dropped, shapes.track_dropped, schema.N_TRACK_FEATURES),
        ("sv", sv_dropped, shapes.sv_dropped, schema.N_SV_FEATURES),
    ):
        label = "track" if kind == "track" else "SV"
        if given is None and n:
            raise CheckpointError(
                f"{source}: reads {shapes.p} of {schema.N_TRACK_FEATURES} track and "
                f"{shapes.s} of {schema.N_SV_FEATURES} SV features, and the shapes cannot say "
                f"which {n} {label} features were dropped; {FEATURE_LIST_FIX}"
            )
        names = tuple(given or ())
        if len(names) != n:
            raise CheckpointError(
                f"{source}: the {kind}-features-dropped list names {len(names)} {label} "
                f"features ({', '.join(names) or 'none'}), but the weights read {total - n} "
                f"of {total}, i.e. {n} dropped; give the list that belongs to this checkpoint"
            )
        dropped[kind] = names
    config = ModelConfig.dropping(dropped["track"], dropped["sv"], hidden=shapes.hidden,
                                  de=shapes.de, do=shapes.do)
    check_state_dict(state, config, source)
    return config


def check_state_dict(state: Mapping[str, torch.Tensor], config: ModelConfig,
                     source: str = "checkpoint") -> None:
    """Every key and shape of ``state`` is the one ``config``'s IN has."""
    _check_keys(state, source)
    expected = InteractionNetwork(config).state_dict()
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise CheckpointError(
                f"{source}: {key} has shape {tuple(state[key].shape)}, expected "
                f"{tuple(tensor.shape)} for {config.p} track / {config.s} SV features, "
                f"h={config.hidden}, D_E={config.de}, D_O={config.do}"
            )


def _head(path: Path, n: int) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read(n)
    except OSError:
        return None


def _what_file(path: Path) -> str:
    """What a file that is not a PyTorch checkpoint looks like, for the error message."""
    head = _head(path, 512)
    if head is None:
        return "unreadable"
    if not head:
        return "an empty file"
    kinds = ((b"\x89HDF", "an HDF5 file"), (b"\x1f\x8b", "a gzip file"),
             (b"PK\x03\x04", "a ZIP archive without a PyTorch data.pkl"),
             (b"\x93NUMPY", "a NumPy .npy file"), (b"\x08", "probably an ONNX model"),
             (b"{", "a JSON or text file"))
    for magic, name in kinds:
        if head.startswith(magic):
            return name
    try:
        head[:-4].decode("utf-8")  # the 512 bytes may end inside a character
    except UnicodeDecodeError:
        return "a binary file of unknown format"
    return "a text file"


def _is_pickle(path: Path) -> bool:
    """A torch.save file (zip with a data.pkl, or the legacy raw pickle) or any pickle."""
    head = _head(path, 2) or b""
    if head[:1] == b"\x80":  # pickle protocol 2 and later
        return True
    if head != b"PK":
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n == "data.pkl" or n.endswith("/data.pkl") for n in z.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_state_dict_file(path: Path) -> dict[str, torch.Tensor]:
    """Load a plain state_dict safely (``weights_only=True``); raise a one-line error.

    Nothing in a file runs: a pickle that needs more than tensors and containers (a pickled
    object, or a protocol the safe unpickler does not read) is refused, not loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with warnings.catch_warnings():
            # torch warns about pickle protocols before it refuses them: the one line below
            # says all a user needs.
            warnings.simplefilter("ignore")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a file that is not a checkpoint
        if not _is_pickle(path):
            raise CheckpointError(f"{path}: not a PyTorch checkpoint ({_what_file(path)}); "
                                  "give the .pth file the model was saved to") from None
        # torch >= 2.4 names the global ("GLOBAL x"), older ones the class ("Unsupported ...").
        found = re.search(r"(?:GLOBAL|Unsupported class) (\S+)", str(exc))
        detail = (f"it pickles {found.group(1)}, not only tensors" if found else
                  "a pickle protocol or object the safe loader does not read")
        raise CheckpointError(
            f"{path}: not a plain state_dict ({detail}), so it was not loaded: fairhep never "
            "unpickles code; save model.state_dict() with torch.save's default protocol"
        ) from None
    if isinstance(state, Mapping) and "model" in state and isinstance(state["model"], Mapping):
        state = state["model"]
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: holds a {type(state).__name__}, not a state_dict")
    not_tensors = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise CheckpointError(f"{path}: entries {not_tensors[:5]} are not tensors; expected a "
                              "plain state_dict")
    return dict(state)


def model_from_state_dict(
    state: Mapping[str, torch.Tensor], config: ModelConfig | None = None, source: str = ""
) -> InteractionNetwork:
    """The IN of ``state``: checked against ``config`` when given (a run directory's
    model.json), otherwise inferred (full-feature checkpoints only, see above)."""
    source = source or "checkpoint"
    if config is None:
        config = config_from_state_dict(state, source)
    else:
        check_state_dict(state, config, source)
    net = InteractionNetwork(config)
    net.load_state_dict(dict(state))
    return net


# ---- run directories ----------------------------------------------------------------------
# A run directory holds what evaluate / export / bench need to use a trained model:
#   model.json   {"model": ModelConfig, ...}     best.pth   best-validation state_dict
#   last.pth     weights after the last epoch     (training adds its own resume state)
