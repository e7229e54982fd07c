"Dual Cross-Attention Learning (DCAL) for fine-grained recognition and re-identification, with fastai and timm."
from importlib.metadata import version as _version, PackageNotFoundError
try: __version__ = _version('dcal_fast')  # settings.ini owns the version; setup.py puts it in the metadata
except PackageNotFoundError: __version__ = 'unknown'
