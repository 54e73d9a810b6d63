"""The OTB benchmark's named sets and the one quirk of its frame numbering that the sequence
archives do not carry, so that data fetched by ``rlattn data`` (or copied by hand) needs no
toolkit files beside it.

Names are the toolkit's (``Jogging-1`` is target 1 of the ``Jogging`` folder; ``Human4-2`` the only
target of ``Human4``'s ``groundtruth_rect.2.txt``). When a toolkit list file (``cvpr13.txt``,
``tb_100.txt``, ``tb_50.txt``) lies beside the data, it is read instead
(:func:`rlattn.evaluation.annotations.sequence_set`).
"""

from __future__ import annotations

# OTB-2013 (CVPR 2013): 50 sequences, 51 targets
OTB2013 = (
    "Basketball", "Bolt", "Boy", "Car4", "CarDark", "CarScale", "Coke", "Couple", "Crossing", "David",
    "David2", "David3", "Deer", "Dog1", "Doll", "Dudek", "FaceOcc1", "FaceOcc2", "Fish", "FleetFace",
    "Football", "Football1", "Freeman1", "Freeman3", "Freeman4", "Girl", "Ironman", "Jogging-1", "Jogging-2",
    "Jumping", "Lemming", "Liquor", "Matrix", "Mhyang", "MotorRolling", "MountainBike", "Shaking", "Singer1",
    "Singer2", "Skating1", "Skiing", "Soccer", "Subway", "Suv", "Sylvester", "Tiger1", "Tiger2", "Trellis",
    "Walking", "Walking2", "Woman",
)

# TB-50: the harder half of OTB-100
TB50 = (
    "Basketball", "Biker", "Bird1", "BlurBody", "BlurCar2", "BlurFace", "BlurOwl", "Bolt", "Box", "Car1",
    "Car4", "CarDark", "CarScale", "ClifBar", "Couple", "Crowds", "David", "Deer", "Diving", "DragonBaby",
    "Dudek", "Football", "Freeman4", "Girl", "Human3", "Human4-2", "Human6", "Human9", "Ironman", "Jump",
    "Jumping", "Liquor", "Matrix", "MotorRolling", "Panda", "RedTeam", "Shaking", "Singer2", "Skating1",
    "Skating2-1", "Skating2-2", "Skiing", "Soccer", "Surfer", "Sylvester", "Tiger2", "Trellis", "Walking",
    "Walking2", "Woman",
)

# OTB-100 (OTB-2015): 98 folders, 100 targets
OTB100 = (
    "Basketball", "Biker", "Bird1", "Bird2", "BlurBody", "BlurCar1", "BlurCar2", "BlurCar3", "BlurCar4",
    "BlurFace", "BlurOwl", "Board", "Bolt", "Bolt2", "Box", "Boy", "Car1", "Car2", "Car24", "Car4", "CarDark",
    "CarScale", "ClifBar", "Coke", "Couple", "Coupon", "Crossing", "Crowds", "Dancer", "Dancer2", "David",
    "David2", "David3", "Deer", "Diving", "Dog", "Dog1", "Doll", "DragonBaby", "Dudek", "FaceOcc1",
    "FaceOcc2", "Fish", "FleetFace", "Football", "Football1", "Freeman1", "Freeman3", "Freeman4", "Girl",
    "Girl2", "Gym", "Human2", "Human3", "Human4-2", "Human5", "Human6", "Human7", "Human8", "Human9",
    "Ironman", "Jogging-1", "Jogging-2", "Jump", "Jumping", "KiteSurf", "Lemming", "Liquor", "Man", "Matrix",
    "Mhyang", "MotorRolling", "MountainBike", "Panda", "RedTeam", "Rubik", "Shaking", "Singer1", "Singer2",
    "Skater", "Skater2", "Skating1", "Skating2-1", "Skating2-2", "Skiing", "Soccer", "Subway", "Surfer",
    "Suv", "Sylvester", "Tiger1", "Tiger2", "Toy", "Trans", "Trellis", "Twinnings", "Vase", "Walking",
    "Walking2", "Woman",
)

SETS = {"otb2013": OTB2013, "otb2015": OTB100, "otb100": OTB100, "tb50": TB50}

# Annotations that start after the first image (the toolkit's seq_frames table): the archives hold
# every image, so without this the first box would be matched to the wrong frame. Annotations that
# end before the last image start at frame 1, which the loader assumes.
FIRST_FRAME = {"David": 300, "BlurCar1": 247, "BlurCar3": 3, "BlurCar4": 18}


def archive_name(target: str) -> str:
    """The folder (and archive) a target lives in: ``Jogging-1`` → ``Jogging``."""
    base, sep, num = target.rpartition("-")
    return base if sep and num.isdigit() else target


def archives(names: list[str] | tuple[str, ...]) -> list[str]:
    """The distinct folders that hold ``names``, in order."""
    return list(dict.fromkeys(archive_name(n) for n in names))
