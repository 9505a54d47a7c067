"""The single source of truth for what a jet looks like to the interaction network.

Every other module asks this one for feature names, their order, array shapes, the HDF5
layout and the label convention. Nothing else in fairhep spells out a feature name.

Conventions (Les Houches guide: ordering, units and padding must be explicit):

* Tracks: up to ``N_TRACKS`` = 60 per jet, ``len(TRACK_FEATURES)`` = 30 features each, in the
  order of :data:`TRACK_FEATURES` (the IN's input order). Tracks keep the ntupliser's order
  (descending 2-D impact-parameter significance); tracks beyond 60 are cut, missing ones are
  zero-padded. Padded tracks are ordinary (all-zero) nodes: the IN has no mask.
* Secondary vertices: up to ``N_SVS`` = 5 per jet, 14 features each (descending dxy
  significance), cut/zero-padded the same way.
* The network takes features first: tracks ``(batch, 30, 60)``, SVs ``(batch, 14, 5)``,
  float32. The HDF5 files store the same channels-first arrays.
* Labels: one-hot ``(N, 2)``; column 0 = QCD, column 1 = H->bb. A jet that is neither
  (``[0, 0]`` in the original target) is **dropped** at conversion time (see
  :data:`UNLABELLED_POLICY`), so every stored jet has exactly one label.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = "1.0"

DATASET_DOI = "10.7483/OPENDATA.CMS.JGJX.MS7Q"
DATASET_NAME = "HiggsToBBNTuple_HiggsToBB_QCD_RunII_13TeV_MC"
DATASET_CITATION = (
    "CMS Collaboration, Sample with jet, track and secondary vertex properties for Hbb "
    "tagging ML studies, CERN Open Data Portal (2019), doi:10.7483/OPENDATA.CMS.JGJX.MS7Q"
)
PAPER_ARXIV = "2212.05081"
PAPER_DOI = "10.1088/2632-2153/ad12e3"
MODEL_REFERENCE = "Moreno et al., Phys. Rev. D 102 (2020) 012010, arXiv:1909.12285"

ROOT_TREE = "deepntuplizer/tree"

N_TRACKS = 60
N_SVS = 5


@dataclass(frozen=True)
class Feature:
    """One input feature: its ntuple branch name, unit and meaning."""

    name: str
    unit: str
    description: str


def _f(name: str, unit: str, description: str) -> Feature:
    return Feature(name, unit, description)


# In the IN's input order (order of the original FAIR/Moreno code). Do not reorder.
TRACK_FEATURE_SPECS: tuple[Feature, ...] = (
    _f("track_ptrel", "1", "track pT / jet pT"),
    _f("track_erel", "1", "track energy / jet energy"),
    _f("track_phirel", "rad", "track phi - jet phi"),
    _f("track_etarel", "1", "track eta - jet eta"),
    _f("track_deltaR", "1", "Delta R(track, jet axis)"),
    _f("track_drminsv", "1", "Delta R to the closest secondary vertex"),
    _f("track_drsubjet1", "1", "Delta R to the leading soft-drop subjet"),
    _f("track_drsubjet2", "1", "Delta R to the subleading soft-drop subjet"),
    _f("track_dz", "cm", "longitudinal impact parameter"),
    _f("track_dzsig", "1", "longitudinal impact parameter significance"),
    _f("track_dxy", "cm", "transverse impact parameter"),
    _f("track_dxysig", "1", "transverse impact parameter significance"),
    _f("track_normchi2", "1", "track fit chi2 / ndof"),
    _f("track_quality", "1", "track quality flag"),
    _f("track_dptdpt", "GeV^2", "track covariance pT-pT"),
    _f("track_detadeta", "1", "track covariance eta-eta"),
    _f("track_dphidphi", "rad^2", "track covariance phi-phi"),
    _f("track_dxydxy", "cm^2", "track covariance dxy-dxy"),
    _f("track_dzdz", "cm^2", "track covariance dz-dz"),
    _f("track_dxydz", "cm^2", "track covariance dxy-dz"),
    _f("track_dphidxy", "rad cm", "track covariance phi-dxy"),
    _f("track_dlambdadz", "cm", "track covariance lambda-dz"),
    _f("trackBTag_EtaRel", "1", "pseudorapidity relative to the jet axis"),
    _f("trackBTag_PtRatio", "1", "track pT relative to the jet axis / track momentum"),
    _f("trackBTag_PParRatio", "1", "track momentum parallel to the jet axis / track momentum"),
    _f("trackBTag_Sip2dVal", "cm", "signed 2-D impact parameter"),
    _f("trackBTag_Sip2dSig", "1", "signed 2-D impact parameter significance"),
    _f("trackBTag_Sip3dVal", "cm", "signed 3-D impact parameter"),
    _f("trackBTag_Sip3dSig", "1", "signed 3-D impact parameter significance"),
    _f("trackBTag_JetDistVal", "cm", "distance between track and jet axis"),
)

SV_FEATURE_SPECS: tuple[Feature, ...] = (
    _f("sv_ptrel", "1", "SV pT / jet pT"),
    _f("sv_erel", "1", "SV energy / jet energy"),
    _f("sv_phirel", "rad", "SV phi - jet phi"),
    _f("sv_etarel", "1", "SV eta - jet eta"),
    _f("sv_deltaR", "1", "Delta R(SV, jet axis)"),
    _f("sv_pt", "GeV", "SV transverse momentum"),
    _f("sv_mass", "GeV", "SV invariant mass"),
    _f("sv_ntracks", "1", "number of tracks of the SV"),
    _f("sv_normchi2", "1", "SV fit chi2 / ndof"),
    _f("sv_dxy", "cm", "transverse flight distance"),
    _f("sv_dxysig", "1", "transverse flight distance significance"),
    _f("sv_d3d", "cm", "3-D flight distance"),
    _f("sv_d3dsig", "1", "3-D flight distance significance"),
    _f("sv_costhetasvpv", "1", "cos(angle between flight direction and SV momentum)"),
)

TRACK_FEATURES: tuple[str, ...] = tuple(f.name for f in TRACK_FEATURE_SPECS)
SV_FEATURES: tuple[str, ...] = tuple(f.name for f in SV_FEATURE_SPECS)
N_TRACK_FEATURES = len(TRACK_FEATURES)  # P = 30
N_SV_FEATURES = len(SV_FEATURES)  # S = 14

# Jet-level variables stored beside the inputs, never fed to the IN.
SPECTATORS: tuple[str, ...] = (
    "fj_pt",
    "fj_eta",
    "fj_sdmass",
    "fj_n_sdsubjets",
    "fj_doubleb",
    "fj_tau21",
    "fj_tau32",
    "npv",
    "npfcands",
    "ntracks",
    "nsv",
)

CLASSES: tuple[str, ...] = ("QCD", "Hbb")
QCD, HBB = 0, 1

# Ntuple branches that define the label (the FAIR code's current convention).
LABEL_BRANCHES: tuple[str, ...] = ("sample_isQCD", "fj_isQCD", "fj_isH")
UNLABELLED_POLICY = "drop"  # jets that are neither QCD nor H->bb never reach the files

# Features the paper's Table 10 ablation drops (12 track + 5 SV, §3.4.2; 0-based IN order
# from the public notebook plus sv_ptrel, sv_erel, track_quality).
ABLATION_DROPPED_TRACK_FEATURES: tuple[str, ...] = tuple(
    TRACK_FEATURES[i] for i in (2, 13, 14, 15, 16, 17, 18, 19, 20, 21, 25, 26)
)
ABLATION_DROPPED_SV_FEATURES: tuple[str, ...] = tuple(
    SV_FEATURES[i] for i in (0, 1, 2, 3, 8)
)

# ---- HDF5 layout (the FAIR implementation's, which its training code reads) -------------
H5_FILE_PATTERN = "newdata_{index}.h5"
H5_FILE_GLOB = "newdata_*.h5"
H5_FEATURE_GROUP = {"train": "training_subgroup", "test": "testing_subgroup"}
H5_FEATURE_PREFIX = {"train": "training", "test": "testing"}
# Keys are read in alphabetical order by the original code: index 2 = tracks, 3 = SVs.
H5_TRACK_INDEX = 2
H5_SV_INDEX = 3
# Per-jet shapes of the feature groups the IN does not use (0: jet-level fj_*, 1: pfcand_*):
# written only as empty placeholders so that indices 2/3 keep meaning tracks/SVs.
H5_UNUSED_SHAPES: dict[int, tuple[int, int]] = {0: (27, 1), 1: (10, 100)}
H5_TARGET = "target_subgroup/target"
H5_SPECTATORS = "spectator_subgroup/spectators"
JETS_PER_FILE = 100_000
MANIFEST_NAME = "manifest.json"

# Shapes per jet, as stored and as fed to the network (channels first).
TRACK_SHAPE = (N_TRACK_FEATURES, N_TRACKS)
SV_SHAPE = (N_SV_FEATURES, N_SVS)
TARGET_SHAPE = (len(CLASSES),)
SPECTATOR_SHAPE = (1, len(SPECTATORS))

# Original test layout: one NumPy file per feature group.
NPY_TEST_TRACKS = "test_{k}_features_2.npy"
NPY_TEST_SVS = "test_{k}_features_3.npy"
NPY_TEST_TRUTH = "test_{k}_truth_0.npy"
NPY_TEST_SPECTATORS = "test_{k}_spectators_0.npy"

# ONNX interface of the FAIR export (kept so published consumers can feed our models).
ONNX_INPUT_TRACKS = "input_cpf"
ONNX_INPUT_SVS = "input_sv"
ONNX_OUTPUT = "output1"
# The opset fairhep writes (the FAIR export used 11; 17 is what TensorRT 8.6 still parses).
ONNX_OPSET = 17


def h5_dataset_name(split: str, index: int) -> str:
    """Path of feature array ``index`` inside a file of ``split`` ('train' or 'test')."""
    return f"{H5_FEATURE_GROUP[split]}/{H5_FEATURE_PREFIX[split]}_{index}"


def h5_datasets(split: str) -> dict[str, tuple[int, ...]]:
    """The arrays a file of ``split`` stores, in the order they are written, with their
    per-jet shapes: tracks, SVs, the one-hot target, the spectators."""
    return {
        h5_dataset_name(split, H5_TRACK_INDEX): TRACK_SHAPE,
        h5_dataset_name(split, H5_SV_INDEX): SV_SHAPE,
        H5_TARGET: TARGET_SHAPE,
        H5_SPECTATORS: SPECTATOR_SHAPE,
    }


def kept_features(all_features: tuple[str, ...], dropped: tuple[str, ...]) -> tuple[str, ...]:
    """The features that remain, in IN order, after ``dropped`` are removed."""
    unknown = set(dropped) - set(all_features)
    if unknown:
        raise KeyError(f"unknown feature(s) {sorted(unknown)}; known: {list(all_features)}")
    return tuple(f for f in all_features if f not in dropped)


def feature_indices(all_features: tuple[str, ...], kept: tuple[str, ...]) -> list[int]:
    return [all_features.index(f) for f in kept]


def describe() -> dict[str, object]:
    """A JSON-ready description of the input interface (for ONNX metadata and manifests)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "dataset_doi": DATASET_DOI,
        "track_features": list(TRACK_FEATURES),
        "track_units": [f.unit for f in TRACK_FEATURE_SPECS],
        "sv_features": list(SV_FEATURES),
        "sv_units": [f.unit for f in SV_FEATURE_SPECS],
        "n_tracks": N_TRACKS,
        "n_svs": N_SVS,
        "tracks_layout": "(batch, n_track_features, n_tracks), float32, channels first",
        "svs_layout": "(batch, n_sv_features, n_svs), float32, channels first",
        "padding": "zeros; tracks beyond 60 and SVs beyond 5 are cut; ntupliser order kept",
        "classes": list(CLASSES),
        "output": "(batch, 2) softmax probabilities: column 0 = QCD, column 1 = H->bb",
        "spectators": list(SPECTATORS),
        "unlabelled_jets": UNLABELLED_POLICY,
    }
