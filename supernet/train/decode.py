"""Image files decoded for training and evaluation: a file that does not decode is one `DataError` naming it."""

from __future__ import annotations

from ..errors import DataError


def load_rgb(path: str):
    """The image at `path` as an RGB PIL image, as torchvision's `pil_loader` (`ImageFolder`'s default) gives it.

    A file PIL cannot read (not an image, truncated, unreadable, over PIL's decompression-bomb limit) is a
    `DataError` with the path, instead of a PIL traceback from deep inside a DataLoader.
    """
    from PIL import Image

    try:
        with open(path, "rb") as f:
            return Image.open(f).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        if isinstance(e, Image.UnidentifiedImageError):
            why = "not an image format PIL recognises"
        else:
            why = (str(e).splitlines() or [""])[0] or e.__class__.__name__
        raise DataError(
            f"cannot decode image {path} ({why}); allowed: an image file PIL reads (JPEG, PNG, ...): "
            "replace or remove it"
        ) from None
