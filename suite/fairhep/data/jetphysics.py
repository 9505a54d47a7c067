"""Every number the realistic jet generator (:mod:`fairhep.data.synth_v2`) takes, with its source.

This is the one place: the generator reads its numbers from :data:`PARAMS` and nothing else
(`fairhep data synth --describe` prints this table). Each value is taken from physics or
from a published CMS description of the Hbb open-data ntuples and their features, never
fitted to a classifier. In particular the published baseline checkpoint that `fairhep data
realism` uses is an *instrument*: no number here was chosen or changed to raise its score.

Values marked ``approx`` are the order of magnitude the cited source gives (read from a
figure, a range, or the CMSSW configuration as recalled, not re-read on these machines);
``assumed`` marks a modelling choice where no source gives the number (the note says why).
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCES: dict[str, str] = {
    "opendata": "CMS Collaboration, Sample with jet, track and secondary vertex properties for "
                "Hbb tagging ML studies, CERN Open Data (2019), doi:10.7483/OPENDATA.CMS.JGJX.MS7Q",
    "in": "E. A. Moreno et al., Interaction networks for the identification of boosted H->bb "
          "decays, Phys. Rev. D 102 (2020) 012010, arXiv:1909.12285 (Sec. II: the selection)",
    "ntupler": "H. Qu et al., DeepNTuples NtupleAK8 TrackFiller.cc / SVFiller.cc (the ntupliser "
               "of this dataset): feature definitions, signs, sort orders, -1 defaults",
    "ntupler80x": "DeepNTuples NtupleAK8 TrackFiller.cc / SVFiller.cc as run on 80X (2016) MiniAOD "
                  "for the DeepDoubleB ntuples the IN was trained on: track_drminsv = "
                  "catchInfsAndBound(min(0.8, min dR(track, event SV)) - 0.8, 0, -0.8, 0), "
                  "sv_deltaR = catchInfsAndBound(dR(SV, jet) - 0.5, 0, -2, 0), "
                  "sv_dxysig, sv_d3dsig bounded to [-1, 800], track_dxysig, track_dzsig to "
                  "+-2000; the first two formulas also in "
                  "CMSSW's HiggsInteractionNetTagInfoProducer.cc (cpf_drminsv, "
                  "sv_deltaR)",
    "btau": "CMSSW DataFormats/BTauReco TaggingVariable / TrackInfoBuilder: trackBTag_EtaRel = "
            "reco::btau::etaRel(jet direction, track momentum) = 0.5 ln((E + p_par) / "
            "(E - p_par)), E = sqrt(p^2 + m_pi^2): the rapidity along the jet axis under the "
            "pion hypothesis, not the pseudorapidity",
    "cmssw_in": "CMSSW RecoBTag/FeatureTools HiggsInteractionNetTagInfoProducer.cc (CMS's "
                "port of this IN's inputs): tracks are charged constituents with track "
                "details (pT > 0.95 GeV), normchi2 = floor(chi2/ndof)",
    "packed": "CMSSW DataFormats/PatCandidates PackedCandidate.cc (2016, 80X): pseudoTrack "
              "covariance in the reco::TrackBase (q/p, lambda, phi, dxy, dsz) parametrisation; "
              "default tunes m(0,0)=0.5e-4/pT^2, m(1,1)=6e-6, m(2,2)=1.5e-5/pT^2; quality "
              "built as loose (bit 0) plus highPurity (bit 2); normalizedChi2 stored as uint8",
    "trk": "CMS Collaboration, Description and performance of track and primary-vertex "
           "reconstruction with the CMS tracker, JINST 9 (2014) P10009, arXiv:1405.6569 "
           "(TRK-11-001): pT, angle and impact-parameter resolutions, efficiencies",
    "btv": "CMS Collaboration, Identification of heavy-flavour jets with the CMS detector in "
           "pp collisions at 13 TeV, JINST 13 (2018) P05011, arXiv:1712.07158 (BTV-16-002): "
           "IVF secondary vertices, track selection, SV properties of b, c, light jets",
    "ivf": "CMSSW RecoVertex/AdaptiveVertexFinder inclusiveVertexFinder_cfi / "
           "vertexMerging: IVF seed and vertex cuts",
    "pdg": "Particle Data Group, R. L. Workman et al., PTEP 2022 (2022) 083C01: lifetimes, "
           "masses, branching fractions, B-decay charged multiplicity",
    "lep_frag": "b and c fragmentation at LEP/SLD (ALEPH, OPAL, DELPHI, SLD; PDG review "
                "'Fragmentation functions in e+e- annihilation'): <x_B> = 0.71, <x_D> ~ 0.5-0.6",
    "lep_mult": "Charged multiplicity in e+e- (PDG review 'Fragmentation functions'; OPAL "
                "Eur. Phys. J. C 11 (1999) 217): 21 charged at the Z pole, gluon/quark "
                "multiplicity ratio ~1.5, hump-backed xi = ln(1/x) spectrum peaking near 3.6",
    "pf": "CMS Collaboration, Particle-flow reconstruction and global event description "
          "with the CMS detector, JINST 12 (2017) P10003, arXiv:1706.04965 (PRF-14-001): "
          "charged hadrons carry ~65% of a jet's energy",
    "sd": "A. J. Larkoski et al., Soft Drop, JHEP 05 (2014) 146; CMS uses z_cut = 0.1, beta = 0: "
          "groomed momentum sharing z_g > 0.1; QCD z_g follows the splitting function",
    "hbbmass": "CMS Collaboration, Inclusive search for a highly boosted Higgs boson decaying "
               "to a bottom quark-antiquark pair, PRL 120 (2018) 071802 (HIG-17-010): "
               "soft-drop mass peak of H->bb jets ~ 125 GeV with ~10% resolution",
    "qcdjets": "CMS inclusive jet cross section at 13 TeV (SMP-15-007, EPJC 76 (2016) 451): "
               "steeply falling pT spectrum; Pythia 8 QCD multijet flavour content "
               "(as used in BTV-16-002)",
    "geometry": "Straight-line track geometry (no source needed): the lifetime sign is the "
                "sign of the point of closest approach projected on the jet axis",
}


@dataclass(frozen=True)
class Param:
    """One number the generator uses."""

    value: float
    unit: str
    meaning: str
    source: str  # a key of SOURCES
    status: str = "cited"  # "cited", "approx" or "assumed" (see the module docstring)


def _p(value: float, unit: str, meaning: str, source: str, status: str = "cited") -> Param:
    if source not in SOURCES:
        raise KeyError(source)
    return Param(value, unit, meaning, source, status)


# Grouped by what they describe; the generator asks for PARAMS[name].value.
PARAMS: dict[str, Param] = {
    # ---- the dataset's selection ----------------------------------------------------------
    "pt_min": _p(300.0, "GeV", "jet pT lower bound (selection)", "in"),
    "pt_max": _p(2000.0, "GeV", "jet pT upper bound (selection)", "in"),
    "abs_eta_max": _p(2.4, "1", "jet |eta| bound (selection)", "in"),
    "msd_min": _p(40.0, "GeV", "soft-drop mass lower bound (selection)", "in"),
    "msd_max": _p(200.0, "GeV", "soft-drop mass upper bound (selection)", "in"),
    "jet_r": _p(0.8, "1", "anti-kT distance parameter (AK8)", "opendata"),
    "max_sv_dr": _p(0.8, "1", "SVs within Delta R < R of the jet axis belong to it", "ntupler"),
    "track_pt_min": _p(0.95, "GeV", "charged constituents with track details", "cmssw_in"),
    # ---- jet kinematics -------------------------------------------------------------------
    "qcd_pt_index": _p(5.0, "1", "QCD jet pT ~ pT^-n", "qcdjets", "approx"),
    "hbb_pt_index": _p(2.5, "1", "H->bb jet pT ~ pT^-n (boosted signal samples: flatter "
                       "than QCD)", "opendata", "assumed"),
    "eta_sigma": _p(1.1, "1", "jet eta ~ Normal(0, s) within the |eta| bound", "qcdjets",
                    "assumed"),
    "higgs_mass": _p(125.0, "GeV", "Higgs boson mass", "pdg"),
    "hbb_msd_resolution": _p(0.10, "1", "relative soft-drop mass resolution of H->bb jets",
                             "hbbmass", "approx"),
    "hbb_msd_low_tail": _p(0.20, "1", "fraction of H->bb jets in the low-mass tail (neutrinos "
                           "of semileptonic b decays, out-of-cone radiation)", "hbbmass",
                           "approx"),
    "qcd_msd_slope": _p(55.0, "GeV", "QCD soft-drop mass ~ exp(-m/slope) within the "
                        "selection", "hbbmass", "approx"),
    "prong_containment": _p(0.95, "1", "the prongs lie at most this fraction of R apart (an "
                            "AK8 jet that contains both)", "sd", "assumed"),
    "sd_zcut": _p(0.1, "1", "soft-drop z_cut: groomed prongs share z in [z_cut, 1/2]", "sd"),
    # ---- flavour content of the QCD label ---------------------------------------------------
    "qcd_frac_b": _p(0.03, "1", "QCD jets with one b hadron", "qcdjets", "approx"),
    "qcd_frac_bb": _p(0.02, "1", "QCD jets from g->bb (two b hadrons)", "qcdjets", "approx"),
    "qcd_frac_c": _p(0.06, "1", "QCD jets with one c hadron", "qcdjets", "approx"),
    "qcd_frac_cc": _p(0.03, "1", "QCD jets from g->cc", "qcdjets", "approx"),
    "qcd_quark_frac": _p(0.45, "1", "light QCD jets initiated by a quark (rest: gluon)",
                         "qcdjets", "approx"),
    # ---- charged multiplicity and fragmentation ------------------------------------------
    "nch_quark_45": _p(10.5, "1", "charged particles of a 45 GeV quark jet (Z pole / 2)",
                       "lep_mult"),
    "nch_ref_energy": _p(45.6, "GeV", "energy of that quark jet (half the Z mass)", "pdg"),
    "nch_energy_power": _p(0.25, "1", "multiplicity grows ~ E^power (LEP 91-206 GeV)",
                           "lep_mult", "approx"),
    "nch_gluon_ratio": _p(1.5, "1", "gluon / quark charged multiplicity", "lep_mult"),
    "xi_peak_offset": _p(1.0, "1", "xi = ln(1/x) peak at 0.5 ln(E/0.25 GeV) + offset",
                         "lep_mult", "approx"),
    "xi_scale": _p(0.25, "GeV", "effective infrared scale of the xi peak (MLLA)", "lep_mult",
                   "approx"),
    "xi_width": _p(1.1, "1", "width of the hump-backed xi distribution", "lep_mult", "approx"),
    "charged_energy_frac": _p(0.65, "1", "energy fraction of a jet carried by charged hadrons",
                              "pf"),
    "kt_soft": _p(0.35, "GeV", "mean transverse momentum of hadronisation w.r.t. the prong",
                  "lep_mult", "approx"),
    "kt_shape": _p(2.0, "1", "Gamma shape of that kT (vanishes at 0, exponential tail)",
                   "lep_mult", "assumed"),
    "wide_angle_min": _p(0.02, "rad", "smallest angle of a perturbative emission (log-uniform "
                         "up to R)", "sd", "assumed"),
    "wide_angle_frac": _p(0.15, "1", "fraction of fragmentation tracks from perturbative "
                          "emissions (d theta / theta up to R)", "sd", "assumed"),
    "tracking_eff": _p(0.90, "1", "charged-hadron tracking efficiency in jets", "trk"),
    # ---- heavy-flavour hadrons --------------------------------------------------------------
    "b_mass": _p(5.28, "GeV", "b hadron mass", "pdg"),
    "c_mass": _p(1.87, "GeV", "c hadron mass", "pdg"),
    "b_ctau": _p(0.0470, "cm", "b hadron c tau (B0 455, B+ 491, Bs 453, Lb 441 um mix)", "pdg"),
    "c_ctau": _p(0.0170, "cm", "c hadron c tau (D0 123, D+ 312, Ds 151 um mix)", "pdg",
                 "approx"),
    "xb_mean": _p(0.71, "1", "mean energy fraction of the weakly decaying b hadron", "lep_frag"),
    "xc_mean": _p(0.57, "1", "mean energy fraction of the c hadron", "lep_frag", "approx"),
    "x_beta_sum": _p(10.0, "1", "a + b of the Beta distribution of x (its spread)", "lep_frag",
                     "assumed"),
    "b_nch": _p(5.0, "1", "mean charged multiplicity of b-hadron decays (cascade included)",
                "pdg"),
    "c_nch": _p(2.4, "1", "mean charged multiplicity of c-hadron decays", "pdg"),
    "b_cascade_frac": _p(0.45, "1", "fraction of b-decay tracks from the c cascade", "pdg",
                         "approx"),
    "b_cascade_pfrac": _p(0.5, "1", "momentum fraction of the c hadron in a b decay", "pdg",
                          "approx"),
    "decay_share_shape": _p(2.0, "1", "Gamma shape of the rest-frame momentum shares of "
                            "decay products (scaled so energies add up to the hadron mass)",
                            "pdg", "assumed"),
    "pion_mass": _p(0.13957, "GeV", "charged-pion mass: the hypothesis of every track in an "
                    "SV's four-momentum, in EtaRel and in decays", "pdg"),
    # ---- long-lived light hadrons and fakes ----------------------------------------------
    "k0s_per_charged": _p(0.05, "1", "K0S per charged particle (2.0 K0 per Z decay / 21)",
                          "lep_mult"),
    "k0s_to_pipi": _p(0.692, "1", "BR(K0S -> pi+ pi-)", "pdg"),
    "k0s_ctau": _p(2.684, "cm", "K0S c tau", "pdg"),
    "k0s_mass": _p(0.4976, "GeV", "K0S mass", "pdg"),
    "v0_max_radius": _p(40.0, "cm", "decay radius beyond which V0 daughters are not "
                        "reconstructed (efficiency falls linearly to 0)", "trk", "approx"),
    "ip_tail_frac": _p(0.03, "1", "tracks with non-Gaussian impact-parameter tails (hit "
                       "mis-association, nuclear interactions)", "btv", "approx"),
    "ip_tail_scale": _p(4.0, "1", "resolution multiplier of tail tracks", "btv", "approx"),
    # ---- track resolution (perigee parameters) -------------------------------------------
    "pt_res_ms": _p(0.009, "1", "sigma(pT)/pT multiple-scattering term", "trk", "approx"),
    "pt_res_slope": _p(1.5e-4, "1/GeV", "sigma(pT)/pT term growing with pT", "trk", "approx"),
    "d0_res_const": _p(0.0015, "cm", "sigma(dxy) at high pT (incl. the PV)", "trk", "approx"),
    "d0_res_ms": _p(0.0095, "cm GeV", "sigma(dxy) multiple scattering: b sqrt(cosh eta)/pT",
                    "trk", "approx"),
    "dz_res_const": _p(0.0030, "cm", "sigma(dz) at high pT", "trk", "approx"),
    "dz_res_ms": _p(0.0140, "cm GeV", "sigma(dz) multiple scattering: b cosh^1.5 eta/pT", "trk",
                    "approx"),
    "phi_res_const": _p(1.0e-4, "rad", "sigma(phi) at high pT", "trk", "approx"),
    "phi_res_ms": _p(3.9e-3, "rad GeV", "sigma(phi) ~ b/pT (PackedCandidate tune 1.5e-5/pT^2)",
                     "packed"),
    "lambda_res_const": _p(2.0e-4, "rad", "sigma(lambda) at high pT", "trk", "approx"),
    "lambda_res_ms": _p(2.4e-3, "rad GeV", "sigma(lambda) ~ b/p (PackedCandidate tune 6e-6)",
                        "packed", "approx"),
    "rho_phi_dxy": _p(-0.65, "1", "mean correlation of phi and dxy (first-hit lever arm)",
                      "geometry", "assumed"),
    "rho_lambda_dz": _p(-0.65, "1", "mean correlation of lambda and dsz", "geometry",
                        "assumed"),
    "rho_spread": _p(0.25, "1", "half-width of the uniform spread of those correlations",
                     "geometry", "assumed"),
    "ndof_mean": _p(22.0, "1", "mean ndof of a track fit (2 x hits - 5, ~13 hits)", "trk",
                    "approx"),
    "ndof_spread": _p(4.0, "1", "spread of the track-fit ndof", "trk", "assumed"),
    "error_spread": _p(0.2, "1", "log-normal spread of a track's errors (hit pattern, eta)",
                       "trk", "assumed"),
    "rho_dxy_dz": _p(0.1, "1", "half-width of the (small) dxy-dsz correlation", "geometry",
                     "assumed"),
    "highpurity_frac": _p(0.95, "1", "tracks in jets passing highPurity", "trk", "approx"),
    # ---- IVF secondary vertices --------------------------------------------------------------
    "ivf_track_pt_min": _p(0.8, "GeV", "IVF seed/cluster track pT", "ivf", "approx"),
    "ivf_seed_ip3d_sig": _p(1.2, "1", "IVF track 3-D IP significance", "ivf", "approx"),
    "ivf_seed_ip3d": _p(0.005, "cm", "IVF track 3-D IP value", "ivf", "approx"),
    "ivf_min_dxysig": _p(2.5, "1", "IVF vertex 2-D flight significance", "ivf", "approx"),
    "ivf_min_cos": _p(0.95, "1", "IVF cos(flight, momentum)", "ivf", "approx"),
    "ivf_max_mass": _p(6.5, "GeV", "SV mass bound of the b-tagging SV selection", "btv"),
    "ivf_track_eff": _p(0.85, "1", "probability that a displaced track joins its vertex "
                        "(adaptive fit weight)", "btv", "approx"),
    "sv_pos_res": _p(0.0020, "cm", "SV position resolution across the flight direction",
                     "btv", "approx"),
    "sv_sig_bound": _p(800.0, "1", "sv_dxysig and sv_d3dsig are stored bounded to [-1, 800]",
                       "ntupler80x"),
    "track_sig_bound": _p(2000.0, "1", "track_dxysig and track_dzsig are stored bounded to "
                          "+-2000", "ntupler80x"),
    "drminsv_search": _p(0.8, "1", "track_drminsv: the nearest-SV search starts at this dR "
                         "(the literal 0.8 = R of the ntupliser); stored as min - 0.8",
                         "ntupler80x"),
    "sv_deltaR_offset": _p(0.5, "1", "sv_deltaR is stored as dR(SV, jet) - 0.5, capped at 0",
                           "ntupler80x"),
    # ---- spectators (stored beside the inputs, never read by the IN) -----------------------
    "npv_mean": _p(23.0, "1", "mean number of primary vertices (2016 pileup)", "opendata",
                   "approx"),
    "tau21_hbb": _p(0.35, "1", "mean N-subjettiness ratio tau21 of two-prong jets", "hbbmass",
                    "approx"),
    "tau21_qcd": _p(0.55, "1", "mean tau21 of QCD jets", "hbbmass", "approx"),
    "tau21_sigma": _p(0.12, "1", "spread of tau21", "hbbmass", "approx"),
    "doubleb_scale": _p(20.0, "1", "fj_doubleb proxy: tanh(sum of the two largest 3-D IP "
                        "significances / scale) - 0.5 (the real BDT is not modelled)", "btv",
                        "assumed"),
}


# What each generated quantity follows, and the numbers above it reads (the sources follow
# from them). `--describe` prints this first.
DISTRIBUTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("jet pT", "power law pT^-n per class on the selection's range",
     ("pt_min", "pt_max", "qcd_pt_index", "hbb_pt_index")),
    ("jet eta", "Normal within the selection", ("eta_sigma", "abs_eta_max")),
    ("soft-drop mass", "H: Gaussian at m_H + low tail; QCD: exponential; within the selection",
     ("higgs_mass", "hbb_msd_resolution", "hbb_msd_low_tail", "qcd_msd_slope", "msd_min",
      "msd_max")),
    ("prong sharing z", "H: flat on [z_cut, 1/2]; QCD: ~1/z; both prongs inside R",
     ("sd_zcut", "prong_containment", "jet_r")),
    ("flavour", "H: b b; QCD: b, g->bb, c, g->cc, else quark/gluon",
     ("qcd_frac_b", "qcd_frac_bb", "qcd_frac_c", "qcd_frac_cc", "qcd_quark_frac")),
    ("track multiplicity", "Poisson, E^power growth, gluon/quark ratio, tracking efficiency",
     ("nch_quark_45", "nch_ref_energy", "nch_energy_power", "nch_gluon_ratio",
      "tracking_eff", "track_pt_min")),
    ("track momenta (ptrel, erel)", "hump-backed xi = ln(1/x), sharing the charged fraction",
     ("xi_scale", "xi_peak_offset", "xi_width", "charged_energy_frac")),
    ("track angles (etarel, phirel, deltaR, drsubjet, PtRatio, PParRatio)",
     "kT/p around the prong (Gamma kT) + log-uniform wide-angle emissions",
     ("kt_soft", "kt_shape", "wide_angle_min", "wide_angle_frac")),
    ("trackBTag_EtaRel", ("0.5 ln((E + p_par)/(E - p_par)) along the jet axis, E with the pion "
                         "mass (reco::btau::etaRel, source [btau])"), ("pion_mass",)),
    ("heavy hadrons", ("x ~ Beta(mean), flight (p/m) c tau Exp(1); decays conserve four-momentum: "
                       "charged pions + a massless neutral recoil share the hadron mass in its "
                       "rest frame, boosted along its flight (so an SV's mass <= the hadron's)"),
     ("xb_mean", "xc_mean", "x_beta_sum", "b_mass", "c_mass", "b_ctau", "c_ctau", "b_nch",
      "c_nch", "b_cascade_frac", "b_cascade_pfrac", "decay_share_shape", "pion_mass")),
    ("V0 tracks", ("K0S -> pi+ pi- (exact two-body kinematics) among the hadrons, "
                  "reconstructed inside the tracker"),
     ("k0s_per_charged", "k0s_to_pipi", "k0s_ctau", "k0s_mass", "v0_max_radius")),
    ("impact parameters (dxy, dz, Sip2d/3d, JetDistVal) and significances",
     "straight-line geometry from the true vertex + Gaussian resolution with tails",
     ("d0_res_const", "d0_res_ms", "dz_res_const", "dz_res_ms", "ip_tail_frac",
      "ip_tail_scale")),
    ("covariance elements", "sigma^2 of q/p, lambda, phi, dxy, dsz and their correlations",
     ("pt_res_ms", "pt_res_slope", "phi_res_const", "phi_res_ms", "lambda_res_const",
      "lambda_res_ms", "rho_phi_dxy", "rho_lambda_dz", "rho_spread", "rho_dxy_dz",
      "error_spread")),
    ("fit quality", "floor(chi2(ndof)/ndof); quality mask 5 (highPurity) or 1",
     ("ndof_mean", "ndof_spread", "highpurity_frac")),
    ("secondary vertices", ("IVF on the displaced tracks of each decay chain: seed and vertex "
                            "cuts; mass, pT from four-momenta; flight resolution from the "
                            "opening angle"),
     ("ivf_track_pt_min", "ivf_seed_ip3d", "ivf_seed_ip3d_sig", "ivf_track_eff",
      "ivf_min_dxysig", "ivf_min_cos", "ivf_max_mass", "sv_pos_res", "max_sv_dr")),
    ("sv_deltaR", "dR(SV, jet) - 0.5 capped at 0 (80X ntupliser)", ("sv_deltaR_offset",)),
    ("stored bounds", ("significances bounded as the 80X ntupliser stores them (SVs sorted by "
                      "the unbounded one)"), ("sv_sig_bound", "track_sig_bound")),
    ("track_drminsv", ("min(R, dR to the nearest SV of the event) - R in [-R, 0], from the "
                       "generated tracks' and SVs' directions (80X ntupliser)"),
     ("drminsv_search",)),
    ("spectators", "not read by the IN", ("npv_mean", "tau21_hbb", "tau21_qcd", "tau21_sigma",
                                          "doubleb_scale")),
)


def value(name: str) -> float:
    return PARAMS[name].value


def describe_lines() -> list[str]:
    """The table `fairhep data synth --describe` prints: each number, its unit, what it is,
    its status and source key, then the sources in full."""
    out = ["Distributions of the realistic generator (v2) and the numbers they read:"]
    for what, how, names in DISTRIBUTIONS:
        keys = sorted({PARAMS[k].source for k in names})
        out.append(f"  {what}: {how}")
        out.append(f"      numbers: {', '.join(names)}; sources: {', '.join(keys)}")
    out += ["", "Every number of the realistic generator (v2), from fairhep/data/jetphysics.py:",
           f"{'name':22s} {'value':>10s} {'unit':8s} {'status':8s} {'source':9s} meaning"]
    for name, p in PARAMS.items():
        out.append(f"{name:22s} {p.value:>10.4g} {p.unit:8s} {p.status:8s} {p.source:9s} "
                   f"{p.meaning}")
    out.append("")
    out.append("Sources:")
    out += [f"  [{key}] {text}" for key, text in SOURCES.items()]
    return out
