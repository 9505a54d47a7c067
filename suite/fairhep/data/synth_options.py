"""Options of the synthetic generator that the CLI shows without importing numpy/h5py.

``fairhep --help`` builds every sub-command's parser, so the documented difficulty knob and
its default live here, free of heavy imports; :mod:`fairhep.data.synth` uses them.
"""

from __future__ import annotations

DEFAULT_DIFFICULTY = 0.02
MAX_DIFFICULTY = 0.5  # beyond one half the labels would simply be inverted
LAYOUTS = ("h5", "npy")
# v2: realistic, every number cited (fairhep.data.jetphysics), the default since it met issue
# 26's bar (the published baseline's AUC 0.961 >= 0.95 on its test jets, byte version 3; see
# docs/guides/realistic-jets.md); v1: the first default, kept so earlier records (which name
# their generator) stay reproducible with --generator v1.
GENERATORS = ("v1", "v2")
DEFAULT_GENERATOR = "v2"

DIFFICULTY_DOC = f"""\
Difficulty
----------
``difficulty`` (default {DEFAULT_DIFFICULTY}) is the fraction of jets whose whole
underlying physics is generated as the *other* class while keeping their label: QCD jets
from g->bb splittings that land at the Higgs mass with a balanced two-prong structure, and
H->bb jets that look like light QCD (neither b hadron reconstructed, mass mis-measured).
Such jets are indistinguishable from the other class, so even a perfect classifier reaches
an AUC of at most about ``1 - difficulty``; ``0`` leaves only the natural overlap (QCD heavy
flavour). Calibration of generator v1 on the baseline IN (Adam, lr 1e-3, batch 128, 20k
training jets, AUC on 10k other jets; on v2, the default, `fairhep bench`'s 8k training jets
reach 0.960 after 3 epochs):

    difficulty   epoch 1   epoch 2   epoch 3
    0.00         0.985     0.993
    0.02         0.963     0.969     0.971    (default)
    0.05         0.936     0.941

The default stays clearly below 1, so a regression (a shuffled feature, a broken export)
stays visible.
"""
