"""``resnet_small``: a residual CNN with batch norm for small photos, fast on a CPU.

The layout is the one of the fast CIFAR-10 ResNets (a stem convolution, then stages of
convolution, max-pooling, batch norm and ReLU, some followed by a residual block of two
convolutions), narrowed so that five folds of 8,000 32x32 images train in minutes on two
CPU cores. Larger images get more pooling stages until the feature map is at most about
4 pixels on its short side, so the cost per image grows slowly with the image size.
Measured against other layouts in BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

#: Filters of the stem and of each stage; a stage marked True ends in a residual block.
STEM = 32
STAGES = ((64, True), (128, False), (256, True))
#: Further stages for images larger than 32 pixels (no residual block, 256 filters).
EXTRA_FILTERS = 256
#: The momentum of the batch-norm statistics (Keras' 0.99 is slow for short runs).
BN_MOMENTUM = 0.9


def _conv_bn(keras: Any, x: Any, filters: int, regularizer: Any, *, pool: bool = False) -> Any:
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer
    )(x)
    if pool:
        x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return keras.layers.ReLU()(x)


def resnet_small(keras: Any, x: Any, regularizer: Any = None) -> Any:
    """The features of ``resnet_small`` for the image tensor ``x`` (globally average-pooled).

    Parameters
    ----------
    keras : module
        The Keras module (relabel imports it lazily).
    x : KerasTensor
        ``(batch, height, width, channels)`` images in [0, 1], after augmentation.
    regularizer : keras.regularizers.Regularizer | None
        Kernel regularizer of every convolution.

    Returns
    -------
    KerasTensor
        ``(batch, filters)`` pooled features.
    """
    side = min(int(x.shape[1]), int(x.shape[2]))
    x = _conv_bn(keras, x, STEM, regularizer)
    stages = list(STAGES)
    # One more pooling stage per doubling of the image side beyond 32 pixels.
    while side > 32 * 2 ** (len(stages) - len(STAGES)):
        stages.insert(0, (stages[0][0] // 2 if stages[0][0] > STEM else STEM, False))
        if len(stages) > 8:
            break
    for filters, residual in stages:
        x = _conv_bn(keras, x, filters, regularizer, pool=min(x.shape[1], x.shape[2]) >= 2)
        if residual:
            y = _conv_bn(keras, x, filters, regularizer)
            y = _conv_bn(keras, y, filters, regularizer)
            x = keras.layers.Add()([x, y])
    return keras.layers.GlobalAveragePooling2D()(x)
