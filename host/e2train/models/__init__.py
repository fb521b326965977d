"""CIFAR ResNets (depth 6n+2) with optional SLU gates, and the small ResNet for 8x8 digits."""

from e2train.models.resnet import MODELS, ResNet, build_model

__all__ = ["MODELS", "ResNet", "build_model"]
