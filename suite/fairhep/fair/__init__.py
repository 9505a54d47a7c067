"""The FAIR life of a model: a self-describing bundle (``package``), its validation on every
runtime here, a compiled one included (``validate``), and serving it over the KServe v2 /
Open Inference Protocol (``serve``). See :mod:`fairhep.fair.bundle` for the layout."""
