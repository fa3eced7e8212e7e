"""``resnet_small``: a residual CNN with batch norm for small photos, fast on a CPU.

A stem convolution at full resolution, then stages of convolution, batch norm and ReLU,
each at half the resolution of the one before, the last one followed by a residual block
of two convolutions; global average pooling at the end. Convolutions run at low
resolution, so five folds of 8,000 32x32 images train in minutes on two CPU cores.
Larger images get more stages until the last feature map is at most 4 pixels on its
short side, so the cost per image grows slowly with the image size. Measured against
other layouts in BENCHMARKS.md.
"""

from __future__ import annotations

from typing import Any

#: Filters of the stem (full resolution) and of each later stage.
STEM = 32
STAGES = (64, 128, 128)
#: The last stage ends in a residual block of two convolutions.
RESIDUAL = True
#: Filters of the stages added for images larger than 32 pixels (inserted first).
EXTRA = 32
#: The momentum of the batch-norm statistics (Keras' 0.99 is slow for short runs).
BN_MOMENTUM = 0.9


def _conv_bn(keras: Any, x: Any, filters: int, regularizer: Any) -> Any:
    x = keras.layers.Conv2D(
        filters, 3, padding="same", use_bias=False, kernel_regularizer=regularizer
    )(x)
    x = keras.layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
    return keras.layers.ReLU()(x)


def _pool(keras: Any, x: Any) -> Any:
    return keras.layers.MaxPooling2D()(x) if min(x.shape[1], x.shape[2]) >= 2 else x


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
    stages = list(STAGES)
    # One more stage (at the resolution of the stem) per halving needed beyond 32 pixels.
    reach = 2 ** (len(stages) + 1) * 4 // 2  # 32 pixels end at 4 with the default stages
    while side > reach and len(stages) < 8:
        stages.insert(0, EXTRA)
        reach *= 2
    x = _conv_bn(keras, x, STEM, regularizer)
    for filters in stages:
        x = _pool(keras, x)
        x = _conv_bn(keras, x, filters, regularizer)
    if RESIDUAL:
        y = _conv_bn(keras, x, stages[-1], regularizer)
        y = _conv_bn(keras, y, stages[-1], regularizer)
        x = keras.layers.Add()([x, y])
    return keras.layers.GlobalAveragePooling2D()(x)
