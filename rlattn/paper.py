"""The numbers the paper publishes (Pu et al., NeurIPS 2018), for tables that set ours beside them.

Typed once here from ``../shared/paper/dat-reciprocative-learning.txt`` so that no chapter types a
number by hand. DP is the distance precision at 20 px, AUC the area under the success plot (the
paper's "OS"), CLE the mean centre location error in pixels, OS@0.5 the success rate at IoU 0.5.
"""

from __future__ import annotations

BACKBONE = "VGG-M conv1-3 (ImageNet), MDNet fc4-fc6"
MACHINE = "i7 3.4 GHz + GeForce GTX 1080"

# Table 1: λ sensitivity on OTB-2013, {λ: (DP, AUC)}
TABLE1_LAMBDA = {
    0: (0.911, 0.671),
    1: (0.917, 0.688),
    2: (0.936, 0.694),
    3: (0.941, 0.704),
    4: (0.940, 0.704),
    5: (0.944, 0.704),
    6: (0.938, 0.701),
    7: (0.929, 0.695),
    8: (0.911, 0.684),
}

# Table 2: OTB-2013, {variant: (DP, AUC)}
TABLE2_VARIANTS = {
    "baseline (λ = 0)": (0.911, 0.671),
    "baseline + attentive features": (0.932, 0.686),
    "baseline + attentive classifier (DAT, λ = 5)": (0.944, 0.704),
}

# Table 3: {tracker: {"otb2013": (CLE, OS@0.5), "otb2015": (CLE, OS@0.5)}}
TABLE3_OTB = {
    "DAT": {"otb2013": (7.85, 0.913), "otb2015": (12.42, 0.848)},
    "CCOT": {"otb2013": (15.58, 0.837), "otb2015": (13.99, 0.823)},
    "CREST": {"otb2013": (10.22, 0.860), "otb2015": (21.19, 0.776)},
    "MDNet": {"otb2013": (13.05, 0.849), "otb2015": (16.87, 0.806)},
    "MCPF": {"otb2013": (11.19, 0.858), "otb2015": (20.86, 0.780)},
    "ADNet": {"otb2013": (13.79, 0.836), "otb2015": (14.65, 0.802)},
    "BACF": {"otb2013": (26.20, 0.840), "otb2015": (28.10, 0.776)},
    "SINT": {"otb2013": (11.85, 0.816), "otb2015": (25.75, 0.719)},
    "SRDCFD": {"otb2013": (29.51, 0.814), "otb2015": (31.52, 0.766)},
    "ACFN": {"otb2013": (18.69, 0.750), "otb2015": (25.14, 0.686)},
}

# Table 4: VOT-2016, {tracker: (EAO, accuracy rank, robustness rank)}
TABLE4_VOT = {
    "DAT": (0.320, 1.47, 2.10),
    "CCOT": (0.331, 1.98, 1.95),
    "Staple": (0.295, 1.87, 3.23),
    "MDNet": (0.257, 1.72, 2.80),
    "EBT": (0.291, 3.62, 2.13),
    "DSRDCF": (0.276, 2.12, 2.82),
    "SiamFC": (0.277, 1.30, 3.17),
}

# §4 says "about 1 FPS" (on the machine above); what the authors' released result files record is
# computed from them (rlattn.findings), not typed here
FPS_PAPER = 1.0
