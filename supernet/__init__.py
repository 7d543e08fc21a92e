"""Train one elastic MobileNetV2 supernet, cut out many subnets."""

from .arch import ArchConfig
from .errors import ArchError, CheckpointError, SpaceError, SupernetError
from .model import ElasticMobileNetV2
from .space import SearchSpace, StageSpace
from .subnet import build_subnet, extract_subnet

__all__ = [
    "ArchConfig",
    "ArchError",
    "CheckpointError",
    "ElasticMobileNetV2",
    "SearchSpace",
    "SpaceError",
    "StageSpace",
    "SupernetError",
    "build_subnet",
    "extract_subnet",
]
