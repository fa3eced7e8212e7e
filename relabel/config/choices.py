"""The values some ``relabel.toml`` keys accept, named once.

A key with a fixed set of values is typed with one of the ``Literal`` types below (the
pydantic model refuses anything else when the file loads); the tuples beside them are the
same values for code that iterates or prints them. The training settings' choices
(:data:`OPTIMIZERS`, :data:`SCHEDULES`, ...) are checked by the training rules
(:mod:`relabel.config.rules`) instead, because :class:`relabel.training.TrainSettings` is
checked by the same rules.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

#: ``dataset.source``: one sub-folder per class, or a CSV/Parquet manifest.
Source = Literal["folder", "manifest"]
SOURCES: Final[tuple[str, ...]] = get_args(Source)

#: ``model.mode``: train a model per fold, or fit on a frozen backbone's embeddings.
ModelMode = Literal["train", "embed"]
MODEL_MODES: Final[tuple[str, ...]] = get_args(ModelMode)

#: ``training.executor``: where the folds run.
ExecutorName = Literal["local", "ray"]
EXECUTORS: Final[tuple[str, ...]] = get_args(ExecutorName)
#: The Ray task options ``training.ray_resources`` may set.
RAY_RESOURCE_KEYS: Final[tuple[str, ...]] = ("num_cpus", "num_gpus", "memory")

#: ``scoring.method``: the same names, in the same order, as
#: :data:`relabel.scoring.SCORING_METHODS` (a test keeps them equal).
ScoringMethod = Literal[
    "noise_posterior",
    "self_confidence",
    "normalized_margin",
    "margin",
    "max_softmax",
    "confidence_weighted_entropy",
    "disagreement",
]
#: ``scoring.probabilities``: what the score ranks.
ProbabilitySource = Literal["model", "knn"]
PROBABILITY_SOURCES: Final[tuple[str, ...]] = get_args(ProbabilitySource)

#: ``review.lane``: which samples a push takes.
Lane = Literal["label_issue", "uncertain", "all"]
LANES: Final[tuple[str, ...]] = get_args(Lane)
#: ``review.image_mode``: how Label Studio gets the images.
ImageMode = Literal["upload", "local-files", "url", "inline"]
IMAGE_MODES: Final[tuple[str, ...]] = get_args(ImageMode)
#: ``review.consensus``: how a task's answers are resolved.
Consensus = Literal["majority", "dawid_skene"]
CONSENSUS_METHODS: Final[tuple[str, ...]] = get_args(Consensus)

#: ``pool.strategy``: how ``relabel push --type label`` chooses the unlabelled samples to
#: label next; the same names, in the same order, as
#: :data:`relabel.ranking.acquisition.STRATEGIES` (a test keeps them equal).
AcquisitionStrategy = Literal["random", "entropy", "margin", "coreset", "badge", "mix"]
ACQUISITION_STRATEGIES: Final[tuple[str, ...]] = get_args(AcquisitionStrategy)

#: The architectures relabel builds itself (:mod:`relabel.training`); they take no weights.
SMALL_CNN: Final = "small_cnn"
RESNET_SMALL: Final = "resnet_small"
BUILT_IN_ARCHITECTURES: Final[tuple[str, ...]] = (SMALL_CNN, RESNET_SMALL)
#: The ``keras.applications`` models (Keras 3) accepted as ``model.architecture``: a static
#: list, so that loading a config never imports TensorFlow (a test checks it against Keras).
KERAS_APPLICATIONS: Final[tuple[str, ...]] = (
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "ResNet50",
    "ResNet50V2",
    "VGG16",
    "VGG19",
    "Xception",
)
ARCHITECTURES: Final[tuple[str, ...]] = (*BUILT_IN_ARCHITECTURES, *KERAS_APPLICATIONS)
#: The ``model.weights`` value that asks for ImageNet weights (Keras downloads them once).
IMAGENET: Final = "imagenet"
OPTIMIZERS: Final[tuple[str, ...]] = ("adam", "sgd")
SCHEDULES: Final[tuple[str, ...]] = ("constant", "cosine", "one_cycle")
CLASS_WEIGHTS: Final[tuple[str, ...]] = ("none", "balanced")
LOSSES: Final[tuple[str, ...]] = ("crossentropy", "focal")
FLIPS: Final[tuple[str, ...]] = ("none", "horizontal", "vertical", "horizontal_and_vertical")
