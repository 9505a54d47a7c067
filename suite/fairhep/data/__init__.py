"""Jet data: conversion from the CMS ntuples, synthetic jets, checks and loading.

Submodules: :mod:`~fairhep.data.load` (reading), :mod:`~fairhep.data.manifest`,
:mod:`~fairhep.data.synth`, :mod:`~fairhep.data.convert`, :mod:`~fairhep.data.check`.
"""
