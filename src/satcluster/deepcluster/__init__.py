"""DeepCluster (Caron et al. 2018) for satellite image tiles: faithful, resumable, multi-GPU.

models.py (VGG16-BN, AlexNet, small; Sobel front end), data.py (memmap tiles,
batched augmentation on the device), pseudolabels.py (PCA-whitening, k-means,
PIC), sampler.py (uniform over pseudo-labels), distributed.py (DDP helpers),
checkpoint.py, train.py (the epoch loop), cli.py (``python -m satcluster.deepcluster``).
"""

from satcluster.deepcluster.train import Outputs, Settings, train_deepcluster

__all__ = ["Outputs", "Settings", "train_deepcluster"]
